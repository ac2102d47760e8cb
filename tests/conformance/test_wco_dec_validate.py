"""Real WCO DM 3.6 declarations against the gateway's own checks, without a server.

``gateway validate`` (the intake's checks: safe parse, identify, XSD, mapping, business rules)
must accept every declaration of ``wco-dec/`` in one invocation. Then real declarations with
ONE value broken in memory (a country code ``GBX``, FunctionCode ``10``, a text one character
too long, a DateTimeString that breaks its pattern or sits in the DEC-DMS namespace, a
WCODataModelVersionCode ``9.9``, too many digits) must each be refused with exactly one problem
located where the value is: what made the corpus pass did not loosen the schema.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from corpus import corpus_file, corpus_files, family_dir, missing_corpus, require_corpus
from lxml import etree

from adapters.bootstrap import document_checker
from adapters.cli import main
from gateway.checking import DocumentChecker
from gateway.settings import Settings
from gateway.xml.schema_problems import local_pointer

pytestmark = pytest.mark.conformance

FAMILY = "wco-dec"
MD_NS = "urn:wco:datamodel:WCO:DocumentMetaData-DMS:2"
DEC_NS = "urn:wco:datamodel:WCO:DEC-DMS:2"
DS_NS = "urn:wco:datamodel:WCO:Declaration_DS:DMS:2"
NS = {"md": MD_NS, "d": DEC_NS, "ds": DS_NS}
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
FILES_PER_MUTATION = 3


# --- the CLI over the whole corpus ---------------------------------------------------------------


def test_cli_validate_accepts_every_corpus_declaration(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    """One ``gateway validate --json`` over all corpus declarations exits 0, each one valid."""
    files = require_corpus(FAMILY)
    monkeypatch.delenv("GATEWAY_HOME", raising=False)
    monkeypatch.setenv("GATEWAY_VAR_DIR", str(tmp_path / "var"))

    code = main(["validate", "--json", *map(str, files)])

    reports = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    refused = {r["file"]: r["problems"] or r["summary"] for r in reports if not r["valid"]}
    assert refused == {}
    assert code == 0
    assert [r["file"] for r in reports] == [str(f) for f in files]
    assert {r["message_type"] for r in reports} == {"wco-dec-3.6"}


# --- one value broken in a real declaration ------------------------------------------------------


@dataclass(frozen=True)
class Mutation:
    """Find the element in a real declaration, break its value, expect this problem code."""

    name: str
    xpath: str
    change: Callable[[etree._Element], etree._Element]   # returns the element now at fault
    code: str


def _text(value: str) -> Callable[[etree._Element], etree._Element]:
    def change(element: etree._Element) -> etree._Element:
        element.text = value
        return element
    return change


def _to_dec_namespace(element: etree._Element) -> etree._Element:
    """The same DateTimeString (text, attributes) in DEC-DMS, where the format does not put it."""
    moved = etree.Element(f"{{{DEC_NS}}}DateTimeString", dict(element.attrib))
    moved.text, moved.tail = element.text, element.tail
    element.getparent().replace(element, moved)
    return moved


MUTATIONS = [
    Mutation("country-code-GBX", "//d:CountryCode", _text("GBX"), "GW-XSD-LENGTH"),
    Mutation("function-code-10", "/md:MetaData/d:Declaration/d:FunctionCode", _text("10"),
             "GW-XSD-ENUMERATION"),
    Mutation("description-513-characters", "//d:GovernmentAgencyGoodsItem/d:Commodity/"
             "d:Description", _text("x" * 513), "GW-XSD-TOO-LONG"),
    Mutation("datetime-string-iso-format", "//ds:DateTimeString", _text("2025-04-04T14:18:56"),
             "GW-XSD-PATTERN"),
    Mutation("datetime-string-in-dec-namespace", "//ds:DateTimeString", _to_dec_namespace,
             "GW-XSD-CONTENT"),
    Mutation("data-model-version-9.9", "/md:MetaData/md:WCODataModelVersionCode",
             _text("9.9"), "GW-MSG-UNSUPPORTED-VERSION"),
    Mutation("gross-mass-7-decimals", "//d:GoodsMeasure/d:GrossMassMeasure",
             _text("1.0000001"), "GW-XSD-FRACTION-DIGITS"),
    Mutation("item-quantity-6-digits", "/md:MetaData/d:Declaration/d:GoodsItemQuantity",
             _text("100000"), "GW-XSD-TOTAL-DIGITS"),
]


def _mutation_params() -> list:  # type: ignore[type-arg]
    """(mutation, file) for the first few corpus files that have the element to break."""
    files = corpus_files(FAMILY)
    if not files:
        return [pytest.param(None, "corpus-missing", id="corpus-missing")]
    params = []
    for mutation in MUTATIONS:
        having = [f for f in files
                  if etree.parse(str(f), PARSER).xpath(mutation.xpath, namespaces=NS)]
        assert having, f"no corpus file has {mutation.xpath} to break"
        params += [pytest.param(mutation, path, id=f"{mutation.name}:"
                                f"{path.relative_to(family_dir(FAMILY)).as_posix()}")
                   for path in having[:FILES_PER_MUTATION]]
    return params


@pytest.fixture(scope="module")
def checker() -> DocumentChecker:
    return document_checker(Settings())


def _mutated(path: Path, mutation: Mutation) -> tuple[bytes, str, int]:
    """The file's bytes with one value broken; the broken element's pointer and line."""
    tree = etree.parse(str(path), PARSER)
    element = mutation.change(tree.xpath(mutation.xpath, namespaces=NS)[0])
    where = tree.getelementpath(element)
    body = etree.tostring(tree, xml_declaration=True, encoding="UTF-8")
    reparsed = etree.fromstring(body, PARSER).getroottree()
    found = reparsed.find(where)
    assert found is not None and found.text == element.text
    return body, local_pointer(found), found.sourceline


@pytest.mark.parametrize("mutation, param", _mutation_params())
def test_corpus_declaration_with_one_broken_value_is_refused_where_it_is(
        checker: DocumentChecker, mutation: Mutation | None, param: Path | str) -> None:
    """A real declaration with one value broken gets exactly one problem: code, pointer, line."""
    if mutation is None:
        missing_corpus(FAMILY)
    path = corpus_file(param, FAMILY)
    assert mutation is not None
    assert checker.check(path.read_bytes()).valid           # the file as it is passes
    body, pointer, line = _mutated(path, mutation)

    result = checker.check(body)

    assert not result.valid
    assert [(p.code, p.pointer, p.line) for p in result.problems] == \
        [(mutation.code, pointer, line)], result.problems
