"""Helpers of the payments (flow F2) integration tests: assessments, bank files, the queue.

The tests play clearance (signed ``duties_assessed`` decisions published with pika) and the
bank (camt.054 files from ``samples.camt054`` posted over HTTP as ``bank-demo``), against a
real gateway on SQLite or PostgreSQL and the real RabbitMQ.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pika
import pytest
from conftest import RunningGateway, start_gateway, wait_for
from decision_helpers import make_decision, publish_signed, submit_declaration

from gateway.flows.payments.ledger import Assessment
from gateway.settings import Settings
from samples.camt054 import build_camt054, sample_payments

XML = {"Content-Type": "application/xml"}
PAYMENTS_QUEUE = "clearance.payments"


@pytest.fixture(params=["sqlite", "postgresql"])
def journal_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """The test's settings on an SQLite journal, then on a PostgreSQL one (own schema)."""
    if request.param == "sqlite":
        return settings
    return settings.with_(db_url=request.getfixturevalue("postgres_url"))


@pytest.fixture
def payments_server(journal_settings: Settings, rabbitmq: str) -> Iterator[RunningGateway]:
    """The gateway (no stand-ins) on the parametrised journal, connected to RabbitMQ."""
    running = start_gateway(journal_settings)
    yield running
    running.stop()


@pytest.fixture
def channel(payments_server: RunningGateway) -> Iterator[Any]:
    connection = pika.BlockingConnection(pika.URLParameters(payments_server.settings.amqp_url))
    ch = connection.channel()
    ch.confirm_delivery()
    yield ch
    if connection.is_open:
        connection.close()


def assess(running: RunningGateway, channel: Any, token: str, reference: str, due: Decimal,
           currency: str = "EUR") -> tuple[str, str]:
    """A declaration of broker-alpha and clearance's signed duties_assessed decision for it;
    waits until the ledger holds the assessment. (conversation id, MRN)."""
    conversation_id = submit_declaration(running, token)
    decision = make_decision(conversation_id, "duties_assessed", total_duties=due,
                             currency=currency, payment_reference=reference)
    publish_signed(channel, running.settings, decision)
    ledger = running.gateway.journal.flow("payments")
    wait_for(lambda: ledger.look_up(reference))
    assert decision.mrn is not None
    return conversation_id, decision.mrn


def post(running: RunningGateway, token: str, body: bytes, **headers: str) -> httpx.Response:
    with running.client(token) as client:
        return client.post("/v1/messages", content=body, headers={**XML, **headers})


def camt_paying(reference: str, amount: Decimal, *, seed: int, message_id: str | None = None,
                currency: str = "EUR") -> bytes:
    """A one-payment camt.054.001.08 (the sample of ``seed``) paying ``amount`` to
    ``reference``; the same ``seed`` is the same bank transaction (same AcctSvcrRef)."""
    (sample,) = sample_payments(1, seed=seed, currency=currency)
    body = build_camt054("08", seed=seed, message_id=message_id, currency=currency).decode()
    body = body.replace(sample.reference, reference)
    body = re.sub(rf">{re.escape(str(sample.amount))}<", f">{amount}<", body)
    return body.encode()


def queue_messages(settings: Settings, count: int, timeout: float = 20.0
                   ) -> list[tuple[Any, bytes]]:
    """Take ``count`` messages off the clearance.payments queue (waiting for them)."""
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    got: list[tuple[Any, bytes]] = []
    try:
        ch = connection.channel()
        deadline = time.monotonic() + timeout
        while len(got) < count and time.monotonic() < deadline:
            method, properties, body = ch.basic_get(settings.amqp_prefix + PAYMENTS_QUEUE,
                                                    auto_ack=True)
            if method is None:
                time.sleep(0.05)
            else:
                got.append((properties, body))
    finally:
        connection.close()
    assert len(got) == count, f"{len(got)} message(s) on {PAYMENTS_QUEUE}, expected {count}"
    return got


def assessment(running: RunningGateway, reference: str) -> Assessment:
    found = running.gateway.journal.flow("payments").look_up(reference)
    assert found is not None
    return found


def new_reference() -> str:
    from gateway.identifiers import creditor_reference_for

    return creditor_reference_for(f"T{uuid.uuid4().int % 10**18:018d}")
