"""Reservations driven by clearance's decisions and the agency's answers, on fakes (no network).

The ``licence-reservation`` handler (acceptance reserves, release writes off, invalidation
deletes — each once), the agency's answers recorded (``AgencyAnswers``: applied, stale,
retried, an agency fault), what clearance and the broker are told (a signed reservation event
in the outbox, a signed ``LIC`` notification valid against ``gateway-v1.xsd``), the requests a
declaration records (``requests_of``) and a revocation surfaced for each affected MRN
(``LicenceIntake``). The SQL store and the real agency: ``tests/integration/
test_licence_reservations.py``.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from lxml import etree

from gateway.canonical.clearance_decision import ClearanceDecision
from gateway.canonical.declaration import (
    Declaration,
    DocumentRef,
    GoodsItem,
    Header,
    Party,
    Procedure,
    Transport,
)
from gateway.canonical.licence import Licence, LicenceLine, LicenceParty
from gateway.canonical.licensing_rules import LicensingRequirements
from gateway.canonical.model import to_json_bytes
from gateway.documents.receipts import GW_NS
from gateway.errors import GatewayError, ServiceUnavailable
from gateway.events.service import Event
from gateway.flows.licences.agency import AgencyCall
from gateway.flows.licences.answers import AgencyAnswers
from gateway.flows.licences.intake_effect import LicenceIntake
from gateway.flows.licences.notices import ReservationNotices
from gateway.flows.licences.requests import requests_of
from gateway.flows.licences.reservation_handler import LicenceReservationHandler
from gateway.flows.licences.reservations import (
    AGENCY_FAULT,
    DELETED,
    INSUFFICIENT,
    PENDING,
    REFUSED,
    RESERVE,
    RESERVED,
    WRITTEN_OFF,
    AgencyAnswer,
    LineBalance,
    ReservationRequest,
)
from gateway.flows.licences.store import LicenceLineState, LicenceState
from gateway.partners import PartnerRegistry
from gateway.pipeline.exchange import Exchange
from gateway.ports import AcceptedMessage
from gateway.routing import RoutingTable
from gateway.settings import Settings
from gateway.signing.detached import verify_body
from gateway.signing.keys import SigningKey, TrustStore, generate_key_pair
from gateway.signing.xmldsig import XmlSigner, verify_enveloped
from gateway.xml.validators import compile_schema
from tests.fake_licence_store import FakeLicenceStore
from tests.fakes import FakeJournal

SETTINGS = Settings()
AT, NOW = "2026-06-01T10:00:00.000Z", 1_000.0
HOLDER = "MK4030998765432"
MRN = "26MK00100500000001"
GW = {"gw": GW_NS}


@pytest.fixture(scope="module")
def gateway_key(tmp_path_factory: pytest.TempPathFactory) -> SigningKey:
    directory = tmp_path_factory.mktemp("keys")
    key_pem, cert_pem = generate_key_pair("gateway.test", "gateway")
    (directory / "gateway.key").write_bytes(key_pem)
    (directory / "gateway.crt").write_bytes(cert_pem)
    return SigningKey.load(directory / "gateway.key", directory / "gateway.crt")


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    return compile_schema(SETTINGS.schemas_dir / "gateway" / "gateway-v1.xsd",
                          SETTINGS.schemas_dir)


class World:
    """A fake journal with one declaration's conversation, the handler and the recorder."""

    def __init__(self, key: SigningKey) -> None:
        self.key = key
        self.journal, self.store = FakeJournal(), FakeLicenceStore()
        self.journal.flows["licences"] = self.store
        partners = PartnerRegistry.load(SETTINGS.config_dir / "partners.toml", None,
                                        "https://gateway.test")
        self.notices = ReservationNotices(XmlSigner(key), key, RoutingTable.load(
            SETTINGS.config_dir / "routes.toml"), "gateway.parking", partners)
        self.clock = iter(f"2026-06-01T10:00:{s:02d}.000Z" for s in range(60))
        self.handler = LicenceReservationHandler(self.notices, clock=lambda: AT,
                                                 now=lambda: NOW)
        self.answers = AgencyAnswers(self.notices, clock=lambda: AT, now=lambda: NOW)
        self.trust = TrustStore()
        self.trust.add("gateway", key.certificate)

    def conversation(self, conversation_id: str) -> None:
        asyncio.run(self.journal.record(AcceptedMessage(
            receipt_id=f"rcp-{conversation_id}", conversation_id=conversation_id,
            partner_id="broker-alpha", idempotency_key=f"doc:{conversation_id}",
            message_type="wco-dec-3.6", channel="http", received_at=AT, sha256="ab" * 32,
            body=b"<x/>", canonical_json=b"{}", receipt_xml=b"<r/>", receipt={},
            reference="LRN", outbox=())))

    def licence(self, number: str = "MK-IL-1", **values: Any) -> LicenceState:
        base: dict[str, Any] = dict(
            agency="agency-trade", number=number, source="licence-document", type="import",
            status="issued", version=1, receipt_id="r", conversation_id="c", updated_at=AT,
            holder_id=HOLDER, destination_country="MK", valid_from="2026-01-01",
            valid_to="2026-12-31", lines=(LicenceLineState(1, "72083900", None, Decimal("10"),
                                                           "TNE"),))
        base.update(values)
        state = LicenceState(**base)
        self.store.licences[(state.agency, state.number)] = state
        return state

    def request(self, conversation_id: str, kg: str = "1000", item: int = 1,
                number: str = "MK-IL-1", **values: Any) -> None:
        self.conversation(conversation_id) if conversation_id not in \
            self.journal.conversations else None
        base: dict[str, Any] = dict(
            conversation_id=conversation_id, item=item, agency="agency-trade", number=number,
            partner_id="broker-alpha", code="X002", document_type="import",
            hs_code="72083900", quantity=Decimal(kg), unit="KGM", holder_id=HOLDER,
            destination_country="MK", reference="LRN", recorded_at=AT)
        base.update(values)
        asyncio.run(self.journal.transaction(
            lambda tx: tx.flow("licences").add_requests([ReservationRequest(**base)])))

    def decide(self, conversation_id: str, kind: str, mrn: str = MRN,
               decision_id: str | None = None) -> dict[str, Any]:
        decision = ClearanceDecision(decision_id=decision_id or f"{kind}-{conversation_id}",
                                     kind=kind, conversation_id=conversation_id,
                                     receipt_id="r", mrn=mrn, decided_at=AT)
        prepared = self.handler.prepare(Event("m", "clearance.decision",
                                              to_json_bytes(decision)), self.journal)
        assert prepared is not None
        return dict(asyncio.run(self.journal.transaction(
            lambda tx: self.handler.apply(prepared, tx))))

    def reservations(self, conversation_id: str) -> list[Any]:
        return self.journal.flow("licences").reservations_of(conversation_id)

    def claim(self) -> list[AgencyCall]:
        return list(asyncio.run(self.journal.transaction(
            lambda tx: self.answers.claim(tx, "caller-1", 10, 60.0))))

    def record(self, call: AgencyCall, answer: AgencyAnswer) -> Any:
        return asyncio.run(self.journal.transaction(lambda tx: self.answers.record(tx, call,
                                                                                   answer)))

    def events(self) -> list[dict[str, Any]]:
        out = []
        for entry in self.journal.outbox:
            message = entry.message
            verify_body(self.trust, message.body, message.headers, owner="gateway")
            out.append({"routing_key": message.routing_key, **json.loads(message.body)})
        return out

    def notices_of(self, conversation_id: str) -> list[Any]:
        return [n for n in self.journal.stored_notifications.values()
                if n.conversation_id == conversation_id]


