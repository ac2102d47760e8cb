"""The agency's answers, recorded: what the agency caller does in the journal's transactions.

``AgencyAnswers`` is what the caller (an adapter, ``adapters/agency_calls.py``) runs in three
kinds of transaction, none with a network call inside:

* ``claim`` — the reservations with a call due, leased to one caller (``claim_calls``), and the
  operation due for each (``reservations.next_operation``);
* ``record`` — the agency's answer to one call: the licence is held (the same lock order as
  the decisions), the reservation read again and ``apply_answer`` decides: applied — saved,
  clearance told (``ReservationNotices``), the broker too for a refusal — or stale (the answer
  of a call that is no longer due: a duplicate, or the reservation moved on meanwhile) —
  nothing changes but a history line. The agency's balance of the line is mirrored when it is
  newer than the one kept (its ``revision``), whatever the answer did;
* ``failed`` — a call that did not get an answer: a retryable failure (the agency could not be
  reached) makes the same call due later, with exponential back-off and jitter capped at
  ``max_delay``; any other is the agency's refusal (``agency-fault``, with the error's text).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from gateway.errors import GatewayError
from gateway.flows.licences.agency import AgencyCall
from gateway.flows.licences.notices import ReservationNotices
from gateway.flows.licences.reservations import (
    AGENCY_FAULT,
    APPLIED,
    AgencyAnswer,
    AnswerOutcome,
    LineBalance,
    Reservation,
    apply_answer,
    next_operation,
    retry_later,
)
from gateway.flows.licences.store import FLOW, LicenceStore
from gateway.pipeline.exchange import utc_now_iso
from gateway.ports import JournalTransaction


@dataclass
class AgencyAnswers:
    notices: ReservationNotices
    base_delay: float = 1.0
    max_delay: float = 300.0
    clock: Callable[[], str] = utc_now_iso
    now: Callable[[], float] = time.time

    def claim(self, tx: JournalTransaction, owner: str, limit: int,
              lease_seconds: float) -> list[AgencyCall]:
        """The calls due now, leased to ``owner``."""
        store: LicenceStore = tx.flow(FLOW)
        calls = []
        for r in store.claim_calls(owner, limit, lease_seconds, self.now()):
            operation = next_operation(r)
            if operation is None:                  # settled meanwhile: nothing is due
                store.save_reservation(replace(r, next_at=None, lease_owner=None,
                                               lease_until=None))
                continue
            calls.append(AgencyCall(r, operation, owner))
        return calls

    def record(self, tx: JournalTransaction, call: AgencyCall,
               answer: AgencyAnswer) -> AnswerOutcome:
        """Apply the agency's ``answer`` to ``call`` (or find it stale)."""
        store: LicenceStore = tx.flow(FLOW)
        current = self._held(store, call)
        at = self.clock()
        self._mirror(store, current, answer)
        outcome = apply_answer(current, call.operation, answer, at=at, now=self.now())
        if outcome.outcome == APPLIED:
            store.save_reservation(outcome.reservation)
            if outcome.event is not None:
                self.notices.tell(tx, outcome.reservation, outcome.event, at)
            return outcome
        if current.lease_owner == call.owner:      # let the call due now be claimed at once
            store.save_reservation(replace(current, lease_owner=None, lease_until=None))
        tx.add_history(current.conversation_id, at, "licence.reservation.stale_answer", {
            "licence": current.number, "item": current.item, "mrn": current.mrn,
            "operation": call.operation, "result": answer.result, "state": current.state,
            "target": current.target, "repeated": answer.repeated})
        return outcome

    def failed(self, tx: JournalTransaction, call: AgencyCall,
               error: GatewayError) -> AnswerOutcome:
        """A call without an answer: due again later (retryable), else the agency's refusal."""
        if not error.retryable:
            return self.record(tx, call, AgencyAnswer(
                call.operation, "refused", self.clock(), reason=AGENCY_FAULT,
                reason_text=f"{error.code}: {error.message}"))
        store: LicenceStore = tx.flow(FLOW)
        current = self._held(store, call)
        if next_operation(current) != call.operation:
            return AnswerOutcome("stale", current)
        delay = min(self.base_delay * 2 ** current.attempts, self.max_delay)
        later = retry_later(current, f"{error.code}: {error.message}", at=self.clock(),
                            retry_at=self.now() + delay * random.uniform(0.8, 1.2))
        store.save_reservation(later)
        return AnswerOutcome("retry", later)

    @staticmethod
    def _held(store: LicenceStore, call: AgencyCall) -> Reservation:
        r = call.reservation
        store.hold(r.agency, r.number)
        current = store.reservation(*r.key)
        if current is None:
            raise LookupError(f"reservation {r.key} is gone")
        return current

    @staticmethod
    def _mirror(store: LicenceStore, r: Reservation, answer: AgencyAnswer) -> None:
        line = answer.line if answer.line is not None else r.line
        if line is None or answer.available is None or not answer.revision:
            return
        store.save_balance(LineBalance(r.agency, r.number, line, answer.available,
                                       answer.unit or r.unit, answer.usage, answer.revision,
                                       answer.answered_at))
