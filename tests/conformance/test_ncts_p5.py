"""Real NCTS P5 messages against our schemas, the official DG TAXUD pack and the mappings.

The corpus ``ncts-p5/`` holds three trader messages as real software sends them (CC015C,
CC007C, CC025C) and the official trader-side schema pack 51.8.6 (XSD 1.1), both read in place.
Every corpus message must be valid against our schema and against the official pack, and map
to the canonical movement message. Then the gateway's own checks (``gateway validate``'s
pipelines) refuse them only for the DDNTA rules they break, named here: the corpus files are
schema samples with random numbers (a guarantee numbered 66710, an MRN whose check digit is
wrong), which a national system refuses as well. With the registry pointing the CC message
types at the official pack (``schema_pack = "ncts-official"``) the same pipelines give the
same verdicts. An XInclude inside a P5 message is refused before anything reads it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from corpus import (
    NCTS_FAMILY,
    corpus_file,
    corpus_params,
    ncts_official_pack,
)

from adapters.bootstrap import load_formats
from gateway.canonical.movement import MovementMessage
from gateway.canonical.movement_rules import rule_ids
from gateway.checking import DocumentChecker
from gateway.errors import UnsafeXml
from gateway.message_types import MessageTypeRegistry
from gateway.pipeline.assembly import check_pipelines
from gateway.settings import Settings
from gateway.xml.safe_parser import XmlLimits, parse_untrusted
from gateway.xml.validators import compile_xsd10, compile_xsd11

pytestmark = pytest.mark.conformance

SETTINGS = Settings()
OURS = SETTINGS.schemas_dir / "ncts" / "p5"
FIXTURES = SETTINGS.home / "tests" / "fixtures" / "ncts"
CORPUS = corpus_params(NCTS_FAMILY, "*.xml")
LIMITS = XmlLimits(SETTINGS.max_body_bytes, SETTINGS.max_depth, SETTINGS.max_elements)
#: the DDNTA rules each corpus file breaks, in the order the gateway reports them
RULES_BROKEN = {
    # Guarantee, HouseConsignment and Packaging numbered 66710, goods item 34564 (R0987,
    # R0988), the only goods item's declaration number 25 (R0007)
    "cc015c-valid.xml": ["R0987", "R0987", "R0988", "R0987", "R0007"],
    # MRN 27WF9X1FQ9RCKN0TM3: its check digit is 9, not 3 (R0028); incident numbered 12345
    "cc007c-valid.xml": ["R0028", "R0987"],
    "cc025c-valid.xml": ["R0028"],
}
#: what each corpus file says, as the canonical form must carry it
VALUES = {
    "cc015c-valid.xml": ("CC015C", "wrxe", "DHbrfgDQJRm", "GB3KMA8M", "declaration"),
    "cc007c-valid.xml": ("CC007C", "token", "27WF9X1FQ9RCKN0TM3", "GB123456", "arrival"),
    "cc025c-valid.xml": ("CC025C", "token", "27WF9X1FQ9RCKN0TM3", "AB654321", "release"),
}


def _message(path: Path) -> str:
    return path.name.split("-")[0].upper()


def _ours(message: str):  # type: ignore[no-untyped-def]
    path = OURS / f"{message}.xsd"
    return compile_xsd10([path], OURS)[path]


def _official(message: str):  # type: ignore[no-untyped-def]
    pack = ncts_official_pack()
    path = pack / f"{message.lower()}.xsd"
    return compile_xsd11([path], pack)[path]


@pytest.mark.parametrize("param", CORPUS)
def test_corpus_message_is_valid_against_ours_and_the_official_pack(param: object) -> None:
    """A real P5 message passes our schema (lxml) and the official pack (xmlschema)."""
    path = corpus_file(param, NCTS_FAMILY)  # type: ignore[arg-type]
    body = path.read_bytes()
    root = parse_untrusted(body, LIMITS).getroot()
    assert _ours(_message(path)).problems(root, body) == []
    assert _official(_message(path)).problems(root, body) == []


@pytest.fixture(scope="module")
def checker() -> DocumentChecker:
    """The intake's own checks with the repository's registry (our schemas)."""
    registry, mappings, kinds = load_formats(SETTINGS)
    return DocumentChecker(check_pipelines(limits=LIMITS, registry=registry,
                                           mappings=mappings, kinds=kinds))


@pytest.fixture(scope="module")
def official_checker(tmp_path_factory: pytest.TempPathFactory) -> DocumentChecker:
    """The same checks with every NCTS CC message type pointed at the official pack."""
    pack = ncts_official_pack()
    text = (SETTINGS.config_dir / "message_types.toml").read_text(encoding="utf-8")
    pointed, count = re.subn(r'schema = "ncts/p5/(CC\d{3}C)\.xsd"',
                             lambda m: f'schema = "{m.group(1).lower()}.xsd"\n'
                                       'schema_pack = "ncts-official"', text)
    assert count == 10
    config = tmp_path_factory.mktemp("registry") / "message_types.toml"
    config.write_text(pointed, encoding="utf-8")
    registry = MessageTypeRegistry.load(config, SETTINGS.schemas_dir,
                                        {"GATEWAY_NCTS_XSD_DIR": str(pack)})
    _, mappings, kinds = load_formats(SETTINGS)
    kinds.check_message_types(registry)
    kinds_of = {registry.validator(mt).kind for mt in registry if mt.family == "ncts"}
    assert kinds_of == {"xsd10", "xsd11"}           # CD types stay on ours (no public pack)
    return DocumentChecker(check_pipelines(limits=LIMITS, registry=registry,
                                           mappings=mappings, kinds=kinds))


@pytest.fixture(scope="module")
def formats():  # type: ignore[no-untyped-def]
    return load_formats(SETTINGS)


def _mapped(formats, body: bytes) -> MovementMessage:  # type: ignore[no-untyped-def]
    """Parse, identify, validate and map as the intake does, without the kind's rules."""
    registry, mappings, kinds = formats
    root = parse_untrusted(body, LIMITS).getroot()
    entry = registry.identify(root).message_type
    assert registry.validate(entry, root, body) == []
    built = kinds.get(entry.canonical_kind).build(mappings[entry.mapping_file].apply(root, body))
    assert isinstance(built, MovementMessage)
    return built


