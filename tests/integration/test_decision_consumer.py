"""The decision consumer against the real RabbitMQ: verify, apply, then acknowledge — or park.

The gateway runs without the clearance stand-in; the tests play clearance themselves and
publish decisions (signed with the clearance key, forged, unsigned …) to
``<prefix>customs.decisions`` with pika, then look at the journal and at the parking queue.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pika
import pytest
from conftest import RunningGateway, start_gateway, wait_for
from support.tcp_proxy import TcpProxy

import adapters.amqp.decision_consumer as consumer_module
from adapters.bootstrap import load_signing_key
from adapters.standins.clearance_rules import ClearanceRules, decide
from adapters.standins.wco_samples import build_dec
from gateway.canonical.decision import ClearanceDecision
from gateway.canonical.declaration import Declaration
from gateway.canonical.model import from_plain, to_json_bytes
from gateway.errors import ServiceUnavailable
from gateway.identifiers import is_valid_mrn, make_mrn
from gateway.pipeline.exchange import utc_now_iso
from gateway.settings import Settings
from gateway.signing.detached import sign_body

pytestmark = pytest.mark.integration

BROKER = "broker-alpha"


# --- helpers -----------------------------------------------------------------------------------


@pytest.fixture
def amqp(settings: Settings, gateway_server: RunningGateway) -> Iterator[Any]:
    """A pika channel with publisher confirms on the real broker (closed after the test)."""
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    channel = connection.channel()
    channel.confirm_delivery()
    yield channel
    if connection.is_open:
        connection.close()


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Cap the consumer's back-off sleeps at 20 ms (the requested delays are recorded)."""
    real_sleep = asyncio.sleep
    requested: list[float] = []

    async def short_sleep(delay: float, *args: Any, **kwargs: Any) -> Any:
        requested.append(delay)
        return await real_sleep(min(delay, 0.02), *args, **kwargs)

    class AsyncioWithShortSleep:
        def __getattr__(self, name: str) -> Any:
            return getattr(asyncio, name)

        sleep = staticmethod(short_sleep)

    monkeypatch.setattr(consumer_module, "asyncio", AsyncioWithShortSleep())
    return requested


def _submit(running: RunningGateway, token: str) -> str:
    document = build_dec(2, lrn=f"LRN-{uuid.uuid4().hex[:12].upper()}")
    with running.client(token) as client:
        response = client.post("/v1/messages", content=document,
                               headers={"Content-Type": "application/xml"})
    assert response.status_code == 202, response.text
    return response.headers["X-Conversation-ID"]


def _decision(conversation_id: str, kind: str = "accepted", **values: Any) -> ClearanceDecision:
    if kind != "rejected":
        values.setdefault("mrn", make_mrn(2026, "MK", uuid.uuid4().hex[:12].upper(), "R"))
    if kind == "control":
        values.setdefault("channel", "green")
    return ClearanceDecision(decision_id=uuid.uuid4().hex, kind=kind,
                             conversation_id=conversation_id, receipt_id="r-1",
                             decided_at=utc_now_iso(), **values)


def _publish(channel: Any, settings: Settings, body: bytes, headers: dict[str, Any], *,
             kind: str = "accepted", correlation_id: str | None = None,
             message_id: str | None = None) -> None:
    channel.basic_publish(
        settings.amqp_prefix + "customs.decisions", f"decision.{kind}", body,
        pika.BasicProperties(headers=headers, content_type="application/json", delivery_mode=2,
                             correlation_id=correlation_id, message_id=message_id,
                             type="decision"),
        mandatory=True)


def _publish_signed(channel: Any, settings: Settings, decision: ClearanceDecision,
                    key: Any = None) -> bytes:
    body = to_json_bytes(decision)
    key = key or load_signing_key(settings, "clearance")
    _publish(channel, settings, body, sign_body(key, body), kind=decision.kind,
             correlation_id=decision.conversation_id, message_id=decision.decision_id)
    return body


def _kinds(running: RunningGateway, conversation_id: str) -> list[str]:
    return [n.kind for n in running.gateway.journal.notifications(conversation_id)]


