"""Clearance's decisions move reservations: the ``licence-reservation`` event handler.

It runs on ``clearance.decision`` beside ``clearance-decision`` and ``duty-assessment``, in the
same transaction (``config/events.toml``):

* ``accepted`` (the MRN is known) — each ``ReservationRequest`` the declaration recorded
  becomes a ``Reservation`` keyed by (licence, MRN, goods item): the licence is held (its row
  lock: PostgreSQL ``FOR UPDATE``, SQLite the writer), what its lines have drawn is read,
  ``reservation_rules.decide`` says yes — ``pending``, the agency's ``ReserveQuantity`` due —
  or no — ``refused`` with the reason, clearance and the broker told at once. A reservation
  that exists already is left alone: an acceptance repeated (another message id) reserves
  nothing twice. Licences are held in (agency, number) order, so two declarations never wait
  on each other's licences crosswise;
* ``released`` — every reservation of the declaration is to be written off (``WriteOff`` due,
  after the reservation if that is still pending);
* ``invalidated``, or ``rejected`` after an acceptance — every reservation is to be deleted
  (``DeleteReservation`` due). A written-off reservation stays written off.

The agency calls are made after the commit, by the agency caller (``answers.py`` records
what the agency says).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.canonical.clearance_decision import ClearanceDecision
from gateway.events.service import Event
from gateway.flows.clearance_decisions import parse_decision
from gateway.flows.licences.notices import ReservationNotices
from gateway.flows.licences.reservation_rules import Draw, decide
from gateway.flows.licences.reservations import (
    DELETED,
    EV_REFUSED,
    GATEWAY,
    PENDING,
    REFUSED,
    RESERVED,
    WRITTEN_OFF,
    Reservation,
    ReservationRequest,
    drawn,
    with_target,
)
from gateway.flows.licences.store import FLOW, LicenceStore
from gateway.pipeline.exchange import utc_now_iso
from gateway.ports import Conversations, JournalTransaction

ACCEPTED, RELEASED, INVALIDATED, REJECTED = "accepted", "released", "invalidated", "rejected"
_TARGETS = {RELEASED: WRITTEN_OFF, INVALIDATED: DELETED, REJECTED: DELETED}


@dataclass
class LicenceReservationHandler:
    notices: ReservationNotices
    country: str = "MK"
    clock: Callable[[], str] = utc_now_iso
    now: Callable[[], float] = time.time
    name: str = "licence-reservation"

    def prepare(self, event: Event, reads: Conversations) -> ClearanceDecision | None:
        decision = parse_decision(event.body)
        return decision if decision.kind in (ACCEPTED, *_TARGETS) else None

    def apply(self, decision: ClearanceDecision, tx: JournalTransaction) -> dict[str, Any]:
        store: LicenceStore = tx.flow(FLOW)
        if decision.kind == ACCEPTED:
            return self._reserve(store, tx, decision)
        return self._move(store, tx, decision, _TARGETS[decision.kind])

    def _reserve(self, store: LicenceStore, tx: JournalTransaction,
                 d: ClearanceDecision) -> dict[str, Any]:
        assert d.mrn is not None                   # ClearanceDecision.check: accepted has one
        at, counts = self.clock(), {"pending": 0, "refused": 0, "existing": 0}
        for request in sorted(store.requests(d.conversation_id),
                              key=lambda r: (r.agency, r.number, r.item)):
            if store.reservation(request.agency, request.number, d.mrn, request.item):
                counts["existing"] += 1
                continue
            reservation = self._decide(store, request, d.mrn, at)
            if not store.add_reservation(reservation):      # a twin committed meanwhile
                counts["existing"] += 1
                continue
            counts[reservation.state] += 1
            if reservation.state == REFUSED:
                self.notices.tell(tx, reservation, EV_REFUSED, at)
        return {"reservations": counts, "mrn": d.mrn}

    def _decide(self, store: LicenceStore, request: ReservationRequest, mrn: str,
                at: str) -> Reservation:
        """The new reservation, decided while its licence is held."""
        licence = store.hold(request.agency, request.number)
        decision = decide(licence, Draw(request.quantity, request.unit, request.hs_code,
                                        request.holder_id, request.destination_country),
                          drawn(store.reservations_on(request.agency, request.number)),
                          today=at[:10], country=self.country)
        state = PENDING if decision.reservable else REFUSED
        return Reservation(
            agency=request.agency, number=request.number, mrn=mrn, item=request.item,
            conversation_id=request.conversation_id, partner_id=request.partner_id,
            code=request.code, state=state, target=RESERVED if decision.reservable else REFUSED,
            declared_quantity=request.quantity, declared_unit=request.unit, created_at=at,
            updated_at=at, line=decision.line, hs_code=request.hs_code,
            quantity=decision.quantity, unit=decision.unit, holder_id=request.holder_id,
            destination_country=request.destination_country,
            reason=decision.reason, reason_text=None if decision.reservable else decision.text,
            refused_by=None if decision.reservable else GATEWAY,
            available=None if decision.reservable else decision.available,
            next_at=self.now() if decision.reservable else None)

    def _move(self, store: LicenceStore, tx: JournalTransaction, d: ClearanceDecision,
              target: str) -> dict[str, Any]:
        at, now, moved, left = self.clock(), self.now(), 0, 0
        for r in store.reservations_of(d.conversation_id):     # in (agency, number) order
            if d.mrn and r.mrn != d.mrn:
                continue
            store.hold(r.agency, r.number)
            current = store.reservation(*r.key) or r
            changed = with_target(current, target, at=at, now=now)
            if changed is None:
                left += 1
                tx.add_history(r.conversation_id, at, "licence.reservation.unchanged", {
                    "decision": d.kind, "licence": r.number, "item": r.item,
                    "state": current.state, "target": current.target})
                continue
            store.save_reservation(changed)
            moved += 1
            tx.add_history(r.conversation_id, at, f"licence.reservation.{target}_due", {
                "decision": d.kind, "licence": r.number, "agency": r.agency, "item": r.item,
                "mrn": r.mrn, "state": changed.state})
        return {"reservations_moved": moved, "unchanged": left, "target": target}
