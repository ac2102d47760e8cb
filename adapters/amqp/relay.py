"""The outbox relay: journaled messages -> RabbitMQ, with publisher confirms and ``mandatory``.

Loop: claim a batch of pending outbox rows (leased, so several gateway processes never
publish the same row at once), publish them all (confirms awaited together, never blocking
the event loop per message), then settle the batch in one journal write: confirmed rows are
marked sent; a message the broker could not route (``basic.return``) is copied to the
parking exchange with the reason and marked parked; anything else is retried with back-off.
After a restart or while RabbitMQ is down nothing is lost: unsent rows stay in the journal
and the next claim picks them up.

**Publishing is at least once.** A relay that dies after the broker confirmed a batch and
before the rows were marked sent leaves them leased; once the lease runs out another relay
(another instance, or the restarted messaging process) claims and publishes them again, with
the same ``message_id``. Consumers de-duplicate on ``message_id`` (the clearance stand-in
does, persistently; the gateway's decision consumer on the decision id). Such a takeover is
logged at ``info`` (``relay.takeover``: rows, previous owner).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aio_pika
import aiormq
import structlog
from aio_pika.abc import AbstractChannel, AbstractConnection

from adapters.amqp.topology import Names, connect
from gateway import metrics as m
from gateway.metrics import Metrics
from gateway.ports import Outbox, OutboxRow

log = structlog.get_logger("gateway.relay")


class OutboxRelay:
    def __init__(self, outbox: Outbox, *, amqp_url: str, names: Names, parking_exchange: str,
                 owner: str, metrics: Metrics, batch: int = 256, lease_seconds: float = 10.0,
                 idle_poll: float = 1.0,
                 prepare: Callable[[AbstractChannel], Awaitable[None]] | None = None) -> None:
        self._outbox = outbox
        self._url = amqp_url
        self._names = names
        self._parking = parking_exchange
        self._owner = owner
        self._metrics = metrics
        self._batch = batch
        self._lease = lease_seconds
        self._idle_poll = idle_poll
        self._prepare = prepare
        self._wake = asyncio.Event()
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._stopping = False
        self.connected = False

    def wake(self) -> None:
        """Called after a commit that added outbox rows: publish now, not at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        backoff = 0.2
        while not self._stopping:
            try:
                channel = await self._ensure_channel()
                published = await self._cycle(channel)
                backoff = 0.2
                if not published:
                    await self._idle()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep relaying whatever happens
                self.connected = False
                log.warning("relay.error", error=f"{type(exc).__name__}: {exc}", retry_in=backoff)
                await self._close()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        await self._close()

    async def _close(self) -> None:
        """Drop the channel and the connection; the next cycle connects afresh."""
        await self._drop_channel()
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), 5)

    async def _idle(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self._idle_poll)
        self._wake.clear()

    async def _cycle(self, channel: AbstractChannel) -> int:
        rows = await self._outbox.claim(self._owner, self._batch, self._lease)
        if not rows:
            return 0
        self._log_takeovers(rows)
        started = time.perf_counter()
        results = await asyncio.gather(*(self._publish(channel, r) for r in rows),
                                       return_exceptions=True)
        sent: list[int] = []
        failed: dict[int, str] = {}
        parked: dict[int, str] = {}
        for row, result in zip(rows, results, strict=True):
            if result is True:
                sent.append(row.seq)
                self._metrics.count(m.PUBLISHED, kind=row.message.kind,
                                    message_type=row.message.headers.get("x-source-format", ""))
            elif isinstance(result, str):
                parked[row.seq] = result
            else:
                failed[row.seq] = f"{type(result).__name__}: {result}"
        await self._outbox.settle(sent, failed, parked)
        log.debug("relay.batch", sent=len(sent), failed=len(failed), parked=len(parked),
                  seconds=round(time.perf_counter() - started, 4))
        if failed:
            raise ConnectionError(f"{len(failed)} publish(es) failed; first: "
                                  f"{next(iter(failed.values()))}")
        return len(rows)

    def _log_takeovers(self, rows: list[OutboxRow]) -> None:
        """Rows whose lease ran out while another owner held them: it may have published."""
        taken: dict[str, list[OutboxRow]] = {}
        for row in rows:
            if row.previous_owner is not None and row.previous_owner != self._owner:
                taken.setdefault(row.previous_owner, []).append(row)
        for previous, batch in taken.items():
            log.info("relay.takeover", rows=len(batch), previous_owner=previous,
                     owner=self._owner, first_seq=batch[0].seq, last_seq=batch[-1].seq,
                     hint="republished at least once: consumers de-duplicate on message_id")

    async def _publish(self, channel: AbstractChannel, row: OutboxRow) -> bool | str:
        """True when confirmed; a reason string when unroutable (then parked)."""
        message = row.message
        result = await _publish(channel, self._names(message.exchange), message.routing_key,
                                _amqp_message(row))
        if isinstance(result, aiormq.abc.DeliveredMessage):     # basic.return: nobody bound
            reason = (f"unroutable: no queue bound to {message.exchange!r} for routing key "
                      f"{message.routing_key!r}")
            await self._park_copy(channel, row, reason)
            self._metrics.count(m.PARKED, reason="unroutable")
            log.error("relay.unroutable", outbox_id=message.id, exchange=message.exchange,
                      routing_key=message.routing_key, conversation_id=message.conversation_id)
            return reason
        return True

    async def _park_copy(self, channel: AbstractChannel, row: OutboxRow, reason: str) -> None:
        copy = _amqp_message(row, extra={
            "x-gateway-reason": reason, "x-original-exchange": self._names(row.message.exchange),
            "x-original-routing-key": row.message.routing_key})
        await _publish(channel, self._names(self._parking), f"unroutable.{row.message.kind}", copy)

    async def _ensure_channel(self) -> AbstractChannel:
        if self._channel is not None and not self._channel.is_closed:
            return self._channel
        if self._connection is None or self._connection.is_closed:
            self._connection = await connect(self._url, f"gateway-relay-{self._owner}")
        channel = await self._connection.channel(publisher_confirms=True,
                                                 on_return_raises=False)
        if self._prepare is not None:      # (re)declare the topology: RabbitMQ may be new
            await self._prepare(channel)
        self._channel = channel
        self.connected = True
        log.info("relay.connected")
        return self._channel

    async def _drop_channel(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None and not channel.is_closed:
            with contextlib.suppress(Exception):
                await channel.close()


async def _publish(channel: AbstractChannel, exchange: str, routing_key: str,
                   message: aio_pika.Message) -> Any:
    """Publish with ``mandatory`` and await the broker's confirm (or its return).

    Straight on the underlying aiormq channel with ``wait=False``: the frame is queued for
    writing without waiting, inside the channel's lock, for the write to happen. Otherwise each
    publish of a batch holds the lock across one event-loop turn, publishes go one per turn,
    and under HTTP load the relay stalls for seconds.
    """
    underlay = await channel.get_underlay_channel()
    return await underlay.basic_publish(
        message.body, exchange=exchange, routing_key=routing_key,
        properties=message.properties, mandatory=True, timeout=5, wait=False)


def _amqp_message(row: OutboxRow, extra: dict[str, str] | None = None) -> aio_pika.Message:
    message = row.message
    return aio_pika.Message(
        body=message.body,
        headers={**message.headers, **(extra or {})},
        content_type=message.content_type,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=message.id,
        correlation_id=message.conversation_id,
        type=message.kind,
        app_id="customs-gateway",
    )
