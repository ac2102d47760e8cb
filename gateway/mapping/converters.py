"""Value converters named in mapping files (``as = "decimal"`` …).

A converter takes the source element (or attribute value) and returns a plain value or
``None`` for "empty". Legacy exports mark empty values with an empty element or a single
``<null/>`` child; both read as ``None`` everywhere. A value that cannot be converted raises
``ConversionError`` with a stable code; the engine adds the source pointer and line.

Numbers are bounded twice. Every number converter refuses more than ``MAX_DIGITS``
significant digits (``GW-MAP-DIGITS``) before building any value, so no mapping can carry a
30- or 5,000-digit number into the canonical model (Python refuses to print integers past
4,300 digits); a mapping field may state the format's own bound with ``digits = [total,
fraction]`` (the XSD ``totalDigits``/``fractionDigits`` facets), checked by ``check_digits``.
Messages quote at most ``_QUOTED`` characters of the offending text.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from lxml import etree


class ConversionError(ValueError):
    """A source value that does not fit the target type."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


Converter = Callable[[str], Any]

#: Significant digits a number may have: the default precision of the ``decimal`` module, beyond
#: which arithmetic on canonical values would round silently.
MAX_DIGITS = 28
_QUOTED = 40

_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_GROUPED_NUMBER = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$")


def source_text(node: Any) -> str | None:
    """Text of an element or attribute value; ``None`` when empty or ``<null/>``."""
    if node is None:
        return None
    if isinstance(node, etree._Element):
        if len(node) and all(isinstance(c.tag, str) and c.tag == "null" for c in node):
            return None
        text = node.text
    else:
        text = str(node)
    if text is None:
        return None
    text = text.strip()
    return text or None


def as_text(value: str) -> str:
    return value


def as_single_line(value: str) -> str:
    """Collapse multi-line legacy names (``ACME\\nTRADING``) into one line."""
    return " ".join(value.split())


def as_upper(value: str) -> str:
    return value.upper()


def as_decimal(value: str) -> Decimal:
    """A plain number; a thousands separator is an error here (use ``grouped_decimal``)."""
    if not _PLAIN_NUMBER.match(value):
        raise ConversionError("GW-MAP-NUMBER", f"{quoted(value)} is not a number")
    return _decimal(value, value)


def as_grouped_decimal(value: str) -> Decimal:
    """A number that may carry thousands separators: ``12,345.50`` -> ``12345.50``."""
    if _PLAIN_NUMBER.match(value):
        return _decimal(value, value)
    if _GROUPED_NUMBER.match(value):
        return _decimal(value.replace(",", ""), value)
    raise ConversionError(
        "GW-MAP-NUMBER",
        f"{quoted(value)} is not a number (thousands separators must group by 3)",
    )


def as_int(value: str) -> int:
    number = as_grouped_decimal(value)
    if number != number.to_integral_value():
        raise ConversionError("GW-MAP-INTEGER", f"{quoted(value)} is not a whole number")
    return int(number)


def digit_counts(number: Decimal | int) -> tuple[int, int]:
    """``(totalDigits, fractionDigits)`` of a number as XSD counts them: ``0.060`` -> ``(2, 2)``.

    Leading zeros and trailing zeros of the fraction do not count (``1,038.00`` has 4 digits).
    """
    _, digits, exponent = Decimal(number).as_tuple()
    if not isinstance(exponent, int):            # NaN or infinity: never built by a converter
        raise ConversionError("GW-MAP-NUMBER", f"{number} is not a finite number")
    if not any(digits):
        return 1, 0
    end = len(digits)
    while exponent < 0 and digits[end - 1] == 0:
        end, exponent = end - 1, exponent + 1
    fraction = max(0, -exponent)
    return max(0, end + exponent) + fraction, fraction


def check_digits(number: Decimal | int, total: int, fraction: int) -> None:
    """Refuse a number with more than ``total`` digits or ``fraction`` decimals (``n..16,6``)."""
    has_total, has_fraction = digit_counts(number)
    if has_total > total or has_fraction > fraction:
        raise ConversionError(
            "GW-MAP-DIGITS",
            f"{quoted(format(Decimal(number), 'f'))} does not fit n..{total},{fraction} "
            f"(at most {total} digits, {fraction} after the decimal point); "
            f"it has {has_total} digits, {has_fraction} after the point",
        )


def quoted(value: str) -> str:
    """``value`` in quotes for a message, shortened to a few dozen characters."""
    return repr(value if len(value) <= _QUOTED else value[: _QUOTED - 1] + "…")


def as_country(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z]{2}", value):
        raise ConversionError("GW-MAP-COUNTRY", f"{quoted(value)} is not a two-letter country code")
    return value.upper()


