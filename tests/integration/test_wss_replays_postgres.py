"""The record of accepted WS-Security signatures on the PostgreSQL journal: two gateway
instances sharing one journal refuse each other's replays."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from adapters.store.postgres_journal import PostgresJournal
from adapters.store.wss_replays import NAME, ReplayStore

pytestmark = pytest.mark.integration


def _first_use(journal: PostgresJournal, key: str, keep_until: float) -> bool:
    def work(tx: Any) -> bool:
        return bool(tx.flow(NAME).first_use("bank-demo", key, keep_until=keep_until,
                                            now=time.time(), seen_at="t"))
    return bool(asyncio.run(journal.transaction(work)))


def test_signature_accepted_by_one_instance_is_a_replay_for_the_other(postgres_url: str) -> None:
    """Instance A records a signature; instance B (its own connections, same schema) refuses
    it; a signature whose time is over is pruned by the next insertions."""
    one = PostgresJournal(postgres_url, [ReplayStore(prune_every=2)]).open()
    two = PostgresJournal(postgres_url, [ReplayStore(prune_every=2)]).open()
    try:
        assert _first_use(one, "sig-1", time.time() + 300)
        assert not _first_use(two, "sig-1", time.time() + 300)
        assert not _first_use(one, "sig-1", time.time() + 300)
        assert _first_use(two, "old", time.time() - 5)          # second bind of two: prunes
        assert _first_use(two, "sig-2", time.time() + 300)      # third: no prune
        assert _first_use(two, "sig-3", time.time() + 300)      # fourth: prunes "old"
        reader = one.flow(NAME)
        assert not reader.seen("bank-demo", "old")
        assert reader.seen("bank-demo", "sig-1") and reader.count() == 3
    finally:
        one.close()
        two.close()
