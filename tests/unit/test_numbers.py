"""Numbers read from a request: ASCII digits only, bounded, refused with a located problem."""

from __future__ import annotations

import pytest

from gateway.errors import RequestError
from gateway.numbers import INT32_MAX, InvalidNumber, parse_ascii_uint, strip_xml_whitespace

REFUSED = {
    "superscript-two": "\u00b2",
    "arabic-indic-three": "\u0663",
    "devanagari-one": "\u0967",
    "fullwidth-one": "\uff11",
    "plus-sign": "+1",
    "minus-sign": "-1",
    "leading-space": " 1",
    "trailing-newline": "1\n",
    "underscore": "1_000",
    "decimal-point": "1.0",
    "exponent": "1e3",
    "hex": "0x10",
    "empty": "",
    "five-thousand-digits": "9" * 5000,
    "ten-digits": "1234567890",
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_parse_ascii_uint_refuses_anything_but_ascii_digits(case: str) -> None:
    """Other scripts' digits, signs, spaces, separators, empty or overlong text are refused."""
    with pytest.raises(InvalidNumber) as raised:
        parse_ascii_uint(REFUSED[case], 9, name="after", pointer="?after")
    err = raised.value
    assert isinstance(err, RequestError) and err.http_status == 400
    assert err.code == "GW-NUMBER-INVALID"
    assert err.problems[0].pointer == "?after"
    assert err.problems[0].value
    assert len(err.problems[0].value) < 80


@pytest.mark.parametrize(("text", "expected"), [
    ("0", 0), ("7", 7), ("0042", 42), ("999999999", 999_999_999)])
def test_parse_ascii_uint_reads_plain_digits(text: str, expected: int) -> None:
    """One to nine ASCII digits are read as the number they spell."""
    assert parse_ascii_uint(text, 9) == expected


def test_parse_ascii_uint_enforces_maximum() -> None:
    """A value over ``maximum`` is refused even within the digit count; INT32_MAX passes."""
    assert parse_ascii_uint(str(INT32_MAX), 10) == INT32_MAX
    with pytest.raises(InvalidNumber, match="at most 2147483647"):
        parse_ascii_uint(str(INT32_MAX + 1), 10)
    with pytest.raises(InvalidNumber, match="at most 100"):
        parse_ascii_uint("101", 9, maximum=100)


def test_parse_ascii_uint_shows_invisible_characters_in_value() -> None:
    """The reported value makes spaces and invisible characters visible."""
    with pytest.raises(InvalidNumber) as raised:
        parse_ascii_uint("\u200b1", 9)
    assert raised.value.problems[0].value == "\\u200b1"
    with pytest.raises(InvalidNumber) as raised:
        parse_ascii_uint(" 1", 9)
    assert raised.value.problems[0].value == " 1"


def test_strip_xml_whitespace_strips_only_xml_whitespace() -> None:
    """Space, tab, CR and LF are stripped; a no-break space or U+2003 is kept (and refused)."""
    assert strip_xml_whitespace("\n\t 42 \r\n") == "42"
    assert strip_xml_whitespace("\u00a042\u2003") == "\u00a042\u2003"
    with pytest.raises(InvalidNumber):
        parse_ascii_uint(strip_xml_whitespace("\u00a042"), 9)
