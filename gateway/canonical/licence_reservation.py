"""The canonical reservation event: what clearance is told about a quantity drawn on a licence.

One event per step of a reservation (``gateway/flows/licences/reservations.py``) — reserved or
refused (with the reason and who refused: the gateway's own check or the agency), written off
on release, deleted on invalidation, a write-off or deletion the agency refused, and the
licence revoked while the reservation stood — published to clearance as deterministic JSON
with a detached signature (the gateway's bus key), routed by ``config/routes.toml`` (kind
``licence_reservation``). Clearance releases a declaration whose items need a licence only
once each of their reservations is ``reserved``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

CANONICAL_VERSION = "1.0"
KIND = "licence_reservation"


@dataclass
class ReservationEvent:
    event_id: str = ""
    event: str = ""                          # reserved | refused | written_off | deleted | …
    conversation_id: str = ""                # the declaration's conversation
    mrn: str = ""
    item: int = 0                            # the goods item's sequence number
    agency: str = ""                         # the issuing agency (partner id)
    number: str = ""                         # the licence or certificate number
    code: str = ""                           # the document code the item quoted (N851, X002)
    state: str = ""                          # the reservation's state after this event
    line: int | None = None                  # the licence line drawn on
    declared_quantity: Decimal | None = None
    declared_unit: str | None = None
    quantity: Decimal | None = None          # in the line's unit
    unit: str | None = None
    available: Decimal | None = None         # the agency's available quantity on the line
    consumed: Decimal | None = None          # what the agency counts for this MRN and item
    reason: str | None = None                # refusals: the reason code (CERTEX)
    reason_text: str | None = None
    refused_by: str | None = None            # gateway | agency
    agency_reference: str | None = None
    revoked_at: str | None = None
    at: str = ""
    canonical_version: str = CANONICAL_VERSION
