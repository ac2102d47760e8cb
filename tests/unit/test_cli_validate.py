"""``gateway validate FILE…``: exit 0 valid, 1 invalid, 2 unreadable; every problem listed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.cli import main
from gateway.settings import PROJECT_HOME

FIXTURES = PROJECT_HOME / "tests" / "fixtures"
VALID_WCO = FIXTURES / "wco" / "dec_valid_3_items.xml"
VALID_SAD = FIXTURES / "asycuda" / "sad_valid_3_items.xml"
MANY_ERRORS = FIXTURES / "wco" / "dec_invalid_many_errors.xml"
BAD_NUMBERS = FIXTURES / "asycuda" / "sad_invalid_bad_numbers.xml"


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Use the repository's configuration and a throw-away var directory (no keys needed)."""
    monkeypatch.delenv("GATEWAY_HOME", raising=False)
    monkeypatch.setenv("GATEWAY_VAR_DIR", str(tmp_path / "var"))


def validate(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str]:
    code = main(["validate", *map(str, args)])
    return code, capsys.readouterr().out


def line_of(path: Path, needle: str) -> int:
    lines = [n for n, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if needle in text]
    assert len(lines) == 1
    return lines[0]


@pytest.mark.parametrize("path", [
    VALID_WCO, VALID_SAD, FIXTURES / "asycuda" / "sad_valid_120_items.xml",
    FIXTURES / "wco" / "dec_item_count_mismatch.xml",
])
def test_cli_validate_valid_files_exit_zero(
        capsys: pytest.CaptureFixture[str], path: Path) -> None:
    """Valid declarations exit 0 and are reported as valid with their type."""
    code, out = validate(capsys, path)
    assert code == 0
    assert out.startswith(f"{path}: valid ")
    assert "goods item(s)" in out


@pytest.mark.parametrize("path", [
    MANY_ERRORS, BAD_NUMBERS, FIXTURES / "asycuda" / "sad_invalid_nonsense.xml",
    FIXTURES / "wco" / "dec_valid_minimal.xml", FIXTURES / "wco" / "res_sample.xml",
    FIXTURES / "attacks" / "xxe_file_passwd.xml",
    FIXTURES / "attacks" / "malformed_tag_mismatch.xml",
])
def test_cli_validate_invalid_files_exit_one(
        capsys: pytest.CaptureFixture[str], path: Path) -> None:
    """Schema, mapping, business-rule, unknown-type, unsafe and malformed files exit 1."""
    code, out = validate(capsys, path)
    assert code == 1
    assert out.startswith(f"{path}: INVALID")


