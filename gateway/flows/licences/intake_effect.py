"""What an accepted licence or certificate does, in the same transaction as its journal rows.

``LicenceIntake`` is the intake effect of the canonical kind ``licence``
(``IntakeService.effects``). For the version received it holds the licence the gateway keeps
(``tx.flow("licences")``), decides what the version does (``versions.decide``: created,
applied, stale, duplicate, after-revocation), writes the licence and its goods lines when it
changes them — an amendment's lines replace the previous ones; a revocation keeps the lines
and marks the licence revoked — records the version whatever it did, and adds the outcome to
the message's conversation history (``licence.created``, ``licence.stale`` …).

The licence is keyed by the sending agency's partner id (whose signature the document carried)
and its number. Two transactions creating the same licence at once cannot both win:
``insert`` writes nothing when the other one got there first, and the licence is then held and
decided on again. The canonical licence goes to clearance (the outbox) whatever the outcome;
it states its version, and clearance may hear of a stale one.

A revocation applied to a licence that quantities are reserved on (``pending`` or ``reserved``,
not on their way to deletion) is surfaced for each of those reservations — each MRN and goods
item: the reservation notes when (``revoked_at``), clearance gets a signed
``licence_revoked`` reservation event and the broker a signed ``LIC`` notification in the
declaration's conversation (``ReservationNotices``). The reservations stay as the agency has
them: what becomes of the declaration is clearance's decision (its ``invalidated`` deletes
them); no new reservation can be made on a revoked licence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from gateway.canonical.licence import REVOKED, Licence
from gateway.flows.licences.notices import ReservationNotices
from gateway.flows.licences.reservations import (
    DELETED,
    EV_REVOKED,
    PENDING,
    RESERVED,
)
from gateway.flows.licences.store import (
    FLOW,
    LicenceLineState,
    LicenceState,
    LicenceStore,
    LicenceVersion,
    lines_of,
)
from gateway.flows.licences.versions import APPLIED, CHANGES, CREATED, DUPLICATE, decide
from gateway.pipeline.exchange import Exchange, utc_now_iso
from gateway.ports import JournalTransaction


@dataclass(frozen=True)
class LicenceOutcome:
    """What one version received did to the licence kept."""

    outcome: str
    licence: LicenceState                # the licence as kept after this version


def licence_state(licence: Licence, *, agency: str, receipt_id: str, conversation_id: str,
                  at: str) -> LicenceState:
    """The store's record of a canonical licence sent by ``agency``."""
    holder = licence.holder
    return LicenceState(
        agency=agency, number=licence.number, source=licence.source, type=licence.type,
        status=licence.status, version=licence.version, receipt_id=receipt_id,
        conversation_id=conversation_id, updated_at=at,
        certificate_type_code=licence.certificate_type_code,
        holder_id=holder.id if holder else None, holder_name=holder.name if holder else None,
        destination_country=licence.destination_country, valid_from=licence.valid_from,
        valid_to=licence.valid_to, issued_at=licence.issued_at, revoked_at=licence.revoked_at,
        lines=lines_of([LicenceLineState(line.line, line.hs_code, line.description,
                                         line.quantity, line.unit) for line in licence.lines]))


def record_version(store: LicenceStore, incoming: LicenceState) -> LicenceOutcome:
    """Apply ``incoming`` to the licence kept if it is newer; record it in any case."""
    current = store.hold(incoming.agency, incoming.number)
    if current is None and store.insert(incoming):
        outcome, kept = CREATED, incoming
    else:
        if current is None:            # created meanwhile by another transaction: decide on it
            current = store.hold(incoming.agency, incoming.number)
        outcome = decide(current, incoming)
        kept = current if current is not None else incoming
        if outcome == APPLIED and current is not None:
            kept = incoming
            if incoming.status == REVOKED and not incoming.lines:
                kept = replace(incoming, lines=current.lines)
            store.replace(kept)
    recorded = store.add_version(LicenceVersion(
        incoming.agency, incoming.number, incoming.version, incoming.status, outcome,
        incoming.receipt_id, incoming.conversation_id, incoming.updated_at))
    if not recorded and outcome not in CHANGES:
        outcome = DUPLICATE
    return LicenceOutcome(outcome, kept)


def surface_revocation(tx: JournalTransaction, licence: LicenceState,
                       notices: ReservationNotices, at: str) -> int:
    """Note the revocation on every standing reservation of ``licence`` (held) and tell
    clearance and the broker of each; how many."""
    store = tx.flow(FLOW)
    told = 0
    for r in store.reservations_on(licence.agency, licence.number):
        if r.state not in (PENDING, RESERVED) or r.target == DELETED or r.revoked_at:
            continue
        noted = replace(r, revoked_at=licence.revoked_at or at, updated_at=at)
        store.save_reservation(noted)
        notices.tell(tx, noted, EV_REVOKED, at)
        told += 1
    return told


@dataclass
class LicenceIntake:
    clock: Callable[[], str] = utc_now_iso
    revocations: ReservationNotices | None = None     # tells of reservations it affects

    def __call__(self, ex: Exchange) -> Callable[[JournalTransaction], LicenceOutcome]:
        """The work for ``ex``'s licence, to run in the journal's transaction."""
        licence: Licence = ex.canonical
        assert ex.partner is not None
        incoming = licence_state(licence, agency=ex.partner.id, receipt_id=ex.id,
                                 conversation_id=ex.conversation_id, at=self.clock())

        def work(tx: JournalTransaction) -> LicenceOutcome:
            result = record_version(tx.flow(FLOW), incoming)
            if (self.revocations is not None and result.outcome == APPLIED
                    and result.licence.status == REVOKED):
                surface_revocation(tx, result.licence, self.revocations, incoming.updated_at)
            tx.add_history(ex.conversation_id, incoming.updated_at, f"licence.{result.outcome}",
                           {"agency": incoming.agency, "number": incoming.number,
                            "version": incoming.version, "status": incoming.status,
                            "kept_version": result.licence.version,
                            "kept_status": result.licence.status})
            return result
        return work
