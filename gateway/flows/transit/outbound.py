"""What the transit flow sends: signed trader notifications and signed customs-to-customs messages.

* **Trader notifications** (CC928C, CC028C, CC029C, CC056C, CC045C, CC025C): the P5 message in
  a ``gw:Notification`` (notification id, conversation, ``SourceID`` — the receipt or event
  that caused it —, ``Kind`` = the P5 message type, partner, ``Payload``), the whole signed
  like every notification, stored in the trader's conversation: pulled (REST, SOAP
  ``GetNotifications``) or pushed to the partner's callback.
* **Customs-to-customs messages** (CD001C, CD050C, CD006C, CD018C, CD118C): the P5 message
  itself, signed (enveloped XML-DSig on its ``Id``: our schemas leave room for it), in the
  outbox as ``application/xml`` with a detached signature over the bytes like every bus
  message, routed by ``config/routes.toml`` (kind ``customs_to_customs``; attributes
  ``message`` — ``cd001c`` —, ``message_type``, ``country`` — of the recipient
  administration, lower case: ``rs`` —, ``recipient`` — ``NTA.RS`` —, ``mrn``,
  ``office_of_departure``), by default to the ``customs.link`` exchange as
  ``movement.<message>.<country>`` (``movement.cd001c.rs``: what ``config/link.toml``
  binds). No route: parked (``unrouted.customs_to_customs``), never dropped.

Every message is checked against our schema of its type before it is signed
(``validate``): a record the canonical data cannot fill is ``MessageNotBuilt`` (not retryable:
the event that asked for it is parked with the problems) rather than an invalid message sent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lxml import etree

from gateway.documents.ncts_messages import NCTS_NS, Header, new_message_id, nta, p5_datetime
from gateway.documents.receipts import GW_NS
from gateway.errors import GatewayError, NoRoute, Problem
from gateway.message_types import MessageTypeRegistry
from gateway.partners import PartnerRegistry
from gateway.pipeline.exchange import new_id
from gateway.ports import Notification, OutboundMessage
from gateway.routing import RoutingTable
from gateway.signing.detached import sign_body
from gateway.signing.keys import SigningKey
from gateway.signing.xmldsig import XmlSigner

CUSTOMS_TO_CUSTOMS = "customs_to_customs"
Validate = Callable[[str, bytes], Sequence[Problem]]


def schema_check(registry: MessageTypeRegistry) -> Validate:
    """Validate a P5 message we built against the schema its registry entry names."""
    entries = {mt.local_name: mt for mt in registry if mt.namespace == NCTS_NS}

    def validate(message_type: str, body: bytes) -> Sequence[Problem]:
        entry = entries.get(message_type)
        if entry is None:
            return [Problem("GW-NCTS-NOT-BUILT", f"no registry entry for {message_type}")]
        return registry.validate(entry, etree.fromstring(body), body)
    return validate


class MessageNotBuilt(GatewayError):
    """A message built from the kept data does not conform to its schema: not sent."""

    code = "GW-NCTS-NOT-BUILT"


@dataclass(frozen=True)
class Outgoing:
    """A trader notification ready to store, with the callback to push it to."""

    notification: Notification
    callback_url: str | None


@dataclass
class NctsOutbound:
    signer: XmlSigner
    bus_key: SigningKey
    routing: RoutingTable
    parking_exchange: str
    partners: PartnerRegistry
    country: str = "MK"
    validate: Validate | None = None          # our schema of a message type, on its bytes

    @property
    def identity(self) -> str:
        return nta(self.country)

    def header(self, message_type: str, recipient: str, seed: str, at: str,
               correlation_id: str | None = None) -> Header:
        """Our header: ``messageIdentification`` derived from ``seed`` (the same event or
        receipt gives the same id, so a re-run sends the same message)."""
        digest = hashlib.sha256(f"{seed}:{message_type}:{recipient}".encode()).hexdigest()
        return Header(sender=self.identity, recipient=recipient, prepared_at=p5_datetime(at),
                      message_id=new_message_id(self.country, message_type, digest),
                      correlation_id=correlation_id)

    def check(self, message_type: str, element: etree._Element) -> None:
        if self.validate is None:
            return
        body = etree.tostring(element)
        problems = list(self.validate(message_type, body))
        if problems:
            raise MessageNotBuilt(
                f"the {message_type} built from the movement's data does not conform to its "
                f"schema ({len(problems)} problem(s)); it is not sent", problems=problems)

    def notification(self, element: etree._Element, *, conversation_id: str, partner_id: str,
                     source_id: str, created_at: str, summary: dict[str, Any]) -> Outgoing:
        """The signed ``gw:Notification`` carrying ``element`` (a P5 message), for a trader."""
        message_type = etree.QName(element).localname
        self.check(message_type, element)
        notification_id = new_id()
        root = etree.Element(f"{{{GW_NS}}}Notification", nsmap={"gw": GW_NS},
                             Id=f"NTF-{notification_id}")
        for tag, text in (("NotificationID", notification_id),
                          ("ConversationID", conversation_id), ("SourceID", source_id),
                          ("Kind", message_type), ("CreatedAt", created_at),
                          ("Partner", partner_id)):
            etree.SubElement(root, f"{{{GW_NS}}}{tag}").text = text
        etree.SubElement(root, f"{{{GW_NS}}}Payload").append(element)
        partner = self.partners.find(partner_id)
        callback = partner.callback_url if partner is not None else None
        return Outgoing(Notification(
            id=notification_id, conversation_id=conversation_id, partner_id=partner_id,
            kind=message_type, created_at=created_at,
            document=self.signer.sign_to_bytes(root), source_id=source_id,
            summary={"message_type": message_type, **summary}, push=callback is not None),
            callback)

    def customs_message(self, element: etree._Element, *, country: str, conversation_id: str,
                        mrn: str, office_of_departure: str | None = None) -> OutboundMessage:
        """The signed P5 message for the administration of ``country``, in the outbox."""
        message_type = etree.QName(element).localname
        self.check(message_type, element)
        body = self.signer.sign_to_bytes(element)
        attributes = {"message": message_type.lower(), "message_type": message_type,
                      "country": country.lower(), "recipient": nta(country), "mrn": mrn,
                      "office_of_departure": office_of_departure or ""}
        try:
            destination = self.routing.route_for(CUSTOMS_TO_CUSTOMS, attributes)
            exchange, key = destination.exchange, destination.routing_key
            extra = {"x-route": destination.route}
        except NoRoute as exc:
            exchange, key = self.parking_exchange, f"unrouted.{CUSTOMS_TO_CUSTOMS}"
            extra = {"x-gateway-reason": f"{exc.code}: {exc.message}"}
        headers = {"x-conversation-id": conversation_id, "x-mrn": mrn,
                   "x-ncts-message-type": message_type,
                   "x-ncts-message-id": element.findtext("messageIdentification") or "",
                   "x-sender": self.identity, "x-recipient": nta(country),
                   "x-recipient-country": country, **extra}
        return OutboundMessage(
            id=new_id(), conversation_id=conversation_id, kind=f"movement.{message_type.lower()}",
            exchange=exchange, routing_key=key, body=body,
            headers={**headers, **sign_body(self.bus_key, body)},
            content_type="application/xml")
