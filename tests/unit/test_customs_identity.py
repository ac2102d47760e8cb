"""Signed-document identity (gateway/pipeline/identity.py): a customs administration's CD
message names its partner by the certificate that verifies it — never by a token, never by what
it says about itself — through the same intake as every other message.

The registry, schemas, mappings and routes are the repository's; the partners are written for
the test (two certificates for Serbia, for rotation; Albania, another trusted administration; an
agency, a token partner that also has a key); keys are generated here; the journal is a fake.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import pytest
from lxml import etree

from adapters.bootstrap import load_formats
from gateway.documents.answers import AnswerFormats, GatewayReceipts
from gateway.documents.ncts_answers import NctsAnswers
from gateway.errors import ConfigurationError, Unauthenticated
from gateway.metrics import RecordingMetrics
from gateway.partners import PartnerRegistry, hash_token, write_credentials
from gateway.pipeline.assembly import intake_pipelines
from gateway.pipeline.exchange import Exchange
from gateway.pipeline.intake import Answer, IntakeService
from gateway.pipeline.steps import document_digest
from gateway.routing import RoutingTable
from gateway.settings import Settings
from gateway.signing.keys import SigningKey, TrustStore, generate_key_pair
from gateway.signing.xmldsig import DS, XmlSigner
from gateway.xml.safe_parser import XmlLimits
from tests.fakes import FakeJournal
from tests.support import transit

SETTINGS = Settings()
CD_TYPES = '["ncts-p5-cd001c", "ncts-p5-cd006c", "ncts-p5-cd018c", "ncts-p5-cd118c", ' \
           '"ncts-p5-cd906c"]'
PARTNERS = f"""
[[partner]]
id = "customs-rs"
kind = "customs"
identity = "signature"
country = "RS"
allowed_message_types = {CD_TYPES}
certificates = ["rs.crt", "rs-next.crt"]

[[partner]]
id = "customs-al"
kind = "customs"
identity = "signature"
country = "AL"
allowed_message_types = {CD_TYPES}
certificates = ["al.crt"]

