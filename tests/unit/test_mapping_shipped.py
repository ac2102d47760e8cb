"""The two shipped mappings (WCO DEC 3.6 and ASYCUDA SAD) applied to the fixtures.

Each mapping in ``mappings/`` is applied to its dialect's samples in ``tests/fixtures``; the
converters are tested in ``test_mapping_converters.py`` and the engine's features, with
small mapping files, in ``test_mapping_engine.py``.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from gateway.errors import InvalidMessage
from gateway.mapping.engine import load_mapping
from gateway.settings import Settings
from gateway.xml.safe_parser import XmlLimits, parse_untrusted
from samples.asycuda import build_sad

SETTINGS = Settings()
FIXTURES = SETTINGS.home / "tests" / "fixtures"
WCO_MAPPING = SETTINGS.mappings_dir / "wco-dec-3.6.toml"
ASYCUDA_MAPPING = SETTINGS.mappings_dir / "asycuda-sad-1.toml"


def mapped(mapping_file: Path, fixture: Path) -> dict[str, Any]:
    root = parse_untrusted(fixture.read_bytes(), XmlLimits()).getroot()
    return load_mapping(mapping_file).apply(root)


def line_of(path: Path, needle: str) -> int:
    """1-based number of the only line of ``path`` containing ``needle``."""
    lines = [n for n, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if needle in text]
    assert len(lines) == 1, lines
    return lines[0]


@pytest.fixture(scope="module")
def wco() -> dict[str, Any]:
    return mapped(WCO_MAPPING, FIXTURES / "wco" / "dec_valid_3_items.xml")


@pytest.fixture(scope="module")
def sad() -> dict[str, Any]:
    return mapped(ASYCUDA_MAPPING, FIXTURES / "asycuda" / "sad_valid_3_items.xml")


# --- WCO DEC 3.6 ---------------------------------------------------------------------------

def test_wco_mapping_header_values(wco: dict[str, Any]) -> None:
    """The WCO sample's header maps to LRN-0001, type IMA, function 9, office MK001005."""
    assert wco["source_format"] == "wco-dec-3.6"
    assert wco["header"]["lrn"] == "LRN-0001"
    assert wco["header"]["type_code"] == "IMA"
    assert wco["header"]["function_code"] == "9"
    assert wco["header"]["goods_item_count"] == 3
    assert wco["header"]["issued_at"] == "2026-11-28T10:15:00+01:00"
    assert wco["header"]["total_gross_mass"] == {"value": Decimal("776.600"), "unit": "KGM"}
    assert wco["offices"]["declaration"] == "MK001005"
    assert wco["procedure"] == {"category": "IM", "requested": "40", "previous": "00"}


def test_wco_mapping_goods_items(wco: dict[str, Any]) -> None:
    """Three items with their sequence, HS code, masses and customs value."""
    items = wco["goods_items"]
    assert [i["sequence"] for i in items] == [1, 2, 3]
    assert [i["commodity_code"] for i in items] == ["08051020", "84713000", "61091000"]
    assert [i["gross_mass"] for i in items] == [Decimal("413.400"), Decimal("36.800"),
                                                Decimal("326.400")]
    assert [i["net_mass"] for i in items] == [Decimal("390.000"), Decimal("32.000"),
                                              Decimal("306.000")]
    assert items[0]["customs_value"] == {"value": Decimal("22454.60"), "currency": "MKD"}
    assert [i["origin"] for i in items] == ["EG", "CN", "TR"]
    assert all(isinstance(i["gross_mass"], Decimal) for i in items)


def test_wco_mapping_duties(wco: dict[str, Any]) -> None:
    """Item 1 has customs duty A00 at 10 % and VAT B00 at 18 % with their amounts."""
    duties = wco["goods_items"][0]["duties"]
    assert [(d["type"], d["rate"], d["assessed"]) for d in duties] == [
        ("A00", Decimal("10"), Decimal("2245.46")), ("B00", Decimal("18"), Decimal("4446.01"))]
    assert duties[0]["base_amount"] == Decimal("22454.60")


def test_wco_mapping_documents_include_licence(wco: dict[str, Any]) -> None:
    """Every item carries licence LIC-2026-0042; item 1 also the phytosanitary certificate."""
    for item in wco["goods_items"]:
        licences = [d for d in item["documents"] if d.get("category") == "L"]
        assert licences == [{"kind": "additional", "category": "L", "type": "100",
                             "id": "LIC-2026-0042"}]
    ids = [d["id"] for d in wco["goods_items"][0]["documents"]]
    assert "PHYTO-EG-2026-000001" in ids
    assert wco["documents"] == [
        {"kind": "additional", "category": "1", "type": "DAN", "id": "7100042"},
        {"kind": "previous", "category": "Z", "type": "730", "id": "CMR-DE-2026-088120",
         "line": 1}]


