"""Helpers shared by the decision consumer tests (``test_decision_consumer*.py``).

The tests play clearance themselves: they submit declarations over HTTP, build decisions,
publish them (signed with the clearance key, forged, unsigned …) to
``<prefix>customs.decisions`` with pika and take what lands on the parking queue. Test modules
load the fixtures below with ``pytest_plugins = ["decision_helpers"]``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pika
import pytest
from conftest import RunningGateway

from adapters.bootstrap import load_signing_key
from gateway.canonical.clearance_decision import ClearanceDecision
from gateway.canonical.model import to_json_bytes
from gateway.identifiers import make_mrn
from gateway.pipeline.exchange import utc_now_iso
from gateway.settings import Settings
from gateway.signing.detached import sign_body
from samples.wco import build_dec

BROKER = "broker-alpha"


@pytest.fixture
def amqp(settings: Settings, gateway_server: RunningGateway) -> Iterator[Any]:
    """A pika channel with publisher confirms on the real broker (closed after the test)."""
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    channel = connection.channel()
    channel.confirm_delivery()
    yield channel
    if connection.is_open:
        connection.close()


def submit_declaration(running: RunningGateway, token: str) -> str:
    document = build_dec(2, lrn=f"LRN-{uuid.uuid4().hex[:12].upper()}")
    with running.client(token) as client:
        response = client.post("/v1/messages", content=document,
                               headers={"Content-Type": "application/xml"})
    assert response.status_code == 202, response.text
    return response.headers["X-Conversation-ID"]


def make_decision(conversation_id: str, kind: str = "accepted", **values: Any) -> ClearanceDecision:
    if kind != "rejected":
        values.setdefault("mrn", make_mrn(2026, "MK", uuid.uuid4().hex[:12].upper(), "R"))
    if kind == "control":
        values.setdefault("channel", "green")
    return ClearanceDecision(decision_id=uuid.uuid4().hex, kind=kind,
                             conversation_id=conversation_id, receipt_id="r-1",
                             decided_at=utc_now_iso(), **values)


def publish_raw(channel: Any, settings: Settings, body: bytes, headers: dict[str, Any], *,
                kind: str = "accepted", correlation_id: str | None = None,
                message_id: str | None = None) -> None:
    channel.basic_publish(
        settings.amqp_prefix + "customs.decisions", f"decision.{kind}", body,
        pika.BasicProperties(headers=headers, content_type="application/json", delivery_mode=2,
                             correlation_id=correlation_id, message_id=message_id,
                             type="clearance.decision"),
        mandatory=True)


def publish_signed(channel: Any, settings: Settings, decision: ClearanceDecision,
                   key: Any = None) -> bytes:
    body = to_json_bytes(decision)
    key = key or load_signing_key(settings, "clearance")
    publish_raw(channel, settings, body, sign_body(key, body), kind=decision.kind,
                correlation_id=decision.conversation_id, message_id=decision.decision_id)
    return body


def notification_kinds(running: RunningGateway, conversation_id: str) -> list[str]:
    return [n.kind for n in running.gateway.journal.notifications(conversation_id)]


def take_parked(channel: Any, settings: Settings, count: int = 1,
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


def take_next(channel: Any, queue: str, timeout: float = 15.0) -> tuple[Any, Any, bytes]:
    """The next message on ``queue`` (acknowledged), waiting for it if need be."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        method, properties, body = channel.basic_get(queue, auto_ack=True)
        if method is not None:
            return method, properties, body
        time.sleep(0.02)
    pytest.fail(f"no message on {queue} within {timeout} s")


def header_text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
