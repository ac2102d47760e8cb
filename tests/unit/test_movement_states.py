"""The movement state machine (gateway/flows/transit/states.py), exhaustively.

Every role × every state × every P5 message is driven through the intake effect's
``apply_message`` on the SQL movements store (SQLite, in memory): a message the role receives
moves the movement exactly as the table says or is refused out of sequence (92); a message the
MRN is unknown for is 90; one the gateway only issues changes nothing when received; a
neighbour's NACK is noted and changes nothing. Every decision of customs (event kind) × every
state of its role is driven through the event handler the same way. The story of one movement,
written out by hand below, is the independent check of the table itself.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.ncts_trader import MRN
from transit_support import DECLARATION_OF, TransitWorld, canonical, event_for, seed

from adapters.store.movement_store import MovementStoreSql
from adapters.store.sqlite_journal import SQLITE
from gateway.canonical.model import to_json_bytes
from gateway.canonical.movement import MESSAGES, MessageHeader, MovementMessage
from gateway.canonical.movement_event import EVENT_KINDS
from gateway.errors import InvalidMessage
from gateway.flows.transit import states
from gateway.flows.transit.events import ROLE_OF, MovementEventRefused
from gateway.flows.transit.intake_effect import apply_message
from gateway.flows.transit.refusals import MovementConflict
from gateway.flows.transit.states import (
    CREATES,
    DEPARTURE,
    DESTINATION,
    NOTED,
    RECEIVED,
    RECEIVED_BY,
    ROLES,
    TRANSIT,
    TRANSITIONS,
    NotAllowed,
    next_state,
)
from gateway.flows.transit.store import Movement

#: The story of one movement MK -> RS through one office of transit, as NCTS tells it
#: (written out here, not derived from the table): role, message, state after.
STORY = [
    (DEPARTURE, "CC015C", "declared"), (DEPARTURE, "CC028C", "accepted"),
    (DEPARTURE, "CC029C", "released"), (DEPARTURE, "CD001C", "aar_sent"),
    (DEPARTURE, "CD050C", "atr_sent"), (TRANSIT, "CD050C", "atr_received"),
    (DESTINATION, "CD001C", "aar_received"), (TRANSIT, "CD118C", "crossing_notified"),
    (DEPARTURE, "CD118C", "crossing_notified"), (DESTINATION, "CC007C", "arrival_notified"),
    (DESTINATION, "CD006C", "arrival_advice_sent"), (DEPARTURE, "CD006C", "arrived"),
    (DESTINATION, "CD018C", "control_results_sent"), (DEPARTURE, "CD018C", "controlled"),
    (DESTINATION, "CC025C", "goods_released"), (DEPARTURE, "CC045C", "written_off"),
]
@pytest.fixture
def store() -> Iterator[Any]:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    cur = conn.cursor()
    for statement in SQLITE.statements(MovementStoreSql().schema()):
        cur.execute(statement)
    yield MovementStoreSql().bind(SQLITE, cur)
    conn.close()


def _movement(role: str, state: str, *, mrn: str | None = MRN, number: int = 0) -> Movement:
    declaration = canonical(DECLARATION_OF[role])
    return Movement(
        movement_id=f"m-{role}-{state}-{number}", role=role, state=state,
        partner_id="trader-haulier", conversation_id=f"c-{role}-{state}-{number}",
        created_at="2026-12-01T10:00:00Z", updated_at="2026-12-01T10:00:00Z",
        declaration=to_json_bytes(declaration), mrn=mrn,
        lrn=declaration.lrn if role == DEPARTURE else None,
        trader_id="MK4080012345678", office=declaration.offices.departure,
        office_of_departure="MK001005")


def _message(message_type: str, *, mrn: str | None = MRN, lrn: str = "MK-LRN-1"
             ) -> MovementMessage:
    return MovementMessage(header=MessageHeader(message_type=message_type,
                                                message_id=f"id-{message_type}",
                                                sender="NTA.RS"), mrn=mrn, lrn=lrn)


def _apply(store: Any, message: MovementMessage) -> Any:
    return apply_message(store, message, partner_id="trader-haulier", conversation_id="c-new",
                         receipt_id="r-1", at="2026-12-01T11:00:00Z")


# --- the table itself ---------------------------------------------------------------------------


def test_movement_states_story_of_one_movement_is_what_the_table_says() -> None:
    """Each step of the hand-written MK -> RS story is the table's transition."""
    current: dict[str, str | None] = dict.fromkeys(ROLES)
    for role, message_type, expected in STORY:
        current[role] = next_state(role, current[role], message_type)
        assert current[role] == expected, (role, message_type)
    assert current == {DEPARTURE: "written_off", DESTINATION: "goods_released",
                       TRANSIT: "crossing_notified"}


