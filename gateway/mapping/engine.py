"""The one mapping engine: declarative mapping files -> canonical plain data.

A mapping file (``mappings/<dialect>-<version>.toml``) says, for each canonical field, where
its value sits in the source (an XPath relative to the current context) and how to convert it.
Lists (parties, goods items, duty lines …) are ``[[lists]]`` with an ``each`` XPath and their
own fields and nested lists. Example::

    [mapping]
    id = "wco-dec-3.6"
    context = "/md:MetaData/d:Declaration | /d:Declaration"

    [fields]
    "header.lrn" = "d:FunctionalReferenceID"
    "header.goods_item_count" = { path = "d:GoodsItemQuantity", as = "int" }
    "valuation.invoice_amount" = { path = "d:InvoiceAmount", as = "decimal", into = "value",
                                    extra = { currency = "@currencyID" } }

    [[lists]]
    target = "goods_items"
    each = "d:GoodsShipment/d:GovernmentAgencyGoodsItem"
    fields = { sequence = { path = "d:SequenceNumeric", as = "int", required = true } }

Field options: ``path`` (string or list of alternatives, first non-empty wins), ``as``
(converter name), ``into`` + ``extra`` (build a small record such as an amount with its
currency; extra paths are relative to the value's element), ``slice = [start, end]``,
``const``, ``default``, ``required``, ``digits = [total, fraction]`` (the format's bound on a
number, as the XSD facets ``totalDigits``/``fractionDigits``: ``n..16,6`` is ``[16, 6]``;
every number converter also refuses more than ``converters.MAX_DIGITS`` digits). List
options: ``target`` (dotted, e.g. ``declaration.guarantees``, for a list inside a record),
``each``, ``const``, ``fields``, ``template`` (a field set under
``[templates.NAME]``, e.g. for every party role), ``lists``, ``skip_empty``. Every XPath is
compiled when the file is loaded, so a broken mapping fails at start-up, not on a partner's
message. A value that cannot be converted becomes a ``Problem`` naming the source pointer and
line; all of them are reported.

Paths may leave the current context: in a list, ``../../c:BookgDt/c:Dt`` reads a field of the
element that holds the list item (the entry of a camt.054 transaction), so values of a parent
reach every item of a flat list. Code lists that converters need are files the mapping names,
relative to itself, and read when it is loaded::

    [code_lists]
    currency_minor_units = "../config/codelists/currency_minor_units.toml"   # its [values]

A converter that reads more than the text (``converters.ElementConverter``, e.g.
``iso20022_amount``, which checks an amount's decimals against its ``Ccy``) is bound to those
code lists at load time and receives the source element too; a missing code list is a
``ConfigurationError``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lxml import etree

from gateway.errors import ConfigurationError, InvalidMessage, Problem, trim_value
from gateway.mapping.converters import (
    CONVERTERS,
    CodeLists,
    ConversionError,
    Converter,
    ElementConverter,
    check_digits,
    source_text,
)
from gateway.mapping.lookup import FieldLookup
from gateway.xml.schema_problems import column_of, local_pointer


@dataclass
class _Run:
    """One application of a mapping: the document's top element and the problems found."""

    top: etree._Element
    problems: list[tuple[Problem, etree._Element | None]] = field(default_factory=list)


@dataclass
class FieldRule:
    target: str
    paths: list[str]
    convert: Converter
    source: str
    into: str | None = None
    extra: dict[str, Callable[[Any], Any]] = field(default_factory=dict)
    slice: tuple[int, int] | None = None
    const: Any = None
    default: Any = None
    required: bool = False
    digits: tuple[int, int] | None = None
    reads_element: Callable[[str, Any], Any] | None = None   # a bound ElementConverter
    parts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.parts = tuple(self.target.split("."))


@dataclass
class ListRule:
    target: str
    each: etree.XPath
    source: str
    fields: list[FieldRule]
    lookup: FieldLookup
    lists: list[ListRule]
    const: dict[str, Any]
    skip_empty: bool
    parts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.parts = tuple(self.target.split("."))