[[partner]]
id = "agency-phyto"
kind = "agency"
allowed_message_types = ["sps-certificate-17", "ncts-p5-cd006c"]
certificates = ["agency.crt"]
"""


@dataclass
class World:
    keys: dict[str, SigningKey]
    partners: PartnerRegistry
    intake: IntakeService
    journal: FakeJournal


def _key(directory: Path, name: str) -> SigningKey:
    key_pem, cert_pem = generate_key_pair(f"{name}.test", name)
    (directory / f"{name}.key").write_bytes(key_pem)
    (directory / f"{name}.crt").write_bytes(cert_pem)
    return SigningKey.load(directory / f"{name}.key", directory / f"{name}.crt")


@pytest.fixture(scope="module")
def formats() -> tuple:
    return load_formats(SETTINGS)


@pytest.fixture
def world(tmp_path: Path, formats: tuple) -> World:
    keys = {name: _key(tmp_path, name)
            for name in ("gateway", "rs", "rs-next", "al", "agency", "stranger")}
    (tmp_path / "partners.toml").write_text(PARTNERS, encoding="utf-8")
    credentials = tmp_path / "credentials.toml"
    write_credentials(credentials, {"agency-phyto": [hash_token("tok-agency-0123456789")],
                                    "customs-rs": [hash_token("tok-rs-0123456789")]})
    partners = PartnerRegistry.load(tmp_path / "partners.toml", credentials)
    trust = TrustStore()
    for partner in partners.partners.values():
        for cert in partner.certificates:
            trust.add_pem_file(partner.id, tmp_path / cert)
    registry, mappings, kinds = formats
    pipelines = intake_pipelines(
        partners=partners, limits=XmlLimits(), registry=registry, mappings=mappings,
        kinds=kinds, routing=RoutingTable.load(SETTINGS.config_file("routes.toml")),
        parking_exchange="gateway.parking", bus_key=keys["gateway"], trust=trust)
    journal = FakeJournal()
    intake = IntakeService(front=pipelines.front, back=pipelines.back, journal=journal,
                           signer=XmlSigner(keys["gateway"]), metrics=RecordingMetrics(),
                           answers=AnswerFormats((GatewayReceipts(), NctsAnswers("MK"))))
    return World(keys, partners, intake, journal)


def _submit(world: World, body: bytes) -> tuple[Answer, Exchange]:
    ex = Exchange(body=body, channel="amqp", identity="signature")
    return asyncio.run(world.intake.submit(ex)), ex


def _arrival_advice(**changes: str) -> etree._Element:
    return transit.message("cd006c", sender=changes.pop("sender", "NTA.RS"), **changes)


# --- who it is -----------------------------------------------------------------------------


def test_signed_cd_message_is_from_the_owner_of_the_verifying_certificate(world: World) -> None:
    """A CD006C signed with Serbia's key is accepted as customs-rs's, over the amqp channel,
    with no token; the journal keeps the signed bytes as received."""
    body = transit.signed(_arrival_advice(), world.keys["rs"])

    answer, ex = _submit(world, body)

    assert answer.accepted, answer.content
    assert ex.partner is not None and ex.partner.id == "customs-rs"
    assert ex.signer_key_id == world.keys["rs"].key_id
    (stored,) = world.journal.recorded
    assert (stored.partner_id, stored.channel, stored.message_type) == (
        "customs-rs", "amqp", "ncts-p5-cd006c")
    assert stored.body == body


def test_either_listed_certificate_verifies_for_rotation(world: World) -> None:
    """Both of Serbia's certificates (current and next) are Serbia's."""
    for key in ("rs", "rs-next"):
        answer, ex = _submit(world, transit.signed(_arrival_advice(), world.keys[key]))
        assert answer.accepted and ex.partner is not None and ex.partner.id == "customs-rs"
    assert len(world.journal.recorded) == 2


def test_administration_not_in_the_trust_store_is_refused(world: World) -> None:
    """A key no partner lists is nobody: GW-SIGNATURE-UNKNOWN-KEY, nothing journaled."""
    answer, ex = _submit(world, transit.signed(_arrival_advice(), world.keys["stranger"]))

    assert not answer.accepted and answer.error is not None
    assert answer.error.code == "GW-SIGNATURE-UNKNOWN-KEY"
    assert ex.partner is None and world.journal.recorded == []


def test_key_of_a_token_partner_does_not_make_an_administration(world: World) -> None:
    """An agency's key verifies, but the agency proves who it is by token: refused."""
    answer, _ = _submit(world, transit.signed(_arrival_advice(), world.keys["agency"]))

    assert answer.error is not None and answer.error.code == "GW-AUTH-UNAUTHENTICATED"
    assert "does not prove who it is by signing" in answer.error.message
    assert world.journal.recorded == []


def test_message_signed_by_another_administration_than_its_sender_is_refused(
        world: World) -> None:
    """Albania is trusted, but may not sign what names NTA.RS as its sender: GW-AUTH-SENDER
    (403), located at messageSender."""
    answer, ex = _submit(world, transit.signed(_arrival_advice(), world.keys["al"]))

    assert answer.error is not None and answer.error.code == "GW-AUTH-SENDER"
    assert answer.http_status == 403
    assert ex.partner is not None and ex.partner.id == "customs-al"
    (problem,) = answer.error.problems
    assert (problem.pointer, problem.value) == ("/CD006C/messageSender", "NTA.RS")
    assert world.journal.recorded == []


def test_unsigned_cd_message_is_refused(world: World) -> None:
    """No signature, no identity: GW-SIGNATURE-MISSING."""
    answer, ex = _submit(world, etree.tostring(_arrival_advice()))

    assert answer.error is not None and answer.error.code == "GW-SIGNATURE-MISSING"
    assert ex.partner is None


def test_cd_message_changed_after_signing_is_refused(world: World) -> None:
    """One value changed after the signature: GW-SIGNATURE-DIGEST."""
    body = transit.signed(_arrival_advice(), world.keys["rs"])
    changed = body.replace(b"RS002000", b"RS003005")
    assert changed != body

    answer, _ = _submit(world, changed)

    assert answer.error is not None and answer.error.code == "GW-SIGNATURE-DIGEST"


