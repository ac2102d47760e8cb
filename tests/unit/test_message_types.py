"""The message-type registry: which document is which, and schemas compiled from local files.

Documents come from ``tests/fixtures``; variations (bare Declaration, another version) are
derived from the fixtures in the test so they cannot drift from them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from gateway.errors import ConfigurationError, UnknownMessageType
from gateway.message_types import MessageTypeRegistry, _LocalOnlyResolver, compile_schema
from gateway.settings import Settings
from gateway.xml.safe_parser import XmlLimits, parse_untrusted

SETTINGS = Settings()
FIXTURES = SETTINGS.home / "tests" / "fixtures"
MD_NS = "urn:wco:datamodel:WCO:DocumentMetaData-DMS:2"
DEC_NS = "urn:wco:datamodel:WCO:DEC-DMS:2"


@pytest.fixture(scope="module")
def registry() -> MessageTypeRegistry:
    return MessageTypeRegistry.load(SETTINGS.config_dir / "message_types.toml",
                                    SETTINGS.schemas_dir)


def root_of(body: bytes) -> etree._Element:
    return parse_untrusted(body, XmlLimits()).getroot()


def wco_three_items() -> bytes:
    return (FIXTURES / "wco" / "dec_valid_3_items.xml").read_bytes()


def bare_declaration() -> bytes:
    """The Declaration of the 3-item WCO sample without its MetaData wrapper."""
    declaration = root_of(wco_three_items()).find(f"{{{DEC_NS}}}Declaration")
    assert declaration is not None
    return etree.tostring(declaration, encoding="UTF-8", xml_declaration=True)


def with_version(body: bytes, version: str) -> bytes:
    """The WCO sample stating another WCODataModelVersionCode."""
    root = root_of(body)
    code = root.find(f"{{{MD_NS}}}WCODataModelVersionCode")
    assert code is not None and code.text == "3.6"
    code.text = version
    return etree.tostring(root, encoding="UTF-8", xml_declaration=True)


def test_registry_identifies_wco_metadata_dec_with_lrn_as_message_id(
        registry: MessageTypeRegistry) -> None:
    """A MetaData-wrapped DEC is wco-dec-3.6 and its message id is the LRN."""
    identified = registry.identify(root_of(wco_three_items()))
    assert identified.message_type.id == "wco-dec-3.6"
    assert identified.message_id == "LRN-0001"
    assert identified.message_type.canonical_kind == "declaration"


def test_registry_identifies_bare_wco_declaration(registry: MessageTypeRegistry) -> None:
    """A Declaration without MetaData is wco-dec-3.6-bare, message id still the LRN."""
    identified = registry.identify(root_of(bare_declaration()))
    assert identified.message_type.id == "wco-dec-3.6-bare"
    assert identified.message_id == "LRN-0001"


def test_registry_bare_wco_declaration_is_schema_valid(registry: MessageTypeRegistry) -> None:
    """The bare Declaration validates against its own schema (no problems)."""
    body = bare_declaration()
    root = root_of(body)
    identified = registry.identify(root)
    assert registry.validate(identified.message_type, root, body) == []


def test_registry_identifies_asycuda_without_message_id(registry: MessageTypeRegistry) -> None:
    """An ASYCUDA SAD export is asycuda-sad-1 and carries no message id."""
    body = (FIXTURES / "asycuda" / "sad_valid_3_items.xml").read_bytes()
    identified = registry.identify(root_of(body))
    assert identified.message_type.id == "asycuda-sad-1"
    assert identified.message_id is None


@pytest.mark.parametrize("body, described", [
    (b"<Invoice><ID>1</ID></Invoice>", "(no namespace)"),
    (b'<x:Invoice xmlns:x="urn:example:invoice"><x:ID>1</x:ID></x:Invoice>',
     "'urn:example:invoice'"),
    (b'<ASYCUDA xmlns="urn:example:asycuda"/>', "'urn:example:asycuda'"),
])
def test_registry_rejects_unknown_root_with_code(
        registry: MessageTypeRegistry, body: bytes, described: str) -> None:
    """An unregistered root (with or without namespace) is GW-MSG-UNKNOWN-TYPE naming it."""
    with pytest.raises(UnknownMessageType) as caught:
        registry.identify(root_of(body))
    error = caught.value
    assert error.code == "GW-MSG-UNKNOWN-TYPE"
    assert error.http_status == 400
    assert described in error.message
    (problem,) = error.problems
    assert problem.pointer == "/" + etree.QName(root_of(body)).localname


def test_registry_rejects_unsupported_wco_version(registry: MessageTypeRegistry) -> None:
    """A MetaData stating WCODataModelVersionCode 3.4 is GW-MSG-UNSUPPORTED-VERSION."""
    with pytest.raises(UnknownMessageType) as caught:
        registry.identify(root_of(with_version(wco_three_items(), "3.4")))
    assert caught.value.code == "GW-MSG-UNSUPPORTED-VERSION"
    assert "3.4" in caught.value.message
    assert "3.6" in caught.value.message


def test_registry_metadata_without_version_is_accepted_as_3_6(
        registry: MessageTypeRegistry) -> None:
    """A MetaData that states no version (minimal sample) is taken as the registered 3.6."""
    body = (FIXTURES / "wco" / "dec_valid_minimal.xml").read_bytes()
    identified = registry.identify(root_of(body))
    assert identified.message_type.id == "wco-dec-3.6"
    assert identified.message_id is None


def test_registry_metadata_wrapping_unregistered_variant_rejected(
        registry: MessageTypeRegistry) -> None:
    """A MetaData wrapping a RES Response (not a registered variant) is rejected."""
    body = (FIXTURES / "wco" / "res_sample.xml").read_bytes()
    with pytest.raises(UnknownMessageType):
        registry.identify(root_of(body))


def test_registry_validate_returns_problems_for_invalid_document(
        registry: MessageTypeRegistry) -> None:
    """validate returns every schema problem of an invalid document and none of a valid one."""
    bad = (FIXTURES / "wco" / "dec_invalid_many_errors.xml").read_bytes()
    root = root_of(bad)
    identified = registry.identify(root)
    assert len(registry.validate(identified.message_type, root, bad)) == 7
    good = wco_three_items()
    good_root = root_of(good)
    assert registry.validate(registry.identify(good_root).message_type, good_root, good) == []


def test_registry_lists_every_configured_type(registry: MessageTypeRegistry) -> None:
    """The repository's message_types.toml loads its declaration, camt.054 and licence types,
    compiled."""
    ids = {mt.id for mt in registry}
    camt = {f"camt054-001.{v}{e}" for v in ("02", "04", "08") for e in ("", "-bizmsg")}
    ncts = {f"ncts-p5-{m}" for m in ("cc007c", "cc015c", "cc025c", "cc028c", "cc029c",
                                     "cc045c", "cc056c", "cc906c", "cc917c", "cc928c",
                                     "cd001c", "cd006c", "cd018c", "cd050c", "cd118c",
                                     "cd906c", "cd917c")}
    assert ids == {"wco-dec-3.6", "wco-dec-3.6-bare", "asycuda-sad-1", *camt,
                   "sps-certificate-17", "licence-1", *ncts}
    for mt in registry:
        assert isinstance(registry.schema(mt), etree.XMLSchema)


# --- schemas from local files only ---------------------------------------------------------

SCHEMA_HEAD = '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:t">'


def write_schema(path: Path, import_location: str) -> Path:
    path.write_text(
        SCHEMA_HEAD
        + f'<xs:import namespace="urn:other" schemaLocation="{import_location}"/>'
        + '<xs:element name="r" type="xs:string"/></xs:schema>', encoding="utf-8")
    return path


def write_other(path: Path) -> Path:
    path.write_text('<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" '
                    'targetNamespace="urn:other"><xs:element name="o" type="xs:string"/>'
                    '</xs:schema>', encoding="utf-8")
    return path


def test_compile_schema_refuses_http_import(tmp_path: Path) -> None:
    """A schema importing an http:// URL raises ConfigurationError."""
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    xsd = write_schema(schemas / "net.xsd", "http://schemas.example.invalid/other.xsd")
    with pytest.raises(ConfigurationError) as caught:
        compile_schema(xsd, schemas)
    assert "net.xsd" in caught.value.message


