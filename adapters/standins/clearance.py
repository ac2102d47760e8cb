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

And the licences queue (flow F3): a green-channel declaration whose goods items must draw on
licences (``config/licensing.toml``, with ``[release] reserve_before_release``) waits until
the gateway's signed reservation event says each quantity is reserved
(``clearance_licences``); a refusal or a revoked licence withholds the release. What a release
waits for is a list of conditions in the ledger (payment, each reservation): the release goes
once all are met. ``invalidate`` sends the decision ``invalidated`` for a declaration it
accepted (tests); the rules' ``[invalidation] lrn_suffix`` does it for declarations so named.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import replace

import aio_pika
import structlog
from aio_pika.abc import AbstractConnection, AbstractExchange, AbstractIncomingMessage

from adapters.amqp.topology import Names, connect, header_text
from adapters.standins.clearance_ledger import DUPLICATE, ClearanceLedger
from adapters.standins.clearance_licences import FAIL, MEET, judge_licence
from adapters.standins.clearance_licences import PARK as PARK_LICENCE
from adapters.standins.clearance_payments import PARK, RELEASE, judge
from adapters.standins.clearance_rules import (
    ClearanceRules,
    PendingRelease,
    decide,
    pending_release,
    release_after_payment,
    release_conditions,
    reservation_conditions,
)
from gateway.canonical.clearance_decision import ClearanceDecision
from gateway.canonical.declaration import Declaration
from gateway.canonical.licensing_rules import LicensingRequirements
from gateway.canonical.model import from_plain, to_json_bytes
from gateway.errors import SignatureInvalid
from gateway.signing.detached import sign_body, verify_body
from gateway.signing.keys import SigningKey, TrustStore

log = structlog.get_logger("standin.clearance")


class ClearanceStandIn:
    def __init__(self, *, amqp_url: str, names: Names, queue: str, decisions_exchange: str,
                 parking_exchange: str, key: SigningKey, trust: TrustStore,
                 rules: ClearanceRules, ledger: ClearanceLedger,
                 payments_queue: str | None = None, licences_queue: str | None = None,
                 licensing: LicensingRequirements | None = None,
                 gateway_owner: str = "gateway", delay_seconds: float = 0.0) -> None:
        self._url = amqp_url
        self._names = names
        self._queue = queue
        self._payments_queue = payments_queue
        self._licences_queue = licences_queue
        self._licensing = licensing
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
        self.released_after_reservation = 0
        self.withheld = 0

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
        if self._licences_queue is not None:
            licences = await channel.get_queue(self._names(self._licences_queue), ensure=False)
            await licences.consume(self._handle_licence)
            log.info("clearance.consuming", queue=self._names(self._licences_queue))
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
        reservations = reservation_conditions(declaration, self._licensing)
        decisions = decide(declaration, message_id=message_id,
                           conversation_id=conversation_id or "",
                           receipt_id=header_text(headers, "x-receipt-id") or "",
                           rules=self._rules, reservations=reservations)
        pending = pending_release(decisions, message_id, self._rules.final_decision(declaration))
        conditions = release_conditions(declaration, pending, reservations, self._rules) \
            if pending is not None else []
        if pending is not None:       # kept before the payment reference is published
            await asyncio.to_thread(self._ledger.await_release, pending, conditions)
        for decision in decisions:
            await self._publish(decision)
        if message_id:
            await asyncio.to_thread(self._ledger.decided, message_id)
        self.decided += 1
        log.info("clearance.decided", conversation_id=conversation_id,
                 decisions=[d.kind for d in decisions],
                 mrn=next((d.mrn for d in decisions if d.mrn), None),
                 awaits=conditions or None)
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
            elif verdict.action == RELEASE and verdict.conversation_id:
                ready = await asyncio.to_thread(self._ledger.meet, verdict.conversation_id,
                                                "payment")
                if ready is not None:
                    await self._release(ready, verdict.reason)
                    self.released_after_payment += 1
            else:
                log.info("clearance.payment_noted", kind=kind, message_id=message_id,
                         conversation_id=verdict.conversation_id, reason=verdict.reason)
        if message_id:
            await asyncio.to_thread(self._ledger.decided, message_id)
        await message.ack()

    async def _release(self, pending: PendingRelease, reason: str) -> None:
        decision = release_after_payment(pending)
        await self._publish(decision)
        await asyncio.to_thread(self._ledger.released, decision.conversation_id)
        log.info("clearance.released_after_wait", conversation_id=decision.conversation_id,
                 mrn=decision.mrn, decision=decision.kind, reason=reason)

    # --- licences and reservations (flow F3) -------------------------------------------------

    async def _handle_licence(self, message: AbstractIncomingMessage) -> None:
        headers = dict(message.headers or {})
        kind = header_text(headers, "x-canonical-kind")
        try:
            verify_body(self._trust, message.body, headers, owner=self._gateway_owner)
        except SignatureInvalid as exc:
            await self._park(message, headers, str(exc), "clearance.licence.rejected")
            await message.ack()
            return
        message_id = message.message_id or ""
        if message_id and await asyncio.to_thread(
                self._ledger.begin, message_id, redelivered=bool(message.redelivered)
        ) == DUPLICATE:
            self.duplicates += 1
            await message.ack()
            return
        verdict = judge_licence(kind, message.body)
        async with self._releasing:
            if verdict.action == PARK_LICENCE:
                await self._park(message, headers, verdict.reason, "clearance.licence.rejected")
            elif verdict.action == MEET and verdict.conversation_id and verdict.condition:
                ready = await asyncio.to_thread(self._ledger.meet, verdict.conversation_id,
                                                verdict.condition)
                if ready is not None:
                    await self._release(ready, verdict.reason)
                    self.released_after_reservation += 1
            elif verdict.action == FAIL and verdict.conversation_id and verdict.condition \
                    and await asyncio.to_thread(self._ledger.fail, verdict.conversation_id,
                                                verdict.condition, verdict.reason):
                self.withheld += 1
                log.warning("clearance.release_withheld",
                            conversation_id=verdict.conversation_id, reason=verdict.reason)
            log.info("clearance.licence_noted", kind=kind, message_id=message_id,
                     conversation_id=verdict.conversation_id, action=verdict.action,
                     reason=verdict.reason)
        if message_id:
            await asyncio.to_thread(self._ledger.decided, message_id)
        await message.ack()

    async def invalidate(self, conversation_id: str) -> ClearanceDecision | None:
        """Invalidate a declaration whose release waits (its reservations are then deleted
        by the gateway); ``None`` if none waits for ``conversation_id``."""
        async with self._releasing:
            pending = await asyncio.to_thread(self._ledger.pending, conversation_id)
            if pending is None:
                return None
            decision = release_after_payment(replace(pending, final="invalidated"))
            await self._publish(decision)
            await asyncio.to_thread(self._ledger.released, conversation_id)
        log.info("clearance.invalidated", conversation_id=conversation_id, mrn=decision.mrn)
        return decision
