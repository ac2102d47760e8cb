"""Generate our ISO 20022 message schema (e.g. camt.054.001.08) from its typed tree.

The input is a typed tree (one line per element path, in schema order; the format is described
in ``tools/xsd_tree.py``)::

    /Document/BkToCstmrDbtCdtNtfctn/GrpHdr [1..1] :GroupHeader81
    /Document/BkToCstmrDbtCdtNtfctn/GrpHdr/MsgId [1..1] <Max35Text<string> minLength=1 ...
    /Document/.../Ntry/Amt [1..1] <ActiveOrHistoricCurrencyAndAmount_SimpleType<decimal> \
        fractionDigits=5 totalDigits=18 minInclusive=0 whiteSpace=collapse  @Ccy

and the output one XSD 1.0 file for the message's namespace
``urn:iso:std:iso:20022:tech:xsd:<message>`` (elementFormDefault qualified), with the ISO 20022
type names the tree carries: one named complexType per aggregate type (``xs:choice`` when its
name ends in ``Choice`` or it is one of the few choices named otherwise, ``CHOICES_NOT_NAMED_SO``,
else ``xs:sequence``), one named simpleType per leaf type with its
facets in the tree's order, and one simple-content complexType per amount type (the simple
type ``X_SimpleType`` with the attribute ``Ccy``, of type ``ActiveCurrencyCode`` or
``ActiveOrHistoricCurrencyCode`` as the amount's name says, required). Every element, occurrence,
choice and facet of the tree is in the schema, in order; a type name met twice with different
content stops the generator. ``whiteSpace`` facets are not written when they are the built-in's
own (string preserves, the others collapse).

Two things the tree cannot carry are filled in from data in this file:

* the reference trees abbreviate code lists longer than twelve values (``MM01,…,MM12,…``);
  ``CODE_SETS`` holds those code sets in full (ISO 20022 code set values, in the order of the
  published schemas); a truncated list not in ``CODE_SETS``, or one whose shown values differ
  from it, stops the generator;
* ``SupplementaryDataEnvelope1`` is an ``xs:any`` (``(any element)`` in the tree) in the
  published schema, and so it is in ours: one ``xs:any namespace="##any" processContents="lax"``
  inside that envelope, exactly as published, and nowhere else. Supplementary data
  (``SplmtryData``, optional everywhere) is how market practices (a country's or a bank's)
  extend a message; real banks send it, and refusing it would refuse real files the format
  allows. The gateway maps nothing from it (``tests/unit/test_camt054_schemas.py`` pins both).

Stdlib only; the output is deterministic (no timestamp). How the shipped schemas were made
(rerun after changing this script; ``SHARED`` is the ``shared`` folder beside the repository)::

    python tools/iso20022_xsd.py SHARED/reference/iso20022/camt.054.001.02_tree_typed.txt
    python tools/iso20022_xsd.py SHARED/reference/iso20022/camt.054.001.08_tree_typed.txt
    # 001.04 has no reference tree: flatten the official 001.04 XSD into one and generate
    # from that (the derived tree is not kept; it has every code value, nothing to complete)
    python tools/xsd_tree.py SHARED/corpus/camt054/official-xsd/camt.054.001.04.xsd \\
        | python tools/iso20022_xsd.py - --message camt.054.001.04

Each writes ``schemas/iso20022/camt054-001.NN/camt.054.001.NN.xsd`` (``--out`` to write
elsewhere). The message id comes from the tree's file name or ``--message``.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

ISO_NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MESSAGE_RE = re.compile(r"([a-z]{4})\.(\d{3})\.(\d{3})\.(\d{2})")
LINE_RE = re.compile(
    r"^(?P<path>/\S+) \[(?P<min>\d+)\.\.(?P<max>\d+|n)\]"
    r"(?: :(?P<complex>\S+)| <(?P<simple>[^<\s]+)<(?P<base>[^>\s]+)>(?P<facets>.*?)"
    r"(?:  (?P<attrs>@.*))?)\s*$"
)
ANY = "(any element)"
BUILTINS = {"string", "decimal", "date", "dateTime", "boolean", "gYearMonth", "time", "gYear"}
DEFAULT_WHITESPACE = {"string": "preserve"}
FACETS = ("length", "minLength", "maxLength", "pattern", "enumeration", "totalDigits",
          "fractionDigits", "minInclusive", "maxInclusive", "minExclusive", "maxExclusive",
          "whiteSpace")
# The attribute of an amount type: its currency code type, from the amount type's name.
AMOUNT_RE = re.compile(r"^(Active(?:OrHistoric)?Currency)And\w*Amount$")
CURRENCY_CODE_FACETS = (("pattern", "[A-Z]{3,3}"), ("whiteSpace", "preserve"))

# Choices whose ISO 20022 name does not end in "Choice" (the tree cannot show a compositor).
CHOICES_NOT_NAMED_SO = frozenset({"CashAccountType2", "CashBalanceAvailabilityDate1"})

# ISO 20022 code sets that the reference trees abbreviate after twelve values (complete).
CODE_SETS: dict[str, tuple[str, ...]] = {
    "CashAccountType4Code": (
        "CASH", "CHAR", "COMM", "TAXE", "CISH", "TRAS", "SACC", "CACC", "SVGS", "ONDP", "MGLD",
        "NREX", "MOMA", "LOAN", "SLRY", "ODFT"),
    "DocumentType5Code": (
        "MSIN", "CNFA", "DNFA", "CINV", "CREN", "DEBN", "HIRI", "SBIN", "CMCN", "SOAC", "DISP",
        "BOLD", "VCHR", "AROI", "TSUT"),
    "DocumentType6Code": (
        "MSIN", "CNFA", "DNFA", "CINV", "CREN", "DEBN", "HIRI", "SBIN", "CMCN", "SOAC", "DISP",
        "BOLD", "VCHR", "AROI", "TSUT", "PUOR"),
    "TaxRecordPeriod1Code": (
        "MM01", "MM02", "MM03", "MM04", "MM05", "MM06", "MM07", "MM08", "MM09", "MM10", "MM11",
        "MM12", "QTR1", "QTR2", "QTR3", "QTR4", "HLF1", "HLF2"),
    "UnitOfMeasure1Code": (
        "PIEC", "TONS", "FOOT", "GBGA", "USGA", "GRAM", "INCH", "KILO", "PUND", "METR", "CMET",
        "MMET", "LITR", "CELI", "MILI", "GBOU", "USOU", "GBQA", "USQA", "GBPI", "USPI", "MILE",
        "KMET", "YARD", "SQKI", "HECT", "ARES", "SMET", "SCMT", "SMIL", "SQMI", "SQYA", "SQFO",
        "SQIN", "ACRE"),
}


def fail(message: str) -> SystemExit:
    return SystemExit(f"iso20022_xsd: {message}")


@dataclass
class Node:
    path: str
    name: str
    min: str = "1"
    max: str = "1"
    complex: str | None = None            # aggregate type name
    simple: str | None = None             # leaf simple type name
    base: str | None = None
    facets: tuple[tuple[str, str], ...] = ()
    attrs: tuple[str, ...] = ()
    wildcard: bool = False
    children: list[Node] = field(default_factory=list)

    @property
    def type_ref(self) -> str:
        """The type this element is declared with in its parent's content."""
        if self.complex:
            return self.complex
        assert self.simple is not None
        return amount_type(self.simple, self.path) if self.attrs else self.simple