@dataclass
class Mapping:
    """A compiled mapping specification for one source format and version."""

    id: str
    target: str
    context: etree.XPath
    fields: list[FieldRule]
    lookup: FieldLookup
    lists: list[ListRule]

    def apply(self, root: etree._Element, body: bytes | None = None) -> dict[str, Any]:
        """Map a validated document to canonical plain data, or raise ``InvalidMessage``.

        ``body`` (the submitted bytes) lets problems carry the column as well as the line.
        """
        contexts = self.context(root)
        if not contexts:
            raise InvalidMessage(
                f"mapping {self.id}: the document has no element at the mapping's context",
                code="GW-MAP-CONTEXT",
            )
        run = _Run(top=root)
        problems = run.problems
        out: dict[str, Any] = {}
        _apply_fields(self.fields, self.lookup, contexts[0], out, run, "")
        _apply_lists(self.lists, contexts[0], out, run, "")
        if problems:
            lines = body.split(b"\n") if body is not None else None
            raise InvalidMessage(
                f"{len(problems)} value(s) could not be mapped", code="GW-MAP-INVALID",
                problems=[replace(p, column=column_of(lines, p.line, node)) if lines else p
                          for p, node in problems],
            )
        return out


def _apply_fields(
    rules: list[FieldRule], lookup: FieldLookup, ctx: etree._Element, out: dict[str, Any],
    run: _Run, where: str,
) -> None:
    for rule, found in zip(rules, lookup.find(ctx), strict=True):
        if rule.const is not None:
            _put(out, rule.parts, rule.const)
            continue
        if found is None:
            if rule.required:
                run.problems.append((Problem(
                    "GW-MAP-MISSING",
                    f"{where}{rule.target} is required but {rule.source} is empty or missing",
                    pointer=local_pointer(ctx, run.top) + "/" + rule.source.split("|")[0].strip(),
                    line=ctx.sourceline,
                ), ctx))
            elif rule.default is not None:
                _put(out, rule.parts, rule.default)
            continue
        node, text = found
        try:
            raw = text[rule.slice[0]:rule.slice[1]] if rule.slice else text
            value = rule.reads_element(raw, node) if rule.reads_element else rule.convert(raw)
            if rule.digits is not None:
                check_digits(value, *rule.digits)
        except ConversionError as exc:
            run.problems.append(_problem(exc, node, ctx, f"{where}{rule.target}", text, run.top))
            continue
        if rule.into:
            record = {rule.into: value}
            for name, extra in rule.extra.items():
                record[name] = extra(node)
            value = record
        _put(out, rule.parts, value)


def _apply_lists(
    rules: list[ListRule], ctx: etree._Element, out: dict[str, Any],
    run: _Run, where: str,
) -> None:
    for rule in rules:
        holder = out
        for name in rule.parts[:-1]:          # a dotted target: a list inside a record
            holder = holder.setdefault(name, {})
        entries = holder.setdefault(rule.parts[-1], [])
        for index, node in enumerate(rule.each(ctx), start=1):
            entry: dict[str, Any] = {}
            here = f"{where}{rule.target}[{index}]."
            _apply_fields(rule.fields, rule.lookup, node, entry, run, here)
            _apply_lists(rule.lists, node, entry, run, here)
            if rule.skip_empty and not _has_values(entry):
                continue
            entry.update(rule.const)
            entries.append(entry)


def _extra(expr: str, ns: dict[str, str], where: str) -> Callable[[Any], Any]:
    """How to read one ``extra`` value next to a field's element (compiled once)."""
    attribute = re.fullmatch(r"@([A-Za-z_][\w.-]*)", expr.strip())
    if attribute:                         # the common case: an attribute of the element
        name = attribute.group(1)
        return lambda node: _attribute(node, name)
    literal = re.fullmatch(r"'([^']*)'", expr.strip())
    if literal:                           # a constant, e.g. the national currency
        value = literal.group(1) or None
        return lambda node: value
    xpath = _xpath(expr, ns, where)
    return lambda node: _extra_value(xpath, node)


