"""The SQLite journal and its group-commit writer, on a file of the test's own.

The journal's operations are shared with the PostgreSQL journal (``sql_journal.py``); these
tests pin the rules whose SQL changed when they were shared, on the embedded store, and the
writer's behaviour when its connection is lost or it is stopped with work queued.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.journal import record_notification

from adapters.store.group_commit import GroupCommitWriter
from adapters.store.sqlite_journal import SqliteJournal, sqlite_path
from gateway.errors import ServiceUnavailable
from gateway.ports import AcceptedMessage, Notification, OutboundMessage

CALLBACK = "http://127.0.0.1:9/callback"


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[SqliteJournal]:
    """An open SQLite journal in the test's directory; closed after."""
    opened = SqliteJournal(tmp_path / "journal.db").open()
    yield opened
    opened.close()


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def accepted(key: str | None = None, partner: str = "broker-alpha") -> AcceptedMessage:
    key = key or uuid.uuid4().hex
    conversation_id, receipt_id = uuid.uuid4().hex, uuid.uuid4().hex
    return AcceptedMessage(
        receipt_id=receipt_id, conversation_id=conversation_id, partner_id=partner,
        idempotency_key=key, message_type="wco-dec-3.6", channel="rest",
        received_at="2026-01-02T03:04:05.000Z", sha256=uuid.uuid4().hex, body=uuid.uuid4().bytes,
        canonical_json=b"{}", receipt_xml=b"<Receipt/>", receipt={"receipt_id": receipt_id},
        reference=None, outbox=(OutboundMessage(
            id=uuid.uuid4().hex, conversation_id=conversation_id, kind="declaration",
            exchange="customs.clearance", routing_key="declaration.import.X", body=b"{}",
            headers={}),))


def notification(conversation_id: str, partner: str = "broker-alpha") -> Notification:
    return Notification(
        id=uuid.uuid4().hex, conversation_id=conversation_id, partner_id=partner, kind="ACC",
        created_at="2026-01-02T03:05:00.000Z", document=b"<N/>", source_id=uuid.uuid4().hex,
        summary={}, push=True)


def count(journal: SqliteJournal, table: str) -> int:
    with sqlite3.connect(journal.path) as db:
        return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def test_sqlite_path_reads_relative_and_absolute_urls() -> None:
    """``sqlite:///rel`` is relative, ``sqlite:////abs`` absolute; anything else is refused."""
    assert sqlite_path("sqlite:///var/journal.db") == Path("var/journal.db")
    assert sqlite_path("sqlite:////tmp/journal.db") == Path("/tmp/journal.db")
    with pytest.raises(ValueError):
        sqlite_path("postgresql://localhost/db")


def test_journal_taken_key_with_other_content_stores_not_even_the_body(
        journal: SqliteJournal) -> None:
    """A record under a taken key returns the first receipt and leaves no orphan blob."""
    first = accepted()
    original, _ = run(journal.record(first))
    receipt, created = run(journal.record(accepted(key=first.idempotency_key)))
    assert (receipt, created) == (original, False)
    assert {t: count(journal, t) for t in ("blobs", "messages", "outbox", "events")} == {
        "blobs": 1, "messages": 1, "outbox": 1, "events": 1}


def test_outbox_second_settlement_of_a_row_adds_no_event(journal: SqliteJournal) -> None:
    """A row settled twice (two relays after a lease ran out) is published once in history."""
    message = accepted()
    run(journal.record(message))
    (row,) = run(journal.claim("one", 10, 30))
    run(journal.settle([row.seq], {}, {}))
    run(journal.settle([row.seq], {}, {row.seq: "unroutable"}))
    assert journal.outbox_counts() == {"sent": 1}
    conversation = journal.conversation(message.conversation_id)
    assert conversation["status"] == "submitted"
    assert [e["event"] for e in conversation["history"]] == ["submitted", "published"]


def test_push_result_for_a_push_no_longer_pending_changes_nothing(
        journal: SqliteJournal) -> None:
    """A late failure reported for a delivered push neither reschedules nor records it."""
    message = accepted()
    run(journal.record(message))
    run(record_notification(journal, notification(message.conversation_id), {"status": "ok"},
                                CALLBACK))
    (job,) = run(journal.claim_due("one", 10, 30))
    run(journal.push_result(job.notification.id, delivered=True, error=None, retry_at=None))
    run(journal.push_result(job.notification.id, delivered=False, error="HTTP 500",
                            retry_at=time.time() - 1))
    assert run(journal.claim_due("one", 10, 30)) == []
    events = [e for e in journal.conversation(message.conversation_id)["history"]
              if e["event"].startswith("push.")]
    assert [(e["event"], e["attempts"], e["error"]) for e in events] == [
        ("push.delivered", 1, None)]


def test_push_claims_take_at_most_per_partner_and_skip_busy_partners(
        journal: SqliteJournal) -> None:
    """Due pushes are claimed at most ``per_partner`` per partner, none for a busy one."""
    for partner, decisions in (("broker-alpha", 3), ("broker-legacy", 2)):
        message = accepted(partner=partner)
        run(journal.record(message))
        for _ in range(decisions):
            run(record_notification(journal, notification(message.conversation_id, partner),
                                        {"status": "ok"}, CALLBACK))
    busy = run(journal.claim_due("one", 10, 30, per_partner=1,
                                 busy=frozenset({"broker-legacy"})))
    assert [j.notification.partner_id for j in busy] == ["broker-alpha"]
    rest = run(journal.claim_due("one", 10, 30, per_partner=1))
    assert sorted(j.notification.partner_id for j in rest) == ["broker-alpha", "broker-legacy"]


