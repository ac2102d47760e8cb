"""WCO DM 3.6 schemas (MetaData wrapper, generated DEC Declaration, our RES Response).

The schemas are compiled with lxml exactly as the gateway does (hardened parser), then fed
the fixtures in tests/fixtures/wco, documents from samples.wco and small
hand-made variations that probe facets taken from the WCO DEC tree.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # allow a bare `pytest` run without an installed package
    sys.path.insert(0, str(ROOT))

from samples.wco import build_dec, iso6346_check_digit  # noqa: E402

SCHEMAS = ROOT / "schemas" / "wco"
METADATA_XSD = SCHEMAS / "dec-3.6" / "WCO_DocumentMetaData_DMS_2.xsd"
DEC_XSD = SCHEMAS / "dec-3.6" / "WCO_DEC_DMS_2.xsd"
DS_XSD = SCHEMAS / "dec-3.6" / "WCO_Declaration_DS_DMS_2.xsd"
RES_XSD = SCHEMAS / "res-3.6" / "WCO_RES_DMS_2.xsd"
RES_DS_XSD = SCHEMAS / "res-3.6" / "WCO_Response_DS_DMS_2.xsd"
FIXTURES = ROOT / "tests" / "fixtures" / "wco"
# The reference tree lives in shared/ beside the repository (developers' machines and CI).
TREE = ROOT.parent / "shared" / "reference" / "wco" / "WCO_DEC_2_DMS_tree_typed.txt"

MD_NS = "urn:wco:datamodel:WCO:DocumentMetaData-DMS:2"
DEC_NS = "urn:wco:datamodel:WCO:DEC-DMS:2"
DS_NS = "urn:wco:datamodel:WCO:Declaration_DS:DMS:2"
RES_NS = "urn:wco:datamodel:WCO:RES-DMS:2"

VALID_FIXTURES = [
    "dec_valid_3_items.xml",
    "dec_valid_minimal.xml",
    "dec_item_count_mismatch.xml",
    "res_sample.xml",
]


def _parser() -> etree.XMLParser:
    return etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)


def _compile(path: Path) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(path), _parser()))


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    return _compile(METADATA_XSD)


def _errors(schema: etree.XMLSchema, document: bytes) -> list[str]:
    ok = schema.validate(etree.fromstring(document, _parser()))
    messages = [e.message for e in schema.error_log]
    assert ok == (not messages)
    return messages


def _dec(body: str) -> bytes:
    """A MetaData+Declaration document whose Declaration content is ``body``."""
    return (
        f'<md:MetaData xmlns:md="{MD_NS}"><Declaration xmlns="{DEC_NS}">{body}'
        "</Declaration></md:MetaData>"
    ).encode()


def _res(function_code: str, extra: str = "") -> bytes:
    """A MetaData+Response document with the given FunctionCode and content after it."""
    return (
        f'<md:MetaData xmlns:md="{MD_NS}"><Response xmlns="{RES_NS}">'
        f"<FunctionCode>{function_code}</FunctionCode>{extra}"
        "<Declaration><ID>26MK001005000042R2</ID></Declaration></Response></md:MetaData>"
    ).encode()


def test_schemas_compile_each_on_its_own():
    """The DEC, its data-set, RES and MetaData schemas each compile with lxml from their file."""
    for path in (DEC_XSD, DS_XSD, RES_XSD, RES_DS_XSD, METADATA_XSD):
        assert isinstance(_compile(path), etree.XMLSchema), path


def test_schema_imports_point_to_local_relative_files():
    """Every xs:import/xs:include uses a relative schemaLocation that exists in the repo."""
    xs = "{http://www.w3.org/2001/XMLSchema}"
    for path in (DEC_XSD, DS_XSD, RES_XSD, RES_DS_XSD, METADATA_XSD):
        tree = etree.parse(str(path), _parser())
        for node in tree.iter(f"{xs}import", f"{xs}include"):
            location = node.get("schemaLocation")
            assert location and "://" not in location and not location.startswith("/")
            assert (path.parent / location).resolve().is_file(), location


@pytest.mark.parametrize("path", [DEC_XSD, DS_XSD], ids=lambda p: p.name)
def test_dec_schema_header_says_generated(path):
    """The DEC schema and its data-set schema say they are generated and not to be edited."""
    head = path.read_text(encoding="utf-8")[:1500]
    assert "tools/wco_xsd.py" in head and "DO NOT EDIT BY HAND" in head


def test_dec_schema_generator_output_is_up_to_date(tmp_path):
    """Rerunning tools/wco_xsd.py on the reference tree reproduces both committed XSDs."""
    if not TREE.is_file():
        pytest.skip(f"reference tree not found at {TREE}")
    subprocess.run(
        [sys.executable, str(ROOT / "tools" / "wco_xsd.py"), str(TREE), "--out-dir",
         str(tmp_path)],
        check=True, capture_output=True,
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([DEC_XSD.name, DS_XSD.name])
    assert (tmp_path / DEC_XSD.name).read_bytes() == DEC_XSD.read_bytes()
    assert (tmp_path / DS_XSD.name).read_bytes() == DS_XSD.read_bytes()


def test_dec_schema_covers_every_tree_path():
    """Every element path of the reference tree is declared, with its occurrences."""
    if not TREE.is_file():
        pytest.skip(f"reference tree not found at {TREE}")
    xs = "{http://www.w3.org/2001/XMLSchema}"
    tree = etree.parse(str(DEC_XSD), _parser())
    types = {t.get("name"): t for t in tree.iter(f"{xs}complexType")}
    declared: dict[str, tuple[str, str]] = {"/Declaration": ("1", "1")}

    def walk(type_name: str, path: str) -> None:
        for el in types[type_name].iter(f"{xs}element"):
            # data-set leaves are references (ref="ds:DateTimeString") to the imported schema
            name = el.get("name") or el.get("ref").split(":")[1]
            child = f"{path}/{name}"
            declared[child] = (el.get("minOccurs", "1"), el.get("maxOccurs", "1"))
            if el.get("type") is None:
                continue
            sub = el.get("type").split(":")[1]
            if sub in types and types[sub].find(f"{xs}sequence") is not None:
                walk(sub, child)

    walk("DeclarationType", "/Declaration")
    expected = {}
    for line in TREE.read_text(encoding="utf-8").splitlines():
        m = re.match(r"(/\S+) \[(\d+)\.\.(\d+|n)\]", line)
        if m:
            expected[m[1]] = (m[2], "unbounded" if m[3] == "n" else m[3])
    assert declared == expected


def _leaf_facets() -> dict[str, set[tuple[str, str]]]:
    """Per leaf path of the DEC schema (data-set leaves included): its facets, as declared."""
    xs = "{http://www.w3.org/2001/XMLSchema}"
    docs = {"dec": etree.parse(str(DEC_XSD), _parser()), "ds": etree.parse(str(DS_XSD), _parser())}
    complex_types = {(p, t.get("name")): t for p, d in docs.items()
                     for t in d.iter(f"{xs}complexType")}
    simple_types = {(p, t.get("name")): t for p, d in docs.items()
                    for t in d.iter(f"{xs}simpleType")}
    globals_ = {("ds", e.get("name")): e.get("type")
                for e in docs["ds"].getroot().findall(f"{xs}element")}
    found: dict[str, set[tuple[str, str]]] = {}

    def facets(qname: str) -> set[tuple[str, str]]:
        prefix, name = qname.split(":")
        if (prefix, name) in complex_types:          # simple content + attributes
            qname = complex_types[(prefix, name)].find(f".//{xs}extension").get("base")
            prefix, name = qname.split(":")
        restriction = simple_types[(prefix, name)].find(f"{xs}restriction")
        return {(etree.QName(f).localname, f.get("value")) for f in restriction}

    def walk(type_name: str, path: str) -> None:
        for el in complex_types[("dec", type_name)].find(f"{xs}sequence"):
            ref = el.get("ref")
            name, qname = (ref.split(":")[1], globals_[tuple(ref.split(":"))]) if ref \
                else (el.get("name"), el.get("type"))
            prefix, local = qname.split(":")
            sequence = complex_types.get((prefix, local))
            if sequence is not None and sequence.find(f"{xs}sequence") is not None:
                walk(local, f"{path}/{name}")
            else:
                found[f"{path}/{name}"] = facets(qname)

    walk("DeclarationType", "/Declaration")
    return found


def test_dec_schema_facets_are_exactly_those_of_the_tree():
    """No leaf is stricter (or looser) than the tree: the same lengths, patterns, enumerations
    and digits on every leaf, whiteSpace left to the base type."""
    if not TREE.is_file():
        pytest.skip(f"reference tree not found at {TREE}")
    expected: dict[str, set[tuple[str, str]]] = {}
    for line in TREE.read_text(encoding="utf-8").splitlines():
        m = re.match(r"(/\S+) \[\d+\.\.(?:\d+|n)\] <\S+(.*?)(?:\s+@.*)?$", line)
        if m:
            pairs = re.findall(r"(\w+)=(\S+)", m[2])
            expected[m[1]] = {(k, v) for k, vs in pairs if k != "whiteSpace"
                              for v in (vs.split(",") if k == "enumeration" else [vs])}
    assert _leaf_facets() == expected


@pytest.mark.parametrize("name", VALID_FIXTURES)
def test_valid_fixture_validates(schema, name):
    """Each valid fixture in tests/fixtures/wco passes the MetaData schema."""
    assert _errors(schema, (FIXTURES / name).read_bytes()) == []


@pytest.mark.parametrize("items", [1, 3, 999])
def test_build_dec_output_validates(schema, items):
    """build_dec() yields schema-valid declarations from 1 up to the 999-item maximum."""
    assert _errors(schema, build_dec(items)) == []


@pytest.mark.parametrize("seed", range(8))
def test_build_dec_every_seed_validates(schema, seed):
    """Every goods mix picked by the seed (all catalogue entries) stays valid."""
    assert _errors(schema, build_dec(8, f"LRN-SEED-{seed}", seed=seed)) == []


def test_build_dec_1000_items_rejected(schema):
    """GovernmentAgencyGoodsItem is limited to 999: a 1000-item declaration is rejected."""
    errors = _errors(schema, build_dec(1000))
    assert len(errors) == 1 and "GovernmentAgencyGoodsItem" in errors[0]


def test_build_dec_3_items_is_about_10_kb():
    """The benchmark's 3-item document is roughly 10 KB."""
    assert 8_000 <= len(build_dec(3)) <= 12_000


