"""Quantity reservations against licences, per declaration (the CERTEX model): the state table.

One ``Reservation`` per (licence, MRN, goods item) — the key that makes every step idempotent:
a retried acceptance never reserves twice. The issuing agency is authoritative for quantities;
the gateway decides locally first (``reservation_rules.decide``, under the licence's row lock)
and mirrors what the agency answers. Two columns carry the whole story:

* ``state`` — what the agency has confirmed (``pending``: not yet);
* ``target`` — what the gateway wants it to be (clearance's decisions move it).

::

    state \\ target     reserved            written_off          deleted
    pending            ReserveQuantity     ReserveQuantity,     DeleteReservation
                                           then WriteOff
    reserved           (settled)           WriteOff             DeleteReservation
    refused            (settled: refused, with the reason — by the gateway or the agency)
    written_off        (settled: a write-off is final)
    deleted            (settled)

``next_operation`` reads the call due off that table; the agency caller (an adapter) makes it
and ``apply_answer`` records what the agency said. An answer counts only if it answers the
call that is due **now**: a duplicate (another worker's retry answered first), a late answer
for a reservation settled meanwhile, a write-off answer arriving after the deletion — none of
them changes anything (``STALE``). The agency's balance of the line (available, consumed per
MRN, its revision) is mirrored whatever the answer, if newer than the one kept.

What counts against a licence line is every reservation ``pending``, ``reserved`` or
``written_off`` (``COUNTING``): a deletion counts until the agency has confirmed it — the
gateway never believes it has more than the agency would give.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

PENDING, RESERVED, REFUSED, WRITTEN_OFF, DELETED = (
    "pending", "reserved", "refused", "written_off", "deleted")
STATES = (PENDING, RESERVED, REFUSED, WRITTEN_OFF, DELETED)
COUNTING = (PENDING, RESERVED, WRITTEN_OFF)
RESERVE, WRITE_OFF, DELETE = "reserve", "write_off", "delete"
OPERATIONS = (RESERVE, WRITE_OFF, DELETE)
GATEWAY, AGENCY = "gateway", "agency"             # who refused

# Refusal reasons (CERTEX): the agency's answer or the gateway's own decision states one.
INSUFFICIENT = "insufficient-quantity"
UNKNOWN_LICENCE = "unknown-licence"
EXPIRED = "expired"
NOT_YET_VALID = "not-yet-valid"
REVOKED = "revoked"
CODE_MISMATCH = "code-mismatch"
LINE_MISMATCH = "line-mismatch"
UNIT_MISMATCH = "unit-mismatch"
HOLDER_MISMATCH = "holder-mismatch"
DESTINATION_MISMATCH = "destination-mismatch"
ALREADY_WRITTEN_OFF = "already-written-off"
WRONG_STATUS = "wrong-status"
AGENCY_FAULT = "agency-fault"
REASONS = (INSUFFICIENT, UNKNOWN_LICENCE, EXPIRED, NOT_YET_VALID, REVOKED, CODE_MISMATCH,
           LINE_MISMATCH, UNIT_MISMATCH, HOLDER_MISMATCH, DESTINATION_MISMATCH,
           ALREADY_WRITTEN_OFF, WRONG_STATUS, AGENCY_FAULT)

# What an agency's answer did (``apply_answer``), and the events clearance is told.
APPLIED, STALE = "applied", "stale"
EV_RESERVED, EV_REFUSED, EV_WRITTEN_OFF, EV_DELETED = "reserved", "refused", "written_off", \
    "deleted"
EV_WRITE_OFF_REFUSED, EV_DELETE_REFUSED, EV_REVOKED = "write_off_refused", "delete_refused", \
    "licence_revoked"
#: events the broker is told of too (a signed notification in the declaration's conversation)
BROKER_EVENTS = (EV_REFUSED, EV_REVOKED, EV_WRITE_OFF_REFUSED)


@dataclass(frozen=True)
class ReservationRequest:
    """What one goods item of a declaration will draw on one licence it quotes (recorded when
    the gateway accepts the declaration, reserved once clearance accepts it with an MRN)."""

    conversation_id: str
    item: int
    agency: str                          # the issuing agency's partner id
    number: str                          # the licence or certificate number quoted
    partner_id: str                      # the broker
    code: str                            # the document code quoted (N851, X002)
    document_type: str                   # what the agency issues it as (851, import)
    hs_code: str | None                  # the item's commodity code
    quantity: Decimal                    # declared: the item's net mass
    unit: str                            # its Rec 20 unit (KGM)
    holder_id: str | None                # the importer's identifier
    destination_country: str | None
    reference: str | None                # the trader's LRN
    recorded_at: str


@dataclass(frozen=True)
class Reservation:
    """One (licence, MRN, goods item): what is drawn, what the agency confirmed, what is due."""

    agency: str
    number: str
    mrn: str
    item: int
    conversation_id: str
    partner_id: str
    code: str
    state: str
    target: str
    declared_quantity: Decimal
    declared_unit: str
    created_at: str
    updated_at: str
    line: int | None = None              # the licence line drawn on (None: refused before one)
    hs_code: str | None = None
    quantity: Decimal | None = None      # in the line's unit: what counts against the line
    unit: str | None = None
    holder_id: str | None = None
    destination_country: str | None = None
    reason: str | None = None            # a refusal's reason (REASONS)
    reason_text: str | None = None
    refused_by: str | None = None        # GATEWAY | AGENCY
    available: Decimal | None = None     # the agency's available quantity on the line
    consumed: Decimal | None = None      # what the agency counts for this MRN and item
    agency_reference: str | None = None  # the agency's reservation id
    answered_at: str | None = None
    attempts: int = 0                    # calls of the operation due so far
    next_at: float | None = None         # epoch seconds: when a call is due (None: none due)
    lease_owner: str | None = None
    lease_until: float | None = None
    last_error: str | None = None
    revoked_at: str | None = None        # the licence was revoked after this reservation

    @property
    def key(self) -> tuple[str, str, str, int]:
        return self.agency, self.number, self.mrn, self.item

    @property
    def counts(self) -> bool:
        """Whether it counts against its licence line."""
        return self.state in COUNTING and self.line is not None


@dataclass(frozen=True)
class MrnUsage:
    """What the agency counts against a line for one MRN and goods item."""

    mrn: str
    item: int
    quantity: Decimal
    state: str                           # reserved | written_off
    at: str


@dataclass(frozen=True)
class AgencyAnswer:
    """The agency's signed answer to one call, as the client read it."""

    operation: str                       # OPERATIONS
    result: str                          # reserved | refused | written_off | deleted
    answered_at: str
    reason: str | None = None
    reason_text: str | None = None
    line: int | None = None
    available: Decimal | None = None     # on the line, in its unit
    unit: str | None = None
    consumed: Decimal | None = None      # for this MRN and item
    usage: tuple[MrnUsage, ...] = ()     # the line's consumption per MRN
    revision: int = 0                    # the agency's version of the licence's balances
    reference: str | None = None
    repeated: bool = False               # the agency had answered this call before


