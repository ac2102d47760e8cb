"""The clearance stand-in's rules (adapters.standins.clearance_rules) with the repo's config.

Declarations come from the real WCO mapping applied to ``build_dec`` documents, or are built
by hand where the arithmetic must be checked against figures computed in the test.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # allow a bare `pytest` run without an installed package
    sys.path.insert(0, str(ROOT))

from adapters.bootstrap import load_formats  # noqa: E402
from adapters.standins.clearance_rules import ClearanceRules, assess, decide  # noqa: E402
from gateway.canonical.clearance_decision import ClearanceDecision  # noqa: E402
from gateway.canonical.declaration import (  # noqa: E402
    Amount,
    Declaration,
    GoodsItem,
    Header,
    Offices,
    Procedure,
)
from gateway.identifiers import is_valid_creditor_reference, is_valid_mrn  # noqa: E402
from gateway.settings import Settings  # noqa: E402
from samples.wco import build_dec, iso6346_check_digit  # noqa: E402

SETTINGS = Settings()
Canonical = Callable[[bytes], Declaration]


@pytest.fixture(scope="module")
def rules() -> ClearanceRules:
    return ClearanceRules.load(SETTINGS.config_dir / "standins" / "clearance.toml")


@pytest.fixture(scope="module")
def canonical() -> Canonical:
    """Turn WCO DEC bytes into the canonical Declaration with the repository's mapping."""
    registry, mappings, kinds = load_formats(SETTINGS)

    def build(document: bytes) -> Declaration:
        root = etree.fromstring(document)
        message_type = registry.identify(root).message_type
        return kinds.get("declaration").build(mappings[message_type.mapping_file].apply(root))

    return build


def _decide(declaration: Declaration, rules: ClearanceRules,
            message_id: str = "doc:wco:LRN-1") -> list[ClearanceDecision]:
    return decide(declaration, message_id=message_id, conversation_id="conv-1",
                  receipt_id="rcp-1", rules=rules)


def _hand_declaration(*items: tuple[str, str], category: str = "IM") -> Declaration:
    return Declaration(
        header=Header(function_code="9", lrn="LRN-HAND-1", goods_item_count=len(items)),
        offices=Offices(declaration="MK001005"), procedure=Procedure(category=category),
        goods_items=[GoodsItem(sequence=n, commodity_code=hs,
                               customs_value=Amount(Decimal(value), "MKD"))
                     for n, (hs, value) in enumerate(items, start=1)])


def _iso11649_ok(reference: str) -> bool:
    """Independent ISO 11649 check: move RFkk to the end, letters -> 10..35, mod 97 == 1."""
    rearranged = reference[4:] + reference[:4]
    digits = "".join(str(ord(c) - 55) if c.isalpha() else c for c in rearranged)
    return reference.startswith("RF") and int(digits) % 97 == 1


# --- rejection -------------------------------------------------------------------------------


def test_decide_item_count_mismatch_is_single_rejection_r0228(
        canonical: Canonical, rules: ClearanceRules) -> None:
    """Declared item count 5 with 3 items gives one rejection R0228 pointing at 42A/228."""
    declaration = canonical(build_dec(3, lrn="LRN-MISMATCH-1", declared_item_count=5))

    decisions = _decide(declaration, rules)

    assert len(decisions) == 1
    (rejected,) = decisions
    assert rejected.kind == "rejected" and rejected.mrn is None
    assert [(e.code, e.pointer) for e in rejected.errors] == [("R0228", "42A/228")]
    assert "5" in rejected.errors[0].description and "3" in rejected.errors[0].description
    assert (rejected.conversation_id, rejected.receipt_id, rejected.reference) == \
        ("conv-1", "rcp-1", "LRN-MISMATCH-1")
    rejected.check()


# --- acceptance and MRN ----------------------------------------------------------------------


def test_decide_consistent_declaration_is_accepted_with_valid_mrn(
        canonical: Canonical, rules: ClearanceRules) -> None:
    """A consistent import gets accepted, control, duties (and release on green), one MRN."""
    declaration = canonical(build_dec(3, lrn="LRN-OK-1"))

    decisions = _decide(declaration, rules)

    assert [d.kind for d in decisions] == ["accepted", "control", "duties_assessed", "released"]
    mrn = decisions[0].mrn
    assert mrn is not None and is_valid_mrn(mrn)
    assert len(mrn) == 18
    assert mrn[:2] == f"{dt.datetime.now(dt.UTC).year % 100:02d}"
    assert mrn[2:4] == "MK"
    assert mrn[16] == "R"                                   # import procedure letter
    assert mrn[17] == iso6346_check_digit(mrn[:17])         # independent check digit
    assert all(d.mrn == mrn for d in decisions)
    assert all(d.reference == "LRN-OK-1" and d.conversation_id == "conv-1" for d in decisions)
    assert len({d.decision_id for d in decisions}) == 4
    for decision in decisions:
        decision.check()


@pytest.mark.parametrize(("type_code", "letter"), [("IMA", "R"), ("EXA", "A"), ("COA", "R")])
def test_decide_mrn_procedure_letter_follows_procedure_category(
        type_code: str, letter: str, canonical: Canonical, rules: ClearanceRules) -> None:
    """The MRN's procedure letter comes from the configured letters (IM R, EX A, CO R)."""
    declaration = canonical(build_dec(1, lrn=f"LRN-{type_code}", type_code=type_code))

    mrn = _decide(declaration, rules)[0].mrn

    assert mrn is not None and is_valid_mrn(mrn)
    assert mrn[16] == letter


# --- channels --------------------------------------------------------------------------------


