"""The embedded journal: SQLite in WAL mode with ``synchronous=FULL`` and group commit.

The operations and their SQL are shared with the PostgreSQL journal (``sql_journal.py``);
here is only what is SQLite's own: the dialect and how a connection is made. Everything lives
in one file, all written through one group-commit writer. Several gateway processes may share
the file: writes take SQLite's write lock (``BEGIN IMMEDIATE``, which also keeps a
conversation's notification ``seq`` from racing) and outbox/push rows are claimed with leases.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

from adapters.store.dialect import Dialect
from adapters.store.sql_journal import SqlJournal, prepare_tables
from adapters.store.sql_transaction import FlowStore

SQLITE = Dialect(
    name="sqlite",
    placeholder="?",
    blob="BLOB",
    real="REAL",
    serial_key="INTEGER PRIMARY KEY AUTOINCREMENT",
    begin="BEGIN IMMEDIATE",
    begin_read="BEGIN",          # WAL: a deferred transaction reads one snapshot
    row_lock="",                 # BEGIN IMMEDIATE already holds the whole database
    skip_locked="",
    json_texts="SELECT value FROM json_each(?)",
    json_ints="SELECT value FROM json_each(?)",
    table_exists="SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
)


def sqlite_path(url: str) -> Path:
    """``sqlite:///relative/file.db`` or ``sqlite:////absolute/file.db``."""
    if not url.startswith("sqlite:///"):
        raise ValueError(f"not an sqlite URL: {url}")
    return Path(url.removeprefix("sqlite:///"))


class SqliteJournal(SqlJournal):
    """Message journal, outbox, conversations and notifications in one SQLite file."""

    def __init__(self, path: Path, flows: Iterable[FlowStore] = ()) -> None:
        self.path = path
        super().__init__(SQLITE, flows)

    def _create_schema(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")      # one process at a time creates or migrates
            prepare_tables(conn.cursor(), self.dialect, self.flows.values())
            conn.execute("COMMIT")
        finally:
            conn.close()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=30,
                               check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn
