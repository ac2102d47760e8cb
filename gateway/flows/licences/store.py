"""The licences store: the flow's own state, behind its own port.

Two records, keyed by the issuing agency (its partner id: the one whose signature the document
carried) and the licence number — two agencies may number alike:

* ``LicenceState`` — the licence as the gateway knows it now: the newest version applied,
  its status (``issued``, ``amended``, ``revoked``), validity, holder, and its goods lines
  (``LicenceLineState``: the quantity licensed per line, in its UN/ECE Rec 20 unit);
* ``LicenceVersion`` — every version received, whatever it did (``versions.OUTCOMES``:
  created, applied, stale, duplicate, after-revocation), with the receipt and conversation of
  the message that carried it, unique per ``(agency, number, version, status)``.

``LicenceStore`` is the port inside one journal transaction (``tx.flow("licences")``): ``hold``
reads a licence and holds it until commit (PostgreSQL ``FOR UPDATE``; SQLite: the writer holds
the database), so what is decided on it — a newer version, later a reservation against its
quantities — cannot race. ``LicenceReader`` is the read-only side outside a transaction
(``journal.flow("licences")``). Quantities are ``Decimal`` here and decimal strings in the
store: sums are exact.

Quantity reservations (``reservations``) live here too: the ``ReservationRequest`` of each
goods item quoting a licence (recorded with the declaration), the ``Reservation`` per
(licence, MRN, goods item) with its state, and the agency's ``LineBalance`` per line. A
reservation is decided and written while its licence is held; the agency caller claims the
reservations with a call due (``claim_calls``: leased, PostgreSQL ``FOR UPDATE SKIP LOCKED``,
so two instances never call for the same one at once).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from gateway.flows.licences.reservations import LineBalance, Reservation, ReservationRequest

FLOW = "licences"


@dataclass(frozen=True)
class LicenceLineState:
    """One goods line of a licence and the quantity licensed on it."""

    line: int
    hs_code: str | None = None
    description: str | None = None
    quantity: Decimal | None = None
    unit: str | None = None


@dataclass(frozen=True)
class LicenceState:
    """A licence at the newest version the gateway applied."""

    agency: str                          # the issuing agency's partner id
    number: str
    source: str                          # sps-certificate | licence-document
    type: str
    status: str                          # issued | amended | revoked
    version: int
    receipt_id: str                      # the message that brought this version
    conversation_id: str
    updated_at: str
    certificate_type_code: str | None = None
    holder_id: str | None = None
    holder_name: str | None = None
    destination_country: str | None = None
    valid_from: str | None = None
    valid_to: str | None = None
    issued_at: str | None = None
    revoked_at: str | None = None
    lines: tuple[LicenceLineState, ...] = ()

    def line(self, number: int) -> LicenceLineState | None:
        return next((line for line in self.lines if line.line == number), None)


@dataclass(frozen=True)
class LicenceVersion:
    """One version of a licence as received, and what it did."""

    agency: str
    number: str
    version: int
    status: str
    outcome: str                         # versions.OUTCOMES
    receipt_id: str
    conversation_id: str
    recorded_at: str


class LicenceStore(Protocol):
    """The licences inside one journal transaction."""

    def hold(self, agency: str, number: str) -> LicenceState | None:
        """The licence with its lines, held until the transaction ends; ``None`` if unknown."""
        ...

    def insert(self, licence: LicenceState) -> bool:
        """Store a licence not known yet; ``False`` (nothing written) if ``(agency, number)``
        exists already — another transaction created it first: ``hold`` it and decide again."""
        ...

    def replace(self, licence: LicenceState) -> None:
        """Replace the held licence and all its lines with ``licence``."""
        ...

    def add_version(self, version: LicenceVersion) -> bool:
        """Record a version received; ``False`` if that (version, status) is recorded already."""
        ...

    def find(self, number: str) -> list[LicenceState]:
        """Every agency's licence with this number (what a goods item quotes), not held."""
        ...

    # --- reservations -------------------------------------------------------------------------

    def add_requests(self, requests: Sequence[ReservationRequest]) -> int:
        """Record what a declaration's items will draw; how many were new (a request kept
        already for its (conversation, item, agency, number) is not written again)."""
        ...

    def requests(self, conversation_id: str) -> list[ReservationRequest]:
        """A declaration's requests, by (agency, number, item)."""
        ...

    def reservation(self, agency: str, number: str, mrn: str, item: int) -> Reservation | None:
        ...

    def reservations_on(self, agency: str, number: str) -> list[Reservation]:
        """Every reservation against one licence (read while it is held: what it draws)."""
        ...

    def reservations_of(self, conversation_id: str) -> list[Reservation]:
        """A declaration's reservations, by (agency, number, item)."""
        ...

    def add_reservation(self, reservation: Reservation) -> bool:
        """Write a new reservation; ``False`` (nothing written) if its key exists already."""
        ...

    def save_reservation(self, reservation: Reservation) -> None:
        """Replace the reservation of the same key."""
        ...

    def claim_calls(self, owner: str, limit: int, lease_seconds: float, now: float
                    ) -> list[Reservation]:
        """Reservations with an agency call due at ``now``, not leased by another caller,
        leased to ``owner`` for ``lease_seconds`` (oldest due first)."""
        ...

    def save_balance(self, balance: LineBalance) -> bool:
        """Mirror the agency's balance of a line if newer (revision) than the one kept."""
        ...

    def balance(self, agency: str, number: str, line: int) -> LineBalance | None: ...


class LicenceReader(Protocol):
    """The licences' read-only queries, outside any transaction."""

    def licence(self, agency: str, number: str) -> LicenceState | None: ...

    def versions(self, agency: str, number: str) -> list[LicenceVersion]:
        """Every version received, in the order received."""
        ...

    def find(self, number: str) -> list[LicenceState]: ...

    def requests(self, conversation_id: str) -> list[ReservationRequest]: ...

    def reservations_of(self, conversation_id: str) -> list[Reservation]: ...

    def reservations_on(self, agency: str, number: str) -> list[Reservation]: ...

    def balance(self, agency: str, number: str, line: int) -> LineBalance | None: ...


def lines_of(lines: Sequence[LicenceLineState]) -> tuple[LicenceLineState, ...]:
    """Lines in line-number order (how the store returns them)."""
    return tuple(sorted(lines, key=lambda line: line.line))
