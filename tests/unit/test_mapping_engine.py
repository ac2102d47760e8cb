"""The declarative mapping engine, its converters and the two shipped mappings.

Shipped mappings are applied to the fixtures in ``tests/fixtures``; engine features are
exercised with small mapping files written to ``tmp_path`` and tiny documents.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from gateway.errors import ConfigurationError, InvalidMessage
from gateway.mapping import converters as conv
from gateway.mapping.converters import ConversionError, source_text
from gateway.mapping.engine import Mapping, load_mapping
from gateway.settings import Settings
from gateway.xml.safe_parser import XmlLimits, parse_untrusted

SETTINGS = Settings()
FIXTURES = SETTINGS.home / "tests" / "fixtures"
WCO_MAPPING = SETTINGS.mappings_dir / "wco-dec-3.6.toml"
ASYCUDA_MAPPING = SETTINGS.mappings_dir / "asycuda-sad-1.toml"


def mapped(mapping_file: Path, fixture: Path) -> dict[str, Any]:
    root = parse_untrusted(fixture.read_bytes(), XmlLimits()).getroot()
    return load_mapping(mapping_file).apply(root)


def mapping_from(tmp_path: Path, toml: str, name: str = "test-map.toml") -> Mapping:
    path = tmp_path / name
    path.write_text(toml, encoding="utf-8")
    return load_mapping(path)


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
    assert wco["documents"] == [{"kind": "previous", "category": "Z", "type": "730",
                                 "id": "CMR-DE-2026-088120", "line": 1}]


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


# --- converters ----------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("12,345.50", Decimal("12345.50")), ("1,234,567", Decimal("1234567")),
    ("-1,000.5", Decimal("-1000.5")), ("42", Decimal("42")), ("0.125", Decimal("0.125")),
])
def test_grouped_decimal_accepts_plain_and_grouped(text: str, expected: Decimal) -> None:
    """Plain numbers and numbers grouped by thousands convert exactly."""
    value = conv.as_grouped_decimal(text)
    assert value == expected and isinstance(value, Decimal)
    assert str(value) == str(expected)


@pytest.mark.parametrize("text", ["12,3,4.x", "1,2345", "ten", "1.234,50", ",123", "1e5", ""])
def test_grouped_decimal_rejects_bad_numbers(text: str) -> None:
    """Badly grouped or non-numeric text raises GW-MAP-NUMBER."""
    with pytest.raises(ConversionError) as caught:
        conv.as_grouped_decimal(text)
    assert caught.value.code == "GW-MAP-NUMBER"


@pytest.mark.parametrize("text", ["12,345.50", "NaN", "Infinity", "1e5", "."])
def test_decimal_rejects_grouping_and_specials(text: str) -> None:
    """The plain decimal converter rejects separators, NaN, infinities and exponents."""
    with pytest.raises(ConversionError) as caught:
        conv.as_decimal(text)
    assert caught.value.code == "GW-MAP-NUMBER"


def test_int_converter_whole_numbers_only() -> None:
    """Whole numbers (grouped or with .0) convert; fractions are GW-MAP-INTEGER."""
    assert conv.as_int("1,000") == 1000
    assert conv.as_int("7.0") == 7
    with pytest.raises(ConversionError) as caught:
        conv.as_int("1.5")
    assert caught.value.code == "GW-MAP-INTEGER"


@pytest.mark.parametrize("text, expected", [
    ("20261128101500+01", "2026-11-28T10:15:00+01:00"),
    ("20261128101500-05", "2026-11-28T10:15:00-05:00"),
    ("20261128101500Z", "2026-11-28T10:15:00Z"),
    ("20261128", "2026-11-28"),
])
def test_wco_datetime_converts_formats_304_and_102(text: str, expected: str) -> None:
    """WCO 304 and 102 date-times become ISO 8601."""
    assert conv.as_wco_datetime(text) == expected


@pytest.mark.parametrize("text", ["2026-11-28T10:15:00", "202611281015", "2026112", "x"])
def test_wco_datetime_rejects_other_formats(text: str) -> None:
    """Anything but format 304/102 raises GW-MAP-DATETIME."""
    with pytest.raises(ConversionError) as caught:
        conv.as_wco_datetime(text)
    assert caught.value.code == "GW-MAP-DATETIME"


@pytest.mark.parametrize("text", ["20261345", "20260230", "20261128256000+01", "28112026"])
def test_wco_datetime_rejects_impossible_dates(text: str) -> None:
    """Month 13, 30 February, hour 25 or a day-first 28112026 never become invalid ISO dates."""
    with pytest.raises(ConversionError) as caught:
        conv.as_wco_datetime(text)
    assert caught.value.code == "GW-MAP-DATETIME"


@pytest.mark.parametrize("text, expected", [
    ("28/11/2026", "2026-11-28"), ("2026-11-28", "2026-11-28"), ("28.11.2026", "2026-11-28"),
    ("1/2/2026", "2026-02-01"),
])
def test_legacy_date_converts_asycuda_dates(text: str, expected: str) -> None:
    """Day-first ASYCUDA dates and ISO dates become ISO 8601."""
    assert conv.as_legacy_date(text) == expected


@pytest.mark.parametrize("text", ["2026/11/28", "11-28-2026", "yesterday"])
def test_legacy_date_rejects_other_formats(text: str) -> None:
    """Other date shapes raise GW-MAP-DATE."""
    with pytest.raises(ConversionError) as caught:
        conv.as_legacy_date(text)
    assert caught.value.code == "GW-MAP-DATE"


@pytest.mark.parametrize("text", ["31/02/2026", "2026-13-01", "00.11.2026"])
def test_legacy_date_rejects_impossible_dates(text: str) -> None:
    """31 February, month 13 or day 0 raise GW-MAP-DATE instead of an invalid ISO date."""
    with pytest.raises(ConversionError) as caught:
        conv.as_legacy_date(text)
    assert caught.value.code == "GW-MAP-DATE"


@pytest.mark.parametrize("text, expected", [
    ("08051020", "08051020"), ("0805.10.20", "08051020"), ("0805 10", "080510"),
    ("8471300000", "8471300000"),
])
def test_hs_code_normalises_separators(text: str, expected: str) -> None:
    """Dots and spaces are dropped from 6- to 10-digit goods codes."""
    assert conv.as_hs_code(text) == expected


@pytest.mark.parametrize("text", ["84151", "84713000001", "0805.1X.20"])
def test_hs_code_rejects_wrong_length_or_letters(text: str) -> None:
    """Fewer than 6 or more than 10 digits, or letters, raise GW-MAP-HS-CODE."""
    with pytest.raises(ConversionError) as caught:
        conv.as_hs_code(text)
    assert caught.value.code == "GW-MAP-HS-CODE"


def test_country_uppercases_two_letter_codes() -> None:
    """Two letters are upper-cased; three letters or digits raise GW-MAP-COUNTRY."""
    assert conv.as_country("mk") == "MK"
    for bad in ("MKD", "M", "1K"):
        with pytest.raises(ConversionError) as caught:
            conv.as_country(bad)
        assert caught.value.code == "GW-MAP-COUNTRY"


def test_single_line_collapses_whitespace() -> None:
    """Line breaks and runs of spaces become single spaces."""
    assert conv.as_single_line("ACME\n  TRADING\t LTD") == "ACME TRADING LTD"


def test_source_text_reads_null_and_empty_as_none() -> None:
    """<null/>, <X/>, <X></X> and whitespace-only elements read as None; text is stripped."""
    root = etree.fromstring(b"<r><a><null/></a><b/><c></c><d>  \n </d><e> v </e></r>")
    assert [source_text(child) for child in root] == [None, None, None, None, "v"]
    assert source_text(None) is None


# --- engine features (small mappings in tmp_path) -------------------------------------------

DOC = b"""<doc>
  <ref>R-1</ref>
  <blank><null/></blank>
  <alt>second</alt>
  <amount cur="EUR">1,250.00</amount>
  <code>IMA</code>
  <party kind="seller"><nm>Seller
  Ltd</nm><ct>de</ct></party>
  <party kind="buyer"><nm>Buyer AG</nm></party>
  <slot><v>1</v></slot>
  <slot><v><null/></v></slot>
  <slot><v/></slot>
  <slot><v>4</v></slot>
