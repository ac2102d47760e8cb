"""A permit agency's quantity service, called with zeep: reserve, write off, delete, status.

``AgencyClient(wsdl_url, key, trust, agency)`` calls the agency's ``ReserveQuantity``,
``WriteOff``, ``DeleteReservation`` and ``LicenceStatus`` (``schemas/agency/
agency-standin.wsdl``; the demo agencies are ``adapters/standins/agency.py``). Every request is
signed with WS-Security in our profile (``WsSecuritySignature``: SHA-256, never zeep's SHA-1
defaults) and every answer must verify as signed by ``agency``'s certificate in ``trust``; zeep
reads only the verified Body. An answer must be about the reservation asked for (licence, MRN,
goods item, operation), else it is not used.

zeep runs hardened: no DTD, no entities, no fetch beyond the WSDL itself (``forbid_dtd``,
``forbid_entities``, ``forbid_external``), strict parsing, a time-out on every call. The WSDL
is read on the first call. Errors are translated here, at the boundary::

    connection refused, time-out, HTTP 5xx          ServiceUnavailable  GW-PARTNER-UNAVAILABLE
    SOAP fault, HTTP 4xx                             PartnerFault        GW-PARTNER-FAULT
    not XML, not the WSDL's answer, another answer   PartnerFault        GW-PARTNER-ANSWER
    an answer that does not verify                   SignatureInvalid    GW-WSS-*, GW-SIGNATURE-*

``AgencyClients`` is the core's ``AgencyService`` port: one client per agency, its WSDL the
``callback_url`` of the agency's entry in the partner registry (read live).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import requests
import zeep
import zeep.exceptions
from zeep.transports import Transport

from adapters.soap_client.errors import PartnerFault
from adapters.soap_client.wsse import WsSecuritySignature, utc_now
from gateway.errors import GatewayError, ServiceUnavailable, SignatureInvalid, trim_value
from gateway.flows.licences.reservations import (
    DELETE,
    RESERVE,
    WRITE_OFF,
    AgencyAnswer,
    MrnUsage,
    Reservation,
)
from gateway.partners import PartnerRegistry
from gateway.signing.keys import SigningKey, TrustStore

SOAP11_PORT, SOAP12_PORT = "AgencySoap11", "AgencySoap12"
_OPERATIONS = {RESERVE: "ReserveQuantity", WRITE_OFF: "WriteOff", DELETE: "DeleteReservation"}


@dataclass(frozen=True, slots=True)
class LineStatus:
    line: int
    class_code: str | None
    quantity: Decimal | None
    available: Decimal | None
    unit: str | None
    usage: tuple[MrnUsage, ...]


@dataclass(frozen=True, slots=True)
class LicenceStatus:
    """The licence as the agency has it (``LicenceStatus``)."""

    number: str
    known: bool
    status: str | None
    valid_from: str | None
    valid_to: str | None
    holder_id: str | None
    revision: int
    lines: tuple[LineStatus, ...]


class AgencyClient:
    """One agency's quantity service, over SOAP 1.1 (or 1.2) with WS-Security."""

    def __init__(self, wsdl_url: str, key: SigningKey, trust: TrustStore, agency: str, *,
                 soap12: bool = False, timeout: float = 10.0,
                 clock: Callable[[], dt.datetime] = utc_now,
                 session: requests.Session | None = None) -> None:
        self._wsdl_url = wsdl_url
        self._wsse = WsSecuritySignature(key, trust, agency, clock=clock)
        self.agency = agency
        self._port = SOAP12_PORT if soap12 else SOAP11_PORT
        self._timeout = timeout
        self._session = session
        self._service: Any = None
        self._lock = threading.Lock()

    def call(self, operation: str, reservation: Reservation) -> AgencyAnswer:
        """``operation`` (reserve, write_off, delete) for ``reservation``."""
        if operation == RESERVE:
            return self.reserve(reservation)
        if operation in (WRITE_OFF, DELETE):
            key = {"LicenceNumber": reservation.number, "MRN": reservation.mrn,
                   "GoodsItemNumber": reservation.item}
            answer = self._call(lambda service: getattr(service, _OPERATIONS[operation])(**key))
            return self._answer(answer, operation, reservation)
        raise ValueError(f"no agency operation {operation!r}")

    def reserve(self, r: Reservation) -> AgencyAnswer:
        """``ReserveQuantity`` for ``r``: its line, class code, quantity (in the line's unit)."""
        if r.line is None or r.quantity is None:
            raise ValueError(f"reservation {r.key} names no line and quantity to reserve")
        values: dict[str, Any] = {
            "LicenceNumber": r.number, "MRN": r.mrn, "GoodsItemNumber": r.item,
            "LineNumber": r.line, "NetQuantity": {"_value_1": r.quantity,
                                                  "unitCode": r.unit or r.declared_unit}}
        for name, value in (("ClassCode", r.hs_code), ("HolderID", r.holder_id),
                            ("DestinationCountry", r.destination_country)):
            if value:
                values[name] = value
        answer = self._call(lambda service: service.ReserveQuantity(**values))
        return self._answer(answer, RESERVE, r)

    def status(self, number: str) -> LicenceStatus:
        answer = self._call(lambda service: service.LicenceStatus(LicenceNumber=number))
        try:
            return LicenceStatus(
                str(answer.LicenceNumber), bool(answer.Known), _str(answer.Status),
                _str(answer.ValidFrom), _str(answer.ValidTo), _str(answer.HolderID),
                int(answer.Revision), tuple(LineStatus(
                    int(line.LineNumber), _str(line.ClassCode), _amount(line.Quantity),
                    _amount(line.AvailableQuantity), _unit(line.Quantity),
                    _usage(line.Consumption)) for line in answer.Line or ()))
        except (AttributeError, TypeError, ValueError, InvalidOperation) as exc:
            raise self._unusable("LicenceStatus", exc) from exc

    # --- plumbing -----------------------------------------------------------------------------

    def _answer(self, answer: Any, operation: str, r: Reservation) -> AgencyAnswer:
        try:
            asked = (operation, r.number, r.mrn, r.item)
            said = (str(answer.Operation), str(answer.LicenceNumber), str(answer.MRN),
                    int(answer.GoodsItemNumber))
            if said != asked:
                raise ValueError(f"it answers {said}, not {asked}")
            reason = answer.Reason
            return AgencyAnswer(
                operation=operation, result=str(answer.Result),
                answered_at=_iso(answer.AnsweredAt),
                reason=_str(reason.Code) if reason is not None else None,
                reason_text=_str(reason.Text) if reason is not None else None,
                line=int(answer.LineNumber) if answer.LineNumber is not None else None,
                available=_amount(answer.AvailableQuantity),
                unit=_unit(answer.AvailableQuantity) or _unit(answer.ReservedQuantity),
                consumed=_amount(answer.ConsumedQuantity), usage=_usage(answer.Consumption),
                revision=int(answer.Revision), reference=_str(answer.ReservationID),
                repeated=bool(answer.Repeated))
        except (AttributeError, TypeError, ValueError, InvalidOperation) as exc:
            raise self._unusable(_OPERATIONS[operation], exc) from exc

    def _unusable(self, operation: str, exc: Exception) -> PartnerFault:
        return PartnerFault(f"{self.agency} answered {operation} without a usable result: "
                            f"{trim_value(str(exc))}", code="GW-PARTNER-ANSWER",
                            context={"partner": self.agency})

    def _call(self, operation: Callable[[Any], Any]) -> Any:
        context = {"partner": self.agency}
        try:
            return operation(self._bound())
        except GatewayError as err:
            if isinstance(err, SignatureInvalid | PartnerFault | ServiceUnavailable):
                raise
            raise PartnerFault(f"{self.agency}'s answer could not be read: {err.message}",
                               code="GW-PARTNER-ANSWER", context=context) from err
        except zeep.exceptions.Fault as exc:
            fault = f"{trim_value(exc.code or '')} {trim_value(exc.message or '')}"
            raise PartnerFault(f"{self.agency} refused the call: {fault}",
                               context=context) from exc
        except zeep.exceptions.TransportError as exc:
            if exc.status_code >= 500:
                raise ServiceUnavailable(f"{self.agency} answered HTTP {exc.status_code}",
                                         code="GW-PARTNER-UNAVAILABLE", context=context) from exc
            raise PartnerFault(f"{self.agency} answered HTTP {exc.status_code}",
                               context=context) from exc
        except requests.HTTPError as exc:        # reading the WSDL
            status = exc.response.status_code if exc.response is not None else 0
            if status and status < 500:
                raise PartnerFault(f"{self.agency}'s WSDL {self._wsdl_url} answered HTTP "
                                   f"{status}", code="GW-PARTNER-ANSWER", context=context) from exc
            raise ServiceUnavailable(f"{self.agency}'s WSDL answered HTTP {status}",
                                     code="GW-PARTNER-UNAVAILABLE", context=context) from exc
        except requests.RequestException as exc:
            raise ServiceUnavailable(f"{self.agency} cannot be reached: {type(exc).__name__}",
                                     code="GW-PARTNER-UNAVAILABLE", context=context) from exc
        except zeep.exceptions.Error as exc:        # XML, WSDL, validation of either side
            raise PartnerFault(f"{self.agency}'s service or answer is not the agreed one: "
                               f"{trim_value(str(exc))}", code="GW-PARTNER-ANSWER",
                               context=context) from exc

    def _bound(self) -> Any:
        """The bound service, built from the WSDL on first use (once, also across threads)."""
        with self._lock:
            if self._service is None:
                transport = Transport(session=self._session or requests.Session(),
                                      timeout=self._timeout, operation_timeout=self._timeout)
                settings = zeep.Settings(strict=True, forbid_dtd=True, forbid_entities=True,
                                         forbid_external=True, xml_huge_tree=False)
                client = zeep.Client(self._wsdl_url, transport=transport, settings=settings,
                                     wsse=self._wsse)
                self._service = client.bind("AgencyService", self._port)
            return self._service


