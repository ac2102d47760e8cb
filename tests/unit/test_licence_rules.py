"""Business rules of licences, and the rule that goods needing a licence quote one.

``licence_rules``: what a licence must state (validity in order, positive quantities with
units, unique lines, version and status telling one story), each problem located in the
document the licence came from. ``licensing_rules``: ``config/licensing.toml`` read into
requirements, and ``licences-quoted`` over canonical declarations — an item whose commodity
code needs a document and quotes none is refused at the WCO pointer of its documents.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from adapters.bootstrap import load_formats
from gateway.canonical.declaration import Declaration, DocumentRef, GoodsItem, Procedure
from gateway.canonical.kinds import default_kinds
from gateway.canonical.licence import (
    LICENCE_DOCUMENT,
    SPS_CERTIFICATE,
    Licence,
    LicenceLine,
)
from gateway.canonical.licence_rules import LICENCE_RULES
from gateway.canonical.licensing_rules import (
    LicensingRequirements,
    licences_quoted,
    quoted_licences,
)
from gateway.canonical.model import from_plain
from gateway.errors import ConfigurationError, InvalidMessage, Problem
from gateway.settings import Settings
from samples.wco import build_dec

SETTINGS = Settings()
LICENSING = LicensingRequirements.load(SETTINGS.config_dir / "licensing.toml")


def problems(licence: Licence) -> list[Problem]:
    return [p for rule in LICENCE_RULES for p in rule(licence)]


def licence(**overrides: object) -> Licence:
    base: dict[str, object] = dict(
        source=LICENCE_DOCUMENT, number="MK-IL-1", version=1, status="issued", type="import",
        valid_from="2026-01-15", valid_to="2026-12-31",
        lines=[LicenceLine(1, "72083900", "Coils", Decimal("6"), "TNE"),
               LicenceLine(2, "72142000", "Rebar", Decimal("4"), "TNE")])
    base.update(overrides)
    return Licence(**base)  # type: ignore[arg-type]


# --- licence rules ----------------------------------------------------------------------------


def test_licence_rules_accept_a_consistent_licence() -> None:
    """Issued, version 1, validity in order, positive quantities with units: no problem."""
    assert problems(licence()) == []
    assert problems(licence(version=2, status="amended")) == []
    assert problems(licence(version=3, status="revoked", revoked_at="2026-06-01T00:00:00Z",
                            lines=[])) == []


def test_licence_validity_ending_before_it_starts_is_located() -> None:
    """From after To: GW-RULE-LICENCE-VALIDITY at /Licence/Validity/To with the end date."""
    (problem,) = problems(licence(valid_from="2026-12-31", valid_to="2026-01-01"))
    assert (problem.code, problem.pointer, problem.value) == (
        "GW-RULE-LICENCE-VALIDITY", "/Licence/Validity/To", "2026-01-01")


def test_licence_quantity_of_zero_or_less_is_located_on_its_line() -> None:
    """A zero and a negative quantity: one problem each, at their lines' Quantity."""
    lines = [LicenceLine(1, "7208", None, Decimal("0"), "TNE"),
             LicenceLine(2, "7214", None, Decimal("-1.5"), "TNE")]
    found = problems(licence(lines=lines))
    assert [(p.code, p.pointer, p.value) for p in found] == [
        ("GW-RULE-LICENCE-QUANTITY", "/Licence/GoodsLine[1]/Quantity", "0"),
        ("GW-RULE-LICENCE-QUANTITY", "/Licence/GoodsLine[2]/Quantity", "-1.5")]


def test_sps_line_without_a_unit_is_located_at_its_measure() -> None:
    """An SPS line quantity without unit points at the measure it came from."""
    lines = [LicenceLine(1, None, None, Decimal("52.5"), None, quantity_kind="net-volume")]
    (problem,) = problems(licence(source=SPS_CERTIFICATE, valid_to=None, lines=lines))
    assert problem.code == "GW-RULE-LICENCE-UNIT"
    assert problem.pointer == ("/SPSCertificate/SPSConsignment/IncludedSPSConsignmentItem/"
                               "IncludedSPSTradeLineItem[1]/NetVolumeMeasure")


