"""Telling clearance and the broker what became of a reservation, in the same transaction.

``ReservationNotices.tell(tx, reservation, event)`` writes, with the reservation's own change:

* a signed canonical ``ReservationEvent`` in the outbox for clearance (detached signature with
  the gateway's bus key; routed by ``config/routes.toml``, kind ``licence_reservation`` with
  the attributes ``event``, ``agency``, ``mrn``; no route: the parking exchange, with the
  reason) — for every event;
* for the events a broker must hear of (``BROKER_EVENTS``: refused, licence revoked, write-off
  refused) a signed ``LIC`` notification in the declaration's conversation, pushed where the
  broker has a callback — stored once per reservation and event (its ``SourceID``);
* a line in the conversation's history (``licence.reservation.<event>``).

The documents are built and signed inside the transaction (what they say is known only once
the held licence was decided on), as the payments flow does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.canonical.licence_reservation import KIND, ReservationEvent
from gateway.canonical.model import to_json_bytes
from gateway.documents.licences import LIC, build_licence_notice
from gateway.errors import NoRoute
from gateway.flows.licences.reservations import BROKER_EVENTS, Reservation
from gateway.partners import PartnerRegistry
from gateway.pipeline.exchange import new_id
from gateway.ports import JournalTransaction, Notification, OutboundMessage
from gateway.routing import RoutingTable
from gateway.signing.detached import sign_body
from gateway.signing.keys import SigningKey
from gateway.signing.xmldsig import XmlSigner


@dataclass
class ReservationNotices:
    signer: XmlSigner                   # the broker's LIC notifications
    bus_key: SigningKey                 # detached signatures of the events to clearance
    routing: RoutingTable
    parking_exchange: str
    partners: PartnerRegistry

    def tell(self, tx: JournalTransaction, r: Reservation, event: str, at: str) -> None:
        """Clearance (always), the broker (``BROKER_EVENTS``) and the history, of ``event``."""
        tx.add_outbox([self.event(r, event, at)])
        if event in BROKER_EVENTS:
            tx.add_notification(*self.notice(r, event, at))
        tx.add_history(r.conversation_id, at, f"licence.reservation.{event}", summary(r))

    def event(self, r: Reservation, event: str, at: str) -> OutboundMessage:
        """The signed canonical event for clearance, with its route."""
        message = ReservationEvent(
            event_id=new_id(), event=event, conversation_id=r.conversation_id, mrn=r.mrn,
            item=r.item, agency=r.agency, number=r.number, code=r.code, state=r.state,
            line=r.line, declared_quantity=r.declared_quantity, declared_unit=r.declared_unit,
            quantity=r.quantity, unit=r.unit, available=r.available, consumed=r.consumed,
            reason=r.reason, reason_text=r.reason_text, refused_by=r.refused_by,
            agency_reference=r.agency_reference, revoked_at=r.revoked_at, at=at)
        body = to_json_bytes(message)
        headers: dict[str, str] = {
            "x-conversation-id": r.conversation_id, "x-canonical-kind": KIND,
            "x-canonical-version": message.canonical_version, "x-partner": r.agency,
            "x-mrn": r.mrn, "x-licence": r.number, "x-goods-item": str(r.item)}
        try:
            destination = self.routing.route_for(KIND, {"event": event, "agency": r.agency,
                                                        "mrn": r.mrn})
            exchange, key = destination.exchange, destination.routing_key
            headers["x-route"] = destination.route
        except NoRoute as exc:
            exchange, key = self.parking_exchange, f"unrouted.{KIND}"
            headers["x-gateway-reason"] = f"{exc.code}: {exc.message}"
        return OutboundMessage(id=message.event_id, conversation_id=r.conversation_id,
                               kind=KIND, exchange=exchange, routing_key=key, body=body,
                               headers={**headers, **sign_body(self.bus_key, body)})

    def notice(self, r: Reservation, event: str, at: str) -> tuple[Notification, str | None]:
        """The broker's signed ``LIC`` notification, and its callback URL (if any)."""
        broker = self.partners.find(r.partner_id)
        notification_id = new_id()
        source_id = f"lic:{event}:{r.agency}:{r.number}:{r.mrn}:{r.item}"
        document = self.signer.sign_to_bytes(build_licence_notice(
            r, event, notification_id=notification_id, source_id=source_id, created_at=at))
        callback = broker.callback_url if broker is not None else None
        return Notification(
            id=notification_id, conversation_id=r.conversation_id, partner_id=r.partner_id,
            kind=LIC, created_at=at, document=document, source_id=source_id,
            summary={"event": event, **summary(r)}, push=callback is not None), callback


def summary(r: Reservation) -> dict[str, Any]:
    """What a history line or a notification's summary says of a reservation."""
    out: dict[str, Any] = {"licence": r.number, "agency": r.agency, "mrn": r.mrn,
                           "item": r.item, "state": r.state}
    for name in ("line", "reason", "refused_by", "revoked_at"):
        if (value := getattr(r, name)) is not None:
            out[name] = value
    for name in ("quantity", "available"):
        if (value := getattr(r, name)) is not None:
            out[name] = format(value, "f")
    if r.unit:
        out["unit"] = r.unit
    return out
