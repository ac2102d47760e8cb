"""Schema validators: XSD 1.0 with lxml (our schemas), XSD 1.1 with xmlschema (official packs).

A message type's schema comes from a *schema pack* (``config/message_types.toml``): ours, the
``schemas/`` folder, XSD 1.0, validated by libxml2 through lxml; or a folder a deployment
points at, such as the official DG TAXUD NCTS P5 pack, whose files declare XSD 1.1
(``vc:minVersion="1.1"``) and are compiled by ``xmlschema`` (``XMLSchema11``). Both kinds of
validator are compiled once, at start-up, from local files only, and both report the same
``Problem`` objects — stable ``GW-XSD-*`` code, readable local-name pointer
(``/CC015C/CustomsOfficeOfDeparture/referenceNumber``), line, column of the start tag, the
offending value and a sentence — so that whatever answers the sender (our rejection, an NCTS
``CC917C``) does not care which validator found them.

Local files only:

* lxml: a parser with no network, no DTD, no entities, and a resolver that refuses any
  include or import outside the pack's folder (``LocalOnlyResolver``);
* xmlschema: ``allow="local"`` (no remote URL), an opener of our own (``PackOpener``) that
  opens ``file:`` URLs below the pack's folder and nothing else (xmlschema's own ``sandbox``
  mode is relative to each including file, so the official pack's
  ``include-files/custom_ctypes.xsd`` could not include ``../ctypes.xsd``), and
  ``defuse="always"`` (every schema file parsed with its safe parser); after compiling, every
  file the schema read is checked to be in the folder. The documents it validates are already
  parsed by the gateway's hardened parser and handed over as a resource that may load nothing
  (``allow="none"``).

An xmlschema pack is compiled as one schema from every file the registry names in it (the
NCTS pack's files share one large include, ``ctypes.xsd``, read once instead of once per
message: about 1.5 s instead of 1.5 s per message type).
"""

from __future__ import annotations

import re
import threading
import urllib.request
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.error import URLError
from urllib.parse import urlparse

from lxml import etree

from gateway.errors import ConfigurationError, Problem, trim_value
from gateway.xml.schema_problems import MESSAGE_LIMIT, column_of, local_pointer, problems_from_log

XSD10, XSD11 = "xsd10", "xsd11"
VALIDATOR_KINDS = (XSD10, XSD11)


class SchemaValidator(Protocol):
    """A compiled schema that lists every problem of an element (empty when valid)."""

    @property
    def kind(self) -> str:
        """``xsd10`` (lxml) or ``xsd11`` (xmlschema)."""
        ...

    def problems(self, element: etree._Element, body: bytes | None) -> list[Problem]:
        """Every schema problem of ``element``; ``body`` (its bytes) gives columns."""
        ...


# --- XSD 1.0, lxml ---------------------------------------------------------------------------


