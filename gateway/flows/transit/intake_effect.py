"""What an accepted movement message does to its movement, in the same transaction as its journal.

``MovementIntake`` is the intake effect of the canonical kind ``movement_message``
(``IntakeService.effects``). The message has passed the schema and the P5 rules (R0028 — the
MRN's check digit, 93 — among them); here it meets the movement's state
(``states.TRANSITIONS``), in the transaction that journals it:

* a **CC015C** creates the departure movement (``declared``), keyed by its conversation and by
  the trader's LRN — an LRN the trader used already is refused (14, BR20006) — and its CC928C
  (the answer the trader got, built again from the same receipt: same id, same content) is
  stored as the conversation's first notification;
* a **CD001C** / **CD050C** from a neighbouring administration creates the destination /
  transit movement (``aar_received`` / ``atr_received``); a second record for the MRN is out
  of sequence (92);
* any other message the role takes (``states.RECEIVED``: CC007C at destination; CD118C, CD006C,
  CD018C at departure) moves the held movement on; an MRN unknown in every role is **90**, one
  known but in a state (or role) that does not take the message is **92**;
* a neighbour's NACK (CD906C, CD917C) is noted on its movement, if known, and answered with
  nothing that is a NACK;
* what the gateway itself issues (CC028C, CD001C …) is not taken from outside: no partner may
  send them (``config/partners.toml``), and should one, nothing of the movement changes.

A refusal raises the error (``refusals``), which rolls the message's whole transaction back:
nothing is journaled, and the sender gets a CC906C / CD906C. Every change is a step of the
movement's log and a line of the conversation's history (``movement.<state>``), and the
conversation takes the movement's state as its status, with the MRN as its customs reference —
the message's own conversation and the one that opened the movement (at departure the trader's
CC015C conversation follows the CD118C, CD006C and CD018C that neighbours send).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.canonical.model import to_json_bytes
from gateway.canonical.movement import MovementMessage
from gateway.documents.ncts_answers import NctsAnswers
from gateway.flows.transit import refusals
from gateway.flows.transit.outbound import NctsOutbound, Outgoing
from gateway.flows.transit.states import (
    CREATES,
    NOTED,
    RECEIVED_BY,
    NotAllowed,
    next_state,
)
from gateway.flows.transit.store import FLOW, IN, Movement, MovementStep, MovementStore
from gateway.flows.transit.store import NOTED as NOTED_STEP
from gateway.pipeline.exchange import Exchange, new_id, utc_now_iso
from gateway.ports import JournalTransaction


@dataclass(frozen=True)
class MovementOutcome:
    """What one message did: the movement (or ``None``) and its state before and after."""

    message_type: str
    role: str | None
    state_before: str | None
    state_after: str | None
    movement_id: str | None = None
    movement_conversation_id: str | None = None   # the conversation that opened the movement


@dataclass
class MovementIntake:
    outbound: NctsOutbound
    clock: Callable[[], str] = utc_now_iso

    def __call__(self, ex: Exchange) -> Callable[[JournalTransaction], MovementOutcome]:
        """The work for ``ex``'s movement message, to run in the journal's transaction."""
        message: MovementMessage = ex.canonical
        assert ex.partner is not None
        partner_id, at = ex.partner.id, self.clock()
        acknowledgement = self._acknowledgement(ex, message, at) \
            if message.message_type == "CC015C" else None

        def work(tx: JournalTransaction) -> MovementOutcome:
            store: MovementStore = tx.flow(FLOW)
            outcome = apply_message(store, message, partner_id=partner_id,
                                    conversation_id=ex.conversation_id, receipt_id=ex.id, at=at)
            if outcome.state_after is not None and outcome.state_after != outcome.state_before:
                # this message's conversation, and the one that opened the movement (the
                # trader's CC015C when a CD118C, CD006C or CD018C moves it on at departure)
                for conversation in dict.fromkeys(
                        c for c in (ex.conversation_id, outcome.movement_conversation_id) if c):
                    tx.add_history(conversation, at, f"movement.{outcome.state_after}", {
                        "role": outcome.role, "mrn": message.mrn, "lrn": message.lrn,
                        "message_type": message.message_type,
                        "state_before": outcome.state_before, "receipt_id": ex.id})
                    tx.update_conversation(conversation, status=outcome.state_after, at=at,
                                           customs_reference=message.mrn)
            if acknowledgement is not None:
                tx.add_notification(acknowledgement.notification, acknowledgement.callback_url)
            return outcome
        return work

    def _acknowledgement(self, ex: Exchange, message: MovementMessage, at: str) -> Outgoing:
        """The CC928C the trader was answered, as the conversation's first notification."""
        assert ex.partner is not None
        document = NctsAnswers(self.outbound.country).positive_acknowledgement(
            message, ex.id, ex.received_at)
        return self.outbound.notification(
            document, conversation_id=ex.conversation_id, partner_id=ex.partner.id,
            source_id=f"{ex.id}:CC928C", created_at=at,
            summary={"lrn": message.lrn, "correlation_id": message.header.message_id})


