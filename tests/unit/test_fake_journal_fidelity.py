"""The fake journal keeps the real journals' transaction rule: a message and its intake effect
are one transaction, so an effect that raises leaves nothing stored (checked on the fake and on
the SQLite journal side by side, so the fake cannot drift from what it stands in for)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeJournal

from adapters.store.sqlite_journal import SqliteJournal
from gateway.ports import AcceptedMessage, OutboundMessage


def accepted(key: str) -> AcceptedMessage:
    conversation_id, receipt_id = uuid.uuid4().hex, uuid.uuid4().hex
    return AcceptedMessage(
        receipt_id=receipt_id, conversation_id=conversation_id, partner_id="broker-alpha",
        idempotency_key=key, message_type="wco-dec-3.6", channel="rest",
        received_at="2026-01-02T03:04:05.000Z", sha256=uuid.uuid4().hex, body=uuid.uuid4().bytes,
        canonical_json=b"{}", receipt_xml=b"<Receipt/>", receipt={"receipt_id": receipt_id},
        reference=None, outbox=(OutboundMessage(
            id=uuid.uuid4().hex, conversation_id=conversation_id, kind="declaration",
            exchange="customs.clearance", routing_key="declaration.import.X", body=b"{}",
            headers={}),))


@pytest.fixture(params=["fake", "sqlite"])
def journal(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "fake":
        yield FakeJournal()
        return
    opened = SqliteJournal(tmp_path / "journal.db").open()
    yield opened
    opened.close()


class EffectFailed(Exception):
    pass


def test_an_effect_that_raises_stores_nothing_and_a_retry_is_stored_once(journal: Any) -> None:
    """The effect sees the new conversation; when it raises, neither the message, its
    conversation nor its outbox rows remain, and the same key is then accepted as new."""
    seen: list[Any] = []

    def failing(tx: Any) -> None:
        seen.append(tx.conversation(message.conversation_id))
        raise EffectFailed("the flow refused it")

    message = accepted(uuid.uuid4().hex)
    with pytest.raises(EffectFailed):
        asyncio.run(journal.record(message, failing))
    assert seen and seen[0] is not None and seen[0]["id"] == message.conversation_id
    assert journal.conversation(message.conversation_id) is None
    assert asyncio.run(journal.claim("t", 10, 30.0)) == []

    again = accepted(message.idempotency_key)
    stored, new = asyncio.run(journal.record(again, lambda tx: None))
    assert new and stored.receipt_id == again.receipt_id
    assert journal.conversation(again.conversation_id) is not None
    assert [row.message.id for row in asyncio.run(journal.claim("t", 10, 30.0))] == [
        again.outbox[0].id]
