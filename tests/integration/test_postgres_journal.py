"""The PostgreSQL journal against the real PostgreSQL: the journal ports, shared by instances.

Each test gets a schema of its own (``postgres_url`` in ``conftest.py``), dropped afterwards.
"Two instances" are two ``PostgresJournal`` objects on the same schema, each with its own
writer thread and connections, as two gateway processes would have. What the journal stored
is also read back with plain SQL, independently of the journal's own code. The last tests run
whole gateways on PostgreSQL with the real RabbitMQ.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pika
import psycopg
import pytest
from conftest import RunningGateway, run, start_gateway, wait_for
from support.journal import record_notification

from adapters.store.postgres_journal import PostgresJournal, postgres_conninfo
from gateway.errors import ConfigurationError
from gateway.ports import AcceptedMessage, Notification, OutboundMessage
from gateway.settings import Settings
from samples.wco import build_dec

pytestmark = pytest.mark.integration

ALPHA, LEGACY = "broker-alpha", "broker-legacy"
CALLBACK = "http://127.0.0.1:9/callback"


@pytest.fixture
def journals(postgres_url: str) -> Iterator[Callable[[], PostgresJournal]]:
    """Open journals on the test's schema (each one an 'instance'); all are closed after."""
    opened: list[PostgresJournal] = []

    def open_one() -> PostgresJournal:
        opened.append(PostgresJournal(postgres_url).open())
        return opened[-1]

    yield open_one
    for journal in opened:
        journal.close()


def accepted(partner: str = ALPHA, key: str | None = None, outbox: int = 1) -> AcceptedMessage:
    """A message as intake would hand it to the journal, with ``outbox`` rows."""
    key = key or f"LRN:{uuid.uuid4().hex}"
    conversation_id, receipt_id = uuid.uuid4().hex, uuid.uuid4().hex
    return AcceptedMessage(
        receipt_id=receipt_id, conversation_id=conversation_id, partner_id=partner,
        idempotency_key=key, message_type="wco-dec-3.6", channel="rest",
        received_at="2026-01-02T03:04:05.000Z", sha256=uuid.uuid4().hex + uuid.uuid4().hex,
        body=f"<Declaration>{key}</Declaration>".encode(), canonical_json=b'{"canonical": 1}',
        receipt_xml=b"<Receipt/>" + key.encode(),
        receipt={"receipt_id": receipt_id, "status": "accepted"}, reference=key,
        outbox=tuple(OutboundMessage(
            id=uuid.uuid4().hex, conversation_id=conversation_id, kind="declaration",
            exchange="customs.clearance", routing_key=f"declaration.import.{n}",
            body=b'{"n": %d}' % n, headers={"x-n": str(n)}) for n in range(outbox)))


def notification(conversation_id: str, partner: str = ALPHA, kind: str = "ACC",
                 source_id: str | None = None) -> Notification:
    return Notification(
        id=uuid.uuid4().hex, conversation_id=conversation_id, partner_id=partner, kind=kind,
        created_at="2026-01-02T03:05:00.000Z", document=b"<Notification/>",
        source_id=source_id or uuid.uuid4().hex, summary={"decision": kind}, push=True)


def stored(postgres_url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows read with plain SQL from the test's schema."""
    conninfo, _ = postgres_conninfo(postgres_url)
    with psycopg.connect(conninfo) as conn:
        return conn.execute(query, params).fetchall()


def count(postgres_url: str, table: str) -> int:
    return int(stored(postgres_url, f"SELECT COUNT(*) FROM {table}")[0][0])


def conversation_with_decisions(journal: PostgresJournal, partner: str, decisions: int,
                                callback_url: str | None = CALLBACK) -> str:
    message = accepted(partner)
    run(journal.record(message))
    for _ in range(decisions):
        assert run(record_notification(journal, notification(message.conversation_id, partner),
                                           {"status": "accepted"}, callback_url))
    return message.conversation_id


# --- message journal ---------------------------------------------------------------------------


def test_journal_records_message_and_finds_its_receipt(
        journals: Callable[[], PostgresJournal], postgres_url: str) -> None:
    """A recorded message is found by partner and key, with its receipt, body and outbox."""
    journal = journals()
    message = accepted(outbox=2)
    receipt, created = run(journal.record(message))
    assert created
    found = journal.find(ALPHA, message.idempotency_key)
    assert found == receipt
    assert (found.receipt_id, found.receipt_xml, found.receipt) == (
        message.receipt_id, message.receipt_xml, message.receipt)
    assert journal.find(LEGACY, message.idempotency_key) is None
    assert stored(postgres_url, "SELECT body FROM blobs WHERE sha256 = %s",
                  message.sha256) == [(message.body,)]
    assert journal.outbox_counts() == {"pending": 2}
    assert journal.conversation(message.conversation_id)["status"] == "submitted"


def test_journal_duplicate_key_returns_existing_receipt_and_stores_nothing(
        journals: Callable[[], PostgresJournal], postgres_url: str) -> None:
    """A second record under a taken key returns the first receipt and adds no row anywhere."""
    journal = journals()
    first = accepted(outbox=1)
    original, _ = run(journal.record(first))
    tables = ("messages", "conversations", "events", "outbox", "blobs")
    before = {t: count(postgres_url, t) for t in tables}

    repeat = accepted(key=first.idempotency_key, outbox=1)
    receipt, created = run(journal.record(repeat))
    assert (receipt, created) == (original, False)
    assert {t: count(postgres_url, t) for t in tables} == before
    assert journal.conversation(repeat.conversation_id) is None


def test_journal_concurrent_records_of_one_key_by_two_instances_store_one(
        journals: Callable[[], PostgresJournal], postgres_url: str) -> None:
    """Two instances recording the same keys at once store each key once and agree on it."""
    one, two = journals(), journals()
    keys = [f"LRN:{uuid.uuid4().hex}" for _ in range(20)]

    async def race() -> list[tuple[Any, Any]]:
        return await asyncio.gather(*(asyncio.gather(one.record(accepted(key=k)),
                                                     two.record(accepted(key=k)))
                                      for k in keys))

    for (a, a_created), (b, b_created) in run(race()):
        assert a == b
        assert a_created != b_created, "exactly one of the two must have stored it"
    assert count(postgres_url, "messages") == 20
    assert count(postgres_url, "conversations") == 20
    assert count(postgres_url, "outbox") == 20


# --- outbox ------------------------------------------------------------------------------------


def test_outbox_claims_of_two_instances_are_disjoint_and_leased(
        journals: Callable[[], PostgresJournal]) -> None:
    """Two instances claiming at once get disjoint rows; leased rows are not claimed again."""
    one, two = journals(), journals()
    run(one.record(accepted(outbox=10)))

    async def both() -> tuple[Any, Any]:
        return await asyncio.gather(one.claim("one", 6, 30), two.claim("two", 6, 30))

    first, second = run(both())
    seqs_one, seqs_two = {r.seq for r in first}, {r.seq for r in second}
    assert not seqs_one & seqs_two
    assert len(seqs_one | seqs_two) == 10
    assert [r.seq for r in first] == sorted(seqs_one)
    assert all(r.attempts == 1 for r in first + second)
    assert run(one.claim("one", 10, 30)) == [] and run(two.claim("two", 10, 30)) == []


def test_outbox_lease_expiry_and_failed_publish_make_rows_claimable_again(
        journals: Callable[[], PostgresJournal]) -> None:
    """An expired lease or a failed publish lets another instance claim the row, attempts +1."""
    one, two = journals(), journals()
    message = accepted(outbox=2)
    run(one.record(message))
    claimed = run(one.claim("one", 10, 0.3))
    assert [r.message for r in claimed] == list(message.outbox)
    assert run(two.claim("two", 10, 30)) == []

    time.sleep(0.4)
    again = run(two.claim("two", 10, 30))
    assert [(r.seq, r.attempts) for r in again] == [(r.seq, 2) for r in claimed]
    run(two.settle([], {again[0].seq: "ConnectionError: gone"}, {}))
    retried = run(one.claim("one", 10, 30))
    assert [(r.seq, r.attempts) for r in retried] == [(again[0].seq, 3)]


def test_outbox_settle_marks_sent_and_parked_once_with_events(
        journals: Callable[[], PostgresJournal]) -> None:
    """Settling records 'published' and 'parked' once each; a second settlement adds nothing."""
    journal = journals()
    sent_message, parked_message = accepted(), accepted()
    run(journal.record(sent_message))
    run(journal.record(parked_message))
    rows = {r.message.conversation_id: r.seq for r in run(journal.claim("one", 10, 30))}
    sent, parked = rows[sent_message.conversation_id], rows[parked_message.conversation_id]

    run(journal.settle([sent], {}, {parked: "unroutable: nobody bound"}))
    run(journal.settle([sent], {}, {parked: "unroutable: again"}))    # a lease had run out
    assert journal.outbox_counts() == {"sent": 1, "parked": 1}
    published = journal.conversation(sent_message.conversation_id)
    assert [e["event"] for e in published["history"]] == ["submitted", "published"]
    assert published["history"][1]["routing_key"] == "declaration.import.0"
    assert published["history"][1]["message_id"] == sent_message.outbox[0].id
    parked_conversation = journal.conversation(parked_message.conversation_id)
    assert parked_conversation["status"] == "parked"
    assert [e for e in parked_conversation["history"] if e["event"] == "parked"] == [
        {"at": parked_conversation["history"][1]["at"], "event": "parked",
         "reason": "unroutable: nobody bound", "message_id": parked_message.outbox[0].id}]


# --- decisions, notifications, pushes ---------------------------------------------------------


def test_decisions_get_consecutive_seq_and_a_repeated_decision_is_ignored(
        journals: Callable[[], PostgresJournal], postgres_url: str) -> None:
    """Notifications are numbered 1, 2, 3 per conversation; a known decision id stores nothing."""
    journal = journals()
    message = accepted()
    run(journal.record(message))
    kinds = ["ACC", "CTL", "RES"]
    made = [notification(message.conversation_id, kind=k) for k in kinds]
    for n, status in zip(made, ["accepted", "control", "released"], strict=True):
        assert run(record_notification(journal, n, {"status": status, "mrn": "26MK1234"}, None))

    repeat = notification(message.conversation_id, kind="RES", source_id=made[2].source_id)
    assert not run(record_notification(journal, repeat, {"status": "withdrawn"}, None))
    listed = journal.notifications(message.conversation_id)
    assert [(n.seq, n.kind, n.id, n.push) for n in listed] == [
        (1, "ACC", made[0].id, False), (2, "CTL", made[1].id, False),
        (3, "RES", made[2].id, False)]
    assert listed[0].document == made[0].document and listed[0].summary == made[0].summary
    conversation = journal.conversation(message.conversation_id)
    assert (conversation["status"], conversation["customs_reference"]) == ("released", "26MK1234")
    assert count(postgres_url, "notifications") == 3


def test_decisions_recorded_concurrently_by_two_instances_get_unique_seq(
        journals: Callable[[], PostgresJournal]) -> None:
    """Decisions for one conversation from two instances at once are numbered 1..n, no gaps."""
    one, two = journals(), journals()
    message = accepted()
    run(one.record(message))
    made = [notification(message.conversation_id) for _ in range(30)]

    async def race() -> list[bool]:
        return await asyncio.gather(*(record_notification(
            one if i % 2 else two, n, {"status": "accepted"}, CALLBACK)
            for i, n in enumerate(made)))

    assert all(run(race()))
    listed = one.notifications(message.conversation_id)
    assert [n.seq for n in listed] == list(range(1, 31))
    assert {n.id for n in listed} == {n.id for n in made}



def test_push_claims_respect_per_partner_limit_and_busy_partners(
        journals: Callable[[], PostgresJournal]) -> None:
    """At most ``per_partner`` pushes per partner are claimed, none for a busy partner."""
    journal = journals()
    conversation_with_decisions(journal, ALPHA, 5)
    conversation_with_decisions(journal, LEGACY, 3)
    conversation_with_decisions(journal, LEGACY, 1, callback_url=None)     # pull only

    jobs = run(journal.claim_due("one", 10, 30, per_partner=2))
    assert sorted(j.notification.partner_id for j in jobs) == [ALPHA, ALPHA, LEGACY, LEGACY]
    assert all(j.callback_url == CALLBACK and j.attempts == 0 for j in jobs)

    busy = run(journal.claim_due("one", 10, 30, per_partner=2, busy=frozenset({ALPHA})))
    assert [j.notification.partner_id for j in busy] == [LEGACY]
    rest = run(journal.claim_due("one", 10, 30, per_partner=2))
    assert [j.notification.partner_id for j in rest] == [ALPHA, ALPHA]
    assert [j.notification.partner_id for j in run(journal.claim_due(
        "one", 10, 30, per_partner=2))] == [ALPHA]
    assert run(journal.claim_due("one", 10, 30, per_partner=2)) == []


def test_push_claims_of_two_instances_are_disjoint_and_results_are_recorded(
        journals: Callable[[], PostgresJournal]) -> None:
    """Two instances claim disjoint pushes; delivered, retried and failed results are kept."""
    one, two = journals(), journals()
    conversation_id = conversation_with_decisions(one, ALPHA, 3)
    for _ in range(3):
        conversation_with_decisions(one, LEGACY, 2)

    async def both() -> tuple[Any, Any]:
        return await asyncio.gather(one.claim_due("one", 20, 30, per_partner=8),
                                    two.claim_due("two", 20, 30, per_partner=8))

    first, second = run(both())
    ids_one = {j.notification.id for j in first}
    ids_two = {j.notification.id for j in second}
    assert not ids_one & ids_two and len(ids_one | ids_two) == 9

    alpha = sorted((j for j in first + second if j.notification.partner_id == ALPHA),
                   key=lambda j: j.notification.seq)
    run(one.push_result(alpha[0].notification.id, delivered=True, error=None, retry_at=None))
    run(two.push_result(alpha[1].notification.id, delivered=False, error="HTTP 500",
                        retry_at=time.time() - 1))
    run(one.push_result(alpha[2].notification.id, delivered=False, error="HTTP 500",
                        retry_at=None))
    run(two.push_result(alpha[0].notification.id, delivered=False, error="late",   # stale
                        retry_at=time.time() - 1))

    retried = run(two.claim_due("two", 20, 30))
    assert [(j.notification.id, j.attempts) for j in retried] == [
        (alpha[1].notification.id, 1)]
    history = one.conversation(conversation_id)["history"]
    pushes = [(e["event"], e["seq"], e["attempts"], e["error"]) for e in history
              if e["event"].startswith("push.")]
    assert pushes == [("push.delivered", 1, 1, None), ("push.failed", 3, 1, "HTTP 500")]



def test_conversation_history_lists_every_event_in_order(
        journals: Callable[[], PostgresJournal]) -> None:
    """The history runs submitted, published, notification, push.delivered, with details."""
    journal = journals()
    message = accepted()
    run(journal.record(message))
    (row,) = run(journal.claim("one", 10, 30))
    run(journal.settle([row.seq], {}, {}))
    made = notification(message.conversation_id, kind="ACC")
    run(record_notification(journal, made, {"status": "accepted", "mrn": "26MK0001"}, CALLBACK))
    (job,) = run(journal.claim_due("one", 10, 30))
    run(journal.push_result(job.notification.id, delivered=True, error=None, retry_at=None))
    conversation = journal.conversation(message.conversation_id)
    fields = ("id", "partner_id", "reference", "customs_reference", "status")
    assert {k: conversation[k] for k in fields} == {
        "id": message.conversation_id, "partner_id": ALPHA, "reference": message.reference,
        "customs_reference": "26MK0001", "status": "accepted"}
    history = conversation["history"]
    assert [e["event"] for e in history] == [
        "submitted", "published", "notification.ACC", "push.delivered"]
    assert history[0] == {"at": message.received_at, "event": "submitted",
                          "receipt_id": message.receipt_id, "message_type": "wco-dec-3.6",
                          "channel": "rest", "sha256": message.sha256}
    assert history[2]["notification_id"] == made.id and history[2]["seq"] == 1
    assert journal.conversation(uuid.uuid4().hex) is None
    assert journal.notifications(uuid.uuid4().hex) == []


# --- configuration and lifecycle ---------------------------------------------------------------


def test_journal_uses_existing_schema_named_by_libpq_options(postgres_url: str) -> None:
    """``?options=-c search_path=NAME`` (libpq's own parameter) puts the tables in NAME."""
    base, schema = postgres_url.split("?schema=")
    conninfo, _ = postgres_conninfo(base)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    journal = PostgresJournal(f"{base}?options=-c%20search_path%3D{schema}").open()
    try:
        run(journal.record(accepted()))
        assert journal.ping()
    finally:
        journal.close()
    assert not journal.ping()
    assert count(postgres_url, "messages") == 1
    tables = stored(postgres_url, "SELECT table_name FROM information_schema.tables"
                    " WHERE table_schema = %s ORDER BY table_name", schema)
    assert [t for (t,) in tables] == [
        "blobs", "conversations", "events", "journal_meta", "messages", "notifications",
        "outbox", "processed_events"]


def test_journal_rejects_schema_name_that_is_not_a_plain_identifier() -> None:
    """A schema name needing quotes is refused before anything connects."""
    with pytest.raises(ConfigurationError, match="schema"):
        PostgresJournal("postgresql://postgres@127.0.0.1:5432/test?schema=Bad-Name;drop")


# --- whole gateways on PostgreSQL --------------------------------------------------------------


def _post(running: RunningGateway, token: str, document: bytes) -> httpx.Response:
    with running.client(token) as client:
        return client.post("/v1/messages", content=document,
                           headers={"Content-Type": "application/xml"})


def _queued(settings: Settings) -> int:
    """Messages waiting in the clearance queue (no stand-in consumes them here)."""
    with pika.BlockingConnection(pika.URLParameters(settings.amqp_url)) as connection:
        return int(connection.channel().queue_declare(
            settings.amqp_prefix + "clearance.declarations", passive=True).method.message_count)


def test_gateway_on_postgres_accepts_publishes_and_answers_a_repeat(
        settings: Settings, rabbitmq: str, postgres_url: str,
        tokens: dict[str, str]) -> None:
    """Over HTTP: 202, the outbox row is published and sent, a repeat gets the same receipt."""
    pg_settings = settings.with_(db_url=postgres_url)
    running = start_gateway(pg_settings)
    try:
        assert isinstance(running.gateway.journal, PostgresJournal)
        document = build_dec(2, lrn=f"LRN-{uuid.uuid4().hex[:12].upper()}")
        first = _post(running, tokens[ALPHA], document)
        assert first.status_code == 202, first.text
        journal = running.gateway.journal
        wait_for(lambda: journal.outbox_counts() == {"sent": 1})
        wait_for(lambda: _queued(pg_settings) == 1)

        repeat = _post(running, tokens[ALPHA], document)
        assert repeat.status_code == 202
        assert repeat.headers.get("X-Duplicate") == "true"
        assert repeat.content == first.content
        assert repeat.headers["X-Conversation-ID"] == first.headers["X-Conversation-ID"]
        time.sleep(0.3)
        assert journal.outbox_counts() == {"sent": 1}
        assert count(postgres_url, "messages") == 1
        history = journal.conversation(first.headers["X-Conversation-ID"])["history"]
        assert [e["event"] for e in history] == ["submitted", "published"]
    finally:
        running.stop()


def test_two_gateways_on_one_schema_store_a_declaration_sent_to_both_once(
        settings: Settings, rabbitmq: str, postgres_url: str,
        tokens: dict[str, str]) -> None:
    """The same declaration posted to two gateways at once: one receipt, one outbox row."""
    pg_settings = settings.with_(db_url=postgres_url)
    gateways: list[RunningGateway] = []
    try:
        gateways += [start_gateway(pg_settings), start_gateway(pg_settings)]
        document = build_dec(2, lrn=f"LRN-{uuid.uuid4().hex[:12].upper()}")
        start = threading.Barrier(2)

        def post(running: RunningGateway) -> httpx.Response:
            start.wait()
            return _post(running, tokens[ALPHA], document)

        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(post, gateways))
        assert [a.status_code for a in answers] == [202, 202], [a.text for a in answers]
        assert answers[0].content == answers[1].content, "one receipt, byte for byte"
        assert len({a.headers["X-Conversation-ID"] for a in answers}) == 1
        assert sorted(a.headers.get("X-Duplicate", "false") for a in answers) == \
            ["false", "true"]
        wait_for(lambda: gateways[0].gateway.journal.outbox_counts() == {"sent": 1})
        assert count(postgres_url, "messages") == 1
        assert count(postgres_url, "outbox") == 1
        time.sleep(0.3)
        assert _queued(pg_settings) == 1
    finally:
        for running in gateways:
            running.stop()


# --- schema versions -------------------------------------------------------------------------


def test_journal_from_before_versions_is_migrated_at_open(
        journals: Callable[[], PostgresJournal], postgres_url: str) -> None:
    """A PostgreSQL journal without journal_meta and document_digest gets both when opened."""
    journals().close()
    conninfo, _ = postgres_conninfo(postgres_url)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("DROP TABLE journal_meta")
        conn.execute("DROP TABLE processed_events")
        conn.execute("ALTER TABLE messages DROP COLUMN document_digest")
        conn.execute("ALTER TABLE conversations RENAME COLUMN customs_reference TO mrn")
        conn.execute("ALTER TABLE notifications RENAME COLUMN source_id TO decision_id")

    journal = journals()
    message = accepted()
    run(journal.record(message))

    assert stored(postgres_url, "SELECT value FROM journal_meta") == [("3",)]
    assert stored(postgres_url, "SELECT COUNT(document_digest) FROM messages") == [(0,)]
    assert journal.find(ALPHA, message.idempotency_key) is not None