def test_build_dec_arguments_reach_the_document():
    """LRN, office, type code, declared count and HS codes appear where the model puts them."""
    doc = etree.fromstring(
        build_dec(4, "LRN-ARGS-1", office="MK002001", type_code="IMZ",
                  declared_item_count=7, hs_codes=["84713000", "61091000"]),
        _parser(),
    )
    ns = {"d": DEC_NS}
    decl = doc.find("d:Declaration", ns)
    assert decl.findtext("d:FunctionCode", namespaces=ns) == "9"
    assert decl.findtext("d:FunctionalReferenceID", namespaces=ns) == "LRN-ARGS-1"
    assert decl.findtext("d:TypeCode", namespaces=ns) == "IMZ"
    assert decl.findtext("d:DeclarationOfficeID", namespaces=ns) == "MK002001"
    assert decl.findtext("d:GoodsItemQuantity", namespaces=ns) == "7"
    items = decl.findall("d:GoodsShipment/d:GovernmentAgencyGoodsItem", ns)
    assert [i.findtext("d:SequenceNumeric", namespaces=ns) for i in items] == ["1", "2", "3", "4"]
    codes = [i.findtext("d:Commodity/d:Classification/d:ID", namespaces=ns) for i in items]
    assert codes == ["84713000", "61091000", "84713000", "61091000"]


