"""The agency caller: each reservation step made with the issuing agency, after the commit.

The gateway decides and records a reservation step in the journal (``gateway/flows/licences``:
a ``pending`` reservation, a write-off or deletion due); this worker — modelled on the push
deliverer (``adapters/push.py``) — makes the agency call, outside any transaction:

1. claim the reservations with a call due (``AgencyAnswers.claim``: one transaction, leased to
   this caller for ``lease_seconds``; PostgreSQL skips the rows another instance is claiming);
2. for each, concurrently (at most ``concurrency`` calls in flight), call the agency
   (``AgencyService``: zeep with WS-Security, in a thread) with its own time-out;
3. record what came back in one transaction per call (``AgencyAnswers.record``: the reservation
   moves on, the agency's balance is mirrored, clearance and the broker are told) — or, for a
   call that got no answer, ``AgencyAnswers.failed``: a retryable failure is due again after a
   back-off, any other settles as the agency's refusal.

A caller that dies between the call and the record leaves the reservation leased: once the
lease runs out another caller (the other instance, or the restarted messaging process) makes
the same call again — the agency answers a repeated call as before (idempotent on licence,
MRN and goods item), and an answer that arrives for a step settled meanwhile changes nothing.
Each call's time from the claim to the recorded answer is logged (``agency.answered``,
``seconds``) and handed to ``on_answer`` (the tests' latency figures).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import structlog

from gateway.errors import GatewayError
from gateway.flows.licences.agency import AgencyCall, AgencyService
from gateway.flows.licences.answers import AgencyAnswers
from gateway.flows.licences.reservations import AgencyAnswer, AnswerOutcome
from gateway.ports import Transactions

log = structlog.get_logger("gateway.agency")


class AgencyCaller:
    def __init__(self, journal: Transactions, answers: AgencyAnswers, service: AgencyService, *,
                 owner: str, concurrency: int = 32, lease_seconds: float = 60.0,
                 idle_poll: float = 0.5,
                 after_commit: Callable[[], None] | None = None,
                 on_answer: Callable[[AgencyCall, AnswerOutcome, float], None] | None = None
                 ) -> None:
        self._journal = journal
        self._answers = answers
        self._service = service
        self._owner = owner
        self._concurrency = concurrency
        self._lease = lease_seconds
        self._idle_poll = idle_poll
        self._after_commit = after_commit
        self._on_answer = on_answer
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                free = self._concurrency - len(self._tasks)
                calls = await self._journal.transaction(
                    lambda tx, free=free: self._answers.claim(tx, self._owner, free,
                                                              self._lease)) if free > 0 else []
                for call in calls:
                    self._start(call)
                if not calls:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self._idle_poll)
                    self._wake.clear()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the loop must survive a journal hiccup
                log.warning("agency.loop_error", error=f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(1.0)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)

    def _start(self, call: AgencyCall) -> None:
        task = asyncio.create_task(self._call(call, time.perf_counter()))
        self._tasks.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._tasks.discard(finished)
            self._wake.set()           # a slot is free: look for more work

        task.add_done_callback(done)

    async def _call(self, call: AgencyCall, started: float) -> None:
        r = call.reservation
        context: dict[str, Any] = {"agency": r.agency, "licence": r.number, "mrn": r.mrn,
                                   "item": r.item, "operation": call.operation,
                                   "conversation_id": r.conversation_id}
        try:
            answer: AgencyAnswer = await asyncio.to_thread(self._service.call, call.operation, r)
        except GatewayError as err:
            outcome = await self._journal.transaction(
                lambda tx, failure=err: self._answers.failed(tx, call, failure))
            level = log.info if err.retryable else log.warning
            level("agency.failed", code=err.code, error=err.message, retryable=err.retryable,
                  attempts=r.attempts + 1, outcome=outcome.outcome, **context)
        except Exception as exc:  # noqa: BLE001 - a client bug must not lose the reservation
            error = GatewayError(f"{type(exc).__name__}: {exc}", code="GW-INTERNAL")
            error.retryable = True
            outcome = await self._journal.transaction(
                lambda tx: self._answers.failed(tx, call, error))
            log.warning("agency.failed", code=error.code, error=error.message, **context)
        else:
            outcome = await self._journal.transaction(
                lambda tx: self._answers.record(tx, call, answer))
            log.info("agency.answered", result=answer.result, reason=answer.reason,
                     repeated=answer.repeated, outcome=outcome.outcome, step=outcome.event,
                     seconds=round(time.perf_counter() - started, 4), **context)
        if self._after_commit is not None:
            self._after_commit()
        if self._on_answer is not None:
            self._on_answer(call, outcome, time.perf_counter() - started)
        if outcome.reservation.next_at is not None:
            self._wake.set()           # the next step may be due now (a write-off after this)
