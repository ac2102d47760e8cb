"""Canonical kinds: how to build, check and route each kind of canonical message.

A message type in the registry names its ``canonical_kind``; this module says what that kind
is in code: its class, its first layer of business rules (checks any document of the kind
must pass, whatever its dialect), and the attributes the routing table may match on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.canonical.declaration import Declaration, header_pointer, item_pointer
from gateway.canonical.model import from_plain
from gateway.errors import InvalidMessage, Problem


@dataclass(frozen=True)
class CanonicalKind:
    name: str
    build: Callable[[dict[str, Any]], Any]
    check: Callable[[Any], None]
    routing_attributes: Callable[[Any], dict[str, str]]


class CanonicalKinds:
    def __init__(self, kinds: list[CanonicalKind]) -> None:
        self._kinds = {k.name: k for k in kinds}

    def get(self, name: str) -> CanonicalKind:
        return self._kinds[name]

    def __contains__(self, name: str) -> bool:
        return name in self._kinds


def check_declaration(declaration: Declaration) -> None:
    """Rules every declaration must meet before the gateway accepts it."""
    problems: list[Problem] = []
    header = declaration.header
    if header.function_code == "9" and not declaration.goods_items:
        problems.append(Problem("GW-RULE-NO-ITEMS",
                                "an original declaration (function code 9) needs goods items",
                                pointer="42A/67A/68A"))
    seen: set[int] = set()
    for item in declaration.goods_items:
        if item.sequence in seen:
            problems.append(Problem("GW-RULE-DUPLICATE-ITEM",
                                    f"goods item sequence number {item.sequence} is used twice",
                                    pointer=item_pointer(item.sequence, "sequence"),
                                    value=str(item.sequence)))
        seen.add(item.sequence)
    if header.function_code == "9" and not header.lrn:
        problems.append(Problem("GW-RULE-NO-LRN",
                                "an original declaration needs the trader's reference (LRN)",
                                pointer=header_pointer("lrn")))
    if problems:
        raise InvalidMessage(f"{len(problems)} business rule(s) not met",
                             code="GW-RULE-INVALID", problems=problems)


def declaration_attributes(declaration: Declaration) -> dict[str, str]:
    procedure = declaration.procedure
    return {
        "declaration_type": declaration.header.type_code or "",
        "procedure_category": (procedure.category if procedure else None) or "",
        "procedure": (procedure.requested if procedure else None) or "",
        "office": (declaration.offices.declaration if declaration.offices else None) or "",
        "reference": declaration.header.lrn or "",
        "function_code": declaration.header.function_code or "",
    }


def default_kinds() -> CanonicalKinds:
    return CanonicalKinds([
        CanonicalKind("declaration", lambda plain: from_plain(Declaration, plain),
                      check_declaration, declaration_attributes),
    ])
