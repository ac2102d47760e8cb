"""The message-type registry: which document is which, and what to do with it.

Entries are data (``config/message_types.toml``) keyed by the root element's namespace and
local name, narrowed by an optional ``select`` XPath and by the version the document states.
Each entry names its schema, mapping, canonical kind and routing class. Schemas are compiled
once, at start-up, from local files only.

Versions: ``version`` is the format version an entry implements (its schema and mapping);
``accepted_versions`` (default: that version alone) lists every version a document may state
(``version_xpath``) and still be handled by the entry, e.g. ``["3.6", "3.7"]`` for real WCO
declarations that state 3.7 but are valid 3.6 documents. A document stating no version is
taken as ``version``; one stating a version no entry accepts is ``GW-MSG-UNSUPPORTED-VERSION``.
The version the document stated is returned with the match (``Identified.stated_version``),
so that the receipt can report it.

Envelopes: an entry whose schema covers a child of the root rather than the root itself (an
ISO 20022 ``Document`` inside a business-message envelope beside its ``AppHdr``) names that
child with ``validate_xpath``: the schema validates the one element it selects, and problems
point into the document from its root. Selecting no element, or several, is a located
problem (``GW-XSD-CONTENT``); the envelope's shape itself is best stated by ``select``.

Schema packs: an entry's ``schema`` is a file of its ``schema_pack``. The default pack,
``gateway``, is our ``schemas/`` folder (XSD 1.0, lxml). ``[[schema_pack]]`` tables add others
— a name, the folder (``directory``, or ``directory_env``: the ``GATEWAY_…_XSD_DIR`` variable
the deployment sets) and the validator (``xsd10``: lxml; ``xsd11``: xmlschema, for the official
DG TAXUD NCTS P5 pack, whose files are XSD 1.1) — so that a deployment can point a message type
at the official pack instead of ours (``schema_pack = "ncts-official"``, ``schema =
"cc015c.xsd"``). A pack no entry uses is not compiled and needs no folder; one an entry uses
without a folder stops start-up. Validators: ``gateway/xml/validators.py`` (same problems
whichever validates).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lxml import etree

from gateway.errors import ConfigurationError, Problem, UnknownMessageType, trim_value
from gateway.xml.schema_problems import local_pointer
from gateway.xml.validators import (
    COMPILERS,
    VALIDATOR_KINDS,
    XSD10,
    LocalOnlyResolver,
    LxmlValidator,
    SchemaValidator,
    compile_schema,
)

OUR_PACK = "gateway"
_LocalOnlyResolver = LocalOnlyResolver          # the name tests and older callers use
__all__ = ["MessageType", "MessageTypeRegistry", "SchemaPack", "compile_schema"]


@dataclass(frozen=True)
class MessageType:
    """One registered message format and version."""

    id: str
    name: str
    namespace: str
    local_name: str
    version: str
    schema_file: str
    mapping_file: str
    canonical_kind: str
    routing_class: str
    family: str
    namespaces: Mapping[str, str] = field(default_factory=dict)
    select: str | None = None
    version_xpath: str | None = None
    message_id_xpath: str | None = None
    rules: tuple[str, ...] = ()          # named business rules of the format (canonical kinds)
    accepted_versions: tuple[str, ...] = ()   # versions a document may state; () = version only
    answer: str = "gateway-receipt"      # answer format: our receipt, or the format's own
    soap_operation: str | None = None    # the SOAP operation that carries it (None: not by SOAP)
    validate_xpath: str | None = None    # the element the schema applies to (None: the root)
    schema_pack: str = OUR_PACK          # where ``schema_file`` is (see the module docstring)
    signature: str = "none"              # "required": an enveloped XML-DSig by the sender

    def accepts_version(self, stated: str | None) -> bool:
        """Whether a document stating ``stated`` (None or "": nothing) belongs to this entry."""
        return not stated or stated in (self.accepted_versions or (self.version,))

    @property
    def root_tag(self) -> str:
        return f"{{{self.namespace}}}{self.local_name}" if self.namespace else self.local_name


@dataclass(frozen=True)
class SchemaPack:
    """A folder of schema files and the validator that compiles them."""

    name: str
    directory: Path | None          # None: not configured (an entry using it stops start-up)
    validator: str = XSD10
    setting: str | None = None      # the environment variable that names the folder, if any


@dataclass
class Identified:
    """A document matched to its registry entry."""

    message_type: MessageType
    message_id: str | None
    stated_version: str | None = None      # what the document says (version_xpath), if anything


class MessageTypeRegistry:
    """Look up message types by root element and validate documents against their schema."""

    def __init__(self, types: list[MessageType],
                 schemas: dict[str, etree.XMLSchema] | None = None,
                 validators: dict[tuple[str, str], SchemaValidator] | None = None) -> None:
        """``validators`` maps (pack, schema file) to a compiled validator; ``schemas`` (lxml
        schemas of our own pack by file) is the older way to give the same."""
        self._by_root: dict[str, list[MessageType]] = {}
        for mt in types:
            self._by_root.setdefault(mt.root_tag, []).append(mt)
        self._types = {mt.id: mt for mt in types}
        self._validators: dict[tuple[str, str], SchemaValidator] = dict(validators or {})
        for file, schema in (schemas or {}).items():
            self._validators.setdefault((OUR_PACK, file), LxmlValidator(schema))
        self._xpaths: dict[tuple[str, str], etree.XPath] = {}
        for mt in types:
            for expr in (mt.select, mt.version_xpath, mt.message_id_xpath, mt.validate_xpath):
                if expr:
                    self._xpaths[(mt.id, expr)] = etree.XPath(expr, namespaces=dict(mt.namespaces))

    @classmethod
    def load(cls, config_file: Path, schemas_root: Path,
             pack_dirs: Mapping[str, str] | None = None) -> MessageTypeRegistry:
        """Read the registry and compile every schema its entries name, once.

        ``pack_dirs``: the deployment's ``GATEWAY_…_XSD_DIR`` values (``Settings.xsd_dirs``),
        for packs whose folder is named by ``directory_env``.
        """
        raw = tomllib.loads(config_file.read_text(encoding="utf-8"))
        types = [_entry(item) for item in raw.get("message_type", [])]
        packs = _packs(raw.get("schema_pack", []), schemas_root, config_file.parent,
                       pack_dirs or {})
        validators: dict[tuple[str, str], SchemaValidator] = {}
        for pack_name in sorted({mt.schema_pack for mt in types}):
            pack = packs.get(pack_name)
            if pack is None:
                users = [mt.id for mt in types if mt.schema_pack == pack_name]
                raise ConfigurationError(f"{users[0]}: unknown schema pack {pack_name!r}; "
                                         f"known: {', '.join(sorted(packs))}")
            files = sorted({mt.schema_file for mt in types if mt.schema_pack == pack_name})
            folder = _pack_folder(pack, [mt.id for mt in types if mt.schema_pack == pack_name])
            compiled = COMPILERS[pack.validator]([folder / f for f in files], folder)
            validators.update({(pack_name, f): compiled[folder / f] for f in files})
        return cls(types, validators=validators)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._types.values())

    def get(self, type_id: str) -> MessageType:
        return self._types[type_id]

    def identify(self, root: etree._Element) -> Identified:
        """Find the registry entry for a parsed document, or raise ``UnknownMessageType``."""
        candidates = self._by_root.get(root.tag, [])
        name = etree.QName(root)
        if not candidates:
            raise UnknownMessageType(
                f"no message type is registered for root element {name.localname!r}"
                + (f" in namespace {name.namespace!r}" if name.namespace else " (no namespace)"),
                problems=[Problem(UnknownMessageType.code, "unknown root element",
                                  pointer="/" + name.localname, line=root.sourceline)],
            )
        selected = [mt for mt in candidates if not mt.select or self._eval(mt, mt.select, root)]
        if not selected:
            raise UnknownMessageType(
                f"{name.localname!r} is registered only with other content (e.g. a MetaData "
                f"must wrap a Declaration); this variant is not a message the gateway accepts",
                problems=[Problem(UnknownMessageType.code, "unsupported variant of the root "
                                  "element", pointer="/" + name.localname, line=root.sourceline)])
        for mt in selected:
            stated = self._text(mt, mt.version_xpath, root) if mt.version_xpath else None
            if mt.accepts_version(stated):
                message_id = self._text(mt, mt.message_id_xpath, root)
                return Identified(mt, trim_value(message_id, 200) if message_id else None,
                                  trim_value(stated, 35) if stated else None)
        stated_versions = {self._text(mt, mt.version_xpath, root) for mt in selected
                           if mt.version_xpath}
        supported = {v for mt in candidates for v in (mt.accepted_versions or (mt.version,))}
        raise UnknownMessageType(
            f"{name.localname!r} is registered, but not in the version or variant this document "
            f"states ({', '.join(sorted(v for v in stated_versions if v)) or 'unstated'}); "
            f"supported: {', '.join(sorted(supported))}",
            code="GW-MSG-UNSUPPORTED-VERSION",
            problems=self._version_problems(selected, root, sorted(supported)),
        )

    def _version_problems(self, selected: list[MessageType], root: etree._Element,
                          supported: list[str]) -> list[Problem]:
        """Where the document states the refused version: the element the ``version_xpath``
        selects (its pointer and line), else the root element."""
        problems: list[Problem] = []
        for mt in selected:
            if not mt.version_xpath:
                continue
            found = self._eval(mt, mt.version_xpath, root)
            node = found[0] if isinstance(found, list) and found \
                and isinstance(found[0], etree._Element) else root
            stated = self._text(mt, mt.version_xpath, root)
            problem = Problem("GW-MSG-UNSUPPORTED-VERSION",
                              f"version {stated!r} is not accepted for this document; "
                              f"accepted: {', '.join(supported)}",
                              pointer=local_pointer(node), line=node.sourceline,
                              value=trim_value(stated, 35))
            if problem not in problems:
                problems.append(problem)
        return problems

    def validate(
        self, mt: MessageType, element: etree._Element, body: bytes | None
    ) -> list[Problem]:
        """All schema problems of ``element`` (empty when valid) — of the element its
        ``validate_xpath`` selects, if the entry has one."""
        validator = self.validator(mt)
        if mt.validate_xpath:
            return self._validate_child(mt, validator, element, body)
        return validator.problems(element, body)

    def _validate_child(self, mt: MessageType, validator: SchemaValidator,
                        element: etree._Element, body: bytes | None) -> list[Problem]:
        assert mt.validate_xpath is not None
        found = self._eval(mt, mt.validate_xpath, element)
        children = [n for n in found if isinstance(n, etree._Element)] \
            if isinstance(found, list) else []
        if len(children) != 1:
            return [Problem("GW-XSD-CONTENT",
                            f"the {etree.QName(element).localname} must hold exactly one "
                            f"{mt.validate_xpath.rpartition(':')[2]} to validate, not "
                            f"{len(children)}", pointer=local_pointer(element),
                            line=element.sourceline)]
        child = children[0]
        problems = validator.problems(child, body)
        if not problems:
            return []
        # pointers from the document's root: /BizMsg/Document/… rather than /Document/…
        outer = local_pointer(child, element)
        inner = "/" + etree.QName(child).localname
        return [replace(p, pointer=outer + p.pointer[len(inner):])
                if p.pointer and p.pointer.startswith(inner) else p
                for p in problems]

    def validator(self, mt: MessageType) -> SchemaValidator:
        """The compiled validator of the entry's schema (lxml or xmlschema)."""
        return self._validators[(mt.schema_pack, mt.schema_file)]

    def schema(self, mt: MessageType) -> Any:
        """The compiled schema itself: an ``etree.XMLSchema`` for an XSD 1.0 pack (ours), an
        ``xmlschema.XMLSchema11`` for an XSD 1.1 one."""
        return self.validator(mt).schema  # type: ignore[attr-defined]

    def _eval(self, mt: MessageType, expr: str, root: etree._Element) -> Any:
        return self._xpaths[(mt.id, expr)](root)

    def _text(self, mt: MessageType, expr: str | None, root: etree._Element) -> str | None:
        if not expr:
            return None
        result = self._eval(mt, expr, root)
        if isinstance(result, list):
            result = result[0] if result else None
            if isinstance(result, etree._Element):
                result = result.text
        return str(result).strip() if result is not None else None


