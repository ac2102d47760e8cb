"""Matching: what one transaction of a bank's file does to the duty assessments.

The rules, in the order they are applied to each ``PaymentConfirmation``:

1. **Duplicate.** A transaction is known by its bank and the bank's own reference
   (``bank_references``): the transaction's ``Refs/AcctSvcrRef``; else the entry's
   ``AcctSvcrRef`` with the transaction's position in the entry (``entry:REF#2``); else its
   ``UETR``; else its ``EndToEndId`` (not ``NOTPROVIDED``) with the debtor's account, the amount
   and the reference; else the file's message id, notification id and the transaction's index
   (a replayed *file* is caught earlier, by its ``MsgId``). A reversal's key carries ``rvsl:``:
   a reversal that quotes the original's reference is not the original again. A transaction
   whose key is recorded already — applied, reversed or parked — is a ``duplicate`` and
   changes nothing.
2. **Parked, never refused**, with a reason: no amount (``no-amount``); an entry not booked
   (``Sts`` other than ``BOOK``: ``not-booked``); a debit that is not a reversal
   (``debit-entry``); then, for the others, a reference that is not an ISO 11649 ``RF…``
   reference (a Swiss ESR/QR number, free text: ``unmatched-not-rf``); an ``RF…`` reference
   with wrong check digits (``bad-check-digit``); several different valid references
   (``ambiguous-reference``).
3. **Reversal** (``RvslInd`` true, booked as a debit): it undoes the one payment it reverses —
   a payment applied to the same reference, with the same amount and currency, not reversed
   yet and, if the reversal states an end-to-end id, UETR or account servicer reference, one
   of them equal. That payment is marked reversed, its amount taken off the assessment, and
   the assessment reopened (``open`` or ``partly_paid``). No such payment:
   ``reversal-unmatched``; more than one: ``reversal-ambiguous``.
4. **Credit**: the assessment of the reference must exist (``unknown-reference``), not be
   cancelled (``assessment-cancelled``) and be due in the payment's currency
   (``currency-mismatch``). Then the amount is added to what was paid: ``paid`` when the
   sum equals the amount due (outcome ``matched``), ``partly_paid`` below it (``partly``),
   ``overpaid`` above it (``over``, the excess recorded) — also for a payment to an
   assessment already paid.

References are compared in compact upper case (``RF18 5390 …`` = ``RF185390…``); one from the
unstructured remittance text is the ``RF…`` token found in it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gateway.canonical.model import to_json_bytes
from gateway.canonical.payment import BOOKED, DEBIT, PaymentConfirmation
from gateway.flows.payments.ledger import (
    CANCELLED,
    PAID,
    PARTLY_PAID,
    Assessment,
    ParkedPayment,
    Payment,
    PaymentLedger,
)
from gateway.identifiers import is_valid_creditor_reference
from gateway.pipeline.exchange import new_id, utc_now_iso

MATCHED, PARTLY, OVER, REVERSED, DUPLICATE, PARKED = (
    "matched", "partly", "over", "reversed", "duplicate", "parked")
OUTCOMES = (MATCHED, PARTLY, OVER, REVERSED, DUPLICATE, PARKED)
APPLIED = (MATCHED, PARTLY, OVER, REVERSED)

_RF_TOKEN = re.compile(r"RF[0-9]{2}[A-Z0-9]{1,21}")
_RF_SHAPE = re.compile(r"RF[0-9]{2}[A-Z0-9]{1,21}")


@dataclass(frozen=True)
class Source:
    """The file a transaction came in, and the bank that sent it."""

    bank: str                          # partner id
    receipt_id: str
    conversation_id: str
    message_id: str | None = None
    bank_bic: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What one transaction did."""

    index: int                         # 1-based, in the file's canonical order
    bank_reference: str
    outcome: str                       # one of OUTCOMES
    confirmation: PaymentConfirmation
    payment: Payment | None = None     # as recorded (None: a duplicate)
    assessment: Assessment | None = None     # after the payment
    reason: str | None = None
    detail: str | None = None
    parked_id: str | None = None
    became_paid: bool = False          # the assessment has nothing outstanding since this one

    @property
    def applied(self) -> bool:
        return self.outcome in APPLIED


@dataclass(frozen=True)
class _Park:
    reason: str
    detail: str


def compact(reference: str) -> str:
    return "".join(reference.split()).upper()


