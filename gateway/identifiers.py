"""Customs identifiers and their check digits.

MRN (movement reference number): 2-digit year + 2-letter country + 12 alphanumerics +
procedure letter + check digit, the check digit computed as in ISO 6346 (rule R0028):
letters take the ISO 6346 values A=10, B=12 … Z=38 (skipping 11, 22, 33), the i-th
character's value is multiplied by 2**i, the sum is taken mod 11, and 10 becomes 0.
ISO 11649 creditor references (``RF…``) carry two mod-97 check digits.
"""

from __future__ import annotations

import re
import string

_LETTER_VALUES: dict[str, int] = {}
_value = 10
for _letter in string.ascii_uppercase:
    if _value % 11 == 0:
        _value += 1
    _LETTER_VALUES[_letter] = _value
    _value += 1

MRN_PATTERN = re.compile(r"^[0-9]{2}[A-Z]{2}[A-Z0-9]{12}[A-Z][0-9]$")


def iso6346_check_digit(code: str) -> int:
    """ISO 6346 check digit of ASCII letters and digits (container numbers, MRN bodies)."""
    if not re.fullmatch(r"[A-Za-z0-9]+", code):
        raise ValueError(f"only ASCII letters and digits carry an ISO 6346 digit, not {code!r}")
    total = 0
    for i, char in enumerate(code.upper()):
        value = int(char) if char.isdigit() else _LETTER_VALUES[char]
        total += value * (2 ** i)
    return total % 11 % 10


def mrn_check_digit(first17: str) -> int:
    """The ISO 6346 check digit of an MRN's first 17 characters."""
    if not re.fullmatch(r"[A-Za-z0-9]{17}", first17):
        raise ValueError(f"an MRN body has 17 ASCII letters or digits, not {first17!r}")
    return iso6346_check_digit(first17)


def is_valid_mrn(mrn: str) -> bool:
    return bool(MRN_PATTERN.match(mrn)) and mrn_check_digit(mrn[:17]) == int(mrn[17])


def make_mrn(year: int, country: str, serial: str, procedure_letter: str) -> str:
    """An MRN from its parts; ``serial`` is padded to 12 characters."""
    body = f"{year % 100:02d}{country.upper()}{serial.upper():0>12}{procedure_letter.upper()}"
    if len(body) != 17:
        raise ValueError(f"serial {serial!r} is longer than 12 characters")
    return body + str(mrn_check_digit(body))


def creditor_reference(payload: str) -> str:
    """An ISO 11649 ``RF`` reference for up to 21 alphanumerics."""
    payload = payload.upper()
    if not re.fullmatch(r"[A-Z0-9]{1,21}", payload):
        raise ValueError(f"a creditor reference carries 1-21 letters or digits, not {payload!r}")
    check = 98 - _mod97(payload + "RF00")
    return f"RF{check:02d}{payload}"


def is_valid_creditor_reference(reference: str) -> bool:
    reference = reference.replace(" ", "").upper()
    if not re.fullmatch(r"RF\d{2}[A-Z0-9]{1,21}", reference):
        return False
    return _mod97(reference[4:] + reference[:4]) == 1


def _mod97(text: str) -> int:
    digits = "".join(str(int(c, 36)) for c in text)
    return int(digits) % 97