def _entry(item: dict[str, Any]) -> MessageType:
    try:
        ns, _, local = item["root"].rpartition("}")
        return MessageType(
            id=item["id"], name=item["name"], namespace=ns.lstrip("{"), local_name=local,
            version=str(item["version"]), schema_file=item["schema"],
            mapping_file=item["mapping"], canonical_kind=item["canonical_kind"],
            routing_class=item["routing_class"], family=item["family"],
            namespaces=item.get("namespaces", {}), select=item.get("select"),
            version_xpath=item.get("version_xpath"),
            message_id_xpath=item.get("message_id_xpath"),
            rules=_rule_names(item),
            accepted_versions=_accepted_versions(item),
            answer=item.get("answer", "gateway-receipt"),
            soap_operation=item.get("soap_operation"),
            validate_xpath=item.get("validate_xpath"),
            schema_pack=item.get("schema_pack", OUR_PACK),
            signature=_signature(item),
        )
    except KeyError as exc:
        raise ConfigurationError(f"message type entry {item.get('id')!r} lacks {exc}") from exc


def _rule_names(item: dict[str, Any]) -> tuple[str, ...]:
    """The entry's ``rules = [...]``: names the canonical kind checks at start-up."""
    rules = item.get("rules", [])
    if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
        raise ConfigurationError(f"message type {item.get('id')!r}: rules must be a list of "
                                 f"rule names, not {rules!r}")
    return tuple(rules)


