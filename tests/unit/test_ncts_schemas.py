"""Our NCTS P5 schemas: generated from typed trees, faithful to the official pack, registered.

The seven reference trees (``shared/reference/ncts/message-trees-p5.txt``) and our
transcription of the DDNTA Appendix Q2 for the ten other messages (``tools/ncts_trees/``,
written by ``tools/ncts_ddnta.py``) give ``schemas/ncts/p5/`` through ``tools/ncts_xsd.py``.
The tests check the tools (determinism, what they refuse), the transcription against the
reference trees and against the official DG TAXUD pack (element by element: occurrences and
what each type allows), and our schemas and the official pack against the same messages and
mutations (``tests/fixtures/ncts/`` and the corpus).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from lxml import etree
from ncts_support import (
    FIXTURES,
    MESSAGES,
    NAMESPACE,
    OFFICIAL_MESSAGES,
    OUR_TREE_MESSAGES,
    OURS,
    TREE_MESSAGES,
    TREES,
    ddnta,
    fixture,
    fixture_of,
    flatten_official,
    flatten_ours,
    official,
    ours,
    parse,
    reference_trees,
    tool,
)

from gateway.message_types import MessageTypeRegistry
from gateway.settings import Settings

SETTINGS = Settings()
ncts_xsd = tool("ncts_xsd")
ncts_ddnta = tool("ncts_ddnta")
TREE_FILES = sorted(TREES.glob("*.txt"))

#: Where our schemas and the official pack 51.8.6 disagree, on purpose (see tools/ncts_xsd.py).
KNOWN_DIFFERENCES = {
    # the official phaseIDtype lists NCTS5.1 twice (" NCTS5.1" and "NCTS5.1"): one value here
    **{(m, f"/{m}/@PhaseID"): "duplicate enumeration value" for m in OFFICIAL_MESSAGES},
    # CL030: the reference shows twelve values and "...": ours is two digits (DDNTA n2)
    ("CC917C", "/CC917C/XMLError/errorCode"): "abbreviated code list in the reference",
    # the guarantor's country is a code list the reference does not give: a country code here
    ("CC045C", "/CC045C/Guarantor/Address/country"): "code list not in the reference",
}


def signature_slot(message: str) -> dict[str, tuple[str, str, str, tuple[str, ...]]]:
    """What our schemas add to every root and the official pack lacks: an optional Id and an
    optional trailing ds:Signature, room for the gateway's enveloped signature."""
    return {f"/{message}/*": ("0", "1", "any", ("http://www.w3.org/2000/09/xmldsig#",)),
            f"/{message}/@Id": ("optional", "", "ID", ())}


def _generated() -> dict[str, str]:
    return ncts_xsd.generate(ncts_xsd.read_trees([str(reference_trees()),
                                                  *map(str, TREE_FILES)]))


# --- the tools -----------------------------------------------------------------------------


def test_shipped_schemas_are_what_the_generator_writes() -> None:
    """schemas/ncts/p5/ holds exactly the generator's output for the reference and our trees."""
    files = _generated()
    assert sorted(files) == sorted(p.name for p in OURS.glob("*.xsd"))
    for name, text in files.items():
        assert (OURS / name).read_text(encoding="utf-8") == text, name


def test_generator_output_is_deterministic() -> None:
    """Two runs give byte-identical schemas, with no date or time in them."""
    first, second = _generated(), _generated()
    assert first == second
    assert not any(re.search(r"20\d\d-\d\d-\d\d", text) for text in first.values())


def test_generator_command_line_check_passes_on_the_shipped_schemas(tmp_path: Path) -> None:
    """``--check`` says the shipped files are current, and fails on a folder without them."""
    trees = [str(reference_trees()), *map(str, TREE_FILES)]
    assert ncts_xsd.main([*trees, "--check", "--out", str(OURS)]) == 0
    assert ncts_xsd.main([*trees, "--check", "--out", str(tmp_path)]) == 1


