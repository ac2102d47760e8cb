"""Generate the WCO Data Model 3.6 DEC ``Declaration`` XSD from the typed DEC tree.

The input is the typed tree of the WCO DM 3.6 DEC declaration (one line per element, in
schema order)::

    /Declaration/FunctionCode [1..1] <CodeType<token<...> maxLength=2 pattern=([0-9])* \
        enumeration=9,13,14 whiteSpace=collapse ...  @listID @listAgencyID ...

i.e. ``path [min..max] <type chain> facets  @attributes``; lines without a type chain are
aggregates, lines starting with ``#`` are comments. The output is an XSD 1.0 schema for the
namespace ``urn:wco:datamodel:WCO:DEC-DMS:2`` (elementFormDefault qualified) that covers the
whole tree: every element in order with its occurrences, every facet, and the attributes of
each leaf (all optional).

Leaves that the official WCO DMS schema declares in the data-set namespace
``urn:wco:datamodel:WCO:Declaration_DS:DMS:2`` rather than in DEC-DMS (``DATA_SET_LEAVES``:
``DateTimeString``, under ``IssueDateTime``, ``AcceptanceDateTime`` ... whose elements stay in
DEC-DMS) go to a second, small schema for that namespace, ``WCO_Declaration_DS_DMS_2.xsd``: one
global element each, with its type and facets, that the DEC schema imports (relative path) and
references (``<xs:element ref="ds:DateTimeString"/>``). The tree lists such a leaf under its DEC
parents; all its occurrences must have the same facets and attributes (one global element has
one type), else the generator stops.

To keep the schema small and readable it is built from named types:

* one named simpleType per distinct (kind, facets) combination, e.g. ``Text70ContentType``,
  ``CodeAlpha2ContentType`` (exactly two letters), ``Amount16_3ContentType``; kinds that carry
  no attributes (``Numeric``) get plain names such as ``Numeric5_0Type``;
* one named complexType with simpleContent per (simpleType, attribute set), e.g.
  ``Text70Type`` = ``Text70ContentType`` + ``@languageID``; attribute sets are attributeGroups;
* one named complexType per aggregate, named after the element (``AddressType``); aggregates
  with the same name and the same structure share the type, a differing structure gets the
  parent's name as prefix (``GoodsLocationAddressType``); the date-time wrappers (a single
  ``DateTimeString`` child) all share ``DateTimeType``.

``whiteSpace`` facets are not written: they are implied by the base type (token collapses,
string preserves, decimal collapses). The output is deterministic (no timestamp).

Rerun after changing this script or the tree (stdlib only); it writes both files into the
output folder (``--out-dir``, default ``schemas/wco/dec-3.6`` of this repository)::

    python tools/wco_xsd.py PATH/TO/WCO_DEC_2_DMS_tree_typed.txt
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

NAMESPACE = "urn:wco:datamodel:WCO:DEC-DMS:2"
PREFIX = "dec"
DEC_FILE = "WCO_DEC_DMS_2.xsd"
# The WCO data-set namespace of the DEC: the official DMS schema declares some leaves there.
DATA_SET_NAMESPACE = "urn:wco:datamodel:WCO:Declaration_DS:DMS:2"
DATA_SET_PREFIX = "ds"
DATA_SET_FILE = "WCO_Declaration_DS_DMS_2.xsd"
DATA_SET_LEAVES = frozenset({"DateTimeString"})
DEFAULT_OUT_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                               "schemas", "wco", "dec-3.6")

# Kind of a leaf, found from the first known name in its type chain: kind -> XSD base type.
KINDS: dict[str, str] = {
    "CodeType": "xs:token",
    "TextType": "xs:string",
    "IDType": "xs:string",
    "DateTimeType": "xs:string",
    "AmountType": "xs:decimal",
    "QuantityType": "xs:decimal",
    "MeasureType": "xs:decimal",
    "NumericType": "xs:decimal",
}
KIND_NAMES = {
    "CodeType": "Code",
    "TextType": "Text",
    "IDType": "ID",
    "DateTimeType": "DateTimeString",
    "AmountType": "Amount",
    "QuantityType": "Quantity",
    "MeasureType": "Measure",
    "NumericType": "Numeric",
}
# Fallback when a chain names no known kind: its XSD built-in base.
BASE_FALLBACK = {"string": "xs:string", "token": "xs:token", "decimal": "xs:decimal"}

# Patterns of the tree with a short name used in type names and the documentation.
KNOWN_PATTERNS = {
    r".*[^\s].*": ("", "an"),  # anything that is not blank
    r"([a-zA-Z])*": ("Alpha", "a"),
    r"([0-9])*": ("Numeric", "n"),
}
DATETIME_PATTERN = r"(20\d{6})(\d{6}(Z|[-+]\d\d))?"

FACET_ORDER = ("length", "maxLength", "pattern", "enumeration", "totalDigits", "fractionDigits")
IGNORED_FACETS = {"whiteSpace"}

LINE_RE = re.compile(
    r"^(?P<path>/\S+) \[(?P<min>\d+)\.\.(?P<max>\d+|n)\]"
    r"(?: <(?P<chain>\S+))?(?P<facets>.*?)(?:\s+@(?P<attrs>.*))?\s*$"
)
FACET_RE = re.compile(r"(\w+)=(\S+)")


@dataclass
class Node:
    path: str
    name: str
    min: int
    max: str  # "1", "999", "unbounded"
    chain: str | None = None
    facets: tuple[tuple[str, str], ...] = ()
    attrs: tuple[str, ...] = ()
    children: list[Node] = field(default_factory=list)
    type_name: str = ""  # assigned later

    @property
    def is_leaf(self) -> bool:
        return self.chain is not None


def attribute_type(name: str) -> str:
    """XSD type of a supplementary attribute (all are optional)."""
    if name.endswith("URI"):
        return "xs:anyURI"
    if name == "name" or name.endswith("Name"):
        return "xs:string"
    return "xs:token"


def parse_tree(text: str) -> Node:
    root: Node | None = None
    by_path: dict[str, Node] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        if not line or line.startswith("#"):
            continue
        m = LINE_RE.match(line)
        if not m:
            raise SystemExit(f"line {lineno}: cannot parse: {line!r}")
        path = m["path"]
        facets: list[tuple[str, str]] = []
        for key, value in FACET_RE.findall(m["facets"] or ""):
            if key in IGNORED_FACETS:
                continue
            if key not in FACET_ORDER:
                raise SystemExit(f"line {lineno}: unknown facet {key!r}")
            facets.append((key, value))
        node = Node(
            path=path,
            name=path.rsplit("/", 1)[1],
            min=int(m["min"]),
            max={"n": "unbounded"}.get(m["max"], m["max"]),
            chain=m["chain"],
            facets=tuple(facets),
            attrs=tuple(a.lstrip("@") for a in (m["attrs"] or "").split()),
        )
        if path in by_path:
            raise SystemExit(f"line {lineno}: duplicate path {path}")
        parent_path = path.rsplit("/", 1)[0]
        if parent_path:
            parent = by_path.get(parent_path)
            if parent is None:
                raise SystemExit(f"line {lineno}: parent of {path} not seen yet")
            if parent.is_leaf:
                raise SystemExit(f"line {lineno}: {parent_path} has a type and children")
            if any(c.name == node.name for c in parent.children):
                raise SystemExit(f"line {lineno}: {node.name} repeated under {parent_path}")
            parent.children.append(node)
        elif root is None:
            root = node
        else:
            raise SystemExit(f"line {lineno}: second root {path}")
        by_path[path] = node
    if root is None:
        raise SystemExit("no elements found")
    for node in by_path.values():
        if not node.is_leaf and not node.children:
            raise SystemExit(f"{node.path}: neither a type nor children")
    return root


# --------------------------------------------------------------------------- leaf types


@dataclass
class SimpleType:
    name: str
    base: str
    facets: tuple[tuple[str, str], ...]
    doc: str


@dataclass
class LeafType:
    name: str
    simple: SimpleType
    attrs: tuple[str, ...]
    group: str | None  # attributeGroup name when there are two or more attributes


class Registry:
    def __init__(self) -> None:
        self.simple: dict[tuple, SimpleType] = {}
        self.leaf: dict[tuple, LeafType] = {}
        self.groups: dict[tuple[str, ...], str] = {}
        self.aggregates: dict[tuple, str] = {}  # (name, structure) -> type name
        self.aggregate_order: list[tuple[str, Node]] = []  # (type name, first node)
        self.used_names: set[str] = set()
        # data-set registry only: global element name -> its type name
        self.global_elements: dict[str, str] = {}

    def unique(self, wanted: str) -> str:
        name, n = wanted, 2
        while name in self.used_names:
            name = f"{wanted[:-4]}{n}Type" if wanted.endswith("Type") else f"{wanted}{n}"
            n += 1
        self.used_names.add(name)
        return name


def leaf_kind(chain: str) -> tuple[str, str]:
    """Return (kind stem for names, XSD base) for a type chain such as A<B<decimal."""
    parts = chain.split("<")
    for part in parts:
        if part in KINDS:
            return KIND_NAMES[part], KINDS[part]
    for part in parts:
        if part.endswith("NumericType"):
            return "Numeric", "xs:decimal"
    base = BASE_FALLBACK.get(parts[-1])
    if base is None:
        raise SystemExit(f"unknown type chain {chain!r}")
    return parts[0].removesuffix("Type") or "Value", base


def describe(kind: str, base: str, facets: dict[str, list[str]]) -> tuple[str, str]:
    """Return (name stem, format documentation) for a facet combination.

    The documentation uses the usual customs notation: ``an..70`` up to 70 characters,
    ``a2`` exactly two letters, ``n..2`` up to two digits, ``n..16,3`` decimals.
    """
    if base == "xs:decimal":
        digits = facets.get("totalDigits", [""])[0]
        frac = facets.get("fractionDigits", [""])[0]
        if digits and frac:
            return f"{kind}{digits}_{frac}", f"n..{digits},{frac}"
        if digits:
            return f"{kind}{digits}", f"n..{digits}"
        return kind, "decimal, no limits"
    length = facets.get("length", [""])[0]
    max_len = facets.get("maxLength", [""])[0]
    patterns = facets.get("pattern", [])
    enums = facets.get("enumeration", [])
    if patterns == [DATETIME_PATTERN] and not enums and not length:
        return kind, f"YYYYMMDD or YYYYMMDDhhmmss(Z|+hh|-hh), an..{max_len}"
    if not patterns or (len(patterns) == 1 and patterns[0] in KNOWN_PATTERNS):
        word, letter = KNOWN_PATTERNS[patterns[0]] if patterns else ("", "an")
        size = length or (f"..{max_len}" if max_len else "")
        fmt = f"{letter}{size}"
    else:
        word = "Pattern"
        fmt = "pattern " + " | ".join(patterns) + (f", max. {max_len}" if max_len else "")
    if enums:
        return f"{kind}{word}Enum{'_'.join(enums)}", f"{fmt}, one of {', '.join(enums)}"
    if length:
        stem = f"{kind}{word or 'Exactly'}{length}"
    elif max_len:
        stem = f"{kind}{word}{'UpTo' if word else ''}{max_len}"
    else:
        stem = f"{kind}{word}"
    return stem, fmt


def register_leaf(reg: Registry, node: Node) -> str:
    assert node.chain is not None
    kind, base = leaf_kind(node.chain)
    facets: dict[str, list[str]] = {}
    for key, value in node.facets:
        values = value.split(",") if key == "enumeration" else [value]
        facets.setdefault(key, []).extend(values)
    ordered = tuple((k, v) for k in FACET_ORDER for v in facets.get(k, []))
    attrs = node.attrs
    skey = (kind, base, ordered)
    stem, fmt = describe(kind, base, facets)
    simple = reg.simple.get(skey)
    if simple is None:
        wanted = f"{stem}ContentType" if attrs else f"{stem}Type"
        simple = SimpleType(reg.unique(wanted), base, ordered, fmt)
        reg.simple[skey] = simple
    if not attrs:
        return simple.name
    lkey = (simple.name, attrs)
    leaf = reg.leaf.get(lkey)
    if leaf is None:
        group = reg.groups.get(attrs)
        if group is None and len(attrs) > 1:
            group = reg.unique(f"{kind}Attributes")
            reg.groups[attrs] = group
        leaf = LeafType(reg.unique(f"{stem}Type"), simple, attrs, group)
        reg.leaf[lkey] = leaf
    return leaf.name


# ----------------------------------------------------------------------- aggregate types


def name_aggregates(node: Node, parent: Node | None, reg: Registry, sigs: dict[str, tuple]):
    """Assign aggregate type names in document order (pre-order)."""
    if node.is_leaf:
        return
    child_names = [c.name for c in node.children]
    # Share a type between elements of the same name and structure; the date-time
    # wrappers share one type whatever their name.
    shared_by_all = child_names == ["DateTimeString"]
    sig = ("*" if shared_by_all else node.name, sigs[node.path])
    if sig in reg.aggregates:
        node.type_name = reg.aggregates[sig]
    else:
        if shared_by_all:
            wanted = "DateTimeType"
        elif f"{node.name}Type" not in reg.used_names:
            wanted = f"{node.name}Type"
        else:
            wanted = f"{parent.name if parent else ''}{node.name}Type"
        node.type_name = reg.unique(wanted)
        reg.aggregates[sig] = node.type_name
        reg.aggregate_order.append((node.type_name, node))
    for child in node.children:
        name_aggregates(child, node, reg, sigs)


def collect_signatures(
    node: Node, reg: Registry, data_set: Registry, sigs: dict[str, tuple]
) -> tuple:
    if node.is_leaf and node.name in DATA_SET_LEAVES:
        node.type_name = register_leaf(data_set, node)
        first = data_set.global_elements.setdefault(node.name, node.type_name)
        if first != node.type_name:
            raise SystemExit(f"{node.path}: {node.name} is a global element of the data-set "
                             f"namespace, but its facets differ from those of type {first}")
        sig: tuple = ("data-set", node.name)
    elif node.is_leaf:
        node.type_name = register_leaf(reg, node)
        sig = ("leaf", node.type_name)
    else:
        sig = (
            "agg",
            tuple(
                (c.name, c.min, c.max, collect_signatures(c, reg, data_set, sigs))
                for c in node.children
            ),
        )
    sigs[node.path] = sig
    return sig


# ------------------------------------------------------------------------------ output


def occurs(node: Node) -> str:
    out = ""
    if node.min != 1:
        out += f' minOccurs="{node.min}"'
    if node.max != "1":
        out += f' maxOccurs="{node.max}"'
    return out


def child_declaration(node: Node) -> str:
    """The xs:element of a child in its parent's sequence (a reference for data-set leaves)."""
    if node.is_leaf and node.name in DATA_SET_LEAVES:
        return f'<xs:element ref="{DATA_SET_PREFIX}:{node.name}"{occurs(node)}/>'
    return f'<xs:element name="{node.name}" type="{PREFIX}:{node.type_name}"{occurs(node)}/>'