SIGNATURE_POLICIES = ("none", "required")


def _signature(item: dict[str, Any]) -> str:
    """The entry's ``signature``: ``required`` — the document carries an enveloped XML-DSig
    signature by the sending partner, verified before anything else reads it
    (``gateway/pipeline/trust_steps.py``) — or ``none`` (the default)."""
    policy = item.get("signature", "none")
    if policy not in SIGNATURE_POLICIES:
        raise ConfigurationError(f"message type {item.get('id')!r}: signature must be one of "
                                 f"{', '.join(SIGNATURE_POLICIES)}, not {policy!r}")
    return str(policy)


def _accepted_versions(item: dict[str, Any]) -> tuple[str, ...]:
    """The entry's ``accepted_versions`` (strings, its own ``version`` among them), or ()."""
    raw = item.get("accepted_versions")
    if raw is None:
        return ()
    entry = item.get("id")
    if not isinstance(raw, list) or not raw or not all(isinstance(v, str) and v for v in raw):
        raise ConfigurationError(f"message type {entry!r}: accepted_versions must be a "
                                 f"non-empty list of version strings, not {raw!r}")
    if str(item["version"]) not in raw:
        raise ConfigurationError(f"message type {entry!r}: accepted_versions {raw!r} must "
                                 f"include its own version {item['version']!r}")
    if not item.get("version_xpath"):
        raise ConfigurationError(f"message type {entry!r}: accepted_versions needs a "
                                 "version_xpath (where the document states its version)")
    return tuple(raw)


