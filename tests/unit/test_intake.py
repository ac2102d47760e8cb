"""The intake service (gateway.pipeline.intake) wired as ``build_gateway`` wires it.

The registry, schemas, mappings, partners and routes are the repository's own (``config/``,
``schemas/``, ``mappings/``); the signing key is generated for the test; partner tokens are
written to a credentials file in ``tmp_path``; the journal is ``tests.fakes.FakeJournal``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from lxml import etree

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # allow a bare `pytest` run without an installed package
    sys.path.insert(0, str(ROOT))

from adapters.bootstrap import load_formats  # noqa: E402
from gateway import metrics as m  # noqa: E402
from gateway.bus_topology import Topology  # noqa: E402
from gateway.documents.receipts import GW_NS  # noqa: E402
from gateway.message_types import compile_schema  # noqa: E402
from gateway.metrics import RecordingMetrics  # noqa: E402
from gateway.partners import PartnerRegistry, hash_token, write_credentials  # noqa: E402
from gateway.pipeline.assembly import intake_pipelines  # noqa: E402
from gateway.pipeline.exchange import Exchange  # noqa: E402
from gateway.pipeline.intake import Answer, IntakeService  # noqa: E402
from gateway.routing import Route, RoutingTable  # noqa: E402
from gateway.settings import Settings  # noqa: E402
from gateway.signing.detached import KEY_ID, SIGNATURE, verify_body  # noqa: E402
from gateway.signing.keys import SigningKey, TrustStore, generate_key_pair  # noqa: E402
from gateway.signing.xmldsig import XmlSigner, verify_enveloped  # noqa: E402
from gateway.xml.safe_parser import XmlLimits  # noqa: E402
from samples.asycuda import build_sad  # noqa: E402
from samples.wco import build_dec  # noqa: E402
from tests.fakes import FakeJournal  # noqa: E402

GW = {"gw": GW_NS}
SETTINGS = Settings()
TOKENS = {"broker-alpha": "tok-alpha-0123456789", "broker-legacy": "tok-legacy-0123456789",
          "bank-demo": "tok-bank-0123456789"}
INVALID_WCO = ROOT / "tests" / "fixtures" / "wco" / "dec_invalid_many_errors.xml"


@dataclass
class World:
    """Everything the intake is built from, kept for assertions."""

    partners: PartnerRegistry
    routing: RoutingTable
    parking_exchange: str
    key: SigningKey
    trust: TrustStore
    formats: tuple
    gateway_schema: etree.XMLSchema

    def intake(self, journal: FakeJournal, metrics: RecordingMetrics | None = None, *,
               routing: RoutingTable | None = None, problem_cap: int = 25,
               after_commit: Callable[[], None] | None = None) -> IntakeService:
        """An IntakeService with the same pipelines as ``build_gateway`` (``intake_pipelines``)."""
        registry, mappings, kinds = self.formats
        limits = XmlLimits(SETTINGS.max_body_bytes, SETTINGS.max_depth, SETTINGS.max_elements)
        pipelines = intake_pipelines(
            partners=self.partners, limits=limits, registry=registry, mappings=mappings,
            kinds=kinds, routing=routing or self.routing, parking_exchange=self.parking_exchange,
            bus_key=self.key)
        return IntakeService(
            front=pipelines.front, back=pipelines.back,
            journal=journal, signer=XmlSigner(self.key), metrics=metrics or RecordingMetrics(),
            problem_cap=problem_cap, after_commit=after_commit)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    directory = tmp_path_factory.mktemp("intake")
    key_pem, cert_pem = generate_key_pair("gateway.test", "Gateway test")
    (directory / "gateway.key").write_bytes(key_pem)
    (directory / "gateway.crt").write_bytes(cert_pem)
    key = SigningKey.load(directory / "gateway.key", directory / "gateway.crt")
    credentials = directory / "credentials.toml"
    write_credentials(credentials, {p: [hash_token(t)] for p, t in TOKENS.items()})
    partners = PartnerRegistry.load(SETTINGS.config_dir / "partners.toml", credentials)
    trust = TrustStore()
    trust.add("gateway", key.certificate)
    topology = Topology.load(SETTINGS.config_dir / "topology.toml")
    return World(
        partners=partners, routing=RoutingTable.load(SETTINGS.config_dir / "routes.toml"),
        parking_exchange=topology.parking_exchange, key=key, trust=trust,
        formats=load_formats(SETTINGS),
        gateway_schema=compile_schema(SETTINGS.schemas_dir / "gateway" / "gateway-v1.xsd",
                                      SETTINGS.schemas_dir))


def _submit(intake: IntakeService, body: bytes, *, partner: str | None = "broker-alpha",
            authorization: str | None = None, idempotency_header: str | None = None) -> Answer:
    if authorization is None and partner is not None:
        authorization = f"Bearer {TOKENS[partner]}"
    return asyncio.run(intake.submit(Exchange(body=body, channel="http",
                                              authorization=authorization,
                                              idempotency_header=idempotency_header)))


def _verified(world: World, answer: Answer) -> etree._Element:
    """The answer's document as signed, after checking its signature and its schema."""
    root = etree.fromstring(answer.document)
    verified = verify_enveloped(root, world.trust, owner="gateway")
    assert verified.key_id == world.key.key_id
    assert world.gateway_schema.validate(root), world.gateway_schema.error_log
    return verified.element