@pytest.fixture
def world(gateway_key: SigningKey) -> World:
    return World(gateway_key)


def reserved(call: AgencyCall, **values: Any) -> AgencyAnswer:
    return AgencyAnswer(RESERVE, "reserved", AT, line=1, available=Decimal("9"), unit="TNE",
                        consumed=Decimal("1"), revision=2, reference="RSV-1", **values)


# --- acceptance -------------------------------------------------------------------------------


def test_acceptance_makes_a_pending_reservation_in_the_lines_unit(world: World) -> None:
    """1,000 kg of coils on a licence in tonnes: pending, 1 TNE on line 1, the call due now."""
    world.licence()
    world.request("conv-1")
    summary = world.decide("conv-1", "accepted")
    (r,) = world.reservations("conv-1")
    assert summary["reservations"] == {"pending": 1, "refused": 0, "existing": 0}
    assert (r.state, r.target, r.mrn, r.line, r.quantity, r.unit, r.next_at) == \
        (PENDING, RESERVED, MRN, 1, Decimal("1"), "TNE", NOW)
    assert world.journal.outbox == [] and world.notices_of("conv-1") == []


def test_acceptance_repeated_reserves_nothing_twice(world: World) -> None:
    """The same acceptance again (another message id): the reservation exists, nothing new."""
    world.licence()
    world.request("conv-1")
    world.decide("conv-1", "accepted", decision_id="d-1")
    again = world.decide("conv-1", "accepted", decision_id="d-2")
    assert again["reservations"] == {"pending": 0, "refused": 0, "existing": 1}
    assert len(world.store.reservations) == 1


