"""The movements store: the transit flow's own state, behind its own port.

Two records:

* ``Movement`` — one movement (MRN) in one role at this gateway (``states.ROLES``): its state,
  references (MRN once allocated, the trader's LRN), who created it (the trader at departure,
  the sending administration's partner at destination and transit) and in which conversation
  (the trader's CC015C conversation at departure: its notifications go there), the trader's
  NCTS identity (``messageSender``: the recipient of the CC messages the gateway issues), the
  offices, the canonical declaration or record it was created from (JSON: what the CC029C,
  CD001C and CD050C are built from) and a few ``facts`` a later message needs (at destination:
  the arrival notification's conversation, trader and message id);
* ``MovementStep`` — every message that concerned the movement, received or issued, in order:
  its type and ``messageIdentification``, the state before and after, and what carried it (a
  receipt id, an event id).

Unique: one movement per ``(role, MRN)``, one departure movement per ``(trader, LRN)`` (rule
BR20006: an LRN is used once) and per conversation. ``MovementStore`` is the port inside a
journal transaction (``tx.flow("movements")``): ``hold`` reads a movement and holds it until
commit (PostgreSQL ``FOR UPDATE``; SQLite: the writer holds the database), so two messages for
one MRN are applied one after the other, never both on the same state; ``insert`` writes
nothing when a unique key is taken (a concurrent twin: decide again on what is there).
``MovementReader`` answers outside a transaction (``journal.flow("movements")``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Protocol

FLOW = "movements"
IN, OUT, NOTED = "in", "out", "noted"


@dataclass(frozen=True)
class Movement:
    movement_id: str
    role: str                              # departure | destination | transit
    state: str
    partner_id: str                        # who sent what created it
    conversation_id: str                   # that message's conversation
    created_at: str
    updated_at: str
    declaration: bytes = b""               # canonical JSON of the CC015C / CD001C / CD050C
    mrn: str | None = None
    lrn: str | None = None
    trader_id: str | None = None           # the holder's NCTS identity (its messageSender)
    office: str | None = None              # our office in it (departure, destination, transit)
    office_of_departure: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    version: int = 1

    def moved(self, state: str, at: str, **changes: Any) -> Movement:
        """This movement in ``state`` (version + 1), with other fields changed."""
        return replace(self, state=state, updated_at=at, version=self.version + 1, **changes)


@dataclass(frozen=True)
class MovementStep:
    movement_id: str
    at: str
    message_type: str
    direction: str                         # in | out | noted
    state_before: str | None
    state_after: str
    source: str                            # receipt id, event id
    message_id: str | None = None          # the message's messageIdentification
    seq: int = 0                           # given by the store, 1, 2, 3 … per movement


class MovementStore(Protocol):
    """The movements inside one journal transaction."""

    def hold(self, role: str, mrn: str) -> Movement | None:
        """The movement of ``mrn`` in ``role``, held until the transaction ends."""
        ...

    def hold_conversation(self, conversation_id: str, role: str) -> Movement | None:
        """The movement a conversation created in ``role`` (a CC015C's, before its MRN)."""
        ...

    def roles(self, mrn: str) -> list[str]:
        """The roles in which this gateway knows ``mrn`` (none: an unknown MRN)."""
        ...

    def insert(self, movement: Movement) -> bool:
        """Store a new movement; ``False`` (nothing written) if its role and MRN, its trader
        and LRN (departure) or its conversation and role are taken already."""
        ...

    def update(self, movement: Movement) -> None:
        """Replace the held movement (same id) with ``movement``."""
        ...

    def add_step(self, step: MovementStep) -> int:
        """Append a step to the movement's log; its seq."""
        ...


class MovementReader(Protocol):
    """The movements' read-only queries, outside any transaction."""

    def movement(self, role: str, mrn: str) -> Movement | None: ...

    def for_conversation(self, conversation_id: str, role: str) -> Movement | None: ...

    def movements(self, mrn: str) -> list[Movement]:
        """Every role's movement of ``mrn``."""
        ...

    def steps(self, movement_id: str) -> list[MovementStep]:
        """The movement's log, in order."""
        ...
