"""The outbox relay against the real RabbitMQ: journaled declarations reach the clearance queue.

No clearance stand-in runs here, so whatever the relay publishes stays on
``<prefix>clearance.declarations`` and is read back with ``basic.get``. RabbitMQ outages are
simulated with a TCP proxy in front of the broker (the broker itself is never touched).
"""

from __future__ import annotations

import json
import shutil
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pika
import pytest
from conftest import RunningGateway, start_gateway, wait_for
from support.journal import canonical_json
from support.tcp_proxy import TcpProxy

from adapters.bootstrap import build_gateway, load_signing_key
from gateway.canonical.declaration import Declaration
from gateway.canonical.model import from_plain, to_json_bytes
from gateway.errors import ConfigurationError, SignatureInvalid
from gateway.settings import Settings
from gateway.signing.detached import verify_body
from gateway.signing.keys import TrustStore
from samples.wco import build_dec

pytestmark = pytest.mark.integration

BROKER = "broker-alpha"


# --- helpers -----------------------------------------------------------------------------------


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    """A TCP proxy to the real broker, created stopped (RabbitMQ 'down'); stopped after."""
    tcp = TcpProxy()
    yield tcp
    tcp.stop()


def _submit(running: RunningGateway, token: str, items: int = 2) -> str:
    """Submit a fresh WCO declaration; the conversation id of the 202 answer."""
    document = build_dec(items, lrn=f"LRN-{uuid.uuid4().hex[:12].upper()}")
    with running.client(token) as client:
        response = client.post("/v1/messages", content=document,
                               headers={"Content-Type": "application/xml"})
    assert response.status_code == 202, response.text
    return response.headers["X-Conversation-ID"]


def _queue(settings: Settings, logical: str) -> str:
    return settings.amqp_prefix + logical


def _drain(settings: Settings, logical: str, *, expect: int, timeout: float = 15.0,
           settle: float = 0.5) -> list[tuple[Any, Any, bytes]]:
    """Take every message off a queue: at least ``expect``, then whatever else arrives."""
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    try:
        channel = connection.channel()
        got: list[tuple[Any, Any, bytes]] = []
        deadline = time.monotonic() + timeout
        quiet_until = None
        while time.monotonic() < deadline:
            method, properties, body = channel.basic_get(_queue(settings, logical),
                                                         auto_ack=True)
            if method is not None:
                got.append((method, properties, body))
                quiet_until = None
                continue
            if len(got) >= expect:
                quiet_until = quiet_until or time.monotonic() + settle
                if time.monotonic() >= quiet_until:
                    break
            time.sleep(0.02)
        return got
    finally:
        connection.close()


def _gateway_trust(settings: Settings) -> TrustStore:
    trust = TrustStore()
    trust.add("gateway", load_signing_key(settings, "gateway").certificate)
    return trust


def _ready(running: RunningGateway) -> bool:
    return httpx.get(f"{running.base_url}/readyz", timeout=2).status_code == 200


# --- tests -------------------------------------------------------------------------------------


def test_relay_publishes_accepted_declaration_once_signed_and_persistent(
        settings: Settings, gateway_server: RunningGateway, tokens: dict[str, str]) -> None:
    """An accepted declaration becomes exactly one signed, persistent message on the queue."""
    conversation_id = _submit(gateway_server, tokens[BROKER])
    journal = gateway_server.gateway.journal
    wait_for(lambda: journal.outbox_counts() == {"sent": 1})

    messages = _drain(settings, "clearance.declarations", expect=1)
    assert len(messages) == 1
    method, properties, body = messages[0]

    assert body == canonical_json(settings, conversation_id)
    declaration = from_plain(Declaration, json.loads(body))
    assert to_json_bytes(declaration) == body, "the body is the canonical serialisation"
    assert len(declaration.goods_items) == 2

    headers = properties.headers
    signer = verify_body(_gateway_trust(settings), body, headers, owner="gateway")
    assert signer.key_id == headers["x-signature-key-id"]
    assert properties.correlation_id == conversation_id
    assert headers["x-conversation-id"] == conversation_id
    assert properties.delivery_mode == 2
    assert method.routing_key == "declaration.import.MK001005"
    history = [e["event"] for e in journal.conversation(conversation_id)["history"]]
    assert history.count("published") == 1


