"""The SOAP endpoint's query operations: reading a conversation, a bank's reference look-up.

Each takes the caller and the operation element it may act on (for a ``require_wss`` partner,
the one from the verified Body) and returns the operation's response wrapper as bytes:

* ``GetNotifications`` — a conversation's status and its signed notifications after
  ``AfterSequence``; a conversation the caller may not read is ``GW-NOT-FOUND`` (as unknown);
* ``LookupPaymentReference`` — (banks only: ``QUERIES`` in ``soap_envelope``) the signed
  ``gw:PaymentReferenceInfo`` for ``Reference``, from the gateway's own payments ledger
  (``gateway/flows/payments/reference_lookup.py``).
"""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from adapters.bootstrap import Gateway
from adapters.http.soap_answers import wrap
from adapters.http.soap_envelope import SoapFaultError
from gateway.documents.receipts import GW_NS
from gateway.documents.reference_info import build_reference_info
from gateway.errors import NotFound, Problem
from gateway.flows.payments.ledger import FLOW as PAYMENTS
from gateway.flows.payments.reference_lookup import MAX_REFERENCE, look_up_reference
from gateway.numbers import parse_ascii_uint, strip_xml_whitespace
from gateway.partners import Partner
from gateway.pipeline.exchange import new_id, utc_now_iso

AFTER_SEQUENCE_POINTER = "/Envelope/Body/GetNotifications/AfterSequence"
REFERENCE_POINTER = "/Envelope/Body/LookupPaymentReference/Reference"

Query = Callable[[Gateway, Partner, etree._Element], tuple[bytes, dict[str, str]]]


def get_notifications(gateway: Gateway, partner: Partner, payload: etree._Element
                      ) -> tuple[bytes, dict[str, str]]:
    conversation_id = (payload.findtext(f"{{{GW_NS}}}ConversationID") or "").strip()
    after = after_sequence(payload)
    found, listed = gateway.journal.conversation_view(conversation_id)
    if found is None or not partner.may_read(found["partner_id"]):
        raise NotFound(f"no conversation {conversation_id} for partner {partner.id}")
    response = etree.Element(f"{{{GW_NS}}}GetNotificationsResponse", nsmap={"gw": GW_NS})
    etree.SubElement(response, f"{{{GW_NS}}}ConversationID").text = conversation_id
    etree.SubElement(response, f"{{{GW_NS}}}Status").text = found["status"]
    for n in listed:
        if n.seq > after:
            response.append(etree.fromstring(n.document))
    return etree.tostring(response), {"X-Conversation-ID": conversation_id}


def after_sequence(payload: etree._Element) -> int:
    """``AfterSequence`` (0 when absent): ASCII digits only, at most 9, XML whitespace around."""
    element = payload.find(f"{{{GW_NS}}}AfterSequence")
    if element is None:
        return 0
    text = "" if len(element) else strip_xml_whitespace(element.xpath("string()"))
    return parse_ascii_uint(text, 9, name="AfterSequence", pointer=AFTER_SEQUENCE_POINTER)


def lookup_payment_reference(gateway: Gateway, partner: Partner, payload: etree._Element
                             ) -> tuple[bytes, dict[str, str]]:
    """The signed ``gw:PaymentReferenceInfo`` of the requested reference."""
    info = look_up_reference(gateway.journal.flow(PAYMENTS), requested_reference(payload))
    document = gateway.signer.sign_to_bytes(build_reference_info(
        info, info_id=new_id(), answered_at=utc_now_iso(), partner_id=partner.id))
    return wrap("LookupPaymentReferenceResponse", document), {}


def requested_reference(payload: etree._Element) -> str:
    """The one ``Reference`` (1 to 35 characters, text only) of the request."""
    found = payload.findall(f"{{{GW_NS}}}Reference")
    text = strip_xml_whitespace(found[0].text or "") if len(found) == 1 and not len(found[0]) \
        else ""
    if not text or len(text) > MAX_REFERENCE:
        message = (f"LookupPaymentReference needs exactly one Reference of 1 to {MAX_REFERENCE} "
                   "characters (an ISO 11649 RF reference)")
        raise SoapFaultError(message, code="GW-SOAP-BODY", problems=[Problem(
            "GW-SOAP-BODY", message, pointer=REFERENCE_POINTER,
            line=found[0].sourceline if found else payload.sourceline)])
    return text


QUERY_HANDLERS: dict[str, Query] = {
    "GetNotifications": get_notifications,
    "LookupPaymentReference": lookup_payment_reference,
}
