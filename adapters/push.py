"""Push delivery of signed notifications to partners' registered callback URLs.

Due notifications are claimed from the journal with a lease and delivered concurrently, each
with its own timeout; a partner gets at most ``per_partner`` pushes at a time, and no new ones
while any of those is in flight, so one slow or failing callback never holds up the other
partners. How a push travels is the partner's (``adapters/push_transports.py``: an HTTP POST to
its callback URL, or a call of its SOAP service with WS-Security). A delivery marks the
notification delivered; a retryable failure (a non-2xx answer, a partner that cannot be
reached) schedules a retry with exponential back-off and jitter (as the published client
guidance asks of partners, we do for them); after ``max_attempts``, or at once for a failure
that retrying cannot mend (a partner's SOAP fault), the push is marked failed, logged
(``push.failed``, with the error's code) and reported in the conversation's history. Pull
(``GET /v1/conversations/{id}/notifications``) always works, whatever happened to pushes.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time

import structlog

from adapters.push_transports import HttpCallback, PartnerDeliveries, PushTransport
from gateway import metrics as m
from gateway.errors import GatewayError
from gateway.metrics import Metrics
from gateway.ports import PushJob, PushQueue

log = structlog.get_logger("gateway.push")


class PushDeliverer:
    def __init__(self, queue: PushQueue, *, owner: str, metrics: Metrics,
                 max_attempts: int = 8, base_delay: float = 1.0, max_delay: float = 600.0,
                 timeout: float = 5.0, concurrency: int = 32, per_partner: int = 4,
                 idle_poll: float = 0.5, transport: PushTransport | None = None) -> None:
        self._queue = queue
        self._owner = owner
        self._metrics = metrics
        self._max_attempts = max_attempts
        self._base = base_delay
        self._max_delay = max_delay
        self._idle_poll = idle_poll
        # without a transport: HTTP callbacks only
        self._transport = transport or PartnerDeliveries(None, http=HttpCallback(timeout=timeout))
        self._concurrency = concurrency
        self._per_partner = per_partner
        self._in_flight: dict[str, int] = {}
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                free = self._concurrency - len(self._tasks)
                busy = frozenset(self._in_flight)      # partners with pushes still in flight
                jobs = await self._queue.claim_due(
                    self._owner, free, 60.0, per_partner=self._per_partner, busy=busy) \
                    if free > 0 else []
                for job in jobs:
                    self._start(job)
                if not jobs:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self._idle_poll)
                    self._wake.clear()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the loop must survive a journal hiccup
                log.warning("push.loop_error", error=f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(1.0)

    def _start(self, job: PushJob) -> None:
        partner = job.notification.partner_id
        self._in_flight[partner] = self._in_flight.get(partner, 0) + 1
        task = asyncio.create_task(self._deliver(job))
        self._tasks.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._tasks.discard(finished)
            self._in_flight[partner] -= 1
            if not self._in_flight[partner]:
                del self._in_flight[partner]
            self._wake.set()             # a slot is free: look for more work

        task.add_done_callback(done)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self._transport.aclose()

    async def _deliver(self, job: PushJob) -> None:
        n = job.notification
        error: GatewayError | None = None
        try:
            await self._transport.deliver(job)
        except GatewayError as err:
            error = err
        except Exception as exc:  # noqa: BLE001 - a transport's bug must not lose the push
            error = GatewayError(f"{type(exc).__name__}: {exc}", code="GW-INTERNAL")
            error.retryable = True
        attempts = job.attempts + 1
        retry_at = None
        if error is not None and error.retryable and attempts < self._max_attempts:
            delay = min(self._base * 2 ** (attempts - 1), self._max_delay)
            retry_at = time.time() + delay * random.uniform(0.8, 1.2)
        await self._queue.push_result(n.id, delivered=error is None,
                                      error=error.message if error else None,
                                      retry_at=retry_at)
        outcome = "delivered" if error is None else ("retry" if retry_at else "failed")
        self._metrics.count(m.PUSHES, outcome=outcome)
        level = log.warning if outcome == "failed" else log.info
        level(f"push.{outcome}", notification_id=n.id, conversation_id=n.conversation_id,
              source_id=n.source_id, partner=n.partner_id, kind=n.kind, attempts=attempts,
              error=error.message if error else None, code=error.code if error else None,
              retryable=error.retryable if error else None)