</doc>"""


def doc() -> etree._Element:
    return etree.fromstring(DOC)


def test_engine_const_and_default(tmp_path: Path) -> None:
    """const is set whatever the document says; default fills an empty or missing value."""
    mapping = mapping_from(tmp_path, """
[mapping]
context = "/doc"
[fields]
"fixed" = { const = "K" }
"zero" = { const = 0 }
"missing" = { path = "nothing", default = "D" }
"nulled" = { path = "blank", default = "N" }
"present" = { path = "ref", default = "unused" }
""")
    assert mapping.apply(doc()) == {"fixed": "K", "zero": 0, "missing": "D", "nulled": "N",
                                    "present": "R-1"}


def test_engine_required_missing_reports_pointer(tmp_path: Path) -> None:
    """A required field with no value is GW-MAP-MISSING naming the context and the path."""
    mapping = mapping_from(tmp_path, """
[mapping]
context = "/doc"
[fields]
"header.a" = { path = "blank", required = true }
"header.b" = { path = "absent", required = true }
"header.c" = { path = "ref", required = true }
""")
    with pytest.raises(InvalidMessage) as caught:
        mapping.apply(doc())
    problems = caught.value.problems
    assert [(p.code, p.pointer) for p in problems] == [
        ("GW-MAP-MISSING", "/doc/blank"), ("GW-MAP-MISSING", "/doc/absent")]
    assert "header.a" in problems[0].message
    assert problems[0].line == 1


def test_engine_alternatives_first_non_empty_wins(tmp_path: Path) -> None:
    """Alternatives are tried in order; null, empty and whitespace-only values are skipped."""
    mapping = mapping_from(tmp_path, """