def test_licence_line_number_used_twice_is_located() -> None:
    """The second line 1 is GW-RULE-LICENCE-DUPLICATE-LINE at its LineNumber."""
    lines = [LicenceLine(1, "7208", None, Decimal(1), "TNE"),
             LicenceLine(1, "7214", None, Decimal(1), "TNE")]
    (problem,) = problems(licence(lines=lines))
    assert (problem.code, problem.pointer) == ("GW-RULE-LICENCE-DUPLICATE-LINE",
                                               "/Licence/GoodsLine[2]/LineNumber")


@pytest.mark.parametrize(("overrides", "pointer"), [
    ({"version": 2}, "/Licence/Version"),                                   # issued at v2
    ({"status": "amended"}, "/Licence/Version"),                            # amended at v1
    ({"version": 2, "status": "revoked"}, "/Licence/Status"),               # no Revocation
    ({"revoked_at": "2026-06-01T00:00:00Z"}, "/Licence/Revocation"),       # issued, revoked_at
    ({"lines": []}, "/Licence/GoodsLine"),                                  # issued, no lines
])
def test_licence_status_that_contradicts_itself_is_refused(overrides: dict[str, object],
                                                          pointer: str) -> None:
    """Version, status, revocation and lines disagreeing: GW-RULE-LICENCE-STATUS, located."""
    (problem,) = problems(licence(**overrides))
    assert (problem.code, problem.pointer) == ("GW-RULE-LICENCE-STATUS", pointer)


def test_licence_kind_checks_its_rules_and_states_its_contract() -> None:
    """The licence kind raises GW-RULE-INVALID; its reference, attributes and type are stated."""
    kind = default_kinds().get("licence")
    with pytest.raises(InvalidMessage) as raised:
        kind.check(licence(valid_from="2027-01-01"))
    assert raised.value.code == "GW-RULE-INVALID"
    good = licence()
    assert kind.business_reference(good) == "MK-IL-1"
    assert kind.routing_attributes(good)["type"] == "import"
    assert kind.document_type is not None
    assert kind.document_type(good).code == "import"
    sps = licence(source=SPS_CERTIFICATE, certificate_type_code="851", type="phytosanitary")
    found = kind.document_type(sps)
    assert (found.code, found.pointer) == ("851", "/SPSCertificate/SPSExchangedDocument/TypeCode")


# --- which goods need what --------------------------------------------------------------------


def test_licensing_file_is_read_into_documents_and_requirements() -> None:
    """The shipped file: N851 from agency-phyto for 0808, X002 from agency-trade for steel."""
    assert LICENSING.documents["N851"].agency == "agency-phyto"
    assert LICENSING.documents["X002"].document_type == "import"
    assert [r.documents for r in LICENSING.required_for("08081080", "EX")] == [("N851",)]
    assert [r.documents for r in LICENSING.required_for("72142000", "IM")] == [("X002",)]
    assert LICENSING.required_for("72142000", "EX") == []          # imports only
    assert LICENSING.required_for("72024950", "IM") == []          # ferro-alloys: not steel
    assert LICENSING.required_for("7230", "IM") == []


def test_licensing_file_missing_means_no_requirement(tmp_path: Path) -> None:
    """A deployment without config/licensing.toml requires no licence."""
    assert LicensingRequirements.load(tmp_path / "licensing.toml").requirements == ()


@pytest.mark.parametrize(("text", "message"), [
    ('[[requirement]]\nname = "r"\nhs = ["0808"]\ndocuments = ["N851"]\n', "unknown"),
    ('[[document]]\ncode = "N851"\nname = "n"\nagency = "a"\ndocument_type = "851"\n'
     '[[requirement]]\nname = "r"\nhs = ["72-7229"]\ndocuments = ["N851"]\n', "equal length"),
    ('[[document]]\ncode = "N851"\nname = "n"\nagency = "a"\n', "lacks"),
    ('[[document]]\ncode = "n 851"\nname = "n"\nagency = "a"\ndocument_type = "x"\n', "letters"),
    ("[[document]\n", "not valid TOML"),
])
def test_licensing_file_mistakes_stop_start_up(tmp_path: Path, text: str, message: str) -> None:
    """A broken licensing file is a ConfigurationError saying what is wrong."""
    path = tmp_path / "licensing.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigurationError, match=message):
        LicensingRequirements.load(path)


