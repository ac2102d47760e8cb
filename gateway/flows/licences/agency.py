"""The issuing agency's quantity service, as the core sees it (a port).

The agency is authoritative for what a licence has left; the gateway calls it for each
reservation step (``reservations.OPERATIONS``) — after its own transaction has committed,
never inside one — and mirrors the answer. ``AgencyService.call`` is that one call: the
adapter (``adapters/soap_client/agency_client.py``, zeep with WS-Security) turns it into the
agency's ``ReserveQuantity``, ``WriteOff`` or ``DeleteReservation`` and its signed answer into
an ``AgencyAnswer``; a failure is a ``GatewayError`` whose ``retryable`` says whether the same
call is tried again later (``ServiceUnavailable``) or settled as the agency's refusal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from gateway.flows.licences.reservations import AgencyAnswer, Reservation


@dataclass(frozen=True)
class AgencyCall:
    """One call due: ``operation`` for ``reservation``, claimed by ``owner``."""

    reservation: Reservation
    operation: str
    owner: str

    @property
    def key(self) -> tuple[str, str, str, int]:
        return self.reservation.key


class AgencyService(Protocol):
    def call(self, operation: str, reservation: Reservation) -> AgencyAnswer:
        """Make ``operation`` for ``reservation`` with its agency; its answer, or raise."""
        ...