@pytest.mark.parametrize("param", CORPUS)
def test_corpus_message_maps_to_the_canonical_movement_message(
        param: object, formats) -> None:  # type: ignore[no-untyped-def]
    """The real message's type, id, reference, first office and payload reach the canonical
    form as written."""
    path = corpus_file(param, NCTS_FAMILY)  # type: ignore[arg-type]
    moved = _mapped(formats, path.read_bytes())
    message_type, message_id, reference, office, payload = VALUES[path.name]
    assert (moved.message_type, moved.header.message_id, moved.reference) == (
        message_type, message_id, reference)
    assert office in (moved.offices.departure, moved.offices.destination_actual)
    assert moved.payload == payload and moved.header.phase == "NCTS5.0"


@pytest.mark.parametrize("which", ["ours", "official"])
@pytest.mark.parametrize("param", CORPUS)
def test_corpus_message_is_refused_only_for_the_ddnta_rules_it_breaks(
        param: object, which: str, checker: DocumentChecker,
        official_checker: DocumentChecker) -> None:
    """Schema and mapping pass; what refuses the file is the DDNTA rules it breaks, named
    (the same whichever pack validated it)."""
    path = corpus_file(param, NCTS_FAMILY)  # type: ignore[arg-type]
    result = (checker if which == "ours" else official_checker).check(path.read_bytes())
    assert not result.valid
    assert {p.code for p in result.problems} <= {"GW-RULE-NCTS-MRN", "GW-RULE-NCTS-NUMBERING"}
    assert rule_ids(result.problems) == RULES_BROKEN[path.name]