@pytest.mark.parametrize("url", [
    "http://schemas.example.invalid/other.xsd", "https://schemas.example.invalid/other.xsd",
    "ftp://schemas.example.invalid/other.xsd",
])
def test_local_only_resolver_refuses_network_urls(tmp_path: Path, url: str) -> None:
    """The schema resolver refuses any non-file URL itself (not relying on libxml2 lacking HTTP)."""
    resolver = _LocalOnlyResolver(tmp_path)
    with pytest.raises(ConfigurationError) as caught:
        resolver.resolve(url, None, None)
    assert url in caught.value.message


def test_local_only_resolver_allows_files_inside_root_only(tmp_path: Path) -> None:
    """Files under the schemas folder are left to libxml2; files outside it are refused."""
    inside = write_other(tmp_path / "other.xsd")
    resolver = _LocalOnlyResolver(tmp_path)
    assert resolver.resolve(str(inside), None, None) is None
    assert resolver.resolve(f"file://{inside}", None, None) is None
    with pytest.raises(ConfigurationError):
        resolver.resolve(str(tmp_path.parent / "elsewhere.xsd"), None, None)


def test_compile_schema_refuses_import_outside_schemas_folder(tmp_path: Path) -> None:
    """A schema importing an existing file outside the schemas folder raises ConfigurationError."""
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    write_other(tmp_path / "outside.xsd")
    xsd = write_schema(schemas / "escape.xsd", "../outside.xsd")
    with pytest.raises(ConfigurationError):
        compile_schema(xsd, schemas)


