"""Duty assessments in: the ``duty-assessment`` event handler on ``clearance.decision``.

Clearance's ``duties_assessed`` decision carries the payment reference (ISO 11649 ``RF…``),
the total duties, their currency and the MRN. This handler runs beside ``clearance-decision``
(which tells the broker, kind ``TAX``) in the same transaction, and records the assessment in
the payments ledger — what a bank's look-up answers and what its payments are matched to:

* a new reference: a new assessment (``open``) for the declaration's conversation and broker;
  if the declaration had another assessment not cancelled (clearance issued a new reference),
  that one is ``cancelled`` (``superseded_by`` the new one) and what was paid on it counts
  toward the new one;
* the same reference again with the same amount and currency: nothing changes (a repeated
  assessment is idempotent, whatever its message id);
* the same reference with another amount (amended duties): the amount due is replaced and the
  status recomputed from what was paid.

Decisions of other kinds are not for this handler. A reference that is not a valid ISO 11649
reference (check digits verified with python-stdnum), a missing amount or currency, a reference
already used for another declaration, or a change of currency after payments, can never be
applied: ``InvalidAssessment`` (not retryable), and the consumer parks the whole decision.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from gateway.canonical.clearance_decision import ClearanceDecision
from gateway.events.service import Event, InvalidEvent
from gateway.flows.clearance_decisions import UnknownConversation, parse_decision
from gateway.flows.payments.ledger import (
    CANCELLED,
    FLOW,
    ZERO,
    Assessment,
    PaymentLedger,
    status_for,
)
from gateway.flows.payments.matching import compact
from gateway.identifiers import is_valid_creditor_reference
from gateway.pipeline.exchange import utc_now_iso
from gateway.ports import Conversations, JournalTransaction

DUTIES_ASSESSED = "duties_assessed"
_CURRENCY = re.compile(r"[A-Z]{3}")


class InvalidAssessment(InvalidEvent):
    code = "GW-ASSESSMENT-INVALID"


@dataclass(frozen=True)
class PreparedAssessment:
    decision: ClearanceDecision
    reference: str
    amount_due: Decimal
    currency: str
    partner_id: str


@dataclass
class DutyAssessmentHandler:
    name: str = "duty-assessment"

    def prepare(self, event: Event, reads: Conversations) -> PreparedAssessment | None:
        decision = parse_decision(event.body)
        if decision.kind != DUTIES_ASSESSED:
            return None
        reference = compact(decision.payment_reference or "")
        if not is_valid_creditor_reference(reference):
            raise InvalidAssessment(f"decision {decision.decision_id}: payment reference "
                                    f"{decision.payment_reference!r} is not a valid ISO 11649 "
                                    f"creditor reference (RF + check digits)")
        if decision.total_duties is None or decision.total_duties < 0:
            raise InvalidAssessment(f"decision {decision.decision_id}: total duties "
                                    f"{decision.total_duties!r} is not an amount due")
        if not decision.currency or not _CURRENCY.fullmatch(decision.currency):
            raise InvalidAssessment(f"decision {decision.decision_id}: currency "
                                    f"{decision.currency!r} is not an ISO 4217 code")
        conversation = reads.conversation(decision.conversation_id)
        if conversation is None:
            raise UnknownConversation(f"no conversation {decision.conversation_id!r}")
        return PreparedAssessment(decision, reference, decision.total_duties,
                                  decision.currency, conversation["partner_id"])

    def apply(self, prepared: PreparedAssessment, tx: JournalTransaction) -> dict[str, Any]:
        ledger: PaymentLedger = tx.flow(FLOW)
        d, at = prepared.decision, utc_now_iso()
        existing = ledger.assessment(prepared.reference)
        if existing is not None:
            return self._again(ledger, prepared, existing, at)
        previous = ledger.current_assessment(d.conversation_id)
        carried = ZERO
        if previous is not None:
            carried = previous.paid
            ledger.save_assessment(dataclasses.replace(
                previous, status=CANCELLED, superseded_by=prepared.reference, updated_at=at))
        assessment = Assessment(
            reference=prepared.reference, conversation_id=d.conversation_id,
            partner_id=prepared.partner_id, mrn=d.mrn, amount_due=prepared.amount_due,
            currency=prepared.currency, decision_id=d.decision_id, assessed_at=at,
            paid=carried, status=status_for(prepared.amount_due, carried), updated_at=at)
        ledger.save_assessment(assessment)
        return {"assessment": "recorded", "reference": assessment.reference,
                "amount_due": format(assessment.amount_due, "f"), "currency": assessment.currency,
                "status": assessment.status,
                "superseded": previous.reference if previous is not None else None}

    @staticmethod
    def _again(ledger: PaymentLedger, prepared: PreparedAssessment, existing: Assessment,
               at: str) -> dict[str, Any]:
        d = prepared.decision
        if existing.conversation_id != d.conversation_id:
            raise InvalidAssessment(f"payment reference {prepared.reference} is assessed for "
                                    f"another declaration (conversation "
                                    f"{existing.conversation_id})")
        summary = {"reference": existing.reference, "currency": existing.currency}
        if (existing.amount_due, existing.currency) == (prepared.amount_due, prepared.currency):
            return {**summary, "assessment": "unchanged", "status": existing.status}
        if existing.currency != prepared.currency and existing.paid > 0:
            raise InvalidAssessment(f"{prepared.reference}: the currency cannot change from "
                                    f"{existing.currency} to {prepared.currency} once paid")
        amended = dataclasses.replace(existing.with_due(
            prepared.amount_due, decision_id=d.decision_id, mrn=d.mrn, at=at),
            currency=prepared.currency)
        ledger.save_assessment(amended)
        return {**summary, "assessment": "amended", "status": amended.status,
                "amount_due": format(amended.amount_due, "f"),
                "previous_amount_due": format(existing.amount_due, "f")}
