"""Push transports chosen per partner (HTTP callback or SOAP service) and the deliverer's rules."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from adapters.push import PushDeliverer
from adapters.push_transports import PartnerDeliveries, SoapPartnerDelivery, acknowledgement_lines
from adapters.soap_client.errors import PartnerFault
from gateway.errors import GatewayError, ServiceUnavailable
from gateway.metrics import RecordingMetrics
from gateway.partners import PartnerRegistry
from gateway.ports import Notification, PushJob
from gateway.signing.keys import TrustStore

GW = "urn:customs-gateway:v1"


def _ack(*transactions: str, message_id: str | None = "CAMT-0001") -> bytes:
    mid = f"<gw:MessageID>{message_id}</gw:MessageID>" if message_id else ""
    return (f'<gw:Notification xmlns:gw="{GW}" Id="NTF-1"><gw:NotificationID>n-1'
            "</gw:NotificationID><gw:Kind>ACK</gw:Kind><gw:Payload><gw:PaymentAcknowledgement>"
            f"{mid}<gw:ReceiptID>r-0123456789</gw:ReceiptID>"
            f'<gw:Transactions count="{len(transactions)}" applied="0" parked="0" '
            f'duplicates="0">{"".join(transactions)}</gw:Transactions>'
            "</gw:PaymentAcknowledgement></gw:Payload></gw:Notification>").encode()


def _tx(key: str, outcome: str, *, e2e: str | None = None, reason: str | None = None) -> str:
    return (f'<gw:Transaction index="1"><gw:BankReference>{key}</gw:BankReference>'
            + (f"<gw:EndToEndID>{e2e}</gw:EndToEndID>" if e2e else "")
            + f"<gw:Outcome>{outcome}</gw:Outcome>"
            + (f"<gw:Reason>{reason}</gw:Reason>" if reason else "") + "</gw:Transaction>")


def _job(kind: str = "ACK", partner: str = "bank-demo", document: bytes | None = None,
         attempts: int = 0) -> PushJob:
    return PushJob(Notification(id="n-1", conversation_id="c-1", partner_id=partner, kind=kind,
                                created_at="2026-12-01T10:00:00Z", document=document or _ack(),
                                source_id="ack:r-1", summary={}, push=True),
                   "http://127.0.0.1:9/bank/soap?wsdl", attempts)


def test_acknowledgement_lines_give_the_bank_its_own_references() -> None:
    """The bank's AcctSvcrRef (our key tx:…), also of a reversal, else its EndToEndId, else
    our key; outcome and reason as the ACK says; the file's MsgId."""
    long_reason = "no assessment with reference " + "X" * 200
    message_id, lines = acknowledgement_lines(_ack(
        _tx("tx:ASR0001", "matched"), _tx("rvsl:tx:ASR0002", "reversed"),
        _tx("uetr:0f2c", "parked", e2e="E2E-7", reason=long_reason),
        _tx("file:M/N/4", "parked", e2e="NOTPROVIDED")))
    assert message_id == "CAMT-0001"
    assert [(line.bank_reference, line.outcome) for line in lines] == [
        ("ASR0001", "matched"), ("ASR0002", "reversed"), ("E2E-7", "parked"),
        ("file:M/N/4", "parked")]
    assert lines[0].reason is None
    assert len(lines[2].reason or "") == 140 and (lines[2].reason or "").endswith("…")


def test_acknowledgement_without_message_id_names_the_receipt() -> None:
    """A file without a MsgId is acknowledged under our receipt id."""
    message_id, lines = acknowledgement_lines(_ack(message_id=None))
    assert (message_id, lines) == ("r-0123456789", [])


def _registry(tmp_path: Path, delivery: str = "soap") -> PartnerRegistry:
    path = tmp_path / "partners.toml"
    path.write_text(
        '[[partner]]\nid = "bank-demo"\nkind = "bank"\n'
        f'delivery = "{delivery}"\ncallback_url = "http://127.0.0.1:9/bank/soap?wsdl"\n'
        '[[partner]]\nid = "broker-alpha"\nkind = "broker"\n'
        'callback_url = "http://127.0.0.1:9/callback"\n', encoding="utf-8")
    return PartnerRegistry.load(path, None)