def _parked(channel: Any, settings: Settings, count: int = 1,
            timeout: float = 15.0) -> list[tuple[Any, bytes]]:
    """Wait for ``count`` messages on the parking queue and take them off it."""
    queue = settings.amqp_prefix + "gateway.parking"
    got: list[tuple[Any, bytes]] = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        method, properties, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            time.sleep(0.02)
        else:
            got.append((properties, body))
    assert len(got) == count, f"{len(got)} parked message(s), expected {count}"
    return got


def _take(channel: Any, queue: str, timeout: float = 15.0) -> tuple[Any, Any, bytes]:
    """The next message on ``queue`` (acknowledged), waiting for it if need be."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        method, properties, body = channel.basic_get(queue, auto_ack=True)
        if method is not None:
            return method, properties, body
        time.sleep(0.02)
    pytest.fail(f"no message on {queue} within {timeout} s")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# --- applied -----------------------------------------------------------------------------------


def test_consumer_applies_decision_signed_by_clearance(
        settings: Settings, gateway_server: RunningGateway, tokens: dict[str, str],
        amqp: Any) -> None:
    """A clearance-signed acceptance becomes an ACC notification, status accepted, the MRN."""
    conversation_id = _submit(gateway_server, tokens[BROKER])
    decision = _decision(conversation_id)
    _publish_signed(amqp, settings, decision)

    journal = gateway_server.gateway.journal
    wait_for(lambda: journal.notifications(conversation_id))
    (notification,) = journal.notifications(conversation_id)
    assert notification.kind == "ACC" and notification.seq == 1
    assert notification.decision_id == decision.decision_id
    assert notification.summary["mrn"] == decision.mrn
    conversation = journal.conversation(conversation_id)
    assert conversation["status"] == "accepted"
    assert conversation["mrn"] == decision.mrn and is_valid_mrn(conversation["mrn"])
    assert b"NotificationID" in notification.document


def test_consumer_does_not_duplicate_a_redelivered_decision(
        settings: Settings, gateway_server: RunningGateway, tokens: dict[str, str],
        amqp: Any) -> None:
    """The same decision delivered twice yields one notification (later decisions still apply)."""
    conversation_id = _submit(gateway_server, tokens[BROKER])
    accepted = _decision(conversation_id)
    _publish_signed(amqp, settings, accepted)
    _publish_signed(amqp, settings, accepted)
    barrier = _decision(conversation_id, "control", mrn=accepted.mrn)
    _publish_signed(amqp, settings, barrier)   # applied after the duplicate (same conversation)

    wait_for(lambda: "CTL" in _kinds(gateway_server, conversation_id))
    time.sleep(0.2)
    assert _kinds(gateway_server, conversation_id) == ["ACC", "CTL"]
    history = gateway_server.gateway.journal.conversation(conversation_id)["history"]
    assert [e["event"] for e in history].count("notification.ACC") == 1


def test_consumer_applies_decisions_of_one_conversation_in_order(
        settings: Settings, gateway_server: RunningGateway, tokens: dict[str, str],
        amqp: Any) -> None:
    """Clearance's accepted, control, duties and release decisions become seq 1..4 in order."""
    conversations = [_submit(gateway_server, tokens[BROKER]) for _ in range(2)]
    rules = ClearanceRules.load(settings.config_dir / "standins" / "clearance.toml")
    queue = settings.amqp_prefix + "clearance.declarations"
    batches: dict[str, list[ClearanceDecision]] = {}
    for _ in conversations:          # play clearance: take the published declarations
        _, properties, body = _take(amqp, queue)
        batches[properties.correlation_id] = decide(
            from_plain(Declaration, json.loads(body)), message_id=properties.message_id,
            conversation_id=properties.correlation_id,
            receipt_id=_text(properties.headers["x-receipt-id"]), rules=rules)
    assert sorted(batches) == sorted(conversations)
    for first, second in zip(*batches.values(), strict=True):   # interleave conversations
        _publish_signed(amqp, settings, first)
        _publish_signed(amqp, settings, second)

    journal = gateway_server.gateway.journal
    for conversation_id, decisions in batches.items():
        assert [d.kind for d in decisions] == ["accepted", "control", "duties_assessed",
                                               "released"]
        wait_for(lambda c=conversation_id: len(journal.notifications(c)) == 4)
        notifications = journal.notifications(conversation_id)
        assert [n.seq for n in notifications] == [1, 2, 3, 4]
        assert [n.kind for n in notifications] == ["ACC", "CTL", "TAX", "RES"]
        assert [n.decision_id for n in notifications] == [d.decision_id for d in decisions]
        conversation = journal.conversation(conversation_id)
        assert conversation["status"] == "released"
        assert is_valid_mrn(conversation["mrn"])


