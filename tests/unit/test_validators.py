"""The schema validators (gateway/xml/validators.py) and the registry's schema packs.

lxml validates our XSD 1.0 schemas, xmlschema the official DG TAXUD P5 pack (XSD 1.1); both
must give the same Problems (code, pointer, line, column, value) for the same broken message,
read only local files of their pack, and be chosen per message type by the registry.
"""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest
from ncts_support import fixture, official, official_pack, ours, parse

from gateway.errors import ConfigurationError
from gateway.message_types import MessageTypeRegistry
from gateway.problem_codes import problem_code
from gateway.settings import Settings
from gateway.xml.validators import PackOpener, compile_xsd11

SETTINGS = Settings()
CC015C = "cc015c_mk_rs.xml"

#: one broken value each: (replaced, replacement)
SINGLE_ERRORS = {
    "office reference of 7": (b"<referenceNumber>MK001005</referenceNumber>",
                              b"<referenceNumber>MK00100</referenceNumber>"),
    "GRN pattern": (b"<GRN>25MK0000000001235</GRN>", b"<GRN>25MK000000000123X</GRN>"),
    "flag 2": (b"<reducedDatasetIndicator>0</reducedDatasetIndicator>",
               b"<reducedDatasetIndicator>2</reducedDatasetIndicator>"),
    "name of 71": (b"<name>Vardar Logistika DOOEL</name>", b"<name>" + b"V" * 71 + b"</name>"),
    "phase NCTS9": (b'PhaseID="NCTS5.1"', b'PhaseID="NCTS9"'),
    "unknown attribute": (b'PhaseID="NCTS5.1"', b'PhaseID="NCTS5.1" foo="1"'),
    "missing messageType": (b"<messageType>CC015C</messageType>", b""),
    "unknown element": (b"<messageType>CC015C</messageType>",
                        b"<messageType>CC015C</messageType><bogus>1</bogus>"),
    "9 digits of packages": (b"<numberOfPackages>120</numberOfPackages>",
                             b"<numberOfPackages>123456789</numberOfPackages>"),
    "3 decimals of an amount": (b"<amountToBeCovered>12500.00</amountToBeCovered>",
                                b"<amountToBeCovered>12500.001</amountToBeCovered>"),
    "leading space": (b"<city>Skopje</city>", b"<city> Skopje</city>"),
    "30 February": (b"<limitDate>2025-03-21</limitDate>", b"<limitDate>2025-02-30</limitDate>"),
}


def _shape(problems) -> list[tuple]:  # type: ignore[no-untyped-def, type-arg]
    return sorted((p.code, p.pointer, p.line, p.column, p.value) for p in problems)


@pytest.mark.parametrize("name", sorted(SINGLE_ERRORS))
def test_both_validators_give_the_same_problems_for_one_broken_value(name: str) -> None:
    """lxml on our schema and xmlschema on the official pack report the same code, pointer,
    line, column and value for each single broken value of a CC015C."""
    old, new = SINGLE_ERRORS[name]
    body = fixture(CC015C).replace(old, new, 1)
    assert body != fixture(CC015C)
    mine = ours("CC015C").problems(parse(body), body)
    theirs = official("CC015C").problems(parse(body), body)
    assert mine and _shape(mine) == _shape(theirs)
    for problem in mine + theirs:
        assert problem_code(problem.code) is not None
        assert problem.pointer and problem.pointer.startswith("/CC015C")
        assert problem.line and problem.column and problem.message


def test_xmlschema_names_a_bad_decimal_by_its_pattern_as_well() -> None:
    """A mass 'abc': both say it is no decimal; xmlschema also reports the pattern it breaks."""
    body = fixture(CC015C).replace(b"<grossMass>2310.5</grossMass>\n    <Carrier>",
                                   b"<grossMass>abc</grossMass>\n    <Carrier>")
    mine = {p.code for p in ours("CC015C").problems(parse(body), body)}
    theirs = {p.code for p in official("CC015C").problems(parse(body), body)}
    assert mine == {"GW-XSD-DATATYPE"}
    assert theirs == {"GW-XSD-DATATYPE", "GW-XSD-PATTERN"}


def test_xmlschema_goes_on_after_a_content_error_where_libxml2_stops() -> None:
    """With a header element missing, libxml2 reports that one problem of the root's content;
    xmlschema reports it and the broken values further down as well."""
    body = (fixture(CC015C).replace(b"<messageType>CC015C</messageType>", b"")
            .replace(b"<GRN>25MK0000000001235</GRN>", b"<GRN>25MK000000000123X</GRN>"))
    mine = ours("CC015C").problems(parse(body), body)
    theirs = official("CC015C").problems(parse(body), body)
    assert [p.code for p in mine] == ["GW-XSD-CONTENT"]
    assert [p.code for p in theirs] == ["GW-XSD-CONTENT", "GW-XSD-PATTERN"]
    assert [p.line for p in theirs] == sorted(p.line for p in theirs)      # document order


