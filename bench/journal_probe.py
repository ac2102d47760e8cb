"""Read-only look into the server's journal (SQLite file or PostgreSQL schema) for the bench.

The bench checks its load against what the gateway committed: the messages stored for a run's
LRN prefix, and that every outbox row was confirmed by RabbitMQ (``state = 'sent'``).
PostgreSQL runs get a schema of their own (``bench_<random>``), dropped afterwards.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


class JournalProbe:
    """Counts in the journal at ``db_url`` (``sqlite:///path`` or ``postgresql://…?schema=``)."""

    def __init__(self, db_url: str) -> None:
        self.db_url = db_url
        self.postgres = db_url.startswith(("postgresql://", "postgres://"))

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self.postgres:
            import psycopg

            from adapters.store.postgres_journal import postgres_conninfo

            with psycopg.connect(postgres_conninfo(self.db_url)[0]) as conn:
                return list(conn.execute(sql.replace("?", "%s"), params).fetchall())  # type: ignore[arg-type]
        path = self.db_url.removeprefix("sqlite:///")
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            return list(conn.execute(sql, params).fetchall())
        finally:
            conn.close()

    def pending(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM outbox WHERE state = 'pending'")[0][0])

    def outbox_states(self) -> dict[str, int]:
        return {state: int(n) for state, n in
                self._query("SELECT state, COUNT(*) FROM outbox GROUP BY state")}

    def stored(self, lrn_prefix: str) -> dict[str, int]:
        """Messages stored whose LRN starts with ``lrn_prefix``, by status."""
        rows = self._query("SELECT status, COUNT(*) FROM messages WHERE reference LIKE ?"
                           " GROUP BY status", (lrn_prefix + "%",))
        return {status: int(n) for status, n in rows}

    def wait_drained(self, timeout: float = 120.0) -> float:
        """Seconds until no outbox row is pending (all confirmed by RabbitMQ)."""
        started = time.perf_counter()
        while time.perf_counter() - started < timeout:
            if self.pending() == 0:
                return time.perf_counter() - started
            time.sleep(0.02)
        raise RuntimeError(f"outbox not drained within {timeout:.0f} s: {self.outbox_states()}")


def postgres_url_with_schema(base_url: str, tag: str = "") -> tuple[str, str]:
    """``base_url`` with ``?schema=bench_<random>`` (and that schema name)."""
    schema = f"bench_{tag}{uuid.uuid4().hex[:8]}"
    joiner = "&" if "?" in base_url else "?"
    return f"{base_url}{joiner}schema={schema}", schema


def drop_schema(base_url: str, schema: str) -> None:
    import psycopg
    from psycopg import sql

    from adapters.store.postgres_journal import postgres_conninfo

    with psycopg.connect(postgres_conninfo(base_url)[0], autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def sqlite_url(var_dir: Path, name: str = "journal.db") -> str:
    return f"sqlite:///{var_dir / name}"
