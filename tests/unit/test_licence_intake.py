"""Licences and certificates through the intake's own pipelines, on fakes (no network).

The agencies of ``config/partners.toml`` with keys made for the test: a certificate signed by
its agency is accepted and kept; an unsigned one is ``401 GW-SIGNATURE-REQUIRED``; a changed,
foreign or unknown signature is refused with the verifier's code; a certificate type the
agency may not issue is ``403 GW-AUTH-DOCUMENT-TYPE`` at its TypeCode; what the mapping reads
is what was signed, with the lines of the document as received. The same over real HTTP:
``tests/integration/test_licences_http.py``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import pytest
from lxml import etree

from adapters.bootstrap import load_formats
from gateway.bus_topology import Topology
from gateway.errors import ConfigurationError
from gateway.flows.licences.intake_effect import LicenceIntake
from gateway.metrics import RecordingMetrics
from gateway.partners import PartnerRegistry, hash_token, parse_registry, write_credentials
from gateway.pipeline.assembly import intake_pipelines
from gateway.pipeline.exchange import Exchange
from gateway.pipeline.intake import Answer, IntakeService
from gateway.routing import RoutingTable
from gateway.settings import Settings
from gateway.signing.keys import SigningKey, TrustStore, generate_key_pair
from gateway.signing.xmldsig import XmlSigner
from gateway.xml.safe_parser import XmlLimits
from samples.licence import build_licence
from samples.sps import build_sps_certificate
from tests.fake_licence_store import FakeLicenceStore
from tests.fakes import FakeJournal

SETTINGS = Settings()
AGENCIES = ("agency-phyto", "agency-vet", "agency-trade")
TOKENS = {name: f"tok-{name}-0123456789" for name in (*AGENCIES, "broker-alpha")}


@dataclass
class World:
    partners: PartnerRegistry
    keys: dict[str, XmlSigner]
    stranger: XmlSigner                      # a key no partner registered
    trust: TrustStore
    gateway_key: SigningKey

    def intake(self) -> tuple[IntakeService, FakeJournal, FakeLicenceStore]:
        registry, mappings, kinds = load_formats(SETTINGS)
        topology = Topology.load(SETTINGS.config_dir / "topology.toml")
        pipelines = intake_pipelines(
            partners=self.partners, limits=XmlLimits(), registry=registry, mappings=mappings,
            kinds=kinds, routing=RoutingTable.load(SETTINGS.config_dir / "routes.toml"),
            parking_exchange=topology.parking_exchange, bus_key=self.gateway_key,
            trust=self.trust)
        journal, store = FakeJournal(), FakeLicenceStore()
        journal.flows["licences"] = store
        return IntakeService(front=pipelines.front, back=pipelines.back, journal=journal,
                             signer=XmlSigner(self.gateway_key), metrics=RecordingMetrics(),
                             effects={"licence": LicenceIntake()}), journal, store


def _key(directory: Path, name: str) -> SigningKey:
    key_pem, cert_pem = generate_key_pair(f"{name}.test", name)
    (directory / f"{name}.key").write_bytes(key_pem)
    (directory / f"{name}.crt").write_bytes(cert_pem)
    return SigningKey.load(directory / f"{name}.key", directory / f"{name}.crt")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    directory = tmp_path_factory.mktemp("licence-intake")
    credentials = directory / "credentials.toml"
    write_credentials(credentials, {p: [hash_token(t)] for p, t in TOKENS.items()})
    partners = PartnerRegistry.load(SETTINGS.config_dir / "partners.toml", credentials)
    trust, keys = TrustStore(), {}
    for name in AGENCIES:
        key = _key(directory, name)
        trust.add(name, key.certificate)
        keys[name] = XmlSigner(key)
    return World(partners, keys, XmlSigner(_key(directory, "stranger")), trust,
                 _key(directory, "gateway"))


def submit(intake: IntakeService, body: bytes, partner: str) -> Answer:
    return asyncio.run(intake.submit(Exchange(body=body, channel="http",
                                              authorization=f"Bearer {TOKENS[partner]}")))


def test_signed_certificate_from_its_agency_is_accepted_kept_and_routed(world: World) -> None:
    """agency-phyto's signed 851 certificate: 202, kept under its number, routed to clearance."""
    intake, journal, store = world.intake()
    answer = submit(intake, build_sps_certificate(signer=world.keys["agency-phyto"]),
                    "agency-phyto")
    assert (answer.http_status, answer.accepted) == (202, True), answer.content
    kept = store.licences[("agency-phyto", "RS-PC-2026-004711")]
    assert (kept.type, kept.certificate_type_code, kept.status, len(kept.lines)) == (
        "phytosanitary", "851", "issued", 2)
    (outbound,) = journal.recorded[0].outbox
    assert (outbound.exchange, outbound.routing_key, outbound.kind) == (
        "customs.clearance", "licence.phytosanitary.agency-phyto", "licence")
    assert outbound.headers["x-reference"] == "RS-PC-2026-004711"


