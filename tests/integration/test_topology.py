"""The RabbitMQ topology the gateway declares, checked against the real broker.

The gateway's own ``declare`` (the one the relay and the consumer run on every connection)
builds the topology under the test's prefix; the broker is then asked — with pika, passive and
non-passive declarations, publishes and ``basic.get`` — what it really holds.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pika
import pika.exceptions
import pytest

from adapters.amqp.topology import Names, connect, declare
from gateway.bus_topology import Topology
from gateway.settings import Settings

pytestmark = pytest.mark.integration


def _topology(settings: Settings) -> Topology:
    return Topology.load(settings.config_dir / "topology.toml")


@pytest.fixture
def declared(settings: Settings, rabbitmq: str) -> Topology:
    """The configured topology, declared under the test prefix by the gateway's own code."""
    topology = _topology(settings)

    async def run() -> None:
        connection = await connect(settings.amqp_url, "test-topology")
        async with connection:
            await declare(await connection.channel(), topology, Names(settings.amqp_prefix))

    asyncio.run(run())
    return topology


@pytest.fixture
def amqp(settings: Settings, rabbitmq: str) -> Iterator[pika.BlockingConnection]:
    """A pika connection to the real broker, closed after the test."""
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    yield connection
    if connection.is_open:
        connection.close()


def _spec(topology: Topology, name: str) -> Any:
    return next(q for q in topology.queues if q.name == name)


def _redeclare(connection: pika.BlockingConnection, queue: str,
               arguments: dict[str, Any]) -> pika.exceptions.ChannelClosedByBroker | None:
    """Declare ``queue`` (non-passively) on a fresh channel; the broker's refusal, if any."""
    channel = connection.channel()
    try:
        channel.queue_declare(queue, durable=True, arguments=arguments)
    except pika.exceptions.ChannelClosedByBroker as refusal:
        return refusal
    channel.close()
    return None


def _get(channel: Any, queue: str, timeout: float = 5.0) -> tuple[Any, Any, bytes]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        method, properties, body = channel.basic_get(queue, auto_ack=False)
        if method is not None:
            return method, properties, body
        time.sleep(0.02)
    pytest.fail(f"no message on {queue} within {timeout} s")


@pytest.mark.parametrize("queue", ["clearance.declarations", "gateway.decisions"])
def test_work_queue_is_quorum_with_configured_delivery_limit_and_dlx(
        settings: Settings, declared: Topology, amqp: pika.BlockingConnection,
        queue: str) -> None:
    """Each work queue is a durable quorum queue with the configured delivery limit and DLX."""
    spec = _spec(declared, queue)
    real = settings.amqp_prefix + queue
    arguments = spec.arguments(settings.amqp_prefix)
    assert arguments["x-queue-type"] == "quorum"
    assert arguments["x-delivery-limit"] == 5
    assert arguments["x-dead-letter-exchange"] == settings.amqp_prefix + "gateway.parking"

    passive = amqp.channel()
    assert passive.queue_declare(real, passive=True).method.queue == real
    passive.close()

    assert _redeclare(amqp, real, arguments) is None, "identical arguments must be accepted"

    refused = _redeclare(amqp, real, {**arguments, "x-delivery-limit": 6})
    assert refused is not None and refused.reply_code == 406
    assert "PRECONDITION_FAILED" in refused.reply_text
    assert "x-delivery-limit" in refused.reply_text

    refused = _redeclare(amqp, real, {**arguments, "x-queue-type": "classic"})
    assert refused is not None and refused.reply_code == 406, "the queue is not a quorum queue"

    refused = _redeclare(amqp, real, {**arguments, "x-dead-letter-exchange": "elsewhere"})
    assert refused is not None and refused.reply_code == 406
    assert "x-dead-letter-exchange" in refused.reply_text


def test_topology_declaration_is_idempotent(settings: Settings, declared: Topology,
                                            amqp: pika.BlockingConnection) -> None:
    """Declaring the topology a second time (a reconnect) changes nothing and raises nothing."""
    channel = amqp.channel()
    channel.confirm_delivery()
    channel.basic_publish(settings.amqp_prefix + "customs.clearance", "declaration.import.X",
                          b"kept", pika.BasicProperties(delivery_mode=2), mandatory=True)

    async def again() -> None:
        connection = await connect(settings.amqp_url, "test-topology-again")
        async with connection:
            await declare(await connection.channel(), declared, Names(settings.amqp_prefix))

    asyncio.run(again())
    ok = channel.queue_declare(settings.amqp_prefix + "clearance.declarations", passive=True)
    assert ok.method.message_count == 1, "re-declaring must not drop queued messages"


