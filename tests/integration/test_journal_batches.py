"""Batched writes of the journal (SQLite and PostgreSQL): notifications and the payments ledger.

A bank file's 1,000 payments are written in a handful of batched statements
(``add_notifications``; the payments ledger keeps its writes until the work is done). These
tests hold the batches to the guarantees of the row-by-row writes: seqs follow on without a
gap per conversation, a notification's source and a bank's transaction are stored once, a
batch that fails leaves nothing — and, on PostgreSQL, a row that another transaction writes
between a batch's check and its insert makes the journal run the operation again
(``WriteConflict``) instead of skipping a seq or doubling a row.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from conftest import run

from adapters.store.payment_ledger import PaymentLedgerStore
from adapters.store.postgres_journal import PostgresJournal, postgres_conninfo
from adapters.store.sql_journal import SqlJournal
from adapters.store.sqlite_journal import SqliteJournal
from gateway.flows.payments.ledger import Assessment, Payment
from gateway.ports import AcceptedMessage, Notification

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", "postgresql"])
def journal_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'journal.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def journal(journal_url: str) -> Iterator[SqlJournal]:
    opened = _open(journal_url)
    yield opened
    opened.close()


def _open(url: str) -> SqlJournal:
    flows = [PaymentLedgerStore()]
    if url.startswith("sqlite:///"):
        from pathlib import Path

        return SqliteJournal(Path(url.removeprefix("sqlite:///")), flows).open()
    return PostgresJournal(url, flows).open()


def conversation(journal: SqlJournal) -> str:
    """A stored message's conversation (what notifications attach to)."""
    conversation_id, receipt_id = uuid.uuid4().hex, uuid.uuid4().hex
    run(journal.record(AcceptedMessage(
        receipt_id=receipt_id, conversation_id=conversation_id, partner_id="broker-alpha",
        idempotency_key=uuid.uuid4().hex, message_type="wco-dec-3.6", channel="rest",
        received_at="2026-01-02T03:04:05.000Z", sha256=uuid.uuid4().hex,
        body=uuid.uuid4().bytes, canonical_json=b"{}", receipt_xml=b"<Receipt/>",
        receipt={"receipt_id": receipt_id}, reference=None, outbox=())))
    return conversation_id


def notification(conversation_id: str, source_id: str | None = None,
                 kind: str = "PAY") -> Notification:
    return Notification(
        id=uuid.uuid4().hex, conversation_id=conversation_id, partner_id="broker-alpha",
        kind=kind, created_at="2026-01-02T03:05:00.000Z", document=b"<Notification/>",
        source_id=source_id or uuid.uuid4().hex, summary={"n": kind}, push=False)


def payment(key: str, bank: str = "bank-demo") -> Payment:
    return Payment(id=uuid.uuid4().hex, bank=bank, bank_reference=key, amount=Decimal("10.00"),
                   currency="EUR", outcome="parked", receipt_id="r", conversation_id="c",
                   recorded_at="2026-01-02T03:05:00.000Z", reason="unknown-reference")


def test_batch_of_notifications_numbers_each_conversation_without_gaps(
        journal: SqlJournal) -> None:
    """One batch over two conversations: seqs follow each conversation's last, a source stored
    before or repeated in the batch gets None and no seq, and every stored one has history."""
    first, second = conversation(journal), conversation(journal)
    earlier = notification(first, kind="TAX")
    run(journal.transaction(lambda tx: tx.add_notification(earlier, None)))
    batch = [notification(first), notification(second), notification(first, earlier.source_id),
             notification(second), notification(first)]
    batch.append(notification(second, batch[1].source_id))

    seqs = run(journal.transaction(lambda tx: tx.add_notifications(
        [(n, "http://127.0.0.1:9/cb" if i == 0 else None) for i, n in enumerate(batch)])))

    assert seqs == [2, 1, None, 2, 3, None]
    assert [(n.seq, n.id) for n in journal.notifications(first)] == [
        (1, earlier.id), (2, batch[0].id), (3, batch[4].id)]
    assert [(n.seq, n.id) for n in journal.notifications(second)] == [
        (1, batch[1].id), (2, batch[3].id)]
    assert [n.push for n in journal.notifications(first)] == [False, True, False]
    history = [e for e in journal.conversation(first)["history"]
               if e["event"] == "notification.PAY"]
    assert [e["seq"] for e in history] == [2, 3]


def test_large_batch_of_notifications_is_stored_whole_in_its_order(
        journal: SqlJournal) -> None:
    """1,500 notifications of one conversation get seqs 1 … 1,500 in the order given."""
    conversation_id = conversation(journal)
    batch = [notification(conversation_id) for _ in range(1_500)]
    seqs = run(journal.transaction(lambda tx: tx.add_notifications([(n, None) for n in batch])))
    assert seqs == list(range(1, 1_501))
    assert [n.id for n in journal.notifications(conversation_id)] == [n.id for n in batch]


def test_ledger_writes_kept_until_the_work_ends_are_written_or_dropped_together(
        journal: SqlJournal) -> None:
    """Kept writes are visible inside the work, written when it ends, and gone when it
    raises; a transaction key recorded before is refused without a write."""
    reference = "RF18539007547034"
    assessment = Assessment(reference=reference, conversation_id="c1", partner_id="broker-alpha",
                            mrn=None, amount_due=Decimal("10.00"), currency="EUR",
                            decision_id="d1", assessed_at="2026-01-02T03:04:05.000Z")
    first = payment("tx:1")

    def work(tx: Any) -> tuple[bool, bool, Payment | None]:
        ledger = tx.flow("payments")
        ledger.save_assessment(assessment)
        ledger.preload_payments("bank-demo", ["tx:1", "tx:2"])
        return ledger.add_payment(first), ledger.add_payment(payment("tx:1")), \
            ledger.payment(first.id)

    assert run(journal.transaction(work)) == (True, False, first)
    reader = journal.flow("payments")
    assert reader.look_up(reference) == assessment

    def failing(tx: Any) -> None:
        ledger = tx.flow("payments")
        assert ledger.add_payment(payment("tx:1")) is False      # the first work recorded it
        ledger.add_payment(payment("tx:2"))
        ledger.save_assessment(dataclasses.replace(assessment, paid=Decimal(10)))
        raise RuntimeError("the work fails after its writes were kept")

    with pytest.raises(RuntimeError):
        run(journal.transaction(failing))
    assert reader.look_up(reference).paid == 0
    assert run(journal.transaction(lambda tx: tx.flow("payments").add_payment(payment("tx:2"))))


# --- a row written between a batch's check and its insert (PostgreSQL) -----------------------


@pytest.fixture
def pg_journal(postgres_url: str) -> Iterator[tuple[PostgresJournal, str]]:
    opened = PostgresJournal(postgres_url, [PaymentLedgerStore()]).open()
    yield opened, postgres_conninfo(postgres_url)[0]
    opened.close()


def _while_uncommitted(conninfo: str, sql: str, params: tuple[Any, ...],
                       operation: Callable[[], Any]) -> list[Any]:
    """Run ``sql`` in a transaction of its own, start ``operation`` meanwhile, let it run into
    the uncommitted row, then commit; what ``operation`` returned and how many attempts."""
    attempts: list[Any] = []
    with psycopg.connect(conninfo) as conn:
        conn.execute(sql, params)
        worker = threading.Thread(target=lambda: attempts.append(operation()))
        worker.start()
        time.sleep(0.5)                     # the operation reaches its insert and waits
        assert worker.is_alive(), "the operation did not wait for the uncommitted row"
        conn.commit()
    worker.join(10)
    return attempts


def test_notification_stored_by_another_transaction_meanwhile_is_run_again(
        pg_journal: tuple[PostgresJournal, str]) -> None:
    """A source inserted (uncommitted) into another conversation after the batch's check: the
    batch's insert waits, writes nothing for it, and the journal runs the batch again — which
    then sees the source stored (None) and leaves the conversation without a gap."""
    journal, conninfo = pg_journal
    mine, other = conversation(journal), conversation(journal)
    contested = notification(mine)
    calls: list[int] = []

    def work(tx: Any) -> list[int | None]:
        calls.append(1)
        return tx.add_notifications([(notification(mine), None), (contested, None)])

    results = _while_uncommitted(
        conninfo, "INSERT INTO notifications (id, conversation_id, partner_id, seq, kind,"
        " created_at, source_id, document, summary, push_state) VALUES (%s, %s, 'broker-alpha',"
        " 1, 'PAY', 'now', %s, 'x', '{}', 'none')", (uuid.uuid4().hex, other, contested.source_id),
        lambda: run(journal.transaction(work)))

    assert results == [[1, None]] and len(calls) == 2
    assert [n.seq for n in journal.notifications(mine)] == [1]


def test_bank_transaction_recorded_by_another_file_meanwhile_is_a_duplicate(
        pg_journal: tuple[PostgresJournal, str]) -> None:
    """A parked payment's key recorded (uncommitted) by a twin file after this file's check:
    the ledger's insert waits, writes fewer rows than kept, and the operation runs again —
    where the payment is a duplicate and nothing is doubled."""
    journal, conninfo = pg_journal
    calls: list[int] = []

    def work(tx: Any) -> tuple[bool, bool]:
        calls.append(1)
        ledger = tx.flow("payments")
        ledger.preload_payments("bank-demo", ["tx:A", "tx:B"])
        return ledger.add_payment(payment("tx:A")), ledger.add_payment(payment("tx:B"))

    results = _while_uncommitted(
        conninfo, "INSERT INTO payments (id, bank, bank_reference, amount, currency, outcome,"
        " receipt_id, conversation_id, recorded_at, reversal) VALUES (%s, 'bank-demo', 'tx:B',"
        " '10.00', 'EUR', 'parked', 'r', 'c', 'now', 0)", (uuid.uuid4().hex,),
        lambda: run(journal.transaction(work)))

    assert results == [(True, False)] and len(calls) == 2
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute("SELECT bank_reference, COUNT(*) FROM payments GROUP BY 1"
                            " ORDER BY 1").fetchall()
    assert rows == [("tx:A", 1), ("tx:B", 1)]