def amount_type(simple: str, where: str) -> str:
    if not simple.endswith("_SimpleType"):
        raise fail(f"{where}: attributes on {simple!r}, which is not an X_SimpleType")
    return simple.removesuffix("_SimpleType")


def parse_facets(text: str, lineno: int, simple: str) -> tuple[tuple[str, str], ...]:
    facets: list[tuple[str, str]] = []
    for word in text.split():
        key, sep, value = word.partition("=")
        if not sep or key not in FACETS:
            raise fail(f"line {lineno}: cannot read facet {word!r}")
        if key == "enumeration":
            facets.extend(("enumeration", v) for v in complete_enumeration(simple, value, lineno))
        else:
            facets.append((key, value))
    return tuple(facets)


def complete_enumeration(simple: str, value: str, lineno: int) -> list[str]:
    values = value.split(",")
    if values[-1] != "…":
        return values
    shown, full = values[:-1], CODE_SETS.get(simple)
    if full is None or list(full[:len(shown)]) != shown or len(full) <= len(shown):
        raise fail(f"line {lineno}: the code list of {simple} is abbreviated and CODE_SETS "
                   "does not complete it; generate the tree with tools/xsd_tree.py instead")
    return list(full)


def parse_tree(text: str) -> Node:
    root: Node | None = None
    by_path: dict[str, Node] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("/" + ANY):
            parent_path = line.removesuffix("/" + ANY)
            node = Node(path=line, name=ANY, wildcard=True)
        else:
            m = LINE_RE.match(line)
            if m is None or m["min"] is None:
                raise fail(f"line {lineno}: cannot parse {line!r}")
            parent_path, _, name = m["path"].rpartition("/")
            simple, base = m["simple"], m["base"]
            if base is not None and base not in BUILTINS:
                raise fail(f"line {lineno}: unknown built-in type {base!r}")
            node = Node(
                path=m["path"], name=name, min=m["min"],
                max="unbounded" if m["max"] == "n" else m["max"],
                complex=m["complex"], simple=simple, base=base,
                facets=parse_facets(m["facets"] or "", lineno, simple) if simple else (),
                attrs=tuple(a.lstrip("@") for a in (m["attrs"] or "").split()),
            )
        if node.path in by_path:
            raise fail(f"line {lineno}: duplicate path {node.path}")
        by_path[node.path] = node
        if not parent_path:
            if root is not None:
                raise fail(f"line {lineno}: second root element {node.path}")
            root = node
            continue
        parent = by_path.get(parent_path)
        if parent is None or parent.complex is None:
            raise fail(f"line {lineno}: {node.path} is not below an aggregate seen before")
        parent.children.append(node)
    if root is None or root.complex is None:
        raise fail("the tree has no root aggregate")
    return root


