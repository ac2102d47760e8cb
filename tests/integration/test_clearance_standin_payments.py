"""The clearance stand-in against the real RabbitMQ: a release that waits for payment (flow F2).

The stand-in runs alone (its own event loop in a thread) on the test's prefix; the test plays
the gateway — it publishes signed canonical declarations and payment messages to
``customs.clearance`` with pika — and reads the decisions the stand-in publishes from a queue
of its own bound to ``customs.decisions``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pika
import pytest
from conftest import wait_for
from decision_helpers import take_parked
from lxml import etree

from adapters.amqp.topology import Names, declare
from adapters.bootstrap import load_formats, load_signing_key
from adapters.standins.clearance import ClearanceStandIn
from adapters.standins.clearance_ledger import ClearanceLedger
from adapters.standins.clearance_rules import ClearanceRules
from gateway.bus_topology import Topology
from gateway.canonical.model import to_json_bytes
from gateway.canonical.payment import Amount, PaymentConfirmation, PaymentNotification
from gateway.canonical.payment_event import PaymentEvent
from gateway.settings import Settings
from gateway.signing.detached import sign_body, verify_body
from gateway.signing.keys import SigningKey, TrustStore
from samples.wco import build_dec

pytestmark = pytest.mark.integration


class StandIn:
    """The stand-in running in a thread; ``decisions`` reads what it published."""

    def __init__(self, settings: Settings, ledger_file: Path, **options: Any) -> None:
        self.settings = settings
        self.names = Names(settings.amqp_prefix)
        topology = Topology.load(settings.config_dir / "topology.toml")
        self.gateway_key = load_signing_key(settings, "gateway")
        trust = TrustStore()
        trust.add("gateway", self.gateway_key.certificate)
        self.ledger = ClearanceLedger(ledger_file)
        self.standin = ClearanceStandIn(
            amqp_url=settings.amqp_url, names=self.names, queue=topology.clearance_queue,
            decisions_exchange="customs.decisions", parking_exchange=topology.parking_exchange,
            key=load_signing_key(settings, "clearance"), trust=trust,
            rules=ClearanceRules.load(settings.config_dir / "standins" / "clearance.toml"),
            ledger=self.ledger, payments_queue="clearance.payments", **options)
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self._declare(topology))
        self.task = self.loop.create_task(self.standin.run())
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
        self.channel = self.connection.channel()
        self.channel.confirm_delivery()
        self.capture = self.names("test.decisions")
        self.channel.queue_declare(self.capture, auto_delete=True)
        self.channel.queue_bind(self.capture, self.names("customs.decisions"), "decision.#")
        self.thread.start()

    async def _declare(self, topology: Topology) -> None:
        import aio_pika

        connection = await aio_pika.connect(self.settings.amqp_url)
        async with connection:
            await declare(await connection.channel(), topology, self.names)

    def stop(self) -> None:
        async def halt() -> None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            await self.standin.stop()

        asyncio.run_coroutine_threadsafe(halt(), self.loop).result(15)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(15)
        self.loop.close()
        self.channel.queue_delete(self.capture)   # auto_delete never fires without a consumer
        self.connection.close()

    def publish(self, routing_key: str, body: bytes, *, message_id: str | None = None,
                key: SigningKey | None = None, **headers: str) -> str:
        message_id = message_id or uuid.uuid4().hex
        self.channel.basic_publish(
            self.names("customs.clearance"), routing_key, body,
            pika.BasicProperties(message_id=message_id, delivery_mode=2,
                                 headers={**headers, **sign_body(key or self.gateway_key, body)}),
            mandatory=True)
        return message_id

    def decisions(self, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        clearance = TrustStore()
        clearance.add("clearance", load_signing_key(self.settings, "clearance").certificate)
        while len(got) < count and time.monotonic() < deadline:
            method, properties, body = self.channel.basic_get(self.capture, auto_ack=True)
            if method is None:
                time.sleep(0.02)
                continue
            verify_body(clearance, body, properties.headers, owner="clearance")
            got.append(json.loads(body))
        assert len(got) == count, f"{len(got)} decision(s), expected {count}"
        return got

    def quiet(self, seconds: float = 1.5) -> None:
        """Nothing more is published for ``seconds``."""
        time.sleep(seconds)
        method, _, body = self.channel.basic_get(self.capture, auto_ack=True)
        assert method is None, f"unexpected decision {body!r}"


@pytest.fixture
def standin(settings: Settings, rabbitmq: str, tmp_path: Path) -> Iterator[StandIn]:
    running = StandIn(settings, tmp_path / "clearance.db")
    yield running
    running.stop()


def declaration(settings: Settings, *, deferment: str | None) -> bytes:
    """The canonical JSON of a 2-item green-channel WCO declaration, as the gateway sends it."""
    registry, mappings, kinds = load_formats(settings)
    root = etree.fromstring(build_dec(2, lrn=f"LRN-{uuid.uuid4().hex[:8]}", deferment=deferment))
    message_type = registry.identify(root).message_type
    return to_json_bytes(kinds.get("declaration").build(
        mappings[message_type.mapping_file].apply(root)))


def submit(standin: StandIn, *, deferment: str | None) -> tuple[str, str]:
    conversation_id, message_id = uuid.uuid4().hex, uuid.uuid4().hex
    standin.publish("declaration.import.MK001005", declaration(standin.settings,
                                                                deferment=deferment),
                    message_id=message_id, **{"x-conversation-id": conversation_id,
                                              "x-receipt-id": "rcp-1"})
    return conversation_id, message_id


def payment_event(duties: dict[str, Any], paid: str, status: str) -> bytes:
    due = Decimal(duties["total_duties"])
    return to_json_bytes(PaymentEvent(
        event_id=uuid.uuid4().hex, payment_id=uuid.uuid4().hex,
        reference=duties["payment_reference"], mrn=duties["mrn"],
        conversation_id=duties["conversation_id"], amount=Decimal(paid), currency="MKD",
        status=status, amount_due=due, paid=Decimal(paid), outstanding=due - Decimal(paid),
        bank="bank-demo", bank_reference=f"tx:{uuid.uuid4().hex}"))


def test_standin_releases_a_declaration_once_its_duties_are_paid(standin: StandIn) -> None:
    """No deferment account: accepted, control, duties — no release; a partial payment
    releases nothing; the payment completing it releases it once (the id a release at once
    has), also when that event comes again; the file itself is only noted."""
    conversation_id, message_id = submit(standin, deferment=None)
    decided = standin.decisions(3)
    assert [d["kind"] for d in decided] == ["accepted", "control", "duties_assessed"]
    duties = decided[2]
    assert standin.ledger.pending(conversation_id) is not None
    half = (Decimal(duties["total_duties"]) / 2).quantize(Decimal("0.01"))

    standin.publish("payment.confirmed.x", payment_event(duties, str(half), "partly_paid"),
                    **{"x-canonical-kind": "payment"})
    standin.quiet()
    paid = payment_event(duties, duties["total_duties"], "paid")
    event_id = standin.publish("payment.confirmed.x", paid, **{"x-canonical-kind": "payment"})
    (released,) = standin.decisions(1)
    assert (released["kind"], released["conversation_id"], released["mrn"]) == \
        ("released", conversation_id, duties["mrn"])
    assert released["decision_id"] == \
        hashlib.sha256(f"{message_id}:released".encode()).hexdigest()[:32]
    wait_for(lambda: standin.ledger.release_state(conversation_id) == "released")

    standin.publish("payment.confirmed.x", paid, message_id=event_id,
                    **{"x-canonical-kind": "payment"})                    # republished
    standin.publish("payment.confirmed.x", payment_event(duties, "9.99", "overpaid"),
                    **{"x-canonical-kind": "payment"})                    # after the release
    tx = PaymentConfirmation(amount=Amount(Decimal("9.99"), "MKD"), credit_debit="CRDT")
    standin.publish("payment.notification.x", to_json_bytes(PaymentNotification(
        message_id="CAMT-1", transactions=[tx])), **{"x-canonical-kind": "payment_notification"})
    standin.quiet()
    assert standin.standin.released_after_payment == 1
    assert standin.standin.duplicates == 1


def test_standin_releases_a_deferred_declaration_at_once(standin: StandIn) -> None:
    """A deferment account (WCO 2/6, DAN): released with the other decisions, nothing waits."""
    conversation_id, _ = submit(standin, deferment="7100042")
    assert [d["kind"] for d in standin.decisions(4)] == \
        ["accepted", "control", "duties_assessed", "released"]
    assert standin.ledger.pending(conversation_id) is None


def test_standin_parks_payment_messages_it_cannot_trust_or_understand(
        standin: StandIn, settings: Settings) -> None:
    """A payment event signed by another key, and one for the waiting declaration naming
    another reference, are parked with the reason; the declaration is not released."""
    conversation_id, _ = submit(standin, deferment=None)
    duties = standin.decisions(3)[2]
    paid = payment_event(duties, duties["total_duties"], "paid")
    standin.publish("payment.confirmed.x", paid, key=load_signing_key(settings, "clearance"),
                    **{"x-canonical-kind": "payment"})
    other = json.loads(paid)
    other["reference"] = "RF71539007547035"
    standin.publish("payment.confirmed.x", json.dumps(other).encode(),
                    **{"x-canonical-kind": "payment"})
    parked = take_parked(standin.channel, settings, 2)
    reasons = [p.headers["x-gateway-reason"] for p, _ in parked]
    assert "not in the trust store" in reasons[0], reasons[0]
    assert "RF71539007547035" in reasons[1]
    standin.quiet(0.5)
    assert standin.ledger.pending(conversation_id) is not None
