"""The canonical declaration: deterministic JSON, round trips, WCO ids, business rules."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal

import pytest

from gateway.canonical.declaration import (
    CANONICAL_VERSION,
    PARTY_ROLES,
    Amount,
    Declaration,
    GoodsItem,
    Header,
    header_pointer,
    item_pointer,
    party_pointer,
)
from gateway.canonical.kinds import check_declaration, declaration_attributes, default_kinds
from gateway.canonical.model import field_wco, from_plain, to_json_bytes, to_plain
from gateway.errors import InvalidMessage
from gateway.mapping.engine import load_mapping
from gateway.settings import Settings
from gateway.xml.safe_parser import XmlLimits, parse_untrusted
from samples.asycuda import build_sad
from samples.wco import build_dec

SETTINGS = Settings()
FIXTURES = SETTINGS.home / "tests" / "fixtures"
MAPPINGS = {"wco": SETTINGS.mappings_dir / "wco-dec-3.6.toml",
            "asycuda": SETTINGS.mappings_dir / "asycuda-sad-1.toml"}


def declaration_from(family: str, body: bytes) -> Declaration:
    """Parse, map and build a canonical Declaration from a document of ``family``."""
    root = parse_untrusted(body, XmlLimits()).getroot()
    return from_plain(Declaration, load_mapping(MAPPINGS[family]).apply(root))


def fixture(path: str) -> bytes:
    return (FIXTURES / path).read_bytes()


def rule_codes(declaration: Declaration, rules: tuple[str, ...] = ()) -> list[str]:
    """Codes of the business-rule problems (empty when every rule holds)."""
    try:
        check_declaration(declaration, rules)
    except InvalidMessage as exc:
        assert exc.code == "GW-RULE-INVALID"
        return [p.code for p in exc.problems]
    return []


def all_keys(value: object) -> list[list[str]]:
    """The key order of every JSON object inside ``value``."""
    found: list[list[str]] = []
    if isinstance(value, dict):
        found.append(list(value))
        for item in value.values():
            found += all_keys(item)
    elif isinstance(value, list):
        for item in value:
            found += all_keys(item)
    return found


# --- deterministic JSON --------------------------------------------------------------------

@pytest.mark.parametrize("family, path", [
    ("wco", "wco/dec_valid_3_items.xml"), ("asycuda", "asycuda/sad_valid_3_items.xml"),
])
def test_to_json_bytes_same_document_same_bytes(family: str, path: str) -> None:
    """Mapping the same document twice gives byte-identical canonical JSON."""
    first = to_json_bytes(declaration_from(family, fixture(path)))
    second = to_json_bytes(declaration_from(family, fixture(path)))
    assert first == second
    assert len(first) > 1000


def test_to_json_bytes_sorted_keys_no_whitespace() -> None:
    """Every object's keys are sorted and the JSON has no insignificant whitespace."""
    data = to_json_bytes(declaration_from("wco", fixture("wco/dec_valid_3_items.xml")))
    parsed = json.loads(data)
    for keys in all_keys(parsed):
        assert keys == sorted(keys)
    assert b'": ' not in data and b'", "' not in data
    assert data == json.dumps(parsed, sort_keys=True, separators=(",", ":"),
                              ensure_ascii=False).encode("utf-8")


def test_to_json_bytes_decimals_as_exact_strings() -> None:
    """Decimals become strings keeping their scale (413.400, not 413.4 or a float)."""
    data = json.loads(to_json_bytes(declaration_from("wco", fixture("wco/dec_valid_3_items.xml"))))
    item = data["goods_items"][0]
    assert item["gross_mass"] == "413.400"
    assert item["customs_value"] == {"currency": "MKD", "value": "22454.60"}
    assert data["header"]["total_gross_mass"]["value"] == "776.600"


def test_to_json_bytes_utf8_not_escaped() -> None:
    """Cyrillic names are written as UTF-8, not \\u escapes."""
    data = to_json_bytes(declaration_from("asycuda", fixture("asycuda/sad_valid_3_items.xml")))
    assert "ШПЕДИЦИЈА БАЛКАН ДООЕЛ Скопје".encode() in data
    assert b"\\u" not in data


def test_to_plain_drops_empty_values() -> None:
    """None, empty lists and empty records are left out of the plain form."""
    plain = to_plain(Declaration(source_format="x", header=Header(lrn="L-1")))
    assert plain == {"source_format": "x", "canonical_version": CANONICAL_VERSION,
                     "header": {"lrn": "L-1"}}


@pytest.mark.parametrize("family, path", [
    ("wco", "wco/dec_valid_3_items.xml"), ("asycuda", "asycuda/sad_valid_3_items.xml"),
    ("asycuda", "asycuda/sad_valid_120_items.xml"),
])
def test_from_plain_round_trips_canonical_json(family: str, path: str) -> None:
    """from_plain(Declaration, json.loads(to_json_bytes(d))) equals d, byte for byte again."""
    declaration = declaration_from(family, fixture(path))
    data = to_json_bytes(declaration)
    again = from_plain(Declaration, json.loads(data))
    assert again == declaration
    assert to_json_bytes(again) == data
    assert isinstance(again.goods_items[0], GoodsItem)
    assert isinstance(again.goods_items[0].gross_mass, Decimal)
    assert isinstance(again.goods_items[0].customs_value, Amount)


