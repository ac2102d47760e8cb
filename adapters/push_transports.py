"""How a push reaches a partner: chosen per partner by its registry entry (``delivery``).

``PartnerDeliveries.deliver(job)`` looks the partner up (live registry) and hands the signed
notification to its transport; every failure is a ``GatewayError`` whose ``retryable`` says
whether the push deliverer (``adapters/push.py``) tries again later:

* ``delivery = "http"`` (default) — ``HttpCallback``: POST the signed ``gw:Notification`` to
  ``callback_url``. Any answer but 2xx, and any connection failure, is retried
  (``GW-PARTNER-UNAVAILABLE``, its text ``HTTP 500`` or the connection error).
* ``delivery = "soap"`` — ``SoapPartnerDelivery``: call the partner's SOAP service, whose WSDL
  is at ``callback_url``, with zeep and WS-Security in our profile (SHA-256;
  ``adapters/soap_client/``). An ``ACK`` notification (the gateway's acknowledgement of a
  bank's camt.054 file) becomes ``AcknowledgePayments``: the file's ``MsgId`` and, per
  transaction, the bank's own reference (its ``AcctSvcrRef``, else the ``EndToEndId``), the
  outcome and the reason. A service that cannot be reached is retried
  (``ServiceUnavailable``); a SOAP fault, an unusable or unverifiable answer, or a kind the
  partner's service has no operation for, is not (``PartnerFault``, ``SignatureInvalid``):
  the push is marked failed and logged.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Protocol

import httpx
from lxml import etree

from adapters.soap_client.bank_client import BankClient, TransactionAck
from adapters.soap_client.errors import PartnerFault
from gateway.documents.payments import ACK
from gateway.documents.receipts import GW_NS
from gateway.errors import ServiceUnavailable
from gateway.partners import Partner, PartnerRegistry
from gateway.ports import PushJob
from gateway.signing.keys import SigningKey, TrustStore
from gateway.xml.safe_parser import XmlLimits, parse_untrusted

MAX_BANK_REFERENCE, MAX_REASON = 35, 140      # the bank service's Max35Text / Max140Text
_LIMITS = XmlLimits(max_bytes=64 * 1024 * 1024, max_elements=2_000_000)


class PushTransport(Protocol):
    async def deliver(self, job: PushJob) -> None:
        """Deliver ``job``'s notification, or raise a ``GatewayError`` (retryable or not)."""
        ...

    async def aclose(self) -> None: ...


class HttpCallback:
    """POST the signed notification to the partner's callback URL."""

    def __init__(self, *, timeout: float = 5.0) -> None:
        self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=False)

    async def deliver(self, job: PushJob) -> None:
        n = job.notification
        context = {"partner": n.partner_id}
        try:
            response = await self._client.post(
                job.callback_url, content=n.document,
                headers={"Content-Type": "application/xml; charset=utf-8",
                         "X-Conversation-ID": n.conversation_id,
                         "X-Notification-ID": n.id, "X-Notification-Kind": n.kind})
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"{type(exc).__name__}: {exc}",
                                     code="GW-PARTNER-UNAVAILABLE", context=context) from exc
        if not 200 <= response.status_code < 300:
            raise ServiceUnavailable(f"HTTP {response.status_code}",
                                     code="GW-PARTNER-UNAVAILABLE", context=context)

    async def aclose(self) -> None:
        await self._client.aclose()


class SoapPartnerDelivery:
    """Notifications to partners' SOAP services (``BankClient``, one per partner and WSDL)."""

    def __init__(self, key: SigningKey, trust: TrustStore, *, timeout: float = 10.0) -> None:
        self._key = key
        self._trust = trust
        self._timeout = timeout
        self._clients: dict[tuple[str, str], BankClient] = {}
        self._lock = threading.Lock()

    async def deliver(self, job: PushJob, partner: Partner) -> None:
        n = job.notification
        if n.kind != ACK:
            raise PartnerFault(f"{partner.id}'s SOAP service has no operation for {n.kind} "
                               "notifications (it takes ACK: AcknowledgePayments)",
                               context={"partner": partner.id})
        message_id, lines = acknowledgement_lines(n.document)
        client = self._client(partner.id, job.callback_url)
        await asyncio.to_thread(client.acknowledge, message_id, lines)

    def _client(self, partner_id: str, wsdl_url: str) -> BankClient:
        with self._lock:
            key = (partner_id, wsdl_url)
            if key not in self._clients:
                self._clients[key] = BankClient(wsdl_url, self._key, self._trust, partner_id,
                                                timeout=self._timeout)
            return self._clients[key]

    async def aclose(self) -> None:
        self._clients.clear()


class PartnerDeliveries:
    """The transport of each push, from the partner's ``delivery`` (see the module docstring)."""

    def __init__(self, partners: PartnerRegistry | None, *, http: HttpCallback | None = None,
                 soap: SoapPartnerDelivery | None = None) -> None:
        self._partners = partners
        self._http = http or HttpCallback()
        self._soap = soap

    async def deliver(self, job: PushJob) -> None:
        partner = self._partners.find(job.notification.partner_id) \
            if self._partners is not None else None
        if partner is not None and partner.delivery == "soap":
            if self._soap is None:
                raise PartnerFault(f"{partner.id} takes pushes over SOAP, which this gateway "
                                   "was not set up to call", context={"partner": partner.id})
            await self._soap.deliver(job, partner)
            return
        await self._http.deliver(job)

    async def aclose(self) -> None:
        await self._http.aclose()
        if self._soap is not None:
            await self._soap.aclose()


def acknowledgement_lines(document: bytes) -> tuple[str, list[TransactionAck]]:
    """The bank file's ``MsgId`` and one ``TransactionAck`` per transaction of an ``ACK``."""
    root = parse_untrusted(document, _LIMITS).getroot()
    ack = root.find(f"{{{GW_NS}}}Payload/{{{GW_NS}}}PaymentAcknowledgement")
    if ack is None:
        raise PartnerFault("the ACK notification holds no gw:PaymentAcknowledgement",
                           code="GW-PARTNER-ANSWER")
    message_id = (ack.findtext(f"{{{GW_NS}}}MessageID") or "").strip() or \
        (ack.findtext(f"{{{GW_NS}}}ReceiptID") or "").strip()
    lines = [TransactionAck(_bank_reference(t), t.findtext(f"{{{GW_NS}}}Outcome") or "",
                            _reason(t.findtext(f"{{{GW_NS}}}Reason")))
             for t in ack.iterfind(f"{{{GW_NS}}}Transactions/{{{GW_NS}}}Transaction")]
    return message_id[:MAX_BANK_REFERENCE], lines


def _bank_reference(transaction: etree._Element) -> str:
    """The bank's own reference: its AcctSvcrRef (our key ``tx:…``), else the EndToEndId."""
    key = transaction.findtext(f"{{{GW_NS}}}BankReference") or ""
    plain = key.removeprefix("rvsl:")
    end_to_end = (transaction.findtext(f"{{{GW_NS}}}EndToEndID") or "").strip()
    if plain.startswith("tx:"):
        reference = plain.removeprefix("tx:")
    elif end_to_end and end_to_end != "NOTPROVIDED":
        reference = end_to_end
    else:
        reference = plain
    return reference[:MAX_BANK_REFERENCE] or "NOTPROVIDED"


def _reason(text: str | None) -> str | None:
    text = " ".join((text or "").split())
    if not text:
        return None
    return text if len(text) <= MAX_REASON else text[:MAX_REASON - 1] + "…"