def test_shipped_trees_are_what_the_transcription_tool_writes() -> None:
    """tools/ncts_trees/ is ncts_ddnta's transcription of the DDNTA, message by message."""
    trees = ncts_ddnta.transcribe(ddnta().read_text(encoding="utf-8"),
                                  reference_trees().read_text(encoding="utf-8"),
                                  list(OUR_TREE_MESSAGES))
    assert [p.name for p in TREE_FILES] == [f"{i:02d}-{m}.txt"
                                           for i, m in enumerate(OUR_TREE_MESSAGES, 1)]
    for path, (message, text) in zip(TREE_FILES, trees.items(), strict=True):
        assert path.read_text(encoding="utf-8") == text, message


def test_our_trees_say_they_are_our_transcription() -> None:
    """Each tree's header names the published structure it transcribes, and says it is ours."""
    for path in TREE_FILES:
        head = path.read_text(encoding="utf-8").split("\n", 4)
        message = path.stem.split("-")[1]
        assert "OUR TRANSCRIPTION of the published structure" in head[1], path.name
        assert f"({message})" in head[2] and "DDNTA for NCTS P5, Appendix Q2" in head[1]


def test_message_types_code_list_is_every_message_of_the_ddnta() -> None:
    """CL060 is completed with exactly the messages the DDNTA's headings define."""
    headings = set(re.findall(r"^IE\d{3} \((C[CD]\d{3}[A-Z])\)", ddnta().read_text("utf-8"),
                              re.MULTILINE))
    assert set(ncts_xsd.MESSAGE_TYPES) == headings
    assert list(ncts_xsd.MESSAGE_TYPES) == sorted(ncts_xsd.MESSAGE_TYPES)
    assert set(MESSAGES) <= headings


def test_generator_refuses_one_type_name_with_two_meanings() -> None:
    """Two trees giving AddressType07 different content stop the generator."""
    first = ("CC001X : CC001XType\n  Address [1..1]  : AddressType07\n"
             "    city [1..1]  : City<xs:token>pattern=.{1,35}\n")
    second = first.replace("{1,35}", "{1,70}").replace("CC001X", "CC002X")
    trees = ncts_xsd.parse_trees(first, "a.txt") + ncts_xsd.parse_trees(second, "b.txt")
    with pytest.raises(SystemExit, match="City differs"):
        ncts_xsd.generate(trees)


def test_generator_refuses_an_abbreviated_code_list_it_cannot_complete() -> None:
    """A code list shown as 'a,b,...' that COMPLETIONS does not hold stops the generator."""
    text = "CC001X : CC001XType\n  code [1..1]  : SomeCodes<xs:token>enum[A,B,...]\n"
    with pytest.raises(SystemExit, match="abbreviated"):
        ncts_xsd.parse_trees(text, "a.txt")


def test_generator_refuses_a_reference_to_a_type_no_tree_defines() -> None:
    """An aggregate line without children must name a type defined by a tree read before."""
    text = "CC001X : CC001XType\n  Address [1..1]  : AddressTypeNowhere\n"
    with pytest.raises(SystemExit, match="AddressTypeNowhere"):
        ncts_xsd.generate(ncts_xsd.parse_trees(text, "a.txt"))


def test_transcription_tool_refuses_a_message_the_ddnta_lacks() -> None:
    """Asking for a message the DDNTA does not define is an error, not an empty tree."""
    with pytest.raises(SystemExit, match="CC999C"):
        ncts_ddnta.transcribe(ddnta().read_text("utf-8"), reference_trees().read_text("utf-8"),
                              ["CC999C"])


# --- the transcription against the references ------------------------------------------


def _structure(tree, library) -> dict[str, tuple[str, str]]:  # type: ignore[no-untyped-def]
    """Path -> (min, max) of a parsed tree, references to shared types followed."""
    out: dict[str, tuple[str, str]] = {}

    def walk(name: str, type_name: str, path: str) -> None:
        complex_type = library.complex.get(type_name)
        if complex_type is None:
            return
        for child in complex_type.content:
            children = library.groups[child] if isinstance(child, str) else (child,)
            for c in children:
                out[f"{path}/{c.name}"] = (c.min, c.max)
                walk(c.name, c.type_name, f"{path}/{c.name}")

    walk(tree.message, tree.root.type_name, "/" + tree.message)
    return out


