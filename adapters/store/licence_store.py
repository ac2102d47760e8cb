"""The licences store in SQL (a ``FlowStore``): licences, their goods lines, every version.

The port is ``gateway.flows.licences.store``. The SQL is written once for SQLite and
PostgreSQL (``?`` placeholders and ``{fields}`` filled in by the journal's ``Dialect``); the
tables are created with the journal's and written inside the journal's own transactions
(``tx.flow("licences")``), so a licence and the message that brought it commit together or not
at all.

What keeps concurrent versions right: a licence is held for the transaction once read
(PostgreSQL ``SELECT … FOR UPDATE``; SQLite: the writer holds the database); a licence not yet
known is created with ``INSERT … ON CONFLICT DO NOTHING`` — a concurrent twin waits for the
first insert's commit, writes nothing, and then holds the committed row and decides on it; a
version is recorded once (``PRIMARY KEY (agency, number, version, status)``). Quantities are
decimal strings: sums are exact in ``Decimal``. The goods lines are the rows a reservation
against a licence line will hold and draw from.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import fields
from decimal import Decimal
from typing import Any

from adapters.store.dialect import Dialect
from gateway.flows.licences.store import (
    FLOW,
    LicenceLineState,
    LicenceState,
    LicenceVersion,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS licences (
    agency TEXT NOT NULL,
    number TEXT NOT NULL,
    source TEXT NOT NULL,
    type TEXT NOT NULL,
    status TEXT NOT NULL,
    version INTEGER NOT NULL,
    receipt_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    certificate_type_code TEXT,
    holder_id TEXT,
    holder_name TEXT,
    destination_country TEXT,
    valid_from TEXT,
    valid_to TEXT,
    issued_at TEXT,
    revoked_at TEXT,
    PRIMARY KEY (agency, number)
);
CREATE INDEX IF NOT EXISTS licences_by_number ON licences (number);
CREATE TABLE IF NOT EXISTS licence_lines (
    agency TEXT NOT NULL,
    number TEXT NOT NULL,
    line INTEGER NOT NULL,
    hs_code TEXT,
    description TEXT,
    quantity TEXT,
    unit TEXT,
    PRIMARY KEY (agency, number, line)
);
CREATE TABLE IF NOT EXISTS licence_versions (
    agency TEXT NOT NULL,
    number TEXT NOT NULL,
    version INTEGER NOT NULL,
    status TEXT NOT NULL,
    outcome TEXT NOT NULL,
    receipt_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (agency, number, version, status)
)
"""

_LICENCE_COLUMNS = tuple(f.name for f in fields(LicenceState) if f.name != "lines")
_LINE_COLUMNS = ("agency", "number", *(f.name for f in fields(LicenceLineState)))
_VERSION_COLUMNS = tuple(f.name for f in fields(LicenceVersion))


def _insert(table: str, columns: Sequence[str]) -> str:
    return (f"INSERT INTO {table} ({', '.join(columns)})"
            f" VALUES ({', '.join('?' for _ in columns)})")


_INSERT_LICENCE = _insert("licences", _LICENCE_COLUMNS) + \
    " ON CONFLICT (agency, number) DO NOTHING"
_UPDATE_LICENCE = ("UPDATE licences SET " + ", ".join(f"{c} = ?" for c in _LICENCE_COLUMNS[2:])
                   + " WHERE agency = ? AND number = ?")
_INSERT_LINE = _insert("licence_lines", _LINE_COLUMNS)
_ADD_VERSION = _insert("licence_versions", _VERSION_COLUMNS) + \
    " ON CONFLICT (agency, number, version, status) DO NOTHING"
_LINES = "SELECT * FROM licence_lines WHERE agency = ? AND number = ? ORDER BY line"


class LicenceStoreSql:
    """The ``licences`` flow store: its tables, its bound store, its reader."""

    name = FLOW

    def schema(self) -> str:
        return SCHEMA

    def bind(self, dialect: Dialect, cur: Any) -> SqlLicenceStore:
        return SqlLicenceStore(dialect, cur)

    def reader(self, dialect: Dialect,
               read: Callable[[str, tuple[Any, ...]], list[dict[str, Any]]]) -> LicenceReaderSql:
        return LicenceReaderSql(read)


