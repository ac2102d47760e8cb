"""SOAP 1.1 and 1.2 at ``POST /soap``; the contract-first WSDL at ``GET /soap?wsdl``.

The version is read from the envelope's namespace and must agree with the content type
(``text/xml`` + ``SOAPAction`` for 1.1; ``application/soap+xml; action=…`` for 1.2). The
envelope is read strictly (``adapters/http/soap_envelope.py``): ``Header? Body`` and nothing
else, exactly one operation element in the Body, mandatory header blocks we do not understand
answered with a ``MustUnderstand`` fault. The operation is the Body's child element
(``SubmitDeclaration``, ``GetNotifications``); a declared action (HTTP or ``wsa:Action``) must
name the same operation. Faults follow each version: 1.1 ``faultcode`` ``soap:Client`` /
``soap:Server`` / ``soap:MustUnderstand`` with HTTP 500; 1.2 ``Code/Value`` ``soap:Sender``
(400) / ``soap:Receiver`` (500) / ``soap:MustUnderstand`` (500, with a ``NotUnderstood``
header block per block) — except 401/403/408/413/415/429/503, which keep their HTTP status.
Every fault carries the signed ``gw:Rejection`` with the structured problems: in the
``detail``, or — for a 1.1 MustUnderstand fault, which concerns headers, not the Body (SOAP
1.1 §4.4) — in a ``gw:Fault`` header entry.

Before a byte of the body is read: the bearer token of the HTTP ``Authorization`` header
(``401``), the content type (``415``) and a declared ``Content-Length`` over the limit
(``413``); then an admission slot of the partner's share (``429``), held while the body is read
under its size limit and deadline (``413``, ``408``: ``rest.read_body``) and the operation
runs. A fault given before the whole body was read closes the connection.

The journal keeps the envelope as received (the receipt's ``SHA256`` is of those bytes); the
business document is the Body's child, whose exclusive-C14N digest (``DocumentDigest``, computed
by the intake's parse step) is the same as for the same document posted as plain XML — so a
resent declaration in a new envelope, or by the other channel, is recognised.

The WSDL's ``soap:address`` is ``GATEWAY_PUBLIC_URL`` + ``/soap``. It is never taken from the
request (``Host``, ``X-Forwarded-Host``, ``X-Forwarded-Proto``, ``Forwarded``): anyone can send
those, and the served contract tells every client where to send declarations. Without a public
URL (local runs, tests) the address is the socket the server listens on (``http://IP:PORT``,
as the connection's local address reports it); ``gateway serve`` sets the public URL to its
``--host``/``--port`` unless ``GATEWAY_PUBLIC_URL`` says otherwise. Behind a proxy or TLS
terminator, set ``GATEWAY_PUBLIC_URL`` to the address partners use.
"""

from __future__ import annotations

import html
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response
from lxml import etree

from adapters.bootstrap import Gateway
from adapters.http.admission import Admission
from adapters.http.rest import (
    authenticated,
    check_media_type,
    closing,
    declared_length,
    read_body,
    retry_after,
)
from adapters.http.soap_envelope import (
    SOAP12,
    V11,
    V12,
    MustUnderstandFault,
    SoapFaultError,
    SoapMessage,
    SoapVersion,
    action_names,
    read_message,
    sole_element,
    version_of,
)
from gateway.documents.receipts import GW_NS
from gateway.errors import GatewayError, NotFound
from gateway.numbers import parse_ascii_uint, strip_xml_whitespace
from gateway.partners import Partner
from gateway.pipeline.exchange import Exchange
from gateway.pipeline.intake import Answer
from gateway.settings import Settings
from gateway.xml.safe_parser import parse_untrusted

