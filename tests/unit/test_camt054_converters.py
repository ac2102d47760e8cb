"""The ISO 20022 converters of the mapping engine and the ISO 4217 minor-units code list."""

from __future__ import annotations

import tomllib
from decimal import Decimal

import pytest
from lxml import etree

from gateway.mapping.converters import (
    CONVERTERS,
    ConversionError,
    as_boolean,
    as_iso_date,
    as_iso_date_or_datetime,
    as_iso_datetime,
    check_amount_decimals,
)
from gateway.settings import PROJECT_HOME

MINOR_UNITS_FILE = PROJECT_HOME / "config" / "codelists" / "currency_minor_units.toml"


@pytest.fixture(scope="module")
def minor_units() -> dict[str, int]:
    return tomllib.loads(MINOR_UNITS_FILE.read_text(encoding="utf-8"))["values"]


@pytest.mark.parametrize("value", ["2019-04-24", "2019-04-24Z", "2019-04-24+02:00"])
def test_iso_date_accepts_xsd_dates_as_written(value: str) -> None:
    """ISODate values (zone optional) come back unchanged."""
    assert as_iso_date(value) == value


@pytest.mark.parametrize("value", ["2019-02-30", "24.04.2019", "2019-4-24", "2019-04-24T10:00:00"])
def test_iso_date_refuses_what_is_not_a_real_date(value: str) -> None:
    """Impossible or differently written dates are GW-MAP-DATE."""
    with pytest.raises(ConversionError) as caught:
        as_iso_date(value)
    assert caught.value.code == "GW-MAP-DATE"


@pytest.mark.parametrize("value", ["2019-04-25T00:20:05", "2007-10-18T12:30:00+01:00",
                                   "2026-11-30T18:05:00.125Z", "2019-04-24T24:00:00"])
def test_iso_datetime_accepts_xsd_datetimes_as_written(value: str) -> None:
    """ISODateTime values (fraction, zone, and XSD's 24:00:00 end of day) come back unchanged."""
    assert as_iso_datetime(value) == value


@pytest.mark.parametrize("value", ["2019-04-25 00:20:05", "2019-04-25T25:00:00",
                                   "2019-04-24T24:00:01", "2019-02-29T10:00:00"])
def test_iso_datetime_refuses_what_is_not_a_real_datetime(value: str) -> None:
    """A space for T, hour 25, past 24:00:00 or 29 February 2019 are GW-MAP-DATETIME."""
    with pytest.raises(ConversionError) as caught:
        as_iso_datetime(value)
    assert caught.value.code == "GW-MAP-DATETIME"


def test_iso_date_or_datetime_reads_both_alternatives_of_the_choice() -> None:
    """BookgDt holds Dt or DtTm: one converter reads either."""
    assert as_iso_date_or_datetime("2019-04-24") == "2019-04-24"
    assert as_iso_date_or_datetime("2019-04-24T08:00:00") == "2019-04-24T08:00:00"
    with pytest.raises(ConversionError):
        as_iso_date_or_datetime("2019-04-24T08:00")


def test_boolean_reads_the_four_xsd_spellings() -> None:
    """true/false/1/0 are booleans; anything else is GW-MAP-BOOLEAN."""
    assert [as_boolean(v) for v in ("true", "1", "false", "0")] == [True, True, False, False]
    with pytest.raises(ConversionError) as caught:
        as_boolean("yes")
    assert caught.value.code == "GW-MAP-BOOLEAN"


def test_currency_table_has_the_iso_4217_minor_units(minor_units: dict[str, int]) -> None:
    """EUR/CHF/MKD 2, JPY/KRW 0, KWD/BHD/TND 3, CLF 4 decimals; only whole-number units."""
    assert {c: minor_units[c] for c in ("EUR", "CHF", "MKD", "SEK", "JPY", "KRW", "KWD", "BHD",
                                        "TND", "CLF")} == {
        "EUR": 2, "CHF": 2, "MKD": 2, "SEK": 2, "JPY": 0, "KRW": 0, "KWD": 3, "BHD": 3,
        "TND": 3, "CLF": 4}
    assert all(len(code) == 3 and code.isupper() for code in minor_units)
    assert set(minor_units.values()) == {0, 2, 3, 4} and len(minor_units) > 150


@pytest.mark.parametrize("amount, currency", [("10.12", "EUR"), ("10.500", "EUR"), ("100", "JPY"),
                                              ("100.0", "JPY"), ("1.125", "KWD")])
def test_amount_decimals_within_the_currency_pass(amount: str, currency: str,
                                                  minor_units: dict[str, int]) -> None:
    """Decimals count as XSD counts them: trailing zeros do not (10.500 EUR has one)."""
    check_amount_decimals(Decimal(amount), currency, minor_units)


@pytest.mark.parametrize("amount, currency", [("10.125", "EUR"), ("100.5", "JPY"),
                                              ("1.1255", "KWD")])
def test_amount_decimals_beyond_the_currency_are_refused(amount: str, currency: str,
                                                         minor_units: dict[str, int]) -> None:
    """3 decimals in EUR, any in JPY, 4 in KWD: GW-MAP-AMOUNT-DECIMALS naming the currency."""
    with pytest.raises(ConversionError) as caught:
        check_amount_decimals(Decimal(amount), currency, minor_units)
    assert caught.value.code == "GW-MAP-AMOUNT-DECIMALS"
    assert currency in caught.value.message


def test_iso20022_amount_reads_the_currency_of_its_element(minor_units: dict[str, int]) -> None:
    """Bound to the code list, the converter takes Ccy from the element the amount is in."""
    convert = CONVERTERS["iso20022_amount"].bind({"currency_minor_units": minor_units})
    assert convert("12.50", etree.fromstring('<Amt Ccy="EUR">12.50</Amt>')) == Decimal("12.50")
    with pytest.raises(ConversionError) as caught:
        convert("12.505", etree.fromstring('<Amt Ccy="EUR">12.505</Amt>'))
    assert caught.value.code == "GW-MAP-AMOUNT-DECIMALS"
    with pytest.raises(ConversionError) as caught:
        convert("12", etree.fromstring("<Amt>12</Amt>"))
    assert caught.value.code == "GW-MAP-CURRENCY"


@pytest.mark.parametrize("value", ["-1.00", "1e3", "1,000.00", " "])
def test_iso20022_amount_refuses_signs_exponents_and_separators(value: str) -> None:
    """An ISO 20022 amount is digits and a point; alone the converter checks just that."""
    with pytest.raises(ConversionError) as caught:
        CONVERTERS["iso20022_amount"](value)
    assert caught.value.code == "GW-MAP-NUMBER"
