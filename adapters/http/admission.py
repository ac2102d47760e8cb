"""Admission control: how many submissions one process works on at once.

The intake is CPU-bound; past a point, more concurrent requests only lengthen every request
(and every turn of the event loop, which the outbox relay shares). Beyond ``limit`` requests in
flight the gateway answers ``429 Too Many Requests`` with ``Retry-After`` at once — a signed
rejection, nothing stored — so that partners back off (as their client guidance asks) instead
of piling up.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from gateway.errors import TooBusy


class Admission:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0           # one event loop per process: no lock needed

    @contextmanager
    def slot(self) -> Iterator[None]:
        if self.in_flight >= self.limit:
            raise TooBusy(f"the gateway is processing {self.in_flight} submissions; "
                          "retry after the time in Retry-After")
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1