def test_acceptance_twin_committed_meanwhile_is_not_written_twice(world: World) -> None:
    """A concurrent transaction reserved the same (licence, MRN, item) first: nothing written."""
    world.licence()
    world.request("conv-1")
    world.decide("conv-1", "accepted")
    twin = world.store.reservations.popitem()[1]
    world.store.reserved_elsewhere[twin.key] = twin
    summary = world.decide("conv-1", "accepted", decision_id="d-again")
    assert summary["reservations"]["existing"] == 1
    assert world.store.reservations == {twin.key: twin}


def test_refusal_tells_clearance_and_the_broker_signed(world: World, schema: Any) -> None:
    """More than is left: refused by the gateway at once — a signed event to clearance
    (licence.reservation.refused) and a signed LIC notification valid against the schema."""
    world.licence()
    world.request("conv-1", kg="9500")
    world.request("conv-2", kg="600")
    world.decide("conv-1", "accepted", mrn="26MK00100500000001")
    world.decide("conv-2", "accepted", mrn="26MK00100500000002")
    (r,) = world.reservations("conv-2")
    assert (r.state, r.reason, r.refused_by, r.available) == \
        (REFUSED, INSUFFICIENT, "gateway", Decimal("0.5"))
    (event,) = world.events()
    assert event["routing_key"] == "licence.reservation.refused"
    assert (event["event"], event["reason"], event["mrn"], event["item"], event["state"]) == \
        ("refused", INSUFFICIENT, "26MK00100500000002", 1, "refused")
    (notice,) = world.notices_of("conv-2")
    assert notice.kind == "LIC" and notice.summary["event"] == "refused"
    signed = verify_enveloped(etree.fromstring(notice.document), world.trust,
                              owner="gateway").element
    assert schema.validate(signed), schema.error_log
    assert signed.findtext(".//gw:Reason/gw:Code", namespaces=GW) == INSUFFICIENT
    assert signed.findtext(".//gw:Available", namespaces=GW) == "0.5"
    assert world.notices_of("conv-1") == []


def test_unknown_licence_is_refused_by_the_gateway(world: World) -> None:
    """A licence the gateway never received: refused, unknown-licence, nothing held."""
    world.request("conv-1", number="NOPE-1")
    world.decide("conv-1", "accepted")
    (r,) = world.reservations("conv-1")
    assert (r.state, r.reason, r.line) == (REFUSED, "unknown-licence", None)


def test_licences_are_held_in_agency_and_number_order(world: World) -> None:
    """A declaration drawing on two licences holds them sorted (no crosswise waits)."""
    world.licence("B-2")
    world.licence("A-1")
    world.request("conv-1", number="B-2", item=1)
    world.request("conv-1", number="A-1", item=2)
    world.decide("conv-1", "accepted")
    assert world.store.held == [("agency-trade", "A-1"), ("agency-trade", "B-2")]


# --- release and invalidation -------------------------------------------------------------------


def test_release_makes_the_write_off_due_and_invalidation_the_deletion(world: World) -> None:
    """Released: write-off due; another declaration invalidated: deletion due."""
    world.licence()
    world.request("conv-1")
    world.request("conv-2")
    world.decide("conv-1", "accepted", mrn="26MK00100500000001")
    world.decide("conv-2", "accepted", mrn="26MK00100500000002")
    world.decide("conv-1", "released", mrn="26MK00100500000001")
    world.decide("conv-2", "invalidated", mrn="26MK00100500000002")
    (released,), (invalidated,) = world.reservations("conv-1"), world.reservations("conv-2")
    assert (released.state, released.target) == (PENDING, WRITTEN_OFF)
    assert (invalidated.state, invalidated.target) == (PENDING, DELETED)


