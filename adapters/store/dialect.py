"""The journal's tables, and what differs between the SQL of SQLite and PostgreSQL.

The journal's SQL (``sql_journal.py``) is written once with ``?`` placeholders and ``{name}``
fields; a ``Dialect`` fills them in for one database.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass


@dataclass(frozen=True)
class Dialect:
    """What differs between the SQL of two databases, and nothing else."""

    name: str
    placeholder: str          # "?" | "%s"
    blob: str                 # column type for bytes
    real: str                 # column type for epoch seconds (must be 64-bit)
    serial_key: str           # an auto-incremented integer primary key
    begin: str                # how the writer starts its transaction
    begin_read: str           # how a reader starts a transaction that sees one snapshot
    row_lock: str             # appended to a SELECT that must lock its rows ("" if none)
    skip_locked: str          # appended to a claim's SELECT: lock rows, skip locked ones
    json_texts: str           # a sub-SELECT of the strings of a JSON array parameter ``?``
    json_ints: str            # a sub-SELECT of the integers of a JSON array parameter ``?``
    table_exists: str         # a SELECT with one row if the table named by ``?`` exists

    def sql(self, template: str) -> str:
        return _render(self, template)

    def schema(self) -> list[str]:
        """The DDL statements, one by one (each ``CREATE … IF NOT EXISTS``)."""
        return _statements(self.sql(SCHEMA))

    def statements(self, script: str) -> list[str]:
        """A ``;``-separated script with ``{fields}``, as this dialect's statements."""
        return _statements(self.sql(script))

    def migration(self, version: int) -> list[str]:
        """The statements that bring a journal of ``version - 1`` to ``version``."""
        return _statements(self.sql(MIGRATIONS[version]))


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


@functools.lru_cache(maxsize=256)
def _render(dialect: Dialect, template: str) -> str:
    filled = template.format(
        blob=dialect.blob, real=dialect.real, serial_key=dialect.serial_key,
        row_lock=dialect.row_lock, skip_locked=dialect.skip_locked,
        json_texts=dialect.json_texts, json_ints=dialect.json_ints)
    return filled.replace("?", dialect.placeholder) if dialect.placeholder != "?" else filled


#: The version of the tables below. A journal made by an older gateway is brought up to date
#: at start-up by the ``MIGRATIONS`` after its version (``journal_meta``; a journal with tables
#: but no ``journal_meta`` is version 1), then ``SCHEMA`` creates whatever table is missing.
SCHEMA_VERSION = 3

MIGRATIONS: dict[int, str] = {
    # 2: the digest of the business document (exclusive C14N), the same whatever the channel
    2: "ALTER TABLE messages ADD COLUMN document_digest TEXT",
    # 3: generic names — the reference customs assigns (MRN for declarations and movements)
    #    and the source of a notification (the event that caused it: a decision, a payment …)
    3: "ALTER TABLE conversations RENAME COLUMN mrn TO customs_reference;"
       "ALTER TABLE notifications RENAME COLUMN decision_id TO source_id",
}

SCHEMA = """
CREATE TABLE IF NOT EXISTS journal_meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS blobs (
    sha256 TEXT PRIMARY KEY,
    body {blob} NOT NULL
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
    document_digest TEXT,
    status TEXT NOT NULL,
    reference TEXT,
    canonical_json {blob},
    receipt_xml {blob} NOT NULL,
    receipt_json TEXT NOT NULL,
    UNIQUE (partner_id, idempotency_key)
);
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    partner_id TEXT NOT NULL,
    reference TEXT,
    customs_reference TEXT,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id {serial_key},
    conversation_id TEXT NOT NULL,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_conversation ON events (conversation_id, id);
CREATE TABLE IF NOT EXISTS processed_events (
    consumer TEXT NOT NULL,
    message_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    processed_at TEXT NOT NULL,
    PRIMARY KEY (consumer, message_id)
);
CREATE TABLE IF NOT EXISTS outbox (
    seq {serial_key},
    id TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    exchange TEXT NOT NULL,
    routing_key TEXT NOT NULL,
    headers TEXT NOT NULL,
    body {blob} NOT NULL,
    content_type TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until {real},
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
    source_id TEXT NOT NULL UNIQUE,
    document {blob} NOT NULL,
    summary TEXT NOT NULL,
    callback_url TEXT,
    push_state TEXT NOT NULL,
    push_attempts INTEGER NOT NULL DEFAULT 0,
    push_next_at {real},
    push_lease_owner TEXT,
    push_lease_until {real},
    push_last_error TEXT,
    UNIQUE (conversation_id, seq)
);
CREATE INDEX IF NOT EXISTS notifications_push_due ON notifications (push_next_at)
    WHERE push_state = 'pending';
"""