def _text(root: etree._Element, tag: str) -> str | None:
    return root.findtext(f"gw:{tag}", namespaces=GW)


# --- accepted --------------------------------------------------------------------------------


def test_intake_valid_wco_declaration_gets_signed_receipt(world: World) -> None:
    """A valid WCO DEC is answered 202 with a receipt signed by the gateway's key."""
    journal = FakeJournal()
    commits: list[int] = []
    intake = world.intake(journal, after_commit=lambda: commits.append(1))

    answer = _submit(intake, build_dec(3, lrn="LRN-ACC-0001"))

    assert (answer.http_status, answer.accepted, answer.duplicate) == (202, True, False)
    receipt = _verified(world, answer)
    assert etree.QName(receipt).localname == "Receipt"
    assert _text(receipt, "Status") == "accepted"
    assert len(journal.recorded) == 1 and commits == [1]
    assert journal.recorded[0].receipt_xml == answer.document


def test_intake_receipt_states_conversation_type_version_digest_and_message_id(
        world: World) -> None:
    """The receipt names the conversation, message type and version, body SHA-256 and LRN."""
    journal = FakeJournal()
    body = build_dec(2, lrn="LRN-FIELDS-0001")

    answer = _submit(world.intake(journal), body)

    receipt = _verified(world, answer)
    stored = journal.recorded[0]
    assert _text(receipt, "ConversationID") == answer.conversation_id == stored.conversation_id
    assert _text(receipt, "ReceiptID") == stored.receipt_id
    assert receipt.get("Id") == f"RCP-{stored.receipt_id}"
    assert _text(receipt, "Partner") == "broker-alpha"
    assert _text(receipt, "MessageType") == "wco-dec-3.6"
    assert _text(receipt, "MessageVersion") == "3.6"
    assert _text(receipt, "SHA256") == hashlib.sha256(body).hexdigest() == stored.sha256
    assert _text(receipt, "MessageID") == "doc:wco:LRN-FIELDS-0001"
    assert answer.content["message_id"] == "doc:wco:LRN-FIELDS-0001"
    assert answer.content["conversation_id"] == answer.conversation_id
    assert stored.idempotency_key == "doc:wco:LRN-FIELDS-0001"
    assert stored.body == body and stored.status == "submitted"


def test_intake_accepted_declaration_queues_one_signed_canonical_message(world: World) -> None:
    """One outbox message: canonical JSON body, detached signature, clearance route."""
    journal = FakeJournal()

    answer = _submit(world.intake(journal), build_dec(3, lrn="LRN-OUT-0001"))

    assert answer.accepted
    stored = journal.recorded[0]
    assert len(stored.outbox) == 1 and len(journal.outbox) == 1
    message = stored.outbox[0]
    assert message.body == stored.canonical_json
    plain = json.loads(message.body)
    assert json.dumps(plain, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode() == message.body
    assert plain["header"]["lrn"] == "LRN-OUT-0001"
    assert len(plain["goods_items"]) == 3
    assert (message.exchange, message.routing_key) == \
        ("customs.clearance", "declaration.import.MK001005")
    assert message.kind == "declaration" and message.content_type == "application/json"
    assert message.conversation_id == answer.conversation_id
    assert message.headers["x-conversation-id"] == answer.conversation_id
    assert message.headers["x-receipt-id"] == stored.receipt_id
    assert message.headers["x-reference"] == "LRN-OUT-0001"
    assert "x-gateway-reason" not in message.headers
    assert message.headers[KEY_ID] == world.key.key_id and message.headers[SIGNATURE]
    assert verify_body(world.trust, message.body, message.headers, owner="gateway").owner == \
        "gateway"


def test_intake_asycuda_idempotency_key_comes_from_header(world: World) -> None:
    """An ASYCUDA SAD (no message id in the document) is keyed by the sender's header."""
    journal = FakeJournal()

    answer = _submit(world.intake(journal), build_sad(2, reference="REF-HDR-1"),
                     idempotency_header="  KEY-0001  ")

    assert answer.accepted
    assert journal.recorded[0].message_type == "asycuda-sad-1"
    assert journal.recorded[0].idempotency_key == "hdr:KEY-0001"
    assert answer.content["message_id"] == "hdr:KEY-0001"


def test_intake_asycuda_idempotency_key_falls_back_to_document_digest(world: World) -> None:
    """Without a header, an ASYCUDA SAD is keyed by the SHA-256 of its exclusive C14N form."""
    journal = FakeJournal()
    body = build_sad(2, reference="REF-SHA-1")

    answer = _submit(world.intake(journal), body)

    assert answer.accepted
    canonical = etree.tostring(etree.fromstring(body), method="c14n", exclusive=True)
    expected = f"digest:{hashlib.sha256(canonical).hexdigest()}"
    assert _text(_verified(world, answer), "DocumentDigest") == expected.split(":")[1]
    assert _text(_verified(world, answer), "SHA256") == hashlib.sha256(body).hexdigest()
    assert journal.recorded[0].idempotency_key == expected
    assert _text(_verified(world, answer), "MessageID") == expected
    assert journal.recorded[0].outbox[0].routing_key == "declaration.import.MK001005"


# --- repeats and conflicts -------------------------------------------------------------------


def test_intake_repeat_returns_original_receipt_bytes_and_records_nothing(world: World) -> None:
    """The same bytes again get the stored receipt byte for byte, flagged duplicate."""
    journal = FakeJournal()
    metrics = RecordingMetrics()
    intake = world.intake(journal, metrics)
    body = build_dec(3, lrn="LRN-REPEAT-0001")

    first = _submit(intake, body)
    second = _submit(intake, body)

    assert (second.http_status, second.accepted, second.duplicate) == (202, True, True)
    assert second.document == first.document
    assert second.conversation_id == first.conversation_id
    assert second.content == first.content
    assert len(journal.record_calls) == 1 and len(journal.recorded) == 1
    assert len(journal.outbox) == 1
    assert metrics.total(m.DUPLICATES, message_type="wco-dec-3.6") == 1
    assert metrics.total(m.ACCEPTED) == 1


def test_intake_concurrent_repeats_store_once_and_share_the_receipt(world: World) -> None:
    """Two identical submissions racing past find() are stored once; both get one receipt."""
    journal = FakeJournal()
    intake = world.intake(journal)
    body = build_dec(2, lrn="LRN-RACE-0001")

    async def both() -> list[Answer]:
        return list(await asyncio.gather(*(intake.submit(Exchange(
            body=body, channel="http", authorization=f"Bearer {TOKENS['broker-alpha']}"))
            for _ in range(2))))

    first, second = asyncio.run(both())

    assert len(journal.record_calls) == 2          # both really reached the journal
    assert len(journal.recorded) == 1 and len(journal.outbox) == 1
    assert first.accepted and second.accepted
    assert sorted([first.duplicate, second.duplicate]) == [False, True]
    assert first.document == second.document
    assert first.conversation_id == second.conversation_id


def test_intake_same_lrn_different_content_is_a_conflict(world: World) -> None:
    """Reusing an LRN for other content is refused 409, naming the original receipt."""
    journal = FakeJournal()
    intake = world.intake(journal)
    original = _submit(intake, build_dec(3, lrn="LRN-CONFLICT-1"))

    answer = _submit(intake, build_dec(4, lrn="LRN-CONFLICT-1"))

    assert (answer.http_status, answer.accepted) == (409, False)
    assert answer.content["code"] == "GW-DUPLICATE-CONFLICT"
    original_id = original.content["receipt_id"]
    assert answer.content["original_receipt_id"] == original_id
    rejection = _verified(world, answer)
    assert etree.QName(rejection).localname == "Rejection"
    assert _text(rejection, "OriginalReceiptID") == original_id
    assert original_id in _text(rejection, "Summary")
    assert len(journal.recorded) == 1 and len(journal.record_calls) == 1


# --- rejections ------------------------------------------------------------------------------


def test_intake_schema_invalid_lists_every_problem(world: World) -> None:
    """A schema-invalid DEC is refused 400 with all seven problems listed; nothing stored."""
    journal = FakeJournal()

    answer = _submit(world.intake(journal), INVALID_WCO.read_bytes())

    assert (answer.http_status, answer.accepted) == (400, False)
    assert answer.content["code"] == "GW-XSD-INVALID"
    assert answer.content["problem_count"] == 7
    assert len(answer.content["problems"]) == 7 and answer.content["more_problems"] == 0
    assert all(p["code"].startswith("GW-XSD-") and p["pointer"] and p["line"]
               for p in answer.content["problems"])
    assert len({p["line"] for p in answer.content["problems"]}) == 7
    rejection = _verified(world, answer)
    problems = rejection.find("gw:Problems", namespaces=GW)
    assert (problems.get("count"), problems.get("shown")) == ("7", "7")
    assert journal.record_calls == [] and journal.outbox == []


def test_intake_schema_problems_are_capped_with_count_of_the_rest(world: World) -> None:
    """With problem_cap 3 the rejection lists 3 problems and says how many more there are."""
    journal = FakeJournal()

    answer = _submit(world.intake(journal, problem_cap=3), INVALID_WCO.read_bytes())

    assert answer.http_status == 400
    assert answer.content["problem_count"] == 7
    assert len(answer.content["problems"]) == 3 and answer.content["more_problems"] == 4
    rejection = _verified(world, answer)
    problems = rejection.find("gw:Problems", namespaces=GW)
    assert (problems.get("count"), problems.get("shown")) == ("7", "3")
    assert len(problems.findall("gw:Problem", namespaces=GW)) == 3
    assert journal.record_calls == []


@pytest.mark.parametrize("authorization", [None, "", "Bearer wrong-token", "Basic YWxhZGRpbg==",
                                           "Bearer "])
def test_intake_missing_or_wrong_token_is_unauthenticated(authorization: str | None,
                                                          world: World) -> None:
    """No token, an unknown token or another scheme is refused 401 and nothing is stored."""
    journal = FakeJournal()

    answer = asyncio.run(world.intake(journal).submit(Exchange(
        body=build_dec(1, lrn="LRN-AUTH-1"), channel="http", authorization=authorization)))

    assert (answer.http_status, answer.accepted) == (401, False)
    assert answer.content["code"] == "GW-AUTH-UNAUTHENTICATED"
    assert "partner" not in answer.content
    _verified(world, answer)
    assert journal.find_calls == [] and journal.record_calls == []


def test_intake_bank_partner_may_not_submit_declarations(world: World) -> None:
    """A bank's valid token does not allow a declaration: 403, nothing stored."""
    journal = FakeJournal()

    answer = _submit(world.intake(journal), build_dec(1, lrn="LRN-BANK-1"), partner="bank-demo")

    assert (answer.http_status, answer.accepted) == (403, False)
    assert answer.content["code"] == "GW-AUTH-FORBIDDEN"
    assert answer.content["partner"] == "bank-demo"
    assert journal.record_calls == []


def test_intake_asycuda_only_partner_may_not_send_wco(world: World) -> None:
    """A partner allowed only ASYCUDA is refused 403 for a WCO declaration."""
    journal = FakeJournal()

    answer = _submit(world.intake(journal), build_dec(1, lrn="LRN-LEGACY-1"),
                     partner="broker-legacy")

    assert answer.http_status == 403 and answer.content["message_type"] == "wco-dec-3.6"
    assert journal.record_calls == []


def test_intake_unknown_root_is_unknown_message_type(world: World) -> None:
    """A document whose root is not registered is refused 400 GW-MSG-UNKNOWN-TYPE."""
    journal = FakeJournal()

    answer = _submit(world.intake(journal),
                     b'<?xml version="1.0"?><Invoice xmlns="urn:example:invoice"><ID>1</ID>'
                     b"</Invoice>")

    assert (answer.http_status, answer.accepted) == (400, False)
    assert answer.content["code"] == "GW-MSG-UNKNOWN-TYPE"
    assert "message_type" not in answer.content
    _verified(world, answer)
    assert journal.record_calls == []


def test_intake_unrouted_declaration_is_parked_not_dropped(world: World) -> None:
    """With no matching route the message is accepted, parked, and sent to the parking exchange."""
    journal = FakeJournal()
    metrics = RecordingMetrics()
    exports_only = RoutingTable([Route("exports only", "declaration",
                                       {"procedure_category": ("EX",)}, "customs.clearance",
                                       "declaration.export.{office}")])

    answer = _submit(world.intake(journal, metrics, routing=exports_only),
                     build_dec(2, lrn="LRN-PARK-0001"))

    assert (answer.http_status, answer.accepted) == (202, True)
    assert answer.content["status"] == "parked"
    assert _text(_verified(world, answer), "Status") == "parked"
    stored = journal.recorded[0]
    assert stored.status == "parked" and stored.event_detail.get("parked")
    assert journal.conversation(stored.conversation_id)["status"] == "parked"
    (message,) = stored.outbox
    assert message.exchange == world.parking_exchange
    assert message.routing_key == "unrouted.declaration"
    assert message.headers["x-gateway-reason"].startswith("GW-ROUTE-NONE")
    assert "x-route" not in message.headers
    assert verify_body(world.trust, message.body, message.headers).owner == "gateway"
    assert metrics.total(m.PARKED) == 1


def test_intake_journal_unavailable_answers_503_without_receipt(world: World) -> None:
    """When the journal cannot store, the answer is 503, retryable, and no receipt is given."""
    journal = FakeJournal(unavailable=True)
    commits: list[int] = []

    answer = _submit(world.intake(journal, after_commit=lambda: commits.append(1)),
                     build_dec(2, lrn="LRN-DOWN-0001"))

    assert (answer.http_status, answer.accepted) == (503, False)
    assert answer.error is not None and answer.error.retryable
    assert answer.content["code"] == "GW-UNAVAILABLE"
    assert "receipt_id" not in answer.content
    document = _verified(world, answer)
    assert etree.QName(document).localname == "Rejection"
    assert len(journal.record_calls) == 1 and journal.recorded == [] and commits == []


def test_intake_metrics_count_received_accepted_rejected_and_duplicates(world: World) -> None:
    """Received, accepted, rejected (by code) and duplicate counters follow each outcome."""
    journal = FakeJournal()
    metrics = RecordingMetrics()
    intake = world.intake(journal, metrics)
    body = build_dec(1, lrn="LRN-METRICS-1")

    _submit(intake, body)                                             # accepted
    _submit(intake, body)                                             # duplicate
    _submit(intake, body, partner=None, authorization="Bearer nope")  # 401
    _submit(intake, INVALID_WCO.read_bytes())                         # 400 schema
    _submit(intake, build_dec(1, lrn="LRN-METRICS-1", seed=5))        # 409 conflict

    assert metrics.total(m.RECEIVED, channel="http") == 5
    assert metrics.total(m.ACCEPTED, message_type="wco-dec-3.6") == 1
    assert metrics.total(m.DUPLICATES, message_type="wco-dec-3.6") == 1
    assert metrics.total(m.REJECTED, code="GW-AUTH-UNAUTHENTICATED", message_type="unknown") == 1
    assert metrics.total(m.REJECTED, code="GW-XSD-INVALID", message_type="wco-dec-3.6") == 1
    assert metrics.total(m.REJECTED, code="GW-DUPLICATE-CONFLICT") == 1
    assert metrics.total(m.REJECTED) == 3
    outcomes = [labels["outcome"] for name, _, labels in metrics.observations
                if name == m.LATENCY]
    assert outcomes == ["accepted", "accepted", "rejected", "rejected", "rejected"]


def _stating_version(body: bytes, version: str) -> bytes:
    """The WCO sample with another WCODataModelVersionCode (the only change)."""
    old = b"<md:WCODataModelVersionCode>3.6</md:WCODataModelVersionCode>"
    assert body.count(old) == 1
    return body.replace(old, f"<md:WCODataModelVersionCode>{version}"
                             "</md:WCODataModelVersionCode>".encode())


def test_intake_receipt_reports_the_version_the_document_stated(world: World) -> None:
    """A DEC stating 3.7 (an accepted version) is handled as 3.6; the receipt says both."""
    journal = FakeJournal()

    answer = _submit(world.intake(journal),
                     _stating_version(build_dec(1, lrn="LRN-V37-0001"), "3.7"))

    assert (answer.http_status, answer.accepted) == (202, True)
    receipt = _verified(world, answer)                    # signed, and valid gw:Receipt
    assert _text(receipt, "MessageType") == "wco-dec-3.6"
    assert _text(receipt, "MessageVersion") == "3.6"
    assert _text(receipt, "StatedVersion") == "3.7"
    assert answer.content["stated_version"] == "3.7"
    assert journal.recorded[0].receipt["stated_version"] == "3.7"


def test_intake_unlisted_version_is_refused_with_signed_rejection(world: World) -> None:
    """A DEC stating a version no entry accepts (9.9) is GW-MSG-UNSUPPORTED-VERSION, unjournaled."""
    journal = FakeJournal()

    answer = _submit(world.intake(journal),
                     _stating_version(build_dec(1, lrn="LRN-V99-0001"), "9.9"))

    assert (answer.http_status, answer.accepted) == (400, False)
    assert answer.content["code"] == "GW-MSG-UNSUPPORTED-VERSION"
    assert "9.9" in answer.content["summary"] and "3.7" in answer.content["summary"]
    _verified(world, answer)
    assert journal.record_calls == []