# --- WCO ids and pointers ------------------------------------------------------------------

@pytest.mark.parametrize("cls, name, expected", [
    (GoodsItem, "net_mass", ("128", "23A/65A/128")),
    (GoodsItem, "gross_mass", ("126", "23A/65A/126")),
    (GoodsItem, "commodity_code", ("145", "23A/21A/145")),
    (GoodsItem, "sequence", ("006", "006")),
    (Header, "lrn", ("D026", "D026")),
    (Header, "goods_item_count", ("228", "228")),
])
def test_field_wco_gives_id_and_path(cls: type, name: str, expected: tuple[str, str]) -> None:
    """Canonical fields know their WCO data element id and path below their container."""
    assert field_wco(cls, name) == expected


def test_field_wco_unknown_field_raises_key_error() -> None:
    """Asking for a field the class does not have raises KeyError naming it."""
    with pytest.raises(KeyError, match="no_such_field"):
        field_wco(GoodsItem, "no_such_field")


def test_item_pointer_builds_wco_pointer() -> None:
    """Item pointers are 42A/67A/68A[n] plus the field's WCO path."""
    assert item_pointer(2, "net_mass") == "42A/67A/68A[2]/23A/65A/128"
    assert item_pointer(3) == "42A/67A/68A[3]"


def test_header_pointer_builds_wco_pointer() -> None:
    """Header pointers are 42A plus the field's WCO id."""
    assert header_pointer("goods_item_count") == "42A/228"
    assert header_pointer("lrn") == "42A/D026"


# --- business rules ------------------------------------------------------------------------

def test_check_declaration_accepts_sample() -> None:
    """The valid 3-item WCO sample meets every business rule, the named LRN rule included."""
    declaration = declaration_from("wco", fixture("wco/dec_valid_3_items.xml"))
    assert rule_codes(declaration, ("lrn-required",)) == []


def test_check_declaration_original_without_items() -> None:
    """An original declaration (function 9) without goods items is GW-RULE-NO-ITEMS."""
    declaration = Declaration(header=Header(function_code="9", lrn="L-1"))
    assert rule_codes(declaration) == ["GW-RULE-NO-ITEMS"]


def test_check_declaration_amendment_without_items_allowed() -> None:
    """A function 13 message without goods items breaks no rule."""
    assert rule_codes(Declaration(header=Header(function_code="13", lrn="L-1"))) == []


def test_check_declaration_duplicate_sequence() -> None:
    """Two items with sequence 2 give GW-RULE-DUPLICATE-ITEM pointing at the item's 006."""
    declaration = Declaration(header=Header(function_code="9", lrn="L-1"),
                              goods_items=[GoodsItem(sequence=1), GoodsItem(sequence=2),
                                           GoodsItem(sequence=2)])
    with pytest.raises(InvalidMessage) as caught:
        check_declaration(declaration)
    (problem,) = caught.value.problems
    assert problem.code == "GW-RULE-DUPLICATE-ITEM"
    assert problem.pointer == "42A/67A/68A[2]/006"
    assert problem.value == "2"


def test_check_declaration_missing_lrn_under_lrn_required() -> None:
    """With the named rule lrn-required, an original without an LRN is GW-RULE-NO-LRN."""
    declaration = Declaration(header=Header(function_code="9"),
                              goods_items=[GoodsItem(sequence=1)])
    with pytest.raises(InvalidMessage) as caught:
        check_declaration(declaration, ["lrn-required"])
    assert [(p.code, p.pointer) for p in caught.value.problems] == [
        ("GW-RULE-NO-LRN", "42A/D026")]


def test_check_declaration_missing_lrn_allowed_without_the_named_rule() -> None:
    """Without lrn-required (ASYCUDA), an original declaration needs no LRN."""
    declaration = Declaration(header=Header(function_code="9"),
                              goods_items=[GoodsItem(sequence=1)])
    assert rule_codes(declaration) == []


def test_check_declaration_reports_all_rules_at_once() -> None:
    """The minimal WCO sample breaks two rules (one of them named) and both are reported."""
    declaration = declaration_from("wco", fixture("wco/dec_valid_minimal.xml"))
    assert rule_codes(declaration, ("lrn-required",)) == ["GW-RULE-NO-ITEMS", "GW-RULE-NO-LRN"]


# --- routing attributes and the kinds registry ---------------------------------------------

def test_declaration_attributes_wco_sample() -> None:
    """Routing attributes of the WCO sample: type, procedure, office, function code."""
    declaration = declaration_from("wco", fixture("wco/dec_valid_3_items.xml"))
    assert declaration_attributes(declaration) == {
        "declaration_type": "IMA", "procedure_category": "IM", "procedure": "40",
        "office": "MK001005", "function_code": "9"}


