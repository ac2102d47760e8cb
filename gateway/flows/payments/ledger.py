"""The payments ledger: the flow's own state, behind its own port.

Three records:

* ``Assessment`` — duties clearance assessed on one declaration: the ISO 11649 payment
  reference, the declaration's conversation, its broker and MRN, the amount due, its currency,
  what has been paid and the status (``open``, ``partly_paid``, ``paid``, ``overpaid``,
  ``cancelled`` — a newer assessment with another reference replaced it);
* ``Payment`` — every transaction a bank notified, whatever became of it (applied to an
  assessment, a reversal, parked), unique per ``(bank, bank_reference)``: a transaction
  notified twice is recorded once (``gateway/flows/payments/matching.py`` says how the bank
  reference is made);
* ``ParkedPayment`` — a transaction matching could not apply, with the reason and the canonical
  transaction, until a person replays it (``gateway parked replay``).

``PaymentLedger`` is the port used inside one journal transaction (``tx.flow("payments")``:
reads hold their rows until commit; writes are seen by the same transaction at once, and a
store may keep them until the work is done to write them in batches); ``PaymentLedgerReader``
is the read-only side used
outside a transaction (``journal.flow("payments")``: a bank's reference look-up, the CLI).
Amounts are ``Decimal`` here and decimal strings in the store: sums are exact.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

FLOW = "payments"

OPEN, PARTLY_PAID, PAID, OVERPAID, CANCELLED = (
    "open", "partly_paid", "paid", "overpaid", "cancelled")
STATUSES = (OPEN, PARTLY_PAID, PAID, OVERPAID, CANCELLED)
PAYABLE = (OPEN, PARTLY_PAID, PAID, OVERPAID)      # a payment quoting it is applied

ZERO = Decimal(0)


def status_for(amount_due: Decimal, paid: Decimal) -> str:
    """The status of an assessment of ``amount_due`` of which ``paid`` has been paid."""
    if paid <= ZERO:
        return OPEN
    if paid < amount_due:
        return PARTLY_PAID
    return PAID if paid == amount_due else OVERPAID


@dataclass(frozen=True)
class Assessment:
    """Duties due on one declaration, under one payment reference."""

    reference: str                       # ISO 11649 RF…, compact upper case
    conversation_id: str                 # the declaration's conversation
    partner_id: str                      # who lodged the declaration (notified when paid)
    mrn: str | None
    amount_due: Decimal
    currency: str
    decision_id: str                     # the clearance decision that assessed it (latest)
    assessed_at: str
    paid: Decimal = ZERO
    status: str = OPEN
    updated_at: str = ""
    superseded_by: str | None = None     # the reference of the assessment that replaced it

    @property
    def outstanding(self) -> Decimal:
        """What is still to pay (never negative); nothing for a cancelled assessment."""
        if self.status == CANCELLED:
            return ZERO
        return max(self.amount_due - self.paid, ZERO)

    @property
    def excess(self) -> Decimal:
        """What was paid beyond the amount due."""
        return max(self.paid - self.amount_due, ZERO)

    def with_paid(self, paid: Decimal, at: str) -> Assessment:
        """The assessment once ``paid`` in total has been paid."""
        status = self.status if self.status == CANCELLED else status_for(self.amount_due, paid)
        return dataclasses.replace(self, paid=paid, status=status, updated_at=at)

    def with_due(self, amount_due: Decimal, *, decision_id: str, mrn: str | None,
                 at: str) -> Assessment:
        """The assessment once clearance assessed ``amount_due`` instead (amended duties)."""
        status = self.status if self.status == CANCELLED else status_for(amount_due, self.paid)
        return dataclasses.replace(self, amount_due=amount_due, decision_id=decision_id,
                                   mrn=mrn or self.mrn, status=status, updated_at=at)


@dataclass(frozen=True)
class Payment:
    """One transaction a bank notified, and what became of it."""

    id: str
    bank: str                            # the sending bank (partner id)
    bank_reference: str                  # unique per bank: see matching.bank_reference
    amount: Decimal
    currency: str
    outcome: str                         # matching.OUTCOMES
    receipt_id: str                      # the file's receipt
    conversation_id: str                 # the file's conversation
    recorded_at: str
    reference: str | None = None         # the payment reference as the bank stated it
    assessment_reference: str | None = None    # the assessment it was applied to
    reason: str | None = None            # why it was parked
    credit_debit: str | None = None
    reversal: bool = False
    end_to_end_id: str | None = None
    uetr: str | None = None
    account_servicer_reference: str | None = None
    message_id: str | None = None        # the file's GrpHdr/MsgId
    booking_date: str | None = None
    value_date: str | None = None
    reverses: str | None = None          # the payment id this reversal undid
    reversed_by: str | None = None       # the reversal that undid this payment


@dataclass(frozen=True)
class ParkedPayment:
    """A transaction matching could not apply, kept for a person to look at and replay."""

    id: str
    payment_id: str
    bank: str
    reason: str                          # e.g. unknown-reference, currency-mismatch
    detail: str                          # one sentence for the operator
    confirmation: bytes                  # the canonical PaymentConfirmation (JSON)
    receipt_id: str
    conversation_id: str                 # the file's conversation
    parked_at: str
    reference: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    state: str = "parked"                # parked | replayed
    resolved_at: str | None = None
    resolved_by: str | None = None
    resolution: str | None = None        # the replay's outcome, e.g. "matched"


class PaymentLedger(Protocol):
    """The ledger inside one journal transaction (what matching reads and writes)."""

    def assessment(self, reference: str) -> Assessment | None:
        """The assessment of ``reference``, held until the transaction ends."""
        ...

    def hold(self, references: Sequence[str]) -> None:
        """Hold these assessments (in this order: callers sort) for the transaction."""
        ...

    def current_assessment(self, conversation_id: str) -> Assessment | None:
        """The declaration's assessment that is not cancelled, held; ``None`` if none."""
        ...

    def save_assessment(self, assessment: Assessment) -> None:
        """Insert or replace the assessment of ``assessment.reference``."""
        ...

    def preload_payments(self, bank: str, bank_references: Sequence[str]) -> None:
        """Read at once which of these transactions ``bank`` notified before (a file's keys),
        so that ``add_payment`` need not ask for each; call it after ``hold``."""
        ...

    def add_payment(self, payment: Payment) -> bool:
        """Record a notified transaction; ``False`` (nothing written) if the bank's
        ``(bank, bank_reference)`` is recorded already."""
        ...

    def save_payment(self, payment: Payment) -> None:
        """Replace the payment of ``payment.id`` (its outcome after a replay, a reversal)."""
        ...

    def payment(self, payment_id: str) -> Payment | None: ...

    def applied_payments(self, assessment_reference: str) -> list[Payment]:
        """The payments applied to that assessment and not reversed, oldest first."""
        ...

    def park(self, parked: ParkedPayment) -> None: ...

    def parked_payment(self, parked_id: str) -> ParkedPayment | None:
        """The parked payment, held until the transaction ends."""
        ...

    def resolve(self, parked: ParkedPayment) -> None:
        """Store the parked payment's new state (``replayed``, who, when, outcome)."""
        ...


class PaymentLedgerReader(Protocol):
    """The ledger's read-only queries, outside any transaction."""

    def look_up(self, reference: str) -> Assessment | None: ...

    def payments(self, assessment_reference: str) -> list[Payment]: ...

    def parked_payments(self, *, state: str | None = "parked", limit: int = 100
                        ) -> list[ParkedPayment]: ...

    def parked_payment(self, parked_id: str) -> ParkedPayment | None: ...
