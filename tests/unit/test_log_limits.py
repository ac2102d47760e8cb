"""The repeat limiter and the traceback-once processor (fake clock, no I/O)."""

from __future__ import annotations

from typing import Any

import pytest
import structlog

from adapters.log_limits import RepeatLimiter, TracebackOncePerSite, flood_key


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limiter(clock: Clock, limit: int = 3, interval: float = 10.0,
            **kwargs: Any) -> tuple[RepeatLimiter, list[dict[str, Any]]]:
    summaries: list[dict[str, Any]] = []
    return RepeatLimiter(summaries.append, limit=limit, interval=interval, clock=clock,
                         **kwargs), summaries


def passes(limit: RepeatLimiter, event: dict[str, Any]) -> bool:
    try:
        limit(None, "info", dict(event))
    except structlog.DropEvent:
        return False
    return True


DISCONNECT = {"event": "http.client_disconnected", "peer": "203.0.113.9", "logger": "gateway.http"}


def test_repeat_limiter_lets_limit_through_then_reports_the_suppressed_count() -> None:
    """Ten identical lines from one peer in an interval: three pass; after the interval the
    next line passes and one summary reports the seven suppressed."""
    clock = Clock()
    limit, summaries = limiter(clock)
    assert [passes(limit, {**DISCONNECT, "bytes_read": i}) for i in range(10)] == \
        [True] * 3 + [False] * 7
    assert summaries == []
    clock.now += 10.5
    assert passes(limit, DISCONNECT)
    assert len(summaries) == 1
    summary = summaries[0]
    assert summary["event"] == "log.suppressed" and summary["suppressed"] == 7
    assert summary["suppressed_event"] == "http.client_disconnected"
    assert summary["suppressed_peer"] == "203.0.113.9" and summary["level"] == "warning"


def test_repeat_limiter_reports_a_source_that_went_quiet_with_any_later_line() -> None:
    """The summary of a flood that stopped comes with the next line logged after the
    interval, whatever that line is about."""
    clock = Clock()
    limit, summaries = limiter(clock)
    for _ in range(5):
        passes(limit, DISCONNECT)
    clock.now += 11
    assert passes(limit, {"event": "relay.connected", "logger": "gateway.relay"})
    assert [s["suppressed"] for s in summaries] == [2]


def test_repeat_limiter_keeps_peers_and_codes_apart() -> None:
    """Each peer, and each rejection code of a peer, has its own allowance."""
    clock = Clock()
    limit, _ = limiter(clock, limit=2)
    other = {**DISCONNECT, "peer": "198.51.100.1"}
    assert [passes(limit, DISCONNECT) for _ in range(3)] == [True, True, False]
    assert [passes(limit, other) for _ in range(3)] == [True, True, False]
    rejected = {"event": "message.rejected", "peer": "198.51.100.1", "code": "GW-AUTH"}
    assert [passes(limit, rejected) for _ in range(3)] == [True, True, False]
    assert passes(limit, {**rejected, "code": "GW-XML-MALFORMED"})


def test_repeat_limiter_never_limits_a_partners_or_the_gateways_own_lines() -> None:
    """Lines of an authenticated partner and the gateway's own lines (one per message or
    decision) all pass, however many."""
    clock = Clock()
    limit, summaries = limiter(clock, limit=1)
    accepted = {"event": "message.accepted", "peer": "203.0.113.9", "partner": "broker-alpha"}
    applied = {"event": "decision.applied", "logger": "gateway.decision_notifications"}
    assert all(passes(limit, accepted) for _ in range(50))
    assert all(passes(limit, applied) for _ in range(50))
    assert summaries == []


def test_repeat_limiter_limits_identical_library_lines() -> None:
    """A library repeating the same line is limited; a different line of it is not."""
    clock = Clock()
    limit, _ = limiter(clock, limit=2)
    invalid = {"event": "Invalid HTTP request received.", "logger": "uvicorn.error",
               "level": "warning", "timestamp": "t", "pid": 1}
    assert [passes(limit, {**invalid, "timestamp": f"t{i}"}) for i in range(4)] == \
        [True, True, False, False]
    assert passes(limit, {**invalid, "event": "Shutting down"})


def test_repeat_limiter_flush_reports_pending_counts() -> None:
    """At shutdown every pending count is written, even inside the interval."""
    clock = Clock()
    limit, summaries = limiter(clock, limit=1)
    for _ in range(4):
        passes(limit, DISCONNECT)
    limit.flush()
    assert [s["suppressed"] for s in summaries] == [3]
    limit.flush()
    assert len(summaries) == 1


def test_repeat_limiter_memory_is_bounded_whatever_the_number_of_peers() -> None:
    """Past max_sources, new peers share one window: a million addresses cannot grow it."""
    clock = Clock()
    limit, _ = limiter(clock, limit=5, max_sources=10)
    passed = sum(passes(limit, {**DISCONNECT, "peer": f"10.0.{i // 256}.{i % 256}"})
                 for i in range(1000))
    assert len(limit._windows) <= 11
    assert passed <= 10 * 5 + 5


def test_flood_key_uses_event_peer_and_code_only_for_client_lines() -> None:
    """What the client controls (path, bytes, ids) cannot make its lines look different."""
    one = flood_key({**DISCONNECT, "path": "/a", "bytes_read": 1, "message_id": "x"})
    two = flood_key({**DISCONNECT, "path": "/b" * 50, "bytes_read": 9, "message_id": "y"})
    assert one == two is not None


def _raise(message: str) -> None:
    raise ValueError(message)


def _logged(processor: TracebackOncePerSite, message: str) -> dict[str, Any]:
    try:
        _raise(message)
    except ValueError as exc:
        return dict(processor(None, "error", {"event": "x", "exc_info": exc}))
    raise AssertionError("unreachable")


def test_traceback_once_per_site_keeps_the_first_and_shortens_the_repeats() -> None:
    """The first exception of a site keeps its exc_info; later ones get type and message."""
    processor = TracebackOncePerSite()
    first = _logged(processor, "first")
    second = _logged(processor, "second " + "z" * 500)
    assert isinstance(first["exc_info"], tuple) and "exception" not in first
    assert "exc_info" not in second
    assert second["exception"].startswith("ValueError: second zzz") and len(
        second["exception"]) < 240
    assert first["exception_site"] == second["exception_site"]
    assert "test_log_limits.py" in first["exception_site"]


@pytest.mark.parametrize("exc_info", [None, False])
def test_traceback_once_per_site_ignores_records_without_exception(exc_info: Any) -> None:
    """A record without an exception passes unchanged (minus an empty exc_info)."""
    assert TracebackOncePerSite()(None, "info", {"event": "x", "exc_info": exc_info}) == {
        "event": "x"}
