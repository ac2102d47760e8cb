"""The permit agencies: a STAND-IN that is a real SOAP server with WS-Security, both ways.

Each agency (``agency-phyto``, ``agency-vet``, ``agency-trade``) has its quantity service
(``schemas/agency/agency-standin.wsdl``, the CERTEX model) under its own path::

    GET  /agency/<id>/soap?wsdl              the WSDL, its soap:address this service's URL
    POST /agency/<id>/soap                   ReserveQuantity, WriteOff, DeleteReservation,
                                             LicenceStatus (SOAP 1.1 or 1.2, document/literal)
    POST /agency/<id>/licences               the agency issues a licence: a document it signed
                                             (licence-1 or SPSCertificate 17), kept in its
                                             register — then it sends the same to customs
    GET  /agency/<id>/licences/<number>      the licence as the agency has it (JSON)
    GET  /agency/<id>/reservations           every reservation it keeps (JSON)

A request is used only if its WS-Security signature verifies against the **gateway's**
certificate (``verify_envelope``, owner ``gateway``), and only its verified Body is read; that
Body must be valid against the WSDL's inline schema. Every answer and fault is signed with the
agency's own key (``var/keys/<id>.key``). Refusals of the business kind (insufficient
quantity, expired …) are answers (``Result`` refused, with the ``Reason``); faults are for
requests that cannot be answered (unsigned, wrongly signed, not the schema's).

The state is the agencies' own and authoritative: ``agency_register.AgencyRegister`` (an
SQLite file of the sandbox, shared by its HTTP workers; every operation one ``BEGIN
IMMEDIATE`` transaction). The sandbox mounts ``AgencyStandIns.router()`` on the gateway
(``adapters/http/app.py``); the agencies' ``callback_url`` in ``config/partners.toml`` is
their WSDL there, which the gateway's agency caller reads.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from lxml import etree

from adapters.standins.agency_register import AgencyRegister, Answer, ReserveRequest, utc_now
from adapters.standins.soap_service import (
    CONTENT_TYPES,
    fault,
    inline_schema,
    signed_envelope,
    soap_namespace,
    socket_url,
)
from gateway.canonical.licence import Licence
from gateway.canonical.model import from_plain
from gateway.errors import GatewayError, InvalidMessage, MalformedXml
from gateway.mapping.engine import Mapping, load_mapping
from gateway.settings import PROJECT_HOME, Settings
from gateway.signing.keys import SigningKey, TrustStore
from gateway.signing.wssecurity import SOAP11, verify_envelope
from gateway.signing.xmldsig import XmlSigner, verify_enveloped
from gateway.xml.safe_parser import XmlLimits, parse_untrusted

AGENCY_NS = "urn:agency-standin:licences:v1"
AGENCIES = ("agency-phyto", "agency-vet", "agency-trade")
GATEWAY_OWNER = "gateway"
WSDL_PATH = PROJECT_HOME / "schemas" / "agency" / "agency-standin.wsdl"
_MAPPINGS = {"{urn:customs-gateway:licence:1}Licence": "licence-1.toml",
             "{urn:un:unece:uncefact:data:standard:SPSCertificate:17}SPSCertificate":
                 "sps-certificate-17.toml"}


def _a(name: str) -> str:
    return f"{{{AGENCY_NS}}}{name}"


class AgencyStandIn:
    """One agency's quantity service over its register, and its own key."""

    def __init__(self, agency: str, key: SigningKey, gateway_trust: TrustStore,
                 register: AgencyRegister, public_url: str = "", *,
                 mappings: dict[str, Mapping] | None = None,
                 clock: Callable[[], dt.datetime] = utc_now,
                 limits: XmlLimits | None = None) -> None:
        self.agency = agency
        self.register = register
        self.public_url = public_url.rstrip("/")
        self._key = key
        self._signer = XmlSigner(key)
        self._trust = gateway_trust
        self._own = TrustStore()
        self._own.add(agency, key.certificate)
        self._mappings = mappings if mappings is not None else load_mappings()
        self._clock = clock
        self._limits = limits or XmlLimits(max_bytes=4 * 1024 * 1024)
        self._wsdl_template = WSDL_PATH.read_text(encoding="utf-8")
        self._schema = inline_schema(self._wsdl_template.encode())

    @property
    def path(self) -> str:
        return f"/agency/{self.agency}/soap"

    def wsdl(self, base_url: str = "") -> bytes:
        base = self.public_url or base_url.rstrip("/")
        return self._wsdl_template.replace('location="{address}"',
                                           f'location="{base}{self.path}"').encode()

    # --- the service --------------------------------------------------------------------------

    def answer(self, request: bytes) -> tuple[str, int, bytes]:
        """(SOAP namespace, HTTP status, signed answer) for one request body."""
        namespace = SOAP11
        try:
            envelope = parse_untrusted(request, self._limits).getroot()
            namespace = soap_namespace(envelope)
            verified = verify_envelope(envelope, self._trust, owner=GATEWAY_OWNER,
                                       now=self._clock(), limits=self._limits)
            content = self._operate(verified.document)
        except GatewayError as err:
            return namespace, 500 if namespace == SOAP11 else 400, signed_envelope(
                namespace, fault(namespace, err, _a("AgencyFault")), self._signer,
                self._clock())
        return namespace, 200, signed_envelope(namespace, content, self._signer, self._clock())

    def _operate(self, document: etree._Element) -> etree._Element:
        operation = etree.QName(document).localname
        if etree.QName(document).namespace != AGENCY_NS or operation not in (
                "ReserveQuantity", "WriteOff", "DeleteReservation", "LicenceStatus"):
            raise MalformedXml(f"the Body holds {operation}, not an operation of this service",
                               code="GW-SOAP-OPERATION")
        if not self._schema.validate(document):
            error = self._schema.error_log.last_error
            raise InvalidMessage(f"{operation} is not valid: line {error.line}: "
                                 f"{error.message}", code="GW-XSD-INVALID")
        number = _text(document, "LicenceNumber")
        if operation == "LicenceStatus":
            return self._status(number)
        mrn, item = _text(document, "MRN"), int(_text(document, "GoodsItemNumber"))
        if operation == "WriteOff":
            return reservation_result(self.register.write_off(self.agency, number, mrn, item))
        if operation == "DeleteReservation":
            return reservation_result(self.register.delete(self.agency, number, mrn, item))
        quantity = document.find(_a("NetQuantity"))
        assert quantity is not None
        return reservation_result(self.register.reserve(self.agency, ReserveRequest(
            number=number, mrn=mrn, item=item, line=int(_text(document, "LineNumber")),
            class_code=document.findtext(_a("ClassCode")),
            quantity=Decimal((quantity.text or "").strip()), unit=quantity.get("unitCode", ""),
            holder_id=document.findtext(_a("HolderID")),
            destination_country=document.findtext(_a("DestinationCountry")))))

    def _status(self, number: str) -> etree._Element:
        status = self.register.status(self.agency, number)
        result = etree.Element(_a("LicenceStatusResult"), nsmap={"a": AGENCY_NS})
        _leaf(result, "LicenceNumber", number)
        _leaf(result, "Known", "true" if status else "false")
        if status is not None:
            for tag, key in (("Status", "status"), ("Version", "version"),
                             ("ValidFrom", "valid_from"), ("ValidTo", "valid_to"),
                             ("HolderID", "holder_id")):
                value = status[key]
                _leaf(result, tag, None if value is None else
                      str(value)[:10] if tag.startswith("Valid") else str(value))
        _leaf(result, "Revision", str(status["revision"] if status else 0))
        for line in status["lines"] if status else []:
            element = etree.SubElement(result, _a("Line"))
            _leaf(element, "LineNumber", str(line["line"]))
            _leaf(element, "ClassCode", line["hs_code"])
            _quantity(element, "Quantity", line["quantity"], line["unit"])
            _quantity(element, "AvailableQuantity", line["available"], line["unit"])
            _consumption(element, line["usage"], line["unit"])
        _leaf(result, "AnsweredAt", _iso(self._clock()))
        return result

    # --- issuing ------------------------------------------------------------------------------

    def register_document(self, document: bytes) -> Licence:
        """Keep a licence or certificate this agency signed, as it issued it."""
        root = parse_untrusted(document, XmlLimits(max_bytes=16 * 1024 * 1024)).getroot()
        signed = verify_enveloped(root, self._own, owner=self.agency).element
        mapping = self._mappings.get(signed.tag)
        if mapping is None:
            raise InvalidMessage(f"{etree.QName(signed).localname} is not a licence or "
                                 "certificate this agency issues", code="GW-MSG-UNKNOWN-TYPE")
        licence = from_plain(Licence, mapping.apply(signed))
        self.register.issue(self.agency, licence)
        return licence

    # --- HTTP ---------------------------------------------------------------------------------

    def router(self) -> APIRouter:
        api = APIRouter()

        @api.get(self.path)
        async def wsdl(request: Request) -> Response:
            return Response(self.wsdl(socket_url(request)), media_type="text/xml; charset=utf-8")

        @api.post(self.path)
        async def soap(request: Request) -> Response:
            namespace, status, answer = await _in_thread(self.answer, await request.body())
            return Response(answer, status_code=status, media_type=CONTENT_TYPES[namespace])

        @api.post(f"/agency/{self.agency}/licences")
        async def issue(request: Request) -> Response:
            try:
                licence = await _in_thread(self.register_document, await request.body())
            except GatewayError as err:
                return _json({"code": err.code, "message": err.message}, 400)
            return _json({"number": licence.number, "version": licence.version,
                          "status": licence.status}, 201)

        @api.get(f"/agency/{self.agency}/licences/{{number}}")
        async def licence(number: str) -> Response:
            status = await _in_thread(self.register.status, self.agency, number)
            return _json(status, 200) if status else _json({"number": number}, 404)

        @api.get(f"/agency/{self.agency}/reservations")
        async def reservations() -> Response:
            return _json(await _in_thread(self.register.reservations, self.agency), 200)

        return api

    def app(self) -> FastAPI:
        app = FastAPI(title=f"Permit agency {self.agency} (stand-in)", docs_url=None,
                      redoc_url=None, openapi_url=None)
        app.include_router(self.router())
        return app