# ------------------------------------------------------------------------------ types


@dataclass
class Types:
    complex: dict[str, tuple[str, tuple[tuple[str, str, str, str], ...]]] = field(
        default_factory=dict)      # name -> (compositor, ((child, type, min, max), ...))
    simple: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = field(default_factory=dict)
    amounts: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = field(default_factory=dict)

    def define(self, table: dict, name: str, value: object, where: str) -> None:
        known = table.setdefault(name, value)
        if known != value:
            raise fail(f"{where}: type {name} differs from its first use")


def collect(node: Node, types: Types) -> None:
    if node.wildcard:
        return
    if node.complex is None:
        assert node.simple is not None and node.base is not None
        types.define(types.simple, node.simple, (node.base, node.facets), node.path)
        if node.attrs:
            name = amount_type(node.simple, node.path)
            attrs = tuple((a, currency_code_type(name, a, node.path)) for a in node.attrs)
            types.define(types.amounts, name, (node.simple, attrs), node.path)
        return
    is_choice = node.complex.endswith("Choice") or node.complex in CHOICES_NOT_NAMED_SO
    compositor = "choice" if is_choice else "sequence"
    children = tuple(("*", ANY, "1", "1") if c.wildcard else (c.name, c.type_ref, c.min, c.max)
                     for c in node.children)
    if not children:
        raise fail(f"{node.path}: aggregate {node.complex} without children")
    if any(c[0] == "*" for c in children) and len(children) > 1:
        raise fail(f"{node.path}: a wildcard next to elements is not supported")
    types.define(types.complex, node.complex, (compositor, children), node.path)
    for child in node.children:
        collect(child, types)


def currency_code_type(amount: str, attribute: str, where: str) -> str:
    m = AMOUNT_RE.match(amount)
    if attribute != "Ccy" or m is None:
        raise fail(f"{where}: unknown attribute @{attribute} of {amount}")
    return f"{m.group(1)}Code"


def add_attribute_types(types: Types) -> None:
    for _, attrs in types.amounts.values():
        for _, code_type in attrs:
            types.define(types.simple, code_type, ("string", CURRENCY_CODE_FACETS),
                         f"attribute type {code_type}")


# ----------------------------------------------------------------------------- output


def occurs(low: str, high: str) -> str:
    return (f' minOccurs="{low}"' if low != "1" else "") + (
        f' maxOccurs="{high}"' if high != "1" else "")


def emit_complex(w, name: str, compositor: str,  # type: ignore[no-untyped-def]
                 children: tuple[tuple[str, str, str, str], ...]) -> None:
    w(f'    <xs:complexType name="{name}">')
    if children[0][0] == "*":
        w("        <!-- as published: the one wildcard, market-practice extensions -->")
        w("        <xs:sequence>")
        w('            <xs:any namespace="##any" processContents="lax"/>')
        w("        </xs:sequence>")
    else:
        w(f"        <xs:{compositor}>")
        for child, type_name, low, high in children:
            w(f'            <xs:element name="{child}" type="{type_name}"{occurs(low, high)}/>')
        w(f"        </xs:{compositor}>")
    w("    </xs:complexType>")


