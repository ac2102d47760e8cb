"""Duty assessments from clearance into the payments ledger (the ``duty-assessment`` handler).

The handler runs as the event service runs it: ``prepare`` against the journal's reads, then
``apply`` in a ``tests.fakes.FakeTransaction`` with the fake payments ledger.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from gateway.canonical.clearance_decision import ClearanceDecision
from gateway.canonical.model import to_json_bytes
from gateway.events.service import Event
from gateway.flows.clearance_decisions import UnknownConversation
from gateway.flows.payments.assessments import DutyAssessmentHandler, InvalidAssessment
from gateway.identifiers import creditor_reference_for
from gateway.ports import AcceptedMessage
from tests.fake_payment_ledger import FakePaymentLedgerStore
from tests.fakes import FakeJournal, FakeTransaction

MRN = "26MK00100522FACER8"
REF = creditor_reference_for(MRN)


@pytest.fixture
def journal() -> FakeJournal:
    """A fake journal holding broker-alpha's declaration conversation, with the ledger."""
    journal = FakeJournal()
    journal.flows["payments"] = FakePaymentLedgerStore()
    for conversation_id in ("conv-1", "conv-2"):
        asyncio.run(journal.record(AcceptedMessage(
            receipt_id=f"rcp-{conversation_id}", conversation_id=conversation_id,
            partner_id="broker-alpha", idempotency_key=f"doc:wco:{conversation_id}",
            message_type="wco-dec-3.6", channel="http", received_at="2026-11-28T10:00:00.000Z",
            sha256="ab" * 32, body=b"<x/>", canonical_json=b"{}", receipt_xml=b"<r/>",
            receipt={}, reference="LRN-1", outbox=())))
    return journal


def decision(decision_id: str = "dec-3", conversation_id: str = "conv-1", **values: Any
             ) -> ClearanceDecision:
    base: dict[str, Any] = dict(kind="duties_assessed", mrn=MRN, total_duties=Decimal("1770.00"),
                                currency="MKD", payment_reference=REF)
    base.update(values)
    return ClearanceDecision(decision_id=decision_id, conversation_id=conversation_id,
                             receipt_id="rcp-1", decided_at="2026-11-28T10:05:00.000Z", **base)


def apply(journal: FakeJournal, d: ClearanceDecision) -> dict[str, Any] | None:
    handler = DutyAssessmentHandler()
    prepared = handler.prepare(Event(d.decision_id, "clearance.decision", to_json_bytes(d)),
                               journal)
    if prepared is None:
        return None
    tx = FakeTransaction(journal)
    summary = handler.apply(prepared, tx)
    tx.commit()
    return summary


def ledger(journal: FakeJournal) -> FakePaymentLedgerStore:
    store: FakePaymentLedgerStore = journal.flows["payments"]
    return store


def test_assessment_is_recorded_open_with_conversation_broker_and_amount(
        journal: FakeJournal) -> None:
    """A duties_assessed decision records an open assessment under its RF reference."""
    summary = apply(journal, decision())
    assert summary is not None and summary["assessment"] == "recorded"
    a = ledger(journal).assessments[REF]
    assert (a.conversation_id, a.partner_id, a.mrn, a.amount_due, a.currency, a.status) == \
        ("conv-1", "broker-alpha", MRN, Decimal("1770.00"), "MKD", "open")
    assert journal.flow("payments").look_up(REF) == a


def test_assessment_repeated_changes_nothing(journal: FakeJournal) -> None:
    """The same assessment again (another decision id, same values) is unchanged."""
    apply(journal, decision())
    before = ledger(journal).assessments[REF]
    summary = apply(journal, decision("dec-3-again"))
    assert summary is not None and summary["assessment"] == "unchanged"
    assert ledger(journal).assessments[REF] == before


def test_assessment_amended_updates_the_amount_due_and_status(journal: FakeJournal) -> None:
    """Amended duties for the same reference replace the amount due; the status follows what
    was paid (partly paid 1000 of 1770 becomes paid when duties are cut to 1000)."""
    apply(journal, decision())
    store = ledger(journal)
    store.assessments[REF] = store.assessments[REF].with_paid(Decimal("1000.00"), "t")
    summary = apply(journal, decision("dec-4", total_duties=Decimal("1000.00")))
    assert summary is not None and summary["assessment"] == "amended"
    a = store.assessments[REF]
    assert (a.amount_due, a.status, a.decision_id) == (Decimal("1000.00"), "paid", "dec-4")


def test_assessment_with_a_new_reference_cancels_the_previous(journal: FakeJournal) -> None:
    """A new reference for the same declaration cancels the old assessment; what was paid on
    it counts toward the new one."""
    apply(journal, decision())
    store = ledger(journal)
    store.assessments[REF] = store.assessments[REF].with_paid(Decimal("500.00"), "t")
    new_ref = creditor_reference_for("26MK00100522FACER9")
    apply(journal, decision("dec-5", payment_reference=new_ref, total_duties=Decimal("900.00")))
    old, new = store.assessments[REF], store.assessments[new_ref]
    assert (old.status, old.superseded_by, old.outstanding) == ("cancelled", new_ref, 0)
    assert (new.paid, new.outstanding, new.status) == \
        (Decimal("500.00"), Decimal("400.00"), "partly_paid")


@pytest.mark.parametrize("values", [
    {"payment_reference": REF[:2] + ("00" if REF[2:4] != "00" else "01") + REF[4:]},
    {"payment_reference": "120000000000234478943216899"},
    {"payment_reference": None},
    {"total_duties": None},
    {"currency": "mkd"},
], ids=["bad-check-digit", "not-rf", "no-reference", "no-amount", "bad-currency"])
def test_assessment_that_cannot_be_recorded_is_not_retryable(
        journal: FakeJournal, values: dict[str, Any]) -> None:
    """An invalid reference, amount or currency raises a non-retryable error (parked)."""
    with pytest.raises(InvalidAssessment) as caught:
        apply(journal, decision(**values))
    assert caught.value.retryable is False and caught.value.code == "GW-ASSESSMENT-INVALID"
    assert ledger(journal).assessments == {}


def test_assessment_reference_of_another_declaration_is_refused(journal: FakeJournal) -> None:
    """A reference already assessed for another declaration is refused, the first kept."""
    apply(journal, decision())
    with pytest.raises(InvalidAssessment):
        apply(journal, decision("dec-9", conversation_id="conv-2"))
    assert ledger(journal).assessments[REF].conversation_id == "conv-1"


def test_assessment_handler_ignores_other_decisions_and_unknown_conversations(
        journal: FakeJournal) -> None:
    """Other decision kinds are not for this handler; an unknown conversation is refused."""
    assert apply(journal, decision(kind="accepted")) is None
    with pytest.raises(UnknownConversation):
        apply(journal, decision(conversation_id="conv-none"))