def schema_start(namespace: str, prefix: str, extra_ns: str = "") -> str:
    return (
        f'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:{prefix}="{namespace}"'
        f'{extra_ns} targetNamespace="{namespace}" elementFormDefault="qualified"'
        ' attributeFormDefault="unqualified" version="3.6">'
    )


def emit_leaf_types(w, reg: Registry, prefix: str) -> None:  # type: ignore[no-untyped-def]
    """Leaf complexTypes, attribute groups and content simpleTypes of one registry."""
    w("  <!-- Leaves: simple content with optional supplementary attributes -->")
    for leaf in sorted(reg.leaf.values(), key=lambda t: t.name):
        w(f'  <xs:complexType name="{leaf.name}">')
        w("    <xs:simpleContent>")
        w(f'      <xs:extension base="{prefix}:{leaf.simple.name}">')
        if leaf.group:
            w(f'        <xs:attributeGroup ref="{prefix}:{leaf.group}"/>')
        else:
            for a in leaf.attrs:
                w(f'        <xs:attribute name="{a}" type="{attribute_type(a)}" use="optional"/>')
        w("      </xs:extension>")
        w("    </xs:simpleContent>")
        w("  </xs:complexType>")
    if reg.groups:
        w("")
        w("  <!-- Supplementary attributes (all optional) -->")
    for attrs, group in sorted(reg.groups.items(), key=lambda kv: kv[1]):
        w(f'  <xs:attributeGroup name="{group}">')
        for a in attrs:
            w(f'    <xs:attribute name="{a}" type="{attribute_type(a)}" use="optional"/>')
        w("  </xs:attributeGroup>")
    w("")
    w("  <!-- Content types: one per distinct facet combination -->")
    for st in sorted(reg.simple.values(), key=lambda t: t.name):
        w(f'  <xs:simpleType name="{st.name}">')
        doc = f"<xs:documentation>{escape(st.doc)}</xs:documentation>"
        w(f"    <xs:annotation>{doc}</xs:annotation>")
        if st.facets:
            w(f'    <xs:restriction base="{st.base}">')
            for key, value in st.facets:
                w(f"      <xs:{key} value={quoteattr(value)}/>")
            w("    </xs:restriction>")
        else:
            w(f'    <xs:restriction base="{st.base}"/>')
        w("  </xs:simpleType>")


