"""MRN check digits (ISO 6346 style) and ISO 11649 creditor references."""

from __future__ import annotations

import pytest

from gateway.identifiers import (
    _LETTER_VALUES,
    creditor_reference,
    creditor_reference_for,
    is_valid_bic,
    is_valid_creditor_reference,
    is_valid_iban,
    is_valid_mrn,
    make_mrn,
    mrn_check_digit,
)

PUBLISHED_MRNS = [("23GB000246IF9W5YJ0", 0), ("24GB000246J8NY33L7", 7)]


def reference_check_digit(first17: str) -> int:
    """An independent ISO 6346 computation from the published letter table."""
    letters = {"A": 10, "B": 12, "C": 13, "D": 14, "E": 15, "F": 16, "G": 17, "H": 18,
               "I": 19, "J": 20, "K": 21, "L": 23, "M": 24, "N": 25, "O": 26, "P": 27,
               "Q": 28, "R": 29, "S": 30, "T": 31, "U": 32, "V": 34, "W": 35, "X": 36,
               "Y": 37, "Z": 38}
    total = sum((int(c) if c.isdigit() else letters[c]) * 2 ** i for i, c in enumerate(first17))
    return total % 11 % 10


@pytest.mark.parametrize("mrn, digit", PUBLISHED_MRNS)
def test_mrn_check_digit_matches_published_mrns(mrn: str, digit: int) -> None:
    """The check digit of published MRNs is computed as published."""
    assert mrn_check_digit(mrn[:17]) == digit
    assert is_valid_mrn(mrn)


@pytest.mark.parametrize("mrn, _digit", PUBLISHED_MRNS)
def test_is_valid_mrn_detects_every_wrong_digit(mrn: str, _digit: int) -> None:
    """Each of the nine wrong check digits makes the MRN invalid."""
    for wrong in "0123456789":
        if wrong != mrn[17]:
            assert not is_valid_mrn(mrn[:17] + wrong)


def test_is_valid_mrn_detects_changed_character() -> None:
    """Changing one body character (without fixing the digit) is detected."""
    assert not is_valid_mrn("23GB000246IF9W5YK0")
    assert not is_valid_mrn("23GB000247IF9W5YJ0")


@pytest.mark.parametrize("bad", [
    "", "23GB000246IF9W5YJ", "23GB000246IF9W5YJ00", "23gb000246if9w5yj0",
    "2XGB000246IF9W5YJ0", "23GB000246IF9W5Y90", "23GB000246IF9W5YJX",
])
def test_is_valid_mrn_rejects_malformed(bad: str) -> None:
    """Wrong length, lower case, letters for digits or digits for the procedure letter fail."""
    assert not is_valid_mrn(bad)


def test_is_valid_mrn_rejects_non_ascii_digits() -> None:
    """Arabic-Indic digits in the year are not an MRN even if their values compute."""
    assert not is_valid_mrn("\u0662\u0663GB000246IF9W5YJ0")


@pytest.mark.parametrize("letter, value", [
    ("A", 10), ("B", 12), ("K", 21), ("L", 23), ("U", 32), ("V", 34), ("Z", 38),
])
def test_letter_values_follow_iso_6346(letter: str, value: int) -> None:
    """Letters take ISO 6346 values, skipping multiples of 11."""
    assert _LETTER_VALUES[letter] == value


def test_letter_values_skip_multiples_of_eleven() -> None:
    """No letter is worth 11, 22 or 33 and all 26 letters have distinct values."""
    assert len(_LETTER_VALUES) == 26
    assert not {11, 22, 33} & set(_LETTER_VALUES.values())
    assert len(set(_LETTER_VALUES.values())) == 26


