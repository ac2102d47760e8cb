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
decimal strings: sums are exact in ``Decimal``.

Reservations (``gateway/flows/licences/reservations.py``): ``licence_requests`` (one per
declaration, goods item and licence quoted), ``licence_reservations`` (one per licence, MRN
and goods item — ``PRIMARY KEY (agency, number, mrn, item)``: a reservation is never made
twice; a twin inserted meanwhile by another transaction is not written, ``ON CONFLICT DO
NOTHING``) and ``licence_balances`` (the agency's newest balance per line). What a licence line
has drawn is read while the licence is held, so the balance check and the new reservation are
one atomic step on both databases. The agency caller's claim locks the due rows and skips
those another instance is claiming (PostgreSQL ``FOR UPDATE SKIP LOCKED``), then leases them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import fields
from decimal import Decimal
from typing import Any

from adapters.store.dialect import Dialect
from gateway.flows.licences.reservations import (
    LineBalance,
    MrnUsage,
    Reservation,
    ReservationRequest,
)
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
);
CREATE TABLE IF NOT EXISTS licence_requests (
    conversation_id TEXT NOT NULL,
    item INTEGER NOT NULL,
    agency TEXT NOT NULL,
    number TEXT NOT NULL,
    partner_id TEXT NOT NULL,
    code TEXT NOT NULL,
    document_type TEXT NOT NULL,
    hs_code TEXT,
    quantity TEXT NOT NULL,
    unit TEXT NOT NULL,
    holder_id TEXT,
    destination_country TEXT,
    reference TEXT,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (conversation_id, item, agency, number)
);
CREATE TABLE IF NOT EXISTS licence_reservations (
    agency TEXT NOT NULL,
    number TEXT NOT NULL,
    mrn TEXT NOT NULL,
    item INTEGER NOT NULL,
    conversation_id TEXT NOT NULL,
    partner_id TEXT NOT NULL,
    code TEXT NOT NULL,
    state TEXT NOT NULL,
    target TEXT NOT NULL,
    declared_quantity TEXT NOT NULL,
    declared_unit TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    line INTEGER,
    hs_code TEXT,
    quantity TEXT,
    unit TEXT,
    holder_id TEXT,
    destination_country TEXT,
    reason TEXT,
    reason_text TEXT,
    refused_by TEXT,
    available TEXT,
    consumed TEXT,
    agency_reference TEXT,
    answered_at TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at {real},
    lease_owner TEXT,
    lease_until {real},
    last_error TEXT,
    revoked_at TEXT,
    PRIMARY KEY (agency, number, mrn, item)
);
CREATE INDEX IF NOT EXISTS licence_reservations_by_conversation
    ON licence_reservations (conversation_id);