def _packs(raw: Any, schemas_root: Path, config_dir: Path,
           pack_dirs: Mapping[str, str]) -> dict[str, SchemaPack]:
    """Our own pack and the ``[[schema_pack]]`` tables (folders resolved, not yet checked)."""
    packs = {OUR_PACK: SchemaPack(OUR_PACK, schemas_root, XSD10)}
    if not isinstance(raw, list):
        raise ConfigurationError("[[schema_pack]] must be a list of tables")
    for item in raw:
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name or name in packs:
            raise ConfigurationError(f"schema pack {name!r}: a new, non-empty name is needed")
        validator = item.get("validator", XSD10)
        if validator not in VALIDATOR_KINDS:
            raise ConfigurationError(f"schema pack {name!r}: unknown validator {validator!r}; "
                                     f"known: {', '.join(VALIDATOR_KINDS)}")
        setting = item.get("directory_env")
        stated = pack_dirs.get(setting) if setting else item.get("directory")
        directory = (config_dir / stated).resolve() if stated else None
        packs[name] = SchemaPack(name, directory, validator, setting)
    return packs


def _pack_folder(pack: SchemaPack, users: list[str]) -> Path:
    """The pack's folder, which must exist, for the entries that use it."""
    if pack.directory is None:
        how = f"set {pack.setting}" if pack.setting else "give it a directory"
        raise ConfigurationError(f"{users[0]}: schema pack {pack.name!r} has no folder ({how} "
                                 "to the folder of the schema files, or point the message "
                                 "type at another pack)")
    if not pack.directory.is_dir():
        raise ConfigurationError(f"schema pack {pack.name!r}: {pack.directory} is not a folder")
    return pack.directory
