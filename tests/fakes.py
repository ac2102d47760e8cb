"""In-memory fakes of the journal ports (``gateway.ports``) — for unit tests only.

``FakeJournal`` implements ``MessageJournal``, ``Conversations``, ``Outbox`` and ``PushQueue``
the way the SQLite journal does (same uniqueness rules, same status updates), keeps
everything in dictionaries and lists, and records every call so tests can assert on what the
core stored and what it did not. Nothing here is durable, thread-safe or fit for production.

Rules mirrored from ``adapters/store/sql_journal.py`` (the SQLite and PostgreSQL journals):

* ``record``: one message per ``(partner_id, idempotency_key)``; when the key is already taken
  (a concurrent repeat that passed ``find`` before the first one committed) it stores nothing
  and returns ``(existing, False)``. ``record`` yields to the event loop once before it
  commits, so two concurrent submissions really race. With ``unavailable=True`` it raises
  ``ServiceUnavailable`` and stores nothing.
* ``record_decision``: one notification per ``decision_id``; ``seq`` counts 1, 2, … per
  conversation; the conversation takes the new status and keeps its MRN unless a new one is
  given.
* ``claim`` / ``settle`` (outbox) and ``claim_due`` / ``push_result`` (push queue) use leases
  against an injectable clock.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.errors import ServiceUnavailable
from gateway.pipeline.exchange import utc_now_iso
from gateway.ports import (
    AcceptedMessage,
    Notification,
    OutboundMessage,
    OutboxRow,
    PushJob,
    StoredReceipt,
)


@dataclass
class FakeOutboxEntry:
    """One outbox row with its delivery state."""

    seq: int
    message: OutboundMessage
    state: str = "pending"              # pending | sent | parked
    attempts: int = 0
    lease_owner: str | None = None
    lease_until: float | None = None
    last_error: str | None = None


@dataclass
class FakePushState:
    """Push delivery state of one notification."""

    callback_url: str | None
    state: str                          # none | pending | delivered | failed
    next_at: float | None
    attempts: int = 0
    lease_owner: str | None = None
    lease_until: float | None = None
    last_error: str | None = None


@dataclass
class FakeJournal:
    """Message journal, conversations, outbox and push queue in memory (unit tests only)."""

    unavailable: bool = False                        # make ``record`` raise ServiceUnavailable
    clock: Callable[[], float] = time.time

    # what is stored
    messages: dict[tuple[str, str], AcceptedMessage] = field(default_factory=dict)
    receipts: dict[tuple[str, str], StoredReceipt] = field(default_factory=dict)
    conversations: dict[str, dict[str, Any]] = field(default_factory=dict)
    outbox: list[FakeOutboxEntry] = field(default_factory=list)
    stored_notifications: dict[str, Notification] = field(default_factory=dict)  # by source
    push_states: dict[str, FakePushState] = field(default_factory=dict)  # by notification id
    flows: dict[str, Any] = field(default_factory=dict)       # fake flow stores by name

    # every call, for assertions
    find_calls: list[tuple[str, str]] = field(default_factory=list)
    record_calls: list[AcceptedMessage] = field(default_factory=list)
    event_calls: list[tuple[str, str, str]] = field(default_factory=list)
    processed: set[tuple[str, str]] = field(default_factory=set)      # (consumer, message id)
    settle_calls: list[tuple[list[int], dict[int, str], dict[int, str]]] = \
        field(default_factory=list)
    push_results: list[dict[str, Any]] = field(default_factory=list)

    # --- MessageJournal ------------------------------------------------------------------------

    def find(self, partner_id: str, idempotency_key: str) -> StoredReceipt | None:
        self.find_calls.append((partner_id, idempotency_key))
        return self.receipts.get((partner_id, idempotency_key))

    async def record(self, message: AcceptedMessage,
                     effect: Callable[[Any], Any] | None = None) -> tuple[StoredReceipt, bool]:
        self.record_calls.append(message)
        if self.unavailable:
            raise ServiceUnavailable("the journal is unavailable (fake)")
        await asyncio.sleep(0)                       # let a concurrent repeat reach this point
        key = (message.partner_id, message.idempotency_key)
        existing = self.receipts.get(key)
        if existing is not None:
            return existing, False
        stored = StoredReceipt(message.receipt_id, message.conversation_id, message.sha256,
                               message.receipt_xml, message.receipt,
                               message.document_digest or None)
        self.messages[key] = message
        self.receipts[key] = stored
        now = utc_now_iso()
        previous = self.conversations.get(message.conversation_id)
        self.conversations[message.conversation_id] = {
            "id": message.conversation_id, "partner_id": message.partner_id,
            "reference": message.reference, "customs_reference": None,
            "status": message.status,
            "created_at": now, "updated_at": now,
            "history": [{"at": message.received_at, "event": message.status,
                         "receipt_id": message.receipt_id, "message_type": message.message_type,
                         "channel": message.channel, "sha256": message.sha256,
                         **message.event_detail}],
        }
        for outbound in message.outbox:
            self.outbox.append(FakeOutboxEntry(seq=len(self.outbox) + 1, message=outbound))
        if effect is not None:                       # one transaction, as in the real journals:
            tx = FakeTransaction(self)               # an effect that raises stores nothing
            try:
                effect(tx)
            except BaseException:
                del self.messages[key], self.receipts[key]
                if previous is None:
                    self.conversations.pop(message.conversation_id, None)
                else:
                    self.conversations[message.conversation_id] = previous
                del self.outbox[len(self.outbox) - len(message.outbox):]
                raise
            tx.commit()
        return stored, True

    @property
    def recorded(self) -> list[AcceptedMessage]:
        """The messages actually stored, in the order they were stored."""
        return list(self.messages.values())

    # --- Outbox --------------------------------------------------------------------------------

    async def claim(self, owner: str, limit: int, lease_seconds: float) -> list[OutboxRow]:
        now = self.clock()
        rows: list[OutboxRow] = []
        for entry in self.outbox:
            if len(rows) >= limit:
                break
            if entry.state != "pending":
                continue
            if entry.lease_until is not None and entry.lease_until >= now:
                continue
            previous = entry.lease_owner if entry.lease_until is not None else None
            entry.lease_owner, entry.lease_until = owner, now + lease_seconds
            entry.attempts += 1
            rows.append(OutboxRow(entry.seq, entry.message, entry.attempts, previous))
        return rows

    async def settle(self, sent: list[int], failed: dict[int, str],
                     parked: dict[int, str]) -> None:
        self.settle_calls.append((list(sent), dict(failed), dict(parked)))
        by_seq = {e.seq: e for e in self.outbox}
        now = utc_now_iso()
        # only pending rows are settled: a row another relay settled stays as it is
        for seq in sent:
            entry = by_seq[seq]
            if entry.state != "pending":
                continue
            entry.state, entry.lease_owner, entry.lease_until = "sent", None, None
            self._event(entry.message.conversation_id, now, "published",
                        exchange=entry.message.exchange, routing_key=entry.message.routing_key,
                        message_id=entry.message.id)
        for seq, error in failed.items():
            entry = by_seq[seq]
            if entry.state == "pending":
                entry.lease_until, entry.last_error = None, error
        for seq, reason in parked.items():
            entry = by_seq[seq]
            if entry.state != "pending":
                continue
            entry.state, entry.last_error = "parked", reason
            entry.lease_owner, entry.lease_until = None, None
            self._event(entry.message.conversation_id, now, "parked", reason=reason,
                        message_id=entry.message.id)
            conversation = self.conversations.get(entry.message.conversation_id)
            if conversation is not None:
                conversation.update(status="parked", updated_at=now)

    # --- Conversations -------------------------------------------------------------------------

    def conversation(self, conversation_id: str) -> dict[str, Any] | None:
        conversation = self.conversations.get(conversation_id)
        if conversation is None:
            return None
        return {**conversation, "history": [dict(e) for e in conversation["history"]]}

    def notifications(self, conversation_id: str) -> list[Notification]:
        return sorted((n for n in self.stored_notifications.values()
                       if n.conversation_id == conversation_id), key=lambda n: n.seq)

    def conversation_view(self, conversation_id: str
                          ) -> tuple[dict[str, Any] | None, list[Notification]]:
        return self.conversation(conversation_id), self.notifications(conversation_id)

    # --- EventStore ----------------------------------------------------------------------------

    async def apply_once(self, consumer: str, message_id: str, event_type: str,
                         work: Callable[[Any], Any]) -> tuple[Any, bool]:
        self.event_calls.append((consumer, message_id, event_type))
        if self.unavailable:
            raise ServiceUnavailable("the journal is unavailable (fake)")
        await asyncio.sleep(0)
        if (consumer, message_id) in self.processed:
            return None, False
        tx = FakeTransaction(self)
        result = work(tx)                      # raises: nothing of it is kept
        tx.commit()
        self.processed.add((consumer, message_id))
        return result, True

    async def transaction(self, work: Callable[[Any], Any]) -> Any:
        """``gateway.ports.Transactions``: ``work`` in a transaction of its own."""
        if self.unavailable:
            raise ServiceUnavailable("the journal is unavailable (fake)")
        await asyncio.sleep(0)
        tx = FakeTransaction(self)
        result = work(tx)                      # raises: nothing of it is kept
        tx.commit()
        return result

    def flow(self, name: str) -> Any:
        """A fake flow store's read-only side (outside a transaction)."""
        return self.flows[name].reader()

    # --- PushQueue -----------------------------------------------------------------------------

    async def claim_due(self, owner: str, limit: int, lease_seconds: float, *,
                        per_partner: int = 4, busy: frozenset[str] = frozenset()
                        ) -> list[PushJob]:
        now = self.clock()
        by_id = {n.id: n for n in self.stored_notifications.values()}
        due = sorted(((nid, p) for nid, p in self.push_states.items()
                      if p.state == "pending" and p.next_at is not None and p.next_at <= now
                      and (p.lease_until is None or p.lease_until < now)),
                     key=lambda item: item[1].next_at or 0.0)
        jobs: list[PushJob] = []
        per: dict[str, int] = {}
        for notification_id, push in due:
            partner = by_id[notification_id].partner_id
            if len(jobs) >= limit or partner in busy or per.get(partner, 0) >= per_partner:
                continue
            per[partner] = per.get(partner, 0) + 1
            push.lease_owner, push.lease_until = owner, now + lease_seconds
            jobs.append(PushJob(by_id[notification_id], push.callback_url or "", push.attempts))
        return jobs

    async def push_result(self, notification_id: str, *, delivered: bool, error: str | None,
                          retry_at: float | None) -> None:
        self.push_results.append({"notification_id": notification_id, "delivered": delivered,
                                  "error": error, "retry_at": retry_at})
        push = self.push_states[notification_id]
        if push.state != "pending":            # a late result for a settled push changes nothing
            return
        if delivered:
            push.state, push.next_at = "delivered", None
        elif retry_at is None:
            push.state, push.next_at = "failed", None
        else:
            push.state, push.next_at = "pending", float(retry_at)
        push.attempts += 1
        push.last_error, push.lease_owner, push.lease_until = error, None, None
        if push.state in ("delivered", "failed"):
            notification = next(n for n in self.stored_notifications.values()
                                if n.id == notification_id)
            self._event(notification.conversation_id, utc_now_iso(), f"push.{push.state}",
                        notification_id=notification_id, seq=notification.seq,
                        attempts=push.attempts, error=error)

    # --- helpers -------------------------------------------------------------------------------

    def _event(self, conversation_id: str, at: str, kind: str, **detail: Any) -> None:
        conversation = self.conversations.get(conversation_id)
        if conversation is not None:
            conversation["history"].append({"at": at, "event": kind, **detail})


