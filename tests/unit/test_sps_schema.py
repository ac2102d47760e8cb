"""Our UN/CEFACT SPSCertificate schema takes real-shaped certificates and refuses nonsense.

The fixture ``tests/fixtures/sps/ephyto-apples-full.xml`` carries every element path and
attribute of a real ePhyto certificate (``reference/sps/SPSCertificate-paths.txt``, read in
place: the test that compares them fails under CI and skips elsewhere when the reference is
missing); the sample builder writes certificates with a ~500 KB embedded attachment. Mutations
of a valid certificate (one thing broken) are each refused with a located problem.
"""

from __future__ import annotations

import os
import re

import pytest
from lxml import etree

from adapters.bootstrap import load_formats
from gateway.message_types import MessageTypeRegistry
from gateway.settings import PROJECT_HOME, Settings
from gateway.xml.safe_parser import XmlLimits, parse_untrusted
from samples.sps import RAM, RSM, UDT, build_sps_certificate

SETTINGS = Settings()
FIXTURE = PROJECT_HOME / "tests" / "fixtures" / "sps" / "ephyto-apples-full.xml"
REFERENCE = PROJECT_HOME.parent / "shared" / "reference" / "sps" / "SPSCertificate-paths.txt"
SPS_SCHEMAS = PROJECT_HOME / "schemas" / "sps"


@pytest.fixture(scope="module")
def registry() -> MessageTypeRegistry:
    return load_formats(SETTINGS)[0]


def problems(registry: MessageTypeRegistry, body: bytes) -> list:  # type: ignore[type-arg]
    root = parse_untrusted(body, XmlLimits()).getroot()
    found = registry.identify(root)
    assert found.message_type.id == "sps-certificate-17"
    return registry.validate(found.message_type, root, body)


def reference_paths() -> list[tuple[str, list[str]]]:
    """(path, attributes) of every line of the reference file."""
    if not REFERENCE.is_file():
        why = f"the reference {REFERENCE} is missing (lay shared/reference beside the project)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(why)
        pytest.skip(why)
    out = []
    for line in REFERENCE.read_text(encoding="utf-8").splitlines():
        if line.startswith("/"):
            parts = line.split()
            out.append((parts[0], [p[1:] for p in parts if p.startswith("@")]))
    return out


def local_paths(root: etree._Element) -> set[str]:
    return {"/" + "/".join(etree.QName(a).localname
                           for a in reversed([e, *e.iterancestors()]))
            for e in root.iter(etree.Element)}


def test_sps_fixture_covers_every_reference_path_and_attribute() -> None:
    """Every path and attribute of the real certificate's reference list is in the fixture."""
    root = etree.parse(str(FIXTURE)).getroot()
    paths = local_paths(root)
    attributes = {("/" + "/".join(etree.QName(a).localname
                                  for a in reversed([e, *e.iterancestors()])), name)
                  for e in root.iter(etree.Element) for name in e.attrib}
    listed = reference_paths()
    assert len(listed) > 100
    assert [p for p, _ in listed if p not in paths] == []
    assert [(p, a) for p, names in listed for a in names if (p, a) not in attributes] == []


def test_sps_schema_namespaces_are_the_ones_real_certificates_use() -> None:
    """rsm, ram and udt are the namespaces the reference certificate names; qdt is declared."""
    head = REFERENCE.read_text(encoding="utf-8").splitlines()[0] if REFERENCE.is_file() else ""
    if not head:
        reference_paths()                                  # fails under CI, skips elsewhere
    for namespace in (RSM, RAM, UDT):
        assert namespace in head
    targets = {etree.parse(str(path)).getroot().get("targetNamespace")
               for path in SPS_SCHEMAS.glob("*.xsd")}
    assert targets == {RSM, RAM, UDT, "urn:un:unece:uncefact:data:standard:QualifiedDataType:21"}


def test_sps_schemas_accept_no_unknown_content() -> None:
    """No xs:any or xs:anyAttribute anywhere: only named elements and attributes pass."""
    for path in [*SPS_SCHEMAS.glob("*.xsd"), PROJECT_HOME / "schemas/licence/licence-1.xsd"]:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"<xsd?:any(Attribute)?\b", text), path.name


def test_sps_real_shaped_certificate_with_every_optional_part_is_valid(
        registry: MessageTypeRegistry) -> None:
    """The fixture (all optional parts of the reference, repeats, attributes) is valid."""
    assert problems(registry, FIXTURE.read_bytes()) == []


def test_sps_certificate_with_500_kb_attachment_is_valid_within_the_limits(
        registry: MessageTypeRegistry) -> None:
    """A certificate embedding a 500,000-byte report (base64 in 76-character lines, ~680 KB
    in all) passes the hardened parser's default limits and the schema."""
    body = build_sps_certificate(attachment_bytes=500_000)
    assert 650_000 < len(body) < XmlLimits().max_bytes
    assert problems(registry, body) == []


