"""Movement events in, NCTS messages out (an event handler, ``movement-event``).

Customs' decisions about a movement (``gateway/canonical/movement_event.py``) arrive signed by
the clearance key (``config/events.toml``: ``transit.*`` on the consumer ``transit-events``).
Each issues the messages its decision means, in the role the gateway plays, and moves the
movement through them (``states.TRANSITIONS``), one step per message:

    mrn_allocated     departure    CC028C to the trader                  declared -> accepted
    rejected          departure    CC056C to the trader                  declared -> rejected
    released          departure    CC029C to the trader, CD001C to the destination's
                                   administration, a CD050C to each country of transit
                                   accepted -> released -> aar_sent [-> atr_sent]
    written_off       departure    CC045C to the trader                  controlled -> written_off
    arrival_accepted  destination  CD006C to departure      arrival_notified -> arrival_advice_sent
    control_results   destination  CD018C to departure, CC025C to the trader at destination
                                   arrival_advice_sent -> control_results_sent -> goods_released
    crossing          transit      CD118C to departure      atr_received -> crossing_notified

Outside the transaction (``prepare``) the handler reads the movement, checks the table, builds
every message from the movement's kept declaration (its canonical CC015C, or the CD001C/CD050C
received), checks each against its schema and signs it (``outbound.NctsOutbound``). Inside
(``apply``) it holds the movement and applies all of it only if the movement is still the
version it prepared on — else ``MovementChanged``, retried (the consumer prepares again on
the new state). An event already applied (its steps name it) is nothing to do again, even
under another message id. An event the movement's state does not take (out of sequence), for a
movement not known here, or whose messages cannot be built is not retryable: parked with the
reason. The trader notifications go to the conversation that created the movement (the CC015C;
at destination the CC007C's); the CD messages to the outbox, in the same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.canonical.model import from_plain
from gateway.canonical.movement import ControlResult, MovementMessage
from gateway.canonical.movement_event import MovementEvent
from gateway.documents import ncts_messages as p5
from gateway.errors import GatewayError
from gateway.events.service import Event, InvalidEvent
from gateway.flows.transit.outbound import NctsOutbound, Outgoing
from gateway.flows.transit.states import (
    DEPARTURE,
    DESTINATION,
    TRANSIT,
    NotAllowed,
    next_state,
)
from gateway.flows.transit.store import (
    FLOW,
    OUT,
    Movement,
    MovementReader,
    MovementStep,
    MovementStore,
)
from gateway.ports import Conversations, JournalTransaction, OutboundMessage

ROLE_OF = {"mrn_allocated": DEPARTURE, "rejected": DEPARTURE, "released": DEPARTURE,
           "written_off": DEPARTURE, "arrival_accepted": DESTINATION,
           "control_results": DESTINATION, "crossing": TRANSIT}


class InvalidMovementEvent(InvalidEvent):
    code = "GW-NCTS-EVENT-INVALID"


class MovementEventRefused(InvalidEvent):
    """The movement is not known here, or its state does not take this event."""

    code = "GW-NCTS-EVENT-REFUSED"


class MovementChanged(GatewayError):
    """The movement changed between preparing and applying: prepare again (retryable)."""

    code = "GW-NCTS-MOVEMENT-CHANGED"
    retryable = True


@dataclass
class PreparedEvent:
    event: MovementEvent
    movement: Movement                                      # as prepared on
    updated: Movement                                       # as it will be
    steps: list[MovementStep] = field(default_factory=list)
    notifications: list[Outgoing] = field(default_factory=list)
    outbox: list[OutboundMessage] = field(default_factory=list)
    conversations: list[str] = field(default_factory=list)  # whose status follows


@dataclass
class MovementEventHandler:
    outbound: NctsOutbound
    movements: Callable[[], MovementReader]                 # the flow's reader (journal)
    name: str = "movement-event"

    def prepare(self, event: Event, reads: Conversations) -> PreparedEvent | None:
        decision = parse_event(event.body)
        movement = self._movement(decision)
        plan = _Plan(self.outbound, decision, movement)
        try:
            getattr(plan, decision.kind)()
        except NotAllowed as refused:
            if self._applied(movement, decision):
                return None          # a redelivery of what was applied: nothing to do again
            raise MovementEventRefused(f"{decision.kind} for MRN {movement.mrn}: {refused}",
                                       context={"event_id": decision.event_id}) from None
        return plan.prepared

    def apply(self, prepared: PreparedEvent, tx: JournalTransaction) -> dict[str, Any]:
        store: MovementStore = tx.flow(FLOW)
        before = prepared.movement
        held = store.hold_conversation(before.conversation_id, before.role)
        if held is None or held.version != before.version:
            raise MovementChanged(f"movement {before.movement_id} changed while the "
                                  f"{prepared.event.kind} event was prepared: prepare again")
        store.update(prepared.updated)
        after = prepared.updated
        for step in prepared.steps:
            store.add_step(step)
            for conversation in prepared.conversations:
                tx.add_history(conversation, step.at, f"movement.{step.state_after}", {
                    "role": after.role, "mrn": after.mrn, "message_type": step.message_type,
                    "state_before": step.state_before, "event_id": prepared.event.event_id})
        for conversation in prepared.conversations:
            tx.update_conversation(conversation, status=after.state, at=after.updated_at,
                                   customs_reference=after.mrn)
        seqs = tx.add_notifications([(o.notification, o.callback_url)
                                     for o in prepared.notifications])
        if prepared.outbox:
            tx.add_outbox(prepared.outbox)
        return {"event_id": prepared.event.event_id, "kind": prepared.event.kind,
                "mrn": after.mrn, "role": after.role, "state": after.state,
                "messages": [s.message_type for s in prepared.steps],
                "notifications": [s for s in seqs if s is not None]}

    def _applied(self, movement: Movement, decision: MovementEvent) -> bool:
        """Whether this event's messages are steps of the movement already."""
        return any(step.source == decision.event_id
                   for step in self.movements().steps(movement.movement_id))

    def _movement(self, decision: MovementEvent) -> Movement:
        role = ROLE_OF[decision.kind]
        reader = self.movements()
        if decision.kind in ("mrn_allocated", "rejected"):
            found = reader.for_conversation(decision.conversation_id or "", role)
            if found is not None and decision.mrn:
                taken = reader.movement(role, decision.mrn)
                if taken is not None and taken.movement_id != found.movement_id:
                    raise MovementEventRefused(f"MRN {decision.mrn} is the MRN of another "
                                               f"movement already")
        else:
            found = reader.movement(role, decision.mrn or "")
        if found is None:
            raise MovementEventRefused(
                f"no movement at {role} for the {decision.kind} event "
                f"({decision.mrn or decision.conversation_id})")
        return found