def test_wco_mapping_parties_use_template(wco: dict[str, Any]) -> None:
    """Parties are built from the shared template with their role constant."""
    roles = [p["role"] for p in wco["parties"]]
    assert roles == ["agent", "declarant", "exporter", "importer", "buyer", "seller"]
    exporter = wco["parties"][2]
    assert exporter["name"] == "Schwaben Handels GmbH"
    assert exporter["address"]["country"] == "DE"


def test_wco_mapping_bare_declaration_maps_like_wrapped() -> None:
    """The same Declaration without its MetaData wrapper maps to the same data."""
    path = FIXTURES / "wco" / "dec_valid_3_items.xml"
    root = parse_untrusted(path.read_bytes(), XmlLimits()).getroot()
    mapping = load_mapping(WCO_MAPPING)
    wrapped = mapping.apply(root)
    declaration = root.find("{urn:wco:datamodel:WCO:DEC-DMS:2}Declaration")
    bare = etree.fromstring(etree.tostring(declaration))
    assert mapping.apply(bare) == wrapped


# --- ASYCUDA SAD ----------------------------------------------------------------------------

def test_asycuda_mapping_thousands_separators_become_decimals(sad: dict[str, Any]) -> None:
    """'5,198.50' style numbers become Decimals without separators."""
    assert sad["header"]["total_gross_mass"] == {"value": Decimal("5198.50"), "unit": "KGM"}
    assert sad["valuation"]["invoice_amount"] == {"value": Decimal("759248.25"),
                                                  "currency": "MKD"}
    first = sad["goods_items"][0]
    assert first["gross_mass"] == Decimal("3250.00")
    assert first["customs_value"] == {"value": Decimal("230071.70"), "currency": "MKD"}
    assert sad["goods_items"][2]["supplementary_quantity"] == Decimal("1488.00")
    assert sad["header"]["total_packages"] == 310


def test_asycuda_mapping_null_and_empty_elements_are_absent(sad: dict[str, Any]) -> None:
    """<null/> placeholders and empty elements produce no key at all."""
    exporter = sad["parties"][0]
    assert exporter["role"] == "exporter" and "id" not in exporter
    financial = next(p for p in sad["parties"] if p["role"] == "financial")
    assert "name" not in financial
    assert "mrn" not in sad["header"]
    assert "destination" not in sad["offices"]
    assert "inland_mode" not in sad["transport"]
    assert "loading_location" not in sad["transport"]
    assert "supplementary_quantity" not in sad["goods_items"][0]


def test_asycuda_mapping_multi_line_names_collapsed(sad: dict[str, Any]) -> None:
    """Multi-line trader names become one line with single spaces (Cyrillic kept)."""
    names = {p["role"]: p.get("name") for p in sad["parties"]}
    assert names["exporter"] == ("EGE TARIM URUNLERI IC VE DIS TIC. A.S. IZMIR SERBEST "
                                 "BOLGESI, AKCAY CAD. NO 144 GAZIEMIR / IZMIR, TR")
    assert names["declarant"] == "ШПЕДИЦИЈА БАЛКАН ДООЕЛ Скопје"
    assert all("\n" not in (n or "") for n in names.values())


def test_asycuda_mapping_empty_taxation_slots_skipped(sad: dict[str, Any]) -> None:
    """Of eight Taxation_line slots per item only the filled ones become duties."""
    duties = [[d["type"] for d in item["duties"]] for item in sad["goods_items"]]
    assert duties == [["VAT"], ["CD", "VAT"], ["CD", "VAT"]]
    assert sad["goods_items"][1]["duties"][0] == {
        "type": "CD", "base_amount": Decimal("499391.43"), "rate": Decimal("5.00"),
        "assessed": Decimal("24969.57"), "method": "1"}


def test_asycuda_mapping_licence_on_item_two_only(sad: dict[str, Any]) -> None:
    """The licence and its deducted quantity sit on item 2; items 1 and 3 have none."""
    documents = [item["documents"] for item in sad["goods_items"]]
    assert documents[1] == [{"kind": "additional", "category": "L", "id": "MK-LIC-2024/0457",
                             "quantity": Decimal("48.00")}]
    assert documents[0] == [] and documents[2] == []


def test_asycuda_mapping_deferment_account_is_the_wco_deferred_payment_document(
        tmp_path: Path) -> None:
    """Financial/Deffered_payment_reference becomes the declaration-level document WCO data
    element 2/6 is (category 1, type DAN, the account as id); <null/> becomes none."""
    deferred, paid = tmp_path / "deferred.xml", tmp_path / "paid.xml"
    deferred.write_bytes(build_sad(1, deferment="MK 7100042"))
    paid.write_bytes(build_sad(1, deferment=None))
    dan = [{"kind": "additional", "category": "1", "type": "DAN", "id": "MK 7100042"}]
    assert [d for d in mapped(ASYCUDA_MAPPING, deferred)["documents"]
            if d.get("type") == "DAN"] == dan
    assert not [d for d in mapped(ASYCUDA_MAPPING, paid)["documents"] if d.get("type") == "DAN"]


