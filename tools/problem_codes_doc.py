"""Write ``docs/problem-codes.md`` from the table in ``gateway/problem_codes.py``.

The output depends on the table only (no date, no environment), so the committed file can be
compared with it; ``tests/unit/test_problem_codes.py`` does, and fails when they differ::

    python tools/problem_codes_doc.py            # print the document
    python tools/problem_codes_doc.py --write    # (re)write docs/problem-codes.md
    python tools/problem_codes_doc.py --check    # exit 1 if docs/problem-codes.md differs
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "problem-codes.md"

if str(ROOT) not in sys.path:           # run as a script from anywhere in the checkout
    sys.path.insert(0, str(ROOT))

from gateway.problem_codes import SECTIONS, ProblemCode, Section  # noqa: E402

INTRO = """\
# Problem codes

<!-- Generated from gateway/problem_codes.py by `python tools/problem_codes_doc.py --write`.
     Do not edit by hand: change the table and regenerate (a test compares the two). -->

Every refusal the gateway reports carries a stable code. A partner sees it as the code of a
signed `gw:Rejection` (its `gw:Code` element; the JSON answer's `code`; inside the detail of a
SOAP fault) and as the code of each problem the rejection lists, with the problem's pointer,
line, column and value. Operators see the same codes in log lines and in the
`x-gateway-error-code` header of parked bus messages. A code never changes meaning; a new
check gets a new code.

**HTTP** is the status of the plain-HTTP answer (`POST /v1/messages` and the conversation
resources); for a problem code, the status of the rejection that lists it. SOAP answers follow
their binding: a SOAP 1.1 fault is HTTP 500 (`soap:Client` for your errors, `soap:Server` for
ours), a SOAP 1.2 fault 400 (`soap:Sender`) or 500 (`soap:Receiver`, `soap:MustUnderstand`) —
except the statuses that say nothing about the document (401, 403, 408, 413, 415, 429, 503),
which SOAP answers keep. "—": the code never reaches a partner. *Reserved* codes are defined
but not sent by any check today.

How to send, repeat and verify: [integrating.md](integrating.md).
"""


def render() -> str:
    """The whole document, deterministic."""
    parts = [INTRO, _index()]
    parts += [_section(section) for section in SECTIONS]
    return "\n".join(parts)


def _index() -> str:
    lines = ["## Sections", ""]
    lines += [f"* [{s.title}](#{_anchor(s.title)}): "
              f"{', '.join(f'`{c.code}`' for c in s.codes)}" for s in SECTIONS]
    return "\n".join(lines) + "\n"


def _section(section: Section) -> str:
    lines = [f"## {section.title}", "", section.where, "",
             "| Code | HTTP | Meaning | How to fix |", "|---|---|---|---|"]
    lines += [_row(code) for code in section.codes]
    return "\n".join(lines) + "\n"


def _row(entry: ProblemCode) -> str:
    code = f"`{entry.code}`" + (" *(reserved)*" if entry.reserved else "")
    status = "—" if entry.http_status is None else str(entry.http_status)
    meaning = entry.meaning
    if entry.within:
        meaning = f"Listed in a `{entry.within}` rejection. {meaning}"
    return f"| {code} | {status} | {_cell(meaning)} | {_cell(entry.fix)} |"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _anchor(title: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    kept = "".join(ch for ch in title.lower() if ch.isalnum() or ch in " -_")
    return kept.replace(" ", "-")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help=f"write {DOC.relative_to(ROOT)}")
    mode.add_argument("--check", action="store_true",
                      help=f"exit 1 if {DOC.relative_to(ROOT)} differs from the table")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        DOC.write_text(text, encoding="utf-8")
        return 0
    if args.check:
        current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
        if current != text:
            print(f"{DOC.relative_to(ROOT)} is out of date: run "
                  "python tools/problem_codes_doc.py --write", file=sys.stderr)
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
