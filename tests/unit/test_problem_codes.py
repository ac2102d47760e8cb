"""The table of problem codes is complete, used, agrees with the error classes, and is the doc.

The source is scanned as text (every ``GW-…`` written in ``gateway/``, ``adapters/``,
``config/`` and ``mappings/``), and read with ``ast`` for the ``code=`` given at raise sites;
the error classes are found by importing every module of both packages. Each checker is also
shown to catch a planted violation, so a silent checker cannot pass.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import adapters
import gateway
from gateway.errors import GatewayError, RequestError
from gateway.problem_codes import PROBLEM_CODES, SECTIONS, ProblemCode, problem_code
from gateway.settings import PROJECT_HOME

TABLE_FILE = PROJECT_HOME / "gateway" / "problem_codes.py"
SCANNED = (("gateway", "*.py"), ("adapters", "*.py"), ("config", "*.toml"),
           ("mappings", "*.toml"))
CODE = re.compile(r"\bGW-[A-Z0-9]+(?:-[A-Z0-9]+)*(?![-A-Za-z0-9{])")
#: a code cut short before a placeholder or a concatenation: "GW-XSD-{kind}", "GW-" + name
PARTIAL_CODE = re.compile(r"\bGW-(?:[A-Z0-9]+-)*(?=[{\"'])")
TABLE = {entry.code: entry for entry in PROBLEM_CODES}


def scanned_files() -> Iterator[Path]:
    for folder, pattern in SCANNED:
        for path in sorted((PROJECT_HOME / folder).rglob(pattern)):
            if path != TABLE_FILE:
                yield path


def codes_in(text: str) -> set[str]:
    """Every whole ``GW-`` code written in ``text``."""
    return set(CODE.findall(text))


def partial_codes_in(text: str) -> list[str]:
    """Lines of ``text`` that build a code from pieces (the table could not list it)."""
    return [line.strip() for line in text.splitlines() if PARTIAL_CODE.search(line)]


def source_codes() -> dict[str, list[str]]:
    """Code -> the files (relative) that write it."""
    found: dict[str, list[str]] = {}
    for path in scanned_files():
        for code in codes_in(path.read_text(encoding="utf-8")):
            found.setdefault(code, []).append(str(path.relative_to(PROJECT_HOME)))
    return found


def all_modules() -> Iterator[ModuleType]:
    for package in (gateway, adapters):
        yield package
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            yield importlib.import_module(info.name)


def error_classes() -> dict[str, type[GatewayError]]:
    """Every ``GatewayError`` class defined in the two packages, by name."""
    list(all_modules())
    found: dict[str, type[GatewayError]] = {}
    pending: list[type[GatewayError]] = [GatewayError]
    while pending:
        cls = pending.pop()
        found[cls.__name__] = cls
        pending += cls.__subclasses__()
    return {name: cls for name, cls in found.items()
            if cls.__module__.split(".")[0] in ("gateway", "adapters")}


def codes_given_at_raise_sites(source: str) -> list[tuple[str, str, int]]:
    """(class name, code, line) of every ``SomeError(…, code="GW-…")`` call in ``source``."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) \
            else getattr(node.func, "id", "")
        for keyword in node.keywords:
            if keyword.arg == "code" and isinstance(keyword.value, ast.Constant) \
                    and isinstance(keyword.value.value, str):
                out.append((name, keyword.value.value, node.lineno))
    return out


def status_agrees(entry: ProblemCode, cls: type[GatewayError]) -> bool:
    """The row's status is the class's; "never over HTTP" only for a non-request 500 error."""
    if entry.http_status is None:
        return cls.http_status == 500 and not issubclass(cls, RequestError)
    return entry.http_status == cls.http_status


def test_problem_codes_every_code_in_the_source_is_in_the_table() -> None:
    """Every GW- code written in gateway/, adapters/, config/ or mappings/ has a row."""
    found = source_codes()
    assert len(found) > 50, "the scan found almost nothing: is the pattern broken?"
    missing = {code: files for code, files in found.items() if code not in TABLE}
    assert missing == {}, "add these codes to gateway/problem_codes.py"


def test_problem_codes_are_never_built_from_pieces() -> None:
    """No source builds a code at run time (f"GW-XSD-{x}"), which the table could not list."""
    partial = {str(path.relative_to(PROJECT_HOME)): lines for path in scanned_files()
               if (lines := partial_codes_in(path.read_text(encoding="utf-8")))}
    assert partial == {}


