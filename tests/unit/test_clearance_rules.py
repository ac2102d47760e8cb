"""The clearance stand-in's rules (adapters.standins.clearance_rules) with the repo's config.

Declarations come from the real WCO mapping applied to ``build_dec`` documents, or are built
by hand where the arithmetic must be checked against figures computed in the test.
"""

from __future__ import annotations

import dataclasses
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
from adapters.standins.clearance_rules import (  # noqa: E402
    ClearanceRules,
    PendingRelease,
    assess,
    decide,
    pending_release,
    release_after_payment,
)
from gateway.canonical.clearance_decision import ClearanceDecision  # noqa: E402
from gateway.canonical.declaration import (  # noqa: E402
    Amount,
    Declaration,
    DocumentRef,
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


# --- release: at once, or once paid ----------------------------------------------------------


def test_decide_declaration_without_deferment_waits_for_payment(
        canonical: Canonical, rules: ClearanceRules) -> None:
    """Green, duties above zero and no deferment account: no release among the decisions, and
    the pending release names the declaration, its MRN, reference and amount due."""
    declaration = canonical(build_dec(2, lrn="LRN-PAY-1", deferment=None))

    decisions = _decide(declaration, rules, message_id="doc:wco:LRN-PAY-1")

    assert [d.kind for d in decisions] == ["accepted", "control", "duties_assessed"]
    duties = decisions[2]
    pending = pending_release(decisions, "doc:wco:LRN-PAY-1")
    assert pending == PendingRelease(
        conversation_id="conv-1", receipt_id="rcp-1", message_id="doc:wco:LRN-PAY-1",
        reference="LRN-PAY-1", mrn=duties.mrn, payment_reference=duties.payment_reference,
        amount_due=duties.total_duties, currency="MKD")
    assert duties.total_duties is not None and duties.total_duties > 0


def test_release_after_payment_is_the_release_a_deferred_declaration_gets_at_once(
        canonical: Canonical, rules: ClearanceRules) -> None:
    """The same declaration with a deferment account (DE 2/6, DAN) is released at once, and
    nothing waits; the release after payment has that release's id, MRN and LRN."""
    at_once = _decide(canonical(build_dec(2, lrn="LRN-PAY-2")), rules, message_id="m-2")
    waiting = _decide(canonical(build_dec(2, lrn="LRN-PAY-2", deferment=None)), rules,
                      message_id="m-2")

    assert at_once[-1].kind == "released" and pending_release(at_once, "m-2") is None
    pending = pending_release(waiting, "m-2")
    assert pending is not None
    released = release_after_payment(pending)
    released.check()
    assert (released.decision_id, released.kind, released.mrn, released.reference,
            released.conversation_id, released.receipt_id) == (
        at_once[-1].decision_id, "released", at_once[-1].mrn, "LRN-PAY-2", "conv-1", "rcp-1")


@pytest.mark.parametrize(("documents", "release"), [
    ([DocumentRef("additional", category="1", type="DAN", id="7100042")], True),
    ([DocumentRef("additional", category="1", type="DAN", id=None)], False),      # no account
    ([DocumentRef("additional", category="N", type="DAN", id="7100042")], False),
    ([DocumentRef("previous", category="1", type="DAN", id="7100042")], False),
    ([DocumentRef("additional", category="Z", type="730", id="CMR-1")], False),
])
def test_decide_only_a_configured_deferment_document_releases_at_once(
        documents: list[DocumentRef], release: bool, rules: ClearanceRules) -> None:
    """A declaration-level additional document of a configured (category, type), with the
    account as its id, defers the duties; any other document does not."""
    declaration = _hand_declaration(("61091000", "1234.56"))
    declaration.documents = documents

    kinds = [d.kind for d in _decide(declaration, rules)]

    assert ("released" in kinds) is release


def test_decide_releases_at_once_without_duties_or_when_payment_is_not_awaited(
        rules: ClearanceRules) -> None:
    """No duties to pay (a zero customs value): released at once; with pay_before_release off,
    a declaration with duties and no deferment is released at once too."""
    free = _hand_declaration(("61091000", "0.00"))
    assert _decide(free, rules)[-1].kind == "released"
    taxed = _hand_declaration(("61091000", "1234.56"))
    assert _decide(taxed, rules)[-1].kind == "duties_assessed"
    lenient = dataclasses.replace(rules, pay_before_release=False)
    assert _decide(taxed, lenient)[-1].kind == "released"


def test_release_rules_are_read_from_the_stand_in_config(tmp_path: Path) -> None:
    """[release] in clearance.toml: the shipped file awaits payment and takes DE 2/6 DAN; a
    file may switch the wait off and name other deferment documents."""
    assert (rules_of(SETTINGS.config_dir / "standins" / "clearance.toml")) == (
        True, frozenset({("1", "DAN")}))
    path = tmp_path / "clearance.toml"
    path.write_text('[release]\npay_before_release = false\n'
                    'deferment_documents = [{ category = "1", type = "DPO" }]\n')
    assert rules_of(path) == (False, frozenset({("1", "DPO")}))


def rules_of(path: Path) -> tuple[bool, frozenset[tuple[str, str]]]:
    loaded = ClearanceRules.load(path)
    return loaded.pay_before_release, loaded.deferment_documents


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