def test_xmlschema_message_keeps_pattern_quantifiers_and_drops_namespaces() -> None:
    """The sentence quotes the pattern as written ({2}) and names no namespace URI."""
    old, new = SINGLE_ERRORS["office reference of 7"]
    body = fixture(CC015C).replace(old, new, 1)
    sentences = [p.message for p in official("CC015C").problems(parse(body), body)]
    assert any("[A-Z]{2}[A-Z0-9]{6}" in s for s in sentences)
    assert not any("ncts.dgtaxud.ec" in s for s in sentences)


# --- local files only ------------------------------------------------------------------


def _schema(folder: Path, name: str, include: str, element: str = "r") -> Path:
    path = folder / name
    path.write_text('<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">'
                    f'<xs:include schemaLocation="{include}"/>'
                    f'<xs:element name="{element}" type="xs:string"/></xs:schema>',
                    encoding="utf-8")
    return path


@pytest.mark.parametrize("include", ["/etc/hostname", "../outside.xsd",
                                     "http://schemas.example.invalid/other.xsd",
                                     "file://localhost/etc/hostname"])
def test_xsd11_pack_reads_no_file_outside_its_folder_and_no_url(tmp_path: Path,
                                                                include: str) -> None:
    """An include of a file outside the pack, or of a URL, stops the pack's compilation."""
    pack = tmp_path / "pack"
    pack.mkdir()
    (tmp_path / "outside.xsd").write_text(
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"/>', encoding="utf-8")
    with pytest.raises(ConfigurationError, match="cannot compile the XSD 1.1 pack"):
        compile_xsd11([_schema(pack, "a.xsd", include)], pack)


def test_xsd11_pack_includes_files_of_its_own_subfolders(tmp_path: Path) -> None:
    """A file in a subfolder of the pack may include one above it, inside the pack (as the
    official pack's include-files/custom_ctypes.xsd includes ../ctypes.xsd)."""
    pack = tmp_path / "pack"
    (pack / "include-files").mkdir(parents=True)
    (pack / "base.xsd").write_text('<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">'
                                   '<xs:simpleType name="T"><xs:restriction base="xs:token"/>'
                                   '</xs:simpleType></xs:schema>', encoding="utf-8")
    _schema(pack / "include-files", "mid.xsd", "../base.xsd", element="m")
    top = _schema(pack, "top.xsd", "include-files/mid.xsd")
    validator = compile_xsd11([top], pack)[top]
    assert validator.kind == "xsd11"
    assert validator.problems(parse(b"<r>x</r>"), b"<r>x</r>") == []


def test_pack_opener_refuses_other_schemes_and_files_elsewhere(tmp_path: Path) -> None:
    """The opener handed to xmlschema opens only file: URLs below its folders."""
    inside = tmp_path / "in.xsd"
    inside.write_text("<x/>", encoding="utf-8")
    opener = PackOpener(tmp_path)
    with opener.open(inside.as_uri()) as handle:
        assert handle.read() == b"<x/>"
    for url in ("http://example.invalid/x.xsd", "ftp://example.invalid/x.xsd",
                Path("/etc/hostname").as_uri(), f"file://{tmp_path}/../x.xsd"):
        with pytest.raises(urllib.error.URLError):
            opener.open(url)


# --- the registry's packs --------------------------------------------------------------


def _registry_file(tmp_path: Path, pack_table: str, pack: str = "ncts-official",
                   schema: str = "cc015c.xsd") -> Path:
    config = tmp_path / "message_types.toml"
    config.write_text(f"""{pack_table}
[[message_type]]
id = "ncts-p5-cc015c"
name = "CC015C by the official pack"
family = "ncts"
root = "{{http://ncts.dgtaxud.ec}}CC015C"
version = "NCTS5.1"
message_id_xpath = "messageIdentification"
schema = "{schema}"
schema_pack = "{pack}"
mapping = "ncts-p5-cc015c.toml"
canonical_kind = "movement_message"
routing_class = "movement"
""", encoding="utf-8")
    return config


OFFICIAL_PACK_TABLE = """
[[schema_pack]]
name = "ncts-official"
directory_env = "GATEWAY_NCTS_XSD_DIR"
validator = "xsd11"
"""


def test_registry_points_a_message_type_at_the_official_pack(tmp_path: Path) -> None:
    """With GATEWAY_NCTS_XSD_DIR set, an entry of schema_pack ncts-official is validated by
    xmlschema against the pack's file; the problems are located as ours are."""
    config = _registry_file(tmp_path, OFFICIAL_PACK_TABLE)
    registry = MessageTypeRegistry.load(config, SETTINGS.schemas_dir,
                                        {"GATEWAY_NCTS_XSD_DIR": str(official_pack())})
    entry = registry.get("ncts-p5-cc015c")
    assert registry.validator(entry).kind == "xsd11"
    body = fixture(CC015C)
    assert registry.validate(entry, parse(body), body) == []
    old, new = SINGLE_ERRORS["office reference of 7"]
    bad = body.replace(old, new, 1)
    assert {p.pointer for p in registry.validate(entry, parse(bad), bad)} == {
        "/CC015C/CustomsOfficeOfDeparture/referenceNumber"}


def test_registry_refuses_an_entry_of_a_pack_without_folder(tmp_path: Path) -> None:
    """An entry naming the official pack while GATEWAY_NCTS_XSD_DIR is unset stops start-up,
    saying which variable to set."""
    config = _registry_file(tmp_path, OFFICIAL_PACK_TABLE)
    with pytest.raises(ConfigurationError, match="set GATEWAY_NCTS_XSD_DIR"):
        MessageTypeRegistry.load(config, SETTINGS.schemas_dir, {})


def test_registry_refuses_a_pack_folder_that_does_not_exist(tmp_path: Path) -> None:
    """GATEWAY_NCTS_XSD_DIR naming no folder is refused at start-up."""
    config = _registry_file(tmp_path, OFFICIAL_PACK_TABLE)
    with pytest.raises(ConfigurationError, match="is not a folder"):
        MessageTypeRegistry.load(config, SETTINGS.schemas_dir,
                                 {"GATEWAY_NCTS_XSD_DIR": str(tmp_path / "missing")})


def test_registry_refuses_an_unknown_pack_or_validator(tmp_path: Path) -> None:
    """A pack name no table defines, or a validator other than xsd10/xsd11, stops start-up."""
    with pytest.raises(ConfigurationError, match="unknown schema pack 'elsewhere'"):
        MessageTypeRegistry.load(_registry_file(tmp_path, "", pack="elsewhere"),
                                 SETTINGS.schemas_dir, {})
    table = OFFICIAL_PACK_TABLE.replace('"xsd11"', '"relaxng"')
    with pytest.raises(ConfigurationError, match="unknown validator 'relaxng'"):
        MessageTypeRegistry.load(_registry_file(tmp_path, table), SETTINGS.schemas_dir, {})


def test_registry_entry_cannot_name_a_file_outside_its_pack(tmp_path: Path) -> None:
    """schema = "../…" out of the pack's folder is refused before anything is read."""
    config = _registry_file(tmp_path, OFFICIAL_PACK_TABLE, schema="../cc015c-valid.xml")
    with pytest.raises(ConfigurationError, match="outside its pack folder"):
        MessageTypeRegistry.load(config, SETTINGS.schemas_dir,
                                 {"GATEWAY_NCTS_XSD_DIR": str(official_pack())})


def test_shipped_registry_compiles_without_the_official_pack() -> None:
    """The repository's registry defines the ncts-official pack but no entry uses it: it
    loads with no GATEWAY_NCTS_XSD_DIR, every entry on an lxml validator."""
    registry = MessageTypeRegistry.load(SETTINGS.config_dir / "message_types.toml",
                                        SETTINGS.schemas_dir, {})
    assert {registry.validator(mt).kind for mt in registry} == {"xsd10"}


def test_settings_collect_the_schema_pack_folders_from_the_environment() -> None:
    """GATEWAY_<NAME>_XSD_DIR variables (and only those, non-empty) become Settings.xsd_dirs."""
    settings = Settings.from_env({"GATEWAY_NCTS_XSD_DIR": "/srv/ncts-p5",
                                  "GATEWAY_OTHER_XSD_DIR": "", "GATEWAY_XSD_DIR": "/x",
                                  "NCTS_XSD_DIR": "/y", "GATEWAY_INSTANCE_ID": "t1"})
    assert settings.xsd_dirs == (("GATEWAY_NCTS_XSD_DIR", "/srv/ncts-p5"),)


def test_one_lxml_validator_shared_by_threads_keeps_each_documents_problems() -> None:
    """Two threads validating different broken documents with the same compiled schema at once
    each get their own problems (lxml keeps one error log per schema object)."""
    import threading

    from lxml import etree

    from gateway.xml.validators import LxmlValidator

    xsd = etree.XMLSchema(etree.fromstring(
        b'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">'
        b'<xs:element name="r"><xs:complexType><xs:sequence>'
        b'<xs:element name="v" type="xs:integer" maxOccurs="unbounded"/>'
        b'</xs:sequence></xs:complexType></xs:element></xs:schema>'))
    validator = LxmlValidator(xsd)
    documents = {word: etree.fromstring(
        ("<r>" + f"<v>{word}</v>" * 5 + "</r>").encode()) for word in ("alpha", "omega")}
    mixed: list[str] = []
    start = threading.Barrier(2)

    def run(word: str) -> None:
        start.wait()
        for _ in range(500):              # unlocked, some 5-20 % of these mix (measured)
            problems = validator.problems(documents[word], None)
            if not problems or any(word not in (p.value or "") for p in problems):
                mixed.append(word)

    threads = [threading.Thread(target=run, args=(w,)) for w in documents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert mixed == []