def test_unsigned_licence_is_refused_as_unauthenticated(world: World) -> None:
    """No signature at all: 401 GW-SIGNATURE-REQUIRED, nothing journaled or kept."""
    intake, journal, store = world.intake()
    answer = submit(intake, build_licence(), "agency-trade")
    assert (answer.http_status, answer.content["code"]) == (401, "GW-SIGNATURE-REQUIRED")
    assert answer.content["problems"][0]["pointer"] == "/Licence"
    assert journal.recorded == [] and store.licences == {}


@pytest.mark.parametrize(("signer", "tamper", "code"), [
    ("agency-trade", True, "GW-SIGNATURE-DIGEST"),            # changed after signing
    ("agency-phyto", False, "GW-SIGNATURE-WRONG-SIGNER"),     # another agency's key
    ("stranger", False, "GW-SIGNATURE-UNKNOWN-KEY"),          # a key nobody registered
])
def test_wrongly_signed_licence_is_refused_with_the_verifiers_code(
        world: World, signer: str, tamper: bool, code: str) -> None:
    """A licence whose signature does not prove agency-trade signed this content: 400."""
    intake, journal, store = world.intake()
    key = world.stranger if signer == "stranger" else world.keys[signer]
    body = build_licence(signer=key)
    if tamper:
        body = body.replace(b">6.000<", b">600.000<")
    answer = submit(intake, body, "agency-trade")
    assert (answer.http_status, answer.content["code"]) == (400, code)
    assert journal.recorded == [] and store.licences == {}


def test_certificate_type_the_agency_may_not_issue_is_forbidden_where_stated(
        world: World) -> None:
    """agency-phyto sends a CHED (636), which only agency-vet may: 403 at the TypeCode."""
    intake, journal, _ = world.intake()
    answer = submit(intake, build_sps_certificate(type_code="636",
                                                  signer=world.keys["agency-phyto"]),
                    "agency-phyto")
    assert (answer.http_status, answer.content["code"]) == (403, "GW-AUTH-DOCUMENT-TYPE")
    (problem,) = answer.content["problems"]
    assert (problem["pointer"], problem["value"]) == (
        "/SPSCertificate/SPSExchangedDocument/TypeCode", "636")
    assert problem["line"] and journal.recorded == []
    vet = submit(intake, build_sps_certificate(type_code="636", signer=world.keys["agency-vet"]),
                 "agency-vet")
    assert vet.http_status == 202, vet.content


def test_signed_document_problems_point_at_the_lines_received(world: World) -> None:
    """An unknown unit in a signed, pretty-printed licence is reported at its own line."""
    intake, _, _ = world.intake()
    pretty = etree.tostring(etree.fromstring(build_licence(
        lines=[("72083900", "Coils", "6", "TNE"), ("72142000", "Rebar", "4", "XYZ")])),
        pretty_print=True)
    body = world.keys["agency-trade"].sign_to_bytes(etree.fromstring(pretty))
    answer = submit(intake, body, "agency-trade")
    (problem,) = answer.content["problems"]
    assert problem["code"] == "GW-MAP-UNIT"
    lines = body.split(b"\n")
    assert b'unitCode="XYZ"' in lines[problem["line"] - 1]


def test_unsigned_message_types_are_not_asked_for_a_signature(world: World) -> None:
    """A broker's declaration (signature none) passes the signature step untouched."""
    from samples.wco import build_dec

    intake, _, _ = world.intake()
    answer = submit(intake, build_dec(1, lrn="LRN-NO-SIG-1"), "broker-alpha")
    assert answer.http_status == 202, answer.content


def test_partner_document_types_must_be_lists_of_message_types_it_may_send() -> None:
    """allowed_document_types naming a type the partner may not send, or not a list, stops."""
    head = '[[partner]]\nid = "a"\nkind = "agency"\nallowed_message_types = ["licence-1"]\n'
    with pytest.raises(ConfigurationError, match="may not send at all"):
        parse_registry(head + 'allowed_document_types = { "sps-certificate-17" = ["851"] }\n',
                       None)
    with pytest.raises(ConfigurationError, match="list of type strings"):
        parse_registry(head + 'allowed_document_types = { "licence-1" = "import" }\n', None)
    partners, _ = parse_registry(head + 'allowed_document_types = { "licence-1" = ["import"] }\n',
                                 None)
    agency = partners["a"]
    assert agency.may_issue("licence-1", "import") and not agency.may_issue("licence-1", "export")
    assert agency.may_issue("other-type", "anything")