def _attribute(node: Any, name: str) -> str | None:
    if not isinstance(node, etree._Element):
        return None
    value = node.get(name)
    return value.strip() or None if value is not None else None


def _extra_value(xpath: etree.XPath, node: Any) -> Any:
    if not isinstance(node, etree._Element):
        return None
    found = xpath(node)
    if isinstance(found, list):
        return source_text(found[0]) if found else None
    return str(found).strip() or None


def _problem(exc: ConversionError, node: Any, ctx: etree._Element, target: str,
             text: str, top: etree._Element) -> tuple[Problem, etree._Element]:
    element, pointer = _source_of(node, ctx, top)
    return Problem(
        code=exc.code,
        message=f"{trim_value(exc.message, 300)} (canonical field {target})",
        pointer=pointer,
        line=element.sourceline,
        value=trim_value(text),
    ), element


def _source_of(node: Any, ctx: etree._Element,
               top: etree._Element) -> tuple[etree._Element, str]:
    """The element a value came from and its pointer (``…/@attr`` for attributes)."""
    if isinstance(node, etree._Element):
        return node, local_pointer(node, top)
    parent = node.getparent() if hasattr(node, "getparent") else None
    if parent is None:
        return ctx, local_pointer(ctx, top)
    attr = getattr(node, "attrname", None)
    return parent, local_pointer(parent, top) + (f"/@{attr}" if attr else "")


def _has_values(entry: dict[str, Any]) -> bool:
    return any(v not in (None, [], {}) and (not isinstance(v, dict) or _has_values(v))
               for v in entry.values())


def _put(out: dict[str, Any], parts: tuple[str, ...], value: Any) -> None:
    for name in parts[:-1]:
        out = out.setdefault(name, {})
    out[parts[-1]] = value


# --- loading -----------------------------------------------------------------------------


def load_mapping(path: Path) -> Mapping:
    """Read and compile one mapping file; any mistake is a ``ConfigurationError``."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"cannot read mapping {path}: {exc}") from exc
    head = raw.get("mapping", {})
    ns = raw.get("namespaces", {})
    where = path.name
    code_lists = _code_lists(path, raw.get("code_lists", {}))
    fields = [_field(t, spec, ns, where, code_lists)
              for t, spec in raw.get("fields", {}).items()]
    return Mapping(
        id=head.get("id", path.stem),
        target=head.get("target", ""),
        context=_xpath(head.get("context", "/*"), ns, where),
        fields=fields,
        lookup=_lookup(fields, ns, where),
        lists=[_list(spec, ns, where, raw.get("templates", {}), code_lists)
               for spec in raw.get("lists", [])],
    )


def _code_lists(mapping_path: Path, named: Any) -> CodeLists:
    """The code lists a mapping names (``name = "relative/path.toml"``), read now."""
    if not isinstance(named, dict):
        raise ConfigurationError(f"{mapping_path.name}: [code_lists] must map names to files")
    out: CodeLists = {}
    for name, relative in named.items():
        path = mapping_path.parent / str(relative)
        try:
            values = tomllib.loads(path.read_text(encoding="utf-8")).get("values")
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigurationError(f"{mapping_path.name}: cannot read code list {name!r} "
                                     f"({path}): {exc}") from exc
        if not isinstance(values, dict):
            raise ConfigurationError(f"{mapping_path.name}: code list {name!r} ({path}) has "
                                     "no [values] table")
        out[name] = values
    return out


def _bind(converter: Converter, code_lists: CodeLists | None, target: str,
          where: str) -> Callable[[str, Any], Any] | None:
    """An ``ElementConverter`` bound to the mapping's code lists; ``None`` for plain ones."""
    if not isinstance(converter, ElementConverter):
        return None
    missing = [n for n in converter.needs if n not in (code_lists or {})]
    if missing:
        raise ConfigurationError(f"{where}: field {target!r} needs the code list(s) "
                                 f"{', '.join(missing)} under [code_lists]")
    return converter.bind(code_lists or {})