@pytest.mark.parametrize("which", ["ours", "official"])
def test_our_samples_pass_every_check_with_either_pack(
        which: str, checker: DocumentChecker, official_checker: DocumentChecker) -> None:
    """Our 17 samples pass the whole check (schema, mapping, rules) with our schemas and with
    the CC types on the official pack."""
    chosen = checker if which == "ours" else official_checker
    for path in sorted(FIXTURES.glob("*.xml")):
        result = chosen.check(path.read_bytes())
        assert result.valid, (path.name, result.problems)


def test_a_broken_corpus_message_is_located_alike_by_ours_and_the_official_pack(
        checker: DocumentChecker, official_checker: DocumentChecker) -> None:
    """The corpus CC015C with an office reference of seven characters: both packs refuse it
    with the same pattern and length problems at the same element, line and column."""
    (cc015c,) = [p for p in CORPUS if p.id == "cc015c-valid.xml"] or [CORPUS[0]]
    body = corpus_file(cc015c.values[0], NCTS_FAMILY).read_bytes().replace(
        b"<referenceNumber>GB3KMA8M</referenceNumber>",
        b"<referenceNumber>GB3KMA8</referenceNumber>", 1)
    shapes = []
    for chosen in (checker, official_checker):
        result = chosen.check(body)
        assert not result.valid
        shapes.append(sorted((p.code, p.pointer, p.line, p.column, p.value)
                             for p in result.problems))
    assert shapes[0] == shapes[1]
    assert {s[0] for s in shapes[0]} == {"GW-XSD-PATTERN", "GW-XSD-LENGTH"}
    assert {s[1] for s in shapes[0]} == {"/CC015C/CustomsOfficeOfDeparture/referenceNumber"}


def test_xinclude_inside_a_p5_message_is_refused_by_the_hardened_parser() -> None:
    """A CC015C whose messageSender holds an xi:include of /etc/passwd is refused while
    parsing (GW-XML-XINCLUDE, pointing at the element), before identification or schemas."""
    body = (FIXTURES / "cc015c_mk_rs.xml").read_bytes().replace(
        b'<ncts:CC015C xmlns:ncts="http://ncts.dgtaxud.ec"',
        b'<ncts:CC015C xmlns:ncts="http://ncts.dgtaxud.ec" '
        b'xmlns:xi="http://www.w3.org/2001/XInclude"').replace(
        b"<messageSender>MK4080012345678</messageSender>",
        b'<messageSender><xi:include href="file:///etc/passwd" parse="text"/></messageSender>')
    with pytest.raises(UnsafeXml) as caught:
        parse_untrusted(body, LIMITS)
    assert caught.value.code == "GW-XML-XINCLUDE"
    (problem,) = caught.value.problems
    assert (problem.pointer, problem.line) == ("/ncts:CC015C/messageSender/xi:include", 3)


def test_official_pack_locator_points_at_the_pack_in_place() -> None:
    """The corpus locator gives the official pack folder of the corpus itself (not a copy)."""
    pack = ncts_official_pack()
    assert pack.name == "official-xsd-51.8.6" and (pack / "ctypes.xsd").is_file()
    assert not (SETTINGS.home / "schemas" / "ncts" / "ctypes.xsd").exists()


def test_official_pack_uses_no_xsd_11_construct_and_lxml_agrees_on_the_corpus() -> None:
    """The pack declares XSD 1.1 but holds no assertion, alternative or open content: ours
    loses none. lxml (XSD 1.0) compiles its CC015C file and gives the corpus the same verdict."""
    pack = ncts_official_pack()
    files = sorted(pack.rglob("*.xsd"))
    assert len(files) == 39
    constructs = re.compile(r"<xs:(assert|assertion|alternative|openContent|defaultOpenContent)\b")
    assert not [f.name for f in files if constructs.search(f.read_text(encoding="utf-8"))]
    lxml_pack = compile_xsd10([pack / "cc015c.xsd"], pack)[pack / "cc015c.xsd"]
    for param in CORPUS:
        path = corpus_file(param.values[0], NCTS_FAMILY)
        if _message(path) == "CC015C":
            body = path.read_bytes()
            assert lxml_pack.problems(parse_untrusted(body, LIMITS).getroot(), body) == []