def test_relay_signature_does_not_verify_for_altered_body(
        settings: Settings, gateway_server: RunningGateway, tokens: dict[str, str]) -> None:
    """The detached signature covers the exact body bytes: one changed byte fails verification."""
    _submit(gateway_server, tokens[BROKER])
    (_, properties, body), = _drain(settings, "clearance.declarations", expect=1)
    altered = body.replace(b"MK001005", b"MK001006", 1)
    assert altered != body
    with pytest.raises(SignatureInvalid):
        verify_body(_gateway_trust(settings), altered, properties.headers, owner="gateway")


def test_relay_publishes_rows_journaled_while_rabbitmq_was_unreachable(
        settings: Settings, rabbitmq: str, tokens: dict[str, str], proxy: TcpProxy) -> None:
    """With RabbitMQ down at submit time the answer is still 202; the row is sent once it's up."""
    running = start_gateway(settings.with_(amqp_url=proxy.url()), wait_ready=False)
    try:
        journal = running.gateway.journal
        assert not _ready(running), "readiness must report RabbitMQ missing"
        conversation_id = _submit(running, tokens[BROKER])
        time.sleep(0.5)
        assert journal.outbox_counts() == {"pending": 1}
        assert journal.conversation(conversation_id)["status"] == "submitted"

        proxy.start()
        wait_for(lambda: journal.outbox_counts() == {"sent": 1}, timeout=30)
        messages = _drain(settings, "clearance.declarations", expect=1)
        assert [p.correlation_id for _, p, _ in messages] == [conversation_id]
        wait_for(lambda: _ready(running), timeout=30)
    finally:
        running.stop()


def test_relay_loses_and_duplicates_nothing_across_a_rabbitmq_outage(
        settings: Settings, rabbitmq: str, tokens: dict[str, str], proxy: TcpProxy) -> None:
    """Declarations accepted during an outage are all published once RabbitMQ is back, once each."""
    proxy.start()
    running = start_gateway(settings.with_(amqp_url=proxy.url()))
    try:
        journal = running.gateway.journal
        proxy.stop()
        wait_for(lambda: not _ready(running), timeout=15)
        conversations = {_submit(running, tokens[BROKER]) for _ in range(3)}
        assert len(conversations) == 3
        time.sleep(0.3)
        assert journal.outbox_counts().get("sent", 0) == 0

        proxy.start()
        wait_for(lambda: journal.outbox_counts() == {"sent": 3}, timeout=40)
        messages = _drain(settings, "clearance.declarations", expect=3, settle=1.0)
        assert sorted(p.correlation_id for _, p, _ in messages) == sorted(conversations)
        assert len({p.message_id for _, p, _ in messages}) == 3
    finally:
        running.stop()


def test_relay_after_restart_publishes_rows_left_pending(
        settings: Settings, rabbitmq: str, tokens: dict[str, str], proxy: TcpProxy) -> None:
    """Rows a stopped gateway could not publish are published by the next one on the journal."""
    first = start_gateway(settings.with_(amqp_url=proxy.url()), wait_ready=False)
    try:
        conversations = {_submit(first, tokens[BROKER]) for _ in range(2)}
        time.sleep(0.3)
        assert first.gateway.journal.outbox_counts() == {"pending": 2}
    finally:
        # the server is asked to stop; wait until the gateway's own shutdown closed the journal
        # (whether the thread then ends is test_gateway_stops_promptly_…'s business)
        first.server.should_exit = True
        wait_for(lambda: not first.gateway.journal.ping(), timeout=15)

    second = start_gateway(settings)
    try:
        wait_for(lambda: second.gateway.journal.outbox_counts() == {"sent": 2}, timeout=20)
        messages = _drain(settings, "clearance.declarations", expect=2)
        assert sorted(p.correlation_id for _, p, _ in messages) == sorted(conversations)
    finally:
        second.stop()