def test_rejection_after_acceptance_deletes_and_a_write_off_stays(world: World) -> None:
    """Rejected after acceptance: deletion due; a written-off reservation is not deleted."""
    world.licence()
    world.request("conv-1")
    world.decide("conv-1", "accepted")
    (r,) = world.reservations("conv-1")
    world.store.reservations[r.key] = replace(r, state=WRITTEN_OFF, target=WRITTEN_OFF,
                                              next_at=None)
    summary = world.decide("conv-1", "invalidated")
    assert summary == {"reservations_moved": 0, "unchanged": 1, "target": DELETED}
    assert world.reservations("conv-1")[0].state == WRITTEN_OFF


# --- the agency's answers -----------------------------------------------------------------------


def test_claimed_call_answered_reserved_tells_clearance_once(world: World) -> None:
    """Claim leases the due call; its reserved answer is applied once (event reserved), the same
    answer again is stale (history line, no second event); the balance is mirrored."""
    world.licence()
    world.request("conv-1")
    world.decide("conv-1", "accepted")
    (call,) = world.claim()
    assert (call.operation, call.owner) == (RESERVE, "caller-1")
    assert world.claim() == []                              # leased: not claimed twice
    first = world.record(call, reserved(call))
    second = world.record(call, reserved(call, repeated=True))
    assert (first.outcome, first.event, second.outcome) == ("applied", "reserved", "stale")
    assert [e["event"] for e in world.events()] == ["reserved"]
    history = [h["event"] for h in world.journal.conversations["conv-1"]["history"]]
    assert "licence.reservation.reserved" in history
    assert "licence.reservation.stale_answer" in history
    balance = world.store.balances[("agency-trade", "MK-IL-1", 1)]
    assert (balance.available, balance.revision) == (Decimal("9"), 2)


def test_older_balance_never_replaces_a_newer_one(world: World) -> None:
    """The agency's balance is kept by revision: an older answer's does not overwrite it."""
    newer = LineBalance("agency-trade", "MK-IL-1", 1, Decimal("7"), "TNE", (), 5, AT)
    older = replace(newer, available=Decimal("9"), revision=3)
    saved = [asyncio.run(world.journal.transaction(
        lambda tx, b=balance: tx.flow("licences").save_balance(b))) for balance in (newer, older)]
    assert saved == [True, False]
    assert world.store.balances[("agency-trade", "MK-IL-1", 1)].available == Decimal("7")


def test_unreachable_agency_makes_the_call_due_later(world: World) -> None:
    """A retryable failure: the same call later (back-off), attempts counted, no event."""
    world.licence()
    world.request("conv-1")
    world.decide("conv-1", "accepted")
    (call,) = world.claim()
    outcome = asyncio.run(world.journal.transaction(lambda tx: world.answers.failed(
        tx, call, ServiceUnavailable("down", code="GW-PARTNER-UNAVAILABLE"))))
    (r,) = world.reservations("conv-1")
    assert outcome.outcome == "retry"
    assert (r.state, r.attempts, r.lease_owner) == (PENDING, 1, None)
    assert NOW + 0.7 < (r.next_at or 0) < NOW + 1.3
    assert world.journal.outbox == []


def test_agency_fault_refuses_the_reservation_and_tells_the_broker(world: World) -> None:
    """A call the agency refused outright (not retryable): refused, agency-fault, told."""
    world.licence()
    world.request("conv-1")
    world.decide("conv-1", "accepted")
    (call,) = world.claim()
    asyncio.run(world.journal.transaction(lambda tx: world.answers.failed(
        tx, call, GatewayError("bad request", code="GW-PARTNER-FAULT"))))
    (r,) = world.reservations("conv-1")
    assert (r.state, r.reason, r.refused_by) == (REFUSED, AGENCY_FAULT, "agency")
    assert "GW-PARTNER-FAULT" in (r.reason_text or "")
    assert [n.kind for n in world.notices_of("conv-1")] == ["LIC"]


def test_write_off_after_the_reservation_then_settles(world: World) -> None:
    """Released while pending: reserve, then write off, then nothing more is due."""
    world.licence()
    world.request("conv-1")
    world.decide("conv-1", "accepted")
    world.decide("conv-1", "released")
    (call,) = world.claim()
    world.record(call, reserved(call))
    (write_off,) = world.claim()
    assert write_off.operation == "write_off"
    world.record(write_off, AgencyAnswer("write_off", "written_off", AT, line=1, revision=3))
    assert world.claim() == []
    assert world.reservations("conv-1")[0].state == WRITTEN_OFF
    assert [e["event"] for e in world.events()] == ["reserved", "written_off"]


