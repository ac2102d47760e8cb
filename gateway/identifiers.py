"""Customs identifiers and their check digits.

MRN (movement reference number): 2-digit year + 2-letter country + 12 alphanumerics +
procedure letter + check digit, the check digit computed as in ISO 6346 (rule R0028):
letters take the ISO 6346 values A=10, B=12 … Z=38 (skipping 11, 22, 33), the i-th
character's value is multiplied by 2**i, the sum is taken mod 11, and 10 becomes 0.
ISO 11649 creditor references (``RF…``) carry two mod-97 check digits; IBANs (ISO 13616)
the same mod-97 rule over the whole number; BICs (ISO 9362) are 8 or 11 characters. Those
three are checked with python-stdnum (``stdnum.iso11649``, ``stdnum.iban``, ``stdnum.bic``).
"""

from __future__ import annotations

import functools
import re
import string

from stdnum import bic as bic_module
from stdnum import iban as iban_module
from stdnum import iso11649
from stdnum.iso7064 import mod_97_10

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


def creditor_reference_for(number: str) -> str:
    """The ISO 11649 ``RF`` creditor reference of up to 21 letters or digits.

    ``creditor_reference_for("539007547034") == "RF18539007547034"``; spaces are ignored and
    letters upper-cased (the check digits are those of python-stdnum's ISO 7064 mod 97-10).
    """
    payload = "".join(number.split()).upper()
    if not re.fullmatch(r"[A-Z0-9]{1,21}", payload):
        raise ValueError(f"a creditor reference carries 1-21 letters or digits, not {number!r}")
    reference = f"RF{mod_97_10.calc_check_digits(payload + 'RF')}{payload}"
    return iso11649.validate(reference)


# the name the stand-ins and older callers use
creditor_reference = creditor_reference_for


@functools.lru_cache(maxsize=8192)     # a bank file asks for each of its references twice
def is_valid_creditor_reference(reference: str) -> bool:
    """An ISO 11649 ``RF…`` reference with valid check digits (spaces and case ignored)."""
    return bool(iso11649.is_valid(reference))


def is_valid_iban(iban: str) -> bool:
    """An IBAN with valid mod-97 check digits and its country's length and format."""
    return bool(iban_module.is_valid(iban))


def is_valid_bic(bic: str) -> bool:
    """A BIC (ISO 9362): 8 or 11 characters, institution, country, location, branch."""
    return bool(bic_module.is_valid(bic))