@dataclass(frozen=True)
class LineBalance:
    """The agency's balance of one licence line, as its newest answer stated it."""

    agency: str
    number: str
    line: int
    available: Decimal
    unit: str | None
    usage: tuple[MrnUsage, ...]
    revision: int
    answered_at: str


@dataclass(frozen=True)
class AnswerOutcome:
    """What ``apply_answer`` made of an agency's answer."""

    outcome: str                         # APPLIED | STALE
    reservation: Reservation             # as it is now
    event: str | None = None             # what clearance is told (None: nothing)


def next_operation(r: Reservation) -> str | None:
    """The agency call due for ``r`` (the table in the module docstring); ``None``: settled."""
    if r.state == PENDING:
        return DELETE if r.target == DELETED else RESERVE
    if r.state == RESERVED:
        return {WRITTEN_OFF: WRITE_OFF, DELETED: DELETE}.get(r.target)
    return None


def apply_answer(r: Reservation, operation: str, answer: AgencyAnswer, *, at: str,
                 now: float) -> AnswerOutcome:
    """``r`` after the agency's ``answer`` to ``operation`` (stale unless that call is due)."""
    if next_operation(r) != operation or answer.operation != operation:
        return AnswerOutcome(STALE, r)
    base = replace(r, updated_at=at, answered_at=answer.answered_at, attempts=0,
                   lease_owner=None, lease_until=None, last_error=None,
                   available=answer.available if answer.available is not None else r.available,
                   consumed=answer.consumed,
                   agency_reference=answer.reference or r.agency_reference)
    if answer.result == "refused":
        return _refused(base, operation, answer, now)
    confirmed = {RESERVE: ("reserved", RESERVED, EV_RESERVED),
                 WRITE_OFF: ("written_off", WRITTEN_OFF, EV_WRITTEN_OFF),
                 DELETE: ("deleted", DELETED, EV_DELETED)}[operation]
    if answer.result != confirmed[0]:
        raise ValueError(f"the agency answered {operation} with {answer.result!r}")
    settled = replace(base, state=confirmed[1], reason=None, reason_text=None)
    if confirmed[1] == DELETED:
        settled = replace(settled, target=DELETED)
    return AnswerOutcome(APPLIED, _due(settled, now), confirmed[2])


def _refused(r: Reservation, operation: str, answer: AgencyAnswer, now: float
             ) -> AnswerOutcome:
    reason = replace(r, reason=answer.reason or WRONG_STATUS, reason_text=answer.reason_text,
                     refused_by=AGENCY)
    if operation == RESERVE:
        return AnswerOutcome(APPLIED, replace(reason, state=REFUSED, target=REFUSED,
                                              next_at=None), EV_REFUSED)
    # a write-off or deletion the agency refused: the reservation stays as the agency has it
    event = EV_WRITE_OFF_REFUSED if operation == WRITE_OFF else EV_DELETE_REFUSED
    return AnswerOutcome(APPLIED, replace(reason, target=r.state, next_at=None), event)


def _due(r: Reservation, now: float) -> Reservation:
    """``r`` with its next call due now, or none due."""
    return replace(r, next_at=now if next_operation(r) is not None else None)


def retry_later(r: Reservation, error: str, *, at: str, retry_at: float) -> Reservation:
    """``r`` after a call that could not reach the agency: the same call, later."""
    return replace(r, attempts=r.attempts + 1, last_error=error, next_at=retry_at,
                   lease_owner=None, lease_until=None, updated_at=at)


def with_target(r: Reservation, target: str, *, at: str, now: float) -> Reservation | None:
    """``r`` moved towards ``target`` by a clearance decision; ``None`` if it cannot move
    there (refused, written off or deleted already, or already going there)."""
    if r.state in (REFUSED, WRITTEN_OFF, DELETED) or r.target == target:
        return None
    if r.target == DELETED:              # a deletion under way is not turned into a write-off
        return None
    return _due(replace(r, target=target, updated_at=at, attempts=0, last_error=None), now)


def drawn(reservations: list[Reservation]) -> dict[int, Decimal]:
    """Per licence line, what the counting reservations draw (in the line's unit)."""
    out: dict[int, Decimal] = {}
    for r in reservations:
        if r.counts and r.quantity is not None and r.line is not None:
            out[r.line] = out.get(r.line, Decimal(0)) + r.quantity
    return out