def test_journal_ping_is_false_once_closed(tmp_path: Path) -> None:
    """Ping reports the journal usable while open, and not once it has been closed."""
    journal = SqliteJournal(tmp_path / "journal.db").open()
    assert journal.ping()
    journal.close()
    assert not journal.ping()


def test_writer_fails_an_operation_queued_behind_its_stop_instead_of_hanging(
        tmp_path: Path) -> None:
    """An operation submitted while the writer is stopping fails with ServiceUnavailable."""
    writer = GroupCommitWriter(lambda: sqlite3.connect(tmp_path / "w.db", isolation_level=None,
                                                       check_same_thread=False))
    writer.start()
    running, release = threading.Event(), threading.Event()

    def blocking(cur: Any) -> None:
        running.set()
        release.wait(5)

    first = writer.submit(blocking)
    assert running.wait(5)
    stopper = threading.Thread(target=writer.stop)
    stopper.start()
    time.sleep(0.1)                               # the stop is queued before the next one
    late = writer.submit(lambda cur: "never run")
    release.set()
    stopper.join(10)
    assert first.result(5) is None
    with pytest.raises(ServiceUnavailable):
        late.result(5)
    with pytest.raises(ServiceUnavailable):
        writer.submit(lambda cur: None).result(1)


def test_writer_replaces_a_connection_that_is_no_longer_usable(tmp_path: Path) -> None:
    """After its connection is lost the writer connects again and the next batch commits."""
    made: list[sqlite3.Connection] = []
    lost: set[int] = set()

    def connect() -> sqlite3.Connection:
        made.append(sqlite3.connect(tmp_path / "w.db", isolation_level=None,
                                    check_same_thread=False))
        return made[-1]

    writer = GroupCommitWriter(connect, usable=lambda conn: id(conn) not in lost)
    writer.start()
    try:
        writer.submit(lambda cur: cur.execute("CREATE TABLE t (x)")).result(5)
        lost.add(id(made[0]))
        done: concurrent.futures.Future[Any] = writer.submit(
            lambda cur: cur.execute("INSERT INTO t VALUES (1)").rowcount)
        assert done.result(5) == 1
        assert len(made) == 2
    finally:
        writer.stop()


def test_writer_survives_a_caller_that_gave_up(tmp_path: Path) -> None:
    """An operation whose caller was cancelled is skipped, and the writer keeps serving others."""
    writer = GroupCommitWriter(lambda: sqlite3.connect(tmp_path / "c.db", isolation_level=None,
                                                       check_same_thread=False))
    writer.start()
    try:
        running, release = threading.Event(), threading.Event()

        def blocking(cur: Any) -> None:
            running.set()
            release.wait(5)

        first = writer.submit(blocking)
        assert running.wait(5)
        ran: list[str] = []
        abandoned = writer.submit(lambda cur: ran.append("abandoned"))
        assert abandoned.cancel(), "still queued, so the caller can give up"
        release.set()
        assert first.result(5) is None
        assert writer.submit(lambda cur: "still alive").result(5) == "still alive"
        assert ran == [] and writer.alive
    finally:
        writer.stop()


def _downgrade_to_version_1(path: Path) -> None:
    """Make the journal at ``path`` look like one written before schema versions were kept."""
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE journal_meta")
    conn.execute("DROP TABLE processed_events")
    conn.execute("ALTER TABLE messages DROP COLUMN document_digest")
    conn.execute("ALTER TABLE conversations RENAME COLUMN customs_reference TO mrn")
    conn.execute("ALTER TABLE notifications RENAME COLUMN source_id TO decision_id")
    conn.commit()
    conn.close()


def test_journal_from_before_versions_is_migrated_at_open(tmp_path: Path) -> None:
    """A journal without journal_meta and without document_digest gets both when opened."""
    path = tmp_path / "old.db"
    SqliteJournal(path).open().close()
    _downgrade_to_version_1(path)

    journal = SqliteJournal(path).open()
    try:
        stored, created = run(journal.record(_accepted_with_digest()))
        assert created and stored.document_digest == "d" * 64
        assert journal.find("broker-alpha", "doc:wco:MIGRATED").document_digest == "d" * 64
    finally:
        journal.close()
    conn = sqlite3.connect(path)
    version = conn.execute("SELECT value FROM journal_meta WHERE name = 'schema_version'")
    assert version.fetchone() == ("3",)
    columns = {row[1] for row in conn.execute("PRAGMA table_info(conversations)")}
    assert "customs_reference" in columns and "mrn" not in columns
    conn.close()


def test_journal_newer_than_the_gateway_is_refused(tmp_path: Path) -> None:
    """A journal stating a schema version this gateway does not know is not opened."""
    from gateway.errors import ConfigurationError

    path = tmp_path / "new.db"
    SqliteJournal(path).open().close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE journal_meta SET value = '99' WHERE name = 'schema_version'")
    conn.commit()
    conn.close()

    with pytest.raises(ConfigurationError, match="schema version 99"):
        SqliteJournal(path).open()


def _accepted_with_digest() -> AcceptedMessage:
    return AcceptedMessage(
        receipt_id=uuid.uuid4().hex, conversation_id=uuid.uuid4().hex, partner_id="broker-alpha",
        idempotency_key="doc:wco:MIGRATED", message_type="wco-dec-3.6", channel="http",
        received_at="2026-12-01T10:00:00.000Z", sha256="a" * 64, body=b"<x/>",
        canonical_json=b"{}", receipt_xml=b"<r/>", receipt={}, reference=None, outbox=(),
        document_digest="d" * 64)
