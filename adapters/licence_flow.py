"""Flow F3's quantity reservations, wired: what ``adapters/bootstrap.py`` plugs into the core.

``licence_reservations(...)`` builds, once, the parts that share one ``ReservationNotices``
(signed events to clearance, signed ``LIC`` notifications to brokers):

* ``requests`` — the intake effect of declarations (what their items will draw on licences);
* ``licence_intake`` — the licences' intake effect, surfacing a revocation to every
  reservation it affects;
* ``handler`` — the ``licence-reservation`` event handler on clearance's decisions (reserve on
  acceptance, write off on release, delete on invalidation);
* ``answers`` — what the agency caller records;

and ``caller(...)`` the agency caller itself (``adapters/agency_calls.py``), run in the
messaging process with the relay and the pushes, calling each agency's SOAP service
(``AgencyClients``: its WSDL is the agency's ``callback_url`` in the partner registry).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from adapters.agency_calls import AgencyCaller
from adapters.soap_client.agency_client import AgencyClients
from gateway.canonical.licensing_rules import LicensingRequirements
from gateway.flows.licences.answers import AgencyAnswers
from gateway.flows.licences.intake_effect import LicenceIntake
from gateway.flows.licences.notices import ReservationNotices
from gateway.flows.licences.requests import ReservationRequests
from gateway.flows.licences.reservation_handler import LicenceReservationHandler
from gateway.partners import PartnerRegistry
from gateway.ports import Transactions
from gateway.routing import RoutingTable
from gateway.settings import Settings
from gateway.signing.keys import SigningKey, TrustStore
from gateway.signing.xmldsig import XmlSigner


@dataclass
class LicenceReservations:
    licensing: LicensingRequirements
    notices: ReservationNotices
    requests: ReservationRequests
    licence_intake: LicenceIntake
    handler: LicenceReservationHandler
    answers: AgencyAnswers
    partners: PartnerRegistry
    caller_: AgencyCaller | None = None

    def caller(self, journal: Transactions, *, key: SigningKey, trust: TrustStore, owner: str,
               after_commit: Callable[[], None] | None = None) -> AgencyCaller:
        """The agency caller of this process (built once)."""
        if self.caller_ is None:
            self.caller_ = AgencyCaller(journal, self.answers,
                                        AgencyClients(self.partners, key, trust), owner=owner,
                                        after_commit=after_commit)
        return self.caller_

    def wake(self) -> None:
        """A decision may have made an agency call due: make it now, not at the next poll."""
        if self.caller_ is not None:
            self.caller_.wake()


def licence_reservations(settings: Settings, *, signer: XmlSigner, bus_key: SigningKey,
                         routing: RoutingTable, parking_exchange: str,
                         partners: PartnerRegistry) -> LicenceReservations:
    licensing = LicensingRequirements.load(settings.config_file("licensing.toml"))
    notices = ReservationNotices(signer, bus_key, routing, parking_exchange, partners)
    return LicenceReservations(
        licensing=licensing, notices=notices, requests=ReservationRequests(licensing),
        licence_intake=LicenceIntake(revocations=notices),
        handler=LicenceReservationHandler(notices, country=settings.country),
        answers=AgencyAnswers(notices), partners=partners)
