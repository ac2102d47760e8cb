"""The permit agency stand-in served by real uvicorn, called by our zeep ``AgencyClient``.

Both directions are signed and verified for real: the client signs ``ReserveQuantity``,
``WriteOff``, ``DeleteReservation`` and ``LicenceStatus`` with the gateway's key (WS-Security,
SHA-256), the stand-in verifies them against the gateway's certificate and answers signed with
the agency's own key, which the client verifies. The agency's register (SQLite, ``BEGIN
IMMEDIATE``) is authoritative: every CERTEX refusal reason is its answer, a repeated call is
answered as before and reserves nothing more, and forty threads racing for one licence never
get more than it holds.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from lxml import etree

from adapters.bootstrap import load_signing_key
from adapters.local_server import free_port, serve_in_thread, wait_until_ready
from adapters.soap_client.agency_client import AgencyClient
from adapters.soap_client.errors import PartnerFault
from adapters.standins.agency import AgencyStandIns
from adapters.standins.agency_register import AgencyRegister
from gateway.errors import ServiceUnavailable, SignatureInvalid
from gateway.flows.licences.reservations import Reservation
from gateway.settings import Settings
from gateway.signing.keys import TrustStore
from gateway.signing.wssecurity import SOAP11
from gateway.signing.xmldsig import XmlSigner
from samples.licence import build_licence
from samples.sps import build_sps_certificate

pytestmark = pytest.mark.integration

HOLDER = ("MK4030998765432", "Vardar Trade DOO Skopje")
AGENCY_NS = "urn:agency-standin:licences:v1"


@dataclass
class Agencies:
    base: str
    settings: Settings
    register: AgencyRegister
    server: Any

    def client(self, agency: str = "agency-trade", *, trusted: str | None = None,
               soap12: bool = False) -> AgencyClient:
        trust = TrustStore()
        trust.add_pem_file(agency, self.settings.keys_dir / f"{trusted or agency}.crt")
        return AgencyClient(f"{self.base}/agency/{agency}/soap?wsdl",
                            load_signing_key(self.settings, "gateway"), trust, agency,
                            soap12=soap12, timeout=10)

    def issue(self, document: bytes, agency: str = "agency-trade") -> httpx.Response:
        return httpx.post(f"{self.base}/agency/{agency}/licences", content=document, timeout=10)

    def licence(self, number: str, *, agency: str = "agency-trade", **values: Any) -> None:
        values.setdefault("holder", HOLDER)
        values.setdefault("valid_to", "2099-12-31")
        values.setdefault("lines", (("72083900", "Coils", "10.000", "TNE"),
                                    ("72142000", "Rebar", "4.000", "TNE")))
        document = build_licence(number=number, signer=XmlSigner(load_signing_key(
            self.settings, agency)), **values)
        response = self.issue(document, agency)
        assert response.status_code == 201, response.text

    def status(self, number: str, agency: str = "agency-trade") -> dict[str, Any]:
        return dict(httpx.get(f"{self.base}/agency/{agency}/licences/{number}",
                              timeout=10).json())


@pytest.fixture
def agencies(settings: Settings, tmp_path: Path) -> Iterator[Agencies]:
    register = AgencyRegister(tmp_path / "agencies.db")
    stand_ins = AgencyStandIns.from_settings(settings, register)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server, thread = serve_in_thread(stand_ins.app(), port, name="agencies")
    assert wait_until_ready(base, path="/agency/agency-trade/soap")
    yield Agencies(base, settings, register, server)
    server.should_exit = True
    thread.join(timeout=10)
    register.close()


def ask(number: str, mrn: str = "26MK00100500000001", item: int = 1, *, line: int = 1,
        quantity: str = "1", unit: str = "TNE", hs: str | None = "72083900",
        holder: str | None = HOLDER[0], destination: str | None = "MK") -> Reservation:
    return Reservation(
        agency="agency-trade", number=number, mrn=mrn, item=item, conversation_id="c",
        partner_id="broker-alpha", code="X002", state="pending", target="reserved",
        declared_quantity=Decimal(quantity), declared_unit=unit, created_at="", updated_at="",
        line=line, hs_code=hs, quantity=Decimal(quantity), unit=unit, holder_id=holder,
        destination_country=destination)


def test_agency_reserves_answers_a_repeat_as_before_and_writes_off(agencies: Agencies) -> None:
    """Reserved (available, consumption per MRN, revision); the same call again is answered as
    before and reserves nothing more; the write-off keeps the quantity drawn."""
    agencies.licence("MK-IL-A1")
    client = agencies.client()
    first = client.call("reserve", ask("MK-IL-A1", quantity="2.5"))
    again = client.call("reserve", ask("MK-IL-A1", quantity="2.5"))
    assert (first.result, first.line, first.available, first.consumed, first.repeated) == \
        ("reserved", 1, Decimal("7.500"), Decimal("2.5"), False)
    assert (again.result, again.repeated, again.reference, again.available) == \
        ("reserved", True, first.reference, Decimal("7.500"))
    assert [(u.mrn, u.quantity, u.state) for u in first.usage] == \
        [("26MK00100500000001", Decimal("2.5"), "reserved")]
    written = client.call("write_off", ask("MK-IL-A1"))
    assert (written.result, written.available, written.usage[0].state) == \
        ("written_off", Decimal("7.500"), "written_off")
    assert written.revision > first.revision
    status = client.status("MK-IL-A1")
    assert (status.known, status.status, status.lines[0].available) == \
        (True, "issued", Decimal("7.500"))
    (kept,) = agencies.register.reservations("agency-trade")
    assert (kept["state"], kept["calls"]) == ("written_off", 3)


def test_agency_deletes_a_reservation_and_gives_the_quantity_back(agencies: Agencies) -> None:
    """Deleted: available again; deleting what was never reserved answers deleted."""
    agencies.licence("MK-IL-A2")
    client = agencies.client()
    client.call("reserve", ask("MK-IL-A2", quantity="4"))
    deleted = client.call("delete", ask("MK-IL-A2"))
    assert (deleted.result, deleted.available, deleted.usage) == ("deleted", Decimal("10.000"), ())
    nothing = client.call("delete", ask("MK-IL-A2", mrn="26MK00100500000099"))
    assert nothing.result == "deleted"


@pytest.mark.parametrize(("changes", "reason"), [
    ({"quantity": "10.001"}, "insufficient-quantity"),
    ({"hs": "72101100"}, "code-mismatch"),
    ({"line": 7}, "line-mismatch"),
    ({"unit": "LTR"}, "unit-mismatch"),
    ({"holder": "MK4030998123456"}, "holder-mismatch"),
    ({"destination": "RS"}, "destination-mismatch"),
])
def test_agency_refuses_with_the_certex_reason(agencies: Agencies, changes: dict[str, Any],
                                               reason: str) -> None:
    """Each mismatch is a signed refusal with its reason and a text; nothing is reserved."""
    agencies.licence("MK-IL-R")
    answer = agencies.client().call("reserve", ask("MK-IL-R", **changes))
    assert (answer.result, answer.reason) == ("refused", reason)
    assert answer.reason_text
    assert agencies.register.reservations("agency-trade") == []


def test_agency_refuses_unknown_expired_and_revoked_licences(agencies: Agencies) -> None:
    """Unknown, expired, and revoked (a revocation it issued) are refused with their reason."""
    client = agencies.client()
    agencies.licence("MK-IL-OLD", valid_from="2020-01-01", valid_to="2020-12-31")
    agencies.licence("MK-IL-REV")
    agencies.licence("MK-IL-REV", version=2, status="revoked",
                     revoked_at="2026-06-01T00:00:00Z")
    assert client.call("reserve", ask("MK-IL-NONE")).reason == "unknown-licence"
    assert client.call("reserve", ask("MK-IL-OLD")).reason == "expired"
    assert client.call("reserve", ask("MK-IL-REV")).reason == "revoked"
    assert agencies.status("MK-IL-REV")["status"] == "revoked"


def test_agency_refuses_what_its_status_forbids(agencies: Agencies) -> None:
    """A write-off without a reservation is wrong-status; a reservation after the write-off of
    that MRN is already-written-off; a write-off cannot be deleted."""
    agencies.licence("MK-IL-S")
    client = agencies.client()
    assert client.call("write_off", ask("MK-IL-S")).reason == "wrong-status"
    client.call("reserve", ask("MK-IL-S"))
    client.call("write_off", ask("MK-IL-S"))
    assert client.call("reserve", ask("MK-IL-S")).reason == "already-written-off"
    assert client.call("delete", ask("MK-IL-S")).reason == "already-written-off"


def test_agency_counts_what_another_office_drew(agencies: Agencies) -> None:
    """Quantity written off elsewhere (unknown to the gateway) is not available here."""
    agencies.licence("MK-IL-E")
    agencies.register.consume_elsewhere("agency-trade", "MK-IL-E", 1, Decimal("9.5"),
                                        "26MK00200500000777")
    answer = agencies.client().call("reserve", ask("MK-IL-E"))
    assert (answer.result, answer.reason, answer.available) == \
        ("refused", "insufficient-quantity", Decimal("0.500"))


def test_certificate_in_kilograms_is_reserved_by_net_mass(agencies: Agencies) -> None:
    """A phytosanitary certificate the agency issued (SPS, 18,000 kg of apples on line 1)."""
    document = build_sps_certificate(number="RS-PC-A1", lines=1, hs_codes=["080810"],
                                     quantities=["18000"], signer=XmlSigner(
                                         load_signing_key(agencies.settings, "agency-phyto")))
    assert agencies.issue(document, "agency-phyto").status_code == 201
    client = agencies.client("agency-phyto")
    request = replace(ask("RS-PC-A1", quantity="17999.5", unit="KGM", hs="08081080",
                          holder=None), agency="agency-phyto")
    answer = client.call("reserve", request)
    assert (answer.result, answer.available, answer.unit) == ("reserved", Decimal("0.5"), "KGM")


def test_agency_over_soap_12_answers_the_same(agencies: Agencies) -> None:
    """The SOAP 1.2 port answers like the 1.1 one."""
    agencies.licence("MK-IL-12")
    answer = agencies.client(soap12=True).call("reserve", ask("MK-IL-12"))
    assert answer.result == "reserved"


def test_forty_racing_reservations_never_overdraw_the_licence(agencies: Agencies) -> None:
    """40 threads × 1 t on line 1 (10 t): 10 reserved, 30 refused, nothing left, never more."""
    agencies.licence("MK-IL-RACE")
    results: list[str] = []
    lock = threading.Lock()

    def reserve(n: int) -> None:
        answer = agencies.client().call("reserve", ask("MK-IL-RACE",
                                                       mrn=f"26MK001005{n:08d}"))
        with lock:
            results.append(answer.result if answer.result == "reserved" else answer.reason or "")

    threads = [threading.Thread(target=reserve, args=(n,)) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(set(results)) == ["insufficient-quantity", "reserved"]
    assert results.count("reserved") == 10 and len(results) == 40
    line = agencies.status("MK-IL-RACE")["lines"][0]
    assert (Decimal(line["available"]), len(line["usage"])) == (Decimal(0), 10)


def test_unsigned_request_is_a_wss_fault_and_nothing_is_reserved(agencies: Agencies) -> None:
    """A request without WS-Security gets a SOAP fault with the WSS code, signed by the agency."""
    agencies.licence("MK-IL-W")
    body = (f'<s:Envelope xmlns:s="{SOAP11}"><s:Body><a:WriteOff xmlns:a="{AGENCY_NS}">'
            f'<a:LicenceNumber>MK-IL-W</a:LicenceNumber><a:MRN>26MK00100500000001</a:MRN>'
            f'<a:GoodsItemNumber>1</a:GoodsItemNumber></a:WriteOff></s:Body></s:Envelope>')
    response = requests.post(f"{agencies.base}/agency/agency-trade/soap", data=body.encode(),
                             headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=10)
    assert response.status_code == 500
    fault = etree.fromstring(response.content)
    assert fault.findtext(f".//{{{SOAP11}}}Fault/faultcode").endswith(":InvalidSecurity")
    assert fault.find(".//{http://www.w3.org/2000/09/xmldsig#}Signature") is not None
    assert agencies.register.reservations("agency-trade") == []


def test_client_refuses_an_answer_signed_by_another_key(agencies: Agencies) -> None:
    """The client trusting another agency's certificate refuses the answer: SignatureInvalid."""
    agencies.licence("MK-IL-K")
    with pytest.raises(SignatureInvalid):
        agencies.client(trusted="agency-vet").call("reserve", ask("MK-IL-K"))


