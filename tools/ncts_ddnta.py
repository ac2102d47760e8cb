"""Transcribe NCTS P5 message structures from the DDNTA Appendix Q2 text into typed trees.

The DDNTA for NCTS P5, Appendix Q2 (``shared/reference/ncts/DDNTA_APP_Q2-5.15.2-v2.00-SfA.txt``,
read in place) gives, for every CC and CD message, an overview of its data groups (nesting by
``---``, repetitions ``9x``, R/O/D) and then each group's data items (name, R/O/D, format such
as ``an..35`` or ``n..16,6``, code list, rules)::

    IE006 (CD006C) ARRIVAL ADVICE (C_ARR_ADV)
    MESSAGE 1x R
    ---TRANSIT OPERATION 1x R
    ...
    ---TRANSIT OPERATION
    <TAB>MRN R an18 G0002
    <TAB>Arrival date and time (actual) R an19 G0002

This tool turns such a section into a typed tree in the format ``tools/ncts_xsd.py`` reads:

* names as the XML of the official P5 schemas spells them (``CUSTOMS OFFICE OF DESTINATION
  (ACTUAL)`` -> ``CustomsOfficeOfDestinationActual``, ``Reference number UCR`` ->
  ``referenceNumberUCR``; the few irregular spellings are in ``ITEM_NAMES``);
* occurrences from the DDNTA: ``R`` is ``[1..1]``, ``O`` and ``D`` (conditional) ``[0..1]``,
  ``99x`` a maximum of 99; data items first, then the groups inside, in the DDNTA's order;
* types as the official schemas give the same data item: the reference trees
  (``message-trees-p5.txt``) are aligned with their own DDNTA sections, item by item, and each
  (item, format, code list, style) keeps the type the official schema gives it. ``style`` is
  ``trader`` for what a trader sends (free text with no leading or trailing space, the
  ``_NoSpaces`` types: ``TRADER_SENT``) and ``customs`` otherwise. An item the reference trees
  never show gets the type of its format (``FORMAT_TYPES``: ``an..70`` -> at most 70
  characters, ``n..5`` -> 0..99999, ``n1`` with a code list -> one digit, ``CL027`` -> the
  flag 0/1, a2 country codes, an18 MRN, an19 date and time …);
* aggregate types: a group whose content is exactly that of a type of the same group the
  reference trees (or an earlier tree) define refers to that type by name (``AddressType07``
  for an Address); any other gets a name of ours, ``<Group>Type_<first message that has it>``
  (``TransitOperationType_CD006C``, ``CustomsOfficeOfDestinationActualType_CC007C``);
* where the official P5 schemas are known to differ from the DDNTA text and the corpus shows
  it, ``CORRECTIONS`` says so (one today: CC025C's goods measure is optional).

What comes out is our transcription of the published structure, kept as files under
``tools/ncts_trees/`` (each says so in its header); ``tools/ncts_xsd.py`` makes the schemas from
them. Stdlib only; deterministic. How the shipped trees were made (``SHARED`` is the ``shared``
folder beside the repository)::

    python tools/ncts_ddnta.py SHARED/reference/ncts/DDNTA_APP_Q2-5.15.2-v2.00-SfA.txt \\
        SHARED/reference/ncts/message-trees-p5.txt \\
        CC007C CC025C CC045C CD001C CD006C CD018C CD050C CD118C CD906C CD917C

(``--out DIR``: where to write, default ``tools/ncts_trees``; ``--check``: compare instead).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from types import ModuleType

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "ncts_trees")


def _ncts_xsd() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ncts_xsd", os.path.join(HERE, "ncts_xsd.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("ncts_xsd", module)
    spec.loader.exec_module(module)
    return module


ncts_xsd = _ncts_xsd()
Simple = ncts_xsd.Simple

HEADING = re.compile(r"^IE\d{3} \((?P<message>C[CD]\d{3}[A-Z])\)")
FURNITURE = re.compile(r"^(Page \d+ of|\d+$|DDNTA for NCTS|REF:DDNTA|Appendix Q2|2\. Message "
                       r"Structure for|CSE \d|=====PAGE|\s*$)")
GROUP = re.compile(r"^(?P<dashes>(?:---)*)(?P<name>[A-Z][A-Z0-9 ()/,.'-]*?)"
                   r"(?: (?P<count>\d+)x (?P<opt>[ROD])(?P<rules>(?: [A-Z]\d{4})*))?$")
ITEM = re.compile(r"^\t(?P<name>\S.*?) (?P<opt>[ROD]) (?P<format>(?:an|n|a)(?:\.\.)?\d+(?:,\d+)?)"
                  r"(?: (?P<codelist>CL\d{3}))?(?P<rules>(?: [A-Z]\d{4})*)$")
RULE = re.compile(r"^[A-Z]\d{4}$")
END_OF_STRUCTURES = "3. List of Rules, Conditions and Guidelines"

#: What a trader sends (free text of these has no leading or trailing space: ``_NoSpaces``).
TRADER_SENT = frozenset({"CC007C", "CC013C", "CC014C", "CC015C", "CC044C", "CC141C", "CC170C",
                         "CC191C"})
#: Data item names the generic rule (first word lower case, the others capitalised, acronyms
#: kept) does not spell as the official schemas do.
ITEM_NAMES = {
    "UN LOCODE": "UNLocode",
    "CUS code": "cusCode",
    "E-mail address": "eMailAddress",
    "Harmonized System sub-heading code": "harmonizedSystemSubHeadingCode",
}
#: Where the official P5 schemas 51.8.6 (those of the reference trees) differ from the DDNTA
#: text, and a real message of the corpus shows it: (message, group path) -> occurrences.
CORRECTIONS = {
    # DDNTA "GOODS MEASURE 1x R"; the official CC025C schema has it optional and real
    # goods release notifications omit it (corpus ncts-p5/cc025c-valid.xml)
    ("CC025C", "Consignment/HouseConsignment/ConsignmentItem/Commodity/GoodsMeasure"): "O",
}
ACRONYMS = frozenset({"MRN", "LRN", "GRN", "UCR", "TIR", "UN", "GNSS", "HS", "ID", "TIN",
                      "EORI", "CUS", "XML"})


def fail(message: str) -> SystemExit:
    return SystemExit(f"ncts_ddnta: {message}")


@dataclass
class Item:
    name: str                  # as in the DDNTA ("Reference number")
    opt: str                   # R, O or D
    format: str                # an..35, n..5, a2, n..16,6 …
    codelist: str | None
    rules: tuple[str, ...]

    @property
    def xml(self) -> str:
        return item_xml_name(self.name)

    @property
    def occurs(self) -> str:
        return "[1..1]" if self.opt == "R" else "[0..1]"


@dataclass
class Group:
    name: str                  # as in the DDNTA ("CUSTOMS OFFICE OF DEPARTURE")
    depth: int
    count: int
    opt: str
    items: list[Item] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)

    @property
    def xml(self) -> str:
        return group_xml_name(self.name)

    @property
    def occurs(self) -> str:
        return f"[{1 if self.opt == 'R' else 0}..{self.count}]"


def group_xml_name(name: str) -> str:
    words = re.sub(r"[()]", " ", name).replace("-", " ").split()
    return "".join(w if w in ACRONYMS else w.capitalize() for w in words)


def item_xml_name(name: str) -> str:
    if name in ITEM_NAMES:
        return ITEM_NAMES[name]
    words = re.sub(r"[()]", " ", name).replace("-", " ").split()
    first, rest = words[0], words[1:]
    head = first if first in ACRONYMS else first.lower()
    return head + "".join(w if w in ACRONYMS else w[:1].upper() + w[1:] for w in rest)


# ------------------------------------------------------------------------------ reading


def sections(text: str) -> dict[str, list[str]]:
    """Message -> the lines of its structure (page furniture removed)."""
    lines = text.split(END_OF_STRUCTURES, 1)[0].splitlines()
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in lines:
        heading = HEADING.match(line)
        if heading:
            current = out.setdefault(heading["message"], [])
            continue
        if current is not None and not FURNITURE.match(line):
            current.append(line.rstrip("\n"))
    return out


def parse_section(message: str, lines: list[str]) -> Group:
    """The message's groups and items: the overview first, then each group's items."""
    start = next((i for i, line in enumerate(lines) if line.startswith("MESSAGE 1x")), None)
    if start is None:
        raise fail(f"{message}: no 'MESSAGE 1x' line")
    detail = next(i for i, line in enumerate(lines) if i > start and line == "MESSAGE")
    root, order = _overview(message, lines[start:detail])
    _details(message, lines[detail:], order)
    _correct(message, root)
    return root


def _correct(message: str, root: Group) -> None:
    """Apply ``CORRECTIONS`` (each must find its group: a stale one stops the tool)."""
    for (target, path), opt in CORRECTIONS.items():
        if target != message:
            continue
        group: Group | None = root
        for name in path.split("/"):
            group = next((g for g in (group.groups if group else []) if g.xml == name), None)
        if group is None:
            raise fail(f"{message}: the correction for {path} finds no such group")
        group.opt = opt


def _overview(message: str, lines: list[str]) -> tuple[Group, list[Group]]:
    order: list[Group] = []
    stack: list[Group] = []
    for line in lines:
        if RULE.match(line):
            continue
        found = GROUP.match(line)
        if found is None or found["count"] is None:
            raise fail(f"{message}: cannot read the overview line {line!r}")
        depth = len(found["dashes"]) // 3
        group = Group(found["name"], depth, int(found["count"]), found["opt"])
        while stack and stack[-1].depth >= depth:
            stack.pop()
        if stack:
            stack[-1].groups.append(group)
        elif order:
            raise fail(f"{message}: a second top-level group {line!r}")
        stack.append(group)
        order.append(group)
    return order[0], order


def _details(message: str, lines: list[str], order: list[Group]) -> None:
    position = -1
    current: Group | None = None
    for line in lines:
        if RULE.match(line):
            continue
        item = ITEM.match(line)
        if item is not None:
            if current is None:
                raise fail(f"{message}: a data item before any group: {line!r}")
            rules = tuple(item["rules"].split())
            current.items.append(Item(item["name"], item["opt"], item["format"],
                                      item["codelist"], rules))
            continue
        found = GROUP.match(line)
        if found is None or found["count"] is not None:
            raise fail(f"{message}: cannot read {line!r}")
        depth = len(found["dashes"]) // 3
        position = next((i for i in range(position + 1, len(order))
                         if order[i].name == found["name"] and order[i].depth == depth), -1)
        if position < 0:
            raise fail(f"{message}: group {found['name']!r} is not in the overview (in order)")
        current = order[position]


# ------------------------------------------------------------------------------ types


def style_of(message: str) -> str:
    return "trader" if message in TRADER_SENT else "customs"


def _simple(expr: str) -> Simple:
    return ncts_xsd.parse_simple(expr, "FORMAT_TYPES")


def format_type(item: Item, style: str) -> Simple:
    """The type of an item the reference trees never show, from its DDNTA format."""
    fmt, cl = item.format, item.codelist
    if cl == "CL027":
        return _simple("Flag<xs:token>enum[0,1]")
    if cl == "CL180":
        return _simple("AesNctsP5FunctionalErrorCodes<xs:token>enum[12,13,14,15,26,50,51,52,90,"
                       "92,93]")
    if cl == "CL030":
        return _simple("XmlErrorCodes<xs:token>pattern=[0-9]{2}")
    if fmt == "an18":
        return _simple(MRN)
    if fmt == "an19":
        return _simple(r"DateTimeType<xs:dateTime>pattern=\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")
    if fmt == "an10":
        return _simple(r"DateType<xs:date>pattern=\d{4}-\d{2}-\d{2}")
    found = re.fullmatch(r"(an|n|a)(\.\.)?(\d+)(?:,(\d+))?", fmt)
    assert found is not None
    kind, upto, size, fraction = found[1], bool(found[2]), int(found[3]), found[4]
    if fraction is not None:
        return _simple(f"DecimalWithZero_{size}_{fraction}<xs:decimal>totalDigits={size} "
                       rf"fractionDigits={fraction} pattern=(0|[1-9]\d*)(\.\d+)?")
    if kind == "n":
        if cl or not upto:
            span = f"{{1,{size}}}" if upto else f"{{{size}}}"
            return _simple(f"Numeric{'Max' if upto else ''}{size}Code<xs:token>"
                           f"pattern=[0-9]{span}")
        return _simple(f"NumericWithZero_{size}<xs:integer>minInclusive=0 "
                       f"maxInclusive={10 ** size - 1} pattern=(0|[1-9][0-9]{{0,{size - 1}}})")
    if kind == "a":
        span = f"{{1,{size}}}" if upto else f"{{{size}}}"
        return _simple(f"Alpha{'Max' if upto else ''}{size}Code<xs:token>pattern=[A-Za-z]{span}")
    if cl or not upto:
        span = f"{{1,{size}}}" if upto else f"{{{size}}}"
        return _simple(f"AlphaNumeric{'Max' if upto else ''}{size}Code<xs:token>"
                       f"pattern=.{span}")
    if style == "trader":
        return _simple(f"AlphaNumeric_MAX{size}_NoSpaces<AlphaNumType<xs:normalizedString>>"
                       rf"maxLength={size} pattern=\P{{Z}}(.*\P{{Z}})?")
    return _simple(f"Alphanumeric_Max{size}<AlphaNumType<xs:normalizedString>>"
                   f"maxLength={size} pattern=.{{1,{size}}}")


MRN = ("MRNType<AlphaNumType<xs:normalizedString>>pattern=([0-1][0-9]|[2][0-4])[A-Z]{2}"
       "[A-Z0-9]{13}[0-9] pattern=([2][4-9]|[3-9][0-9])[A-Z]{2}[A-Z0-9]{12}[J-M][0-9]")

Key = tuple[str | None, str, str | None, str]     # (xml name, format, code list, style)
ANY = "*"


@dataclass
class Learned:
    """Types and aggregates of the reference trees, keyed as the DDNTA describes items."""

    leaves: dict[tuple, Simple] = field(default_factory=dict)
    library: object = None
    contents: dict[tuple, str] = field(default_factory=dict)      # (group, content) -> type
    conflicts: list[str] = field(default_factory=list)

    def type_of(self, item: Item, style: str, parent: str) -> Simple:
        """The type the official schemas give this item: same group, name, format and code
        list in this style, else the same in any group, else in the other style, else same
        name and format with any code list, else any item of the same format and code list;
        free text (``an..N`` without a code list) never borrows the other style's (with or
        without spaces at its ends). An item matching none of these gets its format's type
        (``format_type``), or a format type of the reference allowing the same."""
        other = _other(style)
        free = is_free_text(item)
        for key in ((parent, item.xml, item.format, item.codelist, style),
                    (item.xml, item.format, item.codelist, style),
                    None if free else (item.xml, item.format, item.codelist, other),
                    (item.xml, item.format, ANY, style),
                    None if free else (item.xml, item.format, ANY, other),
                    None if item.codelist is None else (ANY, item.format, item.codelist, style)):
            if key is not None and key in self.leaves:
                return self.leaves[key]
        return self.known_as(format_type(item, style))

    def known_as(self, simple: Simple) -> Simple:
        """A format type of the reference trees (not an item's own ``…ContentType``) that
        allows exactly the same, if there is one (its name then), else ``simple`` itself."""
        library = self.library
        same = sorted(name for name, known in library.simple.items()  # type: ignore[attr-defined]
                      if known.effective() == simple.effective()
                      and not re.search(r"ContentType\d*$", name))
        return library.simple[same[0]] if same else simple  # type: ignore[attr-defined]


def is_free_text(item: Item) -> bool:
    return item.codelist is None and item.format.startswith("an..")


def _other(style: str) -> str:
    return "customs" if style == "trader" else "trader"


def learn(reference: list, texts: dict[str, list[str]]) -> Learned:
    """Align every reference tree with its DDNTA section: item -> the official type."""
    learned = Learned()
    votes: dict[Key, Counter] = {}
    simples: dict[str, Simple] = {}
    for tree in reference:
        group = parse_section(tree.message, texts[tree.message])
        _align(tree.message, group, tree.root, style_of(tree.message), votes, simples)
    for key, counter in sorted(votes.items(), key=lambda kv: repr(kv[0])):
        (name, count), *others = sorted(counter.items(), key=lambda nc: (-nc[1], nc[0]))
        learned.leaves[key] = simples[name]
        if others:
            learned.conflicts.append(f"{key}: {name} x{count}, also {others}")
    library = ncts_xsd.Library()
    library.add_trees(reference)
    learned.library = library
    for name, complex_type in sorted(library.complex.items()):
        group = name.split("Type", 1)[0]
        learned.contents.setdefault((group, _content_key(library, complex_type)), name)
    return learned


def _align(message: str, group: Group, element, style: str,  # type: ignore[no-untyped-def]
           votes: dict, simples: dict) -> None:
    children = {c.name: c for c in element.children or []}
    for item in group.items:
        child = children.get(item.xml)
        if child is None or child.simple is None:
            continue
        for key in ((element.name, item.xml, item.format, item.codelist, style),
                    (item.xml, item.format, item.codelist, style),
                    (item.xml, item.format, ANY, style),
                    (ANY, item.format, item.codelist, style)):
            votes.setdefault(key, Counter())[child.simple.name] += 1
        simples[child.simple.name] = child.simple
    for sub in group.groups:
        child = children.get(sub.xml)
        if child is not None and child.children:
            _align(message, sub, child, style, votes, simples)


def _content_key(library, complex_type) -> tuple:  # type: ignore[no-untyped-def]
    """What an aggregate holds, whatever its type names: children, occurrences, facets."""
    out = []
    for child in complex_type.content:
        if isinstance(child, str):
            out.append(("group", child))
            continue
        target = library.resolve(child.type_name)
        if isinstance(target, Simple):
            out.append((child.name, child.min, child.max, target.effective()))
        else:
            out.append((child.name, child.min, child.max, _content_key(library, target)))
    return tuple(out)


# ------------------------------------------------------------------------------ writing


@dataclass
class Writer:
    learned: Learned
    defined: dict[tuple, str] = field(default_factory=dict)       # content -> our type name
    simple_seen: dict[str, Simple] = field(default_factory=dict)
    used_names: set[str] = field(default_factory=set)

    def tree(self, message: str, root: Group) -> list[str]:
        lines = [f"{message} : {message}Type", "  (group MESSAGE)"]
        style = style_of(message)
        body, _ = self._content(message, root, style, 1)
        lines += body
        lines.append("  @PhaseID : phaseIDtype")
        return lines

    def _content(self, message: str, group: Group, style: str,
                 depth: int) -> tuple[list[str], tuple]:
        pad = "  " * depth
        lines: list[str] = []
        key: list[tuple] = [("group", "MESSAGE")] if depth == 1 else []
        for item in group.items:
            if depth == 1:
                header = self.learned.library.groups["MESSAGE"]  # type: ignore[attr-defined]
                if item.xml in {c.name for c in header}:
                    continue
            simple = self.learned.type_of(item, style, group.xml)
            lines.append(f"{pad}{item.xml} {item.occurs}  : {self._simple_text(simple)}")
            low = "1" if item.opt == "R" else "0"
            key.append((item.xml, low, "1", simple.effective()))
        for sub in group.groups:
            sub_lines, sub_key = self._content(message, sub, style, depth + 1)
            name, fresh = self._complex_name(message, sub, sub_key)
            lines.append(f"{pad}{sub.xml} {sub.occurs}  : {name}")
            if fresh:
                lines += sub_lines
            low, high = sub.occurs[1:-1].split("..")
            key.append((sub.xml, low, high, sub_key))
        return lines, tuple(key)

    def _simple_text(self, simple: Simple) -> str:
        """The simple type in full the first time, by name afterwards."""
        known = self.learned.library.simple  # type: ignore[attr-defined]
        if known.get(simple.name) == simple or self.simple_seen.get(simple.name) == simple:
            return simple.name
        if simple.name in known or simple.name in self.simple_seen:
            raise fail(f"type name {simple.name} with two meanings")
        for step in simple.chain():
            self.simple_seen.setdefault(step.name, step)
        return _chain_text(simple)

    def _complex_name(self, message: str, group: Group, key: tuple) -> tuple[str, bool]:
        """(name, whether its children must be written): a known type, else a new one."""
        key = (group.xml, key)                     # a known type of the same group only
        if key in self.learned.contents:
            return self.learned.contents[key], False
        if key in self.defined:
            return self.defined[key], False
        name = f"{group.xml}Type_{message}"
        suffix = 1
        while name in self.used_names:
            suffix += 1
            name = f"{group.xml}Type{suffix}_{message}"
        self.used_names.add(name)
        self.defined[key] = name
        return name, True


def _chain_text(simple: Simple) -> str:
    facets = " ".join(_facet_text(simple.facets))
    base = f"xs:{simple.base}" if isinstance(simple.base, str) else _chain_text(simple.base)
    return f"{simple.name}<{base}>{facets}"


def _facet_text(facets: tuple[tuple[str, str], ...]) -> list[str]:
    values = [v for k, v in facets if k == "enumeration"]
    out = [f"{k}={v}" for k, v in facets if k != "enumeration"]
    return out + ([f"enum[{','.join(values)}]"] if values else [])


HEADER = """\
# {message} — {title}
# OUR TRANSCRIPTION of the published structure: DG TAXUD, DDNTA for NCTS P5, Appendix Q2
# (Technical Message Structure), release 5.15.2 / CSE 51.8.6, section IE{number} ({message}).
# Written by tools/ncts_ddnta.py from that text (groups, items, R/O/D, formats); the types are
# those the official P5 schemas give the same data items in the reference trees, else the
# DDNTA format's (see the tool). Read by tools/ncts_xsd.py after message-trees-p5.txt; an
# aggregate line without children refers to a type defined there or in an earlier tree.
"""


def titles(text: str) -> dict[str, tuple[str, str]]:
    out = {}
    for line in text.split(END_OF_STRUCTURES, 1)[0].splitlines():
        found = re.match(r"^IE(\d{3}) \((C[CD]\d{3}[A-Z])\) (.*)$", line)
        if found:
            out[found[2]] = (found[1], re.sub(r"\s*\([A-Z]_\w+\)$", "", found[3]).strip())
    return out


def transcribe(ddnta: str, reference_text: str, messages: list[str]) -> dict[str, str]:
    """Message -> tree text, written in the order given (later trees share earlier types)."""
    texts = sections(ddnta)
    reference = ncts_xsd.parse_trees(reference_text, "message-trees-p5.txt")
    learned = learn(reference, texts)
    writer = Writer(learned)
    heads = titles(ddnta)
    out = {}
    for message in messages:
        if message not in texts:
            raise fail(f"{message} is not in the DDNTA text")
        number, title = heads[message]
        root = parse_section(message, texts[message])
        lines = writer.tree(message, root)
        out[message] = HEADER.format(message=message, title=title, number=number) + \
            "\n".join(lines) + "\n"
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("ddnta", help="the DDNTA Appendix Q2 text")
    parser.add_argument("reference", help="the reference trees (message-trees-p5.txt)")
    parser.add_argument("messages", nargs="+", help="messages to transcribe, in this order")
    parser.add_argument("--out", default=DEFAULT_OUT)
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    with open(args.ddnta, encoding="utf-8") as handle:
        ddnta = handle.read()
    with open(args.reference, encoding="utf-8") as handle:
        reference = handle.read()
    trees = transcribe(ddnta, reference, args.messages)
    stale = []
    for index, (message, text) in enumerate(trees.items(), 1):
        path = os.path.join(args.out, f"{index:02d}-{message}.txt")
        if args.check:
            try:
                with open(path, encoding="utf-8") as handle:
                    if handle.read() != text:
                        stale.append(path)
            except OSError:
                stale.append(path)
            continue
        os.makedirs(args.out, exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
    if stale:
        print("out of date: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