def test_problem_codes_scanners_catch_planted_codes() -> None:
    """The scanners see a code in a string, a docstring and a comment, and a code cut short."""
    planted = 'raise X("bad", code="GW-PLANTED-ONE")  # GW-PLANTED-TWO\n"""GW-PLANTED-THREE."""'
    assert codes_in(planted) == {"GW-PLANTED-ONE", "GW-PLANTED-TWO", "GW-PLANTED-THREE"}
    assert codes_in('code = f"GW-XSD-{kind}"') == set()
    assert partial_codes_in('code = f"GW-XSD-{kind}"\nok = "GW-XSD-PATTERN"') == [
        'code = f"GW-XSD-{kind}"']
    assert partial_codes_in('code = "GW-" + name') == ['code = "GW-" + name']
    assert "GW-PLANTED-ONE" not in TABLE


def test_problem_codes_every_row_is_used_or_reserved() -> None:
    """A code in the table is written somewhere in the source, unless it is marked reserved."""
    found = source_codes()
    unused = [entry.code for entry in PROBLEM_CODES if entry.code not in found
              and not entry.reserved]
    assert unused == []


def test_problem_codes_every_error_class_agrees_with_its_row() -> None:
    """Each GatewayError class's code is in the table with the class's HTTP status."""
    classes = error_classes()
    assert {"GatewayError", "RequestError", "InvalidNumber", "MustUnderstandFault",
            "InvalidDecision"} <= set(classes)
    disagree = {name: (cls.code, cls.http_status, TABLE.get(cls.code))
                for name, cls in classes.items()
                if cls.code not in TABLE or not status_agrees(TABLE[cls.code], cls)}
    assert disagree == {}


def test_problem_codes_given_at_raise_sites_agree_with_the_class_raised() -> None:
    """``SomeError(…, code="GW-X")``: GW-X's row has the status that SomeError answers with."""
    classes = error_classes()
    disagree = []
    for path in scanned_files():
        if path.suffix != ".py":
            continue
        for name, code, line in codes_given_at_raise_sites(path.read_text(encoding="utf-8")):
            cls = classes.get(name)
            if cls is not None and not (code in TABLE and status_agrees(TABLE[code], cls)):
                disagree.append(f"{path.relative_to(PROJECT_HOME)}:{line} {name} {code}")
    assert disagree == []


def test_problem_codes_raise_site_reader_sees_codes() -> None:
    """The ``code=`` reader finds the class and the code of a planted raise."""
    assert codes_given_at_raise_sites('raise UnsafeXml("x", code="GW-XML-DTD")\n') == [
        ("UnsafeXml", "GW-XML-DTD", 1)]


def test_problem_codes_rows_are_well_formed() -> None:
    """Codes are unique; every row says what it means and how to fix it, in sentences; a
    problem's parent rejection is in the table; statuses are HTTP error statuses."""
    codes = [entry.code for entry in PROBLEM_CODES]
    assert len(codes) == len(set(codes))
    for entry in PROBLEM_CODES:
        assert CODE.fullmatch(entry.code), entry.code
        assert entry.meaning.endswith(".") and entry.fix.endswith("."), entry.code
        assert entry.http_status is None or 400 <= entry.http_status <= 599, entry.code
        if entry.within is not None:
            parent = TABLE[entry.within]
            assert parent.within is None and parent.http_status == entry.http_status
    assert all(section.codes for section in SECTIONS)


def test_problem_code_looks_up_a_row() -> None:
    """``problem_code`` returns the row of a known code and refuses an unknown one."""
    assert problem_code("GW-MEDIA-TYPE").http_status == 415
    assert problem_code("GW-XSD-PATTERN").within == "GW-XSD-INVALID"
    try:
        problem_code("GW-NO-SUCH-CODE")
    except KeyError:
        pass
    else:
        raise AssertionError("an unknown code must raise KeyError")


def _doc_tool() -> ModuleType:
    path = PROJECT_HOME / "tools" / "problem_codes_doc.py"
    spec = importlib.util.spec_from_file_location("problem_codes_doc", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_problem_codes_doc_is_the_tools_output() -> None:
    """The committed docs/problem-codes.md is exactly what the tool writes from the table."""
    tool = _doc_tool()
    committed = (PROJECT_HOME / "docs" / "problem-codes.md").read_text(encoding="utf-8")
    assert committed == tool.render(), "run: python tools/problem_codes_doc.py --write"
    assert tool.main(["--check"]) == 0


def test_problem_codes_doc_lists_every_code_with_status_and_fix() -> None:
    """Each row of the table is a row of the document, with its status, meaning and fix."""
    text = _doc_tool().render()
    for entry in PROBLEM_CODES:
        row = next(line for line in text.splitlines() if line.startswith(f"| `{entry.code}`"))
        status = "—" if entry.http_status is None else str(entry.http_status)
        assert f"| {status} |" in row and entry.fix in row and entry.meaning in row
        assert ("*(reserved)*" in row) == entry.reserved

