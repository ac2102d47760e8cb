"""The hardened parser refuses every classic XML attack and reports what it refused.

Attack documents live in ``tests/fixtures/attacks`` (see its README). Nothing may be resolved:
no file read, no entity expanded, no network touched, and the error never echoes a secret.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from gateway.errors import GatewayError, MalformedXml, PayloadTooLarge, UnsafeXml
from gateway.settings import PROJECT_HOME
from gateway.xml.safe_parser import XmlLimits, parse_untrusted

ATTACKS = PROJECT_HOME / "tests" / "fixtures" / "attacks"
WCO = PROJECT_HOME / "tests" / "fixtures" / "wco"
ASYCUDA = PROJECT_HOME / "tests" / "fixtures" / "asycuda"
LIMITS = XmlLimits()


def attack(name: str) -> bytes:
    return (ATTACKS / name).read_bytes()


def everything_said(error: GatewayError) -> str:
    """All text the gateway would show about an error: message, problems, context, chain."""
    parts = [str(error), error.message, error.code, json.dumps(error.context, default=str)]
    parts += [json.dumps(p.as_dict(), ensure_ascii=False) for p in error.problems]
    cause = error.__cause__
    while cause is not None:
        parts.append(str(cause))
        cause = cause.__cause__
    return "\n".join(parts)


def passwd_lines() -> list[str]:
    """Distinctive lines of /etc/passwd (empty when the file does not exist)."""
    path = Path("/etc/passwd")
    if not path.exists():
        return []
    return [line for line in path.read_text(errors="replace").splitlines() if ":" in line]


def in_fresh_thread(body: bytes, limits: XmlLimits = LIMITS) -> Any:
    """Parse in a new thread (a new per-thread parser); return the tree or the exception."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(parse_untrusted(body, limits))
        except Exception as exc:  # noqa: BLE001 - handed back to the test
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    assert outcome, "the parser did not finish"
    return outcome[0]


def nested(depth: int) -> bytes:
    """A well-formed document whose deepest element sits at ``depth`` (the root is 1)."""
    return b"<r>" + b"<a>" * (depth - 1) + b"x" + b"</a>" * (depth - 1) + b"</r>"


def flat(elements: int) -> bytes:
    """A document with exactly ``elements`` elements (the root and its children)."""
    return b"<r>" + b"<i/>" * (elements - 1) + b"</r>"


# --- DTDs and entities ---------------------------------------------------------------------

@pytest.mark.parametrize("name", [
    "billion_laughs.xml", "xxe_file_passwd.xml", "external_dtd.xml", "parameter_entities.xml",
])
def test_parse_untrusted_refuses_doctype_attacks_with_dtd_code(name: str) -> None:
    """Every DOCTYPE/entity attack is refused as UnsafeXml with code GW-XML-DTD."""
    with pytest.raises(UnsafeXml) as caught:
        parse_untrusted(attack(name), LIMITS)
    assert caught.value.code == "GW-XML-DTD"
    assert caught.value.http_status == 400


@pytest.mark.parametrize("name", [
    "xxe_file_passwd.xml", "external_dtd.xml", "parameter_entities.xml", "xinclude.xml",
    "utf16_bom_doctype.xml", "utf16le_no_bom_doctype.xml", "utf7_doctype.xml",
])
def test_parse_untrusted_never_echoes_local_file_content(name: str) -> None:
    """No line of /etc/passwd appears anywhere in what the refusal says."""
    with pytest.raises(GatewayError) as caught:
        parse_untrusted(attack(name), LIMITS)
    said = everything_said(caught.value)
    assert "root:x:0:0" not in said
    for line in passwd_lines():
        assert line not in said


def test_parse_untrusted_refuses_billion_laughs_without_expanding() -> None:
    """The entity bomb is refused and its expansion ("lollol…") never shows in the error."""
    with pytest.raises(UnsafeXml) as caught:
        parse_untrusted(attack("billion_laughs.xml"), LIMITS)
    assert "lollollol" not in everything_said(caught.value)


