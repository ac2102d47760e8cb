"""The WS-Security signatures the gateway has accepted, so that a replayed message is refused.

A signed SOAP message stays verifiable until its Timestamp runs out (``VerifiedSoap.
replayable_until``): whoever captured it could send it again until then. The SOAP endpoint
therefore records every accepted signature (``VerifiedSoap.replay_key``, the SHA-256 of the
signature value) per partner, in the journal's database, before it acts on the message; a
second use is refused with ``GW-WSS-REPLAY``. Being a table of the journal, the record holds
across worker processes, gateway instances sharing a PostgreSQL journal, and restarts.

Rows are needed only while the message could still verify: ``keep_until`` (epoch seconds) is
that moment, and rows past it are deleted every ``prune_every`` insertions, in the same
transaction. The table is a ``FlowStore`` (``adapters/store/sql_transaction.py``), reached as
``tx.flow("wss_replays")`` inside ``journal.transaction``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from adapters.store.dialect import Dialect

NAME = "wss_replays"

SCHEMA = """
CREATE TABLE IF NOT EXISTS wss_replays (
    partner_id TEXT NOT NULL,
    replay_key TEXT NOT NULL,
    keep_until {real} NOT NULL,
    seen_at TEXT NOT NULL,
    PRIMARY KEY (partner_id, replay_key)
);
CREATE INDEX IF NOT EXISTS wss_replays_keep_until ON wss_replays (keep_until)
"""


class ReplayStore:
    """The ``wss_replays`` store: its table, the recorder bound to a transaction, a reader."""

    name = NAME

    def __init__(self, *, prune_every: int = 256) -> None:
        self._prune_every = prune_every
        self._inserted = 0

    def schema(self) -> str:
        return SCHEMA

    def bind(self, dialect: Dialect, cur: Any) -> SeenSignatures:
        self._inserted += 1
        prune = self._inserted % self._prune_every == 0
        return SeenSignatures(dialect, cur, prune=prune)

    def reader(self, dialect: Dialect,
               read: Callable[[str, tuple[Any, ...]], list[dict[str, Any]]]) -> ReplayReader:
        return ReplayReader(read)


class SeenSignatures:
    """Inside one transaction: record a signature, say whether it was new."""

    def __init__(self, dialect: Dialect, cur: Any, *, prune: bool = False) -> None:
        self._d = dialect
        self._cur = cur
        self._prune = prune

    def first_use(self, partner_id: str, replay_key: str, *, keep_until: float, now: float,
                  seen_at: str) -> bool:
        """Record ``replay_key`` for ``partner_id``; ``False`` if it was recorded already."""
        if self._prune:
            self._cur.execute(self._d.sql("DELETE FROM wss_replays WHERE keep_until < ?"),
                              (now,))
        self._cur.execute(self._d.sql(
            "INSERT INTO wss_replays (partner_id, replay_key, keep_until, seen_at)"
            " VALUES (?,?,?,?) ON CONFLICT (partner_id, replay_key) DO NOTHING"),
            (partner_id, replay_key, keep_until, seen_at))
        return bool(self._cur.rowcount == 1)


class ReplayReader:
    """Read-only: what is recorded (for operators and tests)."""

    def __init__(self, read: Callable[[str, tuple[Any, ...]], list[dict[str, Any]]]) -> None:
        self._read = read

    def seen(self, partner_id: str, replay_key: str) -> bool:
        return bool(self._read("SELECT 1 FROM wss_replays WHERE partner_id = ? AND"
                               " replay_key = ?", (partner_id, replay_key)))

    def count(self) -> int:
        return int(self._read("SELECT COUNT(*) AS n FROM wss_replays", ())[0]["n"])
