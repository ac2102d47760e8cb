"""The movements store in SQL (a ``FlowStore``): movements per role and MRN, and their steps.

The port is ``gateway.flows.transit.store``. The SQL is written once for SQLite and PostgreSQL
(``?`` placeholders and ``{fields}`` filled in by the journal's ``Dialect``); the tables are
created with the journal's and written inside the journal's own transactions
(``tx.flow("movements")``), so a movement's new state and the message or event that moved it
commit together or not at all.

What keeps concurrent messages for one movement right: a movement is held for the transaction
once read (PostgreSQL ``SELECT … FOR UPDATE``; SQLite: the writer holds the database); a new
movement is written with ``INSERT … ON CONFLICT DO NOTHING`` against its unique keys —
``(role, mrn)``, ``(role, partner_id, lrn)`` and ``(conversation_id, role)`` — so of two twins
racing, the second writes nothing, waits for the first's commit and then decides on the row
that is there. A step's ``seq`` is the movement's last plus one, taken while it is held.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from adapters.store.dialect import Dialect
from gateway.flows.transit.store import FLOW, Movement, MovementStep

SCHEMA = """
CREATE TABLE IF NOT EXISTS movements (
    movement_id TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    state TEXT NOT NULL,
    partner_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    declaration {blob} NOT NULL,
    mrn TEXT,
    lrn TEXT,
    trader_id TEXT,
    office TEXT,
    office_of_departure TEXT,
    facts TEXT NOT NULL,
    version INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS movements_by_mrn ON movements (role, mrn);
CREATE UNIQUE INDEX IF NOT EXISTS movements_by_lrn ON movements (role, partner_id, lrn);
CREATE UNIQUE INDEX IF NOT EXISTS movements_by_conversation ON movements (conversation_id, role);
CREATE TABLE IF NOT EXISTS movement_steps (
    movement_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at TEXT NOT NULL,
    message_type TEXT NOT NULL,
    direction TEXT NOT NULL,
    state_before TEXT,
    state_after TEXT NOT NULL,
    source TEXT NOT NULL,
    message_id TEXT,
    PRIMARY KEY (movement_id, seq)
)
"""

_COLUMNS = ("movement_id", "role", "state", "partner_id", "conversation_id", "created_at",
            "updated_at", "declaration", "mrn", "lrn", "trader_id", "office",
            "office_of_departure", "facts", "version")
_STEP_COLUMNS = ("movement_id", "seq", "at", "message_type", "direction", "state_before",
                 "state_after", "source", "message_id")
_INSERT = (f"INSERT INTO movements ({', '.join(_COLUMNS)})"
           f" VALUES ({', '.join('?' for _ in _COLUMNS)}) ON CONFLICT DO NOTHING")
_UPDATE = ("UPDATE movements SET " + ", ".join(f"{c} = ?" for c in _COLUMNS[1:])
           + " WHERE movement_id = ?")
_ADD_STEP = (f"INSERT INTO movement_steps ({', '.join(_STEP_COLUMNS)})"
             f" VALUES ({', '.join('?' for _ in _STEP_COLUMNS)})")


class MovementStoreSql:
    """The ``movements`` flow store: its tables, its bound store, its reader."""

    name = FLOW

    def schema(self) -> str:
        return SCHEMA

    def bind(self, dialect: Dialect, cur: Any) -> SqlMovementStore:
        return SqlMovementStore(dialect, cur)

    def reader(self, dialect: Dialect,
               read: Callable[[str, tuple[Any, ...]], list[dict[str, Any]]]
               ) -> MovementReaderSql:
        return MovementReaderSql(read)


class SqlMovementStore:
    """``gateway.flows.transit.store.MovementStore`` on the writer's cursor."""

    def __init__(self, dialect: Dialect, cur: Any) -> None:
        self.d, self.cur = dialect, cur

    def _rows(self, template: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        self.cur.execute(self.d.sql(template), params)
        rows = self.cur.fetchall()
        names = [column[0] for column in self.cur.description]
        return [dict(zip(names, row, strict=True)) for row in rows]

    def hold(self, role: str, mrn: str) -> Movement | None:
        rows = self._rows("SELECT * FROM movements WHERE role = ? AND mrn = ?{row_lock}",
                          (role, mrn))
        return movement_of(rows[0]) if rows else None

    def hold_conversation(self, conversation_id: str, role: str) -> Movement | None:
        rows = self._rows("SELECT * FROM movements WHERE conversation_id = ? AND role = ?"
                          "{row_lock}", (conversation_id, role))
        return movement_of(rows[0]) if rows else None

    def roles(self, mrn: str) -> list[str]:
        return [row["role"] for row in self._rows(
            "SELECT role FROM movements WHERE mrn = ? ORDER BY role", (mrn,))]

    def insert(self, movement: Movement) -> bool:
        self.cur.execute(self.d.sql(_INSERT), values_of(movement))
        return bool(self.cur.rowcount == 1)

    def update(self, movement: Movement) -> None:
        values = values_of(movement)
        self.cur.execute(self.d.sql(_UPDATE), (*values[1:], values[0]))

    def add_step(self, step: MovementStep) -> int:
        rows = self._rows("SELECT MAX(seq) AS last FROM movement_steps WHERE movement_id = ?",
                          (step.movement_id,))
        seq = int(rows[0]["last"] or 0) + 1
        self.cur.execute(self.d.sql(_ADD_STEP), (
            step.movement_id, seq, step.at, step.message_type, step.direction,
            step.state_before, step.state_after, step.source, step.message_id))
        return seq


class MovementReaderSql:
    """``gateway.flows.transit.store.MovementReader``: queries outside a transaction."""

    def __init__(self, read: Callable[[str, tuple[Any, ...]], list[dict[str, Any]]]) -> None:
        self._read = read

    def movement(self, role: str, mrn: str) -> Movement | None:
        rows = self._read("SELECT * FROM movements WHERE role = ? AND mrn = ?", (role, mrn))
        return movement_of(rows[0]) if rows else None

    def for_conversation(self, conversation_id: str, role: str) -> Movement | None:
        rows = self._read("SELECT * FROM movements WHERE conversation_id = ? AND role = ?",
                          (conversation_id, role))
        return movement_of(rows[0]) if rows else None

    def movements(self, mrn: str) -> list[Movement]:
        return [movement_of(row) for row in self._read(
            "SELECT * FROM movements WHERE mrn = ? ORDER BY role", (mrn,))]

    def steps(self, movement_id: str) -> list[MovementStep]:
        return [MovementStep(**{k: row[k] for k in _STEP_COLUMNS}) for row in self._read(
            "SELECT * FROM movement_steps WHERE movement_id = ? ORDER BY seq", (movement_id,))]


def values_of(movement: Movement) -> tuple[Any, ...]:
    out = []
    for name in _COLUMNS:
        value = getattr(movement, name)
        out.append(json.dumps(value, sort_keys=True) if name == "facts" else value)
    return tuple(out)


def movement_of(row: dict[str, Any]) -> Movement:
    values = {k: row[k] for k in _COLUMNS}
    values["declaration"] = bytes(values["declaration"])
    values["facts"] = json.loads(values["facts"])
    values["version"] = int(values["version"])
    return Movement(**values)
