"""The demo bank: a STAND-IN that is a real SOAP server with WS-Security, both ways.

Towards the gateway's calls it is the bank's service (``schemas/bank/bank-standin.wsdl``)::

    GET  /bank/soap?wsdl         the WSDL, its soap:address this stand-in's own base URL
    POST /bank/soap              AcknowledgePayments (SOAP 1.1 or 1.2, document/literal)
    GET  /bank/acknowledgements  what it received and accepted, as JSON (for tests and demo)

A request is used only if its WS-Security signature verifies against the **gateway's**
certificate (``verify_envelope``, owner ``gateway``), and only its verified Body is read; that
Body must be a valid ``AcknowledgePayments`` (the WSDL's inline schema). The answer
(``AckReceived``) and every fault are signed with the bank's key. Security refusals are SOAP
faults carrying the WSS 1.0 fault code (``wsse:FailedCheck``, ``wsse:MessageExpired``, …) and
the gateway's problem code in the detail; nothing refused is kept. An acknowledgement repeated
for the same ``MessageId`` (a retry) is answered with the first ``AckId`` and kept once.

Towards the gateway it acts as the bank: ``signed_soap_request(document)`` wraps a document
(a camt.054 file) in a SOAP envelope signed with the bank's key, ready to post.

Keys: the bank's ``var/keys/bank-demo.key``/``.crt`` and the gateway's ``var/keys/gateway.crt``
(``gateway keys init``). Serve it on its own uvicorn server with
``adapters.local_server.serve_in_thread(stand_in.app(), port)``, or mount its ``router()`` on
the gateway's app, as the sandbox does (``adapters/http/app.py``: the gateway's ``ACK`` pushes
to ``bank-demo`` reach it there). What it received is kept in ``bank_ledger`` (in memory, or
an SQLite file shared by the workers of a sandbox). Without a ``public_url`` its WSDL names the
socket the request came in on.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from lxml import etree

from adapters.standins.bank_ledger import BankAcknowledgements
from gateway.errors import GatewayError, InvalidMessage, MalformedXml, SignatureInvalid
from gateway.settings import PROJECT_HOME, Settings
from gateway.signing.keys import SigningKey, TrustStore
from gateway.signing.wssecurity import (
    SOAP11,
    SOAP12,
    fault_code,
    secure_envelope,
    verify_envelope,
)
from gateway.signing.xmldsig import XmlSigner
from gateway.xml.safe_parser import XmlLimits, parse_untrusted

BANK_OWNER, GATEWAY_OWNER = "bank-demo", "gateway"
BANK_NS = "urn:bank-standin:payments:v1"
WSDL_PATH = PROJECT_HOME / "schemas" / "bank" / "bank-standin.wsdl"
ACTION = "urn:bank-standin:payments:v1:AcknowledgePayments"
_XS = "http://www.w3.org/2001/XMLSchema"
_CONTENT_TYPES = {SOAP11: "text/xml; charset=utf-8", SOAP12: "application/soap+xml; charset=utf-8"}


def _b(name: str) -> str:
    return f"{{{BANK_NS}}}{name}"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class SignedSoapRequest:
    """A signed SOAP request as the bank sends it: post ``body`` with ``headers``."""

    body: bytes
    headers: dict[str, str]


class BankStandIn:
    """The demo bank's SOAP service and its client-side signing, with one key each way."""

    def __init__(self, key: SigningKey, gateway_trust: TrustStore, public_url: str = "", *,
                 clock: Callable[[], dt.datetime] = utc_now,
                 limits: XmlLimits | None = None,
                 store: BankAcknowledgements | None = None) -> None:
        self._signer = XmlSigner(key)
        self._trust = gateway_trust
        self.public_url = public_url.rstrip("/")
        self._clock = clock
        self._limits = limits or XmlLimits(max_bytes=4 * 1024 * 1024)
        self._wsdl_template = WSDL_PATH.read_text(encoding="utf-8")
        self._schema = _inline_schema(self._wsdl_template.encode())
        self.store = store or BankAcknowledgements()           # by MessageId

    def wsdl(self, base_url: str = "") -> bytes:
        """The WSDL, its soap:address the public URL (else ``base_url``) + ``/bank/soap``."""
        base = self.public_url or base_url.rstrip("/")
        return self._wsdl_template.replace('location="{address}"',
                                           f'location="{base}/bank/soap"').encode()

    @classmethod
    def from_settings(cls, settings: Settings, public_url: str = "",
                      **kwargs: Any) -> BankStandIn:
        """The demo bank with the keys ``gateway keys init`` generated."""
        keys = settings.keys_dir
        trust = TrustStore()
        trust.add_pem_file(GATEWAY_OWNER, keys / "gateway.crt")
        return cls(SigningKey.load(keys / f"{BANK_OWNER}.key", keys / f"{BANK_OWNER}.crt"),
                   trust, public_url, **kwargs)

    # --- the service ------------------------------------------------------------------------

    def app(self) -> FastAPI:
        app = FastAPI(title="Demo bank (stand-in)", docs_url=None, redoc_url=None,
                      openapi_url=None)
        app.include_router(self.router())
        return app

    def router(self) -> APIRouter:
        api = APIRouter()

        @api.get("/bank/soap")
        async def wsdl(request: Request) -> Response:
            return Response(self.wsdl(_socket_url(request)), media_type="text/xml; charset=utf-8")

        @api.post("/bank/soap")
        async def soap(request: Request) -> Response:
            namespace, status, answer = self.answer(await request.body())
            return Response(answer, status_code=status, media_type=_CONTENT_TYPES[namespace])

        @api.get("/bank/acknowledgements")
        async def listing() -> Response:
            return Response(json.dumps(self.store.listing()), media_type="application/json")

        return api

    def answer(self, request: bytes) -> tuple[str, int, bytes]:
        """(SOAP namespace, HTTP status, signed answer) for one request body."""
        namespace = SOAP11
        try:
            envelope = parse_untrusted(request, self._limits).getroot()
            namespace = _soap_namespace(envelope)
            verified = verify_envelope(envelope, self._trust, owner=GATEWAY_OWNER,
                                       now=self._clock(), limits=self._limits)
            record = self._acknowledge(verified.document, verified.key_id, namespace)
        except GatewayError as err:
            return namespace, 500 if namespace == SOAP11 else 400, self._fault(namespace, err)
        return namespace, 200, self._signed(namespace, _ack_received(record))

    def _acknowledge(self, document: etree._Element, key_id: str,
                     namespace: str) -> dict[str, Any]:
        if document.tag != _b("AcknowledgePayments"):
            raise MalformedXml(f"the Body holds {etree.QName(document).localname}, not "
                               "AcknowledgePayments", code="GW-SOAP-OPERATION")
        if not self._schema.validate(document):
            error = self._schema.error_log.last_error
            raise InvalidMessage(f"AcknowledgePayments is not valid: line {error.line}: "
                                 f"{error.message}", code="GW-XSD-INVALID")
        message_id = document.findtext(_b("MessageId")) or ""
        record = {
            "ack_id": f"ACK-{uuid.uuid4().hex[:16].upper()}", "message_id": message_id,
            "received_at": self._clock().isoformat(timespec="milliseconds"),
            "signer_key_id": key_id, "soap": "1.1" if namespace == SOAP11 else "1.2",
            "repeats": 0,
            "transactions": [{"bank_reference": t.findtext(_b("BankReference")),
                              "outcome": t.findtext(_b("Outcome")),
                              "reason": t.findtext(_b("Reason"))}
                             for t in document.iterfind(_b("Transaction"))],
        }
        return self.store.keep(record)          # a retry: the first record (and AckId) again

    def _fault(self, namespace: str, err: GatewayError) -> bytes:
        code = fault_code(err) if isinstance(err, SignatureInvalid) else None
        return self._signed(namespace, _fault(namespace, err, code))

    def _signed(self, namespace: str, content: etree._Element) -> bytes:
        envelope = etree.Element(f"{{{namespace}}}Envelope", nsmap={"s": namespace})
        etree.SubElement(envelope, f"{{{namespace}}}Body").append(content)
        secure_envelope(envelope, self._signer, now=self._clock())
        return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")

    # --- acting as the bank towards the gateway ---------------------------------------------

    def signed_soap_request(self, document: bytes, *, soap12: bool = False,
                            wrapper: str | None = None, action: str | None = None
                            ) -> SignedSoapRequest:
        """``document`` in a SOAP envelope signed with the bank's key (WS-Security).

        A document that is already a SOAP Envelope is signed as it is; any other is put in a
        new envelope's Body (inside a ``wrapper`` element, a Clark name, if given — an
        operation's wrapper such as the gateway's). ``action`` goes in ``SOAPAction`` (1.1)
        or the content type's ``action`` (1.2).
        """
        root = parse_untrusted(document, self._limits).getroot()
        namespace = etree.QName(root).namespace
        if etree.QName(root).localname == "Envelope" and namespace in (SOAP11, SOAP12):
            envelope = root
        else:
            namespace = SOAP12 if soap12 else SOAP11
            envelope = etree.Element(f"{{{namespace}}}Envelope", nsmap={"s": namespace})
            parent = etree.SubElement(envelope, f"{{{namespace}}}Body")
            if wrapper is not None:
                parent = etree.SubElement(parent, wrapper)
            parent.append(root)
        secure_envelope(envelope, self._signer, now=self._clock())
        headers = {"Content-Type": _CONTENT_TYPES[str(namespace)]}
        if action is not None and namespace == SOAP11:
            headers["SOAPAction"] = f'"{action}"'
        elif action is not None:
            headers["Content-Type"] += f'; action="{action}"'
        return SignedSoapRequest(
            etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"), headers)


def _socket_url(request: Request) -> str:
    """``http://IP:PORT`` of the socket the request came in on (never a request header)."""
    host, port = request.scope.get("server") or ("127.0.0.1", None)
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}{f':{port}' if port else ''}"