def payment_reference(tx: PaymentConfirmation, override: str | None = None
                      ) -> tuple[str | None, _Park | None]:
    """The compact ISO 11649 reference a transaction quotes, or why it has none."""
    if override is not None:
        candidates = [compact(override)]
    elif tx.reference_source == "unstructured" and tx.reference:
        text = tx.reference.upper()
        whole = compact(text)
        candidates = [whole] if _RF_SHAPE.fullmatch(whole) else _RF_TOKEN.findall(text)
    else:
        candidates = [compact(r.reference) for r in tx.creditor_references if r.reference] \
            or ([compact(tx.reference)] if tx.reference else [])
    if not candidates:
        return None, _Park("unmatched-not-rf", "the payment quotes no reference")
    valid = sorted({c for c in candidates if is_valid_creditor_reference(c)})
    if len(valid) > 1:
        return None, _Park("ambiguous-reference",
                           f"the payment quotes several references: {', '.join(valid)}")
    if valid:
        return valid[0], None
    shaped = [c for c in candidates if _RF_SHAPE.fullmatch(c)]
    if shaped:
        return None, _Park("bad-check-digit", f"{shaped[0]} is an RF reference with wrong "
                                              f"check digits (ISO 11649)")
    return None, _Park("unmatched-not-rf", f"{tx.reference!r} is not an ISO 11649 RF reference")


def _screen(tx: PaymentConfirmation) -> _Park | None:
    """Why the transaction pays nothing whatever its reference, if it does not."""
    if tx.amount is None or not tx.amount.currency:
        return _Park("no-amount", "the payment states no amount with a currency")
    if tx.status and tx.status != BOOKED:
        return _Park("not-booked", f"the entry's status is {tx.status!r}, not booked")
    if not tx.reversal and tx.credit_debit == DEBIT:
        return _Park("debit-entry", "a debit that is not a reversal pays no duties")
    return None


def bank_references(transactions: Sequence[PaymentConfirmation]) -> list[str]:
    """The bank's own key of each transaction (see the module docstring), in order."""
    keys: list[str] = []
    entry_key: tuple[object, ...] | None = None
    position = 0
    for index, tx in enumerate(transactions, 1):
        this_entry = (tx.notification_id, tx.entry_account_servicer_reference,
                      tx.entry_reference, tx.booking_date, tx.entry_amount)
        position = position + 1 if this_entry == entry_key else 1
        entry_key = this_entry
        keys.append(("rvsl:" if tx.reversal else "") + _bank_key(tx, index, position))
    return keys


def _bank_key(tx: PaymentConfirmation, index: int, position: int) -> str:
    if tx.account_servicer_reference:
        return f"tx:{tx.account_servicer_reference}"
    if tx.entry_account_servicer_reference:
        return f"entry:{tx.entry_account_servicer_reference}#{position}"
    if tx.uetr:
        return f"uetr:{tx.uetr.lower()}"
    if tx.end_to_end_id and tx.end_to_end_id != "NOTPROVIDED":
        amount = f"{tx.amount.currency}{tx.amount.value}" if tx.amount else ""
        return f"e2e:{tx.end_to_end_id}:{tx.debtor_account or ''}:{amount}:{tx.reference or ''}"
    return f"file:{tx.message_id}/{tx.notification_id}/{index}"


