"""The clearance system's STAND-IN partner, for the demo, the sandbox and the tests.

A real RabbitMQ consumer on the clearance queue, with its own key pair: it verifies the
gateway's detached signature before acting (a declaration with a bad signature is parked,
never decided), decides with ``clearance_rules``, and publishes each decision signed with
its own key to the decisions exchange, with publisher confirms, before it acks the
declaration. It stands in for the national clearance system; it is not part of the gateway.

The gateway publishes at least once (``adapters/amqp/relay.py``), so like any consumer of it
the stand-in de-duplicates on ``message_id``: a declaration it has decided already — also
before a restart — is acked without a second set of decisions (``clearance_ledger``).

It also consumes the payments queue (flow F2): a green-channel declaration with duties and no
deferment account is not released with its other decisions but kept waiting in the ledger
(before its duties decision is published); the gateway's signed payment event saying its
assessment is paid releases it (``clearance_payments``). Payment messages are verified and
de-duplicated like declarations; bad ones are parked.
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
from adapters.standins.clearance_payments import PARK, RELEASE, PaymentVerdict, judge
from adapters.standins.clearance_rules import (
    ClearanceRules,
    decide,
    pending_release,
    release_after_payment,
)
from gateway.canonical.clearance_decision import ClearanceDecision
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
                 payments_queue: str | None = None,
                 gateway_owner: str = "gateway", delay_seconds: float = 0.0) -> None:
        self._url = amqp_url
        self._names = names
        self._queue = queue
        self._payments_queue = payments_queue
        self._releasing = asyncio.Lock()      # one release decision at a time
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
        self.released_after_payment = 0

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
        if self._payments_queue is not None:
            payments = await channel.get_queue(self._names(self._payments_queue), ensure=False)
            await payments.consume(self._handle_payment)
            log.info("clearance.consuming", queue=self._names(self._payments_queue))
        closed = asyncio.get_running_loop().create_future()
        self._connection.close_callbacks.add(lambda *_: closed.done() or closed.set_result(None))
        await closed

    async def _handle(self, message: AbstractIncomingMessage) -> None:
        headers = dict(message.headers or {})
        try:
            verify_body(self._trust, message.body, headers, owner=self._gateway_owner)
            declaration = from_plain(Declaration, json.loads(message.body))
        except (SignatureInvalid, ValueError, TypeError) as exc:
            await self._park(message, headers, str(exc), "clearance.rejected")
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
        pending = pending_release(decisions, message_id)
        if pending is not None:       # kept before the payment reference is published
            await asyncio.to_thread(self._ledger.await_payment, pending)
        for decision in decisions:
            await self._publish(decision)
        if message_id:
            await asyncio.to_thread(self._ledger.decided, message_id)
        self.decided += 1
        log.info("clearance.decided", conversation_id=conversation_id,
                 decisions=[d.kind for d in decisions],
                 mrn=next((d.mrn for d in decisions if d.mrn), None),
                 awaits_payment=pending.payment_reference if pending else None)
        await message.ack()

    async def _publish(self, decision: ClearanceDecision) -> None:
        body = to_json_bytes(decision)
        await self._decisions.publish(aio_pika.Message(
            body, headers=sign_body(self._key, body), content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT, message_id=decision.decision_id,
            correlation_id=decision.conversation_id, type="clearance.decision"),
            routing_key=f"decision.{decision.kind}", mandatory=True)

    async def _park(self, message: AbstractIncomingMessage, headers: dict[str, object],
                    reason: str, routing_key: str) -> None:
        await self._parking.publish(aio_pika.Message(
            message.body, headers={**headers, "x-gateway-reason": f"clearance: {reason}"},
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message.message_id), routing_key=routing_key)
        self.parked += 1
        log.error("clearance.parked", reason=reason, message_id=message.message_id)

    # --- payments (flow F2) -------------------------------------------------------------------

    async def _handle_payment(self, message: AbstractIncomingMessage) -> None:
        headers = dict(message.headers or {})
        kind = header_text(headers, "x-canonical-kind")
        try:
            verify_body(self._trust, message.body, headers, owner=self._gateway_owner)
        except SignatureInvalid as exc:
            await self._park(message, headers, str(exc), "clearance.payment.rejected")
            await message.ack()
            return
        message_id = message.message_id or ""
        if message_id and await asyncio.to_thread(
                self._ledger.begin, message_id, redelivered=bool(message.redelivered)
        ) == DUPLICATE:
            self.duplicates += 1
            log.info("clearance.duplicate", message_id=message_id, kind=kind)
            await message.ack()
            return
        async with self._releasing:
            verdict = await asyncio.to_thread(judge, kind, message.body, self._ledger)
            if verdict.action == PARK:
                await self._park(message, headers, verdict.reason, "clearance.payment.rejected")
            elif verdict.action == RELEASE:
                await self._release(verdict)
            else:
                log.info("clearance.payment_noted", kind=kind, message_id=message_id,
                         conversation_id=verdict.conversation_id, reason=verdict.reason)
        if message_id:
            await asyncio.to_thread(self._ledger.decided, message_id)
        await message.ack()

    async def _release(self, verdict: PaymentVerdict) -> None:
        assert verdict.pending is not None
        decision = release_after_payment(verdict.pending)
        await self._publish(decision)
        await asyncio.to_thread(self._ledger.released, decision.conversation_id)
        self.released_after_payment += 1
        log.info("clearance.released_after_payment", conversation_id=decision.conversation_id,
                 mrn=decision.mrn, reason=verdict.reason)