# --- parked ------------------------------------------------------------------------------------


def test_consumer_parks_decision_with_bad_signature(
        settings: Settings, gateway_server: RunningGateway, tokens: dict[str, str],
        amqp: Any) -> None:
    """A body altered after signing is parked with GW-SIGNATURE-INVALID, never applied."""
    conversation_id = _submit(gateway_server, tokens[BROKER])
    decision = _decision(conversation_id)
    body = to_json_bytes(decision)
    headers = sign_body(load_signing_key(settings, "clearance"), body)
    position = body.index(decision.mrn.encode()) + 4
    tampered = body[:position] + bytes([body[position] ^ 0x01]) + body[position + 1:]
    assert tampered != body and len(tampered) == len(body)
    _publish(amqp, settings, tampered, headers, correlation_id=conversation_id,
             message_id=decision.decision_id)

    ((properties, parked_body),) = _parked(amqp, settings)
    assert _text(properties.headers["x-gateway-error-code"]) == "GW-SIGNATURE-INVALID"
    assert properties.headers["x-gateway-reason"]
    assert parked_body == tampered
    assert properties.headers["x-signature"] == headers["x-signature"]
    assert properties.correlation_id == conversation_id

    # the lane is not stalled: a correct decision behind it is applied, the forged one is not
    good = _decision(conversation_id)
    _publish_signed(amqp, settings, good)
    journal = gateway_server.gateway.journal
    wait_for(lambda: journal.notifications(conversation_id))
    assert [n.decision_id for n in journal.notifications(conversation_id)] == [good.decision_id]
    assert journal.conversation(conversation_id)["mrn"] == good.mrn


def test_consumer_parks_unsigned_decision(
        settings: Settings, gateway_server: RunningGateway, tokens: dict[str, str],
        amqp: Any) -> None:
    """A decision without signature headers is parked with GW-SIGNATURE-MISSING."""
    conversation_id = _submit(gateway_server, tokens[BROKER])
    body = to_json_bytes(_decision(conversation_id))
    _publish(amqp, settings, body, {}, correlation_id=conversation_id)

    ((properties, parked_body),) = _parked(amqp, settings)
    assert _text(properties.headers["x-gateway-error-code"]) == "GW-SIGNATURE-MISSING"
    assert parked_body == body
    time.sleep(0.2)
    assert gateway_server.gateway.journal.notifications(conversation_id) == []
    assert gateway_server.gateway.journal.conversation(conversation_id)["status"] == "submitted"


def test_consumer_parks_decision_signed_by_untrusted_gateway_key(
        settings: Settings, gateway_server: RunningGateway, tokens: dict[str, str],
        amqp: Any) -> None:
    """A decision signed with the gateway's own key (not clearance's) is parked, not applied."""
    conversation_id = _submit(gateway_server, tokens[BROKER])
    body = _publish_signed(amqp, settings, _decision(conversation_id),
                           key=load_signing_key(settings, "gateway"))

    ((properties, parked_body),) = _parked(amqp, settings)
    assert _text(properties.headers["x-gateway-error-code"]) == "GW-SIGNATURE-UNKNOWN-KEY"
    assert parked_body == body
    time.sleep(0.2)
    assert gateway_server.gateway.journal.notifications(conversation_id) == []


def test_consumer_parks_decision_signed_by_another_trusted_partner(
        settings: Settings, gateway_server: RunningGateway, tokens: dict[str, str],
        amqp: Any) -> None:
    """A key trusted for a partner other than clearance is the wrong signer: parked."""
    gateway_key = load_signing_key(settings, "gateway")
    gateway_server.gateway.trust.add(BROKER, gateway_key.certificate)   # a broker's key
    conversation_id = _submit(gateway_server, tokens[BROKER])
    body = _publish_signed(amqp, settings, _decision(conversation_id), key=gateway_key)

    ((properties, parked_body),) = _parked(amqp, settings)
    assert _text(properties.headers["x-gateway-error-code"]) == "GW-SIGNATURE-WRONG-SIGNER"
    assert parked_body == body
    time.sleep(0.2)
    assert gateway_server.gateway.journal.notifications(conversation_id) == []


