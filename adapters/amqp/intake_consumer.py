"""The AMQP intake: CD messages from other customs administrations enter the same pipeline.

Other administrations' links (``adapters/amqp/link.py``, run by *their* gateways) publish their
signed CD messages to our ``customs.incoming`` exchange; this consumer reads
``gateway.customs-incoming`` and hands each message body to ``IntakeService.submit`` as an
``Exchange`` of channel ``amqp`` whose identity is the document's signature (no token: the
partner is whoever's certificate verifies the enveloped XML-DSig, ``gateway/pipeline/
identity.py``). So every check a broker's message gets — hardened parsing, the registry, the
partner's allowed message types, the schema, the mapping, the rules, idempotency on the
message's own ``messageIdentification``, journal and outbox in one transaction — a
neighbouring administration's message gets too.

* **accepted**, or a repeat of a message already journaled (a redelivery, or the link
  delivering twice — it is at least once): ``ack`` after the journal commit;
* **refused** (bad or unknown signature, an administration not in the trust store, a message
  type it may not send, a schema or rule error …): the answer the message type's format gives
  (``CD917C``/``CD906C`` once the NCTS answer formats are registered) goes back over the link
  to the administration — the verified signer, else the one whose link delivered it
  (``x-link-from``, when that is a configured peer; nobody is answered at an address a message
  merely claims) — and the original is parked with the reason, then ``ack``. **Never a NACK to
  a NACK**: a refused NACK (``CD906C``, ``CD917C`` …) is parked unanswered, and an answer that
  is not an NCTS NACK (our own ``gw:Rejection``, which no administration takes) is not sent;
* **the journal cannot take it** (an error that says it is retryable): retried in place with a
  growing back-off; still failing, the connection is dropped so that every unacknowledged
  message goes back to the queue in order, and the consumer reconnects later.

Messages are processed one at a time, in the order the queue delivers them: a CD018C must not
overtake the CD006C before it. Connections are plain; this loop reconnects with back-off.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import aio_pika
import structlog
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage
from lxml import etree

from adapters.amqp.topology import Names, connect, header_text
from gateway import metrics as m
from gateway.administrations import INCOMING_QUEUE, LINK_EXCHANGE, LinkConfig, link_routing_key
from gateway.canonical.movement import NACKS
from gateway.errors import GatewayError
from gateway.metrics import Metrics
from gateway.partners import SIGNATURE
from gateway.pipeline.exchange import Exchange
from gateway.pipeline.intake import Answer, IntakeService
from gateway.xml.safe_parser import XmlLimits, parse_untrusted

log = structlog.get_logger("gateway.customs_intake")
CHANNEL = "amqp"
LINK_FROM = "x-link-from"              # set by the sending administration's link: its country
GW_REJECTION = "{urn:customs-gateway:v1}Rejection"


class CustomsIntakeConsumer:
    def __init__(self, intake: IntakeService, *, amqp_url: str, names: Names, link: LinkConfig,
                 parking_exchange: str, metrics: Metrics, queue: str = INCOMING_QUEUE,
                 prefetch: int = 16, attempts_per_delivery: int = 3, base_delay: float = 0.5,
                 prepare: Callable[[AbstractChannel], Awaitable[None]] | None = None) -> None:
        self._intake = intake
        self._url = amqp_url
        self._names = names
        self._link = link
        self._parking = parking_exchange
        self._metrics = metrics
        self._queue = queue
        self._prefetch = prefetch
        self._attempts = attempts_per_delivery
        self._base_delay = base_delay
        self._prepare = prepare
        self._lock = asyncio.Lock()
        self._broken: BaseException | None = None
        self._connection: AbstractConnection | None = None
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
                log.warning("customs_intake.consumer_error", error=f"{type(exc).__name__}: {exc}",
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
        self._broken = None
        self._connection = connection = await connect(self._url,
                                                      f"gateway-customs-intake-{self._queue}")
        closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        connection.close_callbacks.add(lambda *_: closed.done() or closed.set_result(None))
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        if self._prepare is not None:
            await self._prepare(channel)
        await channel.set_qos(prefetch_count=self._prefetch)
        self._channel = channel
        queue = await channel.get_queue(self._names(self._queue), ensure=False)
        self._link_exchange = await channel.get_exchange(self._names(LINK_EXCHANGE),
                                                         ensure=False)
        self._parking_exchange = await channel.get_exchange(self._names(self._parking),
                                                            ensure=False)
        await queue.consume(self._handle)
        self.connected = True
        log.info("customs_intake.consuming", queue=self._names(self._queue))
        await closed
        raise ConnectionError(f"connection to RabbitMQ closed"
                              f"{f' ({self._broken})' if self._broken else ''}")

    async def _handle(self, message: AbstractIncomingMessage) -> None:
        # one at a time, in delivery order (asyncio.Lock wakes its waiters first come first)
        async with self._lock:
            if self._broken is not None:
                return            # the connection is being dropped: it goes back to the queue
            with structlog.contextvars.bound_contextvars(
                    amqp_message_id=message.message_id,
                    link_from=header_text(message.headers or {}, LINK_FROM)):
                try:
                    await self._process(message)
                except Exception as exc:  # noqa: BLE001 - drop the connection, keep the order
                    self._broken = exc
                    log.error("customs_intake.giving_back", error=f"{type(exc).__name__}: {exc}",
                              hint="unacknowledged messages return to the queue in order")
                    if self._connection is not None:
                        asyncio.get_running_loop().create_task(self._close())

    async def _process(self, message: AbstractIncomingMessage) -> None:
        body = bytes(message.body)
        for attempt in range(1, self._attempts + 1):
            ex = Exchange(body=body, channel=CHANNEL, identity=SIGNATURE)
            answer = await self._intake.submit(ex)
            if answer.accepted:
                await message.ack()
                log.info("customs_intake.accepted", duplicate=answer.duplicate,
                         conversation_id=answer.conversation_id,
                         partner=ex.partner.id if ex.partner else None,
                         message_type=ex.message_type.id if ex.message_type else None)
                return
            if answer.error is None or not answer.error.retryable:
                await self._refuse(message, ex, answer)
                return
            delay = min(self._base_delay * 2 ** (attempt - 1), 15.0)
            log.warning("customs_intake.retry", code=answer.error.code, attempt=attempt,
                        retry_in=delay)
            await asyncio.sleep(delay)
        raise ConnectionError("the journal keeps refusing the message (retryable)")

    async def _refuse(self, message: AbstractIncomingMessage, ex: Exchange,
                      answer: Answer) -> None:
        """Answer the administration over the link (unless it was a NACK), park, ack."""
        error = answer.error or GatewayError("refused")
        headers = dict(message.headers or {})
        country, why_not = self._answer_to(ex, headers)
        answered = None
        document = _root(answer.document)
        answer_type = etree.QName(document).localname if document is not None else ""
        refused_type = _refused_type(ex)
        if refused_type in NACKS or refused_type == GW_REJECTION:
            why_not = f"never a NACK to a NACK ({etree.QName(refused_type).localname})"
        elif answer_type not in NACKS:
            why_not = (f"its answer format gives {answer_type or 'nothing'}, not an NCTS NACK "
                       "an administration takes")
        elif country is not None:
            answered = await self._send_answer(message, answer.document, answer_type, country,
                                               error)
            if answered is None:
                why_not = f"the answer to {country} could not be routed"
        await self._park(message, headers, error, answered or f"not answered: {why_not}")
        await message.ack()
        self._metrics.count(m.PARKED, reason=error.code)
        log.error("customs_intake.refused", code=error.code, reason=error.message,
                  answered=answered, not_answered=None if answered else why_not,
                  partner=ex.partner.id if ex.partner else None,
                  message_type=ex.message_type.id if ex.message_type else None)

    def _answer_to(self, ex: Exchange, headers: dict[str, Any]) -> tuple[str | None, str]:
        """The country to answer: the verified signer's, else that of the link it came by."""
        if ex.partner is not None:
            peer = self._link.peer_of_partner(ex.partner.id)
            if peer is not None:
                return peer.country, ""
            return None, f"partner {ex.partner.id!r} is not a link peer"
        claimed = header_text(headers, LINK_FROM)
        if claimed and self._link.peer(claimed) is not None:
            return claimed, ""
        return None, (f"the sender is unknown and {claimed!r} is not a link peer" if claimed
                      else "the sender is unknown and no link named itself")

    async def _send_answer(self, message: AbstractIncomingMessage, document: bytes,
                           answer_type: str, country: str, error: GatewayError) -> str | None:
        key = link_routing_key(answer_type, country)
        try:
            await self._link_exchange.publish(aio_pika.Message(
                body=document, content_type="application/xml",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                # the same refused message always gets the same id: a redelivery is recognisable
                message_id="answer-" + hashlib.sha256(bytes(message.body)).hexdigest()[:32],
                correlation_id=message.message_id, type=answer_type, app_id="customs-gateway",
                headers={"x-answer-to": message.message_id or "", "x-gateway-error-code":
                         error.code}), routing_key=key, mandatory=True)
        except aio_pika.exceptions.PublishError:          # nothing bound: no link to them
            log.error("customs_intake.answer_unroutable", routing_key=key)
            return None
        return f"{answer_type} to {country}"

    async def _park(self, message: AbstractIncomingMessage, headers: dict[str, Any],
                    error: GatewayError, answered: str) -> None:
        headers.update({"x-gateway-reason": error.message, "x-gateway-error-code": error.code,
                        "x-original-queue": self._names(self._queue),
                        "x-gateway-answer": answered})
        await self._parking_exchange.publish(
            aio_pika.Message(body=message.body, headers=headers,
                             content_type=message.content_type,
                             delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                             message_id=message.message_id,
                             correlation_id=message.correlation_id, type=message.type),
            routing_key=f"customs.{error.code}", mandatory=True)


def _root(document: bytes) -> etree._Element | None:
    try:
        return parse_untrusted(document, XmlLimits()).getroot()
    except GatewayError:
        return None


def _refused_type(ex: Exchange) -> str:
    """The refused message's root: its NCTS type (``CD906C``), or the full tag; ``""``."""
    if ex.document is None:
        return ""
    name = etree.QName(ex.document)
    return name.localname if name.namespace == "http://ncts.dgtaxud.ec" else name.text