class FakeTransaction:
    """``JournalTransaction`` over a FakeJournal: writes are kept only if the work succeeds."""

    def __init__(self, journal: FakeJournal, flows: dict[str, Any] | None = None) -> None:
        self.journal = journal
        self.flows = flows if flows is not None else journal.flows
        self._writes: list[Callable[[], None]] = []
        self._seqs: dict[str, int] = {}
        self._sources: set[str] = set()
        self.batches: list[int] = []          # the size of each add_notifications batch

    def conversation(self, conversation_id: str) -> dict[str, Any] | None:
        return self.journal.conversation(conversation_id)

    def add_notification(self, n: Notification, callback_url: str | None) -> int | None:
        journal = self.journal
        if n.source_id in journal.stored_notifications or n.source_id in self._sources:
            return None
        self._sources.add(n.source_id)
        last = self._seqs.get(n.conversation_id) or max(
            (x.seq for x in journal.stored_notifications.values()
             if x.conversation_id == n.conversation_id), default=0)
        seq = self._seqs[n.conversation_id] = last + 1

        def write() -> None:
            journal.stored_notifications[n.source_id] = dataclasses.replace(
                n, seq=seq, push=bool(callback_url))
            journal.push_states[n.id] = FakePushState(
                callback_url=callback_url, state="pending" if callback_url else "none",
                next_at=journal.clock() if callback_url else None)
            journal._event(n.conversation_id, n.created_at, f"notification.{n.kind}",
                           notification_id=n.id, seq=seq, **n.summary)
        self._writes.append(write)
        return seq

    def add_notifications(self, notifications: Sequence[tuple[Notification, str | None]]
                          ) -> list[int | None]:
        self.batches.append(len(notifications))
        return [self.add_notification(n, callback_url) for n, callback_url in notifications]

    def update_conversation(self, conversation_id: str, *, status: str, at: str,
                            customs_reference: str | None = None) -> None:
        def write() -> None:
            conversation = self.journal.conversations.get(conversation_id)
            if conversation is not None:
                conversation["status"], conversation["updated_at"] = status, at
                if customs_reference:
                    conversation["customs_reference"] = customs_reference
        self._writes.append(write)

    def add_history(self, conversation_id: str, at: str, kind: str,
                    detail: dict[str, Any]) -> None:
        self._writes.append(lambda: self.journal._event(conversation_id, at, kind, **detail))

    def add_outbox(self, messages: Any) -> None:
        def write() -> None:
            for outbound in messages:
                self.journal.outbox.append(
                    FakeOutboxEntry(seq=len(self.journal.outbox) + 1, message=outbound))
        self._writes.append(write)

    def flow(self, name: str) -> Any:
        return self.flows[name].bind(self)

    def later(self, write: Callable[[], None]) -> None:
        """For fake flow stores: a write kept only when the transaction commits."""
        self._writes.append(write)

    def commit(self) -> None:
        for write in self._writes:
            write()
