"""The permit agency STAND-IN's register: what it issued and what is drawn on it (SQLite).

The agency is authoritative for quantities: this register is its own state, apart from the
gateway's mirror. It holds the licences and certificates the agency issued (``issue``: each
version, the newest kept, its goods lines with the quantities licensed) and one reservation per
(licence, MRN, goods item) — ``reserved``, ``written_off`` or ``deleted`` — with the quantity in
the line's unit. Every operation is one SQLite transaction started with ``BEGIN IMMEDIATE``:
the writer lock is taken before the balance is read, so concurrent calls (threads of one
stand-in, the HTTP workers of a sandbox sharing the file) are decided one after the other and
a licence is never over-drawn. Each change of a licence's reservations increments its
``revision``, which every answer states (the gateway keeps the newest balance it was told).

The decisions are the CERTEX model's, with the same rules as the gateway's own check
(``gateway/flows/licences/reservation_rules.py``) applied to the agency's state:

* ``reserve`` — refused with the reason (unknown licence, revoked, not valid on the day,
  holder or destination mismatch, line, code or unit mismatch, insufficient quantity), or
  reserved; the same (licence, MRN, item) again is answered as before (``repeated``) and
  reserves nothing more; after its write-off it is refused: ``already-written-off``;
* ``write_off`` — a reservation becomes a write-off (again: ``repeated``); none, deleted, or a
  revoked licence: refused (``wrong-status``, ``revoked``);
* ``delete`` — a reservation is deleted (none to delete: nothing held, answered ``deleted``);
  a write-off cannot be: ``already-written-off``.

``consume_elsewhere`` plays another customs office writing off on the same licence without
this gateway knowing (so that the agency refuses what the gateway's mirror would allow).
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from gateway.canonical.licence import REVOKED as LICENCE_REVOKED
from gateway.canonical.licence import Licence
from gateway.flows.licences.reservation_rules import Draw, decide
from gateway.flows.licences.reservations import (
    ALREADY_WRITTEN_OFF,
    REVOKED,
    UNKNOWN_LICENCE,
    WRONG_STATUS,
)
from gateway.flows.licences.store import LicenceLineState, LicenceState

RESERVED, WRITTEN_OFF, DELETED = "reserved", "written_off", "deleted"
_COUNTING = (RESERVED, WRITTEN_OFF)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS licences (agency TEXT NOT NULL, number TEXT NOT NULL,
    version INTEGER NOT NULL, status TEXT NOT NULL, holder_id TEXT, destination_country TEXT,
    valid_from TEXT, valid_to TEXT, revoked_at TEXT, revision INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (agency, number));
CREATE TABLE IF NOT EXISTS lines (agency TEXT NOT NULL, number TEXT NOT NULL,
    line INTEGER NOT NULL, hs_code TEXT, quantity TEXT, unit TEXT,
    PRIMARY KEY (agency, number, line));
CREATE TABLE IF NOT EXISTS reservations (agency TEXT NOT NULL, number TEXT NOT NULL,
    mrn TEXT NOT NULL, item INTEGER NOT NULL, line INTEGER NOT NULL, quantity TEXT NOT NULL,
    state TEXT NOT NULL, reference TEXT NOT NULL, at TEXT NOT NULL, calls INTEGER NOT NULL,
    PRIMARY KEY (agency, number, mrn, item))
"""


def agency_register_path(var_dir: Path, sandbox: str = "") -> Path:
    """``var/standins/agencies[-<sandbox>].db`` (the sandbox's AMQP prefix, made file-safe)."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", sandbox).strip("-")
    return var_dir / "standins" / (f"agencies-{name}.db" if name else "agencies.db")


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class ReserveRequest:
    """What the gateway asks of the agency for one goods item."""

    number: str
    mrn: str
    item: int
    line: int
    class_code: str | None
    quantity: Decimal
    unit: str
    holder_id: str | None = None
    destination_country: str | None = None


@dataclass
class Answer:
    """The agency's answer to one call (the SOAP layer writes it out, signed)."""

    operation: str
    result: str                          # reserved | refused | written_off | deleted
    number: str
    mrn: str
    item: int
    answered_at: str
    line: int | None = None
    quantity: Decimal | None = None      # reserved (the line's unit)
    unit: str | None = None
    available: Decimal | None = None
    consumed: Decimal | None = None
    usage: list[dict[str, Any]] = field(default_factory=list)
    reason: str | None = None
    reason_text: str | None = None
    reference: str | None = None
    revision: int = 0
    repeated: bool = False


