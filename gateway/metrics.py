"""The metrics port: counters and a latency histogram, named once here.

The Prometheus adapter (``adapters/observability.py``) implements it; unit tests use
``RecordingMetrics``.
"""

from __future__ import annotations

from typing import Protocol

RECEIVED = "gateway_messages_received_total"
ACCEPTED = "gateway_messages_accepted_total"
REJECTED = "gateway_messages_rejected_total"
DUPLICATES = "gateway_messages_duplicate_total"
PUBLISHED = "gateway_messages_published_total"
PARKED = "gateway_messages_parked_total"
DECISIONS = "gateway_decisions_applied_total"
EVENTS = "gateway_events_total"
PUSHES = "gateway_notifications_pushed_total"
LINKED = "gateway_link_messages_total"
LATENCY = "gateway_intake_seconds"

COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    RECEIVED: ("Messages received, by channel", ("channel",)),
    ACCEPTED: ("Messages accepted (journaled, receipt sent)", ("message_type",)),
    REJECTED: ("Messages rejected, by message type and error code", ("message_type", "code")),
    DUPLICATES: ("Repeats answered with the original receipt", ("message_type",)),
    PUBLISHED: ("Outbox messages published with a broker confirm",
                ("kind", "message_type")),
    PARKED: ("Messages parked for an operator, by reason", ("reason",)),
    DECISIONS: ("Clearance decisions turned into notifications", ("kind",)),
    EVENTS: ("Events from internal systems, by type and outcome", ("event_type", "outcome")),
    PUSHES: ("Notification push attempts, by outcome", ("outcome",)),
    LINKED: ("Messages the customs link moved to another administration, by outcome",
             ("peer", "outcome")),
}
HISTOGRAMS: dict[str, tuple[str, tuple[str, ...]]] = {
    LATENCY: ("Intake latency from first byte parsed to answer, seconds", ("channel", "outcome")),
}


class Metrics(Protocol):
    def count(self, name: str, amount: float = 1, **labels: str) -> None: ...

    def observe(self, name: str, value: float, **labels: str) -> None: ...


class RecordingMetrics:
    """In-memory metrics for unit tests."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self.observations: list[tuple[str, float, dict[str, str]]] = []

    def count(self, name: str, amount: float = 1, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        self.counts[key] = self.counts.get(key, 0) + amount

    def observe(self, name: str, value: float, **labels: str) -> None:
        self.observations.append((name, value, labels))

    def total(self, name: str, **labels: str) -> float:
        return sum(v for (n, lab), v in self.counts.items()
                   if n == name and all(dict(lab).get(k) == x for k, x in labels.items()))
