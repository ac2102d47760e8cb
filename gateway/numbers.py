"""Whole numbers read from a request: ASCII digits only, bounded.

Python's own parsing is too lenient for values that come from outside: ``str.isdigit()`` is
true for ``"²"`` and ``"٣"``, and ``int()`` accepts any Unicode decimal digit, a sign,
surrounding whitespace and ``_`` separators (``int("1_000") == 1000``), and builds integers of
any length. Every number a partner sends (a query parameter, an element of a SOAP request)
goes through ``parse_ascii_uint`` instead: ``[0-9]{1,max_digits}`` and at most ``maximum``,
else an ``InvalidNumber`` (``GW-NUMBER-INVALID``, HTTP 400) that names where the value was
read and shows the offending value, shortened.

The caller decides what whitespace its format allows around the digits: none in a URL query;
XML whitespace in element content typed as an XSD integer (whose whitespace facet is
``collapse``) — see ``strip_xml_whitespace``.
"""

from __future__ import annotations

from typing import NoReturn

from gateway.errors import Problem, RequestError

INT32_MAX = 2**31 - 1
_ASCII_DIGITS = frozenset("0123456789")
_XML_WHITESPACE = " \t\r\n"


class InvalidNumber(RequestError):
    """A number in a request is not a plain, bounded, non-negative ASCII whole number."""

    code = "GW-NUMBER-INVALID"


def parse_ascii_uint(text: str, max_digits: int = 9, *, maximum: int = INT32_MAX,
                     name: str = "value", pointer: str | None = None) -> int:
    """``text`` as a non-negative integer of 1..``max_digits`` ASCII digits, at most ``maximum``.

    ``name`` says what the number is in the sentence of the error; ``pointer`` locates it in
    the request (a query parameter, an XML path).
    """
    if not text or not _ASCII_DIGITS.issuperset(text):
        _refuse(text, f"{name} must be written with the digits 0-9 only (no sign, spaces, "
                      f"separators or other scripts' digits)", pointer)
    if len(text) > max_digits:
        _refuse(text, f"{name} has {len(text)} digits; at most {max_digits} are accepted",
                pointer)
    value = int(text)          # safe now: at most max_digits ASCII digits
    if value > maximum:
        _refuse(text, f"{name} must be at most {maximum}", pointer)
    return value


def strip_xml_whitespace(text: str) -> str:
    """``text`` without the XML whitespace (space, tab, CR, LF) around it — nothing else."""
    return text.strip(_XML_WHITESPACE)


def _refuse(text: str, message: str, pointer: str | None) -> NoReturn:
    raise InvalidNumber(message, problems=[Problem(
        InvalidNumber.code, message, pointer=pointer, value=_shown(text))])


def _shown(text: str) -> str:
    """The offending value for the report: shortened, and empty shown as such."""
    if not text:
        return "(empty)"
    if len(text) > 40:
        return f"{repr(text[:20])[1:-1]}… ({len(text)} characters)"
    return repr(text)[1:-1]          # repr: spaces kept, invisible characters made visible