class AgencyRegister:
    """One SQLite file (``path``; ``None``: in memory) for the agencies of a sandbox."""

    def __init__(self, path: Path | None = None, *, country: str = "MK",
                 clock: Callable[[], dt.datetime] = utc_now) -> None:
        self.path = path
        self.country = country
        self._clock = clock
        self._lock = threading.Lock()          # one connection: one call at a time here too
        self._conn: sqlite3.Connection | None = None

    # --- issuing ------------------------------------------------------------------------------

    def issue(self, agency: str, licence: Licence) -> bool:
        """Keep ``licence`` as ``agency`` issued it (a newer version replaces the lines; a
        revocation keeps them); ``False`` if a newer or equal version is kept already."""
        with self._transaction() as conn:
            row = conn.execute("SELECT version, status FROM licences WHERE agency = ? AND"
                               " number = ?", (agency, licence.number)).fetchone()
            order = (licence.version, 1 if licence.status == LICENCE_REVOKED else 0)
            if row is not None and (row[0], 1 if row[1] == LICENCE_REVOKED else 0) >= order:
                return False
            values = (licence.version, licence.status,
                      licence.holder.id if licence.holder else None,
                      licence.destination_country, licence.valid_from, licence.valid_to,
                      licence.revoked_at)
            if row is None:
                conn.execute("INSERT INTO licences (agency, number, version, status, holder_id,"
                             " destination_country, valid_from, valid_to, revoked_at, revision)"
                             " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
                             (agency, licence.number, *values))
            else:
                conn.execute("UPDATE licences SET version = ?, status = ?, holder_id = ?,"
                             " destination_country = ?, valid_from = ?, valid_to = ?,"
                             " revoked_at = ?, revision = revision + 1 WHERE agency = ? AND"
                             " number = ?", (*values, agency, licence.number))
            if licence.lines and licence.status != LICENCE_REVOKED:
                conn.execute("DELETE FROM lines WHERE agency = ? AND number = ?",
                             (agency, licence.number))
                conn.executemany("INSERT INTO lines VALUES (?, ?, ?, ?, ?, ?)", [
                    (agency, licence.number, line.line, line.hs_code,
                     None if line.quantity is None else format(line.quantity, "f"), line.unit)
                    for line in licence.lines])
            return True

    def consume_elsewhere(self, agency: str, number: str, line: int, quantity: Decimal,
                          mrn: str) -> None:
        """Another customs office wrote ``quantity`` off (unknown to this gateway)."""
        with self._transaction() as conn:
            conn.execute("INSERT INTO reservations VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, 1)",
                         (agency, number, mrn, line, format(quantity, "f"), WRITTEN_OFF,
                          _reference(), self._now()))
            conn.execute("UPDATE licences SET revision = revision + 1 WHERE agency = ? AND"
                         " number = ?", (agency, number))

    # --- the CERTEX operations ----------------------------------------------------------------

    def reserve(self, agency: str, request: ReserveRequest) -> Answer:
        with self._transaction() as conn:
            licence = self._licence(conn, agency, request.number)
            answer = self._answer(conn, agency, licence, "reserve", request.number, request.mrn,
                                  request.item)
            if licence is None:
                return _refused(answer, UNKNOWN_LICENCE, "the agency issued no such licence")
            kept = self._reservation(conn, agency, request.number, request.mrn, request.item)
            if kept is not None and kept["state"] == RESERVED:
                return self._repeat(conn, agency, licence, answer, kept, "reserved")
            if kept is not None and kept["state"] == WRITTEN_OFF:
                return _refused(answer, ALREADY_WRITTEN_OFF,
                                f"a write-off exists for MRN {request.mrn} item {request.item}")
            decision = decide(licence, Draw(request.quantity, request.unit, request.class_code,
                                            request.holder_id, request.destination_country,
                                            line=request.line),
                              self._drawn(conn, agency, request.number),
                              today=self._clock().date().isoformat(), country=self.country)
            if not decision.reservable:
                answer.line, answer.unit = decision.line, decision.unit
                if decision.line is not None:
                    self._balance(conn, agency, licence, answer, decision.line)
                return _refused(answer, decision.reason or WRONG_STATUS, decision.text)
            assert decision.line is not None and decision.quantity is not None
            reference = _reference()
            conn.execute("INSERT INTO reservations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)"
                         " ON CONFLICT (agency, number, mrn, item) DO UPDATE SET line ="
                         " excluded.line, quantity = excluded.quantity, state = excluded.state,"
                         " reference = excluded.reference, at = excluded.at, calls = calls + 1",
                         (agency, request.number, request.mrn, request.item, decision.line,
                          format(decision.quantity, "f"), RESERVED, reference, self._now()))
            self._changed(conn, agency, request.number)
            answer.result, answer.reference = "reserved", reference
            answer.quantity, answer.unit, answer.line = decision.quantity, decision.unit, \
                decision.line
            return self._balance(conn, agency, licence, answer, decision.line)

    def write_off(self, agency: str, number: str, mrn: str, item: int) -> Answer:
        with self._transaction() as conn:
            licence = self._licence(conn, agency, number)
            answer = self._answer(conn, agency, licence, "write_off", number, mrn, item)
            if licence is None:
                return _refused(answer, UNKNOWN_LICENCE, "the agency issued no such licence")
            kept = self._reservation(conn, agency, number, mrn, item)
            if kept is not None and kept["state"] == WRITTEN_OFF:
                return self._repeat(conn, agency, licence, answer, kept, "written_off")
            if kept is None or kept["state"] != RESERVED:
                state = kept["state"] if kept else "none"
                return _refused(answer, WRONG_STATUS, f"no reservation to write off for MRN "
                                                      f"{mrn} item {item} ({state})")
            if licence.status == LICENCE_REVOKED:
                return _refused(answer, REVOKED, f"licence {number} was revoked")
            self._settle(conn, agency, number, mrn, item, WRITTEN_OFF)
            answer.result, answer.reference = "written_off", kept["reference"]
            return self._balance(conn, agency, licence, answer, int(kept["line"]))

    def delete(self, agency: str, number: str, mrn: str, item: int) -> Answer:
        with self._transaction() as conn:
            licence = self._licence(conn, agency, number)
            answer = self._answer(conn, agency, licence, "delete", number, mrn, item)
            kept = self._reservation(conn, agency, number, mrn, item) if licence else None
            if kept is None:
                answer.result, answer.reason_text = "deleted", "nothing was reserved"
                return answer
            if kept["state"] == DELETED:
                return self._repeat(conn, agency, licence, answer, kept, "deleted")
            if kept["state"] == WRITTEN_OFF:
                return _refused(answer, ALREADY_WRITTEN_OFF, f"MRN {mrn} item {item} is "
                                                             "written off: it cannot be deleted")
            self._settle(conn, agency, number, mrn, item, DELETED)
            answer.result, answer.reference = "deleted", kept["reference"]
            assert licence is not None
            return self._balance(conn, agency, licence, answer, int(kept["line"]))

    def status(self, agency: str, number: str) -> dict[str, Any] | None:
        """The licence as the agency has it: status, validity, per line the quantity, what is
        available and what each MRN consumes."""
        with self._transaction() as conn:
            licence = self._licence(conn, agency, number)
            if licence is None:
                return None
            revision = conn.execute("SELECT revision FROM licences WHERE agency = ? AND"
                                    " number = ?", (agency, number)).fetchone()[0]
            drawn = self._drawn(conn, agency, number)
            return {"number": number, "agency": agency, "status": licence.status,
                    "version": licence.version, "valid_from": licence.valid_from,
                    "valid_to": licence.valid_to, "holder_id": licence.holder_id,
                    "revision": int(revision), "lines": [{
                        "line": line.line, "hs_code": line.hs_code, "unit": line.unit,
                        "quantity": None if line.quantity is None else format(line.quantity, "f"),
                        "available": None if line.quantity is None else
                        format(line.quantity - drawn.get(line.line, Decimal(0)), "f"),
                        "usage": self._usage(conn, agency, number, line.line)}
                        for line in licence.lines]}

    def reservations(self, agency: str) -> list[dict[str, Any]]:
        """Every reservation the agency keeps (tests and the demo)."""
        with self._transaction() as conn:
            rows = conn.execute("SELECT number, mrn, item, line, quantity, state, reference,"
                                " calls FROM reservations WHERE agency = ? ORDER BY rowid",
                                (agency,)).fetchall()
        return [{"number": n, "mrn": m, "item": i, "line": line, "quantity": q, "state": s,
                 "reference": r, "calls": c} for n, m, i, line, q, s, r, c in rows]

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    # --- plumbing -----------------------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")          # the writer lock before any read
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path or ":memory:", timeout=30, isolation_level=None,
                                   check_same_thread=False)
            if self.path is not None:
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=30000")
            for statement in _SCHEMA.split(";"):
                conn.execute(statement)
            self._conn = conn
        return self._conn

    def _now(self) -> str:
        return self._clock().isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def _licence(self, conn: sqlite3.Connection, agency: str, number: str
                 ) -> LicenceState | None:
        row = conn.execute("SELECT version, status, holder_id, destination_country, valid_from,"
                           " valid_to, revoked_at FROM licences WHERE agency = ? AND number = ?",
                           (agency, number)).fetchone()
        if row is None:
            return None
        lines = tuple(LicenceLineState(int(line), hs, None, None if q is None else Decimal(q),
                                       unit) for line, hs, q, unit in conn.execute(
            "SELECT line, hs_code, quantity, unit FROM lines WHERE agency = ? AND number = ?"
            " ORDER BY line", (agency, number)))
        version, status, holder, destination, valid_from, valid_to, revoked_at = row
        return LicenceState(agency=agency, number=number, source="agency-register", type="",
                            status=status, version=int(version), receipt_id="",
                            conversation_id="", updated_at="", holder_id=holder,
                            destination_country=destination, valid_from=valid_from,
                            valid_to=valid_to, revoked_at=revoked_at, lines=lines)

    @staticmethod
    def _reservation(conn: sqlite3.Connection, agency: str, number: str, mrn: str,
                     item: int) -> dict[str, Any] | None:
        row = conn.execute("SELECT line, quantity, state, reference FROM reservations WHERE"
                           " agency = ? AND number = ? AND mrn = ? AND item = ?",
                           (agency, number, mrn, item)).fetchone()
        return None if row is None else dict(zip(("line", "quantity", "state", "reference"),
                                                  row, strict=True))

    @staticmethod
    def _drawn(conn: sqlite3.Connection, agency: str, number: str) -> dict[int, Decimal]:
        out: dict[int, Decimal] = {}
        for line, quantity in conn.execute(
                "SELECT line, quantity FROM reservations WHERE agency = ? AND number = ? AND"
                " state IN (?, ?)", (agency, number, *_COUNTING)):
            out[int(line)] = out.get(int(line), Decimal(0)) + Decimal(quantity)
        return out

    @staticmethod
    def _usage(conn: sqlite3.Connection, agency: str, number: str, line: int
               ) -> list[dict[str, Any]]:
        return [{"mrn": mrn, "item": int(item), "quantity": quantity, "state": state, "at": at}
                for mrn, item, quantity, state, at in conn.execute(
                    "SELECT mrn, item, quantity, state, at FROM reservations WHERE agency = ?"
                    " AND number = ? AND line = ? AND state IN (?, ?) ORDER BY at, mrn, item",
                    (agency, number, line, *_COUNTING))]

    def _answer(self, conn: sqlite3.Connection, agency: str, licence: LicenceState | None,
                operation: str, number: str, mrn: str, item: int) -> Answer:
        revision = 0
        if licence is not None:
            revision = int(conn.execute("SELECT revision FROM licences WHERE agency = ? AND"
                                        " number = ?", (agency, number)).fetchone()[0])
        return Answer(operation, "refused", number, mrn, item, self._now(), revision=revision)

    def _balance(self, conn: sqlite3.Connection, agency: str, licence: LicenceState,
                 answer: Answer, line_number: int) -> Answer:
        """``answer`` with the line's balance after the call: available, usage, consumed."""
        line = licence.line(line_number)
        answer.line = line_number
        answer.revision = int(conn.execute("SELECT revision FROM licences WHERE agency = ? AND"
                                           " number = ?", (agency, licence.number)).fetchone()[0])
        if line is None:
            return answer
        answer.unit = answer.unit or line.unit
        if line.quantity is not None:
            answer.available = line.quantity - self._drawn(conn, agency, licence.number).get(
                line_number, Decimal(0))
        answer.usage = self._usage(conn, agency, licence.number, line_number)
        mine = [u for u in answer.usage if (u["mrn"], u["item"]) == (answer.mrn, answer.item)]
        answer.consumed = sum((Decimal(u["quantity"]) for u in mine), Decimal(0))
        return answer

    def _repeat(self, conn: sqlite3.Connection, agency: str, licence: LicenceState,
                answer: Answer, kept: dict[str, Any], result: str) -> Answer:
        conn.execute("UPDATE reservations SET calls = calls + 1 WHERE agency = ? AND number = ?"
                     " AND mrn = ? AND item = ?", (agency, answer.number, answer.mrn,
                                                   answer.item))
        answer.result, answer.repeated, answer.reference = result, True, kept["reference"]
        answer.quantity = Decimal(kept["quantity"])
        return self._balance(conn, agency, licence, answer, int(kept["line"]))

    def _settle(self, conn: sqlite3.Connection, agency: str, number: str, mrn: str, item: int,
                state: str) -> None:
        conn.execute("UPDATE reservations SET state = ?, at = ?, calls = calls + 1 WHERE"
                     " agency = ? AND number = ? AND mrn = ? AND item = ?",
                     (state, self._now(), agency, number, mrn, item))
        self._changed(conn, agency, number)

    @staticmethod
    def _changed(conn: sqlite3.Connection, agency: str, number: str) -> None:
        conn.execute("UPDATE licences SET revision = revision + 1 WHERE agency = ? AND"
                     " number = ?", (agency, number))


def _refused(answer: Answer, reason: str, text: str) -> Answer:
    answer.result, answer.reason, answer.reason_text = "refused", reason, text
    return answer


def _reference() -> str:
    return f"RSV-{uuid.uuid4().hex[:16].upper()}"