@pytest.mark.parametrize("key", ["declaration.import.X", "declaration.import.MK001005",
                                 "declaration.export.MK001005"])
def test_clearance_binding_routes_declarations_to_clearance_queue(
        settings: Settings, declared: Topology, amqp: pika.BlockingConnection,
        key: str) -> None:
    """A ``declaration.*`` key on customs.clearance lands on clearance.declarations only."""
    channel = amqp.channel()
    channel.confirm_delivery()
    body = f"probe {uuid.uuid4()}".encode()
    channel.basic_publish(settings.amqp_prefix + "customs.clearance", key, body,
                          pika.BasicProperties(delivery_mode=2), mandatory=True)
    method, _, got = _get(channel, settings.amqp_prefix + "clearance.declarations")
    channel.basic_ack(method.delivery_tag)
    assert got == body
    assert method.routing_key == key
    for other in ("gateway.decisions", "gateway.parking"):
        ok = channel.queue_declare(settings.amqp_prefix + other, passive=True)
        assert ok.method.message_count == 0, f"{key} must not reach {other}"


def test_clearance_exchange_refuses_keys_outside_the_binding(
        settings: Settings, declared: Topology, amqp: pika.BlockingConnection) -> None:
    """A key that matches no binding is returned to a mandatory publisher (nothing swallows it)."""
    channel = amqp.channel()
    channel.confirm_delivery()
    with pytest.raises(pika.exceptions.UnroutableError):
        channel.basic_publish(settings.amqp_prefix + "customs.clearance", "decision.accepted",
                              b"misrouted", pika.BasicProperties(delivery_mode=2),
                              mandatory=True)


def test_decisions_binding_routes_decisions_to_gateway_queue(
        settings: Settings, declared: Topology, amqp: pika.BlockingConnection) -> None:
    """A ``decision.*`` key on customs.decisions lands on gateway.decisions."""
    channel = amqp.channel()
    channel.confirm_delivery()
    channel.basic_publish(settings.amqp_prefix + "customs.decisions", "decision.released",
                          b"decided", pika.BasicProperties(delivery_mode=2), mandatory=True)
    method, _, body = _get(channel, settings.amqp_prefix + "gateway.decisions")
    channel.basic_ack(method.delivery_tag)
    assert body == b"decided"


def test_work_queue_dead_letters_to_parking_after_delivery_limit(
        settings: Settings, declared: Topology, amqp: pika.BlockingConnection) -> None:
    """A message requeued more often than x-delivery-limit ends in gateway.parking with x-death."""
    channel = amqp.channel()
    channel.confirm_delivery()
    queue = settings.amqp_prefix + "gateway.decisions"
    parking = settings.amqp_prefix + "gateway.parking"
    body = f"poison {uuid.uuid4()}".encode()
    channel.basic_publish(settings.amqp_prefix + "customs.decisions", "decision.accepted", body,
                          pika.BasicProperties(delivery_mode=2, message_id="poison-1"),
                          mandatory=True)
    counts: list[int] = []
    deadline = time.monotonic() + 15
    parked = None
    while time.monotonic() < deadline and parked is None:
        method, properties, _ = channel.basic_get(queue, auto_ack=False)
        if method is not None:
            counts.append(int((properties.headers or {}).get("x-delivery-count", 0)))
            channel.basic_nack(method.delivery_tag, requeue=True)
            continue
        got = channel.basic_get(parking, auto_ack=True)
        if got[0] is not None:
            parked = got
        time.sleep(0.02)
    assert parked is not None, f"not dead-lettered after {len(counts)} deliveries"
    _, properties, parked_body = parked
    assert parked_body == body
    assert properties.message_id == "poison-1"
    deaths = properties.headers["x-death"]
    assert deaths[0]["queue"] == queue
    assert deaths[0]["reason"] == "delivery_limit"
    # the first delivery plus five redeliveries, then the broker gives up
    assert counts == [0, 1, 2, 3, 4, 5]
    assert channel.queue_declare(queue, passive=True).method.message_count == 0
