"""Tests for the ASYCUDA-style SAD XML schema, its sample fixtures and the sample builder."""

from __future__ import annotations

import copy
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:  # allow a bare `pytest` run without an installed package
    sys.path.insert(0, str(REPO_ROOT))

from samples.asycuda import build_sad  # noqa: E402

XSD_PATH = REPO_ROOT / "schemas" / "asycuda" / "sad-1" / "ASYCUDA_SAD.xsd"
FIXTURES = REPO_ROOT / "tests" / "fixtures" / "asycuda"


def _parser() -> etree.XMLParser:
    return etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    """Compiled ASYCUDA SAD schema."""
    return etree.XMLSchema(etree.parse(str(XSD_PATH), _parser()))


def _parse_bytes(data: bytes) -> etree._ElementTree:
    return etree.ElementTree(etree.fromstring(data, _parser()))


def _parse_fixture(name: str) -> etree._ElementTree:
    return etree.parse(str(FIXTURES / name), _parser())


def _errors(schema: etree.XMLSchema, doc: etree._ElementTree) -> list[str]:
    schema.validate(doc)
    return [f"{e.line}: {e.message}" for e in schema.error_log]


def _one(doc: etree._ElementTree, path: str) -> etree._Element:
    found = doc.getroot().xpath(path)
    assert len(found) >= 1, path
    return found[0]


def _set_text(element: etree._Element, text: str) -> None:
    for child in list(element):
        element.remove(child)
    element.text = text


def _set_nulls(element: etree._Element, count: int) -> None:
    for child in list(element):
        element.remove(child)
    element.text = None
    for _ in range(count):
        etree.SubElement(element, "null")


# --------------------------------------------------------------------------- schema


def test_schema_compiles_with_hardened_parser() -> None:
    """The XSD compiles when read with a parser that blocks network access, entities and DTDs."""
    schema = etree.XMLSchema(etree.parse(str(XSD_PATH), _parser()))
    assert schema is not None


def test_schema_root_rejects_other_elements(schema: etree.XMLSchema) -> None:
    """Only <ASYCUDA> is a valid document root; an Item on its own is rejected."""
    item = _one(_parse_bytes(build_sad(1)), "/ASYCUDA/Item")
    assert not schema.validate(etree.ElementTree(copy.deepcopy(item)))


# --------------------------------------------------------------------------- valid input


@pytest.mark.parametrize("name", ["sad_valid_3_items.xml", "sad_valid_120_items.xml"])
def test_valid_fixture_validates(schema: etree.XMLSchema, name: str) -> None:
    """Each valid fixture passes the schema."""
    doc = _parse_fixture(name)
    assert _errors(schema, doc) == []


@pytest.mark.parametrize("items", [1, 120, 999])
def test_build_sad_validates_for_item_counts(schema: etree.XMLSchema, items: int) -> None:
    """Builder output validates for 1, 120 and the maximum 999 items."""
    doc = _parse_bytes(build_sad(items))
    assert _errors(schema, doc) == []
    assert len(doc.getroot().findall("Item")) == items


def test_valid_120_fixture_matches_builder_output() -> None:
    """The 120-item fixture equals build_sad(120), so it can be regenerated from the builder."""
    assert (FIXTURES / "sad_valid_120_items.xml").read_bytes() == build_sad(120)


def test_build_sad_applies_arguments(schema: etree.XMLSchema) -> None:
    """Reference, office, declaration type, HS codes and item count end up in the right elements."""
    doc = _parse_bytes(
        build_sad(
            4,
            reference="BRK-77",
            office="MK001021",
            type_of_declaration="EX",
            hs_codes=["84151010", "08051020"],
        )
    )
    assert _errors(schema, doc) == []
    root = doc.getroot()
    assert root.findtext("Declarant/Reference/Number") == "BRK-77"
    office = root.findtext("Identification/Office_segment/Customs_clearance_office_code")
    assert office == "MK001021"
    assert root.findtext("Identification/Type/Type_of_declaration") == "EX"
    assert root.findtext("Property/Nbers/Total_number_of_items") == "4"
    codes = [c.text for c in root.iterfind("Item/Tarification/HScode/Commodity_code")]
    assert codes == ["84151010", "08051020", "84151010", "08051020"]


def test_build_sad_output_is_deterministic_per_seed() -> None:
    """The same seed gives identical bytes; another seed gives different data."""
    assert build_sad(5, seed=7) == build_sad(5, seed=7)
    assert build_sad(5, seed=7) != build_sad(5, seed=8)