def test_build_dec_is_deterministic():
    """The same arguments give the same bytes; another seed gives another document."""
    assert build_dec(3, seed=5) == build_dec(3, seed=5)
    assert build_dec(3, seed=5) != build_dec(3, seed=6)


def test_item_count_mismatch_fixture_disagrees_with_its_items():
    """The mismatch fixture declares a GoodsItemQuantity different from its item count."""
    doc = etree.parse(str(FIXTURES / "dec_item_count_mismatch.xml"), _parser())
    ns = {"d": DEC_NS}
    declared = int(doc.findtext("d:Declaration/d:GoodsItemQuantity", namespaces=ns))
    items = doc.findall("d:Declaration/d:GoodsShipment/d:GovernmentAgencyGoodsItem", ns)
    assert declared != len(items)


def test_many_errors_fixture_reports_at_least_six_errors(schema):
    """The many-errors fixture is invalid with at least six errors on distinct lines."""
    doc = etree.parse(str(FIXTURES / "dec_invalid_many_errors.xml"), _parser())
    assert not schema.validate(doc)
    errors = list(schema.error_log)
    assert len(errors) >= 6
    assert len({e.line for e in errors}) >= 6
    text = " ".join(e.message for e in errors)
    for facet in ("enumeration", "length", "maxLength", "fractionDigits", "not expected"):
        assert facet in text