def parse_event(body: bytes) -> MovementEvent:
    try:
        decision = from_plain(MovementEvent, json.loads(body))
        decision.check()
    except (ValueError, TypeError, AttributeError) as exc:
        raise InvalidMovementEvent(f"the movement event cannot be understood: {exc}") from exc
    return decision


class _Plan:
    """Builds what one event issues, step by step, on a copy of the movement."""

    def __init__(self, outbound: NctsOutbound, event: MovementEvent, movement: Movement
                 ) -> None:
        self.out, self.event, self.movement = outbound, event, movement
        self.declaration = from_plain(MovementMessage, json.loads(movement.declaration)) \
            if movement.declaration else MovementMessage()
        self.prepared = PreparedEvent(event, movement, movement,
                                      conversations=[movement.conversation_id])
        self.at = event.decided_at

    # --- bookkeeping ------------------------------------------------------------------------

    def _move(self, message_type: str, element: Any, **changes: Any) -> None:
        current = self.prepared.updated
        state = next_state(current.role, current.state, message_type)
        self.prepared.updated = current.moved(state, self.at, **changes)
        self.prepared.steps.append(MovementStep(
            current.movement_id, self.at, message_type, OUT, current.state, state,
            self.event.event_id, element.findtext("messageIdentification")))

    def _notify(self, element: Any, *, conversation_id: str, partner_id: str) -> None:
        message_type = element.tag.rsplit("}", 1)[-1]
        self.prepared.notifications.append(self.out.notification(
            element, conversation_id=conversation_id, partner_id=partner_id,
            source_id=f"{self.event.event_id}:{message_type}", created_at=self.at,
            summary={"mrn": self.event.mrn or self.movement.mrn, "event": self.event.kind}))

    def _send(self, element: Any, country: str) -> None:
        self.prepared.outbox.append(self.out.customs_message(
            element, country=country, conversation_id=self.movement.conversation_id,
            mrn=self.prepared.updated.mrn or "",
            office_of_departure=self.movement.office_of_departure))

    def _header(self, message_type: str, recipient: str, correlation: str | None = None
                ) -> p5.Header:
        return self.out.header(message_type, recipient, self.event.event_id, self.at,
                               correlation)

    def _trader(self) -> str:
        return self.movement.trader_id or self.movement.partner_id

    def _date(self, value: str | None) -> str:
        return p5.p5_date(value or self.at)

    # --- departure ----------------------------------------------------------------------------

    def mrn_allocated(self) -> None:
        mrn = self.event.mrn or ""
        accepted = self._date(self.event.acceptance_date)
        element = p5.mrn_allocated(self.declaration, mrn, accepted, self._header(
            "CC028C", self._trader(), self.declaration.header.message_id))
        self._move("CC028C", element, mrn=mrn,
                   facts={**self.movement.facts, "acceptance_date": accepted})
        self._notify(element, conversation_id=self.movement.conversation_id,
                     partner_id=self.movement.partner_id)

    def rejected(self) -> None:
        errors = [p5.FunctionalError(e.pointer or "/CC015C", e.code, e.reason or "N/A", e.value)
                  for e in self.event.errors]
        element = p5.rejected(self.declaration, p5.p5_datetime(self.at), errors, self._header(
            "CC056C", self._trader(), self.declaration.header.message_id),
            reason=self.event.rejection_reason)
        self._move("CC056C", element)
        self._notify(element, conversation_id=self.movement.conversation_id,
                     partner_id=self.movement.partner_id)

    def released(self) -> None:
        mrn = self.movement.mrn or self.event.mrn or ""
        release = p5.Release(
            mrn=mrn, acceptance_date=self._date(
                self.event.acceptance_date or self.movement.facts.get("acceptance_date")),
            release_date=self._date(self.event.release_date),
            control_result=self.event.control_result)
        trader = p5.release_for_transit(self.declaration, release, self._header(
            "CC029C", self._trader(), self.declaration.header.message_id))
        self._move("CC029C", trader)
        self._notify(trader, conversation_id=self.movement.conversation_id,
                     partner_id=self.movement.partner_id)
        destination = (self.declaration.offices.destination or "")[:2]
        record = p5.arrival_record(self.declaration, release,
                                   self._header("CD001C", p5.nta(destination)))
        self._move("CD001C", record)
        self._send(record, destination)
        for country in self.declaration.offices.transit_countries:
            transit = p5.arrival_record(self.declaration, release,
                                        self._header("CD050C", p5.nta(country)),
                                        message_type="CD050C")
            self._move("CD050C", transit)
            self._send(transit, country)

    def written_off(self) -> None:
        element = p5.written_off(self.declaration, self.movement.mrn or "",
                                 self._date(self.event.decided_at),
                                 self._header("CC045C", self._trader()))
        self._move("CC045C", element)
        self._notify(element, conversation_id=self.movement.conversation_id,
                     partner_id=self.movement.partner_id)

    # --- destination --------------------------------------------------------------------------

    def _departure_country(self) -> str:
        return (self.movement.office_of_departure or "")[:2]

    def _destination_office(self) -> str:
        return (self.movement.facts.get("office_of_destination_actual") or self.event.office
                or self.movement.office or "")

    def arrival_accepted(self) -> None:
        arrived = self.event.arrived_at or self.movement.facts.get("arrived_at") or self.at
        element = p5.arrival_advice(
            self.movement.mrn or "", self.movement.office_of_departure or "",
            self._destination_office(), p5.p5_datetime(arrived),
            self._header("CD006C", p5.nta(self._departure_country())))
        self._move("CD006C", element)
        self._send(element, self._departure_country())

    def control_results(self) -> None:
        result = self.event.control_result or ControlResult()
        binding = bool(self.declaration.declaration.binding_itinerary) \
            if self.declaration.declaration else False
        element = p5.control_results(
            self.movement.mrn or "", self.movement.office_of_departure or "",
            self._destination_office(), result,
            self._header("CD018C", p5.nta(self._departure_country())),
            binding_itinerary=binding)
        self._move("CD018C", element)
        self._send(element, self._departure_country())
        facts = self.movement.facts
        conversation = facts.get("arrival_conversation_id")
        if not conversation:
            return
        released = p5.goods_released(
            self.movement.mrn or "", self._destination_office(),
            facts.get("arrival_trader_id") or "", self._date(result.date),
            self._header("CC025C", facts.get("arrival_sender") or facts.get(
                "arrival_trader_id") or "", facts.get("arrival_message_id")))
        self._move("CC025C", released)
        self._notify(released, conversation_id=conversation,
                     partner_id=facts.get("arrival_partner_id") or self.movement.partner_id)
        self.prepared.conversations.append(conversation)

    # --- transit ------------------------------------------------------------------------------

    def crossing(self) -> None:
        element = p5.crossing_notified(
            self.movement.mrn or "", self.movement.office_of_departure or "",
            self.event.office or "", self._date(self.event.passage_date),
            self._header("CD118C", p5.nta(self._departure_country())))
        self._move("CD118C", element)
        self._send(element, self._departure_country())