class AgencyStandIns:
    """The sandbox's agencies, sharing one register file."""

    def __init__(self, agencies: Iterable[AgencyStandIn]) -> None:
        self.agencies = {a.agency: a for a in agencies}

    @classmethod
    def from_settings(cls, settings: Settings, register: AgencyRegister, public_url: str = "",
                      agencies: Iterable[str] = AGENCIES, **kwargs: Any) -> AgencyStandIns:
        """The demo agencies with the keys ``gateway keys init`` generated."""
        keys = settings.keys_dir
        trust = TrustStore()
        trust.add_pem_file(GATEWAY_OWNER, keys / "gateway.crt")
        mappings = load_mappings()
        return cls(AgencyStandIn(agency, SigningKey.load(keys / f"{agency}.key",
                                                         keys / f"{agency}.crt"),
                                 trust, register, public_url, mappings=mappings, **kwargs)
                   for agency in agencies)

    def router(self) -> APIRouter:
        api = APIRouter()
        for agency in self.agencies.values():
            api.include_router(agency.router())
        return api

    def app(self) -> FastAPI:
        app = FastAPI(title="Permit agencies (stand-ins)", docs_url=None, redoc_url=None,
                      openapi_url=None)
        app.include_router(self.router())
        return app


def load_mappings() -> dict[str, Mapping]:
    """The mappings of the documents an agency issues, by root element (Clark name)."""
    return {root: load_mapping(PROJECT_HOME / "mappings" / name)
            for root, name in _MAPPINGS.items()}