[mapping]
context = "/doc"
[fields]
"a" = ["blank", "nothing", "alt", "ref"]
"b" = ["ref", "alt"]
"c" = ["string(party[9]/nm)", "normalize-space(blank)", "alt"]
"d" = ["nothing", "blank"]
""")
    assert mapping.apply(doc()) == {"a": "second", "b": "R-1", "c": "second"}


def test_engine_into_extra_builds_record(tmp_path: Path) -> None:
    """into/extra build a record from the value and paths relative to its element."""
    mapping = mapping_from(tmp_path, """
[mapping]
context = "/doc"
[fields]
"amount" = { path = "amount", as = "grouped_decimal", into = "value", extra = { currency = "@cur", fixed = "'MKD'", none = "@absent" } }
""")
    assert mapping.apply(doc()) == {"amount": {"value": Decimal("1250.00"), "currency": "EUR",
                                               "fixed": "MKD", "none": None}}


def test_engine_slice_takes_part_of_value(tmp_path: Path) -> None:
    """slice = [0, 2] keeps the first two characters (procedure category from type code)."""
    mapping = mapping_from(tmp_path, """
[mapping]
context = "/doc"
[fields]
"category" = { path = "code", slice = [0, 2] }
""")
    assert mapping.apply(doc()) == {"category": "IM"}


def test_engine_template_and_list_const(tmp_path: Path) -> None:
    """A list uses a template's fields, adds its own, and gets its const on every entry."""
    mapping = mapping_from(tmp_path, """
[mapping]
context = "/doc"
[templates.party]
name = { path = "nm", as = "single_line" }
country = { path = "ct", as = "country" }

[[lists]]
target = "parties"
each = "party"
template = "party"
const = { source = "test" }
fields = { kind = "@kind" }
""")
    assert mapping.apply(doc()) == {"parties": [
        {"name": "Seller Ltd", "country": "DE", "kind": "seller", "source": "test"},
        {"name": "Buyer AG", "kind": "buyer", "source": "test"},
    ]}


def test_engine_skip_empty_drops_empty_entries(tmp_path: Path) -> None:
    """With skip_empty only filled slots remain; without it, empty slots stay (with const)."""
    toml = """
[mapping]
context = "/doc"
[[lists]]
target = "slots"
each = "slot"
const = { kind = "s" }
fields = { v = { path = "v", as = "int" } }
SKIP
"""
    skipping = mapping_from(tmp_path, toml.replace("SKIP", "skip_empty = true"), "skip.toml")
    keeping = mapping_from(tmp_path, toml.replace("SKIP", ""), "keep.toml")
    assert skipping.apply(doc()) == {"slots": [{"v": 1, "kind": "s"}, {"v": 4, "kind": "s"}]}
    assert keeping.apply(doc())["slots"] == [{"v": 1, "kind": "s"}, {"kind": "s"},
                                             {"kind": "s"}, {"v": 4, "kind": "s"}]