# --- the declaration's requests and a revocation ---------------------------------------------


def _declaration() -> Declaration:
    licence = DocumentRef(kind="additional", category="X", type="002", id="MK-IL-1")
    return Declaration(
        header=Header(lrn="LRN-7"), procedure=Procedure(category="IM"),
        parties=[Party(role="importer", id=HOLDER)], transport=Transport(destination_country="MK"),
        goods_items=[
            GoodsItem(sequence=1, commodity_code="72083900", net_mass=Decimal("1500"),
                      documents=[licence, licence]),
            GoodsItem(sequence=2, commodity_code="08051020", net_mass=Decimal("10"),
                      documents=[DocumentRef(kind="additional", category="N", type="851",
                                             id="PHYTO-1")]),
            GoodsItem(sequence=3, commodity_code="08081080", gross_mass=Decimal("700"),
                      documents=[DocumentRef(kind="additional", category="N", type="851",
                                             id="RS-PC-1")])])


def test_requests_of_a_declaration_are_its_required_quoted_licences() -> None:
    """Steel quoting X002 and apples quoting N851 draw (net, else gross mass, in kg, once per
    licence); oranges need no certificate, so the one they quote draws nothing."""
    licensing = LicensingRequirements.load(SETTINGS.config_dir / "licensing.toml")
    requests = requests_of(_declaration(), licensing, conversation_id="c", partner_id="b",
                           at=AT)
    assert [(r.item, r.agency, r.number, r.code, r.quantity, r.unit) for r in requests] == [
        (1, "agency-trade", "MK-IL-1", "X002", Decimal("1500"), "KGM"),
        (3, "agency-phyto", "RS-PC-1", "N851", Decimal("700"), "KGM")]
    assert {(r.holder_id, r.destination_country, r.reference) for r in requests} == \
        {(HOLDER, "MK", "LRN-7")}


def test_revocation_after_reservation_is_told_for_each_affected_mrn(world: World,
                                                                   schema: Any) -> None:
    """The agency revokes a licence two declarations reserved on: each gets a signed
    licence_revoked event to clearance and a LIC notification; a refused one does not; the
    same revocation received again tells nothing more."""
    world.licence()
    for n, kg in ((1, "1000"), (2, "2000"), (3, "99000")):
        world.request(f"conv-{n}", kg=kg)
        world.decide(f"conv-{n}", "accepted", mrn=f"26MK0010050000000{n}")
    revoked = Licence(source="licence-document", number="MK-IL-1", version=2, status="revoked",
                      type="import", holder=LicenceParty(id=HOLDER), valid_from="2026-01-01",
                      valid_to="2026-12-31", revoked_at="2026-06-01T09:00:00Z",
                      lines=[LicenceLine(1, "72083900", None, Decimal("10"), "TNE")])
    intake = LicenceIntake(clock=lambda: AT, revocations=world.notices)
    for copy in range(2):
        ex = Exchange(body=b"<l/>", channel="http", id=f"rcp-rev-{copy}")
        ex.canonical, ex.partner = revoked, world.notices.partners.find("agency-trade")
        asyncio.run(world.journal.transaction(intake(ex)))
    events = [e for e in world.events() if e["event"] == "licence_revoked"]
    assert sorted(e["mrn"] for e in events) == ["26MK00100500000001", "26MK00100500000002"]
    assert all(e["routing_key"] == "licence.reservation.licence_revoked" for e in events)
    for n in (1, 2):
        (r,) = world.reservations(f"conv-{n}")
        assert r.revoked_at == "2026-06-01T09:00:00Z"
        (notice,) = world.notices_of(f"conv-{n}")
        signed = verify_enveloped(etree.fromstring(notice.document), world.trust,
                                  owner="gateway").element
        assert schema.validate(signed), schema.error_log
        assert signed.findtext(".//gw:Event", namespaces=GW) == "licence_revoked"
    assert [n.summary["event"] for n in world.notices_of("conv-3")] == ["refused"]


def test_state_table_rows_match_the_store_port(world: World) -> None:
    """What the handler writes reads back the same through the reader (the fake's contract)."""
    world.licence()
    world.request("conv-1")
    world.decide("conv-1", "accepted")
    reader = world.journal.flow("licences")
    assert reader.reservations_of("conv-1") == world.reservations("conv-1")
    assert [r.item for r in reader.requests("conv-1")] == [1]
