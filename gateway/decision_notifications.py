"""Clearance decisions in, signed notifications out.

The gateway consumes clearance's decisions from RabbitMQ. Each one is verified (detached
signature by a key the trust store assigns to the clearance system) before anything else
happens; a decision with a bad or missing signature, or that cannot be understood, raises
and is parked by the consumer — never applied. A good one becomes a signed WCO ``RES``
notification stored with the conversation's new status in one transaction; delivery (pull,
and push where the broker has a callback) follows from the journal.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from gateway import metrics as m
from gateway.canonical.clearance_decision import ClearanceDecision
from gateway.canonical.model import from_plain
from gateway.documents.notifications import FUNCTION_CODES, build_notification
from gateway.errors import GatewayError
from gateway.metrics import Metrics
from gateway.partners import PartnerRegistry
from gateway.pipeline.exchange import new_id, utc_now_iso
from gateway.ports import Conversations, Notification
from gateway.signing.detached import verify_body
from gateway.signing.keys import TrustStore
from gateway.signing.xmldsig import XmlSigner

log = structlog.get_logger("gateway.decision_notifications")

_STATUS = {"accepted": "accepted", "rejected": "rejected", "control": "control",
           "duties_assessed": "duties-assessed", "released": "released"}


class InvalidDecision(GatewayError):
    code = "GW-DECISION-INVALID"


class UnknownConversation(GatewayError):
    code = "GW-DECISION-UNKNOWN-CONVERSATION"


@dataclass
class DecisionService:
    trust: TrustStore
    signer: XmlSigner
    conversations: Conversations
    partners: PartnerRegistry
    metrics: Metrics
    country: str = "MK"
    agency: str = "Customs Administration"
    clearance_partner: str = "clearance"

    async def apply(self, body: bytes, headers: Mapping[str, Any]) -> bool:
        """Verify and apply one decision; ``False`` if it had been applied already."""
        verify_body(self.trust, body, headers, owner=self.clearance_partner)
        decision = parse_decision(body)
        conversation = self.conversations.conversation(decision.conversation_id)
        if conversation is None:
            raise UnknownConversation(f"no conversation {decision.conversation_id!r}")
        partner = self.partners.get(conversation["partner_id"])
        notification_id, created_at = new_id(), utc_now_iso()
        document = self.signer.sign_to_bytes(build_notification(
            decision, notification_id=notification_id, partner_id=partner.id,
            created_at=created_at, country=self.country, agency=self.agency))
        notification = Notification(
            id=notification_id, conversation_id=decision.conversation_id, partner_id=partner.id,
            kind=FUNCTION_CODES[decision.kind][1], created_at=created_at, document=document,
            decision_id=decision.decision_id, summary=_summary(decision),
            push=partner.callback_url is not None)
        status = {"status": _STATUS[decision.kind]
                  + (f"-{decision.channel}" if decision.channel else ""), "mrn": decision.mrn}
        created = await self.conversations.record_decision(
            notification, status, partner.callback_url)
        if created:
            self.metrics.count(m.DECISIONS, kind=decision.kind)
        log.info("decision.applied" if created else "decision.duplicate",
                 conversation_id=decision.conversation_id, decision_id=decision.decision_id,
                 notification_id=notification_id if created else None,
                 kind=decision.kind, mrn=decision.mrn)
        return created


def parse_decision(body: bytes) -> ClearanceDecision:
    try:
        decision = from_plain(ClearanceDecision, json.loads(body))
        decision.check()
    except (ValueError, TypeError, AttributeError, ArithmeticError) as exc:
        raise InvalidDecision(f"the decision cannot be understood: {exc}") from exc
    return decision


def _summary(d: ClearanceDecision) -> dict[str, Any]:
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