class AgencyClients:
    """``gateway.flows.licences.agency.AgencyService``: each agency's client, from the
    partner registry (its ``callback_url`` is the service's WSDL)."""

    def __init__(self, partners: PartnerRegistry, key: SigningKey, trust: TrustStore, *,
                 timeout: float = 10.0) -> None:
        self._partners = partners
        self._key = key
        self._trust = trust
        self._timeout = timeout
        self._clients: dict[tuple[str, str], AgencyClient] = {}
        self._lock = threading.Lock()

    def call(self, operation: str, reservation: Reservation) -> AgencyAnswer:
        return self.client(reservation.agency).call(operation, reservation)

    def client(self, agency: str) -> AgencyClient:
        partner = self._partners.find(agency)
        if partner is None or partner.kind != "agency" or not partner.callback_url:
            raise PartnerFault(f"{agency} is not an agency with a quantity service in the "
                               "partner registry (kind agency, callback_url its WSDL)",
                               context={"partner": agency})
        with self._lock:
            key = (agency, partner.callback_url)
            if key not in self._clients:
                self._clients[key] = AgencyClient(partner.callback_url, self._key, self._trust,
                                                  agency, timeout=self._timeout)
            return self._clients[key]


def _str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value).strip()
    return text or None


def _amount(value: Any) -> Decimal | None:
    if value is None:
        return None
    raw = getattr(value, "_value_1", value)
    return raw if isinstance(raw, Decimal) else Decimal(str(raw))


def _unit(value: Any) -> str | None:
    return None if value is None else _str(getattr(value, "unitCode", None))


def _usage(values: Any) -> tuple[MrnUsage, ...]:
    return tuple(MrnUsage(str(u.MRN), int(u.GoodsItemNumber), _amount(u.Quantity) or Decimal(0),
                          str(u.State), _iso(u.At)) for u in values or ())


def _iso(value: Any) -> str:
    if not isinstance(value, dt.datetime):
        raise TypeError(f"{value!r} is not a date and time")
    moment = value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
