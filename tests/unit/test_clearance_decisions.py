"""Clearance decisions in, signed notifications out (EventService + ClearanceDecisionHandler).

Decisions are signed (detached) with a clearance key that the trust store assigns to the
owner ``clearance``; the gateway's own certificate is trusted too, under ``gateway``, so a
decision signed with the gateway's key is a real "wrong signer" case. Conversations live in
``tests.fakes.FakeJournal``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # allow a bare `pytest` run without an installed package
    sys.path.insert(0, str(ROOT))

from gateway import metrics as m  # noqa: E402
from gateway.canonical.clearance_decision import ClearanceDecision  # noqa: E402
from gateway.canonical.model import to_json_bytes  # noqa: E402
from gateway.documents.receipts import GW_NS  # noqa: E402
from gateway.errors import SignatureInvalid  # noqa: E402
from gateway.events.config import load_consumers  # noqa: E402
from gateway.events.service import Event, EventService, UnknownEvent  # noqa: E402
from gateway.flows.clearance_decisions import (  # noqa: E402
    ClearanceDecisionHandler,
    InvalidDecision,
    UnknownConversation,
)
from gateway.flows.licences.notices import ReservationNotices  # noqa: E402
from gateway.flows.licences.reservation_handler import LicenceReservationHandler  # noqa: E402
from gateway.flows.payments.assessments import DutyAssessmentHandler  # noqa: E402
from gateway.metrics import RecordingMetrics  # noqa: E402
from gateway.partners import PartnerRegistry  # noqa: E402
from gateway.ports import AcceptedMessage  # noqa: E402
from gateway.routing import RoutingTable  # noqa: E402
from gateway.settings import Settings  # noqa: E402
from gateway.signing.detached import sign_body  # noqa: E402
from gateway.signing.keys import SigningKey, TrustStore, generate_key_pair  # noqa: E402
from gateway.signing.xmldsig import XmlSigner, verify_enveloped  # noqa: E402
from tests.fake_licence_store import FakeLicenceStore  # noqa: E402
from tests.fake_payment_ledger import FakePaymentLedgerStore  # noqa: E402
from tests.fakes import FakeJournal  # noqa: E402

SETTINGS = Settings()
MRN = "26MK00100522FACER8"
RES = {"gw": GW_NS, "md": "urn:wco:datamodel:WCO:DocumentMetaData-DMS:2",
       "r": "urn:wco:datamodel:WCO:RES-DMS:2"}


def _load_key(directory: Path, name: str) -> SigningKey:
    key_pem, cert_pem = generate_key_pair(f"{name}.test", name)
    (directory / f"{name}.key").write_bytes(key_pem)
    (directory / f"{name}.crt").write_bytes(cert_pem)
    return SigningKey.load(directory / f"{name}.key", directory / f"{name}.crt")


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SigningKey]:
    directory = tmp_path_factory.mktemp("keys")
    return {name: _load_key(directory, name) for name in ("gateway", "clearance")}


@pytest.fixture(scope="module")
def partners() -> PartnerRegistry:
    return PartnerRegistry.load(SETTINGS.config_dir / "partners.toml", None,
                                "https://gateway.test")


class Setup:
    """A DecisionService over a fake journal holding one conversation of broker-alpha."""

    def __init__(self, keys: dict[str, SigningKey], partners: PartnerRegistry,
                 partner_id: str = "broker-alpha") -> None:
        self.keys = keys
        self.journal = FakeJournal()
        self.journal.flows["payments"] = FakePaymentLedgerStore()   # the duty-assessment handler's
        self.journal.flows["licences"] = FakeLicenceStore()   # the licence-reservation handler's
        self.metrics = RecordingMetrics()
        trust = TrustStore()
        trust.add("clearance", keys["clearance"].certificate)
        trust.add("gateway", keys["gateway"].certificate)
        self.gateway_trust = TrustStore()
        self.gateway_trust.add("gateway", keys["gateway"].certificate)
        handler = ClearanceDecisionHandler(signer=XmlSigner(keys["gateway"]), partners=partners,
                                           metrics=self.metrics, country="MK",
                                           agency="Customs Administration")
        spec = next(s for s in load_consumers(SETTINGS.config_dir / "events.toml")
                    if s.name == "clearance-events")
        reservations = LicenceReservationHandler(ReservationNotices(
            XmlSigner(keys["gateway"]), keys["gateway"],
            RoutingTable.load(SETTINGS.config_dir / "routes.toml"), "gateway.parking", partners))
        self.service = EventService(spec.name, spec.routes,
                                    [handler, DutyAssessmentHandler(), reservations],
                                    trust=trust,
                                    store=self.journal, reads=self.journal, metrics=self.metrics)
        self.conversation_id = f"conv-{partner_id}"
        asyncio.run(self.journal.record(AcceptedMessage(
            receipt_id="rcp-1", conversation_id=self.conversation_id, partner_id=partner_id,
            idempotency_key="doc:wco:LRN-0001", message_type="wco-dec-3.6", channel="http",
            received_at="2026-11-28T10:00:00.000Z", sha256="ab" * 32, body=b"<x/>",
            canonical_json=b"{}", receipt_xml=b"<r/>", receipt={}, reference="LRN-0001",
            outbox=())))

    def decision(self, kind: str = "accepted", decision_id: str = "dec-1",
                 **values: Any) -> ClearanceDecision:
        base: dict[str, Any] = dict(decision_id=decision_id, kind=kind,
                                    conversation_id=self.conversation_id, receipt_id="rcp-1",
                                    reference="LRN-0001", decided_at="2026-11-28T10:05:00.000Z")
        if kind != "rejected":
            base["mrn"] = MRN
        base.update(values)
        return ClearanceDecision(**base)

    def apply(self, body: bytes, headers: dict[str, Any] | None = None,
              signer: str = "clearance", message_id: str | None = None,
              event_type: str = "clearance.decision") -> bool:
        if headers is None:
            headers = sign_body(self.keys[signer], body)
        event = Event(message_id=message_id or hashlib.sha256(body).hexdigest(),
                      event_type=event_type, body=body, headers=headers,
                      conversation_id=self.conversation_id)
        return asyncio.run(self.service.handle(event)).applied

    def apply_decision(self, decision: ClearanceDecision) -> bool:
        return self.apply(to_json_bytes(decision))

    def assert_nothing_stored(self) -> None:
        assert self.journal.processed == set()
        assert self.journal.notifications(self.conversation_id) == []
        assert self.journal.conversation(self.conversation_id)["status"] == "submitted"
        assert self.metrics.total(m.DECISIONS) == 0


@pytest.fixture
def setup(keys: dict[str, SigningKey], partners: PartnerRegistry) -> Setup:
    return Setup(keys, partners)


# --- applied ---------------------------------------------------------------------------------


def test_decision_service_signed_decision_creates_one_signed_notification(setup: Setup) -> None:
    """A clearance-signed acceptance becomes one gateway-signed notification; status and MRN set."""
    created = setup.apply_decision(setup.decision("accepted"))

    assert created is True
    (notification,) = setup.journal.notifications(setup.conversation_id)
    assert (notification.kind, notification.source_id, notification.seq) == \
        ("ACC", "dec-1", 1)
    assert notification.partner_id == "broker-alpha"
    assert notification.push is True            # broker-alpha has a callback URL
    assert notification.summary["decision"] == "accepted"
    assert notification.summary["mrn"] == MRN
    document = verify_enveloped(etree.fromstring(notification.document), setup.gateway_trust,
                                owner="gateway").element
    assert document.get("Id") == f"NTF-{notification.id}"
    assert document.findtext("gw:DecisionID", namespaces=RES) == "dec-1"
    assert document.findtext("gw:Payload/md:MetaData/r:Response/r:Declaration/r:ID",
                             namespaces=RES) == MRN
    conversation = setup.journal.conversation(setup.conversation_id)
    assert (conversation["status"], conversation["customs_reference"]) == ("accepted", MRN)
    callback = setup.journal.push_states[notification.id].callback_url
    assert callback == "https://gateway.test/sandbox/callbacks/broker-alpha"
    assert setup.metrics.total(m.DECISIONS, kind="accepted") == 1


def test_decision_service_later_decisions_follow_in_sequence(setup: Setup) -> None:
    """Control and duties follow acceptance with seq 2 and 3; status follows the last one."""
    statuses = []
    for decision in (setup.decision("accepted", "dec-1"),
                     setup.decision("control", "dec-2", channel="red"),
                     setup.decision("duties_assessed", "dec-3", mrn=None,
                                    total_duties=Decimal("440.73"), currency="MKD",
                                    payment_reference="RF6326MK00100522FACER8")):
        setup.apply_decision(decision)
        statuses.append(setup.journal.conversation(setup.conversation_id)["status"])

    notifications = setup.journal.notifications(setup.conversation_id)
    assert [(n.seq, n.kind) for n in notifications] == [(1, "ACC"), (2, "CTL"), (3, "TAX")]
    assert notifications[1].summary["channel"] == "red"
    assert notifications[2].summary["total_duties"] == "440.73"
    conversation = setup.journal.conversation(setup.conversation_id)
    assert conversation["status"] == "duties-assessed"
    assert conversation["customs_reference"] == MRN   # kept when a decision does not restate it
    assert statuses == ["accepted", "control-red", "duties-assessed"]


def test_decision_service_pull_only_partner_gets_no_push(keys: dict[str, SigningKey],
                                                         partners: PartnerRegistry) -> None:
    """A partner without callback URL gets the notification for pull only."""
    setup = Setup(keys, partners, partner_id="broker-legacy")

    setup.apply_decision(setup.decision("accepted"))

    (notification,) = setup.journal.notifications(setup.conversation_id)
    assert notification.push is False and notification.partner_id == "broker-legacy"
    assert setup.journal.push_states[notification.id].callback_url is None


def test_decision_service_repeated_decision_id_creates_nothing(setup: Setup) -> None:
    """The same decision delivered twice returns False the second time and adds nothing."""
    body = to_json_bytes(setup.decision("accepted"))

    assert setup.apply(body, message_id="msg-1") is True
    assert setup.apply(body, message_id="msg-1") is False

    assert len(setup.journal.notifications(setup.conversation_id)) == 1
    assert len(setup.journal.stored_notifications) == 1
    assert setup.metrics.total(m.DECISIONS) == 1
    assert setup.metrics.total(m.EVENTS, outcome="duplicate") == 1


def test_decision_republished_under_another_message_id_is_notified_once(setup: Setup) -> None:
    """A decision sent again with a new message id adds no second notification (same source)."""
    body = to_json_bytes(setup.decision("accepted"))

    assert setup.apply(body, message_id="msg-1") is True
    assert setup.apply(body, message_id="msg-2") is True       # a new event, applied …

    assert len(setup.journal.notifications(setup.conversation_id)) == 1   # … to nothing new
    assert setup.metrics.total(m.DECISIONS) == 1


def test_event_of_unknown_type_is_refused_and_not_stored(setup: Setup) -> None:
    """An event type without a route is a non-retryable UnknownEvent; nothing is stored."""
    with pytest.raises(UnknownEvent) as exc_info:
        setup.apply(to_json_bytes(setup.decision("accepted")), event_type="clearance.gossip")

    assert exc_info.value.retryable is False
    setup.assert_nothing_stored()


# --- refused: signatures ---------------------------------------------------------------------


def test_decision_service_changed_body_is_refused_and_not_stored(setup: Setup) -> None:
    """A decision changed after clearance signed it is refused; nothing is stored."""
    body = to_json_bytes(setup.decision("accepted"))
    headers = sign_body(setup.keys["clearance"], body)
    changed = body.replace(b"dec-1", b"dec-9")

    with pytest.raises(SignatureInvalid) as exc_info:
        setup.apply(changed, headers)

    assert exc_info.value.code == "GW-SIGNATURE-INVALID"
    setup.assert_nothing_stored()


def test_decision_service_unsigned_decision_is_refused_and_not_stored(setup: Setup) -> None:
    """A decision without signature headers is refused as unsigned; nothing is stored."""
    with pytest.raises(SignatureInvalid) as exc_info:
        setup.apply(to_json_bytes(setup.decision("accepted")), headers={})

    assert exc_info.value.code == "GW-SIGNATURE-MISSING"
    setup.assert_nothing_stored()


def test_decision_service_decision_signed_by_gateway_key_is_refused(setup: Setup) -> None:
    """A decision signed with the gateway's own (trusted) key is not clearance's: refused."""
    with pytest.raises(SignatureInvalid) as exc_info:
        setup.apply(to_json_bytes(setup.decision("accepted")), signer="gateway")

    assert exc_info.value.code == "GW-SIGNATURE-WRONG-SIGNER"
    setup.assert_nothing_stored()


# --- refused: content ------------------------------------------------------------------------


def _plain(setup: Setup, **changes: Any) -> bytes:
    plain = json.loads(to_json_bytes(setup.decision("accepted")))
    plain.update(changes)
    return json.dumps({k: v for k, v in plain.items() if v is not None}).encode()


UNINTELLIGIBLE: dict[str, Any] = {
    "not-json": lambda s: b"{this is not json",
    "not-utf8": lambda s: b'{"kind": "\xff\xfe"}',
    "json-array": lambda s: b"[]",
    "json-string": lambda s: b'"accepted"',
    "unknown-kind": lambda s: _plain(s, kind="approved"),
    "no-decision-id": lambda s: _plain(s, decision_id=""),
    "accepted-without-mrn": lambda s: _plain(s, mrn=None),
    "control-without-channel": lambda s: _plain(s, kind="control"),
    "control-unknown-channel": lambda s: _plain(s, kind="control", channel="purple"),
    "errors-not-a-list-of-objects": lambda s: _plain(s, kind="rejected", errors=[1, 2]),
    "non-numeric-total-duties": lambda s: _plain(s, kind="duties_assessed",
                                                 total_duties="a lot", currency="MKD"),
    "missing-decided-at": lambda s: _plain(s, decided_at=None),
    "error-without-description": lambda s: _plain(s, kind="rejected", mrn=None,
                                                  errors=[{"code": "R0228"}]),
}


@pytest.mark.parametrize("case", list(UNINTELLIGIBLE))
def test_decision_service_unintelligible_decision_is_invalid(case: str, setup: Setup) -> None:
    """A correctly signed decision that cannot be understood raises InvalidDecision."""
    body = UNINTELLIGIBLE[case](setup)

    with pytest.raises(InvalidDecision):
        setup.apply(body)

    setup.assert_nothing_stored()


def test_decision_service_unknown_conversation_is_refused(setup: Setup) -> None:
    """A decision about a conversation the gateway does not know raises UnknownConversation."""
    body = to_json_bytes(setup.decision("accepted", conversation_id="conv-nobody"))

    with pytest.raises(UnknownConversation) as exc_info:
        setup.apply(body)

    assert "conv-nobody" in exc_info.value.message
    setup.assert_nothing_stored()
