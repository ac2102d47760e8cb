"""Value converters named in mapping files (``as = "decimal"`` …).

A converter takes the source element (or attribute value) and returns a plain value or
``None`` for "empty". Legacy exports mark empty values with an empty element or a single
``<null/>`` child; both read as ``None`` everywhere. A value that cannot be converted raises
``ConversionError`` with a stable code; the engine adds the source pointer and line.
"""

from __future__ import annotations

import datetime as dt
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
        raise ConversionError("GW-MAP-NUMBER", f"{value!r} is not a number")
    return _decimal(value)


def as_grouped_decimal(value: str) -> Decimal:
    """A number that may carry thousands separators: ``12,345.50`` -> ``12345.50``."""
    if _PLAIN_NUMBER.match(value):
        return _decimal(value)
    if _GROUPED_NUMBER.match(value):
        return _decimal(value.replace(",", ""))
    raise ConversionError(
        "GW-MAP-NUMBER", f"{value!r} is not a number (thousands separators must group by 3)"
    )


def as_int(value: str) -> int:
    number = as_grouped_decimal(value)
    if number != number.to_integral_value():
        raise ConversionError("GW-MAP-INTEGER", f"{value!r} is not a whole number")
    return int(number)


def as_country(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z]{2}", value):
        raise ConversionError("GW-MAP-COUNTRY", f"{value!r} is not a two-letter country code")
    return value.upper()


def as_hs_code(value: str) -> str:
    digits = value.replace(" ", "").replace(".", "")
    if not re.fullmatch(r"\d{6,10}", digits):
        raise ConversionError("GW-MAP-HS-CODE", f"{value!r} is not a 6- to 10-digit goods code")
    return digits


def as_wco_datetime(value: str) -> str:
    """WCO format 304 (``YYYYMMDDhhmmss±hh``) or 102 (``YYYYMMDD``) -> ISO 8601."""
    m = re.fullmatch(r"(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2})(Z|[+-]\d{2}))?", value)
    if not m:
        raise ConversionError("GW-MAP-DATETIME", f"{value!r} is not a WCO date-time")
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
    raise ConversionError("GW-MAP-DATE", f"{value!r} is not a date")


def _real_date(code: str, value: str, *parts: str | None) -> None:
    """Refuse dates and times that match the pattern but do not exist (30 February)."""
    try:
        dt.datetime(*(int(p) for p in parts if p is not None))  # type: ignore[arg-type]
    except ValueError as exc:
        raise ConversionError(code, f"{value!r} is not a real date/time") from exc


def _decimal(value: str) -> Decimal:
    try:
        return Decimal(value)
    except InvalidOperation as exc:
        raise ConversionError("GW-MAP-NUMBER", f"{value!r} is not a number") from exc


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