def apply_message(store: MovementStore, message: MovementMessage, *, partner_id: str,
                  conversation_id: str, receipt_id: str, at: str) -> MovementOutcome:
    """Apply one received message to its movement (see the module docstring); raise the
    refusal when the state does not take it."""
    message_type = message.message_type
    if message_type in NOTED:
        return _note(store, message, receipt_id, at)
    role = RECEIVED_BY.get(message_type)
    if role is None:
        return MovementOutcome(message_type, None, None, None)
    step = MovementStep("", at, message_type, IN, None, "", receipt_id,
                        message.header.message_id)
    if CREATES.get(message_type) == role:
        state = next_state(role, None, message_type)
        movement = _new_movement(message, role, state, partner_id=partner_id,
                                 conversation_id=conversation_id, at=at)
        if not store.insert(movement):
            if message_type == "CC015C":
                raise refusals.lrn_taken(message_type, message.lrn)
            existing = store.hold(role, message.mrn or "")
            raise refusals.out_of_sequence(
                NotAllowed(role, existing.state if existing else state, message_type),
                message.mrn)
        store.add_step(_step(step, movement.movement_id, None, state))
        return MovementOutcome(message_type, role, None, state, movement.movement_id)
    mrn = message.mrn or ""
    movement_held = store.hold(role, mrn)
    if movement_held is None:
        if not store.roles(mrn):
            raise refusals.unknown_mrn(message_type, message.mrn)
        raise refusals.out_of_sequence(NotAllowed(role, None, message_type), message.mrn)
    try:
        state = next_state(role, movement_held.state, message_type)
    except NotAllowed as refused:
        raise refusals.out_of_sequence(refused, message.mrn) from None
    store.update(movement_held.moved(state, at, facts={
        **movement_held.facts, **_facts(message, partner_id, conversation_id)}))
    store.add_step(_step(step, movement_held.movement_id, movement_held.state, state))
    return MovementOutcome(message_type, role, movement_held.state, state,
                           movement_held.movement_id, movement_held.conversation_id)


def _note(store: MovementStore, message: MovementMessage, receipt_id: str, at: str
          ) -> MovementOutcome:
    """A neighbour's NACK: a step on each movement of its MRN (no state changes)."""
    for role in store.roles(message.mrn or ""):
        held = store.hold(role, message.mrn or "")
        if held is not None:
            store.add_step(MovementStep(held.movement_id, at, message.message_type, NOTED_STEP,
                                        held.state, held.state, receipt_id,
                                        message.header.message_id))
    return MovementOutcome(message.message_type, None, None, None)


def _new_movement(message: MovementMessage, role: str, state: str, *, partner_id: str,
                  conversation_id: str, at: str) -> Movement:
    offices = message.offices
    office = {"departure": offices.departure, "destination": offices.destination,
              "transit": None}[role]
    return Movement(
        movement_id=new_id(), role=role, state=state, partner_id=partner_id,
        conversation_id=conversation_id, created_at=at, updated_at=at,
        declaration=to_json_bytes(message), mrn=message.mrn,
        lrn=message.lrn if role == "departure" else None,
        trader_id=message.header.sender if role == "departure" else None, office=office,
        office_of_departure=offices.departure,
        facts={"sender": message.header.sender or "", "message_id":
               message.header.message_id or ""})


def _facts(message: MovementMessage, partner_id: str, conversation_id: str) -> dict[str, Any]:
    """What a later message needs of this one: the arrival notification's trader and
    conversation (the CC025C goes there), office and time; the sender of a CD message."""
    if message.message_type == "CC007C":
        trader = message.trader_at_destination
        return {"arrival_partner_id": partner_id, "arrival_conversation_id": conversation_id,
                "arrival_trader_id": (trader.identification_number if trader else None)
                or message.header.sender or "",
                "arrival_sender": message.header.sender or "",
                "arrival_message_id": message.header.message_id or "",
                "office_of_destination_actual": message.offices.destination_actual or "",
                "arrived_at": (message.arrival.arrived_at if message.arrival else None) or ""}
    return {f"{message.message_type.lower()}_sender": message.header.sender or "",
            f"{message.message_type.lower()}_message_id": message.header.message_id or ""}


def _step(step: MovementStep, movement_id: str, before: str | None, after: str
          ) -> MovementStep:
    return MovementStep(movement_id, step.at, step.message_type, step.direction, before, after,
                        step.source, step.message_id)