def test_request_signed_by_another_key_is_refused_by_the_agency(agencies: Agencies) -> None:
    """Signed with the bank's key, not the gateway's: the agency answers a fault (PartnerFault)
    and reserves nothing."""
    agencies.licence("MK-IL-F")
    trust = TrustStore()
    trust.add_pem_file("agency-trade", agencies.settings.keys_dir / "agency-trade.crt")
    stranger = AgencyClient(f"{agencies.base}/agency/agency-trade/soap?wsdl",
                            load_signing_key(agencies.settings, "bank-demo"), trust,
                            "agency-trade")
    with pytest.raises(PartnerFault):
        stranger.call("reserve", ask("MK-IL-F"))
    assert agencies.register.reservations("agency-trade") == []


def test_unreachable_agency_is_retryable(settings: Settings) -> None:
    """Nothing listening: ServiceUnavailable (GW-PARTNER-UNAVAILABLE), retryable."""
    trust = TrustStore()
    client = AgencyClient(f"http://127.0.0.1:{free_port()}/agency/agency-trade/soap?wsdl",
                          load_signing_key(settings, "gateway"), trust, "agency-trade",
                          timeout=2)
    with pytest.raises(ServiceUnavailable) as caught:
        client.call("reserve", ask("MK-IL-X"))
    assert caught.value.code == "GW-PARTNER-UNAVAILABLE" and caught.value.retryable


def test_register_refuses_a_licence_the_agency_did_not_sign(agencies: Agencies) -> None:
    """The agency keeps only documents signed with its own key."""
    document = build_licence(number="MK-IL-FOREIGN", signer=XmlSigner(
        load_signing_key(agencies.settings, "agency-phyto")))
    response = agencies.issue(document)
    assert response.status_code == 400 and response.json()["code"].startswith("GW-SIGNATURE")
    assert httpx.get(f"{agencies.base}/agency/agency-trade/licences/MK-IL-FOREIGN",
                     timeout=5).status_code == 404
