"""The national transit system's STAND-IN, for the demo, the sandbox and the tests (flow F4).

A real RabbitMQ consumer of ``clearance.transit`` (the canonical movement messages the gateway
accepted) that decides as a transit office would, at once, and publishes each decision as a
movement event (``gateway/canonical/movement_event.py``) signed with the clearance key to
``customs.decisions`` (routing key and AMQP type ``transit.<kind>``, correlation id the MRN,
publisher confirms) before it acks the message:

* a **CC015C** at departure: ``mrn_allocated`` — the MRN is ``<yy><country><12 characters of
  the conversation id's hash><J|M><check digit>`` (ISO 6346, ``gateway.identifiers.make_mrn``;
  ``J`` without security data, ``M`` with) — then ``released`` (control result ``A1``,
  today). A declaration whose LRN ends with ``-REJECT`` is ``rejected`` instead (code 12 at
  the LRN): the sandbox's way to show a CC056C;
* a **CD050C** (we are a country of transit): ``crossing`` at our first office of transit
  declared;
* a **CC007C** (we are the destination): ``arrival_accepted``, then ``control_results``
  (``A1``, seals intact);
* a **CD018C** (back at departure): ``written_off``.

Everything else is acknowledged without a decision. It verifies the gateway's detached
signature first (a bad one is parked, never decided). Decisions are deterministic — the MRN
and each event id derive from the message — so a redelivered message yields the same events
with the same message ids, which the gateway applies once: the stand-in keeps no ledger. It
stands in for the national transit system; it is not part of the gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json

import aio_pika
import structlog
from aio_pika.abc import AbstractConnection, AbstractExchange, AbstractIncomingMessage

from adapters.amqp.topology import Names, connect, header_text
from gateway.canonical.model import from_plain, to_json_bytes
from gateway.canonical.movement import ControlResult, MovementMessage
from gateway.canonical.movement_event import EVENT_TYPES, EventError, MovementEvent
from gateway.errors import SignatureInvalid
from gateway.identifiers import make_mrn
from gateway.signing.detached import sign_body, verify_body
from gateway.signing.keys import SigningKey, TrustStore

log = structlog.get_logger("standin.transit")
REJECT_SUFFIX = "-REJECT"
_BASE36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def allocated_mrn(conversation_id: str, country: str, *, security: bool,
                  year: int | None = None) -> str:
    """The MRN the stand-in allocates for a declaration's conversation (deterministic)."""
    number = int(hashlib.sha256(conversation_id.encode()).hexdigest(), 16)
    serial = ""
    for _ in range(12):
        number, digit = divmod(number, 36)
        serial += _BASE36[digit]
    year = year if year is not None else dt.datetime.now(dt.UTC).year
    return make_mrn(year, country, serial, "M" if security else "J")


def decide(message: MovementMessage, *, message_id: str, conversation_id: str, country: str,
           now: str) -> list[MovementEvent]:
    """The events one movement message calls for (none for most)."""
    today = now[:10]

    def event(kind: str, **fields: object) -> MovementEvent:
        event_id = hashlib.sha256(f"{message_id}:{kind}".encode()).hexdigest()[:32]
        return MovementEvent(event_id=event_id, kind=kind, decided_at=now, **fields)  # type: ignore[arg-type]

    kind = message.message_type
    if kind == "CC015C":
        if (message.lrn or "").endswith(REJECT_SUFFIX):
            return [event("rejected", conversation_id=conversation_id, errors=[EventError(
                pointer="/CC015C/TransitOperation/LRN", code="12", value=message.lrn)],
                rejection_reason="rejected by the transit stand-in (LRN ends with -REJECT)")]
        declaration = message.declaration
        security = bool(declaration and declaration.security not in (None, "0"))
        country_of_departure = (message.offices.departure or country)[:2]
        mrn = allocated_mrn(conversation_id, country_of_departure, security=security)
        return [event("mrn_allocated", mrn=mrn, conversation_id=conversation_id,
                      acceptance_date=today),
                event("released", mrn=mrn, acceptance_date=today, release_date=today,
                      control_result=ControlResult(code="A1", date=today,
                                                   controlled_by=message.offices.departure,
                                                   text="Documentary check, seals affixed"))]
    if kind == "CD050C":
        ours = [o.reference for o in message.offices.transit
                if (o.reference or "")[:2] == country.upper()]
        if not ours or not message.mrn:
            return []
        return [event("crossing", mrn=message.mrn, office=ours[0], passage_date=today)]
    if kind == "CC007C" and message.mrn:
        return [event("arrival_accepted", mrn=message.mrn,
                      office=message.offices.destination_actual,
                      arrived_at=(message.arrival.arrived_at if message.arrival else None)),
                event("control_results", mrn=message.mrn,
                      office=message.offices.destination_actual,
                      control_result=ControlResult(code="A1", date=today, state_of_seals=True,
                                                   text="Seals intact, goods as declared"))]
    if kind == "CD018C" and message.mrn:
        return [event("written_off", mrn=message.mrn)]
    return []


