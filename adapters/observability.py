"""Logs (structlog, JSON lines) and metrics (Prometheus) for the running gateway.

Every log line of a message's life carries its ``conversation_id`` and ``message_id``
(bound in context variables by the intake and passed explicitly elsewhere); payloads,
tokens and keys are never logged.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess

from gateway.metrics import COUNTERS, HISTOGRAMS

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def configure_logging(level: str = "info") -> None:
    numeric = getattr(logging, level.upper(), logging.INFO)
    logging.basicConfig(stream=sys.stdout, level=numeric, format="%(message)s")
    for noisy in ("aiormq", "aio_pika", "httpx", "httpcore", "zeep", "pika", "urllib3"):
        logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(sort_keys=True),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=True,
    )


class PrometheusMetrics:
    """The ``gateway.metrics.Metrics`` port on prometheus_client.

    With several worker processes (``PROMETHEUS_MULTIPROC_DIR`` set) each process writes its
    own files and ``/metrics`` aggregates them.
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