@pytest.mark.parametrize("code,valid", [("9", True), ("13", True), ("14", True),
                                        (" 9 ", True), ("10", False), ("09", False),
                                        ("", False)])
def test_function_code_enumeration_enforced(schema, code, valid):
    """Declaration/FunctionCode accepts only 9, 13 and 14 (token: spaces collapse)."""
    errors = _errors(schema, _dec(f"<FunctionCode>{code}</FunctionCode>"))
    assert (errors == []) is valid, errors


@pytest.mark.parametrize("value,valid", [
    ("20261128", True), ("20261128101500Z", True), ("20261128101500+01", True),
    ("20261128101500-05", True), ("2026-11-28", False), ("19991231", False),
    ("20261128101500+1", False), ("202611281015", False), (" 20261128", False),
])
def test_datetime_string_pattern_enforced(schema, value, valid):
    """DateTimeString must be 20YYMMDD optionally followed by hhmmss and Z or +hh/-hh."""
    body = (f'<FunctionCode>9</FunctionCode><IssueDateTime xmlns:ds="{DS_NS}">'
            f'<ds:DateTimeString formatCode="304">{value}</ds:DateTimeString></IssueDateTime>')
    assert (_errors(schema, _dec(body)) == []) is valid


# every date-time wrapper of the tree, as a Declaration fragment with {dts} for its leaf
DATE_TIME_WRAPPERS = {
    "AcceptanceDateTime": "<AcceptanceDateTime>{dts}</AcceptanceDateTime>"
                          "<FunctionCode>9</FunctionCode>",
    "IssueDateTime": "<FunctionCode>9</FunctionCode><IssueDateTime>{dts}</IssueDateTime>",
    "Invoice/IssueDateTime": "<FunctionCode>9</FunctionCode><GoodsShipment><Invoice>"
                             "<IssueDateTime>{dts}</IssueDateTime></Invoice></GoodsShipment>",
}


@pytest.mark.parametrize("wrapper", sorted(DATE_TIME_WRAPPERS))
@pytest.mark.parametrize("prefix", ["ds", "p1"])
def test_datetime_string_in_data_set_namespace_accepted(schema, wrapper, prefix):
    """DateTimeString in the data-set namespace validates under DEC-DMS parents, any prefix."""
    leaf = (f'<{prefix}:DateTimeString xmlns:{prefix}="{DS_NS}" formatCode="304">'
            f"20250404141856+01</{prefix}:DateTimeString>")
    assert _errors(schema, _dec(DATE_TIME_WRAPPERS[wrapper].format(dts=leaf))) == []


@pytest.mark.parametrize("wrapper", sorted(DATE_TIME_WRAPPERS))
def test_datetime_string_in_dec_namespace_refused(schema, wrapper):
    """A DateTimeString in the DEC-DMS namespace (where the format does not put it) is refused."""
    leaf = '<DateTimeString formatCode="304">20250404141856+01</DateTimeString>'
    errors = _errors(schema, _dec(DATE_TIME_WRAPPERS[wrapper].format(dts=leaf)))
    assert len(errors) == 1 and "not expected" in errors[0] and DS_NS in errors[0]


def test_data_set_schema_declares_only_the_data_set_leaves():
    """The data-set schema declares DateTimeString (pattern, an..35, @formatCode) and no more."""
    xs = "{http://www.w3.org/2001/XMLSchema}"
    tree = etree.parse(str(DS_XSD), _parser())
    assert tree.getroot().get("targetNamespace") == DS_NS
    assert [e.get("name") for e in tree.getroot().findall(f"{xs}element")] == ["DateTimeString"]
    facets = {f.tag.removeprefix(xs): f.get("value") for f in tree.iter(f"{xs}maxLength",
                                                                       f"{xs}pattern")}
    assert facets == {"maxLength": "35", "pattern": r"(20\d{6})(\d{6}(Z|[-+]\d\d))?"}
    assert [a.get("name") for a in tree.iter(f"{xs}attribute")] == ["formatCode"]


