"""The declarative mapping engine: its features, and broken mapping files failing at load.

Engine features are exercised with small mapping files written to ``tmp_path`` and a tiny
document. The shipped mappings are tested in ``test_mapping_shipped.py``, the converters in
``test_mapping_converters.py``.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from gateway.errors import ConfigurationError, InvalidMessage
from gateway.mapping.engine import Mapping, load_mapping


def mapping_from(tmp_path: Path, toml: str, name: str = "test-map.toml") -> Mapping:
    path = tmp_path / name
    path.write_text(toml, encoding="utf-8")
    return load_mapping(path)


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
"amount" = { path = "amount", as = "grouped_decimal", into = "value", """
                           """extra = { currency = "@cur", fixed = "'MKD'", none = "@absent" } }
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
    '[mapping]\ncontext = "/doc"\n[fields]\n'
    '"a" = { path = "ref", into = "v", extra = { c = "@@" } }\n',
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



def test_engine_digits_bound_refuses_numbers_the_format_does_not_allow(tmp_path: Path) -> None:
    """``digits = [8, 0]`` takes 1,250 but a 9-digit or fractional value is GW-MAP-DIGITS there."""
    mapping = mapping_from(tmp_path, """
[mapping]
context = "/doc"
[fields]
"ok" = { path = "amount", as = "grouped_decimal", digits = [8, 2] }
"big" = { path = "slot[1]/v", as = "int", digits = [8, 0] }
"fraction" = { path = "slot[4]/v", as = "grouped_decimal", digits = [8, 0] }
""")
    document = etree.fromstring(DOC.replace(b"<v>1</v>", b"<v>123456789</v>")
                                .replace(b"<v>4</v>", b"<v>4.5</v>"))
    with pytest.raises(InvalidMessage) as caught:
        mapping.apply(document)
    assert [(p.code, p.pointer, p.value) for p in caught.value.problems] == [
        ("GW-MAP-DIGITS", "/doc/slot[1]/v", "123456789"),
        ("GW-MAP-DIGITS", "/doc/slot[4]/v", "4.5")]
    assert "n..8,0" in caught.value.problems[0].message
    mapping_ok = mapping_from(tmp_path, """
[mapping]
context = "/doc"
[fields]
"ok" = { path = "amount", as = "grouped_decimal", digits = [8, 2] }
""", name="ok.toml")
    assert mapping_ok.apply(doc()) == {"ok": Decimal("1250.00")}


def test_engine_huge_number_without_digits_bound_is_a_problem(tmp_path: Path) -> None:
    """A 5,000-digit value in a field with no digits option is GW-MAP-DIGITS, short message."""
    mapping = mapping_from(tmp_path, """
[mapping]
context = "/doc"
[fields]
"n" = { path = "ref", as = "int" }
""")
    document = etree.fromstring(DOC.replace(b"R-1", b"9" * 5000))
    with pytest.raises(InvalidMessage) as caught:
        mapping.apply(document)
    (problem,) = caught.value.problems
    assert (problem.code, problem.pointer) == ("GW-MAP-DIGITS", "/doc/ref")
    assert len(problem.message) < 200 and problem.value is not None and len(problem.value) <= 80


@pytest.mark.parametrize("spec", ['[8]', '[2, 3]', '[0, 0]', '["8", "0"]', '[8, -1]'])
def test_load_mapping_bad_digits_raises_configuration_error(tmp_path: Path, spec: str) -> None:
    """A digits option that is not [total, fraction] with 0 <= fraction <= total fails at load."""
    with pytest.raises(ConfigurationError, match="digits"):
        mapping_from(tmp_path, f"""
[mapping]
context = "/doc"
[fields]
"n" = {{ path = "ref", as = "decimal", digits = {spec} }}
""")


def test_load_mapping_digits_on_text_field_raises_configuration_error(tmp_path: Path) -> None:
    """digits on a text (non-number) converter is a mistake caught at load."""
    with pytest.raises(ConfigurationError, match="number converter"):
        mapping_from(tmp_path, """
