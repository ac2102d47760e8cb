"""Ports: what the core needs from the outside world, and the records that cross them.

Each port is small. The SQLite and PostgreSQL stores in ``adapters/store`` implement the
journal ports; ``adapters/amqp`` publishes the outbox; ``tests/fakes.py`` has in-memory
fakes for unit tests. Writes are ``async`` because real stores group-commit them (one
transaction and one fsync for a batch of requests); reads are plain calls.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

R = TypeVar("R")


@dataclass(frozen=True)
class OutboundMessage:
    """A message to publish on RabbitMQ, signed, stored in the outbox with its cause."""

    id: str
    conversation_id: str
    kind: str
    exchange: str
    routing_key: str
    body: bytes
    headers: dict[str, str]
    content_type: str = "application/json"


@dataclass(frozen=True)
class AcceptedMessage:
    """Everything stored, in one transaction, before a receipt goes back to the sender."""

    receipt_id: str
    conversation_id: str
    partner_id: str
    idempotency_key: str
    message_type: str
    channel: str
    received_at: str
    sha256: str                                # of ``body``: the bytes as received
    body: bytes
    canonical_json: bytes
    receipt_xml: bytes
    receipt: dict[str, Any]
    reference: str | None
    outbox: tuple[OutboundMessage, ...]
    status: str = "submitted"                  # conversation status: submitted | parked
    event_detail: dict[str, Any] = field(default_factory=dict)
    document_digest: str = ""                  # of the business document (exclusive C14N)


@dataclass(frozen=True)
class StoredReceipt:
    """The original answer to a message, returned verbatim to a repeat."""

    receipt_id: str
    conversation_id: str
    sha256: str
    receipt_xml: bytes
    receipt: dict[str, Any]
    document_digest: str | None = None


@dataclass(frozen=True)
class OutboxRow:
    seq: int
    message: OutboundMessage
    attempts: int
    # whose lease had run out when this claim took the row (None: nobody held it); another
    # owner's means a takeover — that owner may have published the row already
    previous_owner: str | None = None


@dataclass(frozen=True)
class Notification:
    """A signed notification for a partner, born from an event (a clearance decision, a
    matched payment …); ``source_id`` names that event, so that it is stored once."""

    id: str
    conversation_id: str
    partner_id: str
    kind: str
    created_at: str
    document: bytes
    source_id: str
    summary: dict[str, Any]
    push: bool
    seq: int = 0


@dataclass(frozen=True)
class PushJob:
    notification: Notification
    callback_url: str
    attempts: int


class JournalTransaction(Protocol):
    """The journal inside one transaction: what event handlers and intake effects read and
    write, together with their flow's own state (``flow(name)``), all committed or none."""

    def conversation(self, conversation_id: str) -> dict[str, Any] | None:
        """The conversation's row, held for the rest of the transaction."""
        ...

    def add_notification(self, notification: Notification, callback_url: str | None
                         ) -> int | None:
        """Store a notification (pushed to ``callback_url`` if given); its ``seq`` in the
        conversation, or ``None`` if a notification of the same source exists."""
        ...

    def add_notifications(self, notifications: Sequence[tuple[Notification, str | None]]
                          ) -> list[int | None]:
        """Store several (notification, callback URL) at once, as ``add_notification`` each in
        order: their seqs (``None`` for a source stored already, or twice in the list). Each
        conversation's seqs follow on without a gap; conversations are held in id order."""
        ...

    def update_conversation(self, conversation_id: str, *, status: str, at: str,
                            customs_reference: str | None = None) -> None: ...

    def add_history(self, conversation_id: str, at: str, kind: str,
                    detail: dict[str, Any]) -> None: ...

    def add_outbox(self, messages: Sequence[OutboundMessage]) -> None: ...

    def flow(self, name: str) -> Any:
        """A flow's own state port (payments, licences …) bound to this transaction."""
        ...


class MessageJournal(Protocol):
    def find(self, partner_id: str, idempotency_key: str) -> StoredReceipt | None: ...

    async def record(self, message: AcceptedMessage,
                     effect: Callable[[JournalTransaction], Any] | None = None
                     ) -> tuple[StoredReceipt, bool]:
        """Store atomically — with ``effect`` run in the same transaction when the message is
        new; ``(existing, False)`` if the key was taken meanwhile (``effect`` not run)."""
        ...


class EventStore(Protocol):
    async def apply_once(self, consumer: str, message_id: str, event_type: str,
                         work: Callable[[JournalTransaction], R]) -> tuple[R | None, bool]:
        """Run ``work`` in one transaction with the mark that ``consumer`` processed
        ``message_id``; ``(None, False)`` without running it if that mark exists already
        (a redelivered or republished event is applied once, also across restarts)."""
        ...


class Transactions(Protocol):
    async def transaction(self, work: Callable[[JournalTransaction], R]) -> R:
        """Run ``work`` in one transaction of its own (not tied to a message or an event:
        an operator's replay of a parked payment, say); all of it commits or none."""
        ...


class Outbox(Protocol):
    async def claim(self, owner: str, limit: int, lease_seconds: float) -> list[OutboxRow]: ...

    async def settle(self, sent: list[int], failed: dict[int, str],
                     parked: dict[int, str]) -> None: ...


class Conversations(Protocol):
    def conversation(self, conversation_id: str) -> dict[str, Any] | None: ...

    def notifications(self, conversation_id: str) -> list[Notification]: ...


class PushQueue(Protocol):
    async def claim_due(self, owner: str, limit: int, lease_seconds: float, *,
                        per_partner: int = 4, busy: frozenset[str] = frozenset()
                        ) -> list[PushJob]:
        """Due pushes, at most ``per_partner`` per partner and none for ``busy`` partners."""
        ...

    async def push_result(self, notification_id: str, *, delivered: bool, error: str | None,
                          retry_at: float | None) -> None: ...