@pytest.mark.parametrize("value,valid", [("DE", True), ("mk", True), ("DEU", False),
                                         ("D", False), ("D1", False)])
def test_country_code_two_letters_enforced(schema, value, valid):
    """Address/CountryCode must be exactly two letters."""
    body = (f"<FunctionCode>9</FunctionCode><Exporter><Address>"
            f"<CountryCode>{value}</CountryCode></Address></Exporter>")
    assert (_errors(schema, _dec(body)) == []) is valid


@pytest.mark.parametrize("body,valid", [
    ("<TransactionNatureCode>11</TransactionNatureCode>", True),
    ("<TransactionNatureCode>1A</TransactionNatureCode>", False),
    ("<TransactionNatureCode>111</TransactionNatureCode>", False),
    ("<Consignment><ContainerCode>1</ContainerCode></Consignment>", True),
    ("<Consignment><ContainerCode>2</ContainerCode></Consignment>", False),
    ("<GovernmentAgencyGoodsItem><SequenceNumeric>99999</SequenceNumeric>"
     "</GovernmentAgencyGoodsItem>", True),
    ("<GovernmentAgencyGoodsItem><SequenceNumeric>100000</SequenceNumeric>"
     "</GovernmentAgencyGoodsItem>", False),
    ("<GovernmentAgencyGoodsItem><SequenceNumeric>1.5</SequenceNumeric>"
     "</GovernmentAgencyGoodsItem>", False),
    ("<GovernmentAgencyGoodsItem><CustomsValueAmount currencyID=\"EUR\">10.5</CustomsValueAmount>"
     "</GovernmentAgencyGoodsItem>", False),  # SequenceNumeric is mandatory
    ("<Importer><Name>   </Name></Importer>", False),
    ("<Importer><Name>" + "x" * 70 + "</Name></Importer>", True),
    ("<Importer><Name>" + "x" * 71 + "</Name></Importer>", False),
])
def test_goods_shipment_facets_enforced(schema, body, valid):
    """Numeric codes, the ContainerCode list, sequence numbers and text limits are enforced."""
    doc = _dec(f"<FunctionCode>9</FunctionCode><GoodsShipment>{body}</GoodsShipment>")
    assert (_errors(schema, doc) == []) is valid


def test_consignment_item_limited_to_999(schema):
    """Consignment/ConsignmentItem allows 999 occurrences but not 1000."""
    def doc(n: int) -> bytes:
        items = "".join(f"<ConsignmentItem><SequenceNumeric>{i}</SequenceNumeric>"
                        "</ConsignmentItem>" for i in range(1, n + 1))
        return _dec(f"<FunctionCode>9</FunctionCode><Consignment>{items}</Consignment>")

    assert _errors(schema, doc(999)) == []
    assert len(_errors(schema, doc(1000))) == 1


def test_metadata_accepts_id_and_trailing_signature(schema):
    """MetaData takes an Id attribute and an unvalidated ds:Signature after the Declaration."""
    doc = (
        f'<md:MetaData xmlns:md="{MD_NS}" Id="doc-1"><Declaration xmlns="{DEC_NS}">'
        "<FunctionCode>9</FunctionCode></Declaration>"
        '<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:Anything/>'
        "</ds:Signature></md:MetaData>"
    ).encode()
    assert _errors(schema, doc) == []


@pytest.mark.parametrize("tail", [
    f'<Response xmlns="{RES_NS}"><FunctionCode>01</FunctionCode><Declaration/></Response>',
    '<x:Other xmlns:x="urn:example:other"/>',
    '<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"/>'
    '<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"/>',
])
def test_metadata_rejects_extra_content(schema, tail):
    """After the Declaration only one ds:Signature may follow: no Response, no foreign element."""
    doc = (
        f'<md:MetaData xmlns:md="{MD_NS}"><Declaration xmlns="{DEC_NS}">'
        f"<FunctionCode>9</FunctionCode></Declaration>{tail}</md:MetaData>"
    ).encode()
    assert _errors(schema, doc) != []


def test_metadata_requires_declaration_or_response(schema):
    """A MetaData with only metadata items and no Declaration or Response is rejected."""
    doc = (f'<md:MetaData xmlns:md="{MD_NS}"><md:WCOTypeName>DEC</md:WCOTypeName>'
           "</md:MetaData>").encode()
    assert _errors(schema, doc) != []