def test_movement_states_every_state_is_reachable_and_only_finals_have_no_exit() -> None:
    """From "no movement" every state of a role is reachable; the final states are written
    off, rejected, goods released; the table names only P5 messages we register."""
    for role in ROLES:
        reached, frontier = set(), [None]
        while frontier:
            state = frontier.pop()
            for after in TRANSITIONS[role][state].values():
                if after not in reached:
                    reached.add(after)
                    frontier.append(after)
        assert reached == set(states.states(role)), role
    assert {(DEPARTURE, "written_off"), (DEPARTURE, "rejected"),
                            (DESTINATION, "goods_released")} == states.FINAL
    named = {t for table in TRANSITIONS.values() for moves in table.values() for t in moves}
    assert named <= set(MESSAGES)


def test_movement_states_received_and_issued_messages_split_each_role() -> None:
    """What a role takes from outside and what it issues itself are apart; each received
    message concerns one role; only CC015C, CD001C and CD050C create a movement."""
    for role in ROLES:
        assert RECEIVED[role] & states.issued(role) == set()
    assert CREATES == {"CC015C": DEPARTURE, "CD001C": DESTINATION, "CD050C": TRANSIT}
    assert RECEIVED_BY["CC007C"] == DESTINATION and RECEIVED_BY["CD018C"] == DEPARTURE
    assert states.issued(DEPARTURE) == {"CC028C", "CC029C", "CD001C", "CD050C", "CC045C",
                                        "CC056C"}
    assert states.issued(DESTINATION) == {"CD006C", "CD018C", "CC025C"}
    assert states.issued(TRANSIT) == {"CD118C"}


# --- every role x state x message through the intake effect -------------------------------------

CASES = [(role, state, t) for role in ROLES for state in states.states(role)
         for t in sorted(MESSAGES) if t != "CC015C"]


@pytest.mark.parametrize(("role", "state", "message_type"), CASES)
def test_movement_states_received_message_in_each_state(store: Any, role: str, state: str,
                                                        message_type: str) -> None:
    """The movement known here in ``role`` and ``state`` only: a received message moves it as
    the table says or is 92; what we only issue, and a neighbour's NACK, change nothing."""
    assert store.insert(_movement(role, state))
    message = _message(message_type)
    target = RECEIVED_BY.get(message_type)
    allowed = TRANSITIONS[role][state].get(message_type)
    if message_type in NOTED or target is None:
        outcome = _apply(store, message)
        assert outcome.state_after is None
    elif CREATES.get(message_type) == target != role:       # this MRN in another role too
        outcome = _apply(store, message)
        assert (outcome.role, outcome.state_after) == (target, next_state(target, None,
                                                                          message_type))
    elif target == role and allowed is not None and CREATES.get(message_type) != role:
        outcome = _apply(store, message)
        assert (outcome.state_before, outcome.state_after) == (state, allowed)
    else:
        with pytest.raises(MovementConflict) as refused:
            _apply(store, message)
        assert refused.value.code == "GW-NCTS-OUT-OF-SEQUENCE"
        assert [p.error_code for p in refused.value.problems] == ["92"]   # type: ignore[attr-defined]
    held = store.hold(role, MRN)
    expected = allowed if (target == role and allowed is not None
                           and CREATES.get(message_type) != role) else state
    assert held.state == expected