def as_hs_code(value: str) -> str:
    digits = value.replace(" ", "").replace(".", "")
    if not re.fullmatch(r"\d{6,10}", digits):
        raise ConversionError("GW-MAP-HS-CODE",
                              f"{quoted(value)} is not a 6- to 10-digit goods code")
    return digits


def as_wco_datetime(value: str) -> str:
    """WCO format 304 (``YYYYMMDDhhmmss±hh``) or 102 (``YYYYMMDD``) -> ISO 8601."""
    m = re.fullmatch(r"(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2})(Z|[+-]\d{2}))?", value)
    if not m:
        raise ConversionError("GW-MAP-DATETIME", f"{quoted(value)} is not a WCO date-time")
    year, month, day, hh, mm, ss, zone = m.groups()
    _real_date("GW-MAP-DATETIME", value, year, month, day, hh, mm, ss)
    if hh is None:
        return f"{year}-{month}-{day}"
    zone = "Z" if zone == "Z" else f"{zone}:00"
    return f"{year}-{month}-{day}T{hh}:{mm}:{ss}{zone}"


def as_legacy_date(value: str) -> str:
    """ASYCUDA dates: ``28/11/2026``, ``2026-11-28`` or ``28.11.2026`` -> ISO 8601."""
    for pattern, order in ((r"(\d{4})-(\d{2})-(\d{2})", "ymd"),
                           (r"(\d{1,2})[/.](\d{1,2})[/.](\d{4})", "dmy")):
        m = re.fullmatch(pattern, value)
        if m:
            a, b, c = m.groups()
            y, mo, d = (a, b, c) if order == "ymd" else (c, b, a)
            _real_date("GW-MAP-DATE", value, y, mo, d)
            return f"{int(y):04d}-{int(mo):02d}-{int(d):02d}"
    raise ConversionError("GW-MAP-DATE", f"{quoted(value)} is not a date")


def _real_date(code: str, value: str, *parts: str | None) -> None:
    """Refuse dates and times that match the pattern but do not exist (30 February)."""
    try:
        dt.datetime(*(int(p) for p in parts if p is not None))  # type: ignore[arg-type]
    except ValueError as exc:
        raise ConversionError(code, f"{quoted(value)} is not a real date/time") from exc


def _decimal(plain: str, written: str) -> Decimal:
    """``plain`` (a matched number without separators) as a Decimal, if it is not too long."""
    integer, _, fraction = plain.lstrip("+-").partition(".")
    significant = len((integer + fraction).lstrip("0"))
    if significant > MAX_DIGITS:
        raise ConversionError(
            "GW-MAP-DIGITS",
            f"{quoted(written)} has {significant} significant digits; a number may have at "
            f"most {MAX_DIGITS}",
        )
    try:
        return Decimal(plain)
    except InvalidOperation as exc:
        raise ConversionError("GW-MAP-NUMBER", f"{quoted(written)} is not a number") from exc


CONVERTERS: dict[str, Converter] = {
    "text": as_text,
    "single_line": as_single_line,
    "upper": as_upper,
    "decimal": as_decimal,
    "grouped_decimal": as_grouped_decimal,
    "int": as_int,
    "country": as_country,
    "hs_code": as_hs_code,
    "wco_datetime": as_wco_datetime,
    "legacy_date": as_legacy_date,
}


# --- ISO 20022 (camt.054 …) ------------------------------------------------------------------

_ISO_DATE = re.compile(r"(-?\d{4,})-(\d{2})-(\d{2})(Z|[+-]\d{2}:\d{2})?")
_ISO_DATETIME = re.compile(
    r"(-?\d{4,})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})?")
_ISO_AMOUNT = re.compile(r"\d+(\.\d*)?|\.\d+")
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}

#: A mapping's code lists by name, e.g. ``{"currency_minor_units": {"EUR": 2, …}}``.
CodeLists = dict[str, dict[str, Any]]


def as_iso_date(value: str) -> str:
    """An XSD ``date`` (ISO 20022 ``ISODate``: ``2019-04-24``, zone optional), as written."""
    m = _ISO_DATE.fullmatch(value)
    if not m:
        raise ConversionError("GW-MAP-DATE", f"{quoted(value)} is not an ISO 8601 date")
    _real_date("GW-MAP-DATE", value, *m.groups()[:3])
    return value


