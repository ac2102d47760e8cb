"""The customs link (adapters/amqp/link.py) on the real RabbitMQ, with a TCP proxy to cut it.

"Our" side is the test's prefix with the gateway's topology declared (``customs.link`` and the
link queue ``link.to.rs``); the "peer" is another prefix on the same broker, reached through a
``TcpProxy`` (``tests/support/tcp_proxy.py``), with its ``customs.incoming`` exchange and a
queue bound to it that stands for its AMQP intake. The test publishes to our ``customs.link``
as the outbox relay does and reads what the peer received.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pika
import pytest
from conftest import wait_for

from adapters.amqp.link import CustomsLink
from adapters.amqp.topology import Names, connect, declare
from adapters.bootstrap import load_topology
from adapters.observability import PrometheusMetrics
from gateway.administrations import LinkConfig
from gateway.settings import Settings
from tests.support.loop_thread import LoopRunner
from tests.support.tcp_proxy import TcpProxy


@pytest.fixture
def peer_prefix(settings: Settings, rabbitmq: str) -> Iterator[str]:
    """The peer's names: its incoming exchange and a queue standing for its intake."""
    prefix = f"{settings.amqp_prefix}peer."
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    channel = connection.channel()
    channel.exchange_declare(prefix + "customs.incoming", "topic", durable=True)
    channel.queue_declare(prefix + "intake", durable=True,
                          arguments={"x-queue-type": "quorum"})
    channel.queue_bind(prefix + "intake", prefix + "customs.incoming", "#")
    yield prefix
    channel.queue_delete(prefix + "intake")
    channel.exchange_delete(prefix + "customs.incoming")
    connection.close()


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    with TcpProxy() as running:
        yield running


@pytest.fixture
def ours(settings: Settings, rabbitmq: str, peer_prefix: str, proxy: TcpProxy) -> Settings:
    """Our deployment: the link to RS goes through the proxy to the peer's prefix."""
    ours = settings.with_(links=(("GATEWAY_LINK_RS_AMQP_URL", proxy.url()),
                                 ("GATEWAY_LINK_RS_PREFIX", peer_prefix)))

    async def declare_ours() -> None:
        connection = await connect(ours.amqp_url, "test-declare")
        async with connection:
            await declare(await connection.channel(), load_topology(ours),
                          Names(ours.amqp_prefix))

    asyncio.run(declare_ours())
    return ours


def _link(settings: Settings) -> CustomsLink:
    config = LinkConfig.load(settings.config_file("link.toml"), setting=settings.link_setting)
    peer = config.peer("RS")
    assert peer is not None
    return CustomsLink(peer, amqp_url=settings.amqp_url, names=Names(settings.amqp_prefix),
                       country="MK", metrics=PrometheusMetrics(), max_backoff=1.0)


def _publish(settings: Settings, bodies: list[bytes]) -> list[str]:
    """Publish to our customs.link as the relay does (confirmed, mandatory)."""
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    channel = connection.channel()
    channel.confirm_delivery()
    ids = []
    for body in bodies:
        message_id = uuid.uuid4().hex
        channel.basic_publish(settings.amqp_prefix + "customs.link", "movement.cd001c.rs", body,
                              pika.BasicProperties(message_id=message_id, type="CD001C",
                                                   delivery_mode=2),
                              mandatory=True)
        ids.append(message_id)
    connection.close()
    return ids


def _drain(settings: Settings, queue: str) -> list[tuple[Any, bytes]]:
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    channel = connection.channel()
    out = []
    while True:
        method, properties, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            break
        out.append((properties, body))
    connection.close()
    return out


