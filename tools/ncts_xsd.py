"""Generate our NCTS phase 5 message schemas (``schemas/ncts/p5/``) from typed trees.

A typed tree says, one line per element in schema order, what a message holds: the element's
name, its occurrences, and its type — an aggregate (a named complex type whose children follow,
indented by two spaces) or a leaf (a named simple type with the chain of types it restricts
and the facets of each step)::

    CC015C : CC015CType
      (group MESSAGE)
      messageSender [1..1]  : MessageSenderContentType<xs:token>pattern=.{1,35}
      ...
      TransitOperation [1..1]  : TransitOperationType06
        LRN [1..1]  : LRNContentType03<AlphaNumeric_MAX22_NoSpaces<AlphaNumType<xs:normali…
      ...
      @PhaseID : phaseIDtype<xs:token>enum[NCTS5.1,NCTS5.0]

``T<B>facets`` reads "T restricts B with these facets", ``B`` being a built-in (``xs:token``)
or another such chain; several ``pattern=`` of one step are alternatives (one XSD
restriction step), ``enum[a,b]`` lists enumeration values. ``(group MESSAGE)`` opens a named
group (the message header) holding the leaves that follow it, up to the first aggregate.
``@name : type`` is an (optional) attribute of the element above. Lines starting with ``#``
are comments; ``################ NAME`` starts the next tree of a file holding several.

That is the format of the reference trees (``shared/reference/ncts/message-trees-p5.txt``:
CC015C, CC028C, CC029C, CC056C, CC906C, CC917C, CC928C as in the official P5 schemas 51.8.6),
read in place. Our own trees (``tools/ncts_trees/*.txt``, our transcription of the DDNTA
Appendix Q2 for the other messages, written by ``tools/ncts_ddnta.py``) use the same format
and may also *refer* to a type defined in any tree read before them: an aggregate line without
children, or a leaf naming only its simple type (``name [1..1]  : Alphanumeric_Max70``). That is
how the groups every message shares (header, offices, addresses, parties, consignment items)
are written once.

Every type name has one meaning: a name met twice with different content stops the generator,
so a shared type is shared for real. The output is

* ``ncts-p5-types.xsd``: the ``MESSAGE`` group and every named type (sorted by name);
* ``<MESSAGE>.xsd`` per message (``CC015C.xsd`` …): the root element, qualified in the target
  namespace ``http://ncts.dgtaxud.ec``, and its root type; children are unqualified
  (``elementFormDefault="unqualified"``, as in the official pack).

XSD 1.0 (lxml validates them). Where the reference abbreviates a code list (``enum[...,...]``):

* ``MessageTypes`` (CL060) is completed with every message the DDNTA defines (its headings
  ``IExxx (CCxxxC)``, transcribed into ``MESSAGE_TYPES``; a test checks the list against them);
* ``XmlErrorCodes`` (CL030): the reference shows only the first twelve values and the rest is
  not in the reference, so our schema types ``errorCode`` of an XML NACK by the DDNTA format
  (``n2``: two digits) instead of guessing — looser than the official pack on that one item;
* an abbreviated list not named here stops the generator.

Every message root may also carry an enveloped XML-DSig signature: an optional ``Id``
attribute (``xs:ID``, what the signature's reference names) and an optional ``ds:Signature``
as its last child (``xs:any`` in the XML-DSig namespace, ``processContents="skip"``), as our
other schemas do. The gateway signs every NCTS message it emits (answers, notifications, CD
messages to other administrations: ``gateway/documents/ncts_answers.py``), and a signed message
is then valid against the schema of its type; the official pack has neither (a receiver that
validates with it checks the signed content: the signature set aside). Unsigned messages are
valid against both alike.

The phase attribute's type (``phaseIDtype``) lists `` NCTS5.1`` twice in the reference (with and
without a leading space, one value after the token's whitespace collapse): written once here.
Stdlib only; deterministic (no timestamp). How the shipped schemas were made (``SHARED`` is the
``shared`` folder beside the repository)::

    python tools/ncts_xsd.py SHARED/reference/ncts/message-trees-p5.txt tools/ncts_trees/*.txt

(``--out DIR`` writes elsewhere, ``--check`` compares with the files instead of writing).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from xml.sax.saxutils import quoteattr

NAMESPACE = "http://ncts.dgtaxud.ec"
XMLDSIG = "http://www.w3.org/2000/09/xmldsig#"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO, "schemas", "ncts", "p5")
TYPES_FILE = "ncts-p5-types.xsd"
BUILTINS = frozenset({"token", "normalizedString", "string", "integer", "decimal", "date",
                      "dateTime"})
FACET_KEYS = ("pattern", "length", "minLength", "maxLength", "totalDigits", "fractionDigits",
              "minInclusive", "maxInclusive")
_FACET_SPLIT = re.compile(r" (?=(?:" + "|".join(FACET_KEYS) + r")=|enum\[)")
_ELEMENT = re.compile(r"^(?P<name>[A-Za-z_][\w.-]*) \[(?P<min>\d+)\.\.(?P<max>\d+|n)\]\s+: "
                      r"(?P<type>\S.*)$")
_ROOT = re.compile(r"^(?P<name>[A-Z][A-Z0-9]{4}[A-Z]) : (?P<type>\w+)$")
_ATTRIBUTE = re.compile(r"^@(?P<name>\w+) : (?P<type>\S.*)$")
_GROUP = re.compile(r"^\(group (?P<name>\w+)\)$")
ABBREVIATED = "..."

#: CL060 MessageTypes: every message of the DDNTA Appendix Q2 5.15.2 (its ``IExxx (…)`` headings).
MESSAGE_TYPES = (
    "CC004C", "CC007C", "CC009C", "CC013C", "CC014C", "CC015C", "CC017C", "CC019C", "CC022C",
    "CC023C", "CC025C", "CC026C", "CC028C", "CC029C", "CC034C", "CC035C", "CC037C", "CC040C",
    "CC042C", "CC043C", "CC044C", "CC045C", "CC048C", "CC051C", "CC054C", "CC055C", "CC056C",
    "CC057C", "CC060C", "CC140C", "CC141C", "CC170C", "CC182C", "CC190C", "CC191C", "CC224C",
    "CC225C", "CC228C", "CC229C", "CC231C", "CC906C", "CC917C", "CC928C", "CD001C", "CD002C",
    "CD003C", "CD006C", "CD010C", "CD012C", "CD018C", "CD024C", "CD027C", "CD038C", "CD049C",
    "CD050C", "CD059C", "CD063C", "CD070C", "CD071C", "CD078C", "CD094C", "CD095C", "CD114C",
    "CD115C", "CD118C", "CD142C", "CD143C", "CD144C", "CD145C", "CD150C", "CD151C", "CD152C",
    "CD160C", "CD164C", "CD165C", "CD168C", "CD180C", "CD181C", "CD200C", "CD201C", "CD203C",
    "CD204C", "CD205C", "CD209C", "CD411D", "CD903D", "CD906C", "CD917C", "CD971C", "CD974C",
    "CD975C")
#: Abbreviated code lists: completed (a tuple of values) or replaced by the DDNTA format.
COMPLETIONS: dict[str, tuple[str, ...]] = {"MessageTypes": MESSAGE_TYPES}
REPLACEMENTS: dict[str, tuple[tuple[str, str], ...]] = {
    "XmlErrorCodes": (("pattern", "[0-9]{2}"),),          # CL030, DDNTA "n2"
}


class TreeError(SystemExit):
    """A tree the generator cannot turn into a schema (the message says where and why)."""

    def __init__(self, message: str) -> None:
        super().__init__(f"ncts_xsd: {message}")


@dataclass(frozen=True)
class Simple:
    """A named simple type: ``name`` restricts ``base`` (a built-in or another Simple)."""

    name: str
    base: Simple | str
    facets: tuple[tuple[str, str], ...]

    @property
    def builtin(self) -> str:
        return self.base if isinstance(self.base, str) else self.base.builtin

    def chain(self) -> list[Simple]:
        """This type and every named type it restricts, outermost first."""
        out: list[Simple] = [self]
        while not isinstance(out[-1].base, str):
            out.append(out[-1].base)
        return out

    def effective(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        """What the type allows, whatever its names: the built-in and every step's facets
        (patterns of one step joined by ``|``, enumerations by ``,``), sorted, without repeats.
        """
        seen: set[tuple[str, str]] = set()
        for step in self.chain():
            patterns = [v for k, v in step.facets if k == "pattern"]
            values = [v for k, v in step.facets if k == "enumeration"]
            seen.update((k, v) for k, v in step.facets if k not in ("pattern", "enumeration"))
            if patterns:
                seen.add(("pattern", "|".join(patterns)))
            if values:
                seen.add(("enumeration", ",".join(sorted(values))))
        return self.builtin, tuple(sorted(seen))


@dataclass
class Element:
    """One element line of a tree (with its children, attributes and group marker)."""

    name: str
    min: str
    max: str                          # a number or "unbounded"
    type_name: str
    line: str                         # "file:line", for messages
    simple: Simple | None = None      # a leaf's type (None: an aggregate or a reference)
    children: list[Element] | None = None
    attributes: list[tuple[str, str, Simple | None]] = field(default_factory=list)
    group: str | None = None          # a (group NAME) marker opens before this element


@dataclass(frozen=True)
class Tree:
    message: str
    root: Element
    source: str


# ------------------------------------------------------------------------------ reading


def parse_simple(text: str, where: str) -> Simple:
    """``T<B>facets`` (``B`` a built-in ``xs:x`` or another chain) as a ``Simple``."""
    simple, rest = _simple_prefix(text, where)
    if rest:
        raise TreeError(f"{where}: unexpected {rest!r} after the type {simple.name}")
    return simple


def _simple_prefix(text: str, where: str) -> tuple[Simple, str]:
    name, sep, rest = text.partition("<")
    if not sep or not re.fullmatch(r"[A-Za-z_][\w.-]*", name):
        raise TreeError(f"{where}: cannot read the simple type {text!r}")
    base: Simple | str
    if rest.startswith("xs:"):
        builtin, sep, rest = rest[3:].partition(">")
        if not sep or builtin not in BUILTINS:
            raise TreeError(f"{where}: unknown built-in type xs:{builtin}")
        base = builtin
    else:
        base, rest = _simple_prefix(rest, where)
        if not rest.startswith(">"):
            raise TreeError(f"{where}: {name}: the base type is not closed")
        rest = rest[1:]
    facet_text, _, rest = rest.partition(">")
    rest = (">" + rest) if _ else ""
    return Simple(name, base, parse_facets(name, facet_text.strip(), where)), rest


def parse_facets(name: str, text: str, where: str) -> tuple[tuple[str, str], ...]:
    facets: list[tuple[str, str]] = []
    for word in _FACET_SPLIT.split(text) if text else []:
        if word.startswith("enum[") and word.endswith("]"):
            facets.extend(("enumeration", v) for v in _enumeration(name, word[5:-1], where))
            continue
        key, sep, value = word.partition("=")
        if not sep or key not in FACET_KEYS or not value:
            raise TreeError(f"{where}: cannot read the facet {word!r} of {name}")
        facets.append((key, value))
    if not facets and name in REPLACEMENTS:
        return REPLACEMENTS[name]
    return tuple(facets)


def _enumeration(name: str, text: str, where: str) -> list[str]:
    values: list[str] = []
    for raw in text.split(","):
        value = " ".join(raw.split())                   # the token's whitespace collapse
        if value and value not in values:
            values.append(value)
    if values[-1:] != [ABBREVIATED]:
        return values
    shown = values[:-1]
    full = COMPLETIONS.get(name)
    if name in REPLACEMENTS:
        return []
    if full is None or list(full[:len(shown)]) != shown:
        raise TreeError(f"{where}: the code list {name} is abbreviated and neither "
                        "COMPLETIONS nor REPLACEMENTS say what it holds")
    return list(full)


def parse_trees(text: str, source: str) -> list[Tree]:
    """Every tree of a file (one, or several after ``################ NAME`` lines)."""
    trees: list[Tree] = []
    stack: list[tuple[int, Element]] = []
    pending_group: str | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        where = f"{source}:{number}"
        if not raw.strip() or (raw.startswith("#")):
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        line = raw.strip()
        if indent == 0:
            root = _root(line, where)
            trees.append(Tree(root.name, root, source))
            stack, pending_group = [(0, root)], None
            continue
        if not stack or indent % 2:
            raise TreeError(f"{where}: line outside a tree or oddly indented")
        while stack and stack[-1][0] >= indent:
            stack.pop()
        if not stack or stack[-1][0] != indent - 2:
            raise TreeError(f"{where}: indented deeper than its parent")
        parent = stack[-1][1]
        if (group := _GROUP.match(line)) is not None:
            pending_group = group["name"]
            continue
        if (attribute := _ATTRIBUTE.match(line)) is not None:
            parent.attributes.append((attribute["name"], *_type_of(attribute["type"], where)))
            continue
        element = _element(line, where)
        if pending_group is not None:
            element.group, pending_group = pending_group, None
        if parent.children is None:
            if parent.simple is not None:
                raise TreeError(f"{where}: {parent.name} is a leaf and cannot have children")
            parent.children = []
        parent.children.append(element)
        stack.append((indent, element))
    return trees


def _root(line: str, where: str) -> Element:
    found = _ROOT.match(line)
    if found is None:
        raise TreeError(f"{where}: a tree starts with 'MESSAGE : RootType', not {line!r}")
    return Element(found["name"], "1", "1", found["type"], where, children=[])


def _element(line: str, where: str) -> Element:
    found = _ELEMENT.match(line)
    if found is None:
        raise TreeError(f"{where}: cannot read {line!r}")
    type_name, simple = _type_of(found["type"], where)
    high = "unbounded" if found["max"] == "n" else found["max"]
    return Element(found["name"], found["min"], high, type_name, where, simple=simple)


def _type_of(text: str, where: str) -> tuple[str, Simple | None]:
    if "<" in text:
        simple = parse_simple(text, where)
        return simple.name, simple
    if not re.fullmatch(r"[A-Za-z_][\w.-]*", text):
        raise TreeError(f"{where}: cannot read the type {text!r}")
    return text, None


# ------------------------------------------------------------------------------ types


@dataclass(frozen=True)
class Child:
    name: str
    type_name: str
    min: str
    max: str


@dataclass(frozen=True)
class Complex:
    name: str
    content: tuple[Child | str, ...]       # a str is a group reference
    attributes: tuple[tuple[str, str], ...]


@dataclass
class Library:
    """Every named type and group of a set of trees, each with one meaning."""

    simple: dict[str, Simple] = field(default_factory=dict)
    complex: dict[str, Complex] = field(default_factory=dict)
    groups: dict[str, tuple[Child, ...]] = field(default_factory=dict)
    defined_at: dict[str, str] = field(default_factory=dict)

    def add_trees(self, trees: Iterable[Tree]) -> None:
        for tree in trees:
            self._aggregate(tree.root)

    def _define(self, table: dict, name: str, value: object, where: str) -> None:  # type: ignore[type-arg]
        others = [t for t in (self.simple, self.complex, self.groups) if t is not table]
        if any(name in t for t in others):
            raise TreeError(f"{where}: {name} names two kinds of thing")
        known = table.setdefault(name, value)
        if known != value:
            raise TreeError(f"{where}: type {name} differs from its definition at "
                            f"{self.defined_at[name]}")
        self.defined_at.setdefault(name, where)

    def _simple(self, simple: Simple, where: str) -> None:
        for step in simple.chain():
            self._define(self.simple, step.name, step, where)

    def _aggregate(self, element: Element) -> None:
        assert element.children is not None
        content: list[Child | str] = []
        group: list[Child] | None = None
        group_name = None
        for child in element.children:
            self._child(child)
            entry = Child(child.name, child.type_name, child.min, child.max)
            if child.group is not None:
                group, group_name = [], child.group
                content.append(child.group)
            if group is not None and child.children is None and child.type_name in self.simple:
                group.append(entry)
                continue
            if group is not None:
                self._group(group_name, group, element.line)
                group = None
            content.append(entry)
        if group is not None:
            self._group(group_name, group, element.line)
        attributes = []
        for name, type_name, simple in element.attributes:
            if simple is not None:
                self._simple(simple, element.line)
            attributes.append((name, type_name))
        self._define(self.complex, element.type_name,
                     Complex(element.type_name, tuple(content), tuple(attributes)), element.line)

    def _group(self, name: str | None, members: list[Child], where: str) -> None:
        """A group marker with its leaves defines the group; one without any refers to it."""
        assert name is not None
        if not members:
            if name not in self.groups:
                raise TreeError(f"{where}: (group {name}) refers to a group no tree read "
                                "before defines")
            return
        self._define(self.groups, name, tuple(members), where)

    def _child(self, child: Element) -> None:
        if child.simple is not None:
            self._simple(child.simple, child.line)
        elif child.children:
            self._aggregate(child)
        elif child.type_name in self.simple:
            pass                                  # a leaf naming a simple type defined before
        elif child.type_name not in self.complex:
            raise TreeError(f"{child.line}: {child.name} refers to {child.type_name}, which no "
                            "tree read before defines")

    def resolve(self, type_name: str) -> Simple | Complex:
        return self.simple.get(type_name) or self.complex[type_name]


# ------------------------------------------------------------------------------ output


def _occurs(child: Child) -> str:
    return (f' minOccurs="{child.min}"' if child.min != "1" else "") + (
        f' maxOccurs="{child.max}"' if child.max != "1" else "")


def _emit_children(w, children: Iterable[Child | str], indent: str) -> None:  # type: ignore[no-untyped-def]
    for child in children:
        if isinstance(child, str):
            w(f'{indent}<xs:group ref="{child}"/>')
        else:
            w(f'{indent}<xs:element name="{child.name}" type="{child.type_name}"'
              f'{_occurs(child)}/>')


def _emit_complex(w, complex_type: Complex, *, signed: bool = False) -> None:  # type: ignore[no-untyped-def]
    w(f'  <xs:complexType name="{complex_type.name}">')
    w("    <xs:sequence>")
    _emit_children(w, complex_type.content, "      ")
    if signed:       # a message root: room for the gateway's enveloped signature
        w(f'      <xs:any namespace="{XMLDSIG}" processContents="skip" minOccurs="0"/>')
    w("    </xs:sequence>")
    for name, type_name in complex_type.attributes:
        w(f'    <xs:attribute name="{name}" type="{type_name}"/>')
    if signed:
        w('    <xs:attribute name="Id" type="xs:ID"/>')
    w("  </xs:complexType>")


def _emit_simple(w, simple: Simple) -> None:  # type: ignore[no-untyped-def]
    base = f"xs:{simple.base}" if isinstance(simple.base, str) else simple.base.name
    w(f'  <xs:simpleType name="{simple.name}">')
    if simple.facets:
        w(f'    <xs:restriction base="{base}">')
        for key, value in simple.facets:
            w(f"      <xs:{key} value={quoteattr(value)}/>")
        w("    </xs:restriction>")
    else:
        w(f'    <xs:restriction base="{base}"/>')
    w("  </xs:simpleType>")


def _schema_open(w, title: list[str]) -> None:  # type: ignore[no-untyped-def]
    w('<?xml version="1.0" encoding="UTF-8"?>')
    w("<!--")
    for line in title:
        w(f"  {line}")
    w("  GENERATED by tools/ncts_xsd.py; DO NOT EDIT BY HAND: change the trees or the script")
    w("  and rerun it (see its docstring).")
    w("-->")
    w(f'<xs:schema xmlns="{NAMESPACE}" xmlns:xs="http://www.w3.org/2001/XMLSchema" '
      f'targetNamespace="{NAMESPACE}" elementFormDefault="unqualified" '
      'attributeFormDefault="unqualified" version="51.8.6">')


def generate(trees: list[Tree]) -> dict[str, str]:
    """File name -> schema text, for these trees (read in this order)."""
    library = Library()
    library.add_trees(trees)
    roots = {t.root.type_name for t in trees}
    out: dict[str, str] = {}
    lines: list[str] = []
    w = lines.append
    _schema_open(w, ["NCTS phase 5 message types shared by the message schemas of this folder",
                     f"(namespace {NAMESPACE}): the MESSAGE header group, "
                     f"{len(library.complex) - len(roots)} aggregate and "
                     f"{len(library.simple)} simple types."])
    for name in sorted(library.groups):
        w(f'  <xs:group name="{name}">')
        w("    <xs:sequence>")
        _emit_children(w, library.groups[name], "      ")
        w("    </xs:sequence>")
        w("  </xs:group>")
    for name in sorted(set(library.complex) - roots | set(library.simple)):
        item = library.resolve(name)
        if isinstance(item, Complex):
            _emit_complex(w, item)
        else:
            _emit_simple(w, item)
    w("</xs:schema>")
    out[TYPES_FILE] = "\n".join(lines) + "\n"
    for tree in trees:
        lines = []
        w = lines.append
        _schema_open(w, [f"NCTS phase 5 {tree.message}, from the typed tree in {tree.source}."])
        w(f'  <xs:include schemaLocation="{TYPES_FILE}"/>')
        w(f'  <xs:element name="{tree.message}" type="{tree.root.type_name}"/>')
        complex_type = library.complex[tree.root.type_name]
        _emit_complex(w, complex_type, signed=True)
        w("</xs:schema>")
        out[f"{tree.message}.xsd"] = "\n".join(lines) + "\n"
    return out


def read_trees(paths: Iterable[str]) -> list[Tree]:
    """The trees of these files, in order; a message defined twice stops the generator."""
    trees: list[Tree] = []
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            trees += parse_trees(handle.read(), os.path.basename(path))
    names = [t.message for t in trees]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise TreeError(f"a message has two trees: {twice}")
    return trees


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("trees", nargs="+", help="typed tree files, read in this order")
    parser.add_argument("--out", default=DEFAULT_OUT, help="folder to write the schemas to")
    parser.add_argument("--check", action="store_true",
                        help="compare with the files in --out instead of writing (exit 1 if "
                             "they differ)")
    args = parser.parse_args(argv)
    files = generate(read_trees(args.trees))
    stale = []
    for name, text in sorted(files.items()):
        path = os.path.join(args.out, name)
        if args.check:
            try:
                with open(path, encoding="utf-8") as handle:
                    same = handle.read() == text
            except OSError:
                same = False
            if not same:
                stale.append(path)
            continue
        os.makedirs(args.out, exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
    if stale:
        print("out of date: " + ", ".join(stale), file=sys.stderr)
        return 1
    print(f"{'checked' if args.check else 'wrote'} {len(files)} schema(s) in {args.out}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
