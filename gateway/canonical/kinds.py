"""Canonical kinds: how to build, check and route each kind of canonical message.

A message type in the registry names its ``canonical_kind`` and, optionally, the named
business rules of its format (``rules = ["lrn-required"]``); this module says what a kind is
in code: its class, the rules any document of the kind must pass whatever its dialect, the
named rules a message type may choose from, and the attributes the routing table may match
on. ``CanonicalKinds.check_message_types`` refuses, at start-up, a message type naming an
unknown kind or rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.canonical.declaration import Declaration
from gateway.canonical.declaration_rules import DECLARATION_RULES, NAMED_DECLARATION_RULES
from gateway.canonical.model import from_plain
from gateway.errors import ConfigurationError, InvalidMessage, Problem

Rule = Callable[[Any], list[Problem]]


class _MessageTypeRules(Protocol):
    """What ``check_message_types`` reads of a registry entry (``message_types.MessageType``)."""

    @property
    def id(self) -> str: ...
    @property
    def canonical_kind(self) -> str: ...
    @property
    def rules(self) -> Sequence[str]: ...


@dataclass(frozen=True)
class CanonicalKind:
    name: str
    build: Callable[[dict[str, Any]], Any]
    rules: Sequence[Rule]                        # hold for every dialect
    routing_attributes: Callable[[Any], dict[str, str]]
    named_rules: Mapping[str, Rule] = field(default_factory=dict)   # chosen per message type

    def check(self, canonical: Any, rules: Sequence[str] = ()) -> None:
        """Raise ``InvalidMessage`` listing every problem of the kind's rules and ``rules``."""
        problems = [p for rule in self.rules for p in rule(canonical)]
        problems += [p for name in rules for p in self.named_rules[name](canonical)]
        if problems:
            raise InvalidMessage(f"{len(problems)} business rule(s) not met",
                                 code="GW-RULE-INVALID", problems=problems)


class CanonicalKinds:
    def __init__(self, kinds: list[CanonicalKind]) -> None:
        self._kinds = {k.name: k for k in kinds}

    def get(self, name: str) -> CanonicalKind:
        return self._kinds[name]

    def __contains__(self, name: str) -> bool:
        return name in self._kinds

    def check_message_types(self, message_types: Iterable[_MessageTypeRules]) -> None:
        """Refuse message types whose canonical kind or named rules are not known here."""
        for mt in message_types:
            if mt.canonical_kind not in self._kinds:
                raise ConfigurationError(f"{mt.id}: unknown canonical kind {mt.canonical_kind!r}")
            known = self._kinds[mt.canonical_kind].named_rules
            unknown = [name for name in mt.rules if name not in known]
            if unknown:
                raise ConfigurationError(
                    f"{mt.id}: unknown business rule(s) {', '.join(map(repr, unknown))} for "
                    f"kind {mt.canonical_kind!r}; known: {', '.join(sorted(known)) or 'none'}")


def check_declaration(declaration: Declaration, rules: Sequence[str] = ()) -> None:
    """The rules every declaration meets, then the named ``rules`` (e.g. ``lrn-required``)."""
    DECLARATION.check(declaration, rules)


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


DECLARATION = CanonicalKind("declaration", lambda plain: from_plain(Declaration, plain),
                            DECLARATION_RULES, declaration_attributes, NAMED_DECLARATION_RULES)


def default_kinds() -> CanonicalKinds:
    return CanonicalKinds([DECLARATION])
