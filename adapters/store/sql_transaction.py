"""The journal inside one transaction of the writer: ``gateway.ports.JournalTransaction`` in SQL.

Event handlers and intake effects get one of these, bound to the writer's cursor, inside the
savepoint of their operation: what they write commits with the rest of the batch or not at
all. A flow's own tables (payments, licences …) are reached through ``flow(name)``, which binds
that flow's store (``FlowStore``) to the same cursor — so a flow's state and the journal rows
it goes with are one transaction.

Conversation rows are held while a transaction uses them (PostgreSQL: ``FOR UPDATE``, taken in
conversation id order; SQLite: the writer holds the database), so a notification's ``seq`` never
races. Notifications are stored in batches (``add_notifications``: a bank file's 1,000 ``PAY``
notices are three queries and one batched insert, ``insert_rows``), and a flow's port may defer
its own writes to the end of the work (``Deferred.flush``, called by ``finish``) to write them
the same way.

A batch checks first what it must not write twice (a notification's source, a bank's
transaction) and then writes. Should another transaction have written one of those rows between
the check and the write (PostgreSQL: a row its lock did not cover), the insert says so (fewer
rows written than checked) and the operation raises ``WriteConflict``: the journal runs it
again, so that nothing is written on a stale check — no seq is skipped, no row doubled.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from adapters.store.dialect import Dialect
from gateway.pipeline.exchange import utc_now_iso
from gateway.ports import Notification, OutboundMessage


class WriteConflict(Exception):
    """A row this operation checked was free was written meanwhile by another transaction:
    the operation is rolled back (its savepoint) and the journal runs it again."""


@runtime_checkable
class Deferred(Protocol):
    """A flow's port that keeps its writes until the work is done (then written in batches)."""

    def flush(self) -> None:
        """Write everything kept so far (inside the same transaction)."""
        ...


class FlowStore(Protocol):
    """A flow's own tables: their DDL, and its state port bound to a cursor or a reader."""

    name: str

    def schema(self) -> str:
        """``CREATE … IF NOT EXISTS`` statements (``;``-separated, dialect ``{fields}``)."""
        ...

    def bind(self, dialect: Dialect, cur: Any) -> Any:
        """The flow's state port inside a transaction."""
        ...

    def reader(self, dialect: Dialect, read: Callable[[str, tuple[Any, ...]], list[dict[str, Any]]]
               ) -> Any:
        """The flow's read-only queries outside a transaction (e.g. a bank's look-up)."""
        ...


class SqlTransaction:
    def __init__(self, dialect: Dialect, cur: Any, flows: Mapping[str, FlowStore]) -> None:
        self.dialect = dialect
        self.cur = cur
        self._flows = flows
        self._bound: dict[str, Any] = {}

    def conversation(self, conversation_id: str) -> dict[str, Any] | None:
        d = self.dialect
        self.cur.execute(d.sql("SELECT * FROM conversations WHERE id = ?{row_lock}"),
                         (conversation_id,))
        row = self.cur.fetchone()
        if row is None:
            return None
        names = [column[0] for column in self.cur.description]
        return dict(zip(names, row, strict=True))

    def add_notification(self, n: Notification, callback_url: str | None) -> int | None:
        return self.add_notifications([(n, callback_url)])[0]

    def add_notifications(self, notifications: Sequence[tuple[Notification, str | None]]
                          ) -> list[int | None]:
        if not notifications:
            return []
        d, cur = self.dialect, self.cur
        conversations = json.dumps(sorted({n.conversation_id for n, _ in notifications}))
        if d.row_lock:      # hold the conversations (in id order) while their seqs are used
            cur.execute(d.sql("SELECT id FROM conversations WHERE id IN ({json_texts})"
                              " ORDER BY id{row_lock}"), (conversations,))
            cur.fetchall()
        cur.execute(d.sql("SELECT conversation_id, MAX(seq) FROM notifications"
                          " WHERE conversation_id IN ({json_texts}) GROUP BY conversation_id"),
                    (conversations,))
        last: dict[str, int] = {c: int(seq) for c, seq in cur.fetchall()}
        sources = json.dumps([n.source_id for n, _ in notifications])
        cur.execute(d.sql("SELECT source_id FROM notifications WHERE source_id IN"
                          " ({json_texts})"), (sources,))
        taken = {row[0] for row in cur.fetchall()}
        seqs: list[int | None] = []
        rows, history = [], []
        for n, callback_url in notifications:
            if n.source_id in taken:
                seqs.append(None)
                continue
            taken.add(n.source_id)
            seq = last[n.conversation_id] = last.get(n.conversation_id, 0) + 1
            seqs.append(seq)
            rows.append((n.id, n.conversation_id, n.partner_id, seq, n.kind, n.created_at,
                         n.source_id, n.document, json.dumps(n.summary), callback_url,
                         "pending" if callback_url else "none",
                         time.time() if callback_url else None))
            history.append((n.conversation_id, n.created_at, f"notification.{n.kind}",
                            {"notification_id": n.id, "seq": seq, **n.summary}))
        written = insert_rows(d, cur, _NOTIFICATION_INSERT, rows, _NOTIFICATION_TAIL)
        if written != len(rows):
            raise WriteConflict(f"{len(rows) - written} notification source(s) stored by "
                                f"another transaction meanwhile")
        add_history(d, cur, history)
        return seqs

    def update_conversation(self, conversation_id: str, *, status: str, at: str,
                            customs_reference: str | None = None) -> None:
        self.cur.execute(self.dialect.sql(
            "UPDATE conversations SET status = ?,"
            " customs_reference = COALESCE(?, customs_reference), updated_at = ? WHERE id = ?"),
            (status, customs_reference, at, conversation_id))

    def add_history(self, conversation_id: str, at: str, kind: str,
                    detail: dict[str, Any]) -> None:
        add_history(self.dialect, self.cur, [(conversation_id, at, kind, detail)])

    def add_outbox(self, messages: Sequence[OutboundMessage]) -> None:
        add_outbox(self.dialect, self.cur, messages)

    def flow(self, name: str) -> Any:
        if name not in self._bound:
            self._bound[name] = self._flows[name].bind(self.dialect, self.cur)
        return self._bound[name]

    def finish(self) -> None:
        """The work is done: write what the flows' ports kept (``Deferred``)."""
        for port in self._bound.values():
            if isinstance(port, Deferred):
                port.flush()