def regenerate_comment(w, source_name: str) -> None:  # type: ignore[no-untyped-def]
    # (no double hyphen: it may not appear in an XML comment)
    w("  GENERATED by tools/wco_xsd.py from the WCO DM 3.6 DEC tree")
    w(f"  ({escape(source_name)}). DO NOT EDIT BY HAND: change the script or the tree, then")
    w("      python tools/wco_xsd.py PATH/TO/WCO_DEC_2_DMS_tree_typed.txt")
    w(f"  which rewrites {DEC_FILE} and {DATA_SET_FILE} in schemas/wco/dec-3.6.")


def emit(root: Node, reg: Registry, data_set: Registry, source_name: str,
         counts: dict[str, int]) -> str:
    out: list[str] = []
    w = out.append
    w('<?xml version="1.0" encoding="UTF-8"?>')
    w("<!--")
    w("  WCO Data Model 3.6 - DEC Declaration schema")
    w(f"  namespace {NAMESPACE}")
    w("")
    regenerate_comment(w, source_name)
    w("")
    w(
        f"  {counts['elements']} elements ({counts['leaves']} leaves), "
        f"{len(reg.aggregate_order)} aggregate types, {len(reg.leaf)} leaf types, "
        f"{len(reg.simple)} simple types."
    )
    w("  Leaf types: <Kind><size>Type (complexType = <Kind><size>ContentType + attributes);")
    w("  sizes: 70 = up to 70 characters, Alpha2 = exactly 2 letters, NumericUpTo2 = up to")
    w("  2 digits, 16_3 = 16 digits of which 3 after the decimal point.")
    w("  whiteSpace is implied by the base type (token: collapse, string: preserve).")
    if data_set.global_elements:
        names = ", ".join(sorted(data_set.global_elements))
        w(f"  {names}: declared in the data-set namespace {DATA_SET_NAMESPACE}")
        w(f"  ({DATA_SET_FILE}, imported), as the official WCO DMS schema does.")
    w("-->")
    w(schema_start(NAMESPACE, PREFIX, f' xmlns:{DATA_SET_PREFIX}="{DATA_SET_NAMESPACE}"'
                   if data_set.global_elements else ""))
    if data_set.global_elements:
        w("")
        w(f'  <xs:import namespace="{DATA_SET_NAMESPACE}" schemaLocation="{DATA_SET_FILE}"/>')
    w("")
    w(f'  <xs:element name="{root.name}" type="{PREFIX}:{root.type_name}"/>')
    w("")
    w("  <!-- Aggregates, in document order -->")
    for type_name, node in reg.aggregate_order:
        w(f'  <xs:complexType name="{type_name}">')
        w("    <xs:sequence>")
        for c in node.children:
            w(f"      {child_declaration(c)}")
        w("    </xs:sequence>")
        w("  </xs:complexType>")
    w("")
    emit_leaf_types(w, reg, PREFIX)
    w("</xs:schema>")
    return "\n".join(out) + "\n"


