"""Notifications: a clearance decision, told to the broker as a WCO ``RES`` document.

The partner receives a ``gw:Notification`` (gateway metadata: notification id, conversation
id, kind) wrapping a WCO DM 3.6 ``md:MetaData`` + ``Response`` in the form national customs
services publish (function codes 01 accepted, 03 rejected, 05 control, 13 duties/payment,
07 released, 10 invalidated; errors with WCO pointers). Every ``DateTimeString`` is in the RES
data-set namespace (``RES_DS_NS``), where the official schema declares it, its parent element in
RES-DMS. The whole ``gw:Notification`` is signed.
"""

from __future__ import annotations

import datetime as dt
import re

from lxml import etree

from gateway.canonical.clearance_decision import ClearanceDecision
from gateway.documents.receipts import GW_NS

MD_NS = "urn:wco:datamodel:WCO:DocumentMetaData-DMS:2"
RES_NS = "urn:wco:datamodel:WCO:RES-DMS:2"
# the data-set namespace of the RES: where the official schema declares DateTimeString
RES_DS_NS = "urn:wco:datamodel:WCO:Response_DS:DMS:2"

# decision kind -> (RES function code, WCO notification name)
FUNCTION_CODES: dict[str, tuple[str, str]] = {
    "accepted": ("01", "ACC"),
    "rejected": ("03", "REJ"),
    "control": ("05", "CTL"),
    "released": ("07", "RES"),
    "invalidated": ("10", "INV"),
    "duties_assessed": ("13", "TAX"),
}
_CHANNEL_STATUS = {"green": "G", "yellow": "Y", "red": "R"}
_STEP = re.compile(r"^(?P<code>[0-9A-Z]{3,4})(?:\[(?P<seq>\d+)\])?$")


def wco_datetime(iso: str) -> str:
    """ISO 8601 (UTC ``…Z``) -> WCO format 304 ``YYYYMMDDhhmmssZ``."""
    moment = dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(dt.UTC)
    return moment.strftime("%Y%m%d%H%M%SZ")


def build_notification(decision: ClearanceDecision, *, notification_id: str, partner_id: str,
                       created_at: str, country: str, agency: str) -> etree._Element:
    """The unsigned ``gw:Notification`` for one decision."""
    root = etree.Element(f"{{{GW_NS}}}Notification", nsmap={"gw": GW_NS},
                         Id=f"NTF-{notification_id}")
    for tag, text in (("NotificationID", notification_id),
                      ("ConversationID", decision.conversation_id),
                      ("DecisionID", decision.decision_id),
                      ("Kind", FUNCTION_CODES[decision.kind][1]),
                      ("CreatedAt", created_at), ("Partner", partner_id)):
        etree.SubElement(root, f"{{{GW_NS}}}{tag}").text = text
    payload = etree.SubElement(root, f"{{{GW_NS}}}Payload")
    payload.append(_metadata(decision, country, agency))
    return root


def _metadata(decision: ClearanceDecision, country: str, agency: str) -> etree._Element:
    md = etree.Element(f"{{{MD_NS}}}MetaData", nsmap={"md": MD_NS})
    for tag, text in (("WCODataModelVersionCode", "3.6"), ("WCOTypeName", "RES"),
                      ("ResponsibleCountryCode", country), ("ResponsibleAgencyName", agency)):
        etree.SubElement(md, f"{{{MD_NS}}}{tag}").text = text
    md.append(_response(decision))
    return md


def _res(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, f"{{{RES_NS}}}{tag}")
    if text is not None:
        element.text = text
    return element


def _when(parent: etree._Element, tag: str, iso: str) -> None:
    """A date-time: its element in RES-DMS, its DateTimeString leaf in the data-set namespace."""
    leaf = etree.SubElement(_res(parent, tag), f"{{{RES_DS_NS}}}DateTimeString",
                            formatCode="304")
    leaf.text = wco_datetime(iso)


def _response(d: ClearanceDecision) -> etree._Element:
    response = etree.Element(f"{{{RES_NS}}}Response", nsmap={None: RES_NS, "ds": RES_DS_NS})
    _res(response, "FunctionCode", FUNCTION_CODES[d.kind][0])
    if d.reference:
        _res(response, "FunctionalReferenceID", d.reference)
    _when(response, "IssueDateTime", d.decided_at)
    if d.kind == "control" and d.channel:
        info = _res(response, "AdditionalInformation")
        _res(info, "StatementCode", d.channel.upper())
        _res(info, "StatementDescription", f"risk channel {d.channel}")
        _res(info, "StatementTypeCode", "CTL")
    if d.kind == "duties_assessed" and d.payment_reference:
        _res(_res(response, "Bank"), "ReferenceID", d.payment_reference)
    for error in d.errors:
        element = _res(response, "Error")
        _res(element, "Description", error.description[:512])
        _res(element, "ValidationCode", error.code[:8])
        for pointer in pointer_steps(error.pointer or ""):
            element.append(pointer)
    status = _res(response, "Status")
    _when(status, "EffectiveDateTime", d.decided_at)
    _res(status, "NameCode", _status_code(d))
    if d.kind == "released":
        _when(status, "ReleaseDateTime", d.decided_at)
    response.append(_declaration(d))
    return response


def _status_code(d: ClearanceDecision) -> str:
    if d.kind == "control" and d.channel:
        return _CHANNEL_STATUS[d.channel]
    return FUNCTION_CODES[d.kind][0]


def _declaration(d: ClearanceDecision) -> etree._Element:
    declaration = etree.Element(f"{{{RES_NS}}}Declaration")
    if d.kind == "accepted":
        _when(declaration, "AcceptanceDateTime", d.decided_at)
    if d.reference:
        _res(declaration, "FunctionalReferenceID", d.reference)
    if d.mrn:
        _res(declaration, "ID", d.mrn)
    if d.kind == "rejected":
        _when(declaration, "RejectionDateTime", d.decided_at)
    if d.kind == "duties_assessed" and d.total_duties is not None:
        payment = _res(_res(declaration, "DutyTaxFee"), "Payment")
        if d.payment_reference:
            _res(payment, "ReferenceID", d.payment_reference)
        amount = _res(payment, "TaxAssessedAmount", format(d.total_duties, "f"))
        if d.currency:
            amount.set("currencyID", d.currency)
    return declaration


def pointer_steps(pointer: str) -> list[etree._Element]:
    """``42A/67A/68A[2]/23A/65A/128`` -> WCO ``Pointer`` elements.

    Class ids (ending in a letter) become ``DocumentSectionCode`` with the item's
    ``SequenceNumeric`` where given; the final data element id becomes ``TagID``.
    """
    steps: list[etree._Element] = []
    for part in (p for p in pointer.split("/") if p):
        match = _STEP.match(part)
        if match is None:
            continue
        code, seq = match.group("code"), match.group("seq")
        element = etree.Element(f"{{{RES_NS}}}Pointer")
        if seq:
            _res(element, "SequenceNumeric", seq)
        _res(element, "DocumentSectionCode" if code[-1].isalpha() else "TagID", code)
        steps.append(element)
    return steps