def test_consumer_parks_decision_for_unknown_conversation(
        settings: Settings, gateway_server: RunningGateway, amqp: Any) -> None:
    """A correctly signed decision for a conversation the gateway never had is parked."""
    stranger = uuid.uuid4().hex
    body = _publish_signed(amqp, settings, _decision(stranger))

    ((properties, parked_body),) = _parked(amqp, settings)
    assert _text(properties.headers["x-gateway-error-code"]) == \
        "GW-DECISION-UNKNOWN-CONVERSATION"
    assert parked_body == body
    assert gateway_server.gateway.journal.conversation(stranger) is None


def test_consumer_parks_unintelligible_decision(
        settings: Settings, gateway_server: RunningGateway, tokens: dict[str, str],
        amqp: Any) -> None:
    """A correctly signed body that is not a decision is parked with GW-DECISION-INVALID."""
    conversation_id = _submit(gateway_server, tokens[BROKER])
    body = json.dumps({"kind": "approved", "conversation_id": conversation_id}).encode()
    _publish(amqp, settings, body, sign_body(load_signing_key(settings, "clearance"), body),
             correlation_id=conversation_id)

    ((properties, parked_body),) = _parked(amqp, settings)
    assert _text(properties.headers["x-gateway-error-code"]) == "GW-DECISION-INVALID"
    assert parked_body == body
    assert gateway_server.gateway.journal.notifications(conversation_id) == []


# --- transient failures ------------------------------------------------------------------------


def test_consumer_retries_transient_failure_until_applied(
        settings: Settings, gateway_server: RunningGateway, tokens: dict[str, str],
        amqp: Any, fast_retries: list[float], monkeypatch: pytest.MonkeyPatch) -> None:
    """A decision the journal cannot take yet is retried in place, then requeued, then applied."""
    journal = gateway_server.gateway.journal
    service = gateway_server.gateway.decisions
    real_record, real_apply = journal.record_decision, service.apply
    failures = {"left": 4}          # 3 attempts per delivery fail, then the redelivery works
    delivery_counts: list[int] = []

    async def flaky_record(*args: Any, **kwargs: Any) -> bool:
        if failures["left"]:
            failures["left"] -= 1
            raise ServiceUnavailable("journal busy (test)")
        return await real_record(*args, **kwargs)

    async def counting_apply(body: bytes, headers: Any) -> bool:
        delivery_counts.append(int(headers.get("x-delivery-count") or 0))
        return await real_apply(body, headers)

    conversation_id = _submit(gateway_server, tokens[BROKER])
    monkeypatch.setattr(journal, "record_decision", flaky_record)
    monkeypatch.setattr(service, "apply", counting_apply)
    decision = _decision(conversation_id)
    _publish_signed(amqp, settings, decision)

    wait_for(lambda: journal.notifications(conversation_id), timeout=20)
    assert delivery_counts == [0, 0, 0, 1, 1], "3 attempts on delivery 0, then a redelivery"
    assert fast_retries[:4] == [0.5, 1.0, 2.0, 0.5], "back-off grows with each attempt"
    assert [n.decision_id for n in journal.notifications(conversation_id)] == \
        [decision.decision_id]
    assert journal.conversation(conversation_id)["status"] == "accepted"
    time.sleep(0.2)
    assert amqp.basic_get(settings.amqp_prefix + "gateway.parking", auto_ack=True)[0] is None


def test_consumer_dead_letters_permanently_failing_decision_to_parking(
        settings: Settings, gateway_server: RunningGateway, tokens: dict[str, str],
        amqp: Any, fast_retries: list[float], monkeypatch: pytest.MonkeyPatch) -> None:
    """A decision that fails on every delivery reaches parking via the delivery limit (x-death)."""
    journal = gateway_server.gateway.journal
    calls = {"n": 0}

    async def broken_record(*args: Any, **kwargs: Any) -> bool:
        calls["n"] += 1
        raise ServiceUnavailable("journal down (test)")

    conversation_id = _submit(gateway_server, tokens[BROKER])
    monkeypatch.setattr(journal, "record_decision", broken_record)
    decision = _decision(conversation_id)
    body = _publish_signed(amqp, settings, decision)

    ((properties, parked_body),) = _parked(amqp, settings, timeout=20)
    assert parked_body == body
    assert properties.message_id == decision.decision_id
    deaths = properties.headers["x-death"]
    assert _text(deaths[0]["queue"]) == settings.amqp_prefix + "gateway.decisions"
    assert _text(deaths[0]["reason"]) == "delivery_limit"
    assert "x-gateway-error-code" not in properties.headers
    assert calls["n"] == 6 * 3, \
        "3 attempts on each of the first delivery and the x-delivery-limit (5) redeliveries"
    assert journal.notifications(conversation_id) == []
    assert journal.conversation(conversation_id)["status"] == "submitted"


