"""Business rules on canonical declarations: sanity rules for every dialect, named rules per format.

Masses must be positive and quantities and amounts not negative whatever the dialect
(``GW-RULE-MASS``, ``GW-RULE-NEGATIVE``, located by WCO pointer with the value); the LRN rule
is WCO's and is chosen per message type by name in ``config/message_types.toml``, where an
unknown name stops the gateway at start-up.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from adapters.bootstrap import load_formats
from gateway.canonical.declaration import (
    Amount,
    Declaration,
    DocumentRef,
    DutyLine,
    GoodsItem,
    Header,
    Measure,
    Package,
    Valuation,
)
from gateway.canonical.kinds import check_declaration, default_kinds
from gateway.canonical.model import from_plain
from gateway.errors import ConfigurationError, InvalidMessage, Problem
from gateway.mapping.engine import load_mapping
from gateway.message_types import MessageType
from gateway.settings import Settings
from gateway.xml.safe_parser import XmlLimits, parse_untrusted
from samples.asycuda import build_sad
from samples.wco import build_dec

SETTINGS = Settings()


def problems_of(declaration: Declaration, rules: tuple[str, ...] = ()) -> list[Problem]:
    """Every business-rule problem of ``declaration`` (empty when it passes)."""
    try:
        check_declaration(declaration, rules)
    except InvalidMessage as exc:
        assert exc.code == "GW-RULE-INVALID"
        return list(exc.problems)
    return []


def one_item(**fields: Any) -> Declaration:
    """An original declaration with an LRN and one goods item carrying ``fields``."""
    return Declaration(header=Header(function_code="9", lrn="L-1"),
                       goods_items=[GoodsItem(sequence=1, **fields)])


def mapped(family: str, body: bytes) -> Declaration:
    mapping = {"wco": "wco-dec-3.6.toml", "asycuda": "asycuda-sad-1.toml"}[family]
    root = parse_untrusted(body, XmlLimits()).getroot()
    return from_plain(Declaration, load_mapping(SETTINGS.mappings_dir / mapping).apply(root))


def with_text(body: bytes, path: str, text: str, namespaces: dict[str, str] | None = None) -> bytes:
    """``body`` with the text of the first element at ``path`` replaced."""
    root = etree.fromstring(body)
    (element, *_) = root.xpath(path, namespaces=namespaces or {})
    element.text = text
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


# --- sanity rules: masses ------------------------------------------------------------------

@pytest.mark.parametrize("value", ["0", "-390", "0.000"])
@pytest.mark.parametrize("field, pointer", [
    ("gross_mass", "42A/67A/68A[1]/23A/65A/126"), ("net_mass", "42A/67A/68A[1]/23A/65A/128"),
])
def test_item_mass_zero_or_negative_is_gw_rule_mass(field: str, pointer: str, value: str) -> None:
    """A goods item's gross or net mass of zero or less is GW-RULE-MASS at its WCO pointer."""
    (problem,) = problems_of(one_item(**{field: Decimal(value)}))
    assert (problem.code, problem.pointer, problem.value) == ("GW-RULE-MASS", pointer, value)
    assert "greater than zero" in problem.message


@pytest.mark.parametrize("value", ["0", "-1.5"])
def test_header_gross_mass_zero_or_negative_is_gw_rule_mass(value: str) -> None:
    """The declaration's total gross mass of zero or less is GW-RULE-MASS at 42A/131."""
    declaration = one_item()
    declaration.header.total_gross_mass = Measure(Decimal(value), "KGM")
    (problem,) = problems_of(declaration)
    assert (problem.code, problem.pointer, problem.value) == ("GW-RULE-MASS", "42A/131", value)


def test_positive_masses_break_no_rule() -> None:
    """Small positive masses (0.001 kg) are fine."""
    declaration = one_item(gross_mass=Decimal("0.001"), net_mass=Decimal("0.001"))
    declaration.header.total_gross_mass = Measure(Decimal("0.001"))
    assert problems_of(declaration) == []


# --- sanity rules: quantities and amounts --------------------------------------------------