def test_cli_validate_unreadable_file_exits_two(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A missing file or a directory exits 2 and says it is unreadable."""
    missing = tmp_path / "missing.xml"
    code, out = validate(capsys, missing)
    assert code == 2
    assert out.strip().startswith(f"{missing}: unreadable")
    code, out = validate(capsys, tmp_path)
    assert code == 2


def test_cli_validate_worst_result_wins(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Several files: valid + invalid exits 1, adding an unreadable one exits 2; all reported."""
    code, out = validate(capsys, VALID_WCO, MANY_ERRORS)
    assert code == 1
    assert f"{VALID_WCO}: valid" in out and f"{MANY_ERRORS}: INVALID" in out
    code, out = validate(capsys, tmp_path / "nope.xml", VALID_WCO, MANY_ERRORS)
    assert code == 2
    assert f"{VALID_WCO}: valid" in out and f"{MANY_ERRORS}: INVALID" in out


def test_cli_validate_lists_every_schema_problem_with_position(
        capsys: pytest.CaptureFixture[str]) -> None:
    """Each of the seven schema errors is printed as file:line:column: code pointer."""
    _, out = validate(capsys, MANY_ERRORS)
    text = MANY_ERRORS.read_text().splitlines()
    expected = [
        (7, "GW-XSD-ENUMERATION", "/MetaData/Declaration/FunctionCode"),
        (10, "GW-XSD-PATTERN", "/MetaData/Declaration/IssueDateTime/DateTimeString"),
        (15, "GW-XSD-FRACTION-DIGITS", "/MetaData/Declaration/InvoiceAmount"),
        (18, "GW-XSD-TOO-LONG", "/MetaData/Declaration/Declarant/Name"),
        (25, "GW-XSD-LENGTH", "/MetaData/Declaration/Exporter/Address/CountryCode"),
        (35, "GW-XSD-CONTENT", "/MetaData/Declaration/GoodsShipment/GovernmentAgencyGoodsItem/"
                               "Commodity/GoodsMeasure/GrossMassMeasure"),
        (41, "GW-XSD-CONTENT", "/MetaData/Declaration/GoodsShipment/Importer/VATNumber"),
    ]
    problem_lines = [line for line in out.splitlines() if line.startswith("  ")]
    assert len(problem_lines) == len(expected)
    for printed, (line, code, pointer) in zip(problem_lines, expected, strict=True):
        column = len(text[line - 1]) - len(text[line - 1].lstrip()) + 1
        assert printed.startswith(f"  {MANY_ERRORS}:{line}:{column}: {code} {pointer}: "), printed
    assert "[value: DEU]" in out


def test_cli_validate_lists_mapping_problems_with_line(
        capsys: pytest.CaptureFixture[str]) -> None:
    """Both mapping problems of the bad-numbers file are printed with their line and pointer."""
    _, out = validate(capsys, BAD_NUMBERS)
    gross = line_of(BAD_NUMBERS, "<Gross_weight_itm>12,3,4.x<")
    packages = line_of(BAD_NUMBERS, "<Number_of_packages>ten<")
    assert (f"  {BAD_NUMBERS}:{gross}:" in out
            and "GW-MAP-NUMBER /ASYCUDA/Item[1]/Valuation_item/Weight_itm/Gross_weight_itm:" in out)
    assert (f"  {BAD_NUMBERS}:{packages}:" in out
            and "GW-MAP-NUMBER /ASYCUDA/Item[2]/Packages/Number_of_packages:" in out)


def test_cli_validate_json_one_object_per_file(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """--json prints one JSON object per file, in order, with validity and problems."""
    missing = tmp_path / "missing.xml"
    code = main(["validate", "--json", str(VALID_SAD), str(MANY_ERRORS), str(missing)])
    lines = capsys.readouterr().out.strip().splitlines()
    assert code == 2
    assert len(lines) == 3
    valid, invalid, unreadable = (json.loads(line) for line in lines)
    assert valid == {"file": str(VALID_SAD), "valid": True, "message_type": "asycuda-sad-1",
                     "summary": "3 goods item(s)", "problems": []}
    assert invalid["valid"] is False and invalid["message_type"] == "wco-dec-3.6"
    assert len(invalid["problems"]) == 7
    assert invalid["problems"][0] == {
        "code": "GW-XSD-ENUMERATION",
        "message": "Element 'FunctionCode': [facet 'enumeration'] The value '10' is not an "
                   "element of the set {'9', '13', '14'}",
        "pointer": "/MetaData/Declaration/FunctionCode", "line": 7, "column": 3, "value": "10"}
    assert unreadable["file"] == str(missing) and unreadable["valid"] is False
    assert unreadable["error"].startswith("unreadable")


def test_cli_validate_json_reports_business_rules(capsys: pytest.CaptureFixture[str]) -> None:
    """A schema-valid minimal declaration reports its business-rule codes in JSON."""
    code = main(["validate", "--json", str(FIXTURES / "wco" / "dec_valid_minimal.xml")])
    result = json.loads(capsys.readouterr().out)
    assert code == 1
    assert [p["code"] for p in result["problems"]] == ["GW-RULE-NO-ITEMS", "GW-RULE-NO-LRN"]