def emit_simple(w, name: str, base: str,  # type: ignore[no-untyped-def]
                facets: tuple[tuple[str, str], ...]) -> None:
    written = [(k, v) for k, v in facets
               if not (k == "whiteSpace" and v == DEFAULT_WHITESPACE.get(base, "collapse"))]
    w(f'    <xs:simpleType name="{name}">')
    if written:
        w(f'        <xs:restriction base="xs:{base}">')
        for key, value in written:
            w(f"            <xs:{key} value={quoteattr(value)}/>")
        w("        </xs:restriction>")
    else:
        w(f'        <xs:restriction base="xs:{base}"/>')
    w("    </xs:simpleType>")


def emit_amount(w, name: str, simple: str,  # type: ignore[no-untyped-def]
                attrs: tuple[tuple[str, str], ...]) -> None:
    w(f'    <xs:complexType name="{name}">')
    w("        <xs:simpleContent>")
    w(f'            <xs:extension base="{simple}">')
    for attribute, type_name in attrs:
        w(f'                <xs:attribute name="{attribute}" type="{type_name}" use="required"/>')
    w("            </xs:extension>")
    w("        </xs:simpleContent>")
    w("    </xs:complexType>")


def generate(tree_text: str, message: str, source_name: str) -> str:
    """The schema text of ``message`` (e.g. ``camt.054.001.08``) for a typed tree."""
    root = parse_tree(tree_text)
    types = Types()
    collect(root, types)
    add_attribute_types(types)
    clash = (set(types.complex) | set(types.amounts)) & set(types.simple)
    if clash or set(types.complex) & set(types.amounts):
        raise fail(f"type names used for two kinds of type: {sorted(clash)}")
    namespace = ISO_NAMESPACE + message
    out: list[str] = []
    w = out.append
    w('<?xml version="1.0" encoding="UTF-8"?>')
    w("<!--")
    w(f"  ISO 20022 {message} - the gateway's own schema, namespace {namespace}")
    w(f"  GENERATED by tools/iso20022_xsd.py from the typed tree {escape(source_name)}.")
    w("  DO NOT EDIT BY HAND: change the script or the tree and rerun it (see its docstring).")
    w(f"  {len(types.complex)} aggregate types, {len(types.amounts)} amount types, "
      f"{len(types.simple)} simple types.")
    w("  Strict: the one wildcard is the supplementary data envelope's xs:any, as published")
    w("  (in the versions that have one).")
    w("-->")
    w(f'<xs:schema xmlns="{namespace}" xmlns:xs="http://www.w3.org/2001/XMLSchema" '
      f'elementFormDefault="qualified" targetNamespace="{namespace}">')
    w(f'    <xs:element name="{root.name}" type="{root.complex}"/>')
    emitters = {**{n: (emit_complex, v) for n, v in types.complex.items()},
                **{n: (emit_amount, v) for n, v in types.amounts.items()},
                **{n: (emit_simple, v) for n, v in types.simple.items()}}
    for name in sorted(emitters):
        emitter, value = emitters[name]
        emitter(w, name, *value)
    w("</xs:schema>")
    return "\n".join(out) + "\n"


def default_out(message: str) -> str:
    family = message.rsplit(".", 2)[0].replace(".", "")          # camt.054 -> camt054
    version = ".".join(message.split(".")[2:])                   # 001.08
    return os.path.join(REPO, "schemas", "iso20022", f"{family}-{version}", f"{message}.xsd")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tree", help="typed tree file, or - for standard input")
    parser.add_argument("--message", help="message id, e.g. camt.054.001.04 "
                        "(default: from the tree's file name)")
    parser.add_argument("--out", help="schema file to write (default: "
                        "schemas/iso20022/<family>-<version>/<message>.xsd)")
    args = parser.parse_args(argv)
    found = MESSAGE_RE.search(args.message or os.path.basename(args.tree))
    if found is None:
        raise fail("name the message with --message (e.g. camt.054.001.04)")
    message = found.group(0)
    if args.tree == "-":
        text, source = sys.stdin.read(), f"{message} (tools/xsd_tree.py of the official XSD)"
    else:
        with open(args.tree, encoding="utf-8") as fh:
            text, source = fh.read(), os.path.basename(args.tree)
    schema = generate(text, message, source)
    out = args.out or default_out(message)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(schema)
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