@pytest.mark.parametrize("code", ["01", "02", "03", "05", "06", "07", "09", "10", "13", "16"])
def test_res_function_code_accepts_emitted_kinds(schema, code):
    """Response/FunctionCode accepts every notification kind the gateway emits."""
    assert _errors(schema, _res(code)) == []


@pytest.mark.parametrize("code", ["1", "04", "9", "17", "ACC"])
def test_res_function_code_rejects_other_values(schema, code):
    """Response/FunctionCode rejects one-digit forms and kinds the gateway does not emit."""
    assert _errors(schema, _res(code)) != []


def test_res_rejection_with_error_pointers_validates(schema):
    """A rejection (03) with an Error and its Pointer path to an item's net mass is valid."""
    pointers = "".join(
        f"<Pointer><SequenceNumeric>{seq}</SequenceNumeric>"
        f"<DocumentSectionCode>{section}</DocumentSectionCode>{tag}</Pointer>"
        for seq, section, tag in [("1", "42A", ""), ("1", "67A", ""), ("1", "68A", ""),
                                  ("1", "23A", ""), ("1", "65A", "<TagID>128</TagID>")]
    )
    error = (f"<Error><Description>Net mass exceeds gross mass</Description>"
             f"<ValidationCode>CDS12050</ValidationCode>{pointers}</Error>")
    assert _errors(schema, _res("03", error)) == []


def test_res_datetime_string_only_in_the_res_data_set_namespace(schema):
    """A RES DateTimeString validates in Response_DS and is refused in RES-DMS."""
    res_ds = "urn:wco:datamodel:WCO:Response_DS:DMS:2"
    leaf = '<x:DateTimeString xmlns:x="{ns}" formatCode="304">20261128101502Z</x:DateTimeString>'
    for ns, valid in ((res_ds, True), (RES_NS, False), (DS_NS, False)):
        extra = f"<IssueDateTime>{leaf.format(ns=ns)}</IssueDateTime>"
        assert (_errors(schema, _res("01", extra)) == []) is valid, ns


def test_res_declaration_is_mandatory(schema):
    """A Response without its Declaration (LRN/MRN) is rejected."""
    doc = (f'<md:MetaData xmlns:md="{MD_NS}"><Response xmlns="{RES_NS}">'
           "<FunctionCode>01</FunctionCode></Response></md:MetaData>").encode()
    assert _errors(schema, doc) != []


def test_res_sample_mrn_has_valid_check_digit():
    """The MRN in the RES sample is 18 characters with a correct ISO 6346 check digit."""
    doc = etree.parse(str(FIXTURES / "res_sample.xml"), _parser())
    mrn = doc.findtext(f"{{{RES_NS}}}Response/{{{RES_NS}}}Declaration/{{{RES_NS}}}ID")
    assert len(mrn) == 18 and iso6346_check_digit(mrn[:17]) == mrn[17]


def _metadata(items: str) -> bytes:
    """A MetaData document with the given metadata items before a minimal Declaration."""
    return (f'<md:MetaData xmlns:md="{MD_NS}">{items}<Declaration xmlns="{DEC_NS}">'
            "<FunctionCode>9</FunctionCode></Declaration></md:MetaData>").encode()


@pytest.mark.parametrize("value", ["1", "v2.1", "v2.1\n\t", "v2.1 ", "2024.11-national"])
def test_metadata_customization_version_accepts_real_values(schema, value):
    """AgencyAssignedCustomizationVersionCode takes what real declarations send (v2.1)."""
    item = ("<md:AgencyAssignedCustomizationVersionCode>"
            f"{value}</md:AgencyAssignedCustomizationVersionCode>")
    assert _errors(schema, _metadata(item)) == []


@pytest.mark.parametrize("item", [
    "<md:WCODataModelVersionCode>3.6.0.1</md:WCODataModelVersionCode>",     # an..6
    "<md:WCODataModelVersionCode> </md:WCODataModelVersionCode>",
    "<md:WCOTypeName>" + "D" * 36 + "</md:WCOTypeName>",                    # an..35
    "<md:ResponsibleCountryCode>GBR</md:ResponsibleCountryCode>",           # a2
    "<md:ResponsibleCountryCode>G1</md:ResponsibleCountryCode>",
    "<md:ResponsibleAgencyName>" + "H" * 71 + "</md:ResponsibleAgencyName>",  # an..70
    "<md:AgencyAssignedCustomizationCode>ABCDEFG</md:AgencyAssignedCustomizationCode>",
])
def test_metadata_other_items_keep_their_facets(schema, item):
    """The other metadata items keep their sizes: a longer or malformed value is refused."""
    assert _errors(schema, _metadata(item)) != []


