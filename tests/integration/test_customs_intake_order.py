"""The AMQP intake when the journal cannot take a message: nothing lost, nothing overtaken.

The consumer (adapters/amqp/intake_consumer.py) runs alone on the real RabbitMQ with a stand-in
for the intake service whose journal fails a given number of times (a retryable
``ServiceUnavailable``, as a full disk or a lost PostgreSQL would). The message is retried in
place, then handed back to the queue with everything behind it; once the journal takes it, the
next message follows — never before.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field

import pika
from conftest import wait_for

from adapters.amqp.intake_consumer import CustomsIntakeConsumer
from adapters.amqp.topology import Names, connect, declare
from adapters.bootstrap import load_topology
from adapters.observability import PrometheusMetrics
from gateway.administrations import LinkConfig
from gateway.errors import ServiceUnavailable
from gateway.pipeline.exchange import Exchange
from gateway.pipeline.intake import Answer
from gateway.settings import Settings
from tests.support.loop_thread import LoopRunner


@dataclass
class FlakyIntake:
    """Refuses the first ``failures`` submissions as the journal being down, then accepts."""

    failures: int
    calls: list[bytes] = field(default_factory=list)
    accepted: list[bytes] = field(default_factory=list)

    async def submit(self, ex: Exchange) -> Answer:
        self.calls.append(ex.body)
        assert (ex.channel, ex.identity) == ("amqp", "signature")
        if len(self.calls) <= self.failures:
            error = ServiceUnavailable("the journal is unavailable (test)")
            return Answer(503, False, b"<gw:Rejection/>", {}, error=error)
        self.accepted.append(ex.body)
        return Answer(202, True, b"<gw:Receipt/>", {}, conversation_id="c-1")


def _declare(settings: Settings) -> None:
    async def run() -> None:
        connection = await connect(settings.amqp_url, "test-declare")
        async with connection:
            await declare(await connection.channel(), load_topology(settings),
                          Names(settings.amqp_prefix))
    asyncio.run(run())


def _count(settings: Settings, queue: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    try:
        declared = connection.channel().queue_declare(settings.amqp_prefix + queue, passive=True)
        return int(declared.method.message_count)
    finally:
        connection.close()


def test_customs_intake_retries_a_retryable_failure_and_keeps_the_order(
        settings: Settings, rabbitmq: str) -> None:
    """The journal refuses the first message four times: it is retried, given back to the
    queue with the one behind it, and taken once the journal works — then the second, in that
    order; neither is parked nor lost."""
    _declare(settings)
    intake = FlakyIntake(failures=4)
    consumer = CustomsIntakeConsumer(
        intake, amqp_url=settings.amqp_url, names=Names(settings.amqp_prefix),  # type: ignore[arg-type]
        link=LinkConfig(), parking_exchange="gateway.parking", metrics=PrometheusMetrics(),
        attempts_per_delivery=2, base_delay=0.05)
    first, second = (f"<m id='{uuid.uuid4().hex}'/>".encode() for _ in range(2))
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    channel = connection.channel()
    channel.confirm_delivery()
    for body in (first, second):
        channel.basic_publish(settings.amqp_prefix + "customs.incoming", "from.rs.movement",
                              body, pika.BasicProperties(delivery_mode=2), mandatory=True)
    connection.close()
    runner = LoopRunner(consumer).start()
    try:
        wait_for(lambda: len(intake.accepted) == 2, timeout=30)
    finally:
        runner.stop()
    assert intake.accepted == [first, second]
    assert intake.calls[:4] == [first] * 4           # the second waited behind the first
    assert _count(settings, "gateway.customs-incoming") == 0
    assert _count(settings, "gateway.parking") == 0