def test_build_sad_follows_export_conventions() -> None:
    """Builder output has 8 tax slots, 3 unit slots, null placeholders and thousands separators."""
    root = _parse_bytes(build_sad(12)).getroot()
    for item in root.iterfind("Item"):
        assert len(item.findall("Taxation/Taxation_line")) == 8
        assert len(item.findall("Tarification/Supplementary_unit")) == 3
        assert item.findtext("Tarification/Extended_customs_procedure") == "4000"
        assert item.find("Goods_description/Country_of_origin_code").text
    assert root.findall(".//null")
    assert "," in root.findtext("Valuation/Gs_Invoice/Amount_national_currency")
    assert "\n" in root.findtext("Traders/Exporter/Exporter_name")
    first_lines = {
        i.findtext("Taxation/Taxation_line[1]/Duty_tax_code") for i in root.iterfind("Item")
    }
    assert first_lines <= {"CD", "VAT"}


def test_valid_3_items_fixture_uses_export_conventions() -> None:
    """The hand-written fixture exercises every empty/number convention the brief lists."""
    doc = _parse_fixture("sad_valid_3_items.xml")
    root = doc.getroot()
    items = root.findall("Item")
    assert len(items) == 3
    assert all(len(i.findall("Taxation/Taxation_line")) == 8 for i in items)
    assert all(len(i.findall("Tarification/Supplementary_unit")) == 3 for i in items)
    filled = [
        sum(1 for c in i.iterfind("Taxation/Taxation_line/Duty_tax_code") if (c.text or "").strip())
        for i in items
    ]
    assert all(1 <= n <= 2 for n in filled)
    assert root.findtext("Financial/Total_invoice") == "12,345.50"
    assert "+" in items[1].findtext("Taxation/Displayed_item_taxes_amount")
    assert "\n" in root.findtext("Traders/Exporter/Exporter_name")
    licences = [(i.findtext("Licence_number") or "").strip() for i in items]
    assert licences == ["", "MK-LIC-2024/0457", ""]
    assert root.findtext("SW_scans_items/Item_number") == "1"
    assert root.findtext("Identification/Type/Type_of_declaration") == "IM"
    assert root.findtext("Identification/Type/Declaration_gen_procedure_code") == "4"
    raw = (FIXTURES / "sad_valid_3_items.xml").read_text(encoding="utf-8")
    assert "<null/>" in raw and "<Value_item/>" in raw and "<Free_text_1></Free_text_1>" in raw


def test_optional_segments_may_be_omitted(schema: etree.XMLSchema) -> None:
    """Exports without the optional segments still validate."""
    doc = _parse_bytes(build_sad(2))
    root = doc.getroot()
    for name in (
        "Export_release",
        "Assessment_notice",
        "Global_taxes",
        "Warehouse",
        "Transit",
        "SW_scans_general_segment",
        "SW_scans_items",
    ):
        for element in root.findall(name):
            root.remove(element)
    assert _errors(schema, doc) == []


@pytest.mark.parametrize(
    "leaf",
    [
        "/ASYCUDA/Item/Licence_number",
        "/ASYCUDA/Item/Valuation_item/Weight_itm/Gross_weight_itm",
        "/ASYCUDA/Traders/Exporter/Exporter_name",
    ],
)
def test_nullable_leaf_accepts_null_and_empty_forms(schema: etree.XMLSchema, leaf: str) -> None:
    """A nullable leaf accepts one <null/>, <X/> and <X></X>."""
    doc = _parse_bytes(build_sad(1))
    element = _one(doc, leaf)
    _set_nulls(element, 1)
    assert _errors(schema, doc) == []
    _set_nulls(element, 0)
    assert _errors(schema, doc) == []
    element.text = ""
    assert _errors(schema, doc) == []


def test_total_number_of_items_accepts_thousands_separator(schema: etree.XMLSchema) -> None:
    """Total_number_of_items may carry a thousands separator (the mapping checks the count)."""
    doc = _parse_bytes(build_sad(1))
    _set_text(_one(doc, "/ASYCUDA/Property/Nbers/Total_number_of_items"), "1,234")
    assert _errors(schema, doc) == []


