"""SOAP 1.1 and 1.2 at ``POST /soap``; the contract-first WSDL at ``GET /soap?wsdl``.

The version is read from the envelope's namespace and must agree with the content type
(``text/xml`` + ``SOAPAction`` for 1.1; ``application/soap+xml; action=…`` for 1.2). The
operation is the Body's child element (``SubmitDeclaration``, ``GetNotifications``); a
declared action must name the same operation. Faults follow each version: 1.1 ``faultcode``
``soap:Client``/``soap:Server`` with HTTP 500; 1.2 ``Code/Value`` ``soap:Sender``/``Receiver``
with HTTP 400/500 — except 401/403, which keep their HTTP status. Every fault's ``detail``
carries the signed ``gw:Rejection`` with the structured problems.

For idempotency and the receipt's SHA-256, the submitted document is the declaration inside
the Body in exclusive-C14N form, so a resent declaration in a new envelope is recognised.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response
from lxml import etree

from adapters.bootstrap import Gateway
from adapters.http.admission import Admission
from adapters.http.rest import authenticated, check_media_type, read_body, retry_after
from gateway.documents.receipts import GW_NS
from gateway.errors import GatewayError, MalformedXml, NotFound, RequestError
from gateway.pipeline.exchange import Exchange
from gateway.pipeline.intake import Answer
from gateway.xml.safe_parser import parse_untrusted

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
ACTION_PREFIX = "urn:customs-gateway:v1:"
OPERATIONS = ("SubmitDeclaration", "GetNotifications")


@dataclass(frozen=True)
class SoapVersion:
    namespace: str
    content_type: str
    client_code: str
    server_code: str

    @property
    def is12(self) -> bool:
        return self.namespace == SOAP12


V11 = SoapVersion(SOAP11, "text/xml; charset=utf-8", "Client", "Server")
V12 = SoapVersion(SOAP12, "application/soap+xml; charset=utf-8", "Sender", "Receiver")


class SoapFaultError(RequestError):
    code = "GW-SOAP"


def router(gateway: Gateway, admission: Admission) -> APIRouter:
    api = APIRouter()
    xsd = (gateway.settings.schemas_dir / "gateway" / "gateway-v1.xsd").read_bytes()
    wsdl = served_wsdl(gateway.settings.schemas_dir / "gateway" / "gateway.wsdl", xsd)

    @api.get("/soap")
    async def contract(request: Request) -> Response:
        if "xsd" in request.query_params:
            if request.query_params["xsd"] != "gateway-v1":
                return Response("unknown schema", status_code=404, media_type="text/plain")
            return Response(xsd, media_type="application/xml")
        if "wsdl" not in request.query_params:
            return Response("GET /soap?wsdl for the contract", media_type="text/plain")
        address = str(request.url.replace(query=""))
        return Response(wsdl.replace("{address}", address), media_type="text/xml")

    @api.post("/soap")
    async def endpoint(request: Request) -> Response:
        content_type = request.headers.get("content-type", "")
        version = V12 if content_type.lower().startswith("application/soap+xml") else V11
        ex = Exchange(body=b"", channel="soap12" if version.is12 else "soap11",
                      authorization=request.headers.get("authorization"))
        try:
            check_media_type(content_type, ("text/xml", "application/soap+xml"))
            raw = await read_body(request, gateway.settings.max_body_bytes)
            envelope = parse_untrusted(raw, gateway.limits).getroot()
            version = _version_of(envelope, version)
            operation, payload = _operation(envelope, version, request, content_type)
            if operation == "GetNotifications":
                return _get_notifications(gateway, request, version, payload)
            document = _single_child(payload, "SubmitDeclaration needs the declaration document")
            ex.idempotency_header = _message_id(envelope, version)
        except GatewayError as err:
            return fault(version, gateway.intake.reject(ex, err))
        body = etree.tostring(document, method="c14n", exclusive=True)
        try:
            with admission.slot():
                answer = await gateway.intake.submit(Exchange(
                    body=body, channel=ex.channel, id=ex.id, received_at=ex.received_at,
                    authorization=ex.authorization, idempotency_header=ex.idempotency_header,
                    document=document, wire_bytes=raw))
        except GatewayError as err:
            return fault(version, gateway.intake.reject(ex, err))
        if not answer.accepted:
            return fault(version, answer)
        headers = {"X-Conversation-ID": answer.conversation_id or ""}
        if answer.duplicate:
            headers["X-Duplicate"] = "true"
        body = _wrap("SubmitDeclarationResponse", answer.document)
        return Response(envelope_bytes(version, body), media_type=version.content_type,
                        headers=headers)

    return api


def served_wsdl(wsdl_path: Path, xsd: bytes) -> str:
    """The WSDL with the gateway schema inlined in ``wsdl:types`` (one self-contained file)."""
    schema = etree.tostring(etree.fromstring(xsd), encoding="unicode")
    wsdl = wsdl_path.read_text("utf-8")
    start = wsdl.index("<!-- {types}")
    end = wsdl.index("-->", start) + 3
    return wsdl[:start] + schema + wsdl[end:]


def _version_of(envelope: etree._Element, expected: SoapVersion) -> SoapVersion:
    namespace = etree.QName(envelope).namespace
    if etree.QName(envelope).localname != "Envelope" or namespace not in (SOAP11, SOAP12):
        raise MalformedXml("the body is not a SOAP 1.1 or 1.2 Envelope", code="GW-SOAP-ENVELOPE")
    if namespace != expected.namespace:
        raise SoapFaultError(
            "the envelope's SOAP version does not match the Content-Type "
            "(SOAP 1.1: text/xml; SOAP 1.2: application/soap+xml)", code="GW-SOAP-VERSION")
    return expected


def _operation(envelope: etree._Element, version: SoapVersion, request: Request,
               content_type: str) -> tuple[str, etree._Element]:
    body = envelope.find(f"{{{version.namespace}}}Body")
    payload = _single_child(body, "the SOAP Body must hold exactly one element") \
        if body is not None else None
    if payload is None:
        raise MalformedXml("the SOAP envelope has no Body", code="GW-SOAP-ENVELOPE")
    name = etree.QName(payload)
    if name.namespace != GW_NS or name.localname not in OPERATIONS:
        raise SoapFaultError(f"unknown operation {name.localname!r}; this service offers "
                             f"{', '.join(OPERATIONS)}", code="GW-SOAP-OPERATION")
    action = _declared_action(request, version, content_type)
    if action and action.removeprefix(ACTION_PREFIX) != name.localname:
        raise SoapFaultError(f"the action {action!r} does not match the Body's operation "
                             f"{name.localname!r}", code="GW-SOAP-ACTION")
    return name.localname, payload


def _declared_action(request: Request, version: SoapVersion, content_type: str) -> str:
    if not version.is12:
        return (request.headers.get("soapaction") or "").strip().strip('"')
    for param in content_type.split(";")[1:]:
        key, _, value = param.strip().partition("=")
        if key.lower() == "action":
            return value.strip().strip('"')
    return ""


def _single_child(parent: etree._Element | None, message: str) -> etree._Element:
    children = [c for c in (parent if parent is not None else []) if isinstance(c.tag, str)]
    if len(children) != 1:
        raise SoapFaultError(message, code="GW-SOAP-BODY")
    return children[0]


def _message_id(envelope: etree._Element, version: SoapVersion) -> str | None:
    found = envelope.find(f"{{{version.namespace}}}Header/{{{WSA}}}MessageID")
    return found.text.strip() if found is not None and found.text else None


def _get_notifications(gateway: Gateway, request: Request, version: SoapVersion,
                       payload: etree._Element) -> Response:
    partner = authenticated(gateway, request)
    conversation_id = (payload.findtext(f"{{{GW_NS}}}ConversationID") or "").strip()
    after_text = (payload.findtext(f"{{{GW_NS}}}AfterSequence") or "0").strip()
    if not after_text.isdigit():
        raise SoapFaultError(f"AfterSequence must be a non-negative whole number, not "
                             f"{after_text[:40]!r}", code="GW-SOAP-BODY")
    after = int(after_text)
    found = gateway.journal.conversation(conversation_id)
    if found is None or not partner.may_read(found["partner_id"]):
        raise NotFound(f"no conversation {conversation_id} for partner {partner.id}")
    response = etree.Element(f"{{{GW_NS}}}GetNotificationsResponse", nsmap={"gw": GW_NS})
    etree.SubElement(response, f"{{{GW_NS}}}ConversationID").text = conversation_id
    etree.SubElement(response, f"{{{GW_NS}}}Status").text = found["status"]
    for n in gateway.journal.notifications(conversation_id):
        if n.seq > after:
            response.append(etree.fromstring(n.document))
    return Response(envelope_bytes(version, etree.tostring(response)),
                    media_type=version.content_type,
                    headers={"X-Conversation-ID": conversation_id})


def _wrap(operation: str, signed_document: bytes) -> bytes:
    inner = signed_document.split(b"?>", 1)[1].lstrip() if signed_document.startswith(b"<?xml") \
        else signed_document
    return (f'<gw:{operation} xmlns:gw="{GW_NS}">').encode() + inner + \
        f"</gw:{operation}>".encode()


def envelope_bytes(version: SoapVersion, body: bytes) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<soap:Envelope xmlns:soap="'
            f'{version.namespace}"><soap:Body>').encode() + body + \
        b"</soap:Body></soap:Envelope>"


def fault(version: SoapVersion, answer: Answer) -> Response:
    """A SOAP fault of the right version, the signed rejection in its detail."""
    err = answer.error
    sender = err is None or 400 <= err.http_status < 500
    reason = _escape(answer.content.get("summary", "rejected"))
    detail = _wrap("Fault", answer.document)
    if version.is12:
        code = version.client_code if sender else version.server_code
        body = (f"<soap:Fault><soap:Code><soap:Value>soap:{code}</soap:Value></soap:Code>"
                f'<soap:Reason><soap:Text xml:lang="en">{reason}</soap:Text></soap:Reason>'
                f"<soap:Detail>").encode() + detail + b"</soap:Detail></soap:Fault>"
        status = 400 if sender else 500
    else:
        code = version.client_code if sender else version.server_code
        body = (f"<soap:Fault><faultcode>soap:{code}</faultcode><faultstring>{reason}"
                f"</faultstring><detail>").encode() + detail + b"</detail></soap:Fault>"
        status = 500
    headers = {}
    if err is not None and err.http_status in (401, 403, 413, 415, 429, 503):
        status = err.http_status
    if err is not None and err.retryable:
        headers["Retry-After"] = retry_after(err)
    return Response(envelope_bytes(version, body), status_code=status,
                    media_type=version.content_type, headers=headers)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