class Matcher:
    """Applies the rules above to one transaction against the ledger (inside a transaction)."""

    def __init__(self, *, clock: Callable[[], str] = utc_now_iso,
                 ids: Callable[[], str] = new_id) -> None:
        self._clock, self._ids = clock, ids

    def apply(self, ledger: PaymentLedger, tx: PaymentConfirmation, source: Source, *,
              index: int, bank_reference: str, replay: ParkedPayment | None = None,
              reference: str | None = None) -> Outcome:
        """Match ``tx``; with ``replay`` the parked payment's recorded transaction is matched
        again (its key is recorded already: no duplicate check), with ``reference`` instead of
        the one the bank stated if given."""
        at = self._clock()
        payment = self._payment(tx, source, bank_reference, at,
                                replay.payment_id if replay else self._ids())
        screened = _screen(tx)
        ref, parked = payment_reference(tx, reference) if screened is None else (None, screened)
        payment = dataclasses.replace(payment, reference=ref or payment.reference)
        decision: _Park | tuple[Assessment, Payment | None] = \
            parked or self._decide(ledger, tx, ref or "")
        if isinstance(decision, _Park):
            payment = dataclasses.replace(payment, outcome=PARKED, reason=decision.reason)
            if not self._record(ledger, payment, replay):
                return Outcome(index, bank_reference, DUPLICATE, tx)
            parked_id = self._ids()
            ledger.park(ParkedPayment(
                id=parked_id, payment_id=payment.id, bank=source.bank, reason=decision.reason,
                detail=decision.detail, confirmation=to_json_bytes(tx),
                receipt_id=source.receipt_id, conversation_id=source.conversation_id,
                parked_at=at, reference=ref or tx.reference,
                amount=tx.amount.value if tx.amount else None,
                currency=tx.amount.currency if tx.amount else None))
            return Outcome(index, bank_reference, PARKED, tx, payment, reason=decision.reason,
                           detail=decision.detail, parked_id=parked_id)
        assessment, reversed_payment = decision
        return self._apply(ledger, tx, index, bank_reference, payment, assessment,
                           reversed_payment, replay, at)

    def _apply(self, ledger: PaymentLedger, tx: PaymentConfirmation, index: int,
               bank_reference: str, payment: Payment, assessment: Assessment,
               reversed_payment: Payment | None, replay: ParkedPayment | None,
               at: str) -> Outcome:
        before = assessment
        if reversed_payment is not None:
            after = assessment.with_paid(assessment.paid - reversed_payment.amount, at)
            outcome = REVERSED
            payment = dataclasses.replace(payment, reverses=reversed_payment.id)
        else:
            after = assessment.with_paid(assessment.paid + payment.amount, at)
            outcome = MATCHED if after.status == PAID else \
                PARTLY if after.status == PARTLY_PAID else OVER
        payment = dataclasses.replace(payment, outcome=outcome,
                                      assessment_reference=assessment.reference, reason=None)
        if not self._record(ledger, payment, replay):
            return Outcome(index, bank_reference, DUPLICATE, tx)
        if reversed_payment is not None:
            ledger.save_payment(dataclasses.replace(reversed_payment, reversed_by=payment.id))
        ledger.save_assessment(after)
        became_paid = before.outstanding > 0 and after.outstanding == 0 \
            and after.status != CANCELLED
        return Outcome(index, bank_reference, outcome, tx, payment, after,
                       became_paid=became_paid)

    @staticmethod
    def _record(ledger: PaymentLedger, payment: Payment, replay: ParkedPayment | None) -> bool:
        if replay is not None:
            ledger.save_payment(payment)
            return True
        return ledger.add_payment(payment)

    def _decide(self, ledger: PaymentLedger, tx: PaymentConfirmation, reference: str
                ) -> _Park | tuple[Assessment, Payment | None]:
        assert tx.amount is not None and tx.amount.currency is not None
        assessment = ledger.assessment(reference)
        if tx.reversal:
            return self._reversal(ledger, tx, reference, assessment)
        if assessment is None:
            return _Park("unknown-reference", f"no duty assessment has reference {reference}")
        if assessment.status == CANCELLED:
            return _Park("assessment-cancelled",
                         f"the assessment {reference} was replaced by "
                         f"{assessment.superseded_by or 'another'}")
        if assessment.currency != tx.amount.currency:
            return _Park("currency-mismatch",
                         f"{reference} is due in {assessment.currency}, the payment is in "
                         f"{tx.amount.currency}")
        return assessment, None

    @staticmethod
    def _reversal(ledger: PaymentLedger, tx: PaymentConfirmation, reference: str,
                  assessment: Assessment | None) -> _Park | tuple[Assessment, Payment | None]:
        assert tx.amount is not None
        if tx.credit_debit != DEBIT:
            return _Park("reversal-unmatched", "a reversal booked as a credit reverses a debit, "
                                               "and the gateway applies no debits")
        if assessment is None:
            return _Park("reversal-unmatched", f"no duty assessment has reference {reference}")
        candidates = [p for p in ledger.applied_payments(reference)
                      if p.amount == tx.amount.value and p.currency == tx.amount.currency
                      and not p.reversal and p.reversed_by is None]
        stated = [(name, value) for name, value in (
            ("end_to_end_id", tx.end_to_end_id), ("uetr", tx.uetr),
            ("account_servicer_reference", tx.account_servicer_reference))
            if value and value != "NOTPROVIDED"]
        if stated:
            candidates = [p for p in candidates
                          if any(getattr(p, name) == value for name, value in stated)]
        if not candidates:
            return _Park("reversal-unmatched",
                         f"no payment of {tx.amount.currency} {tx.amount.value} to {reference} "
                         f"with the reversal's ids is applied and not yet reversed")
        if len(candidates) > 1:
            return _Park("reversal-ambiguous",
                         f"{len(candidates)} payments of {tx.amount.currency} {tx.amount.value} "
                         f"to {reference} could be the one reversed")
        return assessment, candidates[0]

    @staticmethod
    def _payment(tx: PaymentConfirmation, source: Source, bank_reference: str, at: str,
                 payment_id: str) -> Payment:
        return Payment(
            id=payment_id, bank=source.bank, bank_reference=bank_reference,
            amount=tx.amount.value if tx.amount else 0,   # type: ignore[arg-type]
            currency=(tx.amount.currency if tx.amount else None) or "",
            outcome=PARKED, receipt_id=source.receipt_id,
            conversation_id=source.conversation_id, recorded_at=at, reference=tx.reference,
            credit_debit=tx.credit_debit, reversal=tx.reversal, end_to_end_id=tx.end_to_end_id,
            uetr=tx.uetr, account_servicer_reference=tx.account_servicer_reference,
            message_id=source.message_id or tx.message_id, booking_date=tx.booking_date,
            value_date=tx.value_date)
