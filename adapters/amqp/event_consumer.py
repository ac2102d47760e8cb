"""Consume events from internal systems: verify, apply once, and only then acknowledge.

One consumer per configured queue (``config/events.toml``) hands each message to the core's
``EventService`` (``gateway/events/service.py``) as an ``Event`` — its ``message_id`` (the SHA-256
of the body when a publisher set none), its ``type`` property (else the consumer's default
event type), body, headers and correlation id:

* applied, or processed before (a redelivery or a republished copy): ``ack`` after the journal
  commit — the de-duplication mark is in the same transaction as the work;
* an error that says it is not retryable (bad or missing signature, unknown event type,
  unintelligible body, unknown conversation …): the original body and headers are copied to the
  parking exchange with the reason and the error code, then ``ack`` — a poison message never
  stalls the lane and is never applied;
* anything else (journal unavailable …): retried in place with a growing back-off
  (``attempts_per_delivery``), then ``nack`` with requeue; the quorum queue's
  ``x-delivery-limit`` dead-letters the message to the parking queue when those retries are
  exhausted too.

Events of one conversation (correlation id) are applied in the order they arrive (a lock per
conversation) while different conversations proceed concurrently (up to the prefetch count).
While one event is retried its successors wait; if it goes back to the queue they follow it
there, so a later event never overtakes an earlier one.

Connections are plain (not auto-reconnecting): this loop reconnects with back-off itself, so
there is exactly one connection at a time and shutdown is never stuck in a reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import aio_pika
import structlog
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage

from adapters.amqp.topology import Names, connect, header_text
from gateway import metrics as m
from gateway.errors import GatewayError
from gateway.events.service import Event, EventService
from gateway.metrics import Metrics

log = structlog.get_logger("gateway.event_consumer")


class EventConsumer:
    def __init__(self, service: EventService, *, amqp_url: str, names: Names, queue: str,
                 parking_exchange: str, metrics: Metrics, prefetch: int = 64,
                 default_event_type: str | None = None,
                 on_applied: Callable[[], None] | None = None,
                 prepare: Callable[[AbstractChannel], Awaitable[None]] | None = None,
                 attempts_per_delivery: int = 3, base_delay: float = 0.5) -> None:
        self._service = service
        self._default_type = default_event_type
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
        self._requeued: set[str] = set()
        self._attempts = attempts_per_delivery
        self._base_delay = base_delay
        self._connection: AbstractConnection | None = None
        self.connected = False

    @property
    def queue(self) -> str:
        """The logical name of the queue this consumer reads (``config/events.toml``)."""
        return self._queue

    async def run(self) -> None:
        backoff = 0.5
        while True:
            try:
                await self._consume()
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - reconnect whatever happened
                log.warning("events.consumer_error", error=f"{type(exc).__name__}: {exc}",
                            retry_in=backoff)
            finally:
                self.connected = False
                await self._close()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)

    async def stop(self) -> None:
        await self._close()

    async def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), 5)

    async def _consume(self) -> None:
        self._connection = connection = await connect(self._url, f"gateway-events-{self._queue}")
        closed = asyncio.get_running_loop().create_future()
        connection.close_callbacks.add(lambda *_: closed.done() or closed.set_result(None))
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        if self._prepare is not None:
            await self._prepare(channel)
        await channel.set_qos(prefetch_count=self._prefetch)
        queue = await channel.get_queue(self._names(self._queue), ensure=False)
        self._parking_exchange = await channel.get_exchange(self._names(self._parking),
                                                            ensure=False)
        await queue.consume(self._handle)
        self.connected = True
        log.info("events.consuming", queue=self._names(self._queue))
        await closed
        raise ConnectionError("connection to RabbitMQ closed")

    async def _handle(self, message: AbstractIncomingMessage) -> None:
        key = message.correlation_id or "-"
        self._waiting[key] += 1
        try:
            async with self._locks[key]:
                if key in self._requeued:
                    # an earlier event of this conversation went back to the queue: so do
                    # the later ones, so that none overtakes it
                    await message.nack(requeue=True)
                    return
                # every line about this event carries its message and conversation ids
                with structlog.contextvars.bound_contextvars(
                        message_id=message.message_id, conversation_id=message.correlation_id):
                    await self._apply(message, key)
        finally:
            self._waiting[key] -= 1
            if self._waiting[key] == 0:
                del self._waiting[key], self._locks[key]
                self._requeued.discard(key)

    def _event(self, message: AbstractIncomingMessage, headers: dict[str, Any]) -> Event:
        body = bytes(message.body)
        return Event(message_id=message.message_id or hashlib.sha256(body).hexdigest(),
                     event_type=message.type or self._default_type or "", body=body,
                     headers=headers, conversation_id=message.correlation_id)

    async def _apply(self, message: AbstractIncomingMessage, key: str) -> None:
        headers = dict(message.headers or {})
        for attempt in range(1, self._attempts + 1):
            try:
                result = await self._service.handle(self._event(message, headers))
            except Exception as exc:  # noqa: BLE001 - the error says whether to retry
                if isinstance(exc, GatewayError) and not exc.retryable:
                    await self._park_and_ack(message, exc)
                    return
                delay = min(self._base_delay * 2 ** (attempt - 1), 15.0)
                log.warning("events.retry", error=f"{type(exc).__name__}: {exc}",
                            attempt=attempt, retry_in=delay, message_id=message.message_id,
                            conversation_id=message.correlation_id,
                            delivery_count=header_text(headers, "x-delivery-count"))
                await asyncio.sleep(delay)
                continue
            await message.ack()
            if result.applied and self._on_applied is not None:
                self._on_applied()
            return
        # Still failing: back to the queue (the delivery limit parks it eventually).
        self._requeued.add(key)
        await message.nack(requeue=True)

    async def _park_and_ack(self, message: AbstractIncomingMessage, exc: GatewayError) -> None:
        try:
            await self._park(message, exc.code, exc.message)
        except Exception as park_error:  # noqa: BLE001 - keep it rather than lose it
            log.error("events.park_failed", error=f"{type(park_error).__name__}: {park_error}",
                      message_id=message.message_id, conversation_id=message.correlation_id)
            await asyncio.sleep(self._base_delay)
            await message.nack(requeue=True)
            return
        await message.ack()

    async def _park(self, message: AbstractIncomingMessage, code: str, reason: str) -> None:
        headers = dict(message.headers or {})
        headers.update({"x-gateway-reason": reason, "x-gateway-error-code": code,
                        "x-original-queue": self._names(self._queue)})
        # mandatory + on_return_raises: if nothing keeps the copy, this raises and the
        # event is not acknowledged (it is retried, then dead-lettered)
        await self._parking_exchange.publish(
            aio_pika.Message(body=message.body, headers=headers,
                             content_type=message.content_type,
                             delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                             message_id=message.message_id,
                             correlation_id=message.correlation_id, type=message.type),
            routing_key=f"event.{code}", mandatory=True)
        self._metrics.count(m.PARKED, reason=code)
        log.error("events.parked", code=code, reason=reason, message_id=message.message_id,
                  conversation_id=message.correlation_id)