class SqlLicenceStore:
    """``gateway.flows.licences.store.LicenceStore`` on the writer's cursor."""

    def __init__(self, dialect: Dialect, cur: Any) -> None:
        self.d, self.cur = dialect, cur

    def _rows(self, template: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        self.cur.execute(self.d.sql(template), params)
        rows = self.cur.fetchall()
        names = [column[0] for column in self.cur.description]
        return [dict(zip(names, row, strict=True)) for row in rows]

    def hold(self, agency: str, number: str) -> LicenceState | None:
        rows = self._rows("SELECT * FROM licences WHERE agency = ? AND number = ?{row_lock}",
                          (agency, number))
        if not rows:
            return None
        return licence_of(rows[0], self._rows(_LINES, (agency, number)))

    def insert(self, licence: LicenceState) -> bool:
        self.cur.execute(self.d.sql(_INSERT_LICENCE), _values(licence, _LICENCE_COLUMNS))
        if self.cur.rowcount != 1:
            return False
        self._write_lines(licence)
        return True

    def replace(self, licence: LicenceState) -> None:
        values = _values(licence, _LICENCE_COLUMNS)
        self.cur.execute(self.d.sql(_UPDATE_LICENCE), (*values[2:], *values[:2]))
        self.cur.execute(self.d.sql("DELETE FROM licence_lines WHERE agency = ? AND number = ?"),
                         (licence.agency, licence.number))
        self._write_lines(licence)

    def add_version(self, version: LicenceVersion) -> bool:
        self.cur.execute(self.d.sql(_ADD_VERSION), _values(version, _VERSION_COLUMNS))
        return bool(self.cur.rowcount == 1)

    def find(self, number: str) -> list[LicenceState]:
        return [licence_of(row, self._rows(_LINES, (row["agency"], number)))
                for row in self._rows("SELECT * FROM licences WHERE number = ? ORDER BY agency",
                                      (number,))]

    def _write_lines(self, licence: LicenceState) -> None:
        if licence.lines:
            self.cur.executemany(self.d.sql(_INSERT_LINE), [
                (licence.agency, licence.number, *_values(line, _LINE_COLUMNS[2:]))
                for line in licence.lines])


class LicenceReaderSql:
    """``gateway.flows.licences.store.LicenceReader``: queries outside a transaction."""

    def __init__(self, read: Callable[[str, tuple[Any, ...]], list[dict[str, Any]]]) -> None:
        self._read = read

    def licence(self, agency: str, number: str) -> LicenceState | None:
        rows = self._read("SELECT * FROM licences WHERE agency = ? AND number = ?",
                          (agency, number))
        return licence_of(rows[0], self._read(_LINES, (agency, number))) if rows else None

    def versions(self, agency: str, number: str) -> list[LicenceVersion]:
        rows = self._read("SELECT * FROM licence_versions WHERE agency = ? AND number = ?"
                          " ORDER BY recorded_at, version", (agency, number))
        return [LicenceVersion(**{k: row[k] for k in _VERSION_COLUMNS}) for row in rows]

    def find(self, number: str) -> list[LicenceState]:
        return [licence_of(row, self._read(_LINES, (row["agency"], number)))
                for row in self._read("SELECT * FROM licences WHERE number = ? ORDER BY agency",
                                      (number,))]


# --- records to rows and back ------------------------------------------------------------------


def _values(record: Any, columns: Sequence[str]) -> tuple[Any, ...]:
    out = []
    for name in columns:
        value = getattr(record, name)
        out.append(format(value, "f") if isinstance(value, Decimal) else value)
    return tuple(out)


def licence_of(row: dict[str, Any], lines: list[dict[str, Any]]) -> LicenceState:
    return LicenceState(**{k: row[k] for k in _LICENCE_COLUMNS}, lines=tuple(
        LicenceLineState(line=int(r["line"]), hs_code=r["hs_code"], description=r["description"],
                         quantity=None if r["quantity"] is None else Decimal(r["quantity"]),
                         unit=r["unit"]) for r in lines))
