"""The journal inside one transaction of the writer: ``gateway.ports.JournalTransaction`` in SQL.

Event handlers and intake effects get one of these, bound to the writer's cursor, inside the
savepoint of their operation: what they write commits with the rest of the batch or not at
all. A flow's own tables (payments, licences …) are reached through ``flow(name)``, which binds
that flow's store (``FlowStore``) to the same cursor — so a flow's state and the journal rows
it goes with are one transaction.

Conversation rows are held while a transaction uses them (PostgreSQL: ``FOR UPDATE``; SQLite:
the writer holds the database), so a notification's ``seq`` never races.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from adapters.store.dialect import Dialect
from gateway.pipeline.exchange import utc_now_iso
from gateway.ports import Notification, OutboundMessage


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
        d, cur = self.dialect, self.cur
        if d.row_lock:      # hold the conversation while its next seq is computed and used
            cur.execute(d.sql("SELECT id FROM conversations WHERE id = ?{row_lock}"),
                        (n.conversation_id,))
            cur.fetchall()
        cur.execute(d.sql("SELECT COALESCE(MAX(seq), 0) + 1 FROM notifications"
                          " WHERE conversation_id = ?"), (n.conversation_id,))
        seq = int(cur.fetchone()[0])
        cur.execute(d.sql(
            "INSERT INTO notifications (id, conversation_id, partner_id, seq, kind, created_at,"
            " source_id, document, summary, callback_url, push_state, push_next_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (source_id) DO NOTHING"),
            (n.id, n.conversation_id, n.partner_id, seq, n.kind, n.created_at, n.source_id,
             n.document, json.dumps(n.summary), callback_url,
             "pending" if callback_url else "none", time.time() if callback_url else None))
        if cur.rowcount == 0:
            return None
        self.add_history(n.conversation_id, n.created_at, f"notification.{n.kind}",
                         {"notification_id": n.id, "seq": seq, **n.summary})
        return seq

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


def add_history(d: Dialect, cur: Any, events: Sequence[tuple[str, str, str, dict[str, Any]]]
                ) -> None:
    """Append to conversations' histories: (conversation id, at, kind, detail) each."""
    if events:
        cur.executemany(
            d.sql("INSERT INTO events (conversation_id, at, kind, detail) VALUES (?,?,?,?)"),
            [(c, at, kind, json.dumps(detail)) for c, at, kind, detail in events])


def add_outbox(d: Dialect, cur: Any, messages: Sequence[OutboundMessage]) -> None:
    if messages:
        now = utc_now_iso()
        cur.executemany(d.sql(
            "INSERT INTO outbox (id, conversation_id, kind, exchange, routing_key, headers, body,"
            " content_type, created_at) VALUES (?,?,?,?,?,?,?,?,?)"),
            [(o.id, o.conversation_id, o.kind, o.exchange, o.routing_key, json.dumps(o.headers),
              o.body, o.content_type, now) for o in messages])


def mark_processed(d: Dialect, cur: Any, consumer: str, message_id: str,
                   event_type: str) -> bool:
    """Record that ``consumer`` processed ``message_id``; False if it had been already."""
    cur.execute(d.sql(
        "INSERT INTO processed_events (consumer, message_id, event_type, processed_at)"
        " VALUES (?,?,?,?) ON CONFLICT (consumer, message_id) DO NOTHING"),
        (consumer, message_id, event_type, utc_now_iso()))
    return bool(cur.rowcount == 1)