def as_iso_datetime(value: str) -> str:
    """An XSD ``dateTime`` (``2019-04-25T00:20:05``, fraction and zone optional), as written."""
    m = _ISO_DATETIME.fullmatch(value)
    if not m:
        raise ConversionError("GW-MAP-DATETIME", f"{quoted(value)} is not an ISO 8601 date-time")
    year, month, day, hh, mm, ss = m.groups()[:6]
    if (hh, mm, ss) == ("24", "00", "00") and not (m.group(7) or "").strip(".0"):
        hh = "00"                     # XSD 1.0 allows 24:00:00, the end of the day
    _real_date("GW-MAP-DATETIME", value, year, month, day, hh, mm, ss)
    return value


def as_iso_date_or_datetime(value: str) -> str:
    """An ISO 20022 ``DateAndDateTimeChoice`` value: an ``iso_date`` or an ``iso_datetime``."""
    return as_iso_datetime(value) if "T" in value else as_iso_date(value)


def as_boolean(value: str) -> bool:
    """An XSD ``boolean``: ``true``/``false`` or ``1``/``0``."""
    try:
        return _BOOLEANS[value]
    except KeyError:
        raise ConversionError("GW-MAP-BOOLEAN", f"{quoted(value)} is not true or false") from None


def as_iso20022_number(value: str) -> Decimal:
    """An ISO 20022 amount's number: digits with an optional decimal point, no sign."""
    if not _ISO_AMOUNT.fullmatch(value):
        raise ConversionError("GW-MAP-NUMBER", f"{quoted(value)} is not an amount")
    return _decimal(value, value)


def check_amount_decimals(amount: Decimal, currency: str | None,
                          minor_units: dict[str, Any]) -> None:
    """Refuse more decimals than ISO 4217 gives the currency (3 in EUR, any in JPY).

    Decimals are counted as XSD counts them: trailing zeros do not count (``10.500`` EUR has 1).
    """
    if currency is None:
        raise ConversionError("GW-MAP-CURRENCY", "the amount has no currency (Ccy)")
    units = minor_units.get(currency)
    if units is None:
        raise ConversionError("GW-MAP-CURRENCY",
                              f"{quoted(currency)} is not an ISO 4217 currency code")
    decimals = digit_counts(amount)[1]
    if decimals > units:
        raise ConversionError(
            "GW-MAP-AMOUNT-DECIMALS",
            f"{format(amount, 'f')} {currency} has {decimals} decimal(s); ISO 4217 gives "
            f"{currency} {units}",
        )


class ElementConverter:
    """A converter that reads its source element and the mapping's code lists as well.

    The engine binds it when the mapping is loaded (``bind`` receives the code lists the
    mapping file names under ``[code_lists]``; the names in ``needs`` must be there) and calls
    the bound function with the text and the element the text came from. Called with the text
    alone it converts what the text says and checks nothing more.
    """

    needs: tuple[str, ...] = ()

    def __call__(self, value: str) -> Any:
        raise NotImplementedError

    def bind(self, code_lists: CodeLists) -> Callable[[str, Any], Any]:
        raise NotImplementedError


class Iso20022Amount(ElementConverter):
    """An ISO 20022 amount (``<Amt Ccy="EUR">12.50</Amt>``) with the decimals its currency has.

    Bound to the ``currency_minor_units`` code list (ISO 4217); an amount with more decimals
    than its ``Ccy`` allows is ``GW-MAP-AMOUNT-DECIMALS``, an unknown currency
    ``GW-MAP-CURRENCY``.
    """

    needs = ("currency_minor_units",)

    def __call__(self, value: str) -> Decimal:
        return as_iso20022_number(value)

    def bind(self, code_lists: CodeLists) -> Callable[[str, Any], Decimal]:
        minor_units = code_lists["currency_minor_units"]

        def convert(value: str, element: Any) -> Decimal:
            amount = as_iso20022_number(value)
            currency = element.get("Ccy") if isinstance(element, etree._Element) else None
            check_amount_decimals(amount, currency, minor_units)
            return amount

        return convert


CONVERTERS.update({
    "iso_date": as_iso_date,
    "iso_datetime": as_iso_datetime,
    "iso_date_or_datetime": as_iso_date_or_datetime,
    "boolean": as_boolean,
    "iso20022_amount": Iso20022Amount(),
})


# --- UN/CEFACT (SPS certificates), licences: code lists, units, dates, attachments ----------

_EDIFACT_DATETIME = {                 # UN/EDIFACT 2379 format code -> pattern of the text
    "102": re.compile(r"(\d{4})(\d{2})(\d{2})"),
    "203": re.compile(r"(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})"),
    "204": re.compile(r"(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})"),
    "205": re.compile(r"(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})([+-]\d{2})(\d{2})"),
    "304": re.compile(r"(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})([+-]\d{2})()"),
}