def _soap_namespace(envelope: etree._Element) -> str:
    namespace = etree.QName(envelope).namespace
    if etree.QName(envelope).localname != "Envelope" or namespace not in (SOAP11, SOAP12):
        raise MalformedXml("the request is not a SOAP 1.1 or 1.2 Envelope",
                           code="GW-SOAP-ENVELOPE")
    return str(namespace)


def _inline_schema(wsdl: bytes) -> etree.XMLSchema:
    schema = etree.fromstring(wsdl).find(f".//{{{_XS}}}schema")
    assert schema is not None, "the bank WSDL has no inline schema"
    return etree.XMLSchema(copy.deepcopy(schema))     # its own document, prefixes in scope


def _ack_received(record: dict[str, Any]) -> etree._Element:
    answer = etree.Element(_b("AckReceived"), nsmap={"b": BANK_NS})
    for name, value in (("AckId", record["ack_id"]), ("MessageId", record["message_id"]),
                        ("TransactionCount", str(len(record["transactions"]))),
                        ("ReceivedAt", record["received_at"])):
        etree.SubElement(answer, _b(name)).text = value
    return answer


def _fault(namespace: str, err: GatewayError, wss_code: str | None) -> etree._Element:
    """A SOAP fault of ``namespace``'s version; ``wss_code`` (a Clark name) if security."""
    s = f"{{{namespace}}}"
    sender = "Client" if namespace == SOAP11 else "Sender"
    code = etree.QName(wss_code) if wss_code else etree.QName(namespace, sender)
    nsmap = {"s": namespace, "wsse": code.namespace} if wss_code else {"s": namespace}
    fault = etree.Element(f"{s}Fault", nsmap=nsmap)
    prefix = "wsse" if wss_code else "s"
    if namespace == SOAP11:
        etree.SubElement(fault, "faultcode").text = f"{prefix}:{code.localname}"
        etree.SubElement(fault, "faultstring").text = err.message
        detail = etree.SubElement(fault, "detail")
    else:
        value = etree.SubElement(etree.SubElement(fault, f"{s}Code"), f"{s}Value")
        value.text = f"s:{sender}"
        if wss_code:
            subcode = etree.SubElement(value.getparent(), f"{s}Subcode")
            etree.SubElement(subcode, f"{s}Value").text = f"wsse:{code.localname}"
        reason = etree.SubElement(etree.SubElement(fault, f"{s}Reason"), f"{s}Text")
        reason.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
        reason.text = err.message
        detail = etree.SubElement(fault, f"{s}Detail")
    bank_fault = etree.SubElement(detail, _b("BankFault"), nsmap={"b": BANK_NS})
    etree.SubElement(bank_fault, _b("Code")).text = err.code
    etree.SubElement(bank_fault, _b("Message")).text = err.message
    return fault
