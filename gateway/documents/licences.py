"""The broker's licence notice: a reservation refused, or the licence revoked after it.

A ``gw:Notification`` of kind ``LIC`` (``schemas/gateway/gateway-v1.xsd``) in the
declaration's conversation, signed whole like every notification, its ``SourceID`` naming the
reservation step that caused it. ``gw:LicenceReservation`` says what happened (``Event``:
``refused``, ``licence_revoked``, ``write_off_refused``), the MRN and goods item, the licence
(number, issuing agency, the code the item quoted, the line), the quantity declared and drawn,
the reason (code, text, who refused: the gateway's own check or the agency) and what the
agency says is still available.
"""

from __future__ import annotations

from decimal import Decimal

from lxml import etree

from gateway.documents.receipts import GW_NS
from gateway.flows.licences.reservations import Reservation

LIC = "LIC"


def _gw(tag: str) -> str:
    return f"{{{GW_NS}}}{tag}"


def _leaf(parent: etree._Element, tag: str, text: object | None,
          unit: str | None = None) -> None:
    if text is None:
        return
    element = etree.SubElement(parent, _gw(tag))
    element.text = format(text, "f") if isinstance(text, Decimal) else str(text)
    if unit:
        element.set("unitCode", unit)


def build_licence_notice(r: Reservation, event: str, *, notification_id: str, source_id: str,
                         created_at: str) -> etree._Element:
    """The unsigned ``LIC`` notification of ``event`` for reservation ``r``."""
    root = etree.Element(_gw("Notification"), nsmap={"gw": GW_NS}, Id=f"NTF-{notification_id}")
    for tag, text in (("NotificationID", notification_id), ("ConversationID", r.conversation_id),
                      ("SourceID", source_id), ("Kind", LIC), ("CreatedAt", created_at),
                      ("Partner", r.partner_id)):
        _leaf(root, tag, text)
    notice = etree.SubElement(etree.SubElement(root, _gw("Payload")), _gw("LicenceReservation"))
    _leaf(notice, "Event", event)
    _leaf(notice, "MRN", r.mrn)
    _leaf(notice, "GoodsItem", r.item)
    licence = etree.SubElement(notice, _gw("Licence"))
    _leaf(licence, "Number", r.number)
    _leaf(licence, "Agency", r.agency)
    _leaf(licence, "DocumentCode", r.code)
    _leaf(licence, "Line", r.line)
    _leaf(notice, "State", r.state)
    _leaf(notice, "DeclaredQuantity", r.declared_quantity, r.declared_unit)
    _leaf(notice, "Quantity", r.quantity, r.unit)
    if r.reason:
        reason = etree.SubElement(notice, _gw("Reason"))
        _leaf(reason, "Code", r.reason)
        _leaf(reason, "Text", r.reason_text)
        _leaf(reason, "RefusedBy", r.refused_by)
    _leaf(notice, "Available", r.available, r.unit)
    _leaf(notice, "RevokedAt", r.revoked_at)
    return root