def test_asycuda_mapping_sw_scans_become_documents(sad: dict[str, Any]) -> None:
    """Single-window scans become documents; the item scan keeps its item number."""
    assert sad["documents"] == [
        {"kind": "additional", "type": "N380", "id": "EGE-INV-2024-0871",
         "name": "Commercial invoice"},
        {"kind": "additional", "type": "N851", "id": "TR-PC-2024-35.117.882",
         "name": "Phytosanitary certificate", "line": 1},
    ]


def test_asycuda_mapping_header_values(sad: dict[str, Any]) -> None:
    """Reference, type (IM + 4), office, date and item count come from their legacy places."""
    assert sad["header"]["lrn"] == "SPB-2024-00417"
    assert sad["header"]["type_code"] == "IM4"
    assert sad["header"]["issued_at"] == "2024-04-18"
    assert sad["header"]["goods_item_count"] == 3
    assert sad["offices"] == {"declaration": "MK001005", "border": "MK001021"}
    assert [i["sequence"] for i in sad["goods_items"]] == [1, 2, 3]
    assert [i["commodity_code"] for i in sad["goods_items"]] == ["08051020", "84151010",
                                                                 "39241000"]


def test_asycuda_mapping_bad_numbers_report_every_problem() -> None:
    """Both bad numbers are reported, each with its source pointer, line and value."""
    path = FIXTURES / "asycuda" / "sad_invalid_bad_numbers.xml"
    with pytest.raises(InvalidMessage) as caught:
        mapped(ASYCUDA_MAPPING, path)
    error = caught.value
    assert error.code == "GW-MAP-INVALID"
    assert [(p.code, p.pointer, p.line, p.value) for p in error.problems] == [
        ("GW-MAP-NUMBER", "/ASYCUDA/Item[1]/Valuation_item/Weight_itm/Gross_weight_itm",
         line_of(path, "<Gross_weight_itm>12,3,4.x<"), "12,3,4.x"),
        ("GW-MAP-NUMBER", "/ASYCUDA/Item[2]/Packages/Number_of_packages",
         line_of(path, "<Number_of_packages>ten<"), "ten"),
    ]
    assert "goods_items[1].gross_mass" in error.problems[0].message


def mapped_bytes(body: bytes) -> dict[str, Any]:
    """The ASYCUDA mapping applied to ``body``."""
    return load_mapping(ASYCUDA_MAPPING).apply(parse_untrusted(body, XmlLimits()).getroot())


def test_asycuda_mapping_fractional_package_counts_become_decimals() -> None:
    """Number_of_packages 0.06 (as real exports send) maps exactly, and so does the total."""
    plain = mapped_bytes(build_sad(3, packages=["0.06", "1,250.5", "7"]))
    assert [[p["quantity"] for p in item["packages"]] for item in plain["goods_items"]] == [
        [Decimal("0.06")], [Decimal("1250.5")], [Decimal("7")]]
    assert plain["header"]["total_packages"] == Decimal("1257.56")


@pytest.mark.parametrize("options", [{"reference": None}, {"with_reference": False}],
                         ids=["null-reference", "no-reference"])
def test_asycuda_mapping_without_declarant_reference_has_no_lrn(options: dict[str, Any]) -> None:
    """A <null/> or absent Declarant/Reference gives no LRN, and everything else still maps."""
    plain = mapped_bytes(build_sad(2, **options))
    assert "lrn" not in plain["header"]
    assert plain["header"]["goods_item_count"] == 2
    assert len(plain["goods_items"]) == 2


@pytest.mark.parametrize("count, why", [
    ("9" * 17, "n..16,6"), ("0.1234567", "n..16,6"), ("9" * 30, "at most 28"),
    ("9" * 5000, "at most 28"),
])
def test_asycuda_mapping_package_count_beyond_its_bound_is_located(count: str, why: str) -> None:
    """A 17-digit, 7-decimal, 30- or 5,000-digit package count is GW-MAP-DIGITS at its element."""
    with pytest.raises(InvalidMessage) as caught:
        mapped_bytes(build_sad(1, packages=[count]))
    by_pointer = {p.pointer: p for p in caught.value.problems}
    problem = by_pointer["/ASYCUDA/Item/Packages/Number_of_packages"]
    assert problem.code == "GW-MAP-DIGITS" and why in problem.message
    assert problem.line is not None and problem.value is not None and len(problem.value) <= 80
    assert len(problem.message) < 250
    assert by_pointer["/ASYCUDA/Property/Nbers/Total_number_of_packages"].code == "GW-MAP-DIGITS"


@pytest.mark.parametrize("path", [WCO_MAPPING, ASYCUDA_MAPPING])
def test_load_mapping_shipped_files_compile(path: Path) -> None:
    """The repository's mapping files load, with fields and goods-item lists."""
    mapping = load_mapping(path)
    assert mapping.target == "declaration"
    assert any(rule.target == "goods_items" for rule in mapping.lists)
