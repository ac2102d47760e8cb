"""Logs (structlog, JSON lines) and metrics (Prometheus) for the running gateway.

Every log line of a message's life carries its ``conversation_id`` and ``message_id``
(bound in context variables by the intake and passed explicitly elsewhere); payloads,
tokens and keys are never logged.

Every line on stdout is one whole JSON object (``adapters/log_lines.py``): the gateway's own
structlog lines, the standard ``logging`` of the libraries (uvicorn, aiormq, aio-pika, httpx,
asyncio, zeep, pika …), ``warnings``, uncaught exceptions of the main thread and of other
threads, "exception ignored" reports, and (``capture_stderr``) anything else written to
``sys.stderr``. Exceptions are rendered inside the object (``exception``: the traceback, once
per site; ``exception_site``). Identical lines from one untrusted source are rate-limited
(``adapters/log_limits.py``).
"""

from __future__ import annotations

import atexit
import contextlib
import io
import logging
import os
import sys
import threading
import warnings
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess

from adapters.log_limits import RepeatLimiter, TracebackOncePerSite
from adapters.log_lines import JsonLinesLogger, LineWriter, render_lines
from gateway.metrics import COUNTERS, HISTOGRAMS
from gateway.settings import Settings

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_QUIET_LIBRARIES = ("aiormq", "aio_pika", "httpx", "httpcore", "zeep", "pika", "urllib3")
_ROUTED_TO_ROOT = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
REPEAT_LIMIT = 10            # identical lines from one untrusted source …
REPEAT_INTERVAL = 60.0       # … per this many seconds (then one log.suppressed line)

Processor = Any


class LogPipeline:
    """The processors every record goes through, whichever API logged it, and the output."""

    def __init__(self, writer: LineWriter, *, repeat_limit: int = REPEAT_LIMIT,
                 repeat_interval: float = REPEAT_INTERVAL) -> None:
        self.writer = writer
        self._stamp = structlog.processors.TimeStamper(fmt="iso", utc=True)
        self.limiter = RepeatLimiter(self._write_summary, limit=repeat_limit,
                                     interval=repeat_interval)
        self.processors: list[Processor] = [
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            _add_logger_name,
            self._stamp,
            _add_pid,
            self.limiter,
            TracebackOncePerSite(),
            structlog.processors.format_exc_info,
            _render,
        ]

    def process(self, method: str, event: MutableMapping[str, Any]) -> None:
        """Run one record (not from structlog) through the processors and write it."""
        try:
            for processor in self.processors:
                event = processor(None, method, event)
        except structlog.DropEvent:
            return
        self.writer.write(event)  # type: ignore[arg-type]  # the renderer returned the text

    def _write_summary(self, summary: dict[str, Any]) -> None:
        self.writer.write(_render(None, "warning", _add_pid(None, "warning",
                                                            self._stamp(None, "", summary))))


class StdlibToJsonLines(logging.Handler):
    """A ``logging`` handler that writes records as the same JSON lines as structlog's."""

    def __init__(self, pipeline: LogPipeline) -> None:
        super().__init__()
        self.pipeline = pipeline

    def emit(self, record: logging.LogRecord) -> None:
        try:
            try:
                message = record.getMessage()
            except Exception:  # noqa: BLE001 - a library's bad format arguments
                message = str(record.msg)
            event: dict[str, Any] = {"event": message.strip(), "logger": record.name}
            if record.exc_info:
                event["exc_info"] = record.exc_info
            if record.stack_info:
                event["stack"] = record.stack_info
            self.pipeline.process(record.levelname.lower(), event)
        except Exception:  # noqa: BLE001, S110 - logging must never raise, nor print
            pass


_state: dict[str, Any] = {}


def configure_logging(level: str = "info", *, capture_stderr: bool = False,
                      fd: int = 1) -> logging.Handler:
    """JSON lines on ``fd`` for structlog, ``logging``, ``warnings`` and uncaught exceptions.

    Idempotent: called again with the same level (uvicorn's ``log_config`` in each worker,
    then the app factory) it keeps the pipeline and its rate-limit counts.
    """
    numeric = getattr(logging, level.upper(), logging.INFO)
    if _state.get("key") != (numeric, fd):
        pipeline = LogPipeline(LineWriter(fd))
        structlog.configure(
            processors=pipeline.processors,
            wrapper_class=structlog.make_filtering_bound_logger(numeric),
            logger_factory=lambda *args: JsonLinesLogger(args[0] if args else None,
                                                         pipeline.writer),
            cache_logger_on_first_use=True,
        )
        _state.update(key=(numeric, fd), pipeline=pipeline,
                      handler=StdlibToJsonLines(pipeline))
        if not _state.get("atexit"):
            atexit.register(flush_log_summaries)
            _state["atexit"] = True
    handler: logging.Handler = _state["handler"]
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    for name in _QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
    for name in _ROUTED_TO_ROOT:     # uvicorn's own text handlers, if it installed them
        library = logging.getLogger(name)
        if library.handlers:
            library.handlers[:] = []
            library.propagate = True
    _install_hooks()
    if capture_stderr and not isinstance(sys.stderr, StderrLines):
        sys.stderr = StderrLines(sys.stderr)
    return handler


def json_lines_handler(level_name: str = "info", capture_stderr: bool = True
                       ) -> logging.Handler:
    """Factory for ``logging.config.dictConfig`` (uvicorn's ``log_config``, in every worker)."""
    return configure_logging(level_name, capture_stderr=capture_stderr)


