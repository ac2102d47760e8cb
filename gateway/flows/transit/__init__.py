"""Flow F4, transit: the movement state per MRN at this gateway, and what moves it.

``states`` — roles, states and the allowed transitions (the table, as data);
``store`` — the movements store's port (``adapters/store/movement_store.py`` in SQL);
``intake_effect`` — trader and customs-to-customs messages applied in their journal
transaction (NACK codes 90, 92, 14/BR20006 from ``refusals``);
``events`` — customs' decisions (MRN allocated, released, arrival, control, crossing, write-off)
turned into the NCTS messages they mean; ``outbound`` — signing, schema checks, trader
notifications and the outbox rows of the CD messages.
"""
