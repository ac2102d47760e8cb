"""What the clearance STAND-IN has decided, by the declaration's ``message_id`` (SQLite file).

The gateway publishes at least once: a declaration its relay published again (after another
relay's lease ran out, see ``adapters/amqp/relay.py``) arrives a second time with the same
``message_id``. The stand-in asks this ledger before deciding, so a republished declaration
gets no second set of decisions — also after the stand-in restarted, and across the
stand-ins of several instances sharing a var directory (``var/standins/clearance.db``).

One row per message id: ``deciding`` while its decisions are being published, ``decided``
once the broker confirmed them. A copy that finds ``decided`` is a duplicate. A copy that
finds ``deciding`` is a duplicate too — the first copy is being decided — unless the broker
says it is a redelivery (the first attempt's consumer went away before it acked: it may have
died half-way) or the mark is older than ``stale_seconds``: then it is decided again, and its
decisions (ids derived from the message id) are duplicates the gateway recognises. The
gateway's payment messages (``clearance.payments``) are de-duplicated the same way, by their
own message ids.

The releases that wait for payment are kept here too, by conversation: ``awaiting`` from
before the duties decision is published (so no payment can come first) until the release is
published, then ``released``.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from decimal import Decimal
from pathlib import Path

from adapters.standins.clearance_rules import PendingRelease

DECIDE, DUPLICATE = "decide", "duplicate"
AWAITING, RELEASED = "awaiting", "released"
_PENDING = ("conversation_id", "receipt_id", "message_id", "reference", "mrn",
            "payment_reference", "amount_due", "currency")


def ledger_path(var_dir: Path) -> Path:
    return var_dir / "standins" / "clearance.db"


class ClearanceLedger:
    def __init__(self, path: Path, *, stale_seconds: float = 120.0) -> None:
        self.path = path
        self._stale = stale_seconds
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def begin(self, message_id: str, *, redelivered: bool = False) -> str:
        """``DECIDE`` (this delivery decides, now marked ``deciding``) or ``DUPLICATE``."""
        now = time.time()
        with self._lock:
            conn = self._connection()
            with conn:
                if conn.execute("INSERT INTO decided (message_id, state, at) VALUES"
                                " (?, 'deciding', ?) ON CONFLICT DO NOTHING",
                                (message_id, now)).rowcount == 1:
                    return DECIDE
                state, at = conn.execute("SELECT state, at FROM decided WHERE message_id = ?",
                                         (message_id,)).fetchone()
                if state == "decided" or not (redelivered or now - at > self._stale):
                    return DUPLICATE
                conn.execute("UPDATE decided SET at = ? WHERE message_id = ?",
                             (now, message_id))
                return DECIDE

    def decided(self, message_id: str) -> None:
        """The decisions on ``message_id`` were published (confirmed)."""
        with self._lock:
            conn = self._connection()
            with conn:
                conn.execute("UPDATE decided SET state = 'decided', at = ? WHERE message_id = ?",
                             (time.time(), message_id))

    def await_payment(self, pending: PendingRelease) -> None:
        """Keep ``pending`` until its duties are paid (a repeat of the same one changes
        nothing, nor does a conversation released already)."""
        with self._lock:
            conn = self._connection()
            with conn:
                conn.execute(
                    f"INSERT INTO releases ({', '.join(_PENDING)}, state, at) VALUES"
                    f" ({', '.join('?' * (len(_PENDING) + 2))}) ON CONFLICT DO NOTHING",
                    (*(str(getattr(pending, name)) if name == "amount_due"
                       else getattr(pending, name) for name in _PENDING),
                     AWAITING, time.time()))

    def pending(self, conversation_id: str) -> PendingRelease | None:
        """The release of ``conversation_id`` that waits for payment, if any."""
        with self._lock:
            row = self._connection().execute(
                f"SELECT {', '.join(_PENDING)} FROM releases WHERE conversation_id = ?"
                f" AND state = ?", (conversation_id, AWAITING)).fetchone()
        if row is None:
            return None
        values = dict(zip(_PENDING, row, strict=True))
        return PendingRelease(**{**values, "amount_due": Decimal(values["amount_due"])})

    def released(self, conversation_id: str) -> None:
        """The release of ``conversation_id`` was published (confirmed)."""
        with self._lock:
            conn = self._connection()
            with conn:
                conn.execute("UPDATE releases SET state = ?, at = ? WHERE conversation_id = ?",
                             (RELEASED, time.time(), conversation_id))

    def release_state(self, conversation_id: str) -> str | None:
        with self._lock:
            row = self._connection().execute(
                "SELECT state FROM releases WHERE conversation_id = ?",
                (conversation_id,)).fetchone()
        return row[0] if row else None

    def state(self, message_id: str) -> str | None:
        with self._lock:
            row = self._connection().execute(
                "SELECT state FROM decided WHERE message_id = ?", (message_id,)).fetchone()
        return row[0] if row else None

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")     # durable across a process crash
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("CREATE TABLE IF NOT EXISTS decided (message_id TEXT PRIMARY KEY,"
                         " state TEXT NOT NULL, at REAL NOT NULL)")
            conn.execute("CREATE TABLE IF NOT EXISTS releases (conversation_id TEXT PRIMARY KEY,"
                         " receipt_id TEXT NOT NULL, message_id TEXT NOT NULL, reference TEXT,"
                         " mrn TEXT NOT NULL, payment_reference TEXT NOT NULL,"
                         " amount_due TEXT NOT NULL, currency TEXT NOT NULL,"
                         " state TEXT NOT NULL, at REAL NOT NULL)")
            self._conn = conn
        return self._conn
