"""What the bank STAND-IN received: the gateway's acknowledgements, by the file's ``MessageId``.

In memory for a stand-in served on its own (tests), or in an SQLite file for the one the
sandbox mounts on the gateway (``bank_ledger_path``): ``gateway serve --workers N --sandbox``
mounts it in every HTTP worker, and the acknowledgement one worker took must be listed by all
(``GET /bank/acknowledgements``), also after a restart — as a real bank would keep it. The file
is named after the sandbox's RabbitMQ prefix, so that sandboxes sharing a var directory (the
demo, test runs) each see their own bank.

An acknowledgement repeated for the same ``MessageId`` (the gateway retrying) is kept once: the
first record is returned, its ``repeats`` counted.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from pathlib import Path
from typing import Any


def bank_ledger_path(var_dir: Path, sandbox: str = "") -> Path:
    """``var/standins/bank[-<sandbox>].db`` (the sandbox's AMQP prefix, made file-safe)."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", sandbox).strip("-")
    return var_dir / "standins" / (f"bank-{name}.db" if name else "bank.db")


class BankAcknowledgements:
    """Acknowledgements by ``MessageId``: in memory (``path`` None) or in an SQLite file."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._memory: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def keep(self, record: dict[str, Any]) -> dict[str, Any]:
        """Keep ``record`` (new ``message_id``) or count a repeat; the record kept."""
        message_id = record["message_id"]
        with self._lock:
            if self.path is None:
                if message_id in self._memory:
                    self._memory[message_id]["repeats"] += 1
                    return self._memory[message_id]
                self._memory[message_id] = record
                return record
            conn = self._connection()
            with conn:
                if conn.execute("INSERT INTO acknowledgements (message_id, record) VALUES (?, ?)"
                                " ON CONFLICT DO NOTHING",
                                (message_id, json.dumps(record))).rowcount == 1:
                    return record
                conn.execute("UPDATE acknowledgements SET repeats = repeats + 1"
                             " WHERE message_id = ?", (message_id,))
                return self._row(conn, message_id)

    def listing(self) -> list[dict[str, Any]]:
        with self._lock:
            if self.path is None:
                return list(self._memory.values())
            rows = self._connection().execute(
                "SELECT record, repeats FROM acknowledgements ORDER BY rowid").fetchall()
        return [{**json.loads(record), "repeats": repeats} for record, repeats in rows]

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    @staticmethod
    def _row(conn: sqlite3.Connection, message_id: str) -> dict[str, Any]:
        record, repeats = conn.execute("SELECT record, repeats FROM acknowledgements WHERE"
                                       " message_id = ?", (message_id,)).fetchone()
        return {**json.loads(record), "repeats": repeats}

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            assert self.path is not None
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("CREATE TABLE IF NOT EXISTS acknowledgements (message_id TEXT PRIMARY"
                         " KEY, record TEXT NOT NULL, repeats INTEGER NOT NULL DEFAULT 0)")
            self._conn = conn
        return self._conn
