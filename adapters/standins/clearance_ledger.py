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

The releases that wait are kept here too, by conversation: ``awaiting`` from before the
duties decision is published (so no payment or reservation result can come first) until the
release is published, then ``released``. What each waits for is a list of conditions
(``release_conditions``: ``payment``, ``reservation:<agency>:<number>:<item>``), each
``waiting``, ``met`` or ``failed``: ``meet`` gives the release back once every condition of it
is met (again, if asked again while the release is still awaiting: a redelivered message after
a crash half-way releases it then); a ``failed`` one (a refused reservation, a revoked
licence) withholds the release for good. A release kept by an older stand-in has no condition
rows: its payment alone releases it, as before.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from adapters.standins.clearance_rules import PendingRelease

DECIDE, DUPLICATE = "decide", "duplicate"
AWAITING, RELEASED = "awaiting", "released"
_PENDING = ("conversation_id", "receipt_id", "message_id", "reference", "mrn",
            "payment_reference", "amount_due", "currency", "final")
WAITING, MET, FAILED = "waiting", "met", "failed"


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
        self.await_release(pending, ["payment"])

    def await_release(self, pending: PendingRelease, conditions: Sequence[str]) -> None:
        """Keep ``pending`` until each of ``conditions`` is met (a repeat changes nothing)."""
        with self._lock:
            conn = self._connection()
            with conn:
                if conn.execute(
                        f"INSERT INTO releases ({', '.join(_PENDING)}, state, at) VALUES"
                        f" ({', '.join('?' * (len(_PENDING) + 2))}) ON CONFLICT DO NOTHING",
                        (*(str(getattr(pending, name)) if name == "amount_due"
                           else getattr(pending, name) for name in _PENDING),
                         AWAITING, time.time())).rowcount == 1:
                    conn.executemany("INSERT INTO release_conditions (conversation_id,"
                                     " condition, state, reason, at) VALUES (?, ?, ?, NULL, ?)"
                                     " ON CONFLICT DO NOTHING",
                                     [(pending.conversation_id, c, WAITING, time.time())
                                      for c in dict.fromkeys(conditions)])

    def meet(self, conversation_id: str, condition: str) -> PendingRelease | None:
        """Note ``condition`` met; the release, if it awaits and nothing else is wanting."""
        with self._lock:
            conn = self._connection()
            with conn:
                states = dict(conn.execute("SELECT condition, state FROM release_conditions"
                                           " WHERE conversation_id = ?", (conversation_id,)))
                if not states:                       # kept by an older stand-in: payment only
                    return self._awaiting(conn, conversation_id) if condition == "payment" \
                        else None
                if states.get(condition) not in (WAITING, MET):
                    return None
                conn.execute("UPDATE release_conditions SET state = ?, at = ? WHERE"
                             " conversation_id = ? AND condition = ?",
                             (MET, time.time(), conversation_id, condition))
                states[condition] = MET
                if any(state != MET for state in states.values()):
                    return None
                return self._awaiting(conn, conversation_id)

    def fail(self, conversation_id: str, condition: str, reason: str) -> bool:
        """Note ``condition`` failed (the release is withheld); ``False`` if not waited for."""
        with self._lock:
            conn = self._connection()
            with conn:
                return conn.execute(
                    "UPDATE release_conditions SET state = ?, reason = ?, at = ? WHERE"
                    " conversation_id = ? AND condition = ?",
                    (FAILED, reason, time.time(), conversation_id, condition)).rowcount == 1

    def conditions(self, conversation_id: str) -> dict[str, str]:
        """Each condition of the release of ``conversation_id`` and its state."""
        with self._lock:
            return dict(self._connection().execute(
                "SELECT condition, state FROM release_conditions WHERE conversation_id = ?"
                " ORDER BY condition", (conversation_id,)))

    def pending(self, conversation_id: str) -> PendingRelease | None:
        """The release of ``conversation_id`` that waits, if any."""
        with self._lock:
            return self._awaiting(self._connection(), conversation_id)

    @staticmethod
    def _awaiting(conn: sqlite3.Connection, conversation_id: str) -> PendingRelease | None:
        row = conn.execute(f"SELECT {', '.join(_PENDING)} FROM releases WHERE"
                           f" conversation_id = ? AND state = ?",
                           (conversation_id, AWAITING)).fetchone()
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
            columns = {row[1] for row in conn.execute("PRAGMA table_info(releases)")}
            if "final" not in columns:               # a ledger of an older stand-in
                conn.execute("ALTER TABLE releases ADD COLUMN final TEXT NOT NULL"
                             " DEFAULT 'released'")
            conn.execute("CREATE TABLE IF NOT EXISTS release_conditions (conversation_id TEXT"
                         " NOT NULL, condition TEXT NOT NULL, state TEXT NOT NULL, reason TEXT,"
                         " at REAL NOT NULL, PRIMARY KEY (conversation_id, condition))")
            self._conn = conn
        return self._conn