[mapping]
context = "/doc"
[fields]
"n" = { path = "ref", digits = [8, 0] }
""")


# --- paths to the parent of a list item, code lists, element converters -----------------

NESTED = b"""<msg><id>M-1</id>
  <entry><ref>E-1</ref><date>2026-11-30</date>
    <tx><amt cur="EUR">1.50</amt><part><no>1</no></part><part><no>2</no></part></tx>
    <tx><amt cur="EUR">2.25</amt></tx>
  </entry>
  <entry><ref>E-2</ref>
    <tx><amt cur="JPY">300</amt></tx>
  </entry>
</msg>"""


def test_engine_parent_paths_reach_every_item_of_a_flat_list(tmp_path: Path) -> None:
    """``../`` paths in a list read the element holding the item (and its parents), also in
    nested lists, so parent values reach each item of a flat list."""
    mapping = mapping_from(tmp_path, """
[mapping]
context = "/msg"
[[lists]]
target = "txs"
each = "entry/tx"
[lists.fields]
entry = "../ref"
date = { path = "../date", default = "none" }
message = "../../id"
amount = "amt"
[[lists.lists]]
target = "parts"
each = "part"
fields = { no = { path = "no", as = "int" }, entry = "../../ref" }
""")
    out = mapping.apply(etree.fromstring(NESTED))
    assert [(t["entry"], t["date"], t["message"], t["amount"]) for t in out["txs"]] == [
        ("E-1", "2026-11-30", "M-1", "1.50"), ("E-1", "2026-11-30", "M-1", "2.25"),
        ("E-2", "none", "M-1", "300")]
    assert out["txs"][0]["parts"] == [{"no": 1, "entry": "E-1"}, {"no": 2, "entry": "E-1"}]


def _code_list(tmp_path: Path) -> None:
    (tmp_path / "lists").mkdir(exist_ok=True)
    (tmp_path / "lists" / "units.toml").write_text("[values]\nEUR = 2\nJPY = 0\n", "utf-8")


AMOUNTS = b"""<msg>
  <tx><amt Ccy="EUR">1.50</amt></tx>
  <tx><amt Ccy="JPY">300</amt></tx>
</msg>"""

AMOUNT_MAPPING = """
[mapping]
context = "/msg"
[code_lists]
currency_minor_units = "lists/units.toml"
[[lists]]
target = "txs"
each = "tx"
[lists.fields]
amount = { path = "amt", as = "iso20022_amount", into = "value", extra = { currency = "@Ccy" } }
"""


def test_engine_element_converter_reads_the_element_and_the_code_list(tmp_path: Path) -> None:
    """An element converter (iso20022_amount) is bound to the code list the mapping names and
    reads the currency of its element; a value it refuses is a located problem."""
    _code_list(tmp_path)
    mapping = mapping_from(tmp_path, AMOUNT_MAPPING)
    out = mapping.apply(etree.fromstring(AMOUNTS))
    assert [t["amount"] for t in out["txs"]] == [
        {"value": Decimal("1.50"), "currency": "EUR"}, {"value": Decimal("300"), "currency": "JPY"}]
    with pytest.raises(InvalidMessage) as caught:
        mapping.apply(etree.fromstring(AMOUNTS.replace(b">300<", b">300.5<")))
    assert [(p.code, p.pointer, p.line, p.value) for p in caught.value.problems] == [
        ("GW-MAP-AMOUNT-DECIMALS", "/msg/tx[2]/amt", 3, "300.5")]


def test_load_mapping_element_converter_without_its_code_list_raises(tmp_path: Path) -> None:
    """iso20022_amount in a mapping naming no currency_minor_units code list fails at load."""
    with pytest.raises(ConfigurationError, match="currency_minor_units"):
        mapping_from(tmp_path, AMOUNT_MAPPING.replace(
            '[code_lists]\ncurrency_minor_units = "lists/units.toml"\n', ""))


def test_load_mapping_unreadable_code_list_raises_configuration_error(tmp_path: Path) -> None:
    """A code list file that is missing, or has no [values] table, fails at load naming it."""
    with pytest.raises(ConfigurationError, match="cannot read code list 'currency_minor_units'"):
        mapping_from(tmp_path, AMOUNT_MAPPING)
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "units.toml").write_text("EUR = 2\n", "utf-8")
    with pytest.raises(ConfigurationError, match=r"no \[values\] table"):
        mapping_from(tmp_path, AMOUNT_MAPPING)