# --- the generator itself (tools/wco_xsd.py) on small trees ---------------------------------

def _generator():  # type: ignore[no-untyped-def]
    """tools/wco_xsd.py as a module (tools/ is not a package)."""
    import importlib.util

    if "wco_xsd" not in sys.modules:
        spec = importlib.util.spec_from_file_location("wco_xsd", ROOT / "tools" / "wco_xsd.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["wco_xsd"] = module        # dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules["wco_xsd"]


DTS_FACETS = (r"maxLength=35 pattern=(20\d{6})(\d{6}(Z|[-+]\d\d))? whiteSpace=preserve"
              "  @formatCode")
SMALL_TREE = f"""\
/Declaration [1..1]
/Declaration/AcceptanceDateTime [0..1]
/Declaration/AcceptanceDateTime/DateTimeString [1..1] <DateTimeType<string> {DTS_FACETS}
/Declaration/Name [0..1] <TextType<string> maxLength=5  @languageID
/Declaration/Invoice [0..3]
/Declaration/Invoice/IssueDateTime [0..1]
/Declaration/Invoice/IssueDateTime/DateTimeString [1..1] <DateTimeType<string> {DTS_FACETS}
"""


def test_generator_puts_data_set_leaves_in_an_imported_schema(tmp_path):
    """DateTimeString becomes one global element of the data-set schema, referenced by DEC."""
    gen = _generator()
    files = gen.generate(SMALL_TREE, "small.txt")
    assert sorted(files) == sorted([gen.DEC_FILE, gen.DATA_SET_FILE])
    dec, data_set = files[gen.DEC_FILE], files[gen.DATA_SET_FILE]
    assert dec.count('<xs:element ref="ds:DateTimeString"/>') == 1     # one shared wrapper type
    assert f'<xs:import namespace="{DS_NS}" schemaLocation="{gen.DATA_SET_FILE}"/>' in dec
    assert 'name="DateTimeString"' not in dec
    assert f'targetNamespace="{DS_NS}"' in data_set
    assert '<xs:element name="DateTimeString" type="ds:DateTimeStringType"/>' in data_set
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    small = _compile(tmp_path / gen.DEC_FILE)

    def valid(leaf_ns: str, value: str = "20250404") -> bool:
        doc = (f'<Declaration xmlns="{DEC_NS}" xmlns:x="{leaf_ns}"><AcceptanceDateTime>'
               f"<x:DateTimeString>{value}</x:DateTimeString></AcceptanceDateTime>"
               f"<Name>ab</Name><Invoice><IssueDateTime><x:DateTimeString>{value}"
               "</x:DateTimeString></IssueDateTime></Invoice></Declaration>")
        return small.validate(etree.fromstring(doc.encode(), _parser()))

    assert valid(DS_NS)
    assert not valid(DEC_NS)
    assert not valid(DS_NS, "2025-04-04")          # the facets travel with the element


def test_generator_without_data_set_leaves_writes_only_the_dec_schema():
    """A tree without DateTimeString yields one schema that imports nothing."""
    gen = _generator()
    files = gen.generate("/Declaration [1..1]\n/Declaration/Name [0..1] <TextType<string> "
                         "maxLength=5\n", "tiny.txt")
    assert list(files) == [gen.DEC_FILE]
    assert "xs:import" not in files[gen.DEC_FILE]


def test_generator_refuses_data_set_leaf_with_two_different_types():
    """Two DateTimeString leaves with different facets cannot share one global element."""
    gen = _generator()
    tree = SMALL_TREE.replace("/Invoice/IssueDateTime/DateTimeString [1..1] <DateTimeType<string>"
                              " maxLength=35", "/Invoice/IssueDateTime/DateTimeString [1..1] "
                              "<DateTimeType<string> maxLength=17")
    with pytest.raises(SystemExit, match="DateTimeString"):
        gen.generate(tree, "bad.txt")
