"""libxml2 schema errors become Problems a sender can act on (code, pointer, line, column, value).

The main fixture is ``tests/fixtures/wco/dec_invalid_many_errors.xml``: seven schema errors on
seven lines, each line marked with an ``ERROR`` comment. Expected columns are derived from the
file itself (indentation + 1), not from the code under test.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from gateway.errors import Problem
from gateway.message_types import MessageTypeRegistry
from gateway.settings import Settings
from gateway.xml.safe_parser import XmlLimits, parse_untrusted
from gateway.xml.schema_problems import (
    MESSAGE_LIMIT,
    _sentence,
    local_pointer,
    problems_from_log,
)

SETTINGS = Settings()
WCO = SETTINGS.home / "tests" / "fixtures" / "wco"
MANY_ERRORS = WCO / "dec_invalid_many_errors.xml"


@pytest.fixture(scope="module")
def registry() -> MessageTypeRegistry:
    return MessageTypeRegistry.load(SETTINGS.config_dir / "message_types.toml",
                                    SETTINGS.schemas_dir)


def problems_of(registry: MessageTypeRegistry, path: Path) -> list[Problem]:
    """Parse, identify and validate a fixture the way the intake does."""
    body = path.read_bytes()
    root = parse_untrusted(body, XmlLimits()).getroot()
    message_type = registry.identify(root).message_type
    return registry.validate(message_type, root, body)


def error_lines(path: Path) -> list[int]:
    """1-based numbers of the lines marked with an ``ERROR`` comment."""
    return [n for n, line in enumerate(path.read_text().splitlines(), start=1)
            if "<!-- ERROR" in line]


def start_tag_column(path: Path, line: int) -> int:
    """1-based column of the first start tag on an indented, one-element-per-line line."""
    text = path.read_text().splitlines()[line - 1]
    return len(text) - len(text.lstrip()) + 1


def test_problems_from_log_reports_every_error_not_the_first(
        registry: MessageTypeRegistry) -> None:
    """All seven errors of the fixture are reported, one per marked line, in document order."""
    problems = problems_of(registry, MANY_ERRORS)
    assert [p.line for p in problems] == error_lines(MANY_ERRORS)
    assert len(problems) == 7


def test_problems_from_log_gives_stable_codes(registry: MessageTypeRegistry) -> None:
    """Each libxml2 error type maps to its gateway code."""
    codes = [p.code for p in problems_of(registry, MANY_ERRORS)]
    assert codes == [
        "GW-XSD-ENUMERATION", "GW-XSD-PATTERN", "GW-XSD-FRACTION-DIGITS", "GW-XSD-TOO-LONG",
        "GW-XSD-LENGTH", "GW-XSD-CONTENT", "GW-XSD-CONTENT",
    ]


def test_problems_from_log_gives_local_name_pointers(registry: MessageTypeRegistry) -> None:
    """Pointers use local names from the root, without prefixes or namespace URIs."""
    pointers = [p.pointer for p in problems_of(registry, MANY_ERRORS)]
    assert pointers == [
        "/MetaData/Declaration/FunctionCode",
        "/MetaData/Declaration/IssueDateTime/DateTimeString",
        "/MetaData/Declaration/InvoiceAmount",
        "/MetaData/Declaration/Declarant/Name",
        "/MetaData/Declaration/Exporter/Address/CountryCode",
        "/MetaData/Declaration/GoodsShipment/GovernmentAgencyGoodsItem/Commodity/GoodsMeasure/"
        "GrossMassMeasure",
        "/MetaData/Declaration/GoodsShipment/Importer/VATNumber",
    ]


def test_problems_from_log_column_is_start_tag_position(registry: MessageTypeRegistry) -> None:
    """Each column is the 1-based position of the offending element's start tag on its line."""
    problems = problems_of(registry, MANY_ERRORS)
    assert [p.column for p in problems] == [
        start_tag_column(MANY_ERRORS, p.line) for p in problems if p.line is not None]
    assert all(p.column is not None for p in problems)


def test_problems_from_log_gives_trimmed_offending_values(
        registry: MessageTypeRegistry) -> None:
    """Value errors carry the offending value; element-order errors carry none."""
    values = [p.value for p in problems_of(registry, MANY_ERRORS)]
    assert values == [
        "10", "2026-11-28T10:15:00", "1234.5678",
        "Vardar Trade Import Export and Distribution Company DOO Skopje - Head Office",
        "DEU", None, None,
    ]


def test_problems_from_log_messages_have_no_namespace_uris(
        registry: MessageTypeRegistry) -> None:
    """Messages name elements by local name, never as ``{urn:…}Name``, and lose the final dot."""
    for problem in problems_of(registry, MANY_ERRORS):
        assert "{urn:" not in problem.message
        assert not problem.message.endswith(".")
        assert problem.message


def test_problems_from_log_trims_long_values_to_80_chars(registry: MessageTypeRegistry) -> None:
    """A 90-character offending value is reported in at most 80 characters, ending in '…'."""
    (problem,) = problems_of(registry, WCO / "dec_invalid_one_line.xml")
    assert problem.code == "GW-XSD-TOO-LONG"
    assert problem.value is not None
    assert len(problem.value) <= 80
    assert problem.value == "X" * 79 + "…"