def _count(settings: Settings, queue: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    try:
        return int(connection.channel().queue_declare(queue, passive=True).method.message_count)
    finally:
        connection.close()


def test_customs_link_moves_messages_in_order_and_acknowledges_them(
        ours: Settings, peer_prefix: str) -> None:
    """Ten messages reach the peer's intake in the order they were published, byte for byte,
    with their message ids and the link's x-link-from; our link queue is left empty."""
    bodies = [f"<m n='{i}'/>".encode() for i in range(10)]
    ids = _publish(ours, bodies)
    runner = LoopRunner(_link(ours)).start()
    try:
        wait_for(lambda: runner.part.forwarded == 10)
    finally:
        runner.stop()
    assert _count(ours, ours.amqp_prefix + "link.to.rs") == 0      # every one acknowledged
    received = _drain(ours, peer_prefix + "intake")
    assert [body for _, body in received] == bodies
    assert [p.message_id for p, _ in received] == ids
    assert {p.headers["x-link-from"] for p, _ in received} == {"MK"}
    assert received[0][0].headers["x-link-routing-key"] == "movement.cd001c.rs"


def test_customs_link_cut_mid_stream_loses_nothing(ours: Settings, peer_prefix: str,
                                                   proxy: TcpProxy) -> None:
    """The link's connection to the peer is cut while messages flow and stays down while more
    are published: once it is back every message has arrived, in order; a copy may arrive
    twice (at least once), none is missing."""
    runner = LoopRunner(_link(ours)).start()
    try:
        first = _publish(ours, [f"<m n='{i}'/>".encode() for i in range(5)])
        wait_for(lambda: _count(ours, peer_prefix + "intake") == 5)
        proxy.stop()
        second = _publish(ours, [f"<m n='{i}'/>".encode() for i in range(5, 25)])
        time.sleep(1.5)
        assert _count(ours, peer_prefix + "intake") == 5         # nothing got through
        assert _count(ours, ours.amqp_prefix + "link.to.rs") == 20   # all waiting, durable
        assert not runner.part.connected
        proxy.start()
        wait_for(lambda: _count(ours, peer_prefix + "intake") >= 25, timeout=20)
        wait_for(lambda: runner.part.connected and runner.part.forwarded >= 25)
    finally:
        runner.stop()
    assert _count(ours, ours.amqp_prefix + "link.to.rs") == 0
    received = [p.message_id for p, _ in _drain(ours, peer_prefix + "intake")]
    assert set(received) == set(first + second)
    once = list(dict.fromkeys(received))
    assert once == first + second                                  # first delivery in order


def test_customs_link_waits_for_a_peer_that_is_not_ready(ours: Settings, peer_prefix: str,
                                                         settings: Settings) -> None:
    """A peer whose incoming exchange is missing is not ready: the message waits in our queue
    (never acknowledged without the peer's confirm) and goes once the peer is there."""
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    channel = connection.channel()
    channel.exchange_delete(peer_prefix + "customs.incoming")
    (message_id,) = _publish(ours, [b"<m/>"])
    runner = LoopRunner(_link(ours)).start()
    try:
        time.sleep(1.5)
        assert _count(ours, ours.amqp_prefix + "link.to.rs") == 1
        channel.exchange_declare(peer_prefix + "customs.incoming", "topic", durable=True)
        channel.queue_bind(peer_prefix + "intake", peer_prefix + "customs.incoming", "#")
        wait_for(lambda: _count(ours, peer_prefix + "intake") == 1, timeout=20)
    finally:
        runner.stop()
        connection.close()
    assert [p.message_id for p, _ in _drain(ours, peer_prefix + "intake")] == [message_id]


def test_customs_link_keeps_what_the_peer_cannot_route(ours: Settings, peer_prefix: str,
                                                       settings: Settings) -> None:
    """The peer's exchange exists but nothing is bound (mandatory: returned, not confirmed):
    the message stays ours until the peer binds its intake again, then it is delivered."""
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    channel = connection.channel()
    channel.queue_unbind(peer_prefix + "intake", peer_prefix + "customs.incoming", "#")
    (message_id,) = _publish(ours, [b"<m/>"])
    runner = LoopRunner(_link(ours)).start()
    try:
        time.sleep(1.5)
        assert _count(ours, peer_prefix + "intake") == 0 and runner.part.forwarded == 0
        channel.queue_bind(peer_prefix + "intake", peer_prefix + "customs.incoming", "#")
        wait_for(lambda: _count(ours, peer_prefix + "intake") == 1, timeout=20)
        wait_for(lambda: runner.part.forwarded == 1)
    finally:
        runner.stop()
        connection.close()
    assert _count(ours, ours.amqp_prefix + "link.to.rs") == 0
    assert [p.message_id for p, _ in _drain(ours, peer_prefix + "intake")] == [message_id]