def test_total_number_of_items_takes_up_to_five_digits(schema: etree.XMLSchema) -> None:
    """Total_number_of_items is bounded like WCO's n..5: 99999 and 99,999 pass, 100000 does not."""
    doc = _parse_bytes(build_sad(1))
    element = _one(doc, "/ASYCUDA/Property/Nbers/Total_number_of_items")
    for fits in ("99999", "99,999"):
        _set_text(element, fits)
        assert _errors(schema, doc) == [], fits
    for too_long in ("100000", "100,000", "9" * 30, "9" * 5000):
        _set_text(element, too_long)
        errors = _errors(schema, doc)
        assert errors and "Total_number_of_items" in errors[0], too_long[:10]


@pytest.mark.parametrize("options", [
    {"packages": ["0.06"]}, {"packages": ["0.06", "1,250.75"]}, {"reference": None},
    {"with_reference": False}, {"packages": ["0.06"], "with_reference": False},
], ids=["fraction", "fraction-grouped", "null-reference", "no-reference", "both"])
def test_schema_accepts_exports_as_broker_software_writes_them(
        schema: etree.XMLSchema, options: dict[str, Any]) -> None:
    """Fractional package counts and a null or absent declarant reference are valid exports."""
    assert _errors(schema, _parse_bytes(build_sad(3, **options))) == []


def test_build_sad_writes_package_counts_as_given_with_exact_total() -> None:
    """``packages`` sets each Number_of_packages (cycled) and the header total is their sum."""
    root = etree.fromstring(build_sad(3, packages=["0.06", "1,250.5"]))
    assert root.xpath("Item/Packages/Number_of_packages/text()") == ["0.06", "1,250.5", "0.06"]
    assert root.findtext("Property/Nbers/Total_number_of_packages") == "1,250.62"
    huge = etree.fromstring(build_sad(1, packages=["9" * 5000]))
    assert huge.findtext("Item/Packages/Number_of_packages") == "9" * 5000


def test_build_sad_reference_null_or_absent() -> None:
    """``reference=None`` writes <Number><null/></Number>; ``with_reference=False`` no Reference."""
    nulled = etree.fromstring(build_sad(1, reference=None)).find("Declarant/Reference/Number")
    assert nulled is not None and [c.tag for c in nulled] == ["null"]
    assert not (nulled.text or "").strip()
    absent = etree.fromstring(build_sad(1, with_reference=False)).find("Declarant")
    assert absent is not None and absent.find("Reference") is None
    assert [c.tag for c in absent] == ["Declarant_code", "Declarant_name",
                                       "Declarant_representative"]


def test_build_sad_options_change_nothing_else() -> None:
    """Apart from the package counts and the reference, the output is the default one."""
    default = build_sad(3).decode()
    changed = build_sad(3, packages=["0.06"], with_reference=False).decode()
    strip = re.compile(r"<(Total_number_of_packages|Number_of_packages)>[^<]*<|"
                       r"\s*<Reference>\s*<Number>REF-0001</Number>\s*</Reference>")
    assert strip.sub("", default) == strip.sub("", changed)
    assert default != changed


def test_bad_numbers_fixture_validates(schema: etree.XMLSchema) -> None:
    """Non-numbers in numeric nullable leaves pass the schema; the mapping step must reject them."""
    doc = _parse_fixture("sad_invalid_bad_numbers.xml")
    assert _errors(schema, doc) == []
    root = doc.getroot()
    gross = root.xpath("string(/ASYCUDA/Item[1]/Valuation_item/Weight_itm/Gross_weight_itm)")
    assert gross == "12,3,4.x"
    assert root.xpath("string(/ASYCUDA/Item[2]/Packages/Number_of_packages)") == "ten"


# --------------------------------------------------------------------------- invalid input


def test_nonsense_fixture_fails_with_several_errors(schema: etree.XMLSchema) -> None:
    """The nonsense fixture is rejected with at least three errors covering its distinct faults."""
    errors = _errors(schema, _parse_fixture("sad_invalid_nonsense.xml"))
    assert len(errors) >= 3
    text = "\n".join(errors)
    for needle in ("Commodity_code", "Type_of_declaration", "'Foo'", "Taxation_line", "'null'"):
        assert needle in text, needle


def test_commodity_code_rejects_null_placeholder(schema: etree.XMLSchema) -> None:
    """Commodity_code is strict: a <null/> placeholder is rejected."""
    doc = _parse_bytes(build_sad(1))
    _set_nulls(_one(doc, "/ASYCUDA/Item/Tarification/HScode/Commodity_code"), 1)
    errors = _errors(schema, doc)
    assert errors and "Commodity_code" in errors[0]