def test_consumer_keeps_conversation_order_when_a_decision_is_retried(
        settings: Settings, gateway_server: RunningGateway, tokens: dict[str, str],
        amqp: Any, fast_retries: list[float], monkeypatch: pytest.MonkeyPatch) -> None:
    """A transient failure of the acceptance must not let the later decisions overtake it."""
    journal = gateway_server.gateway.journal
    real_record = journal.record_decision
    failed: list[str] = []

    async def acceptance_fails_once(notification: Any, *args: Any, **kwargs: Any) -> bool:
        if notification.kind == "ACC" and not failed:
            failed.append(notification.decision_id)
            raise ServiceUnavailable("journal busy (test)")
        return await real_record(notification, *args, **kwargs)

    conversation_id = _submit(gateway_server, tokens[BROKER])
    _, properties, body = _take(amqp, settings.amqp_prefix + "clearance.declarations")
    decisions = decide(from_plain(Declaration, json.loads(body)),
                       message_id=properties.message_id, conversation_id=conversation_id,
                       receipt_id=_text(properties.headers["x-receipt-id"]),
                       rules=ClearanceRules.load(
                           settings.config_dir / "standins" / "clearance.toml"))
    monkeypatch.setattr(journal, "record_decision", acceptance_fails_once)
    for decision in decisions:                 # clearance publishes them back to back
        _publish_signed(amqp, settings, decision)

    wait_for(lambda: len(journal.notifications(conversation_id)) == 4, timeout=20)
    assert failed, "the acceptance was failed once"
    notifications = journal.notifications(conversation_id)
    assert [n.kind for n in notifications] == ["ACC", "CTL", "TAX", "RES"]
    assert journal.conversation(conversation_id)["status"] == "released"


# --- RabbitMQ outages ----------------------------------------------------------------------------


def test_consumer_reconnects_after_outage_without_leaking_connections(
        settings: Settings, rabbitmq: str, tokens: dict[str, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """After a broker outage the consumer applies decisions again, holding one connection."""
    opened: list[Any] = []
    real_connect = consumer_module.connect

    async def recording_connect(*args: Any, **kwargs: Any) -> Any:
        connection = await real_connect(*args, **kwargs)
        opened.append(connection)
        return connection

    monkeypatch.setattr(consumer_module, "connect", recording_connect)
    proxy = TcpProxy().start()
    running = start_gateway(settings.with_(amqp_url=proxy.url()))
    try:
        conversation_id = _submit(running, tokens[BROKER])
        wait_for(lambda: running.gateway.journal.outbox_counts() == {"sent": 1})
        assert [c for c in opened if not c.is_closed] == opened and len(opened) == 1
        consumer = running.gateway.consumer
        proxy.stop()
        wait_for(lambda: not consumer.connected)
        time.sleep(0.5)
        proxy.start()
        wait_for(lambda: consumer.connected, timeout=30)

        connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
        try:
            channel = connection.channel()
            channel.confirm_delivery()
            decision = _decision(conversation_id)
            _publish_signed(channel, settings, decision)
        finally:
            connection.close()
        journal = running.gateway.journal
        wait_for(lambda: journal.notifications(conversation_id), timeout=20)
        assert journal.notifications(conversation_id)[0].decision_id == decision.decision_id

        still_open = [c for c in opened if not c.is_closed]
        assert len(opened) == 2, "one connection before the outage, one after"
        assert still_open == [opened[-1]], \
            f"{len(still_open)} consumer connections still open (the old one keeps reconnecting)"
    finally:
        running.stop()
        proxy.stop()