@pytest.mark.parametrize(("hs_codes", "channel"), [
    (["93020000"], "red"),                   # arms: red chapter
    (["24022090"], "red"),                   # tobacco: red chapter
    (["30049000"], "yellow"),                # pharmaceuticals: yellow chapter
    (["84713000", "30049000"], "yellow"),    # one yellow item makes the declaration yellow
    (["30049000", "93020000"], "red"),       # red wins over yellow
    (["84713000", "61091000"], "green"),
])
def test_decide_channel_follows_hs_chapters(
        hs_codes: list[str], channel: str, canonical: Canonical, rules: ClearanceRules) -> None:
    """Red for chapters 93/24, yellow for 30, else green; release only on green."""
    declaration = canonical(build_dec(len(hs_codes), lrn="LRN-CH-1", hs_codes=hs_codes))

    decisions = _decide(declaration, rules)

    control = [d for d in decisions if d.kind == "control"]
    assert [d.channel for d in control] == [channel]
    released = [d for d in decisions if d.kind == "released"]
    assert len(released) == (1 if channel == "green" else 0)
    assert decisions[-1].kind == ("released" if channel == "green" else "duties_assessed")


# --- duties ----------------------------------------------------------------------------------


def test_assess_duty_arithmetic_matches_hand_computation(rules: ClearanceRules) -> None:
    """Duty = value x chapter rate; VAT 18 % on value + duty; each rounded to cents."""
    declaration = _hand_declaration(("61091000", "1234.56"),   # chapter 61: 15 %
                                    ("99050000", "100.07"),    # not in tariff: default 10 %
                                    ("84713000", "2500.00"))   # chapter 84: 0 %

    duties, total = assess(declaration, rules)

    # item 1: 1234.56 * 15 % = 185.184 -> 185.18; VAT (1234.56 + 185.18) * 18 % = 255.5532
    # item 2: 100.07 * 10 % = 10.007 -> 10.01;   VAT (100.07 + 10.01) * 18 % = 19.8144
    # item 3: 2500.00 * 0 % = 0.00;               VAT 2500.00 * 18 % = 450.00
    expected = [
        (1, "A00", Decimal("1234.56"), Decimal("15"), Decimal("185.18")),
        (1, "B00", Decimal("1419.74"), Decimal("18"), Decimal("255.55")),
        (2, "A00", Decimal("100.07"), Decimal("10"), Decimal("10.01")),
        (2, "B00", Decimal("110.08"), Decimal("18"), Decimal("19.81")),
        (3, "A00", Decimal("2500.00"), Decimal("0"), Decimal("0.00")),
        (3, "B00", Decimal("2500.00"), Decimal("18"), Decimal("450.00")),
    ]
    assert [(d.item, d.type, d.base, d.rate, d.amount) for d in duties] == expected
    assert all(d.amount.as_tuple().exponent == -2 for d in duties)
    assert total == Decimal("920.55")
    assert str(total) == "920.55"


def test_decide_duties_decision_states_total_currency_and_iso11649_reference(
        canonical: Canonical, rules: ClearanceRules) -> None:
    """The duties decision carries the assessed total in MKD and a valid RF reference."""
    declaration = canonical(build_dec(3, lrn="LRN-DUTY-1"))

    decisions = _decide(declaration, rules)

    (duties,) = [d for d in decisions if d.kind == "duties_assessed"]
    _, total = assess(declaration, rules)
    assert duties.total_duties == total
    assert duties.total_duties == sum(d.amount for d in duties.duties)
    assert duties.currency == "MKD"
    reference = duties.payment_reference
    assert reference is not None
    assert is_valid_creditor_reference(reference)
    assert _iso11649_ok(reference)
    assert 5 <= len(reference) <= 25 and reference[2:4].isdigit()


def test_decide_duties_for_hand_built_declaration(rules: ClearanceRules) -> None:
    """decide() reports exactly the hand-computed total for a hand-built declaration."""
    declaration = _hand_declaration(("61091000", "1234.56"))

    decisions = _decide(declaration, rules)

    (duties,) = [d for d in decisions if d.kind == "duties_assessed"]
    assert duties.total_duties == Decimal("440.73")          # 185.18 + 255.55
    assert duties.currency == "MKD"


# --- determinism -----------------------------------------------------------------------------


def test_decide_is_deterministic_for_same_message_id(
        canonical: Canonical, rules: ClearanceRules) -> None:
    """The same message id yields the same decision ids and MRN; another id yields others."""
    declaration = canonical(build_dec(2, lrn="LRN-DET-1"))

    first = _decide(declaration, rules, message_id="doc:wco:LRN-DET-1")
    again = _decide(declaration, rules, message_id="doc:wco:LRN-DET-1")
    other = _decide(declaration, rules, message_id="doc:wco:LRN-DET-2")

    assert [d.decision_id for d in first] == [d.decision_id for d in again]
    assert [d.kind for d in first] == [d.kind for d in again]
    assert first[0].mrn == again[0].mrn
    assert first[2].payment_reference == again[2].payment_reference
    assert not {d.decision_id for d in first} & {d.decision_id for d in other}
    assert other[0].mrn != first[0].mrn


def test_decide_rejection_is_deterministic_for_same_message_id(
        canonical: Canonical, rules: ClearanceRules) -> None:
    """A redelivered inconsistent declaration yields the same rejection decision id."""
    declaration = canonical(build_dec(2, lrn="LRN-DET-R", declared_item_count=3))

    first = _decide(declaration, rules, message_id="doc:wco:LRN-DET-R")
    again = _decide(declaration, rules, message_id="doc:wco:LRN-DET-R")

    assert [d.decision_id for d in first] == [d.decision_id for d in again]
