"""A bank's SOAP service, called with zeep: acknowledging the camt.054 files the bank sent.

``BankClient(wsdl_url, key, trust, bank_owner).acknowledge(message_id, transactions)`` calls
``AcknowledgePayments`` (``schemas/bank/bank-standin.wsdl``; the demo bank is
``adapters/standins/bank.py``). Every request is signed with WS-Security in our profile
(``WsSecuritySignature``: SHA-256, never zeep's SHA-1 defaults) and every answer must verify as
signed by ``bank_owner``'s certificate in ``trust``; zeep reads only the verified Body.

zeep runs hardened: no DTD, no entities, no fetch beyond the WSDL itself
(``forbid_dtd``, ``forbid_entities``, ``forbid_external``), strict parsing, a time-out on every
call. The WSDL is read on the first call (nothing connects when the client is built). Errors are
translated here, at the boundary::

    connection refused, time-out, HTTP 5xx          ServiceUnavailable  GW-PARTNER-UNAVAILABLE
    SOAP fault, HTTP 4xx                             PartnerFault        GW-PARTNER-FAULT
    not XML, not the WSDL's answer, bad WSDL         PartnerFault        GW-PARTNER-ANSWER
    an answer that does not verify                   SignatureInvalid    GW-WSS-*, GW-SIGNATURE-*
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import requests
import zeep
import zeep.exceptions
from zeep.transports import Transport

from adapters.soap_client.errors import PartnerFault
from adapters.soap_client.wsse import WsSecuritySignature, utc_now
from gateway.errors import GatewayError, ServiceUnavailable, SignatureInvalid, trim_value
from gateway.signing.keys import SigningKey, TrustStore

BANK_NS = "urn:bank-standin:payments:v1"
SOAP11_PORT, SOAP12_PORT = "BankSoap11", "BankSoap12"


@dataclass(frozen=True, slots=True)
class TransactionAck:
    """What became of one transaction of a camt.054 file, for the bank."""

    bank_reference: str
    outcome: str               # matched, partly, over, reversed, unmatched, parked, duplicate
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class AckReceipt:
    """The bank's signed answer: it holds the acknowledgement of ``message_id``."""

    ack_id: str
    message_id: str
    transaction_count: int
    received_at: dt.datetime


class BankClient:
    """One bank's ``AcknowledgePayments`` operation, over SOAP 1.1 (or 1.2) with WS-Security."""

    def __init__(self, wsdl_url: str, key: SigningKey, trust: TrustStore, bank_owner: str, *,
                 soap12: bool = False, timeout: float = 10.0,
                 clock: Callable[[], dt.datetime] = utc_now,
                 session: requests.Session | None = None) -> None:
        self._wsdl_url = wsdl_url
        self._wsse = WsSecuritySignature(key, trust, bank_owner, clock=clock)
        self._bank = bank_owner
        self._port = SOAP12_PORT if soap12 else SOAP11_PORT
        self._timeout = timeout
        self._session = session
        self._service: Any = None
        self._lock = threading.Lock()

    def acknowledge(self, message_id: str, transactions: Sequence[TransactionAck]
                    ) -> AckReceipt:
        """Tell the bank what became of each transaction of its file ``message_id``."""
        lines = [{"BankReference": t.bank_reference, "Outcome": t.outcome,
                  **({"Reason": t.reason} if t.reason else {})} for t in transactions]
        answer = self._call(lambda service: service.AcknowledgePayments(
            MessageId=message_id, Transaction=lines))
        try:
            return AckReceipt(str(answer.AckId), str(answer.MessageId),
                              int(answer.TransactionCount), _utc(answer.ReceivedAt))
        except (AttributeError, TypeError, ValueError) as exc:
            raise PartnerFault(f"{self._bank} answered AcknowledgePayments without a usable "
                               f"AckReceived: {exc}", code="GW-PARTNER-ANSWER",
                               context={"partner": self._bank}) from exc

    def _call(self, operation: Callable[[Any], Any]) -> Any:
        try:
            return operation(self._bound())
        except GatewayError as err:
            if isinstance(err, SignatureInvalid | PartnerFault | ServiceUnavailable):
                raise
            raise PartnerFault(f"{self._bank}'s answer could not be read: {err.message}",
                               code="GW-PARTNER-ANSWER", context={"partner": self._bank}) \
                from err
        except zeep.exceptions.Fault as exc:
            fault = f"{trim_value(exc.code or '')} {trim_value(exc.message or '')}"
            raise PartnerFault(f"{self._bank} refused the call: {fault}",
                               context={"partner": self._bank}) from exc
        except zeep.exceptions.TransportError as exc:
            if exc.status_code >= 500:
                raise ServiceUnavailable(f"{self._bank} answered HTTP {exc.status_code}",
                                         code="GW-PARTNER-UNAVAILABLE",
                                         context={"partner": self._bank}) from exc
            raise PartnerFault(f"{self._bank} answered HTTP {exc.status_code}",
                               context={"partner": self._bank}) from exc
        except requests.HTTPError as exc:        # reading the WSDL
            status = exc.response.status_code if exc.response is not None else 0
            if status and status < 500:
                raise PartnerFault(f"{self._bank}'s WSDL {self._wsdl_url} answered HTTP "
                                   f"{status}", code="GW-PARTNER-ANSWER",
                                   context={"partner": self._bank}) from exc
            raise ServiceUnavailable(f"{self._bank}'s WSDL answered HTTP {status}",
                                     code="GW-PARTNER-UNAVAILABLE",
                                     context={"partner": self._bank}) from exc
        except requests.RequestException as exc:
            raise ServiceUnavailable(f"{self._bank} cannot be reached: {type(exc).__name__}",
                                     code="GW-PARTNER-UNAVAILABLE",
                                     context={"partner": self._bank}) from exc
        except zeep.exceptions.Error as exc:        # XML, WSDL, validation of either side
            raise PartnerFault(f"{self._bank}'s service or answer is not the agreed one: "
                               f"{trim_value(str(exc))}", code="GW-PARTNER-ANSWER",
                               context={"partner": self._bank}) from exc

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
                self._service = client.bind("BankService", self._port)
            return self._service


def _utc(value: Any) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        raise TypeError(f"ReceivedAt is {type(value).__name__}, not a date and time")
    return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
