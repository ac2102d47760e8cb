"""Flatten an XSD into the typed-tree text format (one line per element, in schema order).

The typed trees under ``shared/reference/iso20022/`` (``camt.054.001.02_tree_typed.txt`` …)
describe a message as one line per element path::

    /Document/BkToCstmrDbtCdtNtfctn/GrpHdr [1..1] :GroupHeader42
    /Document/BkToCstmrDbtCdtNtfctn/GrpHdr/MsgId [1..1] <Max35Text<string> minLength=1 \
        maxLength=35 whiteSpace=preserve
    /Document/.../Ntry/Amt [1..1] <ActiveOrHistoricCurrencyAndAmount_SimpleType<decimal> \
        minInclusive=0 fractionDigits=5 totalDigits=18 whiteSpace=collapse  @Ccy
    /Document/.../SplmtryData/Envlp/(any element)

i.e. ``path [min..max]`` then either ``:ComplexType`` (an aggregate; its children follow) or
``<SimpleType<builtin>`` with the facets in the schema's order (all enumeration values joined
by commas at the place of the first one) and the ``whiteSpace`` the built-in implies, then the
attributes of a simple-content type after two spaces. ``max`` is ``n`` for unbounded. A type
named ``…Choice`` is an ``xs:choice``; its alternatives are listed with their own occurrences.

This tool writes that format from a schema, so that a message version without a reference tree
(camt.054.001.04) gets one from its official XSD, and so that two schemas can be compared
element by element (``tests/unit/test_camt054_schemas.py`` does both: it flattens the official
001.02 and 001.08 schemas and compares them with the reference trees, and flattens our
generated schemas and compares them with the official ones). The reference trees abbreviate
code lists longer than twelve values (``MM01,…,MM12,…``); ``--abbreviate 12`` reproduces that,
the default writes every value (what ``tools/iso20022_xsd.py`` needs).

It reads the subset of XSD 1.0 the ISO 20022 message schemas use (one file; global named
types; sequence, choice, any, simpleContent extensions with attributes, restrictions of
built-ins) and stops with a message on anything else rather than guess. It reads local schema
files a developer points it at (ElementTree, no network). Stdlib only; deterministic::

    python tools/xsd_tree.py PATH/TO/camt.054.001.04.xsd > /tmp/camt.054.001.04_tree_typed.txt
    python tools/xsd_tree.py --abbreviate 12 PATH/TO/camt.054.001.02.xsd | diff - \
        ../shared/reference/iso20022/camt.054.001.02_tree_typed.txt
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass

XS_NS = "http://www.w3.org/2001/XMLSchema"
XS = f"{{{XS_NS}}}"
FACETS = ("length", "minLength", "maxLength", "pattern", "enumeration", "totalDigits",
          "fractionDigits", "minInclusive", "maxInclusive", "minExclusive", "maxExclusive")
# whiteSpace of the built-in types (what a restriction inherits when it says nothing)
WHITESPACE = {"string": "preserve", "normalizedString": "replace"}
ANY_LINE = "(any element)"
MAX_DEPTH = 64


class TreeError(SystemExit):
    """The schema uses something this flattener does not know how to write."""


@dataclass
class Schema:
    """The named types and global elements of one XSD file."""

    namespaces: dict[str, str]
    target: str
    elements: list[ET.Element]
    complex_types: dict[str, ET.Element]
    simple_types: dict[str, ET.Element]

    def resolve(self, qname: str) -> tuple[bool, str]:
        """``(is_builtin, local name)`` of a type reference such as ``Max35Text``."""
        prefix, _, local = qname.rpartition(":")
        namespace = self.namespaces.get(prefix, "")
        if namespace == XS_NS:
            return True, local
        if namespace != self.target:
            raise TreeError(f"type {qname!r} is from another namespace ({namespace!r})")
        return False, local


def read_schema(path: str) -> Schema:
    namespaces: dict[str, str] = {}
    root: ET.Element | None = None
    for event, item in ET.iterparse(path, events=("start-ns", "start")):
        if event == "start-ns":
            prefix, uri = item  # type: ignore[misc]
            namespaces.setdefault(prefix, uri)
        elif root is None:
            root = item  # type: ignore[assignment]
    if root is None or root.tag != f"{XS}schema":
        raise TreeError(f"{path}: not an XML schema")
    if root.find(f"{XS}include") is not None or root.find(f"{XS}import") is not None:
        raise TreeError(f"{path}: includes and imports are not supported")
    by_kind: dict[str, dict[str, ET.Element]] = {"complexType": {}, "simpleType": {}}
    elements = []
    for child in root:
        kind = child.tag.removeprefix(XS)
        if kind == "element":
            elements.append(child)
        elif kind in by_kind:
            by_kind[kind][child.attrib["name"]] = child
        elif kind != "annotation":
            raise TreeError(f"{path}: top-level xs:{kind} is not supported")
    return Schema(namespaces, root.get("targetNamespace", ""), elements,
                  by_kind["complexType"], by_kind["simpleType"])


def occurrence(element: ET.Element) -> str:
    low = element.get("minOccurs", "1")
    high = element.get("maxOccurs", "1")
    return f"[{low}..{'n' if high == 'unbounded' else high}]"


def simple_chain(schema: Schema, name: str, abbreviate: int) -> str:
    """``<Max35Text<string> minLength=1 maxLength=35 whiteSpace=preserve`` for a named type."""
    simple = schema.simple_types.get(name)
    if simple is None:
        raise TreeError(f"simple type {name!r} is not defined")
    restriction = simple.find(f"{XS}restriction")
    if restriction is None or len(simple) != 1 + len(simple.findall(f"{XS}annotation")):
        raise TreeError(f"simple type {name!r}: only a restriction is supported")
    builtin, base = schema.resolve(restriction.attrib["base"])
    if not builtin:
        raise TreeError(f"simple type {name!r} restricts {base!r}, not a built-in type")
    facets: list[list[str]] = []
    whitespace = WHITESPACE.get(base, "collapse")
    enumeration: list[str] | None = None
    for facet in restriction:
        kind = facet.tag.removeprefix(XS)
        if kind == "annotation":
            continue
        value = facet.attrib["value"]
        if kind == "whiteSpace":
            whitespace = value
        elif kind == "enumeration":
            if enumeration is None:
                enumeration = []
                facets.append(["enumeration", ""])
            enumeration.append(value)
        elif kind in FACETS:
            facets.append([kind, value])
        else:
            raise TreeError(f"simple type {name!r}: facet xs:{kind} is not supported")
    for facet in facets:
        if facet[0] == "enumeration" and enumeration is not None:
            shown = enumeration if not abbreviate or len(enumeration) <= abbreviate else [
                *enumeration[:abbreviate], "…"]
            facet[1] = ",".join(shown)
    words = [f"{k}={v}" for k, v in facets] + [f"whiteSpace={whitespace}"]
    return f"<{name}<{base}> " + " ".join(words)


def particles(schema: Schema, group: ET.Element, owner: str) -> list[ET.Element]:
    """The elements and wildcards of a sequence or choice, nested compositors flattened."""
    out: list[ET.Element] = []
    for item in group:
        kind = item.tag.removeprefix(XS)
        if kind in ("element", "any"):
            out.append(item)
        elif kind in ("sequence", "choice"):
            if occurrence(item) != "[1..1]":
                raise TreeError(f"type {owner!r}: a repeated or optional xs:{kind} cannot be "
                                "written in the tree format")
            out.extend(particles(schema, item, owner))
        elif kind != "annotation":
            raise TreeError(f"type {owner!r}: xs:{kind} inside a model group is not supported")
    return out


def walk(schema: Schema, element: ET.Element, parent: str, abbreviate: int,
         out: list[str], depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise TreeError(f"{parent}: deeper than {MAX_DEPTH} levels (recursive types?)")
    if element.tag == f"{XS}any":
        out.append(f"{parent}/{ANY_LINE}")
        return
    if "type" not in element.attrib or "name" not in element.attrib:
        raise TreeError(f"{parent}: elements need a name and a named type (no refs, no "
                        "anonymous types)")
    path = f"{parent}/{element.attrib['name']}"
    head = f"{path} {occurrence(element)}"
    builtin, type_name = schema.resolve(element.attrib["type"])
    if builtin:
        raise TreeError(f"{path}: a built-in type ({type_name}) needs a named simple type")
    if type_name in schema.simple_types:
        out.append(f"{head} {simple_chain(schema, type_name, abbreviate)}")
        return
    complex_type = schema.complex_types.get(type_name)
    if complex_type is None:
        raise TreeError(f"{path}: type {type_name!r} is not defined")
    content = [c for c in complex_type if c.tag != f"{XS}annotation"]
    if len(content) == 1 and content[0].tag == f"{XS}simpleContent":
        out.append(f"{head} {simple_content(schema, type_name, content[0], abbreviate)}")
        return
    if len(content) != 1 or content[0].tag not in (f"{XS}sequence", f"{XS}choice"):
        raise TreeError(f"type {type_name!r}: only a sequence, a choice or simple content "
                        "is supported (no attributes on element content)")
    out.append(f"{head} :{type_name}")
    for child in particles(schema, content[0], type_name):
        walk(schema, child, path, abbreviate, out, depth + 1)


def simple_content(schema: Schema, owner: str, content: ET.Element, abbreviate: int) -> str:
    extension = content.find(f"{XS}extension")
    if extension is None:
        raise TreeError(f"type {owner!r}: only simpleContent extensions are supported")
    builtin, base = schema.resolve(extension.attrib["base"])
    if builtin:
        raise TreeError(f"type {owner!r} extends a built-in type directly")
    attributes = []
    for item in extension:
        if item.tag == f"{XS}attribute":
            attributes.append(f"@{item.attrib['name']}")
        elif item.tag != f"{XS}annotation":
            raise TreeError(f"type {owner!r}: {item.tag} in an extension is not supported")
    chain = simple_chain(schema, base, abbreviate)
    return chain + ("  " + " ".join(attributes) if attributes else "")


def flatten(path: str, abbreviate: int = 0) -> str:
    """The typed tree of every global element of the schema at ``path``."""
    schema = read_schema(path)
    out: list[str] = []
    for element in schema.elements:
        walk(schema, element, "", abbreviate, out)
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("schema", help="path of the XSD file")
    parser.add_argument("--abbreviate", type=int, default=0, metavar="N",
                        help="list at most N enumeration values, then '…' (default: all)")
    args = parser.parse_args(argv)
    sys.stdout.write(flatten(args.schema, args.abbreviate))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