def test_compile_schema_accepts_local_import(tmp_path: Path) -> None:
    """A schema importing a file inside the schemas folder compiles and validates."""
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    write_other(schemas / "other.xsd")
    xsd = write_schema(schemas / "local.xsd", "other.xsd")
    schema = compile_schema(xsd, schemas)
    assert schema.validate(etree.fromstring(b'<r xmlns="urn:t">x</r>'))
    assert not schema.validate(etree.fromstring(b'<q xmlns="urn:t">x</q>'))


def test_registry_load_with_network_schema_raises_configuration_error(tmp_path: Path) -> None:
    """Loading a registry whose schema imports from the network fails at start-up."""
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    write_schema(schemas / "net.xsd", "http://schemas.example.invalid/other.xsd")
    config = tmp_path / "message_types.toml"
    config.write_text(
        '[[message_type]]\nid = "t"\nname = "t"\nfamily = "t"\nroot = "{urn:t}r"\n'
        'version = "1"\nschema = "net.xsd"\nmapping = "t.toml"\ncanonical_kind = "declaration"\n'
        'routing_class = "declaration"\n', encoding="utf-8")
    with pytest.raises(ConfigurationError):
        MessageTypeRegistry.load(config, schemas)


def test_registry_load_entry_missing_key_raises_configuration_error(tmp_path: Path) -> None:
    """A message type entry without its schema is a ConfigurationError naming the entry."""
    config = tmp_path / "message_types.toml"
    config.write_text('[[message_type]]\nid = "broken"\nname = "b"\nroot = "r"\n',
                      encoding="utf-8")
    with pytest.raises(ConfigurationError) as caught:
        MessageTypeRegistry.load(config, tmp_path)
    assert "broken" in caught.value.message


# --- accepted versions -------------------------------------------------------------------------

def test_registry_wco_entry_lists_its_accepted_versions(registry: MessageTypeRegistry) -> None:
    """The shipped WCO MetaData entry implements 3.6 and accepts documents stating 3.6 or 3.7."""
    entry = registry.get("wco-dec-3.6")
    assert entry.version == "3.6"
    assert entry.accepted_versions == ("3.6", "3.7")


@pytest.mark.parametrize("stated", ["3.6", "3.7", " 3.7 "])
def test_registry_accepted_version_identified_with_the_stated_version(
        registry: MessageTypeRegistry, stated: str) -> None:
    """A DEC stating an accepted version is the 3.6 entry and reports what it stated."""
    identified = registry.identify(root_of(with_version(wco_three_items(), stated)))
    assert identified.message_type.id == "wco-dec-3.6"
    assert identified.message_id == "LRN-0001"
    assert identified.stated_version == stated.strip()


def test_registry_document_stating_no_version_has_no_stated_version(
        registry: MessageTypeRegistry) -> None:
    """A MetaData without WCODataModelVersionCode is handled as 3.6 and states nothing."""
    body = (FIXTURES / "wco" / "dec_valid_minimal.xml").read_bytes()
    assert registry.identify(root_of(body)).stated_version is None


