"""The licence story end to end (flow F3): certificates and licences drawn on, never over.

The gateway runs in sandbox mode (real HTTP, the real RabbitMQ, the clearance stand-in as a
real consumer waiting for reservations, the permit agencies as real SOAP servers mounted on
the gateway) on an SQLite and on a PostgreSQL journal. The test is the agencies (they issue
a phytosanitary certificate and a 10 t steel import licence in their own register, and send
them signed to the gateway) and the broker (declarations quoting them). A queue of the test's
own, bound beside the clearance stand-in's, receives a copy of every reservation event the
gateway tells clearance, whose detached signatures the test checks.
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pika
import pytest
from conftest import RunningGateway, start_gateway, wait_for
from lxml import etree

from adapters.bootstrap import load_signing_key
from adapters.standins.clearance_ledger import ClearanceLedger, ledger_path
from gateway.settings import Settings
from gateway.signing.detached import verify_body
from gateway.signing.keys import TrustStore
from gateway.signing.xmldsig import XmlSigner, verify_enveloped
from samples.licence import build_licence
from samples.licensed import IMPORTER_ID, build_licensed_dec
from samples.sps import build_sps_certificate

pytestmark = pytest.mark.e2e

BROKER = "broker-alpha"
GW = {"gw": "urn:customs-gateway:v1"}
XML = {"Content-Type": "application/xml"}


@dataclasses.dataclass
class Sandbox:
    running: RunningGateway
    tokens: dict[str, str]
    channel: Any
    tap: str
    trust: TrustStore

    @property
    def settings(self) -> Settings:
        return self.running.settings

    def issue(self, agency: str, document: bytes) -> None:
        """The agency keeps what it issues, then sends it (signed) to the gateway."""
        with httpx.Client(base_url=self.running.base_url, timeout=30) as client:
            kept = client.post(f"/agency/{agency}/licences", content=document)
        assert kept.status_code == 201, kept.text
        self.post(agency, document)

    def post(self, partner: str, body: bytes) -> str:
        with self.running.client(self.tokens[partner]) as client:
            response = client.post("/v1/messages", content=body, headers=XML)
        assert response.status_code == 202, response.text[:2000]
        return response.headers["X-Conversation-ID"]

    def listing(self, conversation_id: str) -> dict[str, Any]:
        with self.running.client(self.tokens[BROKER], Accept="application/json") as client:
            response = client.get(f"/v1/conversations/{conversation_id}/notifications")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def until(self, conversation_id: str, kind: str, timeout: float = 30.0) -> dict[str, Any]:
        def listed() -> dict[str, Any] | None:
            data = self.listing(conversation_id)
            return data if kind in [n["kind"] for n in data["notifications"]] else None
        return dict(wait_for(listed, timeout=timeout))

    def notice(self, data: dict[str, Any], kind: str) -> etree._Element:
        """The one ``kind`` notification's signed document, verified."""
        (found,) = [n for n in data["notifications"] if n["kind"] == kind]
        return verify_enveloped(etree.fromstring(found["document"].encode()), self.trust,
                                owner="gateway").element

    def agency(self, path: str) -> Any:
        with httpx.Client(base_url=self.running.base_url, timeout=30) as client:
            return client.get(path).json()

    def tapped(self, until: Any, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Reservation events to clearance, each verified, until ``until(events)`` holds."""
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not until(got):
            method, properties, body = self.channel.basic_get(self.tap, auto_ack=True)
            if method is None:
                time.sleep(0.05)
                continue
            verify_body(self.trust, body, properties.headers, owner="gateway")
            got.append({"routing_key": method.routing_key, **json.loads(body)})
        assert until(got), got
        return got


@pytest.fixture(params=["sqlite", "postgresql"])
def sandbox(request: pytest.FixtureRequest, settings: Settings, rabbitmq: str,
            tokens: dict[str, str]) -> Iterator[Sandbox]:
    if request.param == "postgresql":
        settings = settings.with_(db_url=request.getfixturevalue("postgres_url"))
    running = start_gateway(settings, sandbox=True)
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    channel = connection.channel()
    tap = f"{settings.amqp_prefix}test.reservations-tap"
    channel.queue_declare(tap, auto_delete=True)
    channel.queue_bind(tap, f"{settings.amqp_prefix}customs.clearance", "licence.reservation.#")
    trust = TrustStore()
    trust.add("gateway", load_signing_key(settings, "gateway").certificate)
    yield Sandbox(running, tokens, channel, tap, trust)
    channel.queue_delete(tap)                  # auto_delete never fires without a consumer
    connection.close()
    running.stop()


def _signer(sandbox: Sandbox, agency: str) -> XmlSigner:
    return XmlSigner(load_signing_key(sandbox.settings, agency))


def _steel(sandbox: Sandbox, number: str, tonnes: str = "10.000") -> None:
    sandbox.issue("agency-trade", build_licence(
        number=number, holder=(IMPORTER_ID, "Vardar Trade DOO Skopje"), valid_to="2099-12-31",
        lines=(("72083900", "Hot-rolled coils", tonnes, "TNE"),),
        signer=_signer(sandbox, "agency-trade")))


def _declare(sandbox: Sandbox, hs: str, kg: str, code: tuple[str, str], number: str,
             suffix: str = "", **values: Any) -> str:
    lrn = f"LIC-{uuid.uuid4().hex[:10].upper()}{suffix}"
    return sandbox.post(BROKER, build_licensed_dec(lrn, [(hs, kg, [(*code, number)])],
                                                   **values))


def test_certificate_and_licence_backed_declarations_released_and_the_rest_refused(
        sandbox: Sandbox) -> None:
    """Apples on a phytosanitary certificate and 6 t of steel on a 10 t licence are released
    once reserved, and written off at the agencies; 5 t more of steel is refused (insufficient
    quantity, 4 t left): the broker's signed LIC says so, and clearance does not release."""
    run = uuid.uuid4().hex[:6].upper()
    certificate, licence = f"RS-PC-{run}", f"MK-IL-{run}"
    sandbox.issue("agency-phyto", build_sps_certificate(
        number=certificate, lines=1, hs_codes=["080810"], quantities=["18000"],
        signer=_signer(sandbox, "agency-phyto")))
    _steel(sandbox, licence)
    apples = _declare(sandbox, "08081080", "12000", ("N", "851"), certificate)
    steel = _declare(sandbox, "72083900", "6000", ("X", "002"), licence)
    for conversation in (apples, steel):
        kinds = [n["kind"] for n in sandbox.until(conversation, "RES")["notifications"]]
        assert kinds == ["ACC", "CTL", "TAX", "RES"]
    more = _declare(sandbox, "72083900", "5000", ("X", "002"), licence)
    refused = sandbox.until(more, "LIC")
    document = sandbox.notice(refused, "LIC")
    assert document.findtext(".//gw:Reason/gw:Code", namespaces=GW) == "insufficient-quantity"
    assert document.findtext(".//gw:Available", namespaces=GW) == "4.000"
    events = sandbox.tapped(lambda got: sum(e["event"] == "written_off" for e in got) >= 2
                            and any(e["event"] == "refused" for e in got))
    assert {(e["event"], e["number"]) for e in events} >= {
        ("reserved", certificate), ("reserved", licence), ("written_off", certificate),
        ("written_off", licence), ("refused", licence)}
    time.sleep(1.0)                                 # clearance had its chance to release
    assert "RES" not in [n["kind"] for n in sandbox.listing(more)["notifications"]]
    steel_line = sandbox.agency(f"/agency/agency-trade/licences/{licence}")["lines"][0]
    assert steel_line["available"] == "4.000"
    assert [u["state"] for u in steel_line["usage"]] == ["written_off"]
    apples_line = sandbox.agency(f"/agency/agency-phyto/licences/{certificate}")["lines"][0]
    assert apples_line["available"] == "6000"


def test_invalidated_declaration_gives_its_quantity_back(sandbox: Sandbox) -> None:
    """A declaration clearance invalidates after its reservation: INV to the broker, the
    reservation deleted at the agency, the quantity available again."""
    licence = f"MK-IL-{uuid.uuid4().hex[:6].upper()}"
    _steel(sandbox, licence)
    conversation = _declare(sandbox, "72083900", "3000", ("X", "002"), licence,
                            suffix="-INVALIDATE")
    assert [n["kind"] for n in sandbox.until(conversation, "INV")["notifications"]] == \
        ["ACC", "CTL", "TAX", "INV"]
    sandbox.tapped(lambda got: any(e["event"] == "deleted" for e in got))
    wait_for(lambda: [r["state"] for r in sandbox.agency(
        "/agency/agency-trade/reservations") if r["number"] == licence] == ["deleted"])
    line = sandbox.agency(f"/agency/agency-trade/licences/{licence}")["lines"][0]
    assert line["available"] == "10.000"


def test_revocation_after_reservation_reaches_the_broker_and_holds_the_release(
        sandbox: Sandbox) -> None:
    """Reserved, the release waiting for the duties to be paid; the agency revokes the licence:
    the broker gets a signed LIC (licence_revoked), clearance a signed event, and clearance's
    wait for that reservation fails — it will not release."""
    licence = f"MK-IL-{uuid.uuid4().hex[:6].upper()}"
    _steel(sandbox, licence)
    conversation = _declare(sandbox, "72083900", "2000", ("X", "002"), licence, deferment=None)
    sandbox.until(conversation, "TAX")
    sandbox.tapped(lambda got: any(e["event"] == "reserved" for e in got))
    sandbox.issue("agency-trade", build_licence(
        number=licence, version=2, status="revoked", revoked_at="2026-06-01T00:00:00Z",
        holder=(IMPORTER_ID, "Vardar Trade DOO Skopje"), valid_to="2099-12-31",
        lines=(("72083900", "Hot-rolled coils", "10.000", "TNE"),),
        signer=_signer(sandbox, "agency-trade")))
    notice = sandbox.notice(sandbox.until(conversation, "LIC"), "LIC")
    assert notice.findtext(".//gw:Event", namespaces=GW) == "licence_revoked"
    (event,) = [e for e in sandbox.tapped(lambda got: any(
        e["event"] == "licence_revoked" for e in got)) if e["event"] == "licence_revoked"]
    assert (event["conversation_id"], event["state"]) == (conversation, "reserved")
    ledger = ClearanceLedger(ledger_path(sandbox.settings.var_dir))
    condition = f"reservation:agency-trade:{licence}:1"
    wait_for(lambda: ledger.conditions(conversation).get(condition) == "failed")
    ledger.close()