def emit_data_set(data_set: Registry, source_name: str) -> str:
    out: list[str] = []
    w = out.append
    w('<?xml version="1.0" encoding="UTF-8"?>')
    w("<!--")
    w("  WCO Data Model 3.6 - DEC data-set leaves")
    w(f"  namespace {DATA_SET_NAMESPACE}")
    w("")
    w("  The leaves the official WCO DMS schema declares in this namespace while their parent")
    w(f"  elements stay in {NAMESPACE}; imported by {DEC_FILE}.")
    w("")
    regenerate_comment(w, source_name)
    w("-->")
    w(schema_start(DATA_SET_NAMESPACE, DATA_SET_PREFIX))
    w("")
    for name, type_name in sorted(data_set.global_elements.items()):
        w(f'  <xs:element name="{name}" type="{DATA_SET_PREFIX}:{type_name}"/>')
    w("")
    emit_leaf_types(w, data_set, DATA_SET_PREFIX)
    w("</xs:schema>")
    return "\n".join(out) + "\n"


def generate(tree_text: str, source_name: str) -> dict[str, str]:
    """The schema files (file name -> text) for a typed tree: the DEC schema and, when the
    tree has data-set leaves, the data-set schema it imports."""
    root = parse_tree(tree_text)
    reg, data_set = Registry(), Registry()
    sigs: dict[str, tuple] = {}
    collect_signatures(root, reg, data_set, sigs)
    # Leaf type names were reserved first; aggregates may not reuse them.
    name_aggregates(root, None, reg, sigs)
    counts = {"elements": len(sigs),
              "leaves": sum(1 for s in sigs.values() if s[0] in ("leaf", "data-set"))}
    files = {DEC_FILE: emit(root, reg, data_set, source_name, counts)}
    if data_set.global_elements:
        files[DATA_SET_FILE] = emit_data_set(data_set, source_name)
    return files


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("tree", help="path of WCO_DEC_2_DMS_tree_typed.txt")
    ap.add_argument("--out-dir", default=DEFAULT_OUT_DIR,
                    help="folder to write the schema files into (default: %(default)s)")
    args = ap.parse_args(argv)
    with open(args.tree, encoding="utf-8") as fh:
        text = fh.read()
    for name, content in generate(text, os.path.basename(args.tree)).items():
        with open(os.path.join(args.out_dir, name), "w", encoding="utf-8", newline="\n") as fh:
            fh.write(content)
        print(f"wrote {os.path.join(args.out_dir, name)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
