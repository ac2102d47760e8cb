"""Sample messages for the demo, the tests and the benchmark — development material only.

These builders write synthetic declarations in the formats brokers send (``wco``: WCO DM 3.6
``DEC``; ``asycuda``: ASYCUDA-style SAD XML). They are not part of the installed gateway (the
wheel ships ``gateway`` and ``adapters`` only); ``gateway demo`` loads them from the source
checkout. Reference data (goods, parties) lives in ``samples/catalogues/`` as data files.
"""