_NOTIFICATION_INSERT = (
    "INSERT INTO notifications (id, conversation_id, partner_id, seq, kind, created_at,"
    " source_id, document, summary, callback_url, push_state, push_next_at)")
_NOTIFICATION_TAIL = " ON CONFLICT (source_id) DO NOTHING"


def insert_rows(d: Dialect, cur: Any, head: str, rows: Sequence[Sequence[Any]],
                tail: str = "") -> int:
    """``head VALUES (?, …) tail`` for each of ``rows``, in one ``executemany`` (PostgreSQL:
    pipelined, one prepared statement — cheaper than a multi-row ``VALUES`` whose thousands of
    placeholders the driver parses in Python); how many rows it wrote (an ``ON CONFLICT DO
    NOTHING`` tail skips some). Rows are inserted in the order given (serial keys — an outbox
    ``seq``, a history ``id`` — follow it)."""
    if not rows:
        return 0
    values = "(" + ",".join("?" * len(rows[0])) + ")"
    cur.executemany(d.sql(f"{head} VALUES {values}{tail}"), rows)
    return int(cur.rowcount)


def add_history(d: Dialect, cur: Any, events: Sequence[tuple[str, str, str, dict[str, Any]]]
                ) -> None:
    """Append to conversations' histories: (conversation id, at, kind, detail) each."""
    insert_rows(d, cur, "INSERT INTO events (conversation_id, at, kind, detail)",
                [(c, at, kind, json.dumps(detail)) for c, at, kind, detail in events])


def add_outbox(d: Dialect, cur: Any, messages: Sequence[OutboundMessage]) -> None:
    now = utc_now_iso()
    insert_rows(d, cur, "INSERT INTO outbox (id, conversation_id, kind, exchange, routing_key,"
                " headers, body, content_type, created_at)",
                [(o.id, o.conversation_id, o.kind, o.exchange, o.routing_key,
                  json.dumps(o.headers), o.body, o.content_type, now) for o in messages])


def mark_processed(d: Dialect, cur: Any, consumer: str, message_id: str,
                   event_type: str) -> bool:
    """Record that ``consumer`` processed ``message_id``; False if it had been already."""
    cur.execute(d.sql(
        "INSERT INTO processed_events (consumer, message_id, event_type, processed_at)"
        " VALUES (?,?,?,?) ON CONFLICT (consumer, message_id) DO NOTHING"),
        (consumer, message_id, event_type, utc_now_iso()))
    return bool(cur.rowcount == 1)
