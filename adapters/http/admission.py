"""Admission control: how many submissions one process works on at once, and for one partner.

The intake is CPU-bound; past a point, more concurrent requests only lengthen every request
(and every turn of the event loop, which the outbox relay shares). Beyond ``limit`` requests in
flight the gateway answers ``429 Too Many Requests`` with ``Retry-After`` at once — a signed
rejection, nothing stored — so that partners back off (as their client guidance asks) instead
of piling up.

One partner holds at most ``per_partner`` of the ``limit`` slots, so that its burst — or its
slow uploads — cannot starve the others: beyond its share that partner gets ``429`` while the
rest still get in. A slot is asked for only once the request is authenticated (the adapters
check the token and the content type first: an anonymous client never holds a slot), and it is
held while the body is read (under a deadline, ``adapters/http/rest.py`` ``read_body``) and
processed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from gateway.errors import TooBusy


class Admission:
    def __init__(self, limit: int, per_partner: int | None = None) -> None:
        self.limit = limit
        self.per_partner = min(per_partner or limit, limit)
        self.in_flight = 0           # one event loop per process: no lock needed
        self.by_partner: dict[str, int] = {}

    @contextmanager
    def slot(self, partner_id: str) -> Iterator[None]:
        """One slot for ``partner_id`` while the block runs, or ``TooBusy`` (429) at once."""
        held = self.by_partner.get(partner_id, 0)
        if self.in_flight >= self.limit:
            raise TooBusy(f"the gateway is processing {self.in_flight} submissions; "
                          "retry after the time in Retry-After")
        if held >= self.per_partner:
            raise TooBusy(f"partner {partner_id} has {held} submissions in flight, as many as "
                          "one partner may; retry after the time in Retry-After")
        self.in_flight += 1
        self.by_partner[partner_id] = held + 1
        try:
            yield
        finally:
            self.in_flight -= 1
            left = self.by_partner[partner_id] - 1
            if left:
                self.by_partner[partner_id] = left
            else:
                del self.by_partner[partner_id]
