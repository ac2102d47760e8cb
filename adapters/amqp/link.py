"""The customs-to-customs link: our signed CD messages -> another administration's gateway.

The outbox relay publishes every CD message for another administration to our exchange
``customs.link`` (``movement.<type>.<country>``); the link of each peer (``config/link.toml``,
``gateway/administrations.py``) drains our queue ``link.to.<country>`` into the peer's incoming
exchange (``customs.incoming`` under the peer's prefix, on the peer's broker — another vhost or
another broker is just another URL), where the peer gateway's AMQP intake reads it
(``adapters/amqp/intake_consumer.py``). Its answers come back the same way, moved by *its*
link.

* **At least once**: a message is acknowledged on our side only after the peer's broker
  confirmed it (publisher confirm, ``mandatory``: a message nothing is bound to at the peer is
  not confirmed). A link that dies between the two delivers it again; the peer's intake
  de-duplicates on the message's own ``messageIdentification``, so it is journaled once.
* **In order**: one message at a time, in the queue's order. When a publish fails the link
  stops taking messages, drops both connections (everything unacknowledged goes back to our
  queue, in order) and reconnects with a growing back-off (0.5 s … ``max_backoff``).
* **Nothing is changed**: the body — the signed CD message, verified by the peer — is forwarded
  byte for byte with its ``message_id`` and ``type``; the link adds ``x-link-from`` (our
  country), ``x-link-routing-key`` and ``x-link-sent-at``, transport facts the peer uses only
  to know which link an unverifiable message came by.

A peer not ready (its exchange not declared yet) or unreachable is logged once per outage
(``link.unavailable``) and retried; ``link.connected`` says when it is back. A message still
undelivered after the queue's delivery limit (``link.toml``) is dead-lettered to our parking
queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Awaitable, Callable

import aio_pika
import structlog
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractExchange,
    AbstractIncomingMessage,
)

from adapters.amqp.topology import Names, connect
from gateway import metrics as m
from gateway.administrations import Peer
from gateway.metrics import Metrics

log = structlog.get_logger("gateway.link")


class CustomsLink:
    """One direction to one peer: our ``link.to.<country>`` -> the peer's incoming exchange."""

    def __init__(self, peer: Peer, *, amqp_url: str, names: Names, country: str,
                 metrics: Metrics, prefetch: int = 32, max_backoff: float = 10.0,
                 publish_timeout: float = 10.0,
                 prepare: Callable[[AbstractChannel], Awaitable[None]] | None = None) -> None:
        if peer.amqp_url is None:
            raise ValueError(f"the link to {peer.country} has no broker URL")
        self.peer = peer
        self._peer_url = peer.amqp_url
        self._url = amqp_url
        self._names = names
        self._country = country
        self._metrics = metrics
        self._prefetch = prefetch
        self._max_backoff = max_backoff
        self._publish_timeout = publish_timeout
        self._prepare = prepare
        self._lock = asyncio.Lock()
        self._connections: list[AbstractConnection] = []
        self._peer_exchange: AbstractExchange | None = None
        self._broken: BaseException | None = None
        self._outage = False
        self.connected = False
        self.forwarded = 0

    @property
    def target(self) -> str:
        return f"{self.peer.prefix}{self.peer.exchange}"

    async def run(self) -> None:
        backoff = 0.5
        while True:
            try:
                await self._session()
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a link keeps trying, whatever happened
                self._unavailable(exc, backoff)
            finally:
                self.connected = False
                await self._close()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff)

    async def stop(self) -> None:
        await self._close()

    def _unavailable(self, exc: BaseException, retry_in: float) -> None:
        error = f"{type(exc).__name__}: {exc}"
        if self._outage:                         # once per outage at warning, then debug
            log.debug("link.still_unavailable", peer=self.peer.country, error=error,
                      retry_in=retry_in)
            return
        self._outage = True
        log.warning("link.unavailable", peer=self.peer.country, target=self.target, error=error,
                    retry_in=retry_in, hint="messages for the peer wait in "
                                            f"{self._names(self.peer.queue)}")

    async def _close(self) -> None:
        connections, self._connections = self._connections, []
        for connection in connections:
            if not connection.is_closed:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(connection.close(), 5)

    async def _session(self) -> None:
        self._broken = None
        closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def opened(url: str, name: str) -> AbstractConnection:
            connection = await connect(url, name)
            self._connections.append(connection)
            connection.close_callbacks.add(lambda *_: closed.done() or closed.set_result(None))
            return connection

        peer = await opened(self._peer_url, f"gateway-link-{self._country}-to-{self.peer.country}")
        peer_channel = await peer.channel(publisher_confirms=True, on_return_raises=True)
        # passive: the peer declares its own exchange; not there yet = not ready
        self._peer_exchange = await peer_channel.get_exchange(self.target, ensure=True)
        own = await opened(self._url, f"gateway-link-{self._country}-from-queue")
        channel = await own.channel()
        if self._prepare is not None:
            await self._prepare(channel)
        await channel.set_qos(prefetch_count=self._prefetch)
        queue = await channel.get_queue(self._names(self.peer.queue), ensure=False)
        await queue.consume(self._forward)
        self.connected = True
        if self._outage:
            self._outage = False
        log.info("link.connected", peer=self.peer.country, queue=self._names(self.peer.queue),
                 target=self.target)
        await closed
        raise ConnectionError(f"a connection of the link closed"
                              f"{f' ({self._broken})' if self._broken else ''}")

    async def _forward(self, message: AbstractIncomingMessage) -> None:
        async with self._lock:                  # one at a time, in delivery order
            if self._broken is not None or self._peer_exchange is None:
                return                          # being dropped: it goes back to the queue
            try:
                await self._peer_exchange.publish(aio_pika.Message(
                    body=message.body, content_type=message.content_type,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    message_id=message.message_id, correlation_id=message.correlation_id,
                    type=message.type, app_id="customs-gateway-link",
                    headers={"x-link-from": self._country,
                             "x-link-routing-key": message.routing_key or "",
                             "x-link-sent-at": dt.datetime.now(dt.UTC).isoformat()}),
                    routing_key=f"from.{self._country.lower()}.{message.routing_key}",
                    mandatory=True, timeout=self._publish_timeout)
            except Exception as exc:  # noqa: BLE001 - not confirmed: not acknowledged
                self._broken = exc
                self._metrics.count(m.LINKED, peer=self.peer.country, outcome="failed")
                log.error("link.forward_failed", peer=self.peer.country,
                          message_id=message.message_id, error=f"{type(exc).__name__}: {exc}",
                          hint="reconnecting; the message goes back to the queue")
                asyncio.get_running_loop().create_task(self._close())
                return
            try:
                await message.ack()
            except Exception as exc:  # noqa: BLE001 - delivered, not acknowledged: again later
                self._broken = exc
                log.warning("link.ack_failed", peer=self.peer.country,
                            message_id=message.message_id, error=f"{type(exc).__name__}: {exc}",
                            hint="delivered again after reconnecting; the peer de-duplicates")
                asyncio.get_running_loop().create_task(self._close())
                return
            self.forwarded += 1
            self._metrics.count(m.LINKED, peer=self.peer.country, outcome="delivered")
            log.info("link.forwarded", peer=self.peer.country, message_id=message.message_id,
                     message_type=message.type, routing_key=message.routing_key)
