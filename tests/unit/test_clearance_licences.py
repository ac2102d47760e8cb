"""The clearance stand-in waits for reservations (flow F3): its rules, ledger and verdicts.

A green-channel declaration whose goods must draw on licences is not released with its other
decisions; what its release waits for is a list of conditions in the stand-in's ledger
(``payment``, ``reservation:<agency>:<number>:<item>``), met by the gateway's reservation
events and failed by a refusal or a revocation; an LRN ending with the invalidation suffix is
invalidated instead of released. Declarations are mapped from ``samples.licensed`` documents
with the repository's mapping.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.bootstrap import load_formats
from adapters.standins.clearance_ledger import ClearanceLedger
from adapters.standins.clearance_licences import FAIL, MEET, NOTED, PARK, judge_licence
from adapters.standins.clearance_rules import (
    ClearanceRules,
    PendingRelease,
    decide,
    pending_release,
    release_after_payment,
    release_conditions,
    reservation_conditions,
)
from gateway.canonical.declaration import Declaration
from gateway.canonical.licence_reservation import ReservationEvent
from gateway.canonical.licensing_rules import LicensingRequirements
from gateway.canonical.model import to_json_bytes
from gateway.settings import Settings
from gateway.xml.safe_parser import XmlLimits, parse_untrusted
from samples.licensed import build_licensed_dec

SETTINGS = Settings()
STEEL = ("72083900", "3000", [("X", "002", "MK-IL-9")])
APPLES = ("08081080", "500", [("N", "851", "RS-PC-9")])


@pytest.fixture(scope="module")
def rules() -> ClearanceRules:
    return ClearanceRules.load(SETTINGS.config_dir / "standins" / "clearance.toml")


@pytest.fixture(scope="module")
def licensing() -> LicensingRequirements:
    return LicensingRequirements.load(SETTINGS.config_dir / "licensing.toml")


@pytest.fixture(scope="module")
def mapping() -> object:
    _, mappings, kinds = load_formats(SETTINGS)
    return mappings["wco-dec-3.6.toml"], kinds


def declaration(mapping: object, lrn: str, *items: tuple[str, str, list[tuple[str, str, str]]],
                deferment: str | None = "7100042") -> Declaration:
    wco, kinds = mapping  # type: ignore[misc]
    document = build_licensed_dec(lrn, list(items), deferment=deferment)
    root = parse_untrusted(document, XmlLimits()).getroot()
    return kinds.get("declaration").build(wco.apply(root))


def _decide(d: Declaration, rules: ClearanceRules, reservations: list[str]) -> list[str]:
    return [x.kind for x in decide(d, message_id="m-1", conversation_id="conv-1",
                                   receipt_id="r", rules=rules, reservations=reservations)]


def test_conditions_name_each_required_licence_quoted(mapping: object,
                                                      licensing: LicensingRequirements) -> None:
    """Steel and apples wait for their two reservations; oranges' certificate is not required."""
    d = declaration(mapping, "LRN-C-1", STEEL, APPLES,
                    ("08051020", "10", [("N", "851", "PHYTO-X")]))
    assert reservation_conditions(d, licensing) == [
        "reservation:agency-trade:MK-IL-9:1", "reservation:agency-phyto:RS-PC-9:2"]
    assert reservation_conditions(d, None) == []


def test_release_waits_for_reservations_unless_configured_off(
        mapping: object, rules: ClearanceRules, licensing: LicensingRequirements) -> None:
    """With reservations to wait for, no release among the decisions; without the rule, at once."""
    d = declaration(mapping, "LRN-C-2", STEEL)
    needed = reservation_conditions(d, licensing)
    assert _decide(d, rules, needed) == ["accepted", "control", "duties_assessed"]
    assert _decide(d, dataclasses.replace(rules, reserve_before_release=False), needed)[-1] == \
        "released"
    assert _decide(d, rules, [])[-1] == "released"


def test_release_conditions_add_payment_when_duties_are_due(
        mapping: object, rules: ClearanceRules, licensing: LicensingRequirements) -> None:
    """No deferment account: the release waits for the payment as well as the reservation."""
    d = declaration(mapping, "LRN-C-3", STEEL, deferment=None)
    needed = reservation_conditions(d, licensing)
    decisions = decide(d, message_id="m-3", conversation_id="conv-3", receipt_id="r",
                       rules=rules, reservations=needed)
    pending = pending_release(decisions, "m-3")
    assert pending is not None
    assert release_conditions(d, pending, needed, rules) == ["payment", *needed]


def test_lrn_with_the_suffix_is_invalidated_instead_of_released(
        mapping: object, rules: ClearanceRules, licensing: LicensingRequirements) -> None:
    """``…-INVALIDATE``: invalidated at once when nothing waits, else once it no longer waits."""
    d = declaration(mapping, f"LRN-C-4{rules.invalidate_lrn_suffix}", STEEL)
    assert rules.final_decision(d) == "invalidated"
    assert _decide(d, rules, [])[-1] == "invalidated"
    decisions = decide(d, message_id="m-4", conversation_id="conv-4", receipt_id="r",
                       rules=rules, reservations=reservation_conditions(d, licensing))
    pending = pending_release(decisions, "m-4", rules.final_decision(d))
    assert pending is not None and release_after_payment(pending).kind == "invalidated"