def test_parse_untrusted_refuses_xinclude_with_pointer() -> None:
    """An xi:include is refused with GW-XML-XINCLUDE and a problem pointing at the element."""
    with pytest.raises(UnsafeXml) as caught:
        parse_untrusted(attack("xinclude.xml"), LIMITS)
    assert caught.value.code == "GW-XML-XINCLUDE"
    (problem,) = caught.value.problems
    assert problem.code == "GW-XML-XINCLUDE"
    assert problem.pointer is not None and problem.pointer.endswith("include")
    assert problem.line == 5


@pytest.mark.parametrize("name", ["utf16_bom_doctype.xml", "utf16le_no_bom_doctype.xml"])
def test_parse_untrusted_refuses_utf16_with_encoding_code(name: str) -> None:
    """UTF-16 (with or without a BOM) is refused with GW-XML-ENCODING before any parsing."""
    with pytest.raises(UnsafeXml) as caught:
        parse_untrusted(attack(name), LIMITS)
    assert caught.value.code == "GW-XML-ENCODING"


def test_parse_untrusted_refuses_utf7_disguised_doctype() -> None:
    """A DOCTYPE hidden by UTF-7 shifting (no '<!DOCTYPE' bytes) is still refused as unsafe."""
    with pytest.raises(UnsafeXml) as caught:
        parse_untrusted(attack("utf7_doctype.xml"), LIMITS)
    assert caught.value.code in ("GW-XML-DTD", "GW-XML-ENCODING")


def test_parse_untrusted_accepts_doctype_text_inside_cdata() -> None:
    """The text "<!DOCTYPE" inside a CDATA section of the root is data, not a DTD."""
    tree = parse_untrusted(attack("cdata_doctype_text.xml"), LIMITS)
    comment = tree.getroot().findtext("General_information/Comments_free_text")
    assert comment is not None and "<!DOCTYPE sad" in comment


def test_parse_untrusted_accepts_entity_text_inside_cdata() -> None:
    """The text "<!ENTITY" inside a CDATA section of the root is data, not a declaration."""
    tree = parse_untrusted(attack("cdata_entity_text.xml"), LIMITS)
    comment = tree.getroot().findtext("General_information/Comments_free_text")
    assert comment is not None and '<!ENTITY company "ACME">' in comment


