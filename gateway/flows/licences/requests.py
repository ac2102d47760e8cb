"""What an accepted declaration will draw on licences, recorded with it (an intake effect).

``ReservationRequests`` is the intake effect of the canonical kind ``declaration``: in the
declaration's own transaction it records one ``ReservationRequest`` per goods item and
licence it must reserve (``licensing_rules.licences_to_reserve``: required by
``config/licensing.toml`` and quoted) — the quantity (net mass in kilograms), the commodity
code, the importer (who must hold the licence) and the destination. Nothing is reserved yet:
the MRN that keys a reservation comes with clearance's acceptance (the ``licence-reservation``
event handler, ``reservation_handler.py``). A declaration that needs no licence writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gateway.canonical.declaration import Declaration
from gateway.canonical.licensing_rules import LicensingRequirements, licences_to_reserve
from gateway.flows.licences.reservations import ReservationRequest
from gateway.flows.licences.store import FLOW
from gateway.pipeline.exchange import Exchange, utc_now_iso
from gateway.ports import JournalTransaction


def requests_of(declaration: Declaration, licensing: LicensingRequirements, *,
                conversation_id: str, partner_id: str, at: str) -> list[ReservationRequest]:
    """The requests of ``declaration`` (empty when it needs no licence)."""
    importer = next((p for p in declaration.parties if p.role == "importer"), None)
    destination = declaration.transport.destination_country if declaration.transport else None
    return [ReservationRequest(
        conversation_id=conversation_id, item=draw.item.sequence, agency=draw.licence.agency,
        number=draw.licence.number, partner_id=partner_id, code=draw.licence.code,
        document_type=draw.licence.document_type, hs_code=draw.item.commodity_code,
        quantity=draw.quantity, unit=draw.unit, holder_id=importer.id if importer else None,
        destination_country=destination, reference=declaration.header.lrn, recorded_at=at)
        for draw in licences_to_reserve(declaration, licensing)]


@dataclass
class ReservationRequests:
    licensing: LicensingRequirements
    clock: Callable[[], str] = utc_now_iso

    def __call__(self, ex: Exchange) -> Callable[[JournalTransaction], int] | None:
        """The work for ``ex``'s declaration, or ``None`` when it draws on no licence."""
        assert ex.partner is not None
        at = self.clock()
        requests = requests_of(ex.canonical, self.licensing, conversation_id=ex.conversation_id,
                               partner_id=ex.partner.id, at=at)
        if not requests:
            return None

        def work(tx: JournalTransaction) -> int:
            written = tx.flow(FLOW).add_requests(requests)
            tx.add_history(ex.conversation_id, at, "licence.requests", {
                "licences": [f"{r.agency}/{r.number}" for r in requests],
                "items": sorted({r.item for r in requests})})
            return int(written)
        return work
