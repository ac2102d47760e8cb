"""Consume clearance decisions: verify, apply, and only then acknowledge.

* applied (or already applied): ``ack`` after the journal commit;
* bad or missing signature, unintelligible decision, unknown conversation: the original body
  and headers are copied to the parking exchange with the reason, then ``ack`` — a poison
  message never stalls the lane and is never applied;
* anything transient (journal unavailable …): ``nack`` with requeue after a back-off that
  grows with the delivery count; the quorum queue's ``x-delivery-limit`` dead-letters the
  message to the parking queue when retries are exhausted.

Decisions of one conversation are applied in the order they arrive (a lock per conversation)
while different conversations proceed concurrently (up to the prefetch count).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Awaitable, Callable

import aio_pika
import structlog
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractRobustConnection

from adapters.amqp.topology import Names, connect, header_text
from gateway import metrics as m
from gateway.decisions import DecisionService, InvalidDecision, UnknownConversation
from gateway.errors import SignatureInvalid
from gateway.metrics import Metrics

log = structlog.get_logger("gateway.decision_consumer")
PARK_NOW = (SignatureInvalid, InvalidDecision, UnknownConversation)


class DecisionConsumer:
    def __init__(self, service: DecisionService, *, amqp_url: str, names: Names, queue: str,
                 parking_exchange: str, metrics: Metrics, prefetch: int = 64,
                 on_applied: Callable[[], None] | None = None,
                 prepare: Callable[[AbstractChannel], Awaitable[None]] | None = None) -> None:
        self._service = service
        self._url = amqp_url
        self._names = names
        self._queue = queue
        self._parking = parking_exchange
        self._metrics = metrics
        self._prefetch = prefetch
        self._on_applied = on_applied
        self._prepare = prepare
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._waiting: defaultdict[str, int] = defaultdict(int)
        self._connection: AbstractRobustConnection | None = None
        self.connected = False

    async def run(self) -> None:
        backoff = 0.5
        while True:
            try:
                await self._consume()
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - reconnect whatever happened
                self.connected = False
                log.warning("decisions.consumer_error", error=f"{type(exc).__name__}: {exc}",
                            retry_in=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def stop(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()

    async def _consume(self) -> None:
        self._connection = await connect(self._url, "gateway-decisions")
        channel = await self._connection.channel(publisher_confirms=True)
        if self._prepare is not None:
            await self._prepare(channel)
        await channel.set_qos(prefetch_count=self._prefetch)
        queue = await channel.get_queue(self._names(self._queue), ensure=False)
        self._parking_exchange = await channel.get_exchange(self._names(self._parking),
                                                            ensure=False)
        await queue.consume(self._handle)
        self.connected = True
        log.info("decisions.consuming", queue=self._names(self._queue))
        closed = asyncio.get_running_loop().create_future()
        self._connection.close_callbacks.add(lambda *_: closed.done() or closed.set_result(None))
        await closed
        raise ConnectionError("connection to RabbitMQ closed")

    async def _handle(self, message: AbstractIncomingMessage) -> None:
        key = message.correlation_id or "-"
        self._waiting[key] += 1
        try:
            async with self._locks[key]:
                await self._apply(message)
        finally:
            self._waiting[key] -= 1
            if self._waiting[key] == 0:
                del self._waiting[key], self._locks[key]

    async def _apply(self, message: AbstractIncomingMessage) -> None:
        try:
            applied = await self._service.apply(message.body, dict(message.headers or {}))
        except PARK_NOW as exc:
            await self._park(message, exc.code, exc.message)
            await message.ack()
            return
        except Exception as exc:  # noqa: BLE001 - transient: retry via requeue + delivery limit
            count = int(header_text(message.headers or {}, "x-delivery-count") or 0)
            delay = min(0.5 * 2 ** count, 15.0)
            log.warning("decisions.retry", error=f"{type(exc).__name__}: {exc}",
                        delivery_count=count, retry_in=delay, message_id=message.message_id)
            await asyncio.sleep(delay)
            await message.nack(requeue=True)
            return
        await message.ack()
        if applied and self._on_applied is not None:
            self._on_applied()

    async def _park(self, message: AbstractIncomingMessage, code: str, reason: str) -> None:
        headers = dict(message.headers or {})
        headers.update({"x-gateway-reason": reason, "x-gateway-error-code": code,
                        "x-original-queue": self._names(self._queue)})
        await self._parking_exchange.publish(
            aio_pika.Message(body=message.body, headers=headers,
                             content_type=message.content_type,
                             delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                             message_id=message.message_id,
                             correlation_id=message.correlation_id, type=message.type),
            routing_key=f"decision.{code}", mandatory=True)
        self._metrics.count(m.PARKED, reason=code)
        log.error("decisions.parked", code=code, reason=reason, message_id=message.message_id,
                  conversation_id=message.correlation_id)