def test_mrn_check_digit_agrees_with_independent_computation() -> None:
    """For bodies exercising every letter, the digit equals an independent ISO 6346 sum."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    for start in range(len(alphabet)):
        body = "26MK" + (alphabet * 2)[start:start + 12] + "R"
        assert mrn_check_digit(body) == reference_check_digit(body), body


@pytest.mark.parametrize("body", ["", "26MK00100500004", "26MK001005000042R2X",
                                  "26MK-01005000042R"])
def test_mrn_check_digit_rejects_bad_bodies(body: str) -> None:
    """Bodies that are not 17 letters or digits raise ValueError."""
    with pytest.raises(ValueError):
        mrn_check_digit(body)


def test_mrn_check_digit_rejects_non_ascii_letters() -> None:
    """A 17-character body with a non-ASCII letter raises ValueError (not KeyError)."""
    with pytest.raises(ValueError):
        mrn_check_digit("26MK00100500004É" + "R")


@pytest.mark.parametrize("year, country, serial, letter", [
    (2026, "MK", "1005000042", "R"), (2024, "gb", "000246J8NY33", "l"), (1999, "DE", "7", "A"),
])
def test_make_mrn_round_trip_valid(year: int, country: str, serial: str, letter: str) -> None:
    """make_mrn builds an 18-character MRN that is_valid_mrn accepts."""
    mrn = make_mrn(year, country, serial, letter)
    assert len(mrn) == 18
    assert is_valid_mrn(mrn)
    assert mrn.startswith(f"{year % 100:02d}{country.upper()}")
    assert mrn[16] == letter.upper()


def test_make_mrn_reproduces_published_mrn() -> None:
    """make_mrn(2024, "GB", "000246J8NY33", "L") is the published 24GB000246J8NY33L7."""
    assert make_mrn(2024, "GB", "000246J8NY33", "L") == "24GB000246J8NY33L7"


def test_make_mrn_pads_serial_with_zeros() -> None:
    """A short serial is left-padded with zeros to 12 characters."""
    assert make_mrn(2026, "MK", "42", "R")[4:16] == "000000000042"


def test_make_mrn_rejects_long_serial() -> None:
    """A serial longer than 12 characters raises ValueError."""
    with pytest.raises(ValueError):
        make_mrn(2026, "MK", "1234567890123", "R")


# --- ISO 11649 creditor references --------------------------------------------------------

def test_is_valid_creditor_reference_standard_example() -> None:
    """The ISO 11649 example RF18539007547034 is valid, also written in groups of four."""
    assert is_valid_creditor_reference("RF18539007547034")
    assert is_valid_creditor_reference("RF18 5390 0754 7034")
    assert is_valid_creditor_reference("rf18539007547034")


@pytest.mark.parametrize("bad", [
    "RF19539007547034", "RF18539007547035", "RF18", "XX18539007547034",
    "RF18" + "1" * 22, "RF1853900754703$",
])
def test_is_valid_creditor_reference_rejects_wrong(bad: str) -> None:
    """Wrong check digits, wrong payload, missing payload or bad characters are invalid."""
    assert not is_valid_creditor_reference(bad)


def test_creditor_reference_reproduces_standard_example() -> None:
    """creditor_reference("539007547034") is RF18539007547034."""
    assert creditor_reference("539007547034") == "RF18539007547034"


@pytest.mark.parametrize("payload", ["1", "MK2026LRN0001", "a1b2c3", "Z" * 21])
def test_creditor_reference_round_trip_valid(payload: str) -> None:
    """Generated references validate and carry the upper-cased payload."""
    reference = creditor_reference(payload)
    assert is_valid_creditor_reference(reference)
    assert reference[4:] == payload.upper()


@pytest.mark.parametrize("payload", ["", "Z" * 22, "LRN-0001"])
def test_creditor_reference_rejects_bad_payload(payload: str) -> None:
    """Empty, too long or non-alphanumeric payloads raise ValueError."""
    with pytest.raises(ValueError):
        creditor_reference(payload)


# --- ISO 11649 creditor references, IBAN and BIC (python-stdnum) -------------------------

PUBLISHED_CREDITOR_REFERENCES = [
    ("539007547034", "RF18539007547034"),
    ("000000000539007547034", "RF18000000000539007547034"),
]


@pytest.mark.parametrize("number, reference", PUBLISHED_CREDITOR_REFERENCES)
def test_creditor_reference_for_reproduces_the_published_iso_11649_examples(
        number: str, reference: str) -> None:
    """The ISO 11649 examples: 539007547034 -> RF18…, also with 21 characters (leading zeros)."""
    assert creditor_reference_for(number) == reference
    assert is_valid_creditor_reference(reference)


def test_creditor_reference_for_ignores_spaces_and_case() -> None:
    """A number written in groups or lower case gets the same reference, compact."""
    assert creditor_reference_for("5390 0754 7034") == "RF18539007547034"
    assert creditor_reference_for("26mk00abc") == creditor_reference_for("26MK00ABC")


@pytest.mark.parametrize("bad", ["", "X" * 22, "RF-18", "ÄBC"])
def test_creditor_reference_for_refuses_what_iso_11649_cannot_carry(bad: str) -> None:
    """Empty, longer than 21, or not letters and digits: ValueError."""
    with pytest.raises(ValueError):
        creditor_reference_for(bad)


@pytest.mark.parametrize("reference", [
    "RF19539007547034", "RF18539007547035", "RF18 000000000539007547034 1",
    "120000000000234478943216899"])
def test_is_valid_creditor_reference_refuses_wrong_digits_and_non_rf(reference: str) -> None:
    """A changed check digit or payload, an overlong reference or a Swiss ESR number is not RF."""
    assert not is_valid_creditor_reference(reference)


PUBLISHED_IBANS = ["GB82 WEST 1234 5698 7654 32", "DE89370400440532013000",
                   "MK07250120000058984", "CH2909000000250094239", "AT611904300234573201"]


@pytest.mark.parametrize("iban", PUBLISHED_IBANS)
def test_is_valid_iban_accepts_published_ibans(iban: str) -> None:
    """The IBAN registry examples (GB, DE, MK, AT) and a Swiss bank's account are valid."""
    assert is_valid_iban(iban)


@pytest.mark.parametrize("iban", ["GB83WEST12345698765432", "DE89370400440532013001",
                                  "MK0725012000005898", "XX82WEST12345698765432"])
def test_is_valid_iban_refuses_wrong_check_digits_length_or_country(iban: str) -> None:
    """One digit changed, one missing, or an unknown country: not an IBAN."""
    assert not is_valid_iban(iban)


@pytest.mark.parametrize("bic, valid", [("DEUTDEFF", True), ("POFICHBEXXX", True),
                                        ("UBSWCHZH80A", True), ("DEUTDEF", False),
                                        ("DEUTD1FF", False), ("DEUTDEFF50", False)])
def test_is_valid_bic_checks_length_and_structure(bic: str, valid: bool) -> None:
    """8 or 11 characters, the country part letters; 7, 10 or a digit in the country: refused."""
    assert is_valid_bic(bic) is valid
