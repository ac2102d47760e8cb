"""The clearance system's STAND-IN partner, for the demo, the sandbox and the tests.

A real RabbitMQ consumer on the clearance queue, with its own key pair: it verifies the
gateway's detached signature before acting (a declaration with a bad signature is parked,
never decided), decides with ``clearance_rules``, and publishes each decision signed with
its own key to the decisions exchange, with publisher confirms, before it acks the
declaration. It stands in for the national clearance system; it is not part of the gateway.

The gateway publishes at least once (``adapters/amqp/relay.py``), so like any consumer of it
the stand-in de-duplicates on ``message_id``: a declaration it has decided already — also
before a restart — is acked without a second set of decisions (``clearance_ledger``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import aio_pika
import structlog
from aio_pika.abc import AbstractConnection, AbstractExchange, AbstractIncomingMessage

from adapters.amqp.topology import Names, connect, header_text
from adapters.standins.clearance_ledger import DUPLICATE, ClearanceLedger
from adapters.standins.clearance_rules import ClearanceRules, decide
from gateway.canonical.declaration import Declaration
from gateway.canonical.model import from_plain, to_json_bytes
from gateway.errors import SignatureInvalid
from gateway.signing.detached import sign_body, verify_body
from gateway.signing.keys import SigningKey, TrustStore

log = structlog.get_logger("standin.clearance")


class ClearanceStandIn:
    def __init__(self, *, amqp_url: str, names: Names, queue: str, decisions_exchange: str,
                 parking_exchange: str, key: SigningKey, trust: TrustStore,
                 rules: ClearanceRules, ledger: ClearanceLedger,
                 gateway_owner: str = "gateway", delay_seconds: float = 0.0) -> None:
        self._url = amqp_url
        self._names = names
        self._queue = queue
        self._decisions_name = decisions_exchange
        self._parking_name = parking_exchange
        self._key = key
        self._trust = trust
        self._rules = rules
        self._ledger = ledger
        self._gateway_owner = gateway_owner
        self._delay = delay_seconds
        self._connection: AbstractConnection | None = None
        self.decided = 0
        self.duplicates = 0
        self.parked = 0

    async def run(self) -> None:
        try:
            while True:
                try:
                    await self._consume()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - a stand-in reconnects like a real one
                    log.warning("clearance.error", error=f"{type(exc).__name__}: {exc}")
                await self.stop()
                await asyncio.sleep(1.0)
        finally:
            self._ledger.close()

    async def stop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), 5)

    async def _consume(self) -> None:
        self._connection = await connect(self._url, "standin-clearance")
        channel = await self._connection.channel(publisher_confirms=True)
        await channel.set_qos(prefetch_count=32)
        self._decisions = await channel.get_exchange(self._names(self._decisions_name),
                                                     ensure=False)
        self._parking: AbstractExchange = await channel.get_exchange(
            self._names(self._parking_name), ensure=False)
        queue = await channel.get_queue(self._names(self._queue), ensure=False)
        await queue.consume(self._handle)
        log.info("clearance.consuming", queue=self._names(self._queue))
        closed = asyncio.get_running_loop().create_future()
        self._connection.close_callbacks.add(lambda *_: closed.done() or closed.set_result(None))
        await closed

    async def _handle(self, message: AbstractIncomingMessage) -> None:
        headers = dict(message.headers or {})
        try:
            verify_body(self._trust, message.body, headers, owner=self._gateway_owner)
            declaration = from_plain(Declaration, json.loads(message.body))
        except (SignatureInvalid, ValueError, TypeError) as exc:
            await self._parking.publish(aio_pika.Message(
                message.body, headers={**headers, "x-gateway-reason": f"clearance: {exc}"},
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=message.message_id), routing_key="clearance.rejected")
            self.parked += 1
            log.error("clearance.parked", reason=str(exc), message_id=message.message_id)
            await message.ack()
            return
        conversation_id = header_text(headers, "x-conversation-id") or message.correlation_id
        message_id = message.message_id or ""
        if message_id and await asyncio.to_thread(
                self._ledger.begin, message_id, redelivered=bool(message.redelivered)
        ) == DUPLICATE:
            self.duplicates += 1
            log.info("clearance.duplicate", message_id=message_id,
                     conversation_id=conversation_id, redelivered=bool(message.redelivered))
            await message.ack()
            return
        if self._delay:
            await asyncio.sleep(self._delay)
        decisions = decide(declaration, message_id=message_id,
                           conversation_id=conversation_id or "",
                           receipt_id=header_text(headers, "x-receipt-id") or "",
                           rules=self._rules)
        for decision in decisions:
            body = to_json_bytes(decision)
            await self._decisions.publish(aio_pika.Message(
                body, headers=sign_body(self._key, body), content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT, message_id=decision.decision_id,
                correlation_id=decision.conversation_id, type="clearance.decision"),
                routing_key=f"decision.{decision.kind}", mandatory=True)
        if message_id:
            await asyncio.to_thread(self._ledger.decided, message_id)
        self.decided += 1
        log.info("clearance.decided", conversation_id=conversation_id,
                 decisions=[d.kind for d in decisions],
                 mrn=next((d.mrn for d in decisions if d.mrn), None))
        await message.ack()