@pytest.mark.parametrize("stated", ["9.9", "3.5", "3.60", "3"])
def test_registry_unlisted_version_is_unsupported(
        registry: MessageTypeRegistry, stated: str) -> None:
    """A version not in accepted_versions is still GW-MSG-UNSUPPORTED-VERSION, listing both."""
    with pytest.raises(UnknownMessageType) as caught:
        registry.identify(root_of(with_version(wco_three_items(), stated)))
    assert caught.value.code == "GW-MSG-UNSUPPORTED-VERSION"
    assert f"({stated})" in caught.value.message
    assert "supported: 3.6, 3.7" in caught.value.message


ENTRY = ('[[message_type]]\nid = "t"\nname = "t"\nfamily = "t"\nroot = "{urn:other}o"\n'
         'version = "1"\nschema = "other.xsd"\nmapping = "t.toml"\n'
         'canonical_kind = "declaration"\nrouting_class = "declaration"\n'
         'namespaces = { o = "urn:other" }\n')


def _registry_with(tmp_path: Path, extra: str) -> MessageTypeRegistry:
    write_other(tmp_path / "other.xsd")
    config = tmp_path / "message_types.toml"
    config.write_text(ENTRY + extra, encoding="utf-8")
    return MessageTypeRegistry.load(config, tmp_path)


def test_registry_entry_without_accepted_versions_accepts_its_version_only(
        tmp_path: Path) -> None:
    """Without accepted_versions an entry takes documents stating its own version alone."""
    registry = _registry_with(tmp_path, 'version_xpath = "string(@v)"\n')
    assert registry.identify(etree.fromstring(b'<o xmlns="urn:other" v="1"/>')) \
        .stated_version == "1"
    with pytest.raises(UnknownMessageType) as caught:
        registry.identify(etree.fromstring(b'<o xmlns="urn:other" v="2"/>'))
    assert caught.value.code == "GW-MSG-UNSUPPORTED-VERSION"


def test_registry_entry_accepted_versions_are_read_from_config(tmp_path: Path) -> None:
    """accepted_versions in the entry is what decides: 1 and 1.1 pass, 2 does not."""
    registry = _registry_with(tmp_path, 'version_xpath = "string(@v)"\n'
                                        'accepted_versions = ["1", "1.1"]\n')
    assert registry.identify(etree.fromstring(b'<o xmlns="urn:other" v="1.1"/>')) \
        .stated_version == "1.1"
    with pytest.raises(UnknownMessageType):
        registry.identify(etree.fromstring(b'<o xmlns="urn:other" v="2"/>'))


@pytest.mark.parametrize("extra, says", [
    ('version_xpath = "string(@v)"\naccepted_versions = ["1.1"]\n', "own version"),
    ('version_xpath = "string(@v)"\naccepted_versions = "1"\n', "list"),
    ('version_xpath = "string(@v)"\naccepted_versions = []\n', "list"),
    ('version_xpath = "string(@v)"\naccepted_versions = [1]\n', "list"),
    ('accepted_versions = ["1", "1.1"]\n', "version_xpath"),
])
def test_registry_malformed_accepted_versions_stop_start_up(
        tmp_path: Path, extra: str, says: str) -> None:
    """accepted_versions: a list of strings with the entry's version, and a version_xpath."""
    with pytest.raises(ConfigurationError) as caught:
        _registry_with(tmp_path, extra)
    assert says in caught.value.message and "'t'" in caught.value.message


def test_registry_unsupported_version_problem_points_at_the_version_element(
        registry: MessageTypeRegistry) -> None:
    """The refusal of an unlisted version is located: pointer, line and value of the element."""
    body = with_version(wco_three_items(), "9.9")
    root = root_of(body)
    element = root.find(f"{{{MD_NS}}}WCODataModelVersionCode")
    with pytest.raises(UnknownMessageType) as caught:
        registry.identify(root)
    (problem,) = caught.value.problems
    assert problem.code == "GW-MSG-UNSUPPORTED-VERSION"
    assert problem.pointer == "/MetaData/WCODataModelVersionCode"
    assert problem.line == element.sourceline and problem.line > 1
    assert problem.value == "9.9"
    assert "3.6, 3.7" in problem.message