def test_ddnta_transcription_reproduces_the_reference_structures() -> None:
    """Transcribed from the DDNTA, the seven messages with a reference tree have its elements,
    order and occurrences — but for two groups the official schema makes optional."""
    text = ddnta().read_text(encoding="utf-8")
    reference = reference_trees().read_text(encoding="utf-8")
    transcribed = ncts_ddnta.transcribe(text, reference, list(TREE_MESSAGES))
    official_trees = {t.message: t for t in ncts_xsd.parse_trees(reference, "ref")}
    library = ncts_xsd.Library()
    library.add_trees(official_trees.values())
    relaxed = {"/CC029C/Consignment/PlaceOfLoading",
               "/CC029C/Consignment/HouseConsignment/ConsignmentItem/Commodity/GoodsMeasure"}
    for message, tree_text in transcribed.items():
        renamed = tree_text.replace(f"{message} : {message}Type", "CX999X : CX999XType")
        ours_tree = ncts_xsd.parse_trees(renamed, message)[0]
        mine = ncts_xsd.Library()
        mine.add_trees(official_trees.values())
        mine.add_trees([ours_tree])
        got = {p.replace("/CX999X", f"/{message}", 1): v
               for p, v in _structure(ours_tree, mine).items()}
        want = _structure(official_trees[message], library)
        assert list(got) == list(want), message
        differ = {p for p in want if got[p] != want[p]}
        assert differ == (relaxed if message == "CC029C" else set()), message


@pytest.mark.parametrize("message", OFFICIAL_MESSAGES)
def test_our_schema_matches_the_official_pack_element_by_element(message: str) -> None:
    """Every element of the official schema is in ours in the same place, with the same
    occurrences and a type allowing the same, but for the known differences."""
    theirs = flatten_official(message)
    mine = {p: v for p, v in flatten_ours(message).items() if p not in signature_slot(message)}
    assert list(mine) == list(theirs)
    differ = {path for path in theirs if mine[path] != theirs[path]}
    assert differ == {p for (m, p) in KNOWN_DIFFERENCES if m == message}


def test_transcribed_schemas_are_at_least_as_strict_on_the_known_differences() -> None:
    """Where ours differ, a value the official pack refuses for its code list is still
    refused by ours when it breaks the DDNTA format (three digits for CL030)."""
    body = fixture("cc917c.xml").replace(b"<errorCode>12</errorCode>",
                                         b"<errorCode>123</errorCode>")
    assert ours("CC917C").problems(parse(body), body)
    assert official("CC917C").problems(parse(body), body)


# --- the schemas ---------------------------------------------------------------------------


@pytest.mark.parametrize("message", MESSAGES)
def test_schema_is_xsd_10_in_the_ncts_namespace_with_a_qualified_root(message: str) -> None:
    """XSD 1.0 (no XSD 1.1 construct), target namespace http://ncts.dgtaxud.ec, children
    unqualified, the root a global element of its own name with the PhaseID attribute."""
    text = (OURS / f"{message}.xsd").read_text(encoding="utf-8")
    root = etree.fromstring(text.encode())
    assert root.get("targetNamespace") == NAMESPACE
    assert root.get("elementFormDefault") == "unqualified"
    assert "minVersion" not in text and "xs:assert" not in text
    assert [e.get("name") for e in root.iterfind("{*}element")] == [message]
    types = (OURS / "ncts-p5-types.xsd").read_text(encoding="utf-8")
    assert 'name="phaseIDtype"' in types and "xs:alternative" not in types
    assert 'attribute name="PhaseID"' in text