class Recorder:
    def __init__(self) -> None:
        self.delivered: list[tuple[str, str]] = []

    async def deliver(self, job: PushJob, partner: Any = None) -> None:
        self.delivered.append((job.notification.partner_id, "soap" if partner else "http"))

    async def aclose(self) -> None: ...


def test_deliveries_choose_the_transport_the_partner_registered(tmp_path: Path) -> None:
    """delivery = "soap" goes to the SOAP client, any other partner to the HTTP callback."""
    recorder = Recorder()
    deliveries = PartnerDeliveries(_registry(tmp_path), http=recorder,  # type: ignore[arg-type]
                                   soap=recorder)                       # type: ignore[arg-type]
    asyncio.run(deliveries.deliver(_job(partner="bank-demo")))
    asyncio.run(deliveries.deliver(_job(kind="RES", partner="broker-alpha")))
    assert recorder.delivered == [("bank-demo", "soap"), ("broker-alpha", "http")]


def test_soap_partner_has_no_operation_for_other_kinds(tmp_path: Path) -> None:
    """Only ACK maps to the bank's AcknowledgePayments: another kind is a PartnerFault, not
    retryable, and nothing is called."""
    soap = SoapPartnerDelivery(None, TrustStore())                      # type: ignore[arg-type]
    registry = _registry(tmp_path)
    with pytest.raises(PartnerFault) as raised:
        asyncio.run(soap.deliver(_job(kind="PAY"), registry.get("bank-demo")))
    assert not raised.value.retryable and "PAY" in raised.value.message


class OneJobQueue:
    """A push queue holding one job; records the results."""

    def __init__(self, job: PushJob) -> None:
        self.jobs = [job]
        self.results: list[dict[str, Any]] = []

    async def claim_due(self, owner: str, limit: int, lease_seconds: float, *,
                        per_partner: int = 4, busy: frozenset[str] = frozenset()
                        ) -> list[PushJob]:
        jobs, self.jobs = self.jobs, []
        return jobs

    async def push_result(self, notification_id: str, *, delivered: bool, error: str | None,
                          retry_at: float | None) -> None:
        self.results.append({"delivered": delivered, "error": error, "retry_at": retry_at})


class Failing:
    def __init__(self, error: GatewayError) -> None:
        self.error = error

    async def deliver(self, job: PushJob) -> None:
        raise self.error

    async def aclose(self) -> None: ...


def _deliver_once(error: GatewayError, attempts: int = 0) -> dict[str, Any]:
    queue = OneJobQueue(_job(attempts=attempts))

    async def run() -> None:
        deliverer = PushDeliverer(queue, owner="t", metrics=RecordingMetrics(), max_attempts=8,
                                  idle_poll=0.01, transport=Failing(error))
        task = asyncio.create_task(deliverer.run())
        while not queue.results:
            await asyncio.sleep(0.01)
        task.cancel()
        await deliverer.stop()
    asyncio.run(run())
    (result,) = queue.results
    return result


def test_retryable_failure_is_retried_later() -> None:
    """A partner that cannot be reached: not delivered, retried after the back-off."""
    result = _deliver_once(ServiceUnavailable("bank-demo cannot be reached",
                                              code="GW-PARTNER-UNAVAILABLE"))
    assert result["delivered"] is False and result["retry_at"] is not None
    assert result["error"] == "bank-demo cannot be reached"


def test_partner_fault_fails_the_push_at_once() -> None:
    """A partner's refusal cannot be mended by retrying: failed on the first attempt."""
    result = _deliver_once(PartnerFault("bank-demo refused the call: wsse:FailedCheck"))
    assert result == {"delivered": False, "retry_at": None,
                      "error": "bank-demo refused the call: wsse:FailedCheck"}


def test_retryable_failure_fails_after_the_last_attempt() -> None:
    """The last allowed attempt that fails marks the push failed."""
    result = _deliver_once(ServiceUnavailable("HTTP 500"), attempts=7)
    assert result["retry_at"] is None and result["error"] == "HTTP 500"
