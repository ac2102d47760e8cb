"""Events from internal systems: one design for every flow.

Clearance decisions, duty assessments, payment results, reservation answers, movement events
all arrive on RabbitMQ and go through the same steps::

    event type -> its route (config/events.toml: signer, handlers)
      -> verify the detached signature with the signer's key          (SignatureInvalid)
      -> each handler prepares outside any transaction: decode, look up, sign documents
      -> one transaction: mark (consumer, message id) processed + every handler's writes
         (journal rows and the flow's own state) — or nothing, if it was processed before

A redelivered or republished event (publishing is at least once) is applied once, also after
a restart: the mark is in the journal, in the same transaction as the work. Whether a failure
is worth retrying is the error's own ``retryable``: a bad signature, an unknown event type, an
unintelligible body or an unknown conversation is parked by the consumer; a journal that cannot
be written is retried.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from gateway import metrics as m
from gateway.errors import ConfigurationError, GatewayError
from gateway.metrics import Metrics
from gateway.ports import Conversations, EventStore, JournalTransaction
from gateway.signing.detached import verify_body
from gateway.signing.keys import TrustStore

log = structlog.get_logger("gateway.events")


class UnknownEvent(GatewayError):
    code = "GW-EVENT-UNKNOWN"


class InvalidEvent(GatewayError):
    code = "GW-EVENT-INVALID"


@dataclass(frozen=True)
class Event:
    """One message from an internal system, as it came off the bus."""

    message_id: str
    event_type: str
    body: bytes
    headers: Mapping[str, Any] = field(default_factory=dict)
    conversation_id: str | None = None


class EventHandler(Protocol):
    """Turns one kind of event into per-flow state and signed notifications."""

    name: str

    def prepare(self, event: Event, reads: Conversations) -> Any:
        """Decode and get ready outside any transaction (look-ups, signing); ``None`` if this
        event is not for this handler. Raise ``InvalidEvent`` (or another non-retryable
        ``GatewayError``) for an event that can never be applied."""
        ...

    def apply(self, prepared: Any, tx: JournalTransaction) -> dict[str, Any]:
        """Write inside the transaction; a summary for the log line."""
        ...


@dataclass(frozen=True)
class EventRoute:
    """What ``config/events.toml`` says about one event type."""

    event_type: str
    signer: str                      # partner whose key must have signed the body
    handlers: tuple[str, ...]


@dataclass(frozen=True)
class EventResult:
    applied: bool                    # False: processed before (a redelivery), nothing done
    summaries: tuple[dict[str, Any], ...] = ()


class EventService:
    def __init__(self, consumer: str, routes: Iterable[EventRoute],
                 handlers: Iterable[EventHandler], *, trust: TrustStore, store: EventStore,
                 reads: Conversations, metrics: Metrics) -> None:
        self.consumer = consumer
        self._handlers = {h.name: h for h in handlers}
        self._routes = {r.event_type: r for r in routes}
        for route in self._routes.values():
            missing = [name for name in route.handlers if name not in self._handlers]
            if missing:
                raise ConfigurationError(f"event {route.event_type!r}: unknown handler(s) "
                                         f"{', '.join(missing)}")
        self._trust, self._store, self._reads, self._metrics = trust, store, reads, metrics

    @property
    def event_types(self) -> tuple[str, ...]:
        return tuple(self._routes)

    async def handle(self, event: Event) -> EventResult:
        route = self._routes.get(event.event_type)
        if route is None:
            raise UnknownEvent(f"no route for event type {event.event_type!r} on consumer "
                               f"{self.consumer!r}")
        verify_body(self._trust, event.body, event.headers, owner=route.signer)
        handlers = [self._handlers[name] for name in route.handlers]
        prepared = [(h, p) for h in handlers if (p := h.prepare(event, self._reads)) is not None]

        def work(tx: JournalTransaction) -> tuple[dict[str, Any], ...]:
            return tuple(h.apply(p, tx) for h, p in prepared)

        summaries, applied = await self._store.apply_once(
            self.consumer, event.message_id, event.event_type, work)
        self._metrics.count(m.EVENTS, event_type=event.event_type,
                            outcome="applied" if applied else "duplicate")
        # one line per handler's outcome, each with the event's ids (and the handler's:
        # a decision id, a notification id …); one line when nothing was applied
        context = {"event_type": event.event_type, "message_id": event.message_id,
                   "conversation_id": event.conversation_id}
        if not applied:
            log.info("event.duplicate", **context)
        for (handler, _), summary in zip(prepared, summaries or (), strict=False):
            log.info("event.applied", handler=handler.name, **{**summary, **context})
        return EventResult(applied, summaries or ())
