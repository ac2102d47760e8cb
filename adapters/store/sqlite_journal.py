"""The embedded journal: SQLite in WAL mode with ``synchronous=FULL`` and group commit.

Implements the journal ports of ``gateway.ports``: the message journal (raw bytes stored
content-addressed, outcome, canonical JSON, the signed receipt), the outbox, conversations
with their history, and notifications with their push state — all in one file, all written
through one group-commit writer. Several gateway processes may share the file: writes take
SQLite's write lock (``BEGIN IMMEDIATE``) and outbox/push rows are claimed with leases.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from adapters.store.group_commit import GroupCommitWriter
from gateway.pipeline.exchange import utc_now_iso
from gateway.ports import (
    AcceptedMessage,
    Notification,
    OutboundMessage,
    OutboxRow,
    PushJob,
    StoredReceipt,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS blobs (
    sha256 TEXT PRIMARY KEY,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    receipt_id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    partner_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    message_type TEXT NOT NULL,
    channel TEXT NOT NULL,
    received_at TEXT NOT NULL,
    sha256 TEXT NOT NULL REFERENCES blobs(sha256),
    status TEXT NOT NULL,
    reference TEXT,
    canonical_json BLOB,
    receipt_xml BLOB NOT NULL,
    receipt_json TEXT NOT NULL,
    UNIQUE (partner_id, idempotency_key)
);
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    partner_id TEXT NOT NULL,
    reference TEXT,
    mrn TEXT,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_conversation ON events (conversation_id, id);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    exchange TEXT NOT NULL,
    routing_key TEXT NOT NULL,
    headers TEXT NOT NULL,
    body BLOB NOT NULL,
    content_type TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until REAL,
    created_at TEXT NOT NULL,
    sent_at TEXT,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (seq) WHERE state = 'pending';
CREATE TABLE IF NOT EXISTS notifications (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    partner_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    created_at TEXT NOT NULL,
    decision_id TEXT NOT NULL UNIQUE,
    document BLOB NOT NULL,
    summary TEXT NOT NULL,
    callback_url TEXT,
    push_state TEXT NOT NULL,
    push_attempts INTEGER NOT NULL DEFAULT 0,
    push_next_at REAL,
    push_lease_owner TEXT,
    push_lease_until REAL,
    push_last_error TEXT,
    UNIQUE (conversation_id, seq)
);
CREATE INDEX IF NOT EXISTS notifications_push_due ON notifications (push_next_at)
    WHERE push_state = 'pending';
"""


def sqlite_path(url: str) -> Path:
    """``sqlite:///relative/file.db`` or ``sqlite:////absolute/file.db``."""
    if not url.startswith("sqlite:///"):
        raise ValueError(f"not an sqlite URL: {url}")
    return Path(url.removeprefix("sqlite:///"))