@pytest.mark.parametrize("message", MESSAGES)
def test_our_sample_is_valid_against_our_schema(message: str) -> None:
    """tests/fixtures/ncts/ holds one valid sample per message type."""
    body = fixture_of(message)
    assert ours(message).problems(parse(body), body) == []


@pytest.mark.parametrize("message", MESSAGES)
def test_signed_sample_is_valid_against_our_schema_and_the_slot_takes_nothing_else(
        message: str, tmp_path: Path) -> None:
    """Every root has room for an enveloped signature (Id + trailing ds:Signature), and only
    for that: another foreign element or attribute there is still refused."""
    from signing_helpers import make_key

    from gateway.signing.xmldsig import XmlSigner

    signer = XmlSigner(make_key(tmp_path, "schema-test")[0])
    signed = signer.sign_to_bytes(parse(fixture_of(message)))
    assert b"<ds:Signature" in signed and b' Id="' in signed
    assert ours(message).problems(parse(signed), signed) == []
    stray = signed.replace(b"<ds:Signature", b"<x:Stray xmlns:x=\"urn:x\"/><ds:Signature")
    assert ours(message).problems(parse(stray), stray)
    other = signed.replace(b' Id="', b' Other="')
    assert ours(message).problems(parse(other), other)


@pytest.mark.parametrize("message", OFFICIAL_MESSAGES)
def test_our_sample_is_valid_against_the_official_pack(message: str) -> None:
    """Our CC samples are valid P5 messages by the official pack too."""
    body = fixture_of(message)
    assert official(message).problems(parse(body), body) == []


def _goods_items(count: int) -> bytes:
    """Our CC015C with ``count`` goods items in its house consignment."""
    body = fixture("cc015c_mk_rs.xml")
    start = body.index(b"<ConsignmentItem>")
    end = body.index(b"</ConsignmentItem>") + len(b"</ConsignmentItem>")
    one = body[start:end]
    items = b"".join(one.replace(b"<goodsItemNumber>1<", f"<goodsItemNumber>{n}<".encode())
                     .replace(b"<declarationGoodsItemNumber>1<",
                              f"<declarationGoodsItemNumber>{n}<".encode())
                     for n in range(1, count + 1))
    last = body.rindex(b"</ConsignmentItem>") + len(b"</ConsignmentItem>")
    return body[:start] + items + body[last:]