NEGATIVES: dict[str, tuple[Declaration, str]] = {
    "item packages": (one_item(packages=[Package(quantity=Decimal("2")),
                                         Package(quantity=Decimal("-0.06"))]),
                      "42A/67A/68A[1]/93A[2]/144"),
    "supplementary quantity": (one_item(supplementary_quantity=Decimal("-3")),
                               "42A/67A/68A[1]/23A/65A/130"),
    "customs value": (one_item(customs_value=Amount(Decimal("-3"), "EUR")),
                      "42A/67A/68A[1]/108"),
    "statistical value": (one_item(statistical_value=Amount(Decimal("-3"))),
                          "42A/67A/68A[1]/114"),
    "duty assessed": (one_item(duties=[DutyLine(assessed=Decimal("-3"))]),
                      "42A/67A/68A[1]/23A/50A[1]/94A/120"),
    "duty payable": (one_item(duties=[DutyLine(), DutyLine(payable=Decimal("-3"))]),
                     "42A/67A/68A[1]/23A/50A[2]/94A/378"),
    "duty base": (one_item(duties=[DutyLine(base_amount=Decimal("-3"))]),
                  "42A/67A/68A[1]/23A/50A[1]/116"),
    "duty rate": (one_item(duties=[DutyLine(rate=Decimal("-3"))]),
                  "42A/67A/68A[1]/23A/50A[1]/115"),
    "licence quantity": (one_item(documents=[DocumentRef("additional", quantity=Decimal("-3"))]),
                         "42A/67A/68A[1]/02A[1]/22C/502"),
}


@pytest.mark.parametrize("case", list(NEGATIVES), ids=list(NEGATIVES))
def test_negative_item_quantity_or_amount_is_gw_rule_negative(case: str) -> None:
    """A negative package count, quantity, value, duty or rate of an item is GW-RULE-NEGATIVE."""
    declaration, pointer = NEGATIVES[case]
    (problem,) = problems_of(declaration)
    assert (problem.code, problem.pointer) == ("GW-RULE-NEGATIVE", pointer)
    assert problem.value is not None and problem.value.startswith("-")
    assert "must not be negative" in problem.message


@pytest.mark.parametrize("change, pointer, value", [
    ({"total_packages": Decimal("-1")}, "42A/146", "-1"),
    ({"goods_item_count": -1}, "42A/228", "-1"),
])
def test_negative_header_count_is_gw_rule_negative(change: dict[str, Any], pointer: str,
                                                   value: str) -> None:
    """A negative total of packages or of goods items is GW-RULE-NEGATIVE at its header id."""
    declaration = one_item()
    for name, number in change.items():
        setattr(declaration.header, name, number)
    (problem,) = problems_of(declaration)
    assert (problem.code, problem.pointer, problem.value) == ("GW-RULE-NEGATIVE", pointer, value)


@pytest.mark.parametrize("field, pointer", [
    ("invoice_amount", "42A/109"), ("freight", "42A/67A/41A/117"),
])
def test_negative_declaration_amount_is_gw_rule_negative(field: str, pointer: str) -> None:
    """A negative invoice amount or freight is GW-RULE-NEGATIVE at its WCO pointer."""
    declaration = one_item()
    declaration.valuation = Valuation(**{field: Amount(Decimal("-100.50"), "MKD")})
    (problem,) = problems_of(declaration)
    assert (problem.code, problem.pointer, problem.value) == \
        ("GW-RULE-NEGATIVE", pointer, "-100.50")


def test_zero_quantities_and_amounts_break_no_rule() -> None:
    """Zero packages (bulk goods), a zero duty or value are allowed: only masses must be > 0."""
    declaration = one_item(packages=[Package(quantity=Decimal("0"))],
                           customs_value=Amount(Decimal("0")),
                           duties=[DutyLine(rate=Decimal("0"), assessed=Decimal("0"))])
    declaration.header.total_packages = Decimal("0")
    assert problems_of(declaration) == []


def test_sanity_rules_report_every_problem_at_once() -> None:
    """Three wrong values on two items give three located problems, not the first one only."""
    declaration = Declaration(header=Header(function_code="9", lrn="L-1"), goods_items=[
        GoodsItem(sequence=1, net_mass=Decimal("-390"), customs_value=Amount(Decimal("-1"))),
        GoodsItem(sequence=2, gross_mass=Decimal("0")),
    ])
    assert [(p.code, p.pointer) for p in problems_of(declaration)] == [
        ("GW-RULE-MASS", "42A/67A/68A[1]/23A/65A/128"),
        ("GW-RULE-MASS", "42A/67A/68A[2]/23A/65A/126"),
        ("GW-RULE-NEGATIVE", "42A/67A/68A[1]/108"),
    ]


