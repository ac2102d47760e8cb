"""Flow F3, licences and certificates: what permit agencies issued, amended and revoked.

``store`` is the flow's state port (licences, their goods lines with the quantities licensed,
every version received) and ``versions`` the rule that decides what a version received does to
the licence the gateway keeps (out-of-order and repeated versions recorded, never applied over
a newer one); ``intake_effect`` the work an accepted licence does in the journal's
transaction. Which goods need which licence is ``gateway/canonical/licensing_rules.py``
(``config/licensing.toml``); quantity reservation against these licences builds on this
store.
"""