class TransitStandIn:
    def __init__(self, *, amqp_url: str, names: Names, queue: str, decisions_exchange: str,
                 parking_exchange: str, key: SigningKey, trust: TrustStore, country: str,
                 gateway_owner: str = "gateway") -> None:
        self._url, self._names, self._queue = amqp_url, names, queue
        self._decisions_name, self._parking_name = decisions_exchange, parking_exchange
        self._key, self._trust, self._country = key, trust, country
        self._gateway_owner = gateway_owner
        self._connection: AbstractConnection | None = None
        self.decided = 0
        self.parked = 0

    async def run(self) -> None:
        while True:
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a stand-in reconnects like a real one
                log.warning("transit.error", error=f"{type(exc).__name__}: {exc}")
            await self.stop()
            await asyncio.sleep(1.0)

    async def stop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), 5)

    async def _consume(self) -> None:
        self._connection = await connect(self._url, "standin-transit")
        channel = await self._connection.channel(publisher_confirms=True)
        await channel.set_qos(prefetch_count=1)        # one decision at a time, in order
        self._decisions: AbstractExchange = await channel.get_exchange(
            self._names(self._decisions_name), ensure=False)
        self._parking: AbstractExchange = await channel.get_exchange(
            self._names(self._parking_name), ensure=False)
        queue = await channel.get_queue(self._names(self._queue), ensure=False)
        await queue.consume(self._handle)
        log.info("transit.consuming", queue=self._names(self._queue))
        closed = asyncio.get_running_loop().create_future()
        self._connection.close_callbacks.add(lambda *_: closed.done() or closed.set_result(None))
        await closed

    async def _handle(self, message: AbstractIncomingMessage) -> None:
        headers = dict(message.headers or {})
        try:
            verify_body(self._trust, message.body, headers, owner=self._gateway_owner)
            movement = from_plain(MovementMessage, json.loads(message.body))
        except (SignatureInvalid, ValueError, TypeError) as exc:
            await self._parking.publish(aio_pika.Message(
                message.body, headers={**headers, "x-gateway-reason": f"transit: {exc}"},
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT, message_id=message.message_id),
                routing_key="transit.rejected")
            self.parked += 1
            log.error("transit.parked", reason=str(exc), message_id=message.message_id)
            await message.ack()
            return
        conversation_id = header_text(headers, "x-conversation-id") or message.correlation_id
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        events = decide(movement, message_id=message.message_id or "",
                        conversation_id=conversation_id or "", country=self._country, now=now)
        for event in events:
            body = to_json_bytes(event)
            await self._decisions.publish(aio_pika.Message(
                body, headers=sign_body(self._key, body), content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT, message_id=event.event_id,
                correlation_id=event.mrn or event.conversation_id,
                type=EVENT_TYPES[event.kind]), routing_key=EVENT_TYPES[event.kind],
                mandatory=True)
        if events:
            self.decided += 1
            log.info("transit.decided", message_type=movement.message_type,
                     mrn=events[0].mrn or movement.mrn, events=[e.kind for e in events],
                     conversation_id=conversation_id)
        await message.ack()
