"""The journal's operations and their SQL, written once for SQLite and PostgreSQL.

``SqlJournal`` implements the journal ports of ``gateway.ports`` — the message journal (raw
bytes stored content-addressed, outcome, canonical JSON, the signed receipt), the outbox,
conversations with their history, and notifications with their push state. Every write goes
through one group-commit writer (``group_commit.py``); reads use one connection per thread.

The two stores differ only in what a ``Dialect`` says (placeholder, column types, the begin
statement, row locks, how a JSON array parameter is unnested) and in how a connection is made
(``SqliteJournal`` and ``PostgresJournal``, each a thin subclass). SQL below is written with
``?`` placeholders and ``{name}`` fields that the dialect fills in.

Several gateway processes may share one database: idempotency rests on the unique
``(partner_id, idempotency_key)`` constraint, outbox and push rows are claimed with leases,
and a notification's ``seq`` is computed while the conversation is held (SQLite: the database
write lock; PostgreSQL: ``SELECT … FOR UPDATE`` on the conversation row).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Self, TypeVar

import structlog

from adapters.store.dialect import SCHEMA_VERSION, Dialect
from adapters.store.group_commit import GroupCommitWriter
from adapters.store.sql_transaction import (
    FlowStore,
    SqlTransaction,
    WriteConflict,
    add_history,
    add_outbox,
    mark_processed,
)
from gateway.errors import ConfigurationError, ServiceUnavailable
from gateway.pipeline.exchange import utc_now_iso
from gateway.ports import (
    AcceptedMessage,
    JournalTransaction,
    Notification,
    OutboundMessage,
    OutboxRow,
    PushJob,
    StoredReceipt,
)

R = TypeVar("R")
log = structlog.get_logger("gateway.journal")
CONFLICT_ATTEMPTS = 4            # an operation a deadlock victimised runs again this often


class SqlJournal:
    """Message journal, outbox, conversations and notifications in one SQL database.

    Subclasses say how to connect (``_connect``), may prepare the database before the tables
    are created (``_create_schema``) and say which driver errors mean "the database cannot be
    used right now" (``unavailable``: turned into ``ServiceUnavailable``, which callers retry).
    """

    unavailable: tuple[type[BaseException], ...] = ()
    # errors meaning "this operation lost a race with another instance's transaction"
    # (PostgreSQL: a deadlock; any store: a batch's check went stale, ``WriteConflict``): only
    # that operation was rolled back (its savepoint), so it is run again, in a later batch —
    # once the other transaction is gone
    conflicts: tuple[type[BaseException], ...] = (WriteConflict,)

    def __init__(self, dialect: Dialect, flows: Iterable[FlowStore] = ()) -> None:
        self.dialect = dialect
        self.flows: dict[str, FlowStore] = {flow.name: flow for flow in flows}
        self._local = threading.local()
        self._readers: list[Any] = []
        self._readers_lock = threading.Lock()
        self._writer = GroupCommitWriter(self._connect, begin=dialect.begin,
                                         usable=self._usable)

    # --- what a subclass provides ------------------------------------------------------------

    def _connect(self) -> Any:
        """A new connection in autocommit mode (the writer issues BEGIN/COMMIT itself)."""
        raise NotImplementedError

    def _usable(self, conn: Any) -> bool:
        """False once the connection is lost (then it is replaced)."""
        return True

    def _create_schema(self) -> None:
        """Create or migrate the tables (a subclass runs ``prepare_tables`` in a transaction)."""
        raise NotImplementedError

    # --- lifecycle ---------------------------------------------------------------------------

    def open(self) -> Self:
        try:
            self._create_schema()
        except self.unavailable as exc:
            raise ServiceUnavailable(f"the journal cannot be opened: {exc}") from exc
        self._writer.start()
        return self

    def close(self) -> None:
        self._writer.stop()
        with self._readers_lock:
            readers, self._readers = self._readers, []
        for conn in readers:
            with contextlib.suppress(Exception):     # it may be gone already
                conn.close()

    def ping(self) -> bool:
        if not self._writer.alive:
            return False
        self._read("SELECT 1")
        return True

    # --- message journal ---------------------------------------------------------------------

    def find(self, partner_id: str, idempotency_key: str) -> StoredReceipt | None:
        rows = self._read(_FIND, (partner_id, idempotency_key))
        return _stored(rows[0]) if rows else None

    async def record(self, message: AcceptedMessage,
                     effect: Callable[[JournalTransaction], Any] | None = None
                     ) -> tuple[StoredReceipt, bool]:
        def op(cur: Any) -> tuple[StoredReceipt, bool]:
            stored, created = _record(self.dialect, cur, message)
            if created and effect is not None:
                self._run(cur, effect)
            return stored, created
        return await self._write(op)

    # --- events from internal systems --------------------------------------------------------

    async def apply_once(self, consumer: str, message_id: str, event_type: str,
                         work: Callable[[JournalTransaction], R]) -> tuple[R | None, bool]:
        def op(cur: Any) -> tuple[R | None, bool]:
            if not mark_processed(self.dialect, cur, consumer, message_id, event_type):
                return None, False
            return self._run(cur, work), True
        return await self._write(op)

    async def transaction(self, work: Callable[[JournalTransaction], R]) -> R:
        """Run ``work`` in one transaction of the writer (``gateway.ports.Transactions``)."""
        return await self._write(lambda cur: self._run(cur, work))

    def _run(self, cur: Any, work: Callable[[JournalTransaction], R]) -> R:
        """``work`` on a transaction bound to the writer's cursor, then what it kept written."""
        tx = SqlTransaction(self.dialect, cur, self.flows)
        result = work(tx)
        tx.finish()
        return result

    def flow(self, name: str) -> Any:
        """A flow's read-only queries (outside any transaction)."""
        return self.flows[name].reader(self.dialect, self._read)

    # --- outbox ------------------------------------------------------------------------------

    async def claim(self, owner: str, limit: int, lease_seconds: float) -> list[OutboxRow]:
        return await self._write(
            lambda cur: _claim(self.dialect, cur, owner, limit, lease_seconds))

    async def settle(self, sent: list[int], failed: dict[int, str],
                     parked: dict[int, str]) -> None:
        await self._write(lambda cur: _settle(self.dialect, cur, sent, failed, parked))

    def outbox_counts(self) -> dict[str, int]:
        rows = self._read("SELECT state, COUNT(*) AS n FROM outbox GROUP BY state")
        return {r["state"]: int(r["n"]) for r in rows}

    # --- conversations and notifications -----------------------------------------------------

    def conversation(self, conversation_id: str) -> dict[str, Any] | None:
        rows = self._read("SELECT * FROM conversations WHERE id = ?", (conversation_id,))
        if not rows:
            return None
        history = [
            {"at": e["at"], "event": e["kind"], **json.loads(e["detail"])}
            for e in self._read("SELECT at, kind, detail FROM events WHERE conversation_id = ?"
                                " ORDER BY id", (conversation_id,))
        ]
        return {**rows[0], "history": history}

    def notifications(self, conversation_id: str) -> list[Notification]:
        rows = self._read("SELECT * FROM notifications WHERE conversation_id = ? ORDER BY seq",
                          (conversation_id,))
        return [_notification(r) for r in rows]

    def conversation_view(self, conversation_id: str
                          ) -> tuple[dict[str, Any] | None, list[Notification]]:
        """The conversation and its notifications as of one moment (one read transaction), so
        a status is never newer or older than the notifications listed with it."""
        conn = self._reader()
        try:
            conn.execute(self.dialect.begin_read)
            try:
                return self.conversation(conversation_id), self.notifications(conversation_id)
            finally:
                conn.execute("COMMIT")
        except self.unavailable as exc:
            raise ServiceUnavailable(f"the journal could not be read: {exc}") from exc

    async def claim_due(self, owner: str, limit: int, lease_seconds: float, *,
                        per_partner: int = 4, busy: frozenset[str] = frozenset()
                        ) -> list[PushJob]:
        return await self._write(lambda cur: _claim_pushes(
            self.dialect, cur, owner, limit, lease_seconds, per_partner, busy))

    async def push_result(self, notification_id: str, *, delivered: bool, error: str | None,
                          retry_at: float | None) -> None:
        await self._write(lambda cur: _push_result(
            self.dialect, cur, notification_id, delivered, error, retry_at))

    # --- plumbing ----------------------------------------------------------------------------

    async def _write(self, op: Callable[[Any], R]) -> R:
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            try:
                return await self._writer.run(op)
            except self.conflicts as exc:
                if attempt == CONFLICT_ATTEMPTS:
                    raise ServiceUnavailable(f"the journal could not write: {exc}") from exc
                log.warning("journal.conflict_retried", attempt=attempt,
                            error=f"{type(exc).__name__}: {exc}".strip())
                await asyncio.sleep(0.005 * attempt)
            except self.unavailable as exc:
                raise ServiceUnavailable(f"the journal could not write: {exc}") from exc
        raise AssertionError("unreachable")

    def _read(self, template: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        try:
            cur = self._reader().execute(self.dialect.sql(template), params)
            return _dicts(cur, cur.fetchall())
        except self.unavailable as exc:
            raise ServiceUnavailable(f"the journal could not be read: {exc}") from exc

    def _reader(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            if self._usable(conn):
                return conn
            self._forget(conn)
        conn = self._connect()
        with self._readers_lock:
            self._readers.append(conn)
        self._local.conn = conn
        return conn

    def _forget(self, conn: Any) -> None:
        with self._readers_lock:
            if conn in self._readers:
                self._readers.remove(conn)
        with contextlib.suppress(Exception):
            conn.close()


# --- tables ----------------------------------------------------------------------------------


def prepare_tables(cur: Any, d: Dialect, flows: Iterable[FlowStore] = ()) -> int:
    """Create the tables, or bring an older journal's up to date; the version before.

    Runs inside the caller's transaction (held so that instances starting together do not
    race). A journal newer than this gateway is refused rather than written with old SQL.
    """
    version = _journal_version(cur, d)
    if version > SCHEMA_VERSION:
        raise ConfigurationError(f"the journal has schema version {version}; this gateway knows "
                                 f"up to {SCHEMA_VERSION}: upgrade the gateway")
    for step in range(version + 1, SCHEMA_VERSION + 1) if version else ():
        for statement in d.migration(step):
            cur.execute(statement)
    for statement in d.schema():
        cur.execute(statement)
    for flow in flows:                        # each flow's own tables (CREATE … IF NOT EXISTS)
        for statement in d.statements(flow.schema()):
            cur.execute(statement)
    if version != SCHEMA_VERSION:
        cur.execute(d.sql("DELETE FROM journal_meta WHERE name = 'schema_version'"))
        cur.execute(d.sql("INSERT INTO journal_meta (name, value) VALUES ('schema_version', ?)"),
                    (str(SCHEMA_VERSION),))
    return version


def _journal_version(cur: Any, d: Dialect) -> int:
    """0 for an empty database, 1 for a journal from before versions were kept, else its own."""
    cur.execute(d.sql(d.table_exists), ("journal_meta",))
    if cur.fetchone() is not None:
        cur.execute(d.sql("SELECT value FROM journal_meta WHERE name = 'schema_version'"))
        row = cur.fetchone()
        return int(row[0]) if row else 1
    cur.execute(d.sql(d.table_exists), ("messages",))
    return 1 if cur.fetchone() is not None else 0


# --- operations run inside the writer's transaction ------------------------------------------

_FIND = ("SELECT receipt_id, conversation_id, sha256, receipt_xml, receipt_json,"
         " document_digest FROM messages"
         " WHERE partner_id = ? AND idempotency_key = ?")


def _record(d: Dialect, cur: Any, m: AcceptedMessage) -> tuple[StoredReceipt, bool]:
    cur.execute(d.sql("INSERT INTO blobs (sha256, body) VALUES (?, ?) ON CONFLICT DO NOTHING"),
                (m.sha256, m.body))
    new_blob = cur.rowcount == 1
    cur.execute(d.sql(
        "INSERT INTO messages (receipt_id, conversation_id, partner_id, idempotency_key,"
        " message_type, channel, received_at, sha256, status, reference, canonical_json,"
        " receipt_xml, receipt_json, document_digest) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
        " ON CONFLICT (partner_id, idempotency_key) DO NOTHING"),
        (m.receipt_id, m.conversation_id, m.partner_id, m.idempotency_key, m.message_type,
         m.channel, m.received_at, m.sha256, m.status, m.reference, m.canonical_json,
         m.receipt_xml, json.dumps(m.receipt), m.document_digest or None))
    if cur.rowcount == 0:           # the key is taken: store nothing, not even the body
        if new_blob:
            cur.execute(d.sql("DELETE FROM blobs WHERE sha256 = ?"), (m.sha256,))
        cur.execute(d.sql(_FIND), (m.partner_id, m.idempotency_key))
        return _stored(_dicts(cur, [cur.fetchone()])[0]), False
    now = utc_now_iso()
    cur.execute(d.sql("INSERT INTO conversations (id, partner_id, reference, status, created_at,"
                      " updated_at) VALUES (?,?,?,?,?,?)"),
                (m.conversation_id, m.partner_id, m.reference, m.status, now, now))
    detail = {"receipt_id": m.receipt_id, "message_type": m.message_type,
              "channel": m.channel, "sha256": m.sha256, **m.event_detail}
    add_history(d, cur, [(m.conversation_id, m.received_at, m.status, detail)])
    add_outbox(d, cur, m.outbox)
    receipt = StoredReceipt(m.receipt_id, m.conversation_id, m.sha256, m.receipt_xml, m.receipt,
                            m.document_digest or None)
    return receipt, True


def _claim(d: Dialect, cur: Any, owner: str, limit: int, lease: float) -> list[OutboxRow]:
    # First the claimable rows (locked; PostgreSQL skips rows another instance is claiming)
    # with the owner whose lease ran out, if any: UPDATE … RETURNING gives only new values.
    now = time.time()
    cur.execute(d.sql(
        "SELECT seq, lease_owner, lease_until FROM outbox WHERE state = 'pending'"
        " AND (lease_until IS NULL OR lease_until < ?) ORDER BY seq LIMIT ?{skip_locked}"),
        (now, limit))
    previous = {seq: lease_owner if lease_until is not None else None
                for seq, lease_owner, lease_until in cur.fetchall()}
    if not previous:
        return []
    cur.execute(d.sql(
        "UPDATE outbox SET lease_owner = ?, lease_until = ?, attempts = attempts + 1"
        " WHERE seq IN ({json_ints})"
        " RETURNING seq, id, conversation_id, kind, exchange, routing_key, headers, body,"
        " content_type, attempts"),
        (owner, now + lease, json.dumps(sorted(previous))))
    rows = sorted(_dicts(cur, cur.fetchall()), key=lambda r: r["seq"])
    return [OutboxRow(r["seq"], OutboundMessage(
        id=r["id"], conversation_id=r["conversation_id"], kind=r["kind"],
        exchange=r["exchange"], routing_key=r["routing_key"], headers=json.loads(r["headers"]),
        body=bytes(r["body"]), content_type=r["content_type"]), r["attempts"],
        previous[r["seq"]]) for r in rows]


def _settle(d: Dialect, cur: Any, sent: list[int], failed: dict[int, str],
            parked: dict[int, str]) -> None:
    # Only a row still pending is settled: when a lease ran out and two relays published the
    # same row, the second settlement changes nothing and adds no second event.
    now = utc_now_iso()
    if sent:
        cur.execute(d.sql(
            "UPDATE outbox SET state = 'sent', sent_at = ?, lease_owner = NULL,"
            " lease_until = NULL WHERE state = 'pending' AND seq IN ({json_ints})"
            " RETURNING seq, conversation_id, exchange, routing_key, id"),
            (now, json.dumps(sorted(set(sent)))))
        published = sorted(_dicts(cur, cur.fetchall()), key=lambda r: r["seq"])
        add_history(d, cur, [(row["conversation_id"], now, "published", {
            "exchange": row["exchange"], "routing_key": row["routing_key"],
            "message_id": row["id"]}) for row in published])
    # a failed publish is retried by the next claim once the lease is released
    if failed:
        cur.executemany(d.sql("UPDATE outbox SET lease_until = NULL, last_error = ?"
                              " WHERE seq = ? AND state = 'pending'"),
                        [(err, s) for s, err in failed.items()])
    for seq, reason in parked.items():
        cur.execute(d.sql("UPDATE outbox SET state = 'parked', last_error = ?, lease_owner = NULL,"
                          " lease_until = NULL WHERE seq = ? AND state = 'pending'"
                          " RETURNING conversation_id, id"), (reason, seq))
        row = cur.fetchone()
        if row is None:
            continue
        conversation_id, message_id = row[0], row[1]
        _event(d, cur, conversation_id, now, "parked",
               {"reason": reason, "message_id": message_id})
        cur.execute(d.sql("UPDATE conversations SET status = 'parked', updated_at = ?"
                          " WHERE id = ?"), (now, conversation_id))


def _claim_pushes(d: Dialect, cur: Any, owner: str, limit: int, lease: float,
                  per_partner: int, busy: frozenset[str]) -> list[PushJob]:
    # The innermost SELECT locks the due rows (PostgreSQL: skipping rows another instance is
    # claiming); window functions may not stand beside a row lock, so ranking is one level up.
    now = time.time()
    cur.execute(d.sql(
        "UPDATE notifications SET push_lease_owner = ?, push_lease_until = ?"
        " WHERE id IN (SELECT id FROM (SELECT id, push_next_at, ROW_NUMBER() OVER"
        "   (PARTITION BY partner_id ORDER BY push_next_at) AS partner_rank FROM"
        "   (SELECT id, partner_id, push_next_at FROM notifications"
        "     WHERE push_state = 'pending' AND push_next_at <= ?"
        "     AND (push_lease_until IS NULL OR push_lease_until < ?)"
        "     AND partner_id NOT IN ({json_texts}){skip_locked}) AS due) AS ranked"
        "  WHERE partner_rank <= ? ORDER BY push_next_at LIMIT ?) RETURNING *"),
        (owner, now + lease, now, now, json.dumps(sorted(busy)), per_partner, limit))
    rows = sorted(_dicts(cur, cur.fetchall()), key=lambda r: (r["push_next_at"], r["id"]))
    return [PushJob(_notification(r), r["callback_url"], r["push_attempts"]) for r in rows]


def _push_result(d: Dialect, cur: Any, notification_id: str, delivered: bool,
                 error: str | None, retry_at: float | None) -> None:
    now = utc_now_iso()
    if delivered:
        state, next_at = "delivered", None
    elif retry_at is None:
        state, next_at = "failed", None
    else:
        state, next_at = "pending", float(retry_at)
    # A result for a push that is no longer pending (a second deliverer after a lease ran
    # out) changes nothing: a delivered notification stays delivered.
    cur.execute(d.sql(
        "UPDATE notifications SET push_state = ?, push_attempts = push_attempts + 1,"
        " push_next_at = ?, push_last_error = ?, push_lease_owner = NULL,"
        " push_lease_until = NULL WHERE id = ? AND push_state = 'pending'"
        " RETURNING conversation_id, seq, push_attempts"),
        (state, next_at, error, notification_id))
    row = cur.fetchone()
    if row is not None and state in ("delivered", "failed"):
        _event(d, cur, row[0], now, f"push.{state}",
               {"notification_id": notification_id, "seq": row[1], "attempts": row[2],
                "error": error})


def _event(d: Dialect, cur: Any, conversation_id: str, at: str, kind: str,
           detail: dict[str, Any]) -> None:
    add_history(d, cur, [(conversation_id, at, kind, detail)])


# --- rows to records -------------------------------------------------------------------------


def _dicts(cur: Any, rows: Iterable[Any]) -> list[dict[str, Any]]:
    names = [column[0] for column in cur.description]
    return [dict(zip(names, row, strict=True)) for row in rows]


def _stored(row: dict[str, Any]) -> StoredReceipt:
    return StoredReceipt(row["receipt_id"], row["conversation_id"], row["sha256"],
                         bytes(row["receipt_xml"]), json.loads(row["receipt_json"]),
                         row["document_digest"])


def _notification(row: dict[str, Any]) -> Notification:
    return Notification(
        id=row["id"], conversation_id=row["conversation_id"], partner_id=row["partner_id"],
        kind=row["kind"], created_at=row["created_at"], document=bytes(row["document"]),
        source_id=row["source_id"], summary=json.loads(row["summary"]),
        push=row["push_state"] != "none", seq=row["seq"],
    )
