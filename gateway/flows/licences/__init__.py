"""Flow F3, licences and certificates: what permit agencies issued, and what is drawn on them.

``store`` is the flow's state port (licences, their goods lines with the quantities licensed,
every version received, and the reservations against them) and ``versions`` the rule that
decides what a version received does to the licence the gateway keeps (out-of-order and
repeated versions recorded, never applied over a newer one); ``intake_effect`` the work an
accepted licence does in the journal's transaction (a revocation surfaced to every
reservation it affects). Which goods need which licence is
``gateway/canonical/licensing_rules.py`` (``config/licensing.toml``).

Quantity reservations (the CERTEX model): ``requests`` records what a declaration's items will
draw (an intake effect); ``reservation_handler`` reserves on clearance's acceptance, writes off
on release, deletes on invalidation, deciding first under the licence's row lock
(``reservation_rules``); ``reservations`` is the state table, ``answers`` records what the
agency says to each call (``agency``: the port the adapter's zeep client implements), and
``notices`` tells clearance (signed events) and the broker (signed ``LIC`` notifications).
"""