def test_sps_certificate_variants_from_the_builder_are_valid(
        registry: MessageTypeRegistry) -> None:
    """Other types, a withdrawal, several lines and no status code are all valid."""
    for body in (build_sps_certificate(type_code="636", lines=3),
                 build_sps_certificate(status_code="40"), build_sps_certificate(status_code=None),
                 build_sps_certificate(lines=5, unit="TNE")):
        assert problems(registry, body) == []


def _mutate(find: str, replace: str) -> bytes:
    text = FIXTURE.read_text(encoding="utf-8")
    assert text.count(find) >= 1, find
    return text.replace(find, replace, 1).encode("utf-8")


MUTATIONS = [
    pytest.param("<ram:ID>RS-PC-2026-004711</ram:ID>", "", "GW-XSD-CONTENT",
                 "/SPSCertificate/SPSExchangedDocument/TypeCode",
                 id="certificate-number-missing"),
    pytest.param("<ram:Name>Phytosanitary Certificate</ram:Name>",
                 "<ram:Name>Phytosanitary Certificate</ram:Name><ram:Colour>red</ram:Colour>",
                 "GW-XSD-CONTENT", "/SPSCertificate/SPSExchangedDocument/Colour",
                 id="unknown-element"),
    pytest.param("<ram:TransitSPSCountry>\n      <ram:ID>RS</ram:ID>",
                 "<ram:TransitSPSCountry>\n      <ram:ID>Serbia</ram:ID>", "GW-XSD-PATTERN",
                 "/SPSCertificate/SPSConsignment/TransitSPSCountry/ID", id="country-not-iso"),
    pytest.param('<ram:NetWeightMeasure unitCode="KGM">18000</ram:NetWeightMeasure>',
                 '<ram:NetWeightMeasure unitCode="KGM">eighteen</ram:NetWeightMeasure>',
                 "GW-XSD-DATATYPE", None, id="weight-not-a-number"),
    pytest.param('<ram:NetWeightMeasure unitCode="KGM">', '<ram:NetWeightMeasure unitCode="KG M">',
                 "GW-XSD-PATTERN", None, id="unit-code-malformed"),
    pytest.param('<ram:NetWeightMeasure unitCode="KGM">',
                 '<ram:NetWeightMeasure unitCode="KGM" colour="red">', "GW-XSD-ATTRIBUTE", None,
                 id="unknown-attribute"),
    pytest.param('filename="lab-report-0912.pdf">JVBERi0', 'filename="lab-report-0912.pdf">!!!!',
                 "GW-XSD-DATATYPE", None, id="attachment-not-base64"),
    pytest.param("<ram:SequenceNumeric>2</ram:SequenceNumeric>", "", "GW-XSD-CONTENT", None,
                 id="trade-line-without-sequence"),
]


@pytest.mark.parametrize(("find", "replace", "code", "pointer"), MUTATIONS)
def test_sps_mutated_certificate_is_refused_with_a_located_problem(
        registry: MessageTypeRegistry, find: str, replace: str, code: str,
        pointer: str | None) -> None:
    """One broken part of a valid certificate is refused, with its code, pointer and line."""
    found = problems(registry, _mutate(find, replace))
    assert found, "the mutation must be refused"
    assert found[0].code == code and found[0].line
    if pointer is not None:
        assert found[0].pointer == pointer


def test_sps_elements_out_of_order_are_refused(registry: MessageTypeRegistry) -> None:
    """The consignee before the consignor breaks the certificate's order: refused."""
    text = FIXTURE.read_text(encoding="utf-8")
    consignor = re.search(r"<ram:ConsignorSPSParty>.*?</ram:ConsignorSPSParty>", text, re.S)
    consignee = re.search(r"<ram:ConsigneeSPSParty>.*?</ram:ConsigneeSPSParty>", text, re.S)
    assert consignor and consignee
    swapped = (text[:consignor.start()] + consignee.group(0) + "\n    " + consignor.group(0)
               + text[consignee.end():])
    found = problems(registry, swapped.encode("utf-8"))
    assert [p.code for p in found] == ["GW-XSD-CONTENT"]
    assert found[0].pointer == "/SPSCertificate/SPSConsignment/ConsignorSPSParty"


def test_sps_element_of_another_namespace_is_refused(registry: MessageTypeRegistry) -> None:
    """An element in a foreign namespace (no xs:any to let it through) is refused."""
    body = _mutate("<ram:CommonName>Apple</ram:CommonName>",
                   '<ram:CommonName>Apple</ram:CommonName><x:Extra xmlns:x="urn:x">1</x:Extra>')
    found = problems(registry, body)
    assert found and found[0].code == "GW-XSD-CONTENT"
    assert found[0].pointer.endswith("IncludedSPSTradeLineItem[1]/Extra")
