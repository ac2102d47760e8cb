"""The integrator docs hold: their example declarations are what the builders write and pass the
intake's checks, and every link between the docs leads somewhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from adapters.bootstrap import document_checker
from gateway.settings import PROJECT_HOME, Settings
from samples.asycuda import build_sad
from samples.wco import build_dec

DOCS = PROJECT_HOME / "docs"
EXAMPLES = {
    "declaration-wco.xml": lambda: build_dec(3, "LRN-EXAMPLE-0001"),
    "declaration-asycuda.xml": lambda: build_sad(3, reference="REF-EXAMPLE-0001"),
}
LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_docs_example_declaration_is_the_builders_output(name: str) -> None:
    """docs/examples/NAME is exactly what the command in docs/integrating.md regenerates."""
    assert (DOCS / "examples" / name).read_bytes() == EXAMPLES[name]()


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_docs_example_declaration_passes_the_intake_checks(name: str) -> None:
    """The example a partner is told to post is valid (schema, mapping, business rules)."""
    result = document_checker(Settings()).check((DOCS / "examples" / name).read_bytes())
    assert result.valid, [p.as_dict() for p in result.problems]


def _anchors(text: str) -> set[str]:
    """GitHub's anchors of the markdown headings in ``text``."""
    out = set()
    for heading in re.findall(r"^#{1,6} (.+)$", text, re.MULTILINE):
        kept = "".join(ch for ch in heading.lower() if ch.isalnum() or ch in " -_")
        out.add(kept.replace(" ", "-"))
    return out


@pytest.mark.parametrize("doc", ["integrating.md", "problem-codes.md"])
def test_docs_links_lead_to_files_and_headings(doc: str) -> None:
    """Every relative link of the document names an existing file and, if any, a heading of it."""
    text = (DOCS / doc).read_text(encoding="utf-8")
    links = [link for link in LINK.findall(text) if "://" not in link]
    assert links
    for link in links:
        target, _, anchor = link.partition("#")
        path = (DOCS / target) if target else DOCS / doc
        assert path.is_file(), link
        if anchor:
            assert anchor in _anchors(Path(path).read_text(encoding="utf-8")), link
