"""The decision consumer against the real RabbitMQ when things go wrong for a while.

A decision the journal cannot take yet is retried in place and then redelivered, without
letting the conversation's later decisions overtake it; one that fails on every delivery
reaches the parking queue through the quorum queue's delivery limit. After a broker outage
the consumer reconnects and applies decisions again, holding a single connection.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pika
import pytest
from conftest import RunningGateway, start_gateway, wait_for
from decision_helpers import (
    BROKER,
    header_text,
    make_decision,
    publish_signed,
    submit_declaration,
    take_next,
    take_parked,
)
from support.tcp_proxy import TcpProxy

import adapters.amqp.event_consumer as consumer_module
from adapters.standins.clearance_rules import ClearanceRules, decide
from gateway.canonical.declaration import Declaration
from gateway.canonical.model import from_plain
from gateway.errors import ServiceUnavailable
from gateway.settings import Settings

pytestmark = pytest.mark.integration
pytest_plugins = ["decision_helpers"]     # the ``amqp`` fixture


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


# --- transient failures ------------------------------------------------------------------------


def test_consumer_retries_transient_failure_until_applied(
        settings: Settings, gateway_server: RunningGateway, tokens: dict[str, str],
        amqp: Any, fast_retries: list[float], monkeypatch: pytest.MonkeyPatch) -> None:
    """A decision the journal cannot take yet is retried in place, then requeued, then applied."""
    journal = gateway_server.gateway.journal
    _, service = gateway_server.gateway.events["clearance-events"]
    real_record, real_handle = journal.apply_once, service.handle
    failures = {"left": 4}          # 3 attempts per delivery fail, then the redelivery works
    delivery_counts: list[int] = []

    async def flaky_record(*args: Any, **kwargs: Any) -> bool:
        if failures["left"]:
            failures["left"] -= 1
            raise ServiceUnavailable("journal busy (test)")
        return await real_record(*args, **kwargs)

    async def counting_handle(event: Any) -> Any:
        delivery_counts.append(int(event.headers.get("x-delivery-count") or 0))
        return await real_handle(event)

    conversation_id = submit_declaration(gateway_server, tokens[BROKER])
    monkeypatch.setattr(journal, "apply_once", flaky_record)
    monkeypatch.setattr(service, "handle", counting_handle)
    decision = make_decision(conversation_id)
    publish_signed(amqp, settings, decision)

    wait_for(lambda: journal.notifications(conversation_id), timeout=20)
    assert delivery_counts == [0, 0, 0, 1, 1], "3 attempts on delivery 0, then a redelivery"
    assert fast_retries[:4] == [0.5, 1.0, 2.0, 0.5], "back-off grows with each attempt"
    assert [n.source_id for n in journal.notifications(conversation_id)] == \
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

    conversation_id = submit_declaration(gateway_server, tokens[BROKER])
    monkeypatch.setattr(journal, "apply_once", broken_record)
    decision = make_decision(conversation_id)
    body = publish_signed(amqp, settings, decision)

    ((properties, parked_body),) = take_parked(amqp, settings, timeout=20)
    assert parked_body == body
    assert properties.message_id == decision.decision_id
    deaths = properties.headers["x-death"]
    assert header_text(deaths[0]["queue"]) == settings.amqp_prefix + "gateway.decisions"
    assert header_text(deaths[0]["reason"]) == "delivery_limit"
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
    real_record = journal.apply_once
    failed: list[str] = []

    async def acceptance_fails_once(consumer: str, message_id: str, event_type: str,
                                    work: Any) -> Any:
        if message_id == decisions[0].decision_id and not failed:
            failed.append(message_id)
            raise ServiceUnavailable("journal busy (test)")
        return await real_record(consumer, message_id, event_type, work)

    conversation_id = submit_declaration(gateway_server, tokens[BROKER])
    _, properties, body = take_next(amqp, settings.amqp_prefix + "clearance.declarations")
    decisions = decide(from_plain(Declaration, json.loads(body)),
                       message_id=properties.message_id, conversation_id=conversation_id,
                       receipt_id=header_text(properties.headers["x-receipt-id"]),
                       rules=ClearanceRules.load(
                           settings.config_dir / "standins" / "clearance.toml"))
    monkeypatch.setattr(journal, "apply_once", acceptance_fails_once)
    for decision in decisions:                 # clearance publishes them back to back
        publish_signed(amqp, settings, decision)

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

    async def recording_connect(url: str, name: str) -> Any:
        connection = await real_connect(url, name)
        if name.endswith("gateway.decisions"):      # the clearance decisions' consumer
            opened.append(connection)
        return connection

    monkeypatch.setattr(consumer_module, "connect", recording_connect)
    proxy = TcpProxy().start()
    running = start_gateway(settings.with_(amqp_url=proxy.url()))
    try:
        conversation_id = submit_declaration(running, tokens[BROKER])
        wait_for(lambda: running.gateway.journal.outbox_counts() == {"sent": 1})
        assert [c for c in opened if not c.is_closed] == opened and len(opened) == 1
        (consumer,) = [c for c in running.gateway.consumers if c.queue == "gateway.decisions"]
        proxy.stop()
        wait_for(lambda: not consumer.connected)
        time.sleep(0.5)
        proxy.start()
        wait_for(lambda: consumer.connected, timeout=30)

        connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
        try:
            channel = connection.channel()
            channel.confirm_delivery()
            decision = make_decision(conversation_id)
            publish_signed(channel, settings, decision)
        finally:
            connection.close()
        journal = running.gateway.journal
        wait_for(lambda: journal.notifications(conversation_id), timeout=20)
        assert journal.notifications(conversation_id)[0].source_id == decision.decision_id

        still_open = [c for c in opened if not c.is_closed]
        assert len(opened) == 2, "one connection before the outage, one after"
        assert still_open == [opened[-1]], \
            f"{len(still_open)} consumer connections still open (the old one keeps reconnecting)"
    finally:
        running.stop()
        proxy.stop()