# --- answers written out ------------------------------------------------------------------------


def reservation_result(answer: Answer) -> etree._Element:
    """``a:ReservationResult`` for one answer of the register (schema order)."""
    result = etree.Element(_a("ReservationResult"), nsmap={"a": AGENCY_NS})
    for tag, value in (("Operation", answer.operation), ("Result", answer.result),
                       ("LicenceNumber", answer.number), ("MRN", answer.mrn),
                       ("GoodsItemNumber", str(answer.item)),
                       ("LineNumber", None if answer.line is None else str(answer.line))):
        _leaf(result, tag, value)
    unit = answer.unit or "KGM"
    _quantity(result, "ReservedQuantity", answer.quantity, unit)
    _quantity(result, "AvailableQuantity", answer.available, unit)
    _quantity(result, "ConsumedQuantity", answer.consumed, unit)
    _consumption(result, answer.usage, unit)
    if answer.reason:
        reason = etree.SubElement(result, _a("Reason"))
        _leaf(reason, "Code", answer.reason)
        _leaf(reason, "Text", (answer.reason_text or "")[:512] or None)
    _leaf(result, "ReservationID", answer.reference)
    _leaf(result, "Revision", str(answer.revision))
    _leaf(result, "Repeated", "true" if answer.repeated else "false")
    _leaf(result, "AnsweredAt", answer.answered_at)
    return result


def _consumption(parent: etree._Element, usage: list[dict[str, Any]], unit: str | None) -> None:
    for u in usage:
        element = etree.SubElement(parent, _a("Consumption"))
        _leaf(element, "MRN", u["mrn"])
        _leaf(element, "GoodsItemNumber", str(u["item"]))
        _quantity(element, "Quantity", u["quantity"], unit or "KGM")
        _leaf(element, "State", u["state"])
        _leaf(element, "At", u["at"])


def _leaf(parent: etree._Element, tag: str, text: str | None) -> None:
    if text is not None:
        etree.SubElement(parent, _a(tag)).text = text


def _quantity(parent: etree._Element, tag: str, value: Decimal | str | None,
              unit: str | None) -> None:
    if value is None:
        return
    element = etree.SubElement(parent, _a(tag))
    element.text = format(Decimal(value), "f")
    element.set("unitCode", unit or "KGM")


def _text(document: etree._Element, tag: str) -> str:
    return (document.findtext(_a(tag)) or "").strip()


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json(value: Any, status: int) -> Response:
    return Response(json.dumps(value), status_code=status, media_type="application/json")


async def _in_thread(function: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.to_thread(function, *args)