class LocalOnlyResolver(etree.Resolver):
    """Schema includes/imports may only come from the pack's folder."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self._root = root.resolve()

    def resolve(self, url: str, pubid: str, context: Any) -> Any:
        if "://" in url and not url.startswith("file://"):
            raise ConfigurationError(f"schema import from the network is not allowed: {url}")
        path = Path(url.removeprefix("file://")).resolve()
        if not path.is_relative_to(self._root):
            raise ConfigurationError(f"schema import outside {self._root}: {url}")
        return None  # let libxml2 load the local file


def compile_schema(path: Path, schemas_root: Path) -> etree.XMLSchema:
    """Compile one XSD 1.0 file from local files (no network, no DTDs)."""
    parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
    parser.resolvers.add(LocalOnlyResolver(schemas_root))
    try:
        return etree.XMLSchema(etree.parse(str(path), parser))
    except (OSError, etree.XMLSchemaParseError, etree.XMLSyntaxError) as exc:
        raise ConfigurationError(f"cannot compile schema {path}: {exc}") from exc


@dataclass(frozen=True)
class LxmlValidator:
    """XSD 1.0 through libxml2: our own schemas.

    lxml validates without the GIL but keeps the errors in one log per schema object, so two
    threads validating with the same schema at once would mix their problems: validation and
    the reading of its log hold this validator's lock (uncontended in a gateway process, whose
    event loop validates; it matters where one compiled registry serves several threads)."""

    schema: etree.XMLSchema
    kind: str = XSD10
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    def problems(self, element: etree._Element, body: bytes | None) -> list[Problem]:
        with self._lock:
            if self.schema.validate(element):
                return []
            return problems_from_log(self.schema.error_log, element, body)


def compile_xsd10(paths: Sequence[Path], folder: Path) -> dict[Path, SchemaValidator]:
    """One validator per file (each compiled on its own)."""
    return {path: LxmlValidator(compile_schema(path, folder)) for path in paths}


# --- XSD 1.1, xmlschema -------------------------------------------------------------------

# xmlschema's failing component (its class name) -> stable gateway code
_XMLSCHEMA_CODES = {
    "XsdEnumerationFacets": "GW-XSD-ENUMERATION",
    "XsdPatternFacets": "GW-XSD-PATTERN",
    "XsdLengthFacet": "GW-XSD-LENGTH",
    "XsdMinLengthFacet": "GW-XSD-TOO-SHORT",
    "XsdMaxLengthFacet": "GW-XSD-TOO-LONG",
    "XsdTotalDigitsFacet": "GW-XSD-TOTAL-DIGITS",
    "XsdFractionDigitsFacet": "GW-XSD-FRACTION-DIGITS",
    "XsdMinInclusiveFacet": "GW-XSD-RANGE",
    "XsdMaxInclusiveFacet": "GW-XSD-RANGE",
    "XsdMinExclusiveFacet": "GW-XSD-RANGE",
    "XsdMaxExclusiveFacet": "GW-XSD-RANGE",
    "XsdAtomicBuiltin": "GW-XSD-DATATYPE",
    "XsdAttribute": "GW-XSD-ATTRIBUTE",
    "XsdAttributeGroup": "GW-XSD-ATTRIBUTE",
}
# xmlschema names the attribute as "'foo' attribute not allowed …" or "attribute PhaseID='…'"
_ATTRIBUTE = re.compile(r"'([\w:{}./-]+)' attribute|attribute '?([\w:{}./-]+?)'?(?:[ =]|$)",
                        re.IGNORECASE)
# namespace URIs in Clark notation ({urn:…}Name) and prefixes (ncts:CC015C, xs:decimal) — not
# the quantifiers of a quoted pattern ([A-Z]{2})
_NS_IN_REASON = re.compile(r"\{[^{}]*[:/][^{}]*\}|\b[A-Za-z][\w.-]*:(?=[A-Za-z_])")


@dataclass(frozen=True)
class XmlschemaValidator:
    """XSD 1.1 through xmlschema: an official pack a deployment points at."""

    schema: Any                 # xmlschema.XMLSchema11 (one schema for the pack's files)
    kind: str = XSD11

    def problems(self, element: etree._Element, body: bytes | None) -> list[Problem]:
        from xmlschema import XMLResource  # imported where an XSD 1.1 pack is in use

        lines = body.split(b"\n") if body is not None else None
        resource = XMLResource(element, allow="none")
        found: list[Problem] = []
        for error in self.schema.iter_errors(resource):
            problem = _problem_of(error, element, lines)
            if problem not in found:            # a facet repeated down a type chain
                found.append(problem)
        return sorted(found, key=lambda p: (p.line or 0, p.column or 0))


class PackOpener(urllib.request.OpenerDirector):
    """Opens ``file:`` URLs below the given folders, refuses anything else (xmlschema's
    opener for a pack: no network handler at all, no file outside the pack)."""

    def __init__(self, *folders: Path) -> None:
        super().__init__()
        self._folders = tuple(f.resolve() for f in folders)
        self.add_handler(urllib.request.FileHandler())

    def open(self, fullurl: Any, data: Any = None, timeout: Any = None) -> Any:
        url = fullurl if isinstance(fullurl, str) else fullurl.full_url
        parsed = urlparse(url)
        if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
            raise URLError(f"only local schema files may be read, not {url}")
        path = Path(urllib.request.url2pathname(parsed.path)).resolve()
        if not any(path.is_relative_to(folder) for folder in self._folders):
            raise URLError(f"{path} is outside the schema pack")
        return super().open(fullurl, data, timeout) if timeout is not None \
            else super().open(fullurl, data)


def compile_xsd11(paths: Sequence[Path], folder: Path) -> dict[Path, SchemaValidator]:
    """One xmlschema schema for all ``paths`` (local files below ``folder`` only)."""
    import xmlschema

    if not paths:
        return {}
    outside = [p for p in paths if not p.resolve().is_relative_to(folder.resolve())]
    if outside:
        raise ConfigurationError(f"schema {outside[0]} is outside its pack folder {folder}")
    opener = PackOpener(folder, Path(xmlschema.__file__).parent)
    try:
        with warnings.catch_warnings():     # an include or import that fails stops start-up
            warnings.simplefilter("error", xmlschema.XMLSchemaIncludeWarning)
            warnings.simplefilter("error", xmlschema.XMLSchemaImportWarning)
            schema = xmlschema.XMLSchema11([str(p) for p in paths], base_url=str(folder),
                                           allow="local", defuse="always", opener=opener)
    except (OSError, xmlschema.XMLSchemaException, etree.XMLSyntaxError, SyntaxError,
            Warning) as exc:
        raise ConfigurationError(f"cannot compile the XSD 1.1 pack {folder}: {exc}") from exc
    _loaded_from(schema, folder)
    validator = XmlschemaValidator(schema)
    return {path: validator for path in paths}


def _loaded_from(schema: Any, folder: Path) -> None:
    """Every file the compiled schema read is in ``folder``, or one of xmlschema's own XSD
    meta-schemas: what ``PackOpener`` let through, checked once more on the result."""
    import xmlschema

    own = Path(xmlschema.__file__).resolve().parent
    for loaded in schema.maps.iter_schemas():
        url = loaded.url or ""
        path = Path(url.removeprefix("file://")).resolve() if url.startswith("file://") \
            else None
        if path is None or not (path.is_relative_to(folder.resolve())
                                or path.is_relative_to(own)):
            raise ConfigurationError(f"the XSD 1.1 pack {folder} reads {url or '(no file)'}, "
                                     "which is not a file of the pack")


def _problem_of(error: Any, validated: etree._Element, lines: list[bytes] | None) -> Problem:
    """One xmlschema validation error as the Problem libxml2's would give."""
    kind = type(error).__name__
    component = type(error.validator).__name__
    node = error.elem if isinstance(error.elem, etree._Element) else validated
    reason = str(error.reason or error.message)
    attribute = None
    if kind == "XMLSchemaChildrenValidationError":
        code = "GW-XSD-CONTENT"
        node = error.invalid_child if error.invalid_child is not None else node
        value = None
    else:
        code = _XMLSCHEMA_CODES.get(component, "GW-XSD-INVALID")
        if component.startswith("XsdAttribute") or "attribute" in reason.lower():
            attribute = _attribute_in(reason)
            code = "GW-XSD-ATTRIBUTE" if code == "GW-XSD-INVALID" else code
        value = node.get(attribute) if attribute else node.text
        if component == "XMLSchema11" or (node is validated and "not an element of the "
                                          "schema" in reason):
            code = "GW-XSD-ROOT"
    pointer = local_pointer(node, validated) + (f"/@{attribute}" if attribute else "")
    name = etree.QName(node).localname
    sentence = f"Element '{name}': {_NS_IN_REASON.sub('', reason).strip().rstrip('.')}"
    return Problem(code=code, message=trim_value(sentence, MESSAGE_LIMIT) or "",
                   pointer=pointer, line=node.sourceline,
                   column=column_of(lines, node.sourceline, node) if lines is not None else None,
                   value=trim_value(value))


def _attribute_in(reason: str) -> str | None:
    """The local name of the attribute an xmlschema reason is about, if it names one."""
    match = _ATTRIBUTE.search(reason)
    named = (match.group(1) or match.group(2)) if match else None
    return named.split("}")[-1] if named else None


COMPILERS = {XSD10: compile_xsd10, XSD11: compile_xsd11}