def test_nullable_leaf_rejects_two_null_children(schema: etree.XMLSchema) -> None:
    """A nullable leaf holding two <null/> children is rejected."""
    doc = _parse_bytes(build_sad(1))
    _set_nulls(_one(doc, "/ASYCUDA/Item/Free_text_2"), 2)
    assert _errors(schema, doc)


def test_null_placeholder_rejects_content(schema: etree.XMLSchema) -> None:
    """The <null/> placeholder itself must be empty."""
    doc = _parse_bytes(build_sad(1))
    element = _one(doc, "/ASYCUDA/Item/Free_text_2")
    _set_nulls(element, 1)
    element[0].text = "0"
    assert _errors(schema, doc)


def test_taxation_line_rejects_nine_slots(schema: etree.XMLSchema) -> None:
    """An item with nine Taxation_line slots is rejected (eight is the maximum)."""
    doc = _parse_bytes(build_sad(1))
    taxation = _one(doc, "/ASYCUDA/Item/Taxation")
    taxation.append(copy.deepcopy(taxation.findall("Taxation_line")[-1]))
    assert len(taxation.findall("Taxation_line")) == 9
    errors = _errors(schema, doc)
    assert errors and "Taxation_line" in errors[0]


def test_supplementary_unit_rejects_four_slots(schema: etree.XMLSchema) -> None:
    """An item with four Supplementary_unit slots is rejected (three is the maximum)."""
    doc = _parse_bytes(build_sad(1))
    units = doc.getroot().findall("Item/Tarification/Supplementary_unit")
    units[-1].addnext(copy.deepcopy(units[-1]))
    errors = _errors(schema, doc)
    assert errors and "Supplementary_unit" in errors[0]


def test_item_count_rejects_1000_items(schema: etree.XMLSchema) -> None:
    """A declaration with 1000 items is rejected (999 is the maximum)."""
    doc = _parse_bytes(build_sad(1000))
    errors = _errors(schema, doc)
    assert errors and "'Item'" in errors[0]


def test_item_count_rejects_zero_items(schema: etree.XMLSchema) -> None:
    """A declaration without any Item is rejected."""
    doc = _parse_bytes(build_sad(1))
    root = doc.getroot()
    root.remove(root.find("Item"))
    assert _errors(schema, doc)


def test_identification_is_mandatory(schema: etree.XMLSchema) -> None:
    """A declaration without the Identification segment is rejected."""
    doc = _parse_bytes(build_sad(1))
    root = doc.getroot()
    root.remove(root.find("Identification"))
    assert _errors(schema, doc)


def test_segment_order_is_enforced(schema: etree.XMLSchema) -> None:
    """Segments out of document order are rejected."""
    doc = _parse_bytes(build_sad(1))
    root = doc.getroot()
    root.find("Financial").addprevious(root.find("Valuation"))
    assert _errors(schema, doc)


def test_unknown_element_is_rejected(schema: etree.XMLSchema) -> None:
    """An element not in the published paths is rejected, even inside an otherwise valid item."""
    doc = _parse_bytes(build_sad(1))
    etree.SubElement(_one(doc, "/ASYCUDA/Item"), "Remarks").text = "x"
    errors = _errors(schema, doc)
    assert errors and "Remarks" in errors[0]


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("/ASYCUDA/Identification/Office_segment/Customs_clearance_office_code", "mk001005"),
        ("/ASYCUDA/Identification/Office_segment/Customs_clearance_office_code", "MK0010055"),
        ("/ASYCUDA/Identification/Type/Type_of_declaration", "IMPORT"),
        ("/ASYCUDA/Identification/Type/Declaration_gen_procedure_code", "A"),
        ("/ASYCUDA/Identification/Type/Declaration_gen_procedure_code", ""),
        ("/ASYCUDA/Item/Tarification/HScode/Commodity_code", "8415101"),
        ("/ASYCUDA/Item/Tarification/HScode/Commodity_code", "8415.10.10"),
        ("/ASYCUDA/Item/Tarification/Extended_customs_procedure", "40000"),
        ("/ASYCUDA/Property/Nbers/Total_number_of_items", "0"),
        ("/ASYCUDA/Property/Nbers/Total_number_of_items", "1,20"),
    ],
)
def test_strict_field_rejects_bad_value(schema: etree.XMLSchema, path: str, value: str) -> None:
    """Each always-filled identifying field rejects a malformed value."""
    doc = _parse_bytes(build_sad(1))
    _set_text(_one(doc, path), value)
    errors = _errors(schema, doc)
    assert errors and path.rsplit("/", 1)[1] in errors[0]