def _pending(conversation_id: str = "conv-1") -> PendingRelease:
    return PendingRelease(conversation_id=conversation_id, receipt_id="r", message_id="m",
                          reference="LRN", mrn="26MK00100500000001",
                          payment_reference="RF18539007547034", amount_due=Decimal("10.00"),
                          currency="MKD")


def test_ledger_releases_once_every_condition_is_met(tmp_path: Path) -> None:
    """Payment met: still waiting for the reservation; reservation met: the release is given;
    asked again while still awaiting (a redelivery), it is given again; once released, never."""
    ledger = ClearanceLedger(tmp_path / "clearance.db")
    ledger.await_release(_pending(), ["payment", "reservation:a:L:1"])
    assert ledger.meet("conv-1", "payment") is None
    assert ledger.meet("conv-1", "reservation:a:L:1") == _pending()
    assert ledger.meet("conv-1", "reservation:a:L:1") == _pending()
    ledger.released("conv-1")
    assert ledger.meet("conv-1", "payment") is None
    assert ledger.conditions("conv-1") == {"payment": "met", "reservation:a:L:1": "met"}


def test_ledger_failed_condition_withholds_the_release(tmp_path: Path) -> None:
    """A refused reservation: failed, and nothing met afterwards releases."""
    ledger = ClearanceLedger(tmp_path / "clearance.db")
    ledger.await_release(_pending(), ["reservation:a:L:1", "reservation:a:L:2"])
    assert ledger.fail("conv-1", "reservation:a:L:1", "refused")
    assert ledger.meet("conv-1", "reservation:a:L:1") is None
    assert ledger.meet("conv-1", "reservation:a:L:2") is None
    assert not ledger.fail("conv-1", "reservation:unknown:X:9", "refused")
    assert ledger.pending("conv-1") is not None


def test_ledger_condition_it_does_not_wait_for_releases_nothing(tmp_path: Path) -> None:
    """Paid, but the release waits for a reservation only: the payment changes nothing."""
    ledger = ClearanceLedger(tmp_path / "clearance.db")
    ledger.await_release(_pending(), ["reservation:a:L:1"])
    assert ledger.meet("conv-1", "payment") is None
    assert ledger.conditions("conv-1") == {"reservation:a:L:1": "waiting"}


def test_ledger_of_an_older_stand_in_still_releases_on_payment(tmp_path: Path) -> None:
    """A ledger made before conditions and ``final`` existed: migrated, its awaiting release
    (no condition rows) released by the payment alone."""
    path = tmp_path / "clearance.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE releases (conversation_id TEXT PRIMARY KEY, receipt_id TEXT NOT"
                 " NULL, message_id TEXT NOT NULL, reference TEXT, mrn TEXT NOT NULL,"
                 " payment_reference TEXT NOT NULL, amount_due TEXT NOT NULL, currency TEXT NOT"
                 " NULL, state TEXT NOT NULL, at REAL NOT NULL)")
    conn.execute("INSERT INTO releases VALUES ('old', 'r', 'm', 'LRN', '26MK00100500000001',"
                 " 'RF18539007547034', '10.00', 'MKD', 'awaiting', 0)")
    conn.commit()
    conn.close()
    ledger = ClearanceLedger(path)
    released = ledger.meet("old", "payment")
    assert released is not None and released.final == "released"
    assert ledger.meet("old", "reservation:a:L:1") is None


def _event(event: str, **values: object) -> bytes:
    return to_json_bytes(ReservationEvent(event_id="e", event=event, conversation_id="conv-1",
                                          mrn="26MK00100500000001", item=2, agency="agency-trade",
                                          number="MK-IL-9", at="2026-06-01T10:00:00Z",
                                          **values))  # type: ignore[arg-type]


@pytest.mark.parametrize(("event", "action"), [
    ("reserved", MEET), ("refused", FAIL), ("licence_revoked", FAIL), ("written_off", NOTED),
    ("deleted", NOTED), ("write_off_refused", NOTED)])
def test_reservation_events_meet_or_fail_the_items_condition(event: str, action: str) -> None:
    """Reserved meets ``reservation:agency-trade:MK-IL-9:2``; refused and revoked fail it."""
    verdict = judge_licence("licence_reservation", _event(event, reason="insufficient-quantity"))
    assert (verdict.action, verdict.conversation_id, verdict.condition) == \
        (action, "conv-1", "reservation:agency-trade:MK-IL-9:2")


def test_licence_messages_noted_and_anything_else_parked() -> None:
    """A canonical licence is noted; another kind, or a body that is no JSON object, parked."""
    licence = json.dumps({"number": "MK-IL-9", "version": 2, "status": "amended",
                          "source": "licence-document", "type": "import"}).encode()
    assert judge_licence("licence", licence).action == NOTED
    assert judge_licence("payment", licence).action == PARK
    assert judge_licence("licence_reservation", b"[1]").action == PARK
    assert judge_licence("licence_reservation", b"{\"event\": \"reserved\"}").action == PARK