def _field(target: str, spec: Any, ns: dict[str, str], where: str,
           code_lists: CodeLists | None = None) -> FieldRule:
    if isinstance(spec, str | list):
        spec = {"path": spec}
    paths = spec.get("path", [])
    paths = [paths] if isinstance(paths, str) else paths
    converter_name = spec.get("as", "text")
    if converter_name not in CONVERTERS:
        raise ConfigurationError(f"{where}: field {target!r} uses unknown converter "
                                 f"{converter_name!r}; known: {', '.join(sorted(CONVERTERS))}")
    return FieldRule(
        target=target,
        paths=[p for p in paths if _xpath(p, ns, where) is not None],
        convert=CONVERTERS[converter_name],
        source=" | ".join(paths),
        into=spec.get("into"),
        extra={k: _extra(v, ns, where) for k, v in spec.get("extra", {}).items()},
        slice=tuple(spec["slice"]) if "slice" in spec else None,  # type: ignore[arg-type]
        const=spec.get("const"),
        default=spec.get("default"),
        required=bool(spec.get("required", False)),
        digits=_digits(spec.get("digits"), converter_name, target, where),
        reads_element=_bind(CONVERTERS[converter_name], code_lists, target, where),
    )


_NUMBER_CONVERTERS = frozenset({"decimal", "grouped_decimal", "int"})


def _digits(spec: Any, converter_name: str, target: str,
            where: str) -> tuple[int, int] | None:
    """A field's ``digits = [total, fraction]`` bound, checked when the mapping is loaded."""
    if spec is None:
        return None
    valid = (isinstance(spec, list) and len(spec) == 2
             and all(isinstance(n, int) and not isinstance(n, bool) for n in spec)
             and spec[0] > 0 and 0 <= spec[1] <= spec[0])
    if not valid or converter_name not in _NUMBER_CONVERTERS:
        raise ConfigurationError(
            f"{where}: field {target!r}: digits must be [total, fraction] with "
            f"0 <= fraction <= total, on a number converter "
            f"({', '.join(sorted(_NUMBER_CONVERTERS))}), not {spec!r} on {converter_name!r}")
    return spec[0], spec[1]


def _list(
    spec: dict[str, Any], ns: dict[str, str], where: str, templates: dict[str, Any],
    code_lists: CodeLists | None = None,
) -> ListRule:
    try:
        specs = dict(templates[spec["template"]]) if "template" in spec else {}
        specs.update(spec.get("fields", {}))
        fields = [_field(t, s, ns, where, code_lists) for t, s in specs.items()]
        return ListRule(
            target=spec["target"],
            each=_xpath(spec["each"], ns, where),
            source=spec["each"],
            fields=fields,
            lookup=_lookup(fields, ns, where),
            lists=[_list(s, ns, where, templates, code_lists) for s in spec.get("lists", [])],
            const=dict(spec.get("const", {})),
            skip_empty=bool(spec.get("skip_empty", False)),
        )
    except KeyError as exc:
        raise ConfigurationError(f"{where}: a [[lists]] entry lacks {exc}") from exc


def _lookup(fields: list[FieldRule], ns: dict[str, str], where: str) -> FieldLookup:
    try:
        return FieldLookup([[] if f.const is not None else f.paths for f in fields], ns)
    except etree.XPathSyntaxError as exc:
        raise ConfigurationError(f"{where}: bad XPath: {exc}") from exc


_PREFIX = re.compile(r"(?<![\w:.-])([A-Za-z_][\w.-]*):(?!:)")


def _xpath(expr: str, ns: dict[str, str], where: str) -> etree.XPath:
    undeclared = sorted({p for p in _PREFIX.findall(_without_literals(expr)) if p not in ns})
    if undeclared:
        raise ConfigurationError(f"{where}: XPath {expr!r} uses undeclared namespace prefix(es) "
                                 f"{', '.join(undeclared)}")
    try:
        return etree.XPath(expr, namespaces=ns)
    except etree.XPathSyntaxError as exc:
        raise ConfigurationError(f"{where}: bad XPath {expr!r}: {exc}") from exc


def _without_literals(expr: str) -> str:
    return re.sub(r"'[^']*'|\"[^\"]*\"", "''", expr)
