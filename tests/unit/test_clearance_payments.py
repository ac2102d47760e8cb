"""What the clearance stand-in does with a payment message (adapters.standins.clearance_payments).

The messages are the gateway's own canonical JSON (``PaymentEvent``, ``PaymentNotification``);
what waits for payment is a ``PendingRelease`` as the stand-in's ledger keeps it.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from adapters.standins.clearance_payments import (
    EVENT,
    FILE,
    NOTED,
    PARK,
    RELEASE,
    judge,
)
from adapters.standins.clearance_rules import PendingRelease
from gateway.canonical.model import to_json_bytes
from gateway.canonical.payment import Amount, PaymentConfirmation, PaymentNotification
from gateway.canonical.payment_event import PaymentEvent

PENDING = PendingRelease(conversation_id="conv-1", receipt_id="rcp-1", message_id="m-1",
                         reference="LRN-1", mrn="26MK00100512345ER6",
                         payment_reference="RF18539007547034", amount_due=Decimal("440.73"),
                         currency="MKD")


class Waiting:
    """The ledger's view: which conversation waits (``None``: nothing)."""

    def __init__(self, pending: PendingRelease | None = PENDING) -> None:
        self._pending = pending

    def pending(self, conversation_id: str) -> PendingRelease | None:
        found = self._pending
        return found if found is not None and found.conversation_id == conversation_id else None


def event(status: str = "paid", outstanding: str = "0.00", **values: object) -> bytes:
    fields = dict(event_id="e-1", event="confirmed", payment_id="p-1",
                  reference=PENDING.payment_reference, mrn=PENDING.mrn, conversation_id="conv-1",
                  amount=Decimal("440.73"), currency="MKD", status=status,
                  amount_due=Decimal("440.73"), paid=Decimal("440.73"),
                  outstanding=Decimal(outstanding), bank="bank-demo", bank_reference="tx:1")
    fields.update(values)
    return to_json_bytes(PaymentEvent(**fields))  # type: ignore[arg-type]


@pytest.mark.parametrize("status", ["paid", "overpaid"])
def test_payment_fully_paying_a_waiting_declaration_releases_it(status: str) -> None:
    """paid or overpaid with nothing outstanding: release the declaration that waits."""
    verdict = judge(EVENT, event(status), Waiting())
    assert (verdict.action, verdict.pending, verdict.conversation_id) == \
        (RELEASE, PENDING, "conv-1")


@pytest.mark.parametrize(("values", "why"), [
    ({"status": "partly_paid", "outstanding": "100.00"}, "partly_paid"),
    ({"event": "reversed", "status": "partly_paid", "outstanding": "100.00"}, "reversed"),
    ({"event": "reversed"}, "reversed"),
])
def test_payment_leaving_duties_unpaid_or_undoing_one_releases_nothing(
        values: dict[str, str], why: str) -> None:
    """A partial payment or a reversal is noted, not a release."""
    verdict = judge(EVENT, event(**values), Waiting())
    assert verdict.action == NOTED and why in verdict.reason


def test_payment_for_a_declaration_that_waits_for_nothing_is_noted() -> None:
    """Released at once, deferred, not green or unknown: the ledger has nothing waiting."""
    verdict = judge(EVENT, event(), Waiting(None))
    assert verdict.action == NOTED and "nothing waits" in verdict.reason


@pytest.mark.parametrize("values", [
    {"reference": "RF71539007547035"}, {"currency": "EUR"}, {"amount_due": Decimal("400.00")}])
def test_payment_disagreeing_with_what_was_assessed_is_parked(values: dict[str, object]) -> None:
    """Another reference, currency or amount due than the waiting declaration's: parked."""
    verdict = judge(EVENT, event(**values), Waiting())
    assert verdict.action == PARK and PENDING.payment_reference in verdict.reason


def test_bank_file_on_the_payments_queue_is_read_and_noted() -> None:
    """The canonical bank file (every transaction) is noted with its totals per currency."""
    tx = PaymentConfirmation(amount=Amount(Decimal("440.73"), "MKD"), credit_debit="CRDT")
    body = to_json_bytes(PaymentNotification(message_id="CAMT-1", transactions=[
        tx, dataclasses.replace(tx, amount=Amount(Decimal("9.27"), "MKD"))]))
    verdict = judge(FILE, body, Waiting())
    assert verdict.action == NOTED
    assert verdict.reason == "bank file CAMT-1: 2 transaction(s), MKD 450.00"


@pytest.mark.parametrize(("kind", "body"), [
    ("declaration", event()), (EVENT, b"not json"), (EVENT, b"[1, 2]"),
    (EVENT, to_json_bytes(PaymentEvent(event_id="e-1", reference=""))),
    (EVENT, b'{"amount": "lots"}'), (None, event())])
def test_payment_message_that_cannot_be_understood_is_parked(kind: str | None,
                                                              body: bytes) -> None:
    """Another kind, a body that is not the canonical JSON, an event naming no declaration."""
    assert judge(kind, body, Waiting()).action == PARK