def test_declaration_attributes_asycuda_sample() -> None:
    """Routing attributes of the ASYCUDA sample use its IM4 type and 4000 procedure."""
    declaration = declaration_from("asycuda", fixture("asycuda/sad_valid_3_items.xml"))
    assert declaration_attributes(declaration) == {
        "declaration_type": "IM4", "procedure_category": "IM", "procedure": "4000",
        "office": "MK001005", "function_code": "9"}


def test_declaration_attributes_empty_declaration_gives_empty_strings() -> None:
    """A declaration with nothing set gives empty strings, never None."""
    assert declaration_attributes(Declaration()) == {
        "declaration_type": "", "procedure_category": "", "procedure": "", "office": "",
        "function_code": ""}


def test_default_kinds_builds_and_checks_declarations() -> None:
    """The "declaration" kind builds a Declaration from plain data and applies the rules."""
    kind = default_kinds().get("declaration")
    built = kind.build({"header": {"function_code": "9"}, "goods_items": []})
    assert isinstance(built, Declaration)
    with pytest.raises(InvalidMessage):
        kind.check(built)
    assert "lrn-required" in kind.named_rules
    assert "reference" not in kind.routing_attributes(built)     # the reference is its own
    assert kind.business_reference(built) is None
    assert kind.business_reference(kind.build({"header": {"lrn": "LRN-9"}})) == "LRN-9"
    assert kind.version == built.canonical_version
    assert kind.summary(built) == "0 goods item(s)"


def test_default_kinds_include_payment_notifications() -> None:
    """The "payment_notification" kind states its model, version, reference and rules."""
    from gateway.canonical.payment import PaymentNotification

    kind = default_kinds().get("payment_notification")
    built = kind.build({"message_id": "MSG-1", "transactions": []})
    assert isinstance(built, PaymentNotification) and kind.model is PaymentNotification
    assert kind.business_reference(built) == "MSG-1"
    with pytest.raises(InvalidMessage) as raised:
        kind.check(built)
    assert [p.code for p in raised.value.problems] == ["GW-RULE-NO-PAYMENTS"]


# --- one canonical kind whatever the dialect -----------------------------------------------

def test_wco_and_asycuda_same_logical_declaration_same_canonical_shape() -> None:
    """WCO and ASYCUDA versions of a 3-item import give the same kind of canonical data."""
    codes = ["08051020", "84713000", "61091000"]
    wco = declaration_from("wco", build_dec(3, lrn="SAME-1", hs_codes=codes))
    sad = declaration_from("asycuda", build_sad(3, reference="SAME-1", hs_codes=codes))
    for declaration in (wco, sad):
        assert isinstance(declaration, Declaration)
        assert declaration.header.lrn == "SAME-1"
        assert declaration.procedure is not None and declaration.procedure.category == "IM"
        assert declaration.offices is not None and declaration.offices.declaration == "MK001005"
        assert [i.commodity_code for i in declaration.goods_items] == codes
        for item in declaration.goods_items:
            assert isinstance(item, GoodsItem)
            assert isinstance(item.customs_value, Amount)
            assert isinstance(item.customs_value.value, Decimal)
            assert isinstance(item.gross_mass, Decimal) and isinstance(item.net_mass, Decimal)
            assert item.origin and len(item.origin) == 2
            assert item.duties and all(isinstance(d.rate, Decimal) for d in item.duties)
    shared = {"commodity_code", "customs_value", "gross_mass", "net_mass", "origin",
              "sequence", "procedure", "duties", "packages"}
    for declaration in (wco, sad):
        present = {f.name for f in dataclasses.fields(GoodsItem)
                   if getattr(declaration.goods_items[0], f.name) not in (None, [])}
        assert shared <= present
    assert {"sequence", "commodity_code"} <= json.loads(to_json_bytes(sad))["goods_items"][0].keys()


def test_wco_dec_fixture_matches_builder() -> None:
    """The 3-item WCO fixture is what build_dec(3) produces (the samples above stay honest)."""
    assert build_dec(3) == fixture("wco/dec_valid_3_items.xml")


# --- parties ----------------------------------------------------------------------------------

def test_party_pointer_uses_the_role_ids() -> None:
    """A party's pointer names its role's WCO class and data element ids."""
    assert party_pointer("importer", "id") == "42A/67A/74A/R038"
    assert party_pointer("agent", "name") == "42A/05A/R003"
    assert party_pointer("declarant") == "42A/57B"


@pytest.mark.parametrize("family, path", [
    ("wco", "wco/dec_valid_3_items.xml"), ("asycuda", "asycuda/sad_valid_3_items.xml"),
])
def test_party_roles_of_both_dialects_have_wco_ids(family: str, path: str) -> None:
    """Every party role the mappings produce has its WCO ids in PARTY_ROLES."""
    roles = {party.role for party in declaration_from(family, fixture(path)).parties}
    assert roles, "the sample has parties"
    assert roles <= set(PARTY_ROLES)
