"""An in-memory fake of the payments ledger (``gateway.flows.payments.ledger``) — unit tests only.

``FakePaymentLedgerStore`` plays the ``payments`` flow store for ``tests.fakes.FakeJournal``
(``journal.flows["payments"] = FakePaymentLedgerStore()``): ``bind(tx)`` gives the ledger
inside a ``FakeTransaction`` and ``reader()`` the read-only side. Rules mirrored from
``adapters/store/payment_ledger.py``:

* a payment is recorded once per ``(bank, bank_reference)``: ``add_payment`` of a taken key
  writes nothing and returns ``False``;
* writes are seen by the same transaction at once and by everybody else only when it commits
  (``tx.later``); a transaction whose work raised leaves nothing behind;
* applied payments are listed oldest first, without reversals and reversed ones.

Nothing is held or locked: unit tests run one transaction at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.flows.payments.ledger import CANCELLED, Assessment, ParkedPayment, Payment
from gateway.flows.payments.matching import MATCHED, OVER, PARTLY


@dataclass
class FakePaymentLedgerStore:
    name: str = "payments"
    assessments: dict[str, Assessment] = field(default_factory=dict)
    payments: dict[str, Payment] = field(default_factory=dict)          # by id, in order
    parked: dict[str, ParkedPayment] = field(default_factory=dict)
    held: list[list[str]] = field(default_factory=list)                 # every hold() call
    preloaded: list[tuple[str, list[str]]] = field(default_factory=list)   # preload_payments

    def bind(self, tx: Any) -> FakePaymentLedger:
        ledger = FakePaymentLedger(self)
        tx.later(ledger.commit)
        return ledger

    def reader(self) -> FakePaymentLedgerReader:
        return FakePaymentLedgerReader(self)


class FakePaymentLedger:
    """The ledger inside one fake transaction: own writes first, then the committed state."""

    def __init__(self, store: FakePaymentLedgerStore) -> None:
        self.store = store
        self.assessments: dict[str, Assessment] = {}
        self.payments: dict[str, Payment] = {}
        self.parked: dict[str, ParkedPayment] = {}

    def commit(self) -> None:
        self.store.assessments.update(self.assessments)
        self.store.payments.update(self.payments)
        self.store.parked.update(self.parked)

    def _all_payments(self) -> list[Payment]:
        merged = {**self.store.payments, **self.payments}
        return list(merged.values())

    def hold(self, references: Sequence[str]) -> None:
        self.store.held.append(list(references))

    def assessment(self, reference: str) -> Assessment | None:
        return self.assessments.get(reference) or self.store.assessments.get(reference)

    def current_assessment(self, conversation_id: str) -> Assessment | None:
        merged = {**self.store.assessments, **self.assessments}
        found = [a for a in merged.values()
                 if a.conversation_id == conversation_id and a.status != CANCELLED]
        return max(found, key=lambda a: a.assessed_at) if found else None

    def save_assessment(self, assessment: Assessment) -> None:
        self.assessments[assessment.reference] = assessment

    def preload_payments(self, bank: str, bank_references: Sequence[str]) -> None:
        self.store.preloaded.append((bank, list(bank_references)))

    def add_payment(self, payment: Payment) -> bool:
        if any((p.bank, p.bank_reference) == (payment.bank, payment.bank_reference)
               for p in self._all_payments()):
            return False
        self.payments[payment.id] = payment
        return True

    def save_payment(self, payment: Payment) -> None:
        self.payments[payment.id] = payment

    def payment(self, payment_id: str) -> Payment | None:
        return self.payments.get(payment_id) or self.store.payments.get(payment_id)

    def applied_payments(self, assessment_reference: str) -> list[Payment]:
        return [p for p in self._all_payments()
                if p.assessment_reference == assessment_reference
                and p.outcome in (MATCHED, PARTLY, OVER) and p.reversed_by is None]

    def park(self, parked: ParkedPayment) -> None:
        self.parked[parked.id] = parked

    def parked_payment(self, parked_id: str) -> ParkedPayment | None:
        return self.parked.get(parked_id) or self.store.parked.get(parked_id)

    def resolve(self, parked: ParkedPayment) -> None:
        self.parked[parked.id] = parked


class FakePaymentLedgerReader:
    def __init__(self, store: FakePaymentLedgerStore) -> None:
        self.store = store

    def look_up(self, reference: str) -> Assessment | None:
        return self.store.assessments.get(reference)

    def payments(self, assessment_reference: str) -> list[Payment]:
        return [p for p in self.store.payments.values()
                if p.assessment_reference == assessment_reference]

    def parked_payments(self, *, state: str | None = "parked", limit: int = 100
                        ) -> list[ParkedPayment]:
        return [p for p in self.store.parked.values()
                if state is None or p.state == state][:limit]

    def parked_payment(self, parked_id: str) -> ParkedPayment | None:
        return self.store.parked.get(parked_id)