def declaration(body: bytes) -> Declaration:
    registry, mappings, _ = load_formats(SETTINGS)
    root = etree.fromstring(body)
    mt = registry.identify(root).message_type
    return from_plain(Declaration, mappings[mt.mapping_file].apply(root, body))


def test_licences_quoted_refuses_an_item_that_quotes_none_at_its_documents() -> None:
    """Item 2 of a WCO declaration is apples without an N851: one problem, at 68A[2]/02A."""
    rule = licences_quoted(LICENSING)
    found = rule(declaration(build_dec(2, lrn="LRN-LIC-1", hs_codes=["84713000", "08081080"])))
    (problem,) = found
    assert (problem.code, problem.pointer, problem.value) == (
        "GW-RULE-LICENCE-MISSING", "42A/67A/68A[2]/02A", "08081080")
    assert "N851" in problem.message and "agency-phyto" in problem.message


def test_licences_quoted_accepts_an_item_that_quotes_its_document() -> None:
    """The same item quoting N851 with a number, on the item or for its line, passes."""
    rule = licences_quoted(LICENSING)
    item = GoodsItem(sequence=1, commodity_code="08081080", documents=[
        DocumentRef("additional", category="N", type="851", id="RS-PC-2026-004711")])
    assert rule(Declaration(goods_items=[item])) == []
    bare = GoodsItem(sequence=2, commodity_code="08083010")
    by_line = Declaration(goods_items=[bare], documents=[
        DocumentRef("additional", type="N851", id="RS-PC-1", line=2)])
    assert rule(by_line) == []
    other_line = Declaration(goods_items=[bare], documents=[
        DocumentRef("additional", type="N851", id="RS-PC-1", line=1)])
    assert [p.code for p in rule(other_line)] == ["GW-RULE-LICENCE-MISSING"]
    no_number = GoodsItem(sequence=1, commodity_code="08081080", documents=[
        DocumentRef("additional", category="N", type="851")])
    assert len(rule(Declaration(goods_items=[no_number]))) == 1


def test_licences_quoted_applies_the_procedure_categories() -> None:
    """Steel imported without X002 is refused; the same steel exported is not."""
    rule = licences_quoted(LICENSING)
    steel = GoodsItem(sequence=1, commodity_code="72142000")
    imported = Declaration(procedure=Procedure(category="IM"), goods_items=[steel])
    exported = Declaration(procedure=Procedure(category="EX"), goods_items=[steel])
    assert [p.code for p in rule(imported)] == ["GW-RULE-LICENCE-MISSING"]
    assert rule(exported) == []


def test_quoted_licences_says_which_licence_of_which_agency() -> None:
    """What a reservation starts from: the code, the number and the issuing agency."""
    item = GoodsItem(sequence=1, commodity_code="72142000", documents=[
        DocumentRef("additional", category="X", type="002", id="MK-IL-2026-0042"),
        DocumentRef("additional", category="N", type="935", id="OTHER")])
    found = quoted_licences(Declaration(goods_items=[item]), item, LICENSING)
    assert [(q.code, q.number, q.agency, q.document_type) for q in found] == [
        ("X002", "MK-IL-2026-0042", "agency-trade", "import")]


def test_licences_quoted_is_a_named_rule_of_the_wco_entries_only() -> None:
    """The shipped registry names licences-quoted for WCO; the kinds know it from the file."""
    registry, _, kinds = load_formats(SETTINGS)
    named = {mt.id for mt in registry if "licences-quoted" in mt.rules}
    assert named == {"wco-dec-3.6", "wco-dec-3.6-bare"}
    assert "licences-quoted" in kinds.get("declaration").named_rules
    assert "licences-quoted" not in default_kinds().get("declaration").named_rules
