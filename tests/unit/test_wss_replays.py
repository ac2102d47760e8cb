"""Freshness beyond Expires (``max_age_seconds``) and the journal's record of accepted
WS-Security signatures (``adapters/store/wss_replays.py``), on a real SQLite journal."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from signing_helpers import make_key

from adapters.store.sqlite_journal import SqliteJournal
from adapters.store.wss_replays import NAME, ReplayStore
from gateway.signing.keys import TrustStore
from gateway.signing.wssecurity import (
    SOAP11,
    TimestampRefused,
    fault_code,
    secure_envelope,
    verify_envelope,
)
from gateway.signing.xmldsig import XmlSigner

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def _secured(tmp_path: Path, *, created: dt.datetime, ttl: int) -> tuple[etree._Element,
                                                                           TrustStore]:
    key, _ = make_key(tmp_path, "bank")
    trust = TrustStore()
    trust.add("bank", key.certificate)
    envelope = etree.fromstring(f'<s:Envelope xmlns:s="{SOAP11}"><s:Body><x:Pay xmlns:x="urn:x">'
                                "1</x:Pay></s:Body></s:Envelope>")
    return secure_envelope(envelope, XmlSigner(key), ttl_seconds=ttl, now=created), trust


def test_message_older_than_max_age_is_refused_whatever_its_expires(tmp_path: Path) -> None:
    """Created 400 s ago, Expires in an hour: fresh without a maximum age, stale (MessageExpired)
    with one of 300 s."""
    envelope, trust = _secured(tmp_path, created=NOW - dt.timedelta(seconds=400), ttl=3600)
    verified = verify_envelope(envelope, trust, owner="bank", now=NOW)
    assert verified.replayable_until() == verified.expires
    with pytest.raises(TimestampRefused, match="more than 300 s ago") as raised:
        verify_envelope(envelope, trust, owner="bank", now=NOW, max_age_seconds=300)
    assert fault_code(raised.value).endswith("}MessageExpired")


def test_replayable_until_is_the_earlier_of_expires_and_max_age(tmp_path: Path) -> None:
    """A receiver keeps a signature only as long as a copy would verify."""
    envelope, trust = _secured(tmp_path, created=NOW - dt.timedelta(seconds=10), ttl=3600)
    verified = verify_envelope(envelope, trust, owner="bank", now=NOW, max_age_seconds=300)
    assert verified.replayable_until(300) == verified.created + dt.timedelta(seconds=300)
    short, short_trust = _secured(tmp_path, created=NOW - dt.timedelta(seconds=10), ttl=60)
    kept = verify_envelope(short, short_trust, owner="bank", now=NOW, max_age_seconds=300)
    assert kept.replayable_until(300) == kept.expires


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[SqliteJournal]:
    opened = SqliteJournal(tmp_path / "journal.db", [ReplayStore(prune_every=3)]).open()
    yield opened
    opened.close()


def _first_use(journal: SqliteJournal, partner: str, key: str, keep_until: float) -> bool:
    def work(tx: Any) -> bool:
        return bool(tx.flow(NAME).first_use(partner, key, keep_until=keep_until,
                                            now=time.time(), seen_at="t"))
    return bool(asyncio.run(journal.transaction(work)))


def test_signature_is_accepted_once_per_partner(journal: SqliteJournal) -> None:
    """The first use of a signature is recorded; the second is refused; another partner's
    record of the same key is its own."""
    until = time.time() + 300
    assert _first_use(journal, "bank-demo", "k1", until)
    assert not _first_use(journal, "bank-demo", "k1", until)
    assert _first_use(journal, "bank-two", "k1", until)
    assert journal.flow(NAME).seen("bank-demo", "k1")


def test_signature_record_survives_reopening_the_journal(tmp_path: Path) -> None:
    """Another process (here: the journal opened again) refuses the same signature."""
    first = SqliteJournal(tmp_path / "j.db", [ReplayStore()]).open()
    assert _first_use(first, "bank-demo", "k2", time.time() + 300)
    first.close()
    second = SqliteJournal(tmp_path / "j.db", [ReplayStore()]).open()
    try:
        assert not _first_use(second, "bank-demo", "k2", time.time() + 300)
    finally:
        second.close()


def test_records_past_their_time_are_pruned(journal: SqliteJournal) -> None:
    """Every few insertions the rows no copy could verify any more are deleted; live rows stay."""
    _first_use(journal, "bank-demo", "old-1", time.time() - 10)
    _first_use(journal, "bank-demo", "live", time.time() + 300)
    assert journal.flow(NAME).count() == 2
    _first_use(journal, "bank-demo", "new", time.time() + 300)      # third: prunes first
    reader = journal.flow(NAME)
    assert not reader.seen("bank-demo", "old-1")
    assert reader.seen("bank-demo", "live") and reader.seen("bank-demo", "new")