def level_name(level: str) -> str:
    """``level`` as a name logging and uvicorn both know (``info`` when it is not one)."""
    name = level.strip().lower()
    return name if name in ("critical", "error", "warning", "info", "debug") else "info"


def uvicorn_log_config(level: str) -> dict[str, Any]:
    """A ``log_config`` for ``uvicorn.run`` that hands uvicorn's loggers to ours.

    uvicorn applies it in the supervisor and again in each worker process it spawns, before
    the app is imported: the workers' own start-up lines are JSON lines too.
    """
    level = level_name(level)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"json_lines": {"()": "adapters.observability.json_lines_handler",
                                    "level": "NOTSET", "level_name": level}},
        "root": {"handlers": ["json_lines"], "level": level.upper()},
        "loggers": {name: {"handlers": [], "propagate": True} for name in _ROUTED_TO_ROOT},
    }


def flush_log_summaries() -> None:
    """Write the pending ``log.suppressed`` counts (at shutdown; also registered atexit)."""
    pipeline = _state.get("pipeline")
    if pipeline is not None:
        pipeline.limiter.flush()


class StderrLines(io.TextIOBase):
    """``sys.stderr`` replaced: each line written to it becomes a ``python.stderr`` record.

    What writes to ``sys.stderr`` directly (``multiprocessing`` reporting a crashed child, a
    library's ``print(..., file=sys.stderr)``) comes out as JSON lines too. The file
    descriptor stays the original one (``faulthandler`` writes there).
    """

    _LIMIT = 65536

    def __init__(self, original: Any) -> None:
        super().__init__()
        self._original = original
        self._pending = ""
        self._busy = threading.local()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return int(self._original.fileno())

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        if len(self._pending) > self._LIMIT:
            lines.append(self._pending)
            self._pending = ""
        for line in lines:
            self._emit(line)
        return len(text)

    def flush(self) -> None:
        line, self._pending = self._pending, ""
        self._emit(line)

    def _emit(self, line: str) -> None:
        if not line.strip() or getattr(self._busy, "on", False):
            return
        self._busy.on = True
        try:
            structlog.get_logger("python.stderr").warning("python.stderr", text=line.rstrip())
        finally:
            self._busy.on = False


def _install_hooks() -> None:
    sys.excepthook = _uncaught
    threading.excepthook = _thread_uncaught
    sys.unraisablehook = _unraisable
    warnings.showwarning = _show_warning


def _uncaught(kind: type[BaseException], error: BaseException, traceback: Any) -> None:
    structlog.get_logger("python").critical("python.uncaught_exception",
                                            exc_info=(kind, error, traceback))


def _thread_uncaught(args: Any) -> None:
    if args.exc_type is SystemExit:
        return
    structlog.get_logger("python").error(
        "python.thread_exception", thread=getattr(args.thread, "name", None),
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback))


def _unraisable(unraisable: Any) -> None:
    structlog.get_logger("python").error(
        "python.unraisable", message=unraisable.err_msg or "Exception ignored",
        object=repr(unraisable.object)[:200],
        exc_info=(unraisable.exc_type, unraisable.exc_value, unraisable.exc_traceback)
        if unraisable.exc_value is not None else None)


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    structlog.get_logger("py.warnings").warning(
        "python.warning", category=category.__name__, message=str(message)[:1000],
        filename=filename, lineno=lineno)


def _add_logger_name(logger: Any, method: str, event: MutableMapping[str, Any]
                     ) -> MutableMapping[str, Any]:
    if "logger" not in event:
        name = getattr(logger, "name", None)
        if name:
            event["logger"] = name
    return event


def _add_pid(logger: Any, method: str, event: MutableMapping[str, Any]
             ) -> MutableMapping[str, Any]:
    event["pid"] = os.getpid()
    return event


def _render(logger: Any, method: str, event: MutableMapping[str, Any]) -> str:
    return "\n".join(render_lines(event))


def metrics_dir(settings: Settings) -> Path:
    """The directory where the processes of this instance write their Prometheus files.

    One per instance (``var/prometheus/<instance id>/``): instances sharing a var directory
    each aggregate their own processes only, and one's restart leaves the others' counters.
    """
    return settings.var_dir / "prometheus" / settings.instance_id


def fresh_metrics_dir(settings: Settings) -> Path:
    """This instance's metrics directory, created, without files an earlier start left."""
    directory = metrics_dir(settings)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink(missing_ok=True)
    return directory


def remove_metrics_dir(settings: Settings) -> None:
    """Remove this instance's metrics directory (at its stop); other instances' stay."""
    directory = metrics_dir(settings)
    for path in directory.glob("*.db"):
        path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        directory.rmdir()


class PrometheusMetrics:
    """The ``gateway.metrics.Metrics`` port on prometheus_client.

    With several worker processes (``PROMETHEUS_MULTIPROC_DIR`` set: this instance's
    ``metrics_dir``) each process writes its own files and ``/metrics`` aggregates them.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._counters = {name: Counter(name.removesuffix("_total"), doc, labels,
                                        registry=self.registry)
                          for name, (doc, labels) in COUNTERS.items()}
        self._histograms = {name: Histogram(name, doc, labels, buckets=_LATENCY_BUCKETS,
                                            registry=self.registry)
                            for name, (doc, labels) in HISTOGRAMS.items()}

    def count(self, name: str, amount: float = 1, **labels: str) -> None:
        self._counters[name].labels(**labels).inc(amount)

    def observe(self, name: str, value: float, **labels: str) -> None:
        self._histograms[name].labels(**labels).observe(value)

    def exposition(self) -> bytes:
        directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if directory and Path(directory).is_dir():
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)