def test_engine_reports_all_conversion_problems_with_pointers(tmp_path: Path) -> None:
    """Every bad value in fields and lists is reported, attributes with a /@attr pointer."""
    mapping = mapping_from(tmp_path, """
[mapping]
context = "/doc"
[fields]
"ref" = { path = "ref", as = "int" }
[[lists]]
target = "parties"
each = "party"
fields = { kind = { path = "@kind", as = "int" }, country = { path = "ct", as = "country" } }
""")
    with pytest.raises(InvalidMessage) as caught:
        mapping.apply(doc())
    problems = caught.value.problems
    assert [(p.code, p.pointer, p.value) for p in problems] == [
        ("GW-MAP-NUMBER", "/doc/ref", "R-1"),
        ("GW-MAP-NUMBER", "/doc/party[1]/@kind", "seller"),
        ("GW-MAP-NUMBER", "/doc/party[2]/@kind", "buyer"),
    ]
    assert [p.line for p in problems] == [2, 7, 9]
    assert "parties[2].kind" in problems[2].message


def test_engine_missing_context_is_reported(tmp_path: Path) -> None:
    """A document without an element at the mapping's context is GW-MAP-CONTEXT."""
    mapping = mapping_from(tmp_path, '[mapping]\ncontext = "/other"\n[fields]\n"a" = "ref"\n')
    with pytest.raises(InvalidMessage) as caught:
        mapping.apply(doc())
    assert caught.value.code == "GW-MAP-CONTEXT"


# --- broken mapping files fail at load -----------------------------------------------------

@pytest.mark.parametrize("toml", [
    '[mapping]\ncontext = "/doc"\n[fields]\n"a" = "ref[["\n',
    '[mapping]\ncontext = "/doc["\n[fields]\n"a" = "ref"\n',
    '[mapping]\ncontext = "/doc"\n[fields]\n"a" = ["ref", "alt)"]\n',
    '[mapping]\ncontext = "/doc"\n[fields]\n"a" = { path = "ref", into = "v", extra = { c = "@@" } }\n',
    '[mapping]\ncontext = "/doc"\n[[lists]]\ntarget = "t"\neach = "party[["\n',
])
def test_load_mapping_bad_xpath_raises_configuration_error_naming_file(
        tmp_path: Path, toml: str) -> None:
    """An XPath syntax error anywhere in a mapping is a ConfigurationError naming the file."""
    with pytest.raises(ConfigurationError) as caught:
        mapping_from(tmp_path, toml, "broken-xpath.toml")
    assert "broken-xpath.toml" in caught.value.message


def test_load_mapping_undeclared_prefix_raises_configuration_error(tmp_path: Path) -> None:
    """A path using a namespace prefix the file does not declare fails at load, not on a message."""
    with pytest.raises(ConfigurationError) as caught:
        mapping = mapping_from(tmp_path, '[mapping]\ncontext = "/doc"\n[fields]\n"a" = "q:ref"\n',
                               "undeclared-prefix.toml")
        mapping.apply(doc())
    assert "undeclared-prefix.toml" in caught.value.message


def test_load_mapping_unknown_converter_raises_configuration_error(tmp_path: Path) -> None:
    """An unknown ``as`` converter is a ConfigurationError naming file, field and converter."""
    with pytest.raises(ConfigurationError) as caught:
        mapping_from(tmp_path, '[mapping]\n[fields]\n"a" = { path = "ref", as = "money" }\n',
                     "bad-converter.toml")
    message = caught.value.message
    assert "bad-converter.toml" in message and "'money'" in message and "'a'" in message


@pytest.mark.parametrize("toml", [
    '[[lists]]\neach = "party"\n',
    '[[lists]]\ntarget = "t"\n',
    '[[lists]]\ntarget = "t"\neach = "party"\ntemplate = "nope"\n',
])
def test_load_mapping_incomplete_list_raises_configuration_error(
        tmp_path: Path, toml: str) -> None:
    """A [[lists]] entry without target/each or with an unknown template is a ConfigurationError."""
    with pytest.raises(ConfigurationError) as caught:
        mapping_from(tmp_path, toml, "bad-list.toml")
    assert "bad-list.toml" in caught.value.message


def test_load_mapping_unreadable_toml_raises_configuration_error(tmp_path: Path) -> None:
    """A file that is not TOML, or does not exist, is a ConfigurationError."""
    with pytest.raises(ConfigurationError):
        mapping_from(tmp_path, "[mapping\n", "not-toml.toml")
    with pytest.raises(ConfigurationError):
        load_mapping(tmp_path / "does-not-exist.toml")


@pytest.mark.parametrize("path", [WCO_MAPPING, ASYCUDA_MAPPING])
def test_load_mapping_shipped_files_compile(path: Path) -> None:
    """The repository's mapping files load, with fields and goods-item lists."""
    mapping = load_mapping(path)
    assert mapping.target == "declaration"
    assert any(rule.target == "goods_items" for rule in mapping.lists)