def test_problems_from_log_column_on_one_line_document_points_at_offending_element(
        registry: MessageTypeRegistry) -> None:
    """In a one-line document the column is that of the offending (second) <Name>, not the first."""
    path = WCO / "dec_invalid_one_line.xml"
    (problem,) = problems_of(registry, path)
    line = path.read_text().splitlines()[problem.line - 1]
    offending = line.index("<Exporter><Name>") + len("<Exporter>") + 1
    assert problem.pointer == "/MetaData/Declaration/Exporter/Name"
    assert problem.column == offending


def test_problems_from_log_attribute_error_points_at_attribute(
        registry: MessageTypeRegistry) -> None:
    """An attribute the schema forbids gets a ``/@attr`` pointer and the attribute's value."""
    (problem,) = problems_of(registry, WCO / "dec_invalid_attribute.xml")
    assert problem.code == "GW-XSD-ATTRIBUTE"
    assert problem.pointer == "/MetaData/Declaration/FunctionCode/@priority"
    assert problem.value == "urgent"
    assert problem.line == 5


def test_problems_from_log_default_namespace_document_gets_readable_pointers(
        registry: MessageTypeRegistry) -> None:
    """A document without prefixes gets named, indexed pointers, never ``/*/*[2]``."""
    problems = problems_of(registry, WCO / "dec_invalid_default_namespace.xml")
    assert [p.pointer for p in problems] == [
        "/MetaData/Declaration/GoodsShipment/GovernmentAgencyGoodsItem[2]/SequenceNumeric",
        "/MetaData/Declaration/GoodsShipment/GovernmentAgencyGoodsItem[2]/Origin/CountryCode",
    ]
    assert all("*" not in (p.pointer or "") for p in problems)
    assert [p.value for p in problems] == ["two", "DEUTSCHLAND"]
    assert [p.line for p in problems] == [15, 17]


def test_problems_from_log_without_body_has_no_columns(registry: MessageTypeRegistry) -> None:
    """Without the submitted bytes there is no column, but lines and pointers remain."""
    body = MANY_ERRORS.read_bytes()
    root = parse_untrusted(body, XmlLimits()).getroot()
    message_type = registry.identify(root).message_type
    schema = registry.schema(message_type)
    assert not schema.validate(root)
    problems = problems_from_log(schema.error_log, root, None)
    assert len(problems) == 7
    assert all(p.column is None for p in problems)
    assert [p.line for p in problems] == error_lines(MANY_ERRORS)


def test_local_pointer_indexes_only_repeated_siblings() -> None:
    """Only names that repeat among element siblings get ``[n]``; comments do not count."""
    root = etree.fromstring(
        b'<a xmlns="urn:x"><b/><!-- c --><c><d/></c><c><!-- x --><d/><e/><d/></c></a>')
    second_c = root[3]
    assert local_pointer(second_c[3]) == "/a/c[2]/d[2]"
    assert local_pointer(second_c[2]) == "/a/c[2]/e"
    assert local_pointer(root[0]) == "/a/b"
    assert local_pointer(root) == "/a"


LONG = 13_000


@pytest.mark.parametrize("family, old, new, sentence", [
    ("wco", b'<TotalGrossMassMeasure unitCode="KGM">776.600<',
     b'<TotalGrossMassMeasure unitCode="KGM">' + b"9" * LONG + b"<",
     "has more digits than are allowed ('16')"),
    ("wco", b'<TotalGrossMassMeasure unitCode="KGM">776.600<',
     b'<TotalGrossMassMeasure unitCode="KGM">' + b"x" * LONG + b"<",
     "is not a valid value of the atomic type"),
    ("asycuda", b"<Commodity_code>08051020<", b"<Commodity_code>" + b"8" * LONG + b"<",
     "is not accepted by the pattern '[0-9]{8}'"),
], ids=["wco-total-digits", "wco-datatype", "asycuda-pattern"])
def test_problems_from_log_trims_long_values_inside_the_message(
        registry: MessageTypeRegistry, tmp_path: Path, family: str, old: bytes,
        new: bytes, sentence: str) -> None:
    """A 13,000-character value quoted by libxml2 is trimmed in the message, like the value."""
    source = WCO / "dec_valid_3_items.xml" if family == "wco" else \
        SETTINGS.home / "tests" / "fixtures" / "asycuda" / "sad_valid_3_items.xml"
    body = source.read_bytes()
    assert old in body
    path = tmp_path / "long.xml"
    path.write_bytes(body.replace(old, new, 1))
    local = new[1:new.index(b">")].split(b" ")[0].decode()
    (problem,) = [p for p in problems_of(registry, path) if (p.pointer or "").endswith(local)]
    assert len(problem.message) <= 300
    assert sentence in problem.message           # the sentence survives, only the value is cut
    assert "…'" in problem.message
    assert problem.value is not None and len(problem.value) <= 80 and problem.value.endswith("…")


def test_problems_from_log_caps_any_message_at_message_limit() -> None:
    """Even a long message with no quoted value (or a value holding a quote) stays capped."""
    assert len(_sentence("Element 'A': " + "y" * 5000)) == MESSAGE_LIMIT
    assert len(_sentence("The value '" + "it's " * 3000 + "' is bad")) <= MESSAGE_LIMIT
    assert _sentence("Element '{urn:x}A': short.") == "Element 'A': short"