CREATE INDEX IF NOT EXISTS licence_reservations_due ON licence_reservations (next_at)
    WHERE next_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS licence_balances (
    agency TEXT NOT NULL,
    number TEXT NOT NULL,
    line INTEGER NOT NULL,
    available TEXT NOT NULL,
    unit TEXT,
    usage TEXT NOT NULL,
    revision INTEGER NOT NULL,
    answered_at TEXT NOT NULL,
    PRIMARY KEY (agency, number, line)
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

_REQUEST_COLUMNS = tuple(f.name for f in fields(ReservationRequest))
_RESERVATION_COLUMNS = tuple(f.name for f in fields(Reservation))
_KEY = ("agency", "number", "mrn", "item")
_DECIMALS = frozenset({"quantity", "declared_quantity", "available", "consumed"})
_ADD_REQUEST = _insert("licence_requests", _REQUEST_COLUMNS) + \
    " ON CONFLICT (conversation_id, item, agency, number) DO NOTHING"
_REQUESTS = "SELECT * FROM licence_requests WHERE conversation_id = ? ORDER BY agency, number, item"
_ADD_RESERVATION = _insert("licence_reservations", _RESERVATION_COLUMNS) + \
    " ON CONFLICT (agency, number, mrn, item) DO NOTHING"
_SAVE_RESERVATION = (
    "UPDATE licence_reservations SET "
    + ", ".join(f"{c} = ?" for c in _RESERVATION_COLUMNS if c not in _KEY)
    + " WHERE agency = ? AND number = ? AND mrn = ? AND item = ?")
_RESERVATION = ("SELECT * FROM licence_reservations WHERE agency = ? AND number = ? AND mrn = ?"
                " AND item = ?")
_RESERVATIONS_ON = ("SELECT * FROM licence_reservations WHERE agency = ? AND number = ?"
                    " ORDER BY mrn, item")
_RESERVATIONS_OF = ("SELECT * FROM licence_reservations WHERE conversation_id = ?"
                    " ORDER BY agency, number, item")
_DUE = ("SELECT agency, number, mrn, item FROM licence_reservations WHERE next_at IS NOT NULL"
        " AND next_at <= ? AND (lease_until IS NULL OR lease_until < ?)"
        " ORDER BY next_at LIMIT ?{skip_locked}")
_LEASE = ("UPDATE licence_reservations SET lease_owner = ?, lease_until = ?"
          " WHERE agency = ? AND number = ? AND mrn = ? AND item = ?")
_BALANCE = "SELECT * FROM licence_balances WHERE agency = ? AND number = ? AND line = ?"
_SAVE_BALANCE = (
    "INSERT INTO licence_balances (agency, number, line, available, unit, usage, revision,"
    " answered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (agency, number, line) DO UPDATE"
    " SET available = excluded.available, unit = excluded.unit, usage = excluded.usage,"
    " revision = excluded.revision, answered_at = excluded.answered_at"
    " WHERE licence_balances.revision < excluded.revision")


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

    # --- reservations ---------------------------------------------------------------------------

    def add_requests(self, requests: Sequence[ReservationRequest]) -> int:
        if not requests:
            return 0
        self.cur.executemany(self.d.sql(_ADD_REQUEST),
                             [_values(r, _REQUEST_COLUMNS) for r in requests])
        return int(self.cur.rowcount)

    def requests(self, conversation_id: str) -> list[ReservationRequest]:
        return [request_of(row) for row in self._rows(_REQUESTS, (conversation_id,))]

    def reservation(self, agency: str, number: str, mrn: str, item: int) -> Reservation | None:
        rows = self._rows(_RESERVATION, (agency, number, mrn, item))
        return reservation_of(rows[0]) if rows else None

    def reservations_on(self, agency: str, number: str) -> list[Reservation]:
        return [reservation_of(row) for row in self._rows(_RESERVATIONS_ON, (agency, number))]

    def reservations_of(self, conversation_id: str) -> list[Reservation]:
        return [reservation_of(row) for row in self._rows(_RESERVATIONS_OF, (conversation_id,))]

    def add_reservation(self, reservation: Reservation) -> bool:
        self.cur.execute(self.d.sql(_ADD_RESERVATION),
                         _values(reservation, _RESERVATION_COLUMNS))
        return bool(self.cur.rowcount == 1)

    def save_reservation(self, reservation: Reservation) -> None:
        values = dict(zip(_RESERVATION_COLUMNS, _values(reservation, _RESERVATION_COLUMNS),
                          strict=True))
        self.cur.execute(self.d.sql(_SAVE_RESERVATION), (
            *(values[c] for c in _RESERVATION_COLUMNS if c not in _KEY),
            *(values[c] for c in _KEY)))

    def claim_calls(self, owner: str, limit: int, lease_seconds: float, now: float
                    ) -> list[Reservation]:
        self.cur.execute(self.d.sql(_DUE), (now, now, limit))
        keys = [tuple(row) for row in self.cur.fetchall()]
        if not keys:
            return []
        self.cur.executemany(self.d.sql(_LEASE),
                             [(owner, now + lease_seconds, *key) for key in keys])
        claimed = [self.reservation(*key) for key in keys]
        return [r for r in claimed if r is not None]

    def save_balance(self, balance: LineBalance) -> bool:
        self.cur.execute(self.d.sql(_SAVE_BALANCE), (
            balance.agency, balance.number, balance.line, format(balance.available, "f"),
            balance.unit, usage_json(balance.usage), balance.revision, balance.answered_at))
        return bool(self.cur.rowcount == 1)

    def balance(self, agency: str, number: str, line: int) -> LineBalance | None:
        rows = self._rows(_BALANCE, (agency, number, line))
        return balance_of(rows[0]) if rows else None

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

    def requests(self, conversation_id: str) -> list[ReservationRequest]:
        return [request_of(row) for row in self._read(_REQUESTS, (conversation_id,))]

    def reservations_of(self, conversation_id: str) -> list[Reservation]:
        return [reservation_of(row) for row in self._read(_RESERVATIONS_OF, (conversation_id,))]

    def reservations_on(self, agency: str, number: str) -> list[Reservation]:
        return [reservation_of(row) for row in self._read(_RESERVATIONS_ON, (agency, number))]

    def balance(self, agency: str, number: str, line: int) -> LineBalance | None:
        rows = self._read(_BALANCE, (agency, number, line))
        return balance_of(rows[0]) if rows else None


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


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def request_of(row: dict[str, Any]) -> ReservationRequest:
    values = {k: row[k] for k in _REQUEST_COLUMNS}
    values["item"], values["quantity"] = int(values["item"]), Decimal(values["quantity"])
    return ReservationRequest(**values)


def reservation_of(row: dict[str, Any]) -> Reservation:
    values = {k: (_decimal(row[k]) if k in _DECIMALS else row[k]) for k in _RESERVATION_COLUMNS}
    values["item"], values["attempts"] = int(values["item"]), int(values["attempts"])
    if values["line"] is not None:
        values["line"] = int(values["line"])
    for name in ("next_at", "lease_until"):
        if values[name] is not None:
            values[name] = float(values[name])
    return Reservation(**values)


def usage_json(usage: Sequence[MrnUsage]) -> str:
    return json.dumps([{"mrn": u.mrn, "item": u.item, "quantity": format(u.quantity, "f"),
                        "state": u.state, "at": u.at} for u in usage])


def balance_of(row: dict[str, Any]) -> LineBalance:
    usage = tuple(MrnUsage(u["mrn"], int(u["item"]), Decimal(u["quantity"]), u["state"], u["at"])
                  for u in json.loads(row["usage"]))
    return LineBalance(row["agency"], row["number"], int(row["line"]), Decimal(row["available"]),
                       row["unit"], usage, int(row["revision"]), row["answered_at"])