@pytest.mark.parametrize("message_type", sorted(t for t in RECEIVED_BY if t != "CC015C"))
def test_movement_states_unknown_mrn_is_90(store: Any, message_type: str) -> None:
    """No movement with the MRN in any role: a received message (other than one creating a
    movement) is 90; CD001C / CD050C create theirs."""
    if CREATES.get(message_type):
        outcome = _apply(store, _message(message_type))
        assert outcome.state_after == next_state(CREATES[message_type], None, message_type)
        return
    with pytest.raises(InvalidMessage) as refused:
        _apply(store, _message(message_type))
    assert refused.value.code == "GW-NCTS-UNKNOWN-MRN"
    assert [p.error_code for p in refused.value.problems] == ["90"]   # type: ignore[attr-defined]


def test_movement_states_cc015c_creates_and_an_lrn_is_used_once(store: Any) -> None:
    """A CC015C creates a declared movement; another with the same trader's LRN is 14
    BR20006; another trader may use the same LRN."""
    assert _apply(store, _message("CC015C", mrn=None, lrn="MK-1")).state_after == "declared"
    with pytest.raises(MovementConflict) as refused:
        _apply(store, _message("CC015C", mrn=None, lrn="MK-1"))
    assert refused.value.code == "GW-NCTS-LRN-TAKEN"
    other = apply_message(store, _message("CC015C", mrn=None, lrn="MK-1"),
                          partner_id="trader-other",
                          conversation_id="c-other", receipt_id="r-2", at="2026-12-01T11:00Z")
    assert other.state_after == "declared"


def test_movement_states_a_second_record_for_an_mrn_is_out_of_sequence(store: Any) -> None:
    """A second AAR (another message id) for an MRN already received: 92; the steps say
    what happened, in order."""
    first = _apply(store, _message("CD001C"))
    with pytest.raises(MovementConflict):
        _apply(store, _message("CD001C"))
    _apply(store, _message("CC007C"))
    held = store.hold(DESTINATION, MRN)
    assert (first.state_after, held.state, held.version) == ("aar_received", "arrival_notified",
                                                             2)
    assert held.facts["arrival_message_id"] == "id-CC007C"


def test_movement_states_not_allowed_names_what_the_state_takes() -> None:
    """The refusal says the role, state and what the state would take."""
    with pytest.raises(NotAllowed) as refused:
        next_state(DEPARTURE, "arrived", "CD006C")
    assert "arrived" in str(refused.value) and "CD018C" in str(refused.value)


# --- every decision x state of its role through the event handler ---------------------------------

EVENT_FIRST = {"mrn_allocated": "CC028C", "rejected": "CC056C", "released": "CC029C",
               "written_off": "CC045C", "arrival_accepted": "CD006C",
               "control_results": "CD018C", "crossing": "CD118C"}


@pytest.mark.parametrize(("kind", "state"), [
    (kind, state) for kind in EVENT_KINDS for state in states.states(ROLE_OF[kind])])
def test_movement_states_each_decision_in_each_state(tmp_path: Path, kind: str,
                                                     state: str) -> None:
    """A decision is applied exactly when its first message is allowed in the movement's
    state (then every message it issues is a step), else refused (parked, not applied)."""
    world = TransitWorld.build(tmp_path)
    try:
        role = ROLE_OF[kind]
        movement = seed(world, role, state)
        allowed = TRANSITIONS[role][state].get(EVENT_FIRST[kind])
        event = event_for(kind, movement)
        if allowed is None:
            with pytest.raises(MovementEventRefused):
                world.decide(event)
            assert world.movements().movement(role, movement.mrn or "").state == state \
                if movement.mrn else True
            return
        result = world.decide(event)
        assert result.applied
        after = world.movements().for_conversation(movement.conversation_id, role)
        steps = world.movements().steps(after.movement_id)
        assert steps[0].message_type == EVENT_FIRST[kind] and steps[0].state_before == state
        for before, step in itertools.pairwise(steps):
            assert step.state_before == before.state_after
        assert after.state == steps[-1].state_after
    finally:
        world.close()