def as_uncefact_datetime(value: str, format_code: str | None = None) -> str:
    """A UN/CEFACT ``DateTimeString`` as ISO 8601: read by its UN/EDIFACT 2379 ``format`` code
    (102, 203, 204, 205, 304); without one, or with a code not listed, it must be an ISO 8601
    date or date-time (returned as written)."""
    pattern = _EDIFACT_DATETIME.get(format_code or "")
    if pattern is None:
        try:
            return as_iso_date_or_datetime(value)
        except ConversionError:
            if not format_code:
                raise
            raise ConversionError("GW-MAP-DATETIME", f"{quoted(value)} is not ISO 8601, and its "
                                  f"format {quoted(format_code)} is not one of "
                                  f"{', '.join(_EDIFACT_DATETIME)} (UN/EDIFACT 2379)") from None
    m = pattern.fullmatch(value)
    if not m:
        raise ConversionError("GW-MAP-DATETIME",
                              f"{quoted(value)} is not a date-time of format {format_code}")
    year, month, day, *time_zone = m.groups()
    _real_date("GW-MAP-DATETIME", value, year, month, day, *time_zone[:3])
    if not time_zone:
        return f"{year}-{month}-{day}"
    hh, mm, ss = (time_zone + ["00"])[:3]
    zone = f"{time_zone[3]}:{time_zone[4] or '00'}" if len(time_zone) == 5 else ""
    return f"{year}-{month}-{day}T{hh}:{mm}:{ss}{zone}"


class UncefactDateTime(ElementConverter):
    """A ``udt:DateTimeString`` read by its own ``format`` attribute (``as_uncefact_datetime``);
    a ``udt:DateTime`` (XSD dateTime) as written."""

    def __call__(self, value: str) -> str:
        return as_uncefact_datetime(value)

    def bind(self, code_lists: CodeLists) -> Callable[[str, Any], str]:
        def convert(value: str, element: Any) -> str:
            form = element.get("format") if isinstance(element, etree._Element) else None
            return as_uncefact_datetime(value, (form or "").strip() or None)
        return convert


class CodeListValue(ElementConverter):
    """A code that must be in one of the mapping's code lists; the value is what the list maps
    it to (``sps_status``: ``70`` -> ``issued``) or, with ``keep_code``, the code itself
    (``unece_unit``: ``KGM`` stays ``KGM``). An unknown code is ``code`` (e.g. ``GW-MAP-UNIT``)."""

    def __init__(self, code_list: str, code: str, what: str, *, keep_code: bool = False) -> None:
        self.needs = (code_list,)
        self._code, self._what, self._keep = code, what, keep_code

    def __call__(self, value: str) -> Any:
        return value

    def bind(self, code_lists: CodeLists) -> Callable[[str, Any], Any]:
        known = code_lists[self.needs[0]]

        def convert(value: str, element: Any) -> Any:
            if value not in known:
                raise ConversionError(self._code, f"{quoted(value)} is not a known {self._what}")
            return value if self._keep else known[value]
        return convert


def _base64_bytes(value: str) -> bytes:
    try:
        return base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConversionError("GW-MAP-BASE64", "the embedded file is not valid base64") from exc


def as_base64_size(value: str) -> int:
    """How many bytes an embedded base64 file holds (its content is not kept)."""
    return len(_base64_bytes(value))


def as_base64_sha256(value: str) -> str:
    """The SHA-256 (hex) of an embedded base64 file's bytes."""
    return hashlib.sha256(_base64_bytes(value)).hexdigest()


def as_hs_heading_or_code(value: str) -> str:
    """A goods code of 4 to 10 digits (a heading such as ``0808``, a subheading, a national
    code), dots and spaces removed: licences and certificates may name a heading."""
    digits = value.replace(" ", "").replace(".", "")
    if not re.fullmatch(r"\d{4,10}", digits):
        raise ConversionError("GW-MAP-HS-CODE",
                              f"{quoted(value)} is not a 4- to 10-digit goods code")
    return digits


CONVERTERS.update({
    "uncefact_datetime": UncefactDateTime(),
    "unece_unit": CodeListValue("unece_rec20_units", "GW-MAP-UNIT",
                                "UN/ECE Recommendation 20 unit code", keep_code=True),
    "sps_certificate_type": CodeListValue("sps_certificate_types", "GW-MAP-CODE",
                                          "SPS certificate type code"),
    "sps_status": CodeListValue("sps_status_codes", "GW-MAP-CODE", "SPS certificate status code"),
    "base64_size": as_base64_size,
    "base64_sha256": as_base64_sha256,
    "hs_heading_or_code": as_hs_heading_or_code,
})