class SqliteJournal:
    """Message journal, outbox, conversations and notifications in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._writer = GroupCommitWriter(self._connect, begin="BEGIN IMMEDIATE")

    # --- lifecycle ---------------------------------------------------------------------------

    def open(self) -> SqliteJournal:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._connect()
        conn.executescript(SCHEMA)
        conn.close()
        self._writer.start()
        return self

    def close(self) -> None:
        self._writer.stop()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=30,
                               check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
        return conn

    def ping(self) -> bool:
        self._reader().execute("SELECT 1").fetchone()
        return self._writer.alive

    # --- message journal ---------------------------------------------------------------------

    def find(self, partner_id: str, idempotency_key: str) -> StoredReceipt | None:
        row = self._reader().execute(
            "SELECT receipt_id, conversation_id, sha256, receipt_xml, receipt_json FROM messages"
            " WHERE partner_id = ? AND idempotency_key = ?", (partner_id, idempotency_key),
        ).fetchone()
        return _stored(row) if row else None

    async def record(self, message: AcceptedMessage) -> tuple[StoredReceipt, bool]:
        return await self._writer.run(lambda cur: _record(cur, message))

    # --- outbox ------------------------------------------------------------------------------

    async def claim(self, owner: str, limit: int, lease_seconds: float) -> list[OutboxRow]:
        return await self._writer.run(lambda cur: _claim(cur, owner, limit, lease_seconds))

    async def settle(self, sent: list[int], failed: dict[int, str],
                     parked: dict[int, str]) -> None:
        await self._writer.run(lambda cur: _settle(cur, sent, failed, parked))

    def outbox_counts(self) -> dict[str, int]:
        rows = self._reader().execute("SELECT state, COUNT(*) FROM outbox GROUP BY state")
        return {state: count for state, count in rows}

    # --- conversations and notifications -----------------------------------------------------

    def conversation(self, conversation_id: str) -> dict[str, Any] | None:
        db = self._reader()
        row = db.execute("SELECT * FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
        if row is None:
            return None
        history = [
            {"at": e["at"], "event": e["kind"], **json.loads(e["detail"])}
            for e in db.execute("SELECT at, kind, detail FROM events WHERE conversation_id = ?"
                                " ORDER BY id", (conversation_id,))
        ]
        return {**dict(row), "history": history}

    def notifications(self, conversation_id: str) -> list[Notification]:
        rows = self._reader().execute(
            "SELECT * FROM notifications WHERE conversation_id = ? ORDER BY seq",
            (conversation_id,))
        return [_notification(r) for r in rows]

    async def record_decision(self, notification: Notification, status: dict[str, Any],
                              callback_url: str | None) -> bool:
        return await self._writer.run(
            lambda cur: _record_decision(cur, notification, status, callback_url))

    async def claim_due(self, owner: str, limit: int, lease_seconds: float, *,
                        per_partner: int = 4, busy: frozenset[str] = frozenset()
                        ) -> list[PushJob]:
        return await self._writer.run(lambda cur: _claim_pushes(
            cur, owner, limit, lease_seconds, per_partner, busy))

    async def push_result(self, notification_id: str, *, delivered: bool, error: str | None,
                          retry_at: float | None) -> None:
        await self._writer.run(
            lambda cur: _push_result(cur, notification_id, delivered, error, retry_at))


# --- operations run inside the writer's transaction ------------------------------------------


def _record(cur: sqlite3.Cursor, m: AcceptedMessage) -> tuple[StoredReceipt, bool]:
    cur.execute("INSERT INTO blobs (sha256, body) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (m.sha256, m.body))
    cur.execute(
        "INSERT INTO messages (receipt_id, conversation_id, partner_id, idempotency_key,"
        " message_type, channel, received_at, sha256, status, reference, canonical_json,"
        " receipt_xml, receipt_json) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
        " ON CONFLICT (partner_id, idempotency_key) DO NOTHING",
        (m.receipt_id, m.conversation_id, m.partner_id, m.idempotency_key, m.message_type,
         m.channel, m.received_at, m.sha256, m.status, m.reference, m.canonical_json,
         m.receipt_xml, json.dumps(m.receipt)))
    if cur.rowcount == 0:
        row = cur.execute(
            "SELECT receipt_id, conversation_id, sha256, receipt_xml, receipt_json FROM messages"
            " WHERE partner_id = ? AND idempotency_key = ?",
            (m.partner_id, m.idempotency_key)).fetchone()
        return _stored(row), False
    now = utc_now_iso()
    cur.execute("INSERT INTO conversations (id, partner_id, reference, status, created_at,"
                " updated_at) VALUES (?,?,?,?,?,?)",
                (m.conversation_id, m.partner_id, m.reference, m.status, now, now))
    detail = {"receipt_id": m.receipt_id, "message_type": m.message_type,
              "channel": m.channel, "sha256": m.sha256, **m.event_detail}
    cur.execute("INSERT INTO events (conversation_id, at, kind, detail) VALUES (?,?,?,?)",
                (m.conversation_id, m.received_at, m.status, json.dumps(detail)))
    cur.executemany(
        "INSERT INTO outbox (id, conversation_id, kind, exchange, routing_key, headers, body,"
        " content_type, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
        [(o.id, o.conversation_id, o.kind, o.exchange, o.routing_key, json.dumps(o.headers),
          o.body, o.content_type, now) for o in m.outbox])
    receipt = StoredReceipt(m.receipt_id, m.conversation_id, m.sha256, m.receipt_xml, m.receipt)
    return receipt, True


def _claim(cur: sqlite3.Cursor, owner: str, limit: int, lease: float) -> list[OutboxRow]:
    now = time.time()
    rows = cur.execute(
        "UPDATE outbox SET lease_owner = ?, lease_until = ?, attempts = attempts + 1"
        " WHERE seq IN (SELECT seq FROM outbox WHERE state = 'pending'"
        "   AND (lease_until IS NULL OR lease_until < ?) ORDER BY seq LIMIT ?)"
        " RETURNING seq, id, conversation_id, kind, exchange, routing_key, headers, body,"
        " content_type, attempts",
        (owner, now + lease, now, limit)).fetchall()
    rows.sort(key=lambda r: r[0])
    return [OutboxRow(r[0], OutboundMessage(
        id=r[1], conversation_id=r[2], kind=r[3], exchange=r[4], routing_key=r[5],
        headers=json.loads(r[6]), body=bytes(r[7]), content_type=r[8]), r[9]) for r in rows]


def _settle(cur: sqlite3.Cursor, sent: list[int], failed: dict[int, str],
            parked: dict[int, str]) -> None:
    now = utc_now_iso()
    if sent:
        cur.executemany("UPDATE outbox SET state = 'sent', sent_at = ?, lease_owner = NULL,"
                        " lease_until = NULL WHERE seq = ?", [(now, s) for s in sent])
        cur.executemany(
            "INSERT INTO events (conversation_id, at, kind, detail) SELECT conversation_id, ?,"
            " 'published', json_object('exchange', exchange, 'routing_key', routing_key,"
            " 'message_id', id) FROM outbox WHERE seq = ?", [(now, s) for s in sent])
    # a failed publish is retried by the next claim once the lease is released
    cur.executemany("UPDATE outbox SET lease_until = NULL, last_error = ? WHERE seq = ?",
                    [(err, s) for s, err in failed.items()])
    for seq, reason in parked.items():
        cur.execute("UPDATE outbox SET state = 'parked', last_error = ?, lease_owner = NULL,"
                    " lease_until = NULL WHERE seq = ?", (reason, seq))
        cur.execute(
            "INSERT INTO events (conversation_id, at, kind, detail) SELECT conversation_id, ?,"
            " 'parked', json_object('reason', ?, 'message_id', id) FROM outbox WHERE seq = ?",
            (now, reason, seq))
        cur.execute("UPDATE conversations SET status = 'parked', updated_at = ? WHERE id ="
                    " (SELECT conversation_id FROM outbox WHERE seq = ?)", (now, seq))


def _record_decision(cur: sqlite3.Cursor, n: Notification, status: dict[str, Any],
                     callback_url: str | None) -> bool:
    seq = cur.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM notifications"
                      " WHERE conversation_id = ?", (n.conversation_id,)).fetchone()[0]
    cur.execute(
        "INSERT INTO notifications (id, conversation_id, partner_id, seq, kind, created_at,"
        " decision_id, document, summary, callback_url, push_state, push_next_at)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (decision_id) DO NOTHING",
        (n.id, n.conversation_id, n.partner_id, seq, n.kind, n.created_at, n.decision_id,
         n.document, json.dumps(n.summary), callback_url,
         "pending" if callback_url else "none", time.time() if callback_url else None))
    if cur.rowcount == 0:
        return False
    cur.execute("UPDATE conversations SET status = ?, mrn = COALESCE(?, mrn), updated_at = ?"
                " WHERE id = ?", (status["status"], status.get("mrn"), n.created_at,
                                  n.conversation_id))
    cur.execute("INSERT INTO events (conversation_id, at, kind, detail) VALUES (?,?,?,?)",
                (n.conversation_id, n.created_at, f"notification.{n.kind}",
                 json.dumps({"notification_id": n.id, "seq": seq, **n.summary})))
    return True


def _claim_pushes(cur: sqlite3.Cursor, owner: str, limit: int, lease: float,
                  per_partner: int, busy: frozenset[str]) -> list[PushJob]:
    now = time.time()
    rows = cur.execute(
        "UPDATE notifications SET push_lease_owner = ?, push_lease_until = ?"
        " WHERE id IN (SELECT id FROM (SELECT id, partner_id, push_next_at, ROW_NUMBER() OVER"
        "   (PARTITION BY partner_id ORDER BY push_next_at) AS rank FROM notifications"
        "   WHERE push_state = 'pending' AND push_next_at <= ?"
        "   AND (push_lease_until IS NULL OR push_lease_until < ?))"
        "  WHERE rank <= ? AND partner_id NOT IN (SELECT value FROM json_each(?))"
        "  ORDER BY push_next_at LIMIT ?) RETURNING *",
        (owner, now + lease, now, now, per_partner, json.dumps(sorted(busy)), limit)).fetchall()
    names = [d[0] for d in cur.description]
    jobs = []
    for raw in rows:
        row = dict(zip(names, raw, strict=True))
        jobs.append(PushJob(_notification(row), row["callback_url"], row["push_attempts"]))
    return jobs


def _push_result(cur: sqlite3.Cursor, notification_id: str, delivered: bool,
                 error: str | None, retry_at: float | None) -> None:
    now = utc_now_iso()
    if delivered:
        state, next_at = "delivered", None
    elif retry_at is None:
        state, next_at = "failed", None
    else:
        state, next_at = "pending", float(retry_at)
    cur.execute("UPDATE notifications SET push_state = ?, push_attempts = push_attempts + 1,"
                " push_next_at = ?, push_last_error = ?, push_lease_owner = NULL,"
                " push_lease_until = NULL WHERE id = ?",
                (state, next_at, error, notification_id))
    if state in ("delivered", "failed"):
        cur.execute(
            "INSERT INTO events (conversation_id, at, kind, detail) SELECT conversation_id, ?,"
            " ?, json_object('notification_id', id, 'seq', seq, 'attempts', push_attempts,"
            " 'error', ?) FROM notifications WHERE id = ?",
            (now, f"push.{state}", error, notification_id))


def _stored(row: Any) -> StoredReceipt:
    return StoredReceipt(row[0], row[1], row[2], bytes(row[3]), json.loads(row[4]))


def _notification(row: Any) -> Notification:
    return Notification(
        id=row["id"], conversation_id=row["conversation_id"], partner_id=row["partner_id"],
        kind=row["kind"], created_at=row["created_at"], document=bytes(row["document"]),
        decision_id=row["decision_id"], summary=json.loads(row["summary"]),
        push=row["push_state"] != "none", seq=row["seq"],
    )