def test_administration_may_send_only_its_allowed_types(world: World) -> None:
    """Serbia may not lodge a trader's CC015C: GW-AUTH-FORBIDDEN."""
    declaration = transit.message("cc015c_mk_rs")
    answer, ex = _submit(world, transit.signed(declaration, world.keys["rs"]))

    assert answer.error is not None and answer.error.code == "GW-AUTH-FORBIDDEN"
    assert ex.partner is not None and ex.partner.id == "customs-rs"


# --- what is acted on ------------------------------------------------------------------------


def test_the_verified_element_is_the_document(world: World) -> None:
    """What the pipeline reads is the signed element without its signature and without the
    Id the signature references; its digest is that of the business document."""
    advice = _arrival_advice()
    answer, ex = _submit(world, transit.signed(advice, world.keys["rs"]))

    assert answer.accepted
    assert ex.document is not None and ex.document.get("Id") is None
    assert ex.document.find(f"{{{DS}}}Signature") is None
    assert ex.document_digest == document_digest(advice)
    assert ex.document.sourceline is not None and ex.document.sourceline > 1


def test_same_message_signed_twice_is_one_message(world: World) -> None:
    """ECDSA signs differently each time; the same message (same id, same content) signed
    again is a repeat: the original receipt, nothing journaled twice."""
    advice = _arrival_advice()
    first, _ = _submit(world, transit.signed(advice, world.keys["rs"]))
    again, _ = _submit(world, transit.signed(advice, world.keys["rs-next"]))

    assert first.accepted and again.accepted and again.duplicate
    assert again.document == first.document
    assert len(world.journal.recorded) == 1


def test_message_id_used_for_another_document_is_a_conflict(world: World) -> None:
    """The same messageIdentification with other content: GW-DUPLICATE-CONFLICT (409)."""
    advice = _arrival_advice()
    _submit(world, transit.signed(advice, world.keys["rs"]))
    other = _arrival_advice(message_id=advice.findtext("messageIdentification") or "",
                            offices={"CustomsOfficeOfDestinationActual": "RS003005"})

    answer, _ = _submit(world, transit.signed(other, world.keys["rs"]))

    assert answer.error is not None and answer.error.code == "GW-DUPLICATE-CONFLICT"
    assert len(world.journal.recorded) == 1


# --- the registry ----------------------------------------------------------------------------


def test_token_of_a_signature_partner_is_refused(world: World) -> None:
    """A token issued for customs-rs by mistake opens nothing: its identity is its signature."""
    with pytest.raises(Unauthenticated, match="proves who it is with a signature"):
        world.partners.authenticate("Bearer tok-rs-0123456789")
    assert world.partners.authenticate("Bearer tok-agency-0123456789").id == "agency-phyto"


@pytest.mark.parametrize(("entry", "says"), [
    ('kind = "customs"\nidentity = "certificate"\ncountry = "RS"', "identity must be one of"),
    ('kind = "customs"\nidentity = "signature"\ncountry = "RS"', "needs the partner's cert"),
    ('kind = "customs"\nidentity = "signature"\ncertificates = ["x.crt"]', "names its country"),
    ('kind = "customs"\nidentity = "signature"\ncertificates = ["x.crt"]\ncountry = "Serbia"',
     "two capital letters"),
])
def test_identity_entries_are_checked(tmp_path: Path, entry: str, says: str) -> None:
    """An unknown identity, a signature without certificates, an administration without its
    country or with a malformed one: the registry is refused, saying why."""
    path = tmp_path / "partners.toml"
    path.write_text(f'[[partner]]\nid = "customs-x"\n{entry}\n', encoding="utf-8")
    with pytest.raises(ConfigurationError, match=says):
        PartnerRegistry.load(path, None)


def test_repository_neighbour_is_a_signature_partner() -> None:
    """config/partners.toml lists Serbia as a customs administration known by its signature,
    with its certificate and the CD message types."""
    partners = PartnerRegistry.load(SETTINGS.config_file("partners.toml"), None)
    rs = partners.get("customs-rs")
    assert (rs.kind, rs.identity, rs.country, rs.certificates) == (
        "customs", "signature", "RS", ("peers/customs-rs.crt",))
    assert rs.may_send("ncts-p5-cd006c") and not rs.may_send("ncts-p5-cc015c")
    assert partners.get("broker-alpha").identity == "token"
