"""Clearance decisions in, signed notifications out (an event handler, ``clearance-decision``).

Clearance tells the gateway what it decided about a declaration — accepted with an MRN,
rejected with errors, the risk channel, the duties assessed, released. The event service has
verified the decision's detached signature (the clearance key) before this handler runs.
Outside the transaction it decodes the decision, finds the conversation and its partner, and
builds and signs the WCO ``RES`` notification; inside, it stores the notification (pushed where
the partner has a callback) with the conversation's new status and the MRN. A decision that
cannot be understood, or that names an unknown conversation or partner, can never be applied:
it raises a non-retryable error and the consumer parks it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from gateway import metrics as m
from gateway.canonical.clearance_decision import ClearanceDecision
from gateway.canonical.model import from_plain
from gateway.documents.notifications import FUNCTION_CODES, build_notification
from gateway.errors import GatewayError
from gateway.events.service import Event, InvalidEvent
from gateway.metrics import Metrics
from gateway.partners import PartnerRegistry
from gateway.pipeline.exchange import new_id, utc_now_iso
from gateway.ports import Conversations, JournalTransaction, Notification
from gateway.signing.xmldsig import XmlSigner

_STATUS = {"accepted": "accepted", "rejected": "rejected", "control": "control",
           "duties_assessed": "duties-assessed", "released": "released",
           "invalidated": "invalidated"}


class InvalidDecision(InvalidEvent):
    code = "GW-DECISION-INVALID"


class UnknownConversation(GatewayError):
    code = "GW-DECISION-UNKNOWN-CONVERSATION"


@dataclass(frozen=True)
class PreparedNotification:
    decision: ClearanceDecision
    notification: Notification
    status: str
    callback_url: str | None


@dataclass
class ClearanceDecisionHandler:
    signer: XmlSigner
    partners: PartnerRegistry
    metrics: Metrics
    country: str = "MK"
    agency: str = "Customs Administration"
    name: str = "clearance-decision"

    def prepare(self, event: Event, reads: Conversations) -> PreparedNotification:
        decision = parse_decision(event.body)
        conversation = reads.conversation(decision.conversation_id)
        if conversation is None:
            raise UnknownConversation(f"no conversation {decision.conversation_id!r}")
        partner = self.partners.find(conversation["partner_id"])
        if partner is None:
            raise UnknownConversation(f"the partner {conversation['partner_id']!r} of "
                                      f"conversation {decision.conversation_id!r} is not in "
                                      f"the partner registry")
        notification_id, created_at = new_id(), utc_now_iso()
        document = self.signer.sign_to_bytes(build_notification(
            decision, notification_id=notification_id, partner_id=partner.id,
            created_at=created_at, country=self.country, agency=self.agency))
        notification = Notification(
            id=notification_id, conversation_id=decision.conversation_id, partner_id=partner.id,
            kind=FUNCTION_CODES[decision.kind][1], created_at=created_at, document=document,
            source_id=decision.decision_id, summary=decision_summary(decision),
            push=partner.callback_url is not None)
        status = _STATUS[decision.kind] + (f"-{decision.channel}" if decision.channel else "")
        return PreparedNotification(decision, notification, status, partner.callback_url)

    def apply(self, prepared: PreparedNotification, tx: JournalTransaction) -> dict[str, Any]:
        n, decision = prepared.notification, prepared.decision
        seq = tx.add_notification(n, prepared.callback_url)
        if seq is None:             # this decision was notified already (another message id)
            return {"decision_id": decision.decision_id, "duplicate": True}
        tx.update_conversation(n.conversation_id, status=prepared.status, at=n.created_at,
                               customs_reference=decision.mrn)
        self.metrics.count(m.DECISIONS, kind=decision.kind)
        return {"decision_id": decision.decision_id, "kind": decision.kind,
                "notification_id": n.id, "seq": seq, "mrn": decision.mrn}


def parse_decision(body: bytes) -> ClearanceDecision:
    try:
        decision = from_plain(ClearanceDecision, json.loads(body))
        decision.check()
    except (ValueError, TypeError, AttributeError, ArithmeticError) as exc:
        raise InvalidDecision(f"the decision cannot be understood: {exc}") from exc
    return decision


def decision_summary(d: ClearanceDecision) -> dict[str, Any]:
    summary: dict[str, Any] = {"decision": d.kind, "decided_at": d.decided_at}
    for key, value in (("mrn", d.mrn), ("channel", d.channel),
                       ("payment_reference", d.payment_reference), ("currency", d.currency)):
        if value:
            summary[key] = value
    if d.total_duties is not None:
        summary["total_duties"] = format(d.total_duties, "f")
    if d.errors:
        summary["errors"] = [{"code": e.code, "description": e.description,
                              "pointer": e.pointer} for e in d.errors]
    return summary