def test_relay_parks_unroutable_declaration_with_reason(
        settings: Settings, gateway_server: RunningGateway, tokens: dict[str, str]) -> None:
    """A declaration no queue is bound for is parked: row, conversation and a parking copy."""
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    try:
        connection.channel().queue_unbind(_queue(settings, "clearance.declarations"),
                                          _queue(settings, "customs.clearance"), "declaration.#")
    finally:
        connection.close()

    conversation_id = _submit(gateway_server, tokens[BROKER])
    journal = gateway_server.gateway.journal
    wait_for(lambda: journal.outbox_counts() == {"parked": 1})
    conversation = journal.conversation(conversation_id)
    assert conversation["status"] == "parked"
    parked_events = [e for e in conversation["history"] if e["event"] == "parked"]
    assert len(parked_events) == 1 and "unroutable" in parked_events[0]["reason"]

    copies = _drain(settings, "gateway.parking", expect=1)
    assert len(copies) == 1
    _, properties, body = copies[0]
    assert "unroutable" in properties.headers["x-gateway-reason"]
    assert properties.headers["x-original-routing-key"] == "declaration.import.MK001005"
    assert properties.correlation_id == conversation_id
    assert body == canonical_json(settings, conversation_id)
    verify_body(_gateway_trust(settings), body, properties.headers, owner="gateway")
    assert _drain(settings, "clearance.declarations", expect=0, settle=0.2) == []


@pytest.fixture
def silent_broker() -> Iterator[tuple[str, int]]:
    """A TCP port that accepts connections (kernel backlog) but never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    yield listener.getsockname()
    listener.close()


def test_gateway_stops_promptly_while_rabbitmq_does_not_answer(
        settings: Settings, rabbitmq: str, proxy: TcpProxy,
        silent_broker: tuple[str, int]) -> None:
    """Stopping the gateway while its AMQP connects hang (broker silent) ends the server."""
    proxy.start()
    running = start_gateway(settings.with_(amqp_url=proxy.url()))
    (consumer,) = [c for c in running.gateway.consumers if c.queue == "gateway.decisions"]
    proxy.stop()
    proxy.upstream = silent_broker          # RabbitMQ 'back', but it never answers
    before = proxy.connections
    proxy.start()
    wait_for(lambda: not consumer.connected)
    wait_for(lambda: proxy.connections > before, timeout=10)   # a reconnect attempt hangs
    time.sleep(0.2)
    running.server.should_exit = True
    running.thread.join(timeout=8)
    assert not running.thread.is_alive(), \
        "the server thread still runs 8 s after it was asked to stop (shutdown hangs)"


def _copy_home(tmp_path: Path, settings: Settings) -> Path:
    home = tmp_path / "home"
    for part in ("config", "schemas", "mappings"):
        shutil.copytree(settings.home / part, home / part)
    return home


def test_route_to_undeclared_exchange_is_refused_at_startup(
        settings: Settings, tmp_path: Path) -> None:
    """A route whose exchange the topology does not declare stops the gateway from starting."""
    home = _copy_home(tmp_path, settings)
    intact = build_gateway(settings.with_(home=home))     # the copy itself is a valid config
    intact.journal.close()

    routes = home / "config" / "routes.toml"
    text = routes.read_text(encoding="utf-8")
    assert text.count('exchange = "customs.clearance"') >= 1
    routes.write_text(text.replace('exchange = "customs.clearance"',
                                   'exchange = "customs.nowhere"', 1), encoding="utf-8")
    broken = settings.with_(home=home, db_url=f"sqlite:///{tmp_path / 'broken.db'}")
    with pytest.raises(ConfigurationError, match="undeclared exchange 'customs.nowhere'"):
        running = start_gateway(broken)
        running.stop()