MUTATIONS = {
    "grn-pattern": (lambda b: b.replace(b"<GRN>25MK0000000001235</GRN>",
                                        b"<GRN>25MK000000000123X</GRN>"),
                    "GW-XSD-PATTERN", "/CC015C/Guarantee/GuaranteeReference/GRN"),
    "office-MK00100": (lambda b: b.replace(b"<referenceNumber>MK001005</referenceNumber>",
                                           b"<referenceNumber>MK00100</referenceNumber>", 1),
                       "GW-XSD-PATTERN", "/CC015C/CustomsOfficeOfDeparture/referenceNumber"),
    "no-messageIdentification": (
        lambda b: re.sub(rb"\s*<messageIdentification>[^<]*</messageIdentification>", b"", b),
        "GW-XSD-CONTENT", "/CC015C/messageType"),
    "1000-goods-items": (lambda b: _goods_items(1000), "GW-XSD-CONTENT",
                         "/CC015C/Consignment/HouseConsignment/ConsignmentItem[1000]"),
    "child-in-ncts-namespace": (
        lambda b: b.replace(b"<messageRecipient>NTA.MK</messageRecipient>",
                            b"<ncts:messageRecipient>NTA.MK</ncts:messageRecipient>"),
        "GW-XSD-CONTENT", "/CC015C/messageRecipient"),
    "phase-NCTS4.0": (lambda b: b.replace(b'PhaseID="NCTS5.1"', b'PhaseID="NCTS4.0"'),
                      "GW-XSD-ENUMERATION", "/CC015C/@PhaseID"),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_mutation_of_a_cc015c_is_refused_by_ours_and_the_official_pack(name: str) -> None:
    """Each broken CC015C is refused by both schemas, located at the same element."""
    mutate, code, pointer = MUTATIONS[name]
    body = mutate(fixture("cc015c_mk_rs.xml"))
    for validator in (ours("CC015C"), official("CC015C")):
        problems = validator.problems(parse(body), body)
        assert (code, pointer) in {(p.code, p.pointer) for p in problems}, validator.kind


def test_999_goods_items_in_a_house_consignment_are_valid_for_both() -> None:
    """The cap is 999: exactly 999 goods items are accepted (the 1,000th is the problem)."""
    body = _goods_items(999)
    assert ours("CC015C").problems(parse(body), body) == []
    assert official("CC015C").problems(parse(body), body) == []


@pytest.mark.parametrize("message", ["CD001C", "CD050C"])
def test_our_customs_records_cap_goods_items_and_check_office_references(message: str) -> None:
    """CD001C and CD050C (no public schema) are held to the same caps and patterns by ours."""
    body = fixture_of(message)
    start, end = body.index(b"<ConsignmentItem>"), body.index(b"</ConsignmentItem>") + 18
    many = body[:start] + body[start:end] * 1000 + body[end:]
    pointers = {p.pointer for p in ours(message).problems(parse(many), many)}
    assert f"/{message}/Consignment/HouseConsignment/ConsignmentItem[1000]" in pointers
    bad = body.replace(b"<referenceNumber>RS002000</referenceNumber>",
                       b"<referenceNumber>rs002000</referenceNumber>")
    assert {(p.code, p.pointer) for p in ours(message).problems(parse(bad), bad)} == {
        ("GW-XSD-PATTERN", f"/{message}/CustomsOfficeOfDestinationDeclared/referenceNumber")}


# --- the registry ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def registry() -> MessageTypeRegistry:
    return MessageTypeRegistry.load(SETTINGS.config_dir / "message_types.toml",
                                    SETTINGS.schemas_dir)


@pytest.mark.parametrize("message", MESSAGES)
def test_every_message_type_is_registered_and_identifies_its_sample(
        registry: MessageTypeRegistry, message: str) -> None:
    """Each P5 message has its entry (family ncts, kind movement_message, routing class
    movement, our schema and its mapping), and its sample is identified by root element with
    its messageIdentification as the message id and its PhaseID as the stated version."""
    entry = registry.get(f"ncts-p5-{message.lower()}")
    assert (entry.family, entry.canonical_kind, entry.routing_class) == (
        "ncts", "movement_message", "movement")
    assert entry.root_tag == f"{{{NAMESPACE}}}{message}"
    assert entry.message_id_xpath == "messageIdentification"
    assert (SETTINGS.schemas_dir / entry.schema_file).is_file()
    assert (SETTINGS.mappings_dir / entry.mapping_file).is_file()
    root = parse(fixture_of(message))
    found = registry.identify(root)
    assert found.message_type is entry
    assert found.message_id == root.findtext("messageIdentification")
    assert found.stated_version == "NCTS5.1"
    assert registry.validate(entry, root, fixture_of(message)) == []


def test_registry_refuses_a_phase_no_entry_accepts(registry: MessageTypeRegistry) -> None:
    """A P5 message stating PhaseID NCTS4.0 is GW-MSG-UNSUPPORTED-VERSION, located."""
    from gateway.errors import UnknownMessageType

    body = fixture("cc015c_mk_rs.xml").replace(b'PhaseID="NCTS5.1"', b'PhaseID="NCTS4.0"')
    with pytest.raises(UnknownMessageType) as caught:
        registry.identify(parse(body))
    assert caught.value.code == "GW-MSG-UNSUPPORTED-VERSION"


def test_fixture_folder_has_a_readme_for_every_sample() -> None:
    """tests/fixtures/ncts/README.md lists every sample file."""
    readme = (FIXTURES / "README.md").read_text(encoding="utf-8")
    for path in FIXTURES.glob("*.xml"):
        assert f"`{path.name}`" in readme, path.name
