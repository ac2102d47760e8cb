"""SOAP 1.1 and 1.2 at ``POST /soap``; the contract-first WSDL at ``GET /soap?wsdl``.

The version is read from the envelope's namespace and must agree with the content type
(``text/xml`` + ``SOAPAction`` for 1.1; ``application/soap+xml; action=…`` for 1.2). The
envelope is read strictly (``adapters/http/soap_envelope.py``): ``Header? Body`` and nothing
else, exactly one operation element in the Body, mandatory header blocks we do not understand
answered with a ``MustUnderstand`` fault. The operation is the Body's child element; a declared
action (HTTP or ``wsa:Action``) must name the same operation.

Operations come from configuration, not from this file: one **submission** operation per
distinct ``soap_operation`` of the message-type registry (``SubmitDeclaration``,
``SubmitPaymentNotification``, …; its Body element wraps the business document, which goes
through the intake — whose ``operation_matches`` step checks the document is of a type that
operation carries — and the answer is ``<gw:OpResponse>`` with the signed receipt), plus the
**queries** ``GetNotifications`` and ``LookupPaymentReference`` (banks only;
``adapters/http/soap_queries.py``). At start-up every operation must be in the WSDL's portType
with its wrapper elements in the schema, and the WSDL must offer nothing else
(``check_contract``): a registry entry naming an operation the contract lacks stops start-up.

Partners registered with ``require_wss`` (banks) must sign every request with WS-Security
(``adapters/http/soap_security.py``): ``wsse:Security`` is then understood, verified against the
partner's certificate, its signature refused if seen before, and only the verified Body is
acted on; the answers to them — faults included — are signed with WS-Security too. Faults
(``adapters/http/soap_answers.py``) follow each SOAP version and carry the signed
``gw:Rejection``; WS-Security refusals carry the WSS 1.0 fault code.

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
)
from adapters.http.soap_answers import SoapAnswer, envelope_bytes, fault, wrap
from adapters.http.soap_envelope import (
    V11,
    V12,
    SoapFaultError,
    SoapMessage,
    SoapOperation,
    SoapOperations,
    SoapVersion,
    action_names,
    read_message,
    sole_element,
    version_of,
)
from adapters.http.soap_queries import QUERY_HANDLERS
from adapters.http.soap_security import PartnerSecurity
from gateway.errors import ConfigurationError, Forbidden, GatewayError
from gateway.partners import Partner
from gateway.pipeline.exchange import Exchange
from gateway.settings import Settings
from gateway.xml.safe_parser import parse_untrusted

WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
XS_NS = "http://www.w3.org/2001/XMLSchema"


def router(gateway: Gateway, admission: Admission) -> APIRouter:
    api = APIRouter()
    xsd = (gateway.settings.schemas_dir / "gateway" / "gateway-v1.xsd").read_bytes()
    wsdl = served_wsdl(gateway.settings.schemas_dir / "gateway" / "gateway.wsdl", xsd)
    operations = SoapOperations.from_registry(gateway.registry)
    check_contract(wsdl, operations)
    security = PartnerSecurity(trust=gateway.trust, signer=gateway.signer,
                               journal=gateway.journal, limits=gateway.limits)

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
        body_read = secured = False
        try:
            partner = ex.partner = _admissible(gateway, request)
            secured = partner.require_wss
            with admission.slot(partner.id):
                raw, envelope, message = await _read_request(gateway, request, version,
                                                             operations, wss=secured)
                body_read = True
                payload = await security.verified_operation(envelope, message, partner) \
                    if secured else message.payload
                _may_call(partner, message.operation)
                answer = await _operation(gateway, ex, message, payload, raw)
        except GatewayError as err:
            answer = fault(version, gateway.intake.reject(ex, err))
        response = answer.response(security.sign(answer.envelope) if secured else None)
        return response if body_read else closing(response, True)

    return api


async def _operation(gateway: Gateway, ex: Exchange, message: SoapMessage,
                     payload: etree._Element, raw: bytes) -> SoapAnswer:
    """Run the operation on ``payload`` (the Body's element the caller may act on)."""
    assert ex.partner is not None
    operation = message.operation
    if not operation.submits:
        body, headers = QUERY_HANDLERS[operation.name](gateway, ex.partner, payload)
        return SoapAnswer(message.version, envelope_bytes(message.version, body),
                          headers=headers)
    document = sole_element(payload, "GW-SOAP-BODY",
                            f"{operation.name} needs the business document")
    ex.idempotency_header = message.message_id
    return await _submit(gateway, ex, message.version, operation, document, raw)


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


def _may_call(partner: Partner, operation: SoapOperation) -> None:
    if operation.partner_kinds and partner.kind not in operation.partner_kinds:
        raise Forbidden(f"{operation.name} is offered to partners of kind "
                        f"{', '.join(sorted(operation.partner_kinds))} only; {partner.id!r} "
                        f"is of kind {partner.kind!r}")


async def _read_request(gateway: Gateway, request: Request, version: SoapVersion,
                        operations: SoapOperations, *, wss: bool
                        ) -> tuple[bytes, etree._Element, SoapMessage]:
    """The raw body (size limit, deadline), the envelope and the strictly read message, its
    declared action checked."""
    content_type = request.headers.get("content-type", "")
    raw = await read_body(request, gateway.settings)
    envelope = parse_untrusted(raw, gateway.limits).getroot()
    message = read_message(envelope, version_of(envelope, version), operations, wss=wss)
    action = _declared_action(request, version, content_type)
    if action and not action_names(action, message.operation.name):
        raise SoapFaultError(f"the action {action!r} does not match the Body's operation "
                             f"{message.operation.name!r}", code="GW-SOAP-ACTION")
    return raw, envelope, message


async def _submit(gateway: Gateway, ex: Exchange, version: SoapVersion,
                  operation: SoapOperation, document: etree._Element, raw: bytes
                  ) -> SoapAnswer:
    """The document through the intake (in the caller's admission slot), its answer."""
    answer = await gateway.intake.submit(Exchange(
        body=raw, channel=ex.channel, id=ex.id,
        received_at=ex.received_at, authorization=ex.authorization,
        idempotency_header=ex.idempotency_header, document=document,
        operation=operation.name))
    if not answer.accepted:
        return fault(version, answer)
    headers = {"X-Conversation-ID": answer.conversation_id or ""}
    if answer.duplicate:
        headers["X-Duplicate"] = "true"
    return SoapAnswer(version, envelope_bytes(version, wrap(operation.response,
                                                            answer.document)),
                      headers=headers)


def served_wsdl(wsdl_path: Path, xsd: bytes) -> str:
    """The WSDL with the gateway schema inlined in ``wsdl:types`` (one self-contained file)."""
    schema = etree.tostring(etree.fromstring(xsd), encoding="unicode")
    wsdl = wsdl_path.read_text("utf-8")
    start = wsdl.index("<!-- {types}")
    end = wsdl.index("-->", start) + 3
    return wsdl[:start] + schema + wsdl[end:]


def check_contract(wsdl: str, operations: SoapOperations) -> None:
    """The WSDL offers exactly the endpoint's operations, each in both bindings with its
    request and response elements in the schema; else ``ConfigurationError``."""
    root = etree.fromstring(wsdl.encode("utf-8"))
    offered = {op.get("name") for op in root.iterfind(
        f"{{{WSDL_NS}}}portType/{{{WSDL_NS}}}operation")}
    elements = {e.get("name") for e in root.iterfind(
        f"{{{WSDL_NS}}}types/{{{XS_NS}}}schema/{{{XS_NS}}}element")}
    problems = [f"{op.name} is not in the WSDL's portType" for op in operations
                if op.name not in offered]
    problems += [f"the schema lacks gw:{name}" for op in operations
                 for name in (op.name, op.response) if name not in elements]
    problems += [f"the WSDL offers {name}, which no message type names as its soap_operation"
                 for name in sorted(offered - set(operations.names))]
    for binding in root.iterfind(f"{{{WSDL_NS}}}binding"):
        bound = {op.get("name") for op in binding.iterfind(f"{{{WSDL_NS}}}operation")}
        problems += [f"binding {binding.get('name')} lacks {name}"
                     for name in operations.names if name not in bound]
    if problems:
        raise ConfigurationError("the SOAP contract (schemas/gateway/gateway.wsdl) and the "
                                 "message-type registry disagree: " + "; ".join(problems))


def _declared_action(request: Request, version: SoapVersion, content_type: str) -> str:
    if not version.is12:
        return (request.headers.get("soapaction") or "").strip().strip('"')
    for param in content_type.split(";")[1:]:
        key, _, value = param.strip().partition("=")
        if key.lower() == "action":
            return value.strip().strip('"')
    return ""

