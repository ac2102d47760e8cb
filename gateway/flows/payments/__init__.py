"""Flow F2, duty payments: assessments from clearance, banks' camt.054 files matched to them.

``ledger`` is the flow's state port (assessments, payments, parked payments);
``assessments`` the event handler recording clearance's duty assessments; ``matching`` the
rules deciding what a bank's payment does; ``intake_effect`` the work a payment notification
does in the journal's transaction (match, events to clearance, notifications); ``servicer``
the intake step checking that a bank reports only accounts it services.
"""
