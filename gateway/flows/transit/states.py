"""The movement's states at one gateway and the messages that move it: the table, as data.

A gateway keeps a movement (one MRN) in the **role** its country plays in it: ``departure``
(the office of departure is ours: the trader lodged the CC015C here), ``destination`` (the
office of destination: an AAR, CD001C, came from departure) or ``transit`` (an office of
transit: an ATR, CD050C, came from departure). A country that is both destination and transit
of one movement keeps both.

Each message, received or issued, is an event of the movement's state machine in the role it
concerns. ``TRANSITIONS[role][state][message type]`` is the state after it; ``None`` is "no
movement yet" (the messages that create one). Any pair the table lacks is **out of
sequence** (NCTS error code 92); a message naming an MRN the gateway does not know in any role
is **unknown** (90). ``RECEIVED`` says which messages a role takes from outside (a trader, a
neighbouring administration: refused with a NACK when the table says no); the others the
gateway issues itself on a decision (clearance's, or the transit stand-in's).

    departure    (none) -CC015C-> declared -CC028C-> accepted -CC029C-> released
                 released -CD001C-> aar_sent -CD050C-> atr_sent (one CD050C per country of
                 transit) -CD118C-> crossing_notified; aar_sent / atr_sent / crossing_notified
                 -CD006C-> arrived -CD018C-> controlled -CC045C-> written_off;
                 declared -CC056C-> rejected
    destination  (none) -CD001C-> aar_received -CC007C-> arrival_notified -CD006C->
                 arrival_advice_sent -CD018C-> control_results_sent -CC025C-> goods_released
    transit      (none) -CD050C-> atr_received -CD118C-> crossing_notified

Self-loops are the repeats NCTS expects: a CD118C from each office of transit crossed, a
CD050C to each country of transit, and a CD118C that arrives after the arrival advice (the link
delivers at least once, in any order: a late crossing notification changes nothing). A CD018C
before the CD006C, a CC007C before the AAR, a second CC015C-created record for one MRN … are
out of sequence. NACKs from a neighbour (CD906C, CD917C) are noted on the movement and change
nothing (``NOTED``).
"""

from __future__ import annotations

from collections.abc import Mapping

DEPARTURE, DESTINATION, TRANSIT = "departure", "destination", "transit"
ROLES = (DEPARTURE, DESTINATION, TRANSIT)

# departure
DECLARED = "declared"
ACCEPTED = "accepted"
REJECTED = "rejected"
RELEASED = "released"
AAR_SENT = "aar_sent"
ATR_SENT = "atr_sent"
CROSSING_NOTIFIED = "crossing_notified"
ARRIVED = "arrived"
CONTROLLED = "controlled"
WRITTEN_OFF = "written_off"
# destination
AAR_RECEIVED = "aar_received"
ARRIVAL_NOTIFIED = "arrival_notified"
ARRIVAL_ADVICE_SENT = "arrival_advice_sent"
CONTROL_RESULTS_SENT = "control_results_sent"
GOODS_RELEASED = "goods_released"
# transit (and CROSSING_NOTIFIED)
ATR_RECEIVED = "atr_received"

#: role -> state (None: no movement yet) -> message type -> the state after it
TRANSITIONS: Mapping[str, Mapping[str | None, Mapping[str, str]]] = {
    DEPARTURE: {
        None: {"CC015C": DECLARED},
        DECLARED: {"CC028C": ACCEPTED, "CC056C": REJECTED},
        ACCEPTED: {"CC029C": RELEASED},
        RELEASED: {"CD001C": AAR_SENT},
        AAR_SENT: {"CD050C": ATR_SENT, "CD006C": ARRIVED},
        ATR_SENT: {"CD050C": ATR_SENT, "CD118C": CROSSING_NOTIFIED, "CD006C": ARRIVED},
        CROSSING_NOTIFIED: {"CD118C": CROSSING_NOTIFIED, "CD006C": ARRIVED},
        ARRIVED: {"CD118C": ARRIVED, "CD018C": CONTROLLED},
        CONTROLLED: {"CD118C": CONTROLLED, "CC045C": WRITTEN_OFF},
        WRITTEN_OFF: {},
        REJECTED: {},
    },
    DESTINATION: {
        None: {"CD001C": AAR_RECEIVED},
        AAR_RECEIVED: {"CC007C": ARRIVAL_NOTIFIED},
        ARRIVAL_NOTIFIED: {"CD006C": ARRIVAL_ADVICE_SENT},
        ARRIVAL_ADVICE_SENT: {"CD018C": CONTROL_RESULTS_SENT},
        CONTROL_RESULTS_SENT: {"CC025C": GOODS_RELEASED},
        GOODS_RELEASED: {},
    },
    TRANSIT: {
        None: {"CD050C": ATR_RECEIVED},
        ATR_RECEIVED: {"CD118C": CROSSING_NOTIFIED},
        CROSSING_NOTIFIED: {"CD118C": CROSSING_NOTIFIED},
    },
}

#: role -> the messages it takes from outside (checked at intake: 90 / 92 NACKs)
RECEIVED: Mapping[str, frozenset[str]] = {
    DEPARTURE: frozenset({"CC015C", "CD118C", "CD006C", "CD018C"}),
    DESTINATION: frozenset({"CD001C", "CC007C"}),
    TRANSIT: frozenset({"CD050C"}),
}
#: a received message -> the role it concerns at this gateway
RECEIVED_BY: Mapping[str, str] = {t: role for role, types in RECEIVED.items() for t in types}
#: messages noted on a movement without a transition (a neighbour's NACKs)
NOTED = frozenset({"CD906C", "CD917C"})
#: the messages that create a movement in a role
CREATES: Mapping[str, str] = {t: role for role, table in TRANSITIONS.items()
                              for t in table[None]}
FINAL: frozenset[tuple[str, str]] = frozenset(
    (role, state) for role, table in TRANSITIONS.items() for state, moves in table.items()
    if state is not None and not moves)


class NotAllowed(Exception):
    """A message the movement's state does not allow (NCTS: out of sequence, 92)."""

    def __init__(self, role: str, state: str | None, message_type: str) -> None:
        allowed = sorted(TRANSITIONS.get(role, {}).get(state, {}))
        super().__init__(
            f"a {message_type} is out of sequence for the movement at "
            f"{role} in state {state or 'none'}"
            + (f" (it takes {', '.join(allowed)})" if allowed else " (it takes no message)"))
        self.role, self.state, self.message_type = role, state, message_type


def next_state(role: str, state: str | None, message_type: str) -> str:
    """The state after ``message_type``; ``NotAllowed`` if the table has no such move."""
    moves = TRANSITIONS.get(role, {}).get(state)
    if moves is None or message_type not in moves:
        raise NotAllowed(role, state, message_type)
    return moves[message_type]


def states(role: str) -> tuple[str, ...]:
    """Every state of ``role``, in the table's order."""
    return tuple(s for s in TRANSITIONS[role] if s is not None)


def issued(role: str) -> frozenset[str]:
    """The messages the gateway itself issues in ``role`` (on a decision)."""
    return frozenset(t for moves in TRANSITIONS[role].values() for t in moves) - RECEIVED[role]