@pytest.mark.parametrize("name", ["prolog_many_pis.xml", "prolog_many_comments.xml"])
def test_parse_untrusted_prolog_check_runs_in_linear_time(name: str) -> None:
    """40 processing instructions or comments before the root are parsed in well under 10 s."""
    script = (
        "import sys; from pathlib import Path\n"
        "from gateway.xml.safe_parser import XmlLimits, parse_untrusted\n"
        "tree = parse_untrusted(Path(sys.argv[1]).read_bytes(), XmlLimits())\n"
        "print(tree.getroot().tag)\n"
    )
    try:
        done = subprocess.run([sys.executable, "-c", script, str(ATTACKS / name)],
                              cwd=PROJECT_HOME, capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail(f"parse_untrusted spent more than 10 s on the {len(attack(name))}-byte "
                    f"{name} (catastrophic backtracking before parsing)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ASYCUDA"


# --- size, depth and element limits -------------------------------------------------------

def test_parse_untrusted_size_limit_checked_before_parsing() -> None:
    """A body one byte over the limit is PayloadTooLarge (413) even though it is not XML."""
    body = b"<!DOCTYPE x [" + b"<" * 200
    with pytest.raises(PayloadTooLarge) as caught:
        parse_untrusted(body, XmlLimits(max_bytes=len(body) - 1))
    assert caught.value.code == "GW-SIZE-LIMIT"
    assert caught.value.http_status == 413


def test_parse_untrusted_size_limit_is_inclusive() -> None:
    """A body of exactly max_bytes is parsed."""
    body = b"<r><a>1</a></r>"
    tree = parse_untrusted(body, XmlLimits(max_bytes=len(body)))
    assert tree.getroot().findtext("a") == "1"


def test_parse_untrusted_depth_at_limit_accepted() -> None:
    """A document exactly max_depth levels deep is accepted."""
    tree = parse_untrusted(nested(10), XmlLimits(max_depth=10))
    assert tree.getroot().tag == "r"


def test_parse_untrusted_depth_over_limit_refused() -> None:
    """One level more than max_depth is refused with GW-XML-DEPTH."""
    with pytest.raises(UnsafeXml) as caught:
        parse_untrusted(nested(11), XmlLimits(max_depth=10))
    assert caught.value.code == "GW-XML-DEPTH"


def test_parse_untrusted_deep_nesting_attack_refused_with_depth_code() -> None:
    """The 1000-level nesting attack is refused with GW-XML-DEPTH, not as malformed XML."""
    with pytest.raises(UnsafeXml) as caught:
        parse_untrusted(attack("deep_nesting.xml"), LIMITS)
    assert caught.value.code == "GW-XML-DEPTH"


def test_parse_untrusted_elements_at_limit_accepted() -> None:
    """A document with exactly max_elements elements is accepted."""
    tree = parse_untrusted(flat(20), XmlLimits(max_elements=20))
    assert len(tree.getroot()) == 19


def test_parse_untrusted_elements_over_limit_refused() -> None:
    """One element more than max_elements is refused with GW-XML-ELEMENTS."""
    with pytest.raises(UnsafeXml) as caught:
        parse_untrusted(flat(21), XmlLimits(max_elements=20))
    assert caught.value.code == "GW-XML-ELEMENTS"
    assert "21" in caught.value.message


# --- malformed and empty bodies -----------------------------------------------------------

def test_parse_untrusted_malformed_gives_line_and_column() -> None:
    """A tag mismatch on line 4 is MalformedXml with a problem on line 4 and a column."""
    body = attack("malformed_tag_mismatch.xml")
    outcome = in_fresh_thread(body)
    assert isinstance(outcome, MalformedXml)
    assert outcome.code == "GW-XML-MALFORMED"
    assert outcome.problems, "no problem reported"
    first = outcome.problems[0]
    assert first.code == "GW-XML-MALFORMED"
    assert first.line == 4
    line_text = body.split(b"\n")[3]
    assert first.column is not None and 1 <= first.column <= len(line_text) + 1


def test_parse_untrusted_malformed_problems_do_not_leak_between_documents() -> None:
    """A second malformed document reports only its own errors, not the previous one's."""
    first = b"<r>\n  <a></b>\n</r>"
    second = b"<r>\n<x>\n<y>\n  <c>&</c></y></x>\n</r>"

    def run() -> list[Any]:
        seen = []
        for body in (first, second):
            try:
                parse_untrusted(body, LIMITS)
            except MalformedXml as exc:
                seen.append(exc)
        return seen

    results: list[Any] = []
    thread = threading.Thread(target=lambda: results.extend(run()))
    thread.start()
    thread.join(30)
    assert len(results) == 2
    assert {p.line for p in results[1].problems} == {4}, [p.as_dict() for p in results[1].problems]


@pytest.mark.parametrize("body", [b"", b"   \n\t  "])
def test_parse_untrusted_empty_body_refused_with_empty_code(body: bytes) -> None:
    """An empty or whitespace-only body is MalformedXml with code GW-XML-EMPTY."""
    with pytest.raises(MalformedXml) as caught:
        parse_untrusted(body, LIMITS)
    assert caught.value.code == "GW-XML-EMPTY"


# --- ordinary documents -------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    WCO / "dec_valid_3_items.xml", ASYCUDA / "sad_valid_3_items.xml",
    ASYCUDA / "sad_valid_120_items.xml",
])
def test_parse_untrusted_accepts_sample_declarations(path: Path) -> None:
    """The real sample declarations pass every limit with default settings."""
    tree = parse_untrusted(path.read_bytes(), LIMITS)
    assert tree.getroot().tag in ("ASYCUDA",
                                  "{urn:wco:datamodel:WCO:DocumentMetaData-DMS:2}MetaData")
