"""Processors that keep untrusted input from flooding the log.

* ``RepeatLimiter``: at most ``limit`` identical lines from one source per ``interval``
  seconds; the rest are counted, and one ``log.suppressed`` line reports the count when the
  interval is over (with the next line logged after it, or at ``flush``: shutdown).
* ``TracebackOncePerSite``: a traceback is rendered the first time an exception type is
  raised at a given place; later ones log the type and a short message only, with the same
  ``exception_site`` so the first traceback can be found.

What counts as "identical from one source" (``flood_key``):

* a line about a network client that has not authenticated (it carries ``peer`` and no
  ``partner``): its ``event``, ``peer`` and ``code`` — everything else is the client's to vary;
* a line from a library (logger outside ``gateway``/``standin``/``adapters``): the whole line
  but its timestamp;
* anything else (a partner's message accepted, a decision applied, a push) is never limited:
  each line is about one message and the work behind it bounds their number.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Hashable, MutableMapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import structlog

OWN_LOGGERS = ("gateway", "standin", "adapters")
_VOLATILE = ("timestamp", "pid")
_SHORT = 200


def flood_key(event: MutableMapping[str, Any]) -> Hashable | None:
    """What makes two lines "the same" for the limiter; ``None``: never limit this line."""
    if "partner" in event:
        return None
    if "peer" in event:
        return ("peer", event.get("event"), str(event["peer"]), str(event.get("code", "")))
    logger = str(event.get("logger") or "")
    if logger.startswith(OWN_LOGGERS):
        return None
    return ("library", *sorted((k, str(v)) for k, v in event.items() if k not in _VOLATILE))


@dataclass
class _Window:
    started: float
    fields: dict[str, Any]
    passed: int = 0
    suppressed: int = 0


@dataclass
class RepeatLimiter:
    """structlog processor: drops repeats beyond ``limit`` per ``interval`` and reports them.

    ``emit`` receives each ``log.suppressed`` summary (an event dict) and writes it past the
    limiter. ``clock`` is injectable for tests; at most ``max_sources`` windows are kept (past
    that, new sources share one window, so memory stays bounded whatever the peers).
    """

    emit: Callable[[dict[str, Any]], None]
    limit: int = 10
    interval: float = 60.0
    clock: Callable[[], float] = time.monotonic
    max_sources: int = 4096
    _windows: dict[Hashable, _Window] = field(default_factory=dict, init=False)
    _swept: float = field(default=float("-inf"), init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __call__(self, logger: Any, method: str, event: MutableMapping[str, Any]
                 ) -> MutableMapping[str, Any]:
        key = flood_key(event)
        now = self.clock()
        with self._lock:
            due = self._sweep(now) if now - self._swept >= min(1.0, self.interval) else []
            passed = key is None or self._count(key, event, now, due)
        for summary in due:
            self.emit(summary)
        if not passed:
            raise structlog.DropEvent
        return event

    def flush(self) -> None:
        """Report every suppressed count now (at shutdown)."""
        with self._lock:
            due = [self._summary(w) for w in self._windows.values() if w.suppressed]
            self._windows.clear()
        for summary in due:
            self.emit(summary)

    def _count(self, key: Hashable, event: MutableMapping[str, Any], now: float,
               due: list[dict[str, Any]]) -> bool:
        window = self._windows.get(key)
        if window is not None and now - window.started >= self.interval:
            if window.suppressed:
                due.append(self._summary(window))
            del self._windows[key]
            window = None
        if window is None:
            if len(self._windows) >= self.max_sources:
                key = ("overflow",)
                window = self._windows.get(key)
            if window is None:
                window = self._windows[key] = _Window(now, _identity(event, key))
        if window.passed < self.limit:
            window.passed += 1
            return True
        window.suppressed += 1
        return False

    def _sweep(self, now: float) -> list[dict[str, Any]]:
        self._swept = now
        expired = [k for k, w in self._windows.items() if now - w.started >= self.interval]
        due = [self._summary(self._windows[k]) for k in expired if self._windows[k].suppressed]
        for k in expired:
            del self._windows[k]
        return due

    def _summary(self, window: _Window) -> dict[str, Any]:
        return {"event": "log.suppressed", "level": "warning", "logger": "gateway.logs",
                "suppressed": window.suppressed, "interval_seconds": self.interval,
                "limit": self.limit, **window.fields}


def _identity(event: MutableMapping[str, Any], key: Hashable) -> dict[str, Any]:
    if key == ("overflow",):
        return {"suppressed_event": "(many sources)"}
    fields = {"suppressed_event": str(event.get("event"))[:_SHORT]}
    for name in ("peer", "code", "logger"):
        if name in event:
            fields[f"suppressed_{name}"] = str(event[name])[:_SHORT]
    return fields


ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def exc_info_of(value: Any) -> ExcInfo | None:
    if isinstance(value, BaseException):
        return type(value), value, value.__traceback__
    if isinstance(value, tuple) and len(value) == 3 and value[0] is not None:
        return value  # type: ignore[return-value]
    if value is True:
        info = sys.exc_info()
        return info if info[0] is not None else None  # type: ignore[return-value]
    return None


@dataclass
class TracebackOncePerSite:
    """structlog processor: the traceback of an exception site is rendered once per process.

    The site is the exception type and the innermost frame it was raised in. Later records
    of the same site keep ``exception`` (type and the first 200 characters of the message) and
    ``exception_site`` but no traceback. At most ``max_sites`` sites are remembered; beyond
    them no more tracebacks are rendered.
    """

    max_sites: int = 1024
    _seen: set[str] = field(default_factory=set, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __call__(self, logger: Any, method: str, event: MutableMapping[str, Any]
                 ) -> MutableMapping[str, Any]:
        info = exc_info_of(event.get("exc_info"))
        if info is None:
            event.pop("exc_info", None)
            return event
        kind, error, traceback = info
        site = _site(kind, traceback)
        event["exception_site"] = site
        with self._lock:
            first = site not in self._seen and len(self._seen) < self.max_sites
            if first:
                self._seen.add(site)
        if first:
            event["exc_info"] = info
        else:
            event.pop("exc_info")
            event["exception"] = short_error(error)
        return event


def short_error(error: BaseException) -> str:
    """``Type: message`` on one line, the message cut to 200 characters."""
    text = " ".join(str(error).split())
    if len(text) > _SHORT:
        text = text[:_SHORT - 1] + "…"
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _site(kind: type[BaseException], traceback: TracebackType | None) -> str:
    where = "?"
    while traceback is not None:
        code = traceback.tb_frame.f_code
        where = f"{'/'.join(code.co_filename.rsplit('/', 2)[-2:])}:{traceback.tb_lineno}"
        traceback = traceback.tb_next
    return f"{kind.__module__}.{kind.__qualname__}@{where}"