def test_sanity_rules_apply_to_wco_and_asycuda_alike() -> None:
    """A net mass of -390 in a WCO or an ASYCUDA document is the same GW-RULE-MASS problem."""
    dec_ns = {"d": "urn:wco:datamodel:WCO:DEC-DMS:2"}
    wco = with_text(build_dec(1, lrn="L-1"), "//d:NetNetWeightMeasure", "-390", dec_ns)
    sad = with_text(build_sad(1), "//Net_weight_itm", "-390")
    for family, body in (("wco", wco), ("asycuda", sad)):
        found = [(p.code, p.pointer, p.value) for p in problems_of(mapped(family, body))]
        assert found == [("GW-RULE-MASS", "42A/67A/68A[1]/23A/65A/128", "-390")], family


# --- named rules per message type ----------------------------------------------------------

def message_type(rules: tuple[str, ...], kind: str = "declaration") -> MessageType:
    return MessageType(id="t", name="t", namespace="", local_name="r", version="1",
                       schema_file="x.xsd", mapping_file="x.toml", canonical_kind=kind,
                       routing_class="declaration", family="t", rules=rules)


def test_check_message_types_accepts_registered_rule_names() -> None:
    """A message type naming lrn-required (or no rule at all) passes the start-up check."""
    default_kinds().check_message_types([message_type(("lrn-required",)), message_type(())])


def test_check_message_types_refuses_unknown_rule_name() -> None:
    """A misspelt rule name is a ConfigurationError naming it and the known rules."""
    with pytest.raises(ConfigurationError) as caught:
        default_kinds().check_message_types([message_type(("lrn-requried",))])
    assert "'lrn-requried'" in caught.value.message
    assert "lrn-required" in caught.value.message


def test_check_message_types_refuses_unknown_kind() -> None:
    """A message type of a canonical kind nobody registered is a ConfigurationError."""
    with pytest.raises(ConfigurationError, match="unknown canonical kind"):
        default_kinds().check_message_types([message_type((), kind="payment")])


def test_shipped_registry_requires_the_lrn_for_wco_only() -> None:
    """Both WCO entries name lrn-required (and licences-quoted); the ASYCUDA entry names no
    rule."""
    registry, _, _ = load_formats(SETTINGS)
    rules = {mt.id: mt.rules for mt in registry}
    assert rules["wco-dec-3.6"] == rules["wco-dec-3.6-bare"] == ("lrn-required",
                                                                  "licences-quoted")
    assert rules["asycuda-sad-1"] == ()


def settings_with_registry(tmp_path: Path, registry_text: str) -> Settings:
    """Settings whose home has its own message_types.toml, the shipped schemas and mappings."""
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "message_types.toml").write_text(registry_text, encoding="utf-8")
    for name in ("schemas", "mappings"):
        (tmp_path / name).symlink_to(SETTINGS.home / name)
    return Settings(home=tmp_path, var_dir=tmp_path / "var")


def test_load_formats_refuses_to_start_with_unknown_rule(tmp_path: Path) -> None:
    """The shipped registry with a rule name nobody registered stops load_formats."""
    shipped = (SETTINGS.config_dir / "message_types.toml").read_text(encoding="utf-8")
    assert shipped.count('rules = []') == 1
    broken = shipped.replace('rules = []', 'rules = ["declarant-reference-required"]')
    with pytest.raises(ConfigurationError, match="declarant-reference-required"):
        load_formats(settings_with_registry(tmp_path, broken))


def test_load_formats_refuses_rules_that_are_not_a_list(tmp_path: Path) -> None:
    """``rules = "lrn-required"`` (a string, not a list) is a ConfigurationError."""
    shipped = (SETTINGS.config_dir / "message_types.toml").read_text(encoding="utf-8")
    broken = shipped.replace('rules = []', 'rules = "lrn-required"')
    with pytest.raises(ConfigurationError, match="list of rule names"):
        load_formats(settings_with_registry(tmp_path, broken))