AFTER_SEQUENCE_POINTER = "/Envelope/Body/GetNotifications/AfterSequence"


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
        address = html.escape(service_address(gateway.settings, request), quote=True)
        return Response(wsdl.replace("{address}", address), media_type="text/xml")

    @api.post("/soap")
    async def endpoint(request: Request) -> Response:
        content_type = request.headers.get("content-type", "")
        version = V12 if content_type.lower().startswith("application/soap+xml") else V11
        ex = Exchange(body=b"", channel="soap12" if version.is12 else "soap11",
                      authorization=request.headers.get("authorization"))
        body_read = False
        try:
            partner = ex.partner = _admissible(gateway, request)
            with admission.slot(partner.id):
                raw, message = await _read_request(gateway, request, version)
                body_read = True
                if message.operation == "GetNotifications":
                    return _get_notifications(gateway, request, message)
                document = sole_element(message.payload, "GW-SOAP-BODY",
                                        "SubmitDeclaration needs the declaration document")
                ex.idempotency_header = message.message_id
                return await _submit(gateway, ex, version, document, raw)
        except GatewayError as err:
            return closing(fault(version, gateway.intake.reject(ex, err)), not body_read)

    return api


def service_address(settings: Settings, request: Request) -> str:
    """The endpoint's address for the WSDL: the public URL, else the listening socket's."""
    if settings.public_url:
        return settings.public_url.rstrip("/") + "/soap"
    host, port = request.scope.get("server") or ("127.0.0.1", None)
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}{f':{port}' if port else ''}/soap"


def _admissible(gateway: Gateway, request: Request) -> Partner:
    """The partner of the HTTP ``Authorization`` token, once the content type and a declared
    length are checked too: all before an admission slot is taken or the body is read."""
    partner = authenticated(gateway, request)
    check_media_type(request.headers.get("content-type"), ("text/xml", "application/soap+xml"))
    declared_length(request, gateway.settings.max_body_bytes)
    return partner


async def _read_request(gateway: Gateway, request: Request, version: SoapVersion
                        ) -> tuple[bytes, SoapMessage]:
    """The raw body (size limit, deadline) and the strictly read envelope, its declared
    action checked."""
    content_type = request.headers.get("content-type", "")
    raw = await read_body(request, gateway.settings)
    envelope = parse_untrusted(raw, gateway.limits).getroot()
    message = read_message(envelope, version_of(envelope, version))
    action = _declared_action(request, version, content_type)
    if action and not action_names(action, message.operation):
        raise SoapFaultError(f"the action {action!r} does not match the Body's operation "
                             f"{message.operation!r}", code="GW-SOAP-ACTION")
    return raw, message


async def _submit(gateway: Gateway, ex: Exchange, version: SoapVersion,
                  document: etree._Element, raw: bytes) -> Response:
    """The declaration through the intake (in the caller's admission slot), its answer."""
    answer = await gateway.intake.submit(Exchange(
        body=raw, channel=ex.channel, id=ex.id,
        received_at=ex.received_at, authorization=ex.authorization,
        idempotency_header=ex.idempotency_header, document=document))
    if not answer.accepted:
        return fault(version, answer)
    headers = {"X-Conversation-ID": answer.conversation_id or ""}
    if answer.duplicate:
        headers["X-Duplicate"] = "true"
    body = _wrap("SubmitDeclarationResponse", answer.document)
    return Response(envelope_bytes(version, body), media_type=version.content_type,
                    headers=headers)


def served_wsdl(wsdl_path: Path, xsd: bytes) -> str:
    """The WSDL with the gateway schema inlined in ``wsdl:types`` (one self-contained file)."""
    schema = etree.tostring(etree.fromstring(xsd), encoding="unicode")
    wsdl = wsdl_path.read_text("utf-8")
    start = wsdl.index("<!-- {types}")
    end = wsdl.index("-->", start) + 3
    return wsdl[:start] + schema + wsdl[end:]


def _declared_action(request: Request, version: SoapVersion, content_type: str) -> str:
    if not version.is12:
        return (request.headers.get("soapaction") or "").strip().strip('"')
    for param in content_type.split(";")[1:]:
        key, _, value = param.strip().partition("=")
        if key.lower() == "action":
            return value.strip().strip('"')
    return ""


