"""The mapping converters (``gateway.mapping.converters``): numbers, dates, codes and text.

Each converter turns the text of one source element into a value of the canonical model, or
raises a ``ConversionError`` with the code the mapping engine reports.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from lxml import etree

from gateway.mapping import converters as conv
from gateway.mapping.converters import ConversionError, source_text


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



# --- bounded numbers -----------------------------------------------------------------------

@pytest.mark.parametrize("converter", [conv.as_decimal, conv.as_grouped_decimal, conv.as_int])
@pytest.mark.parametrize("digits", [29, 30, 4_301, 5_000])
def test_number_converters_refuse_more_than_max_digits(converter: conv.Converter,
                                                       digits: int) -> None:
    """A number of 29, 30, 4,301 or 5,000 digits is GW-MAP-DIGITS, never a huge value."""
    with pytest.raises(ConversionError) as caught:
        converter("9" * digits)
    assert caught.value.code == "GW-MAP-DIGITS"
    assert str(digits) in caught.value.message
    assert len(caught.value.message) < 120


def test_number_converters_take_max_digits_and_leading_zeros() -> None:
    """28 significant digits convert exactly; leading zeros do not count against the bound."""
    assert conv.as_int("9" * conv.MAX_DIGITS) == int("9" * conv.MAX_DIGITS)
    assert conv.as_decimal("0" * 100 + "1.5") == Decimal("1.5")
    assert conv.as_decimal("-0.0000000000000000000000000001") == Decimal("-1E-28")


def test_grouped_number_bound_counts_digits_not_separators() -> None:
    """Thousands separators do not count as digits: 28 digits in groups of 3 still convert."""
    grouped = "9" + ",999" * 9       # 28 digits
    assert conv.as_grouped_decimal(grouped) == Decimal("9" * 28)
    with pytest.raises(ConversionError) as caught:
        conv.as_grouped_decimal("99" + ",999" * 9)      # 29 digits
    assert caught.value.code == "GW-MAP-DIGITS"


@pytest.mark.parametrize("text, expected", [
    ("0.06", (2, 2)), ("12.50", (3, 1)), ("1038.00", (4, 0)), ("0", (1, 0)), ("0.000", (1, 0)),
    ("-390", (3, 0)), ("123456.123456", (12, 6)), ("0.000001", (6, 6)),
])
def test_digit_counts_follow_xsd_total_and_fraction_digits(text: str,
                                                           expected: tuple[int, int]) -> None:
    """Digits count as XSD totalDigits/fractionDigits do: no leading or trailing zeros."""
    assert conv.digit_counts(Decimal(text)) == expected


def test_check_digits_refuses_what_does_not_fit_the_format() -> None:
    """n..8,0 takes 99,999,999 but not 9 digits nor a fraction; n..16,6 takes 0.06."""
    conv.check_digits(99_999_999, 8, 0)
    conv.check_digits(Decimal("0.06"), 16, 6)
    for too_big in (Decimal("123456789"), Decimal("1.5")):
        with pytest.raises(ConversionError) as caught:
            conv.check_digits(too_big, 8, 0)
        assert caught.value.code == "GW-MAP-DIGITS"
        assert "n..8,0" in caught.value.message


@pytest.mark.parametrize("converter", [conv.as_decimal, conv.as_grouped_decimal, conv.as_int,
                                       conv.as_country, conv.as_hs_code, conv.as_wco_datetime,
                                       conv.as_legacy_date])
def test_conversion_messages_quote_a_short_excerpt_of_long_values(
        converter: conv.Converter) -> None:
    """A 13,000-character value is quoted in a few dozen characters, never whole."""
    with pytest.raises(ConversionError) as caught:
        converter("x" * 13_000)
    assert len(caught.value.message) < 120
    assert "x" * 39 + "…" in caught.value.message
