"""Finding the source values of a set of mapping fields in one walk over the document.

Most mapping paths are plain child steps (``d:GoodsShipment/d:Consignment/d:GoodsLocation/d:ID``,
optionally with ``[1]``). Evaluating each as its own XPath costs a few microseconds per field
and a declaration has hundreds of fields, so the fields of one context are compiled into a
trie of element tags and found together by one descent that visits only the elements some
field needs. Paths that are more than child steps (predicates, functions, ``..``, attributes,
unions) are evaluated as XPath. Both give the first non-empty match in document order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from lxml import etree

from gateway.mapping.converters import source_text

_STEP = re.compile(
    r"^(?:(?P<prefix>[A-Za-z_][\w.-]*):)?(?P<name>[A-Za-z_][\w.-]*)(?P<first>\[1\])?$")

Found = tuple[Any, str] | None


def simple_steps(path: str, namespaces: dict[str, str]) -> list[tuple[str, bool]] | None:
    """``d:A/d:B[1]/d:C`` -> ``[("{ns}A", False), ("{ns}B", True), ("{ns}C", False)]``."""
    steps = []
    for part in path.split("/"):
        match = _STEP.match(part.strip())
        if match is None:
            return None
        prefix = match.group("prefix")
        if prefix is not None and prefix not in namespaces:
            return None
        tag = f"{{{namespaces[prefix]}}}{match.group('name')}" if prefix else match.group("name")
        steps.append((tag, match.group("first") is not None))
    return steps


class _Node:
    __slots__ = ("any", "first", "slots", "inner")

    def __init__(self) -> None:
        self.any: dict[str, _Node] = {}      # children reached through every matching element
        self.first: dict[str, _Node] = {}    # children reached through the first one only ([1])
        self.slots: list[int] = []           # paths that end here
        self.inner = False                   # has children (any or first)


class FieldLookup:
    """Finds, for each field, the first non-empty value among its alternative paths."""

    def __init__(self, alternatives: Sequence[Sequence[str]], namespaces: dict[str, str]) -> None:
        self._root = _Node()
        self._plans: list[list[tuple[int, etree.XPath | None]]] = []
        slot = 0
        for paths in alternatives:
            plan: list[tuple[int, etree.XPath | None]] = []
            for path in paths:
                steps = simple_steps(path, namespaces)
                if steps is None:
                    plan.append((-1, etree.XPath(path, namespaces=namespaces)))
                else:
                    self._insert(steps, slot)
                    plan.append((slot, None))
                    slot += 1
            self._plans.append(plan)
        # the common case, one simple path per field, answered by a plain dict lookup
        self._single = [plan[0][0] if len(plan) == 1 and plan[0][1] is None else None
                        for plan in self._plans]

    def _insert(self, steps: list[tuple[str, bool]], slot: int) -> None:
        node = self._root
        for tag, first in steps:
            node.inner = True
            table = node.first if first else node.any
            node = table.setdefault(tag, _Node())
        node.slots.append(slot)

    def find(self, context: etree._Element) -> list[Found]:
        found: dict[int, tuple[Any, str]] = {}
        if self._root.inner:
            _walk(context, self._root, found)
        results: list[Found] = []
        for single, plan in zip(self._single, self._plans, strict=True):
            if single is not None:
                results.append(found.get(single))
                continue
            value: Found = None
            for slot, xpath in plan:
                value = found.get(slot) if xpath is None else _xpath_value(xpath, context)
                if value is not None:
                    break
            results.append(value)
        return results


def _walk(element: etree._Element, node: _Node, found: dict[int, tuple[Any, str]]) -> None:
    """Descend into the children of ``element`` that ``node`` has paths for."""
    any_, first = node.any, node.first
    seen_first: set[str] | None = set() if first else None
    for child in element:
        tag = child.tag
        below = any_.get(tag)
        if below is not None:
            if below.slots:
                _take(child, below.slots, found)
            if below.inner:
                _walk(child, below, found)
        if seen_first is not None and tag not in seen_first:
            below = first.get(tag)
            if below is not None:
                seen_first.add(tag)
                if below.slots:
                    _take(child, below.slots, found)
                if below.inner:
                    _walk(child, below, found)


def _take(element: etree._Element, slots: list[int], found: dict[int, tuple[Any, str]]) -> None:
    if len(element):                      # children: maybe a <null/> placeholder
        text = source_text(element)
    else:
        text = element.text
        if text is not None:
            text = text.strip() or None
    if text is not None:
        for slot in slots:
            if slot not in found:
                found[slot] = (element, text)


def _xpath_value(xpath: etree.XPath, context: etree._Element) -> Found:
    result = xpath(context)
    if isinstance(result, list):
        for node in result:
            text = source_text(node)
            if text is not None:
                return node, text
        return None
    if result is None or isinstance(result, bool):
        return None
    text = str(result).strip()
    return (None, text) if text else None