def _get_notifications(gateway: Gateway, request: Request, message: SoapMessage) -> Response:
    partner = authenticated(gateway, request)
    payload = message.payload
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
    return Response(envelope_bytes(message.version, etree.tostring(response)),
                    media_type=message.version.content_type,
                    headers={"X-Conversation-ID": conversation_id})


def after_sequence(payload: etree._Element) -> int:
    """``AfterSequence`` (0 when absent): ASCII digits only, at most 9, XML whitespace around."""
    element = payload.find(f"{{{GW_NS}}}AfterSequence")
    if element is None:
        return 0
    text = "" if len(element) else strip_xml_whitespace(element.xpath("string()"))
    return parse_ascii_uint(text, 9, name="AfterSequence", pointer=AFTER_SEQUENCE_POINTER)


def _wrap(operation: str, signed_document: bytes) -> bytes:
    inner = signed_document.split(b"?>", 1)[1].lstrip() if signed_document.startswith(b"<?xml") \
        else signed_document
    return (f'<gw:{operation} xmlns:gw="{GW_NS}">').encode() + inner + \
        f"</gw:{operation}>".encode()


def envelope_bytes(version: SoapVersion, body: bytes, header: bytes = b"") -> bytes:
    head = b"<soap:Header>" + header + b"</soap:Header>" if header else b""
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<soap:Envelope xmlns:soap="'
            f'{version.namespace}">').encode() + head + b"<soap:Body>" + body + \
        b"</soap:Body></soap:Envelope>"


def fault(version: SoapVersion, answer: Answer) -> Response:
    """A SOAP fault of the right version carrying the signed rejection (see the docstring)."""
    err = answer.error
    code, status = _fault_code(version, err)
    reason = _escape(answer.content.get("summary", "rejected"))
    detail, header = _wrap("Fault", answer.document), b""
    if isinstance(err, MustUnderstandFault):
        # 1.2: one NotUnderstood block per block; 1.1 §4.4: errors about header entries travel
        # in header entries, and a detail would say the Body was processed
        header, detail = (_not_understood(err), detail) if version.is12 else (detail, b"")
    if version.is12:
        body = (f"<soap:Fault><soap:Code><soap:Value>soap:{code}</soap:Value></soap:Code>"
                f'<soap:Reason><soap:Text xml:lang="en">{reason}</soap:Text></soap:Reason>'
                ).encode() + (b"<soap:Detail>" + detail + b"</soap:Detail>" if detail else b"")
    else:
        body = (f"<soap:Fault><faultcode>soap:{code}</faultcode><faultstring>{reason}"
                f"</faultstring>").encode() + (b"<detail>" + detail + b"</detail>"
                                                 if detail else b"")
    headers = {}
    if err is not None and err.http_status in (401, 403, 408, 413, 415, 429, 503):
        status = err.http_status
    if err is not None and err.retryable:
        headers["Retry-After"] = retry_after(err)
    return Response(envelope_bytes(version, body + b"</soap:Fault>", header), status_code=status,
                    media_type=version.content_type, headers=headers)


def _fault_code(version: SoapVersion, err: GatewayError | None) -> tuple[str, int]:
    """The fault code and HTTP status (SOAP 1.2 HTTP binding: 400 for Sender, else 500)."""
    if isinstance(err, MustUnderstandFault):
        return "MustUnderstand", 500
    if err is None or 400 <= err.http_status < 500:
        return version.client_code, 400 if version.is12 else 500
    return version.server_code, 500


def _not_understood(err: MustUnderstandFault) -> bytes:
    """SOAP 1.2 ``NotUnderstood`` header blocks, one per block not understood (§5.4.8)."""
    blocks = []
    for name in err.not_understood:
        block = etree.Element(f"{{{SOAP12}}}NotUnderstood",
                              nsmap={"soap": SOAP12, "nu": name.namespace})
        block.set("qname", f"nu:{name.localname}")
        blocks.append(etree.tostring(block))
    return b"".join(blocks)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
