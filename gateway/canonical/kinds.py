"""Canonical kinds: each family of canonical message as one registered unit.

A message type in the registry (``config/message_types.toml``) names its ``canonical_kind``
and, optionally, the named business rules of its format (``rules = ["lrn-required"]``). A
kind states its own contract, so that the pipeline, the journal and the routing never reach
into a model's attributes:

* ``model`` and ``version`` — the dataclass it builds and its ``canonical_version``;
* ``rules`` — the rules any document of the kind meets whatever its dialect, and
  ``named_rules`` a message type may choose from;
* ``routing_attributes`` — the values ``config/routes.toml`` may match on;
* ``business_reference`` — the sender's own reference (a declaration's LRN, a bank file's
  message id, a licence number, an MRN), journaled with the conversation and sent on the bus;
* ``summary`` — one line for logs, operators and the CLI;
* ``document_type`` (optional) — what the sender must be authorised to issue (a licence's
  certificate or licence type) and where the document states it: the intake refuses a partner
  whose ``allowed_document_types`` (``config/partners.toml``) do not list it
  (``gateway/pipeline/trust_steps.py``).

Adding a flow adds a kind here (and its model, rules and mappings elsewhere); the pipeline is
the same. ``CanonicalKinds.check_message_types`` refuses, at start-up, a message type naming an
unknown kind or rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from gateway.canonical.declaration import CANONICAL_VERSION as DECLARATION_VERSION
from gateway.canonical.declaration import Declaration
from gateway.canonical.declaration_rules import DECLARATION_RULES, NAMED_DECLARATION_RULES
from gateway.canonical.licence import CANONICAL_VERSION as LICENCE_VERSION
from gateway.canonical.licence import TYPE_POINTERS, Licence
from gateway.canonical.licence_rules import LICENCE_RULES
from gateway.canonical.licensing_rules import (
    LICENCES_QUOTED,
    LicensingRequirements,
    licences_quoted,
)
from gateway.canonical.model import from_plain
from gateway.canonical.movement import CANONICAL_VERSION as MOVEMENT_VERSION
from gateway.canonical.movement import MovementMessage, movement_attributes
from gateway.canonical.movement_rules import MOVEMENT_RULES
from gateway.canonical.payment import CANONICAL_VERSION as PAYMENT_VERSION
from gateway.canonical.payment import PaymentNotification
from gateway.canonical.payment_rules import PAYMENT_NOTIFICATION_RULES
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
class DocumentType:
    """What a sender must be authorised to issue (a certificate type code, a licence type),
    and where its document states it."""

    code: str
    pointer: str | None = None


@dataclass(frozen=True)
class CanonicalKind:
    """One family of canonical messages and everything the core needs to know about it."""

    name: str
    model: type
    version: str
    rules: Sequence[Rule]                                           # hold for every dialect
    routing_attributes: Callable[[Any], dict[str, str]]
    business_reference: Callable[[Any], str | None]
    summary: Callable[[Any], str]
    named_rules: Mapping[str, Rule] = field(default_factory=dict)   # chosen per message type
    document_type: Callable[[Any], DocumentType | None] | None = None  # what it must be allowed

    def build(self, plain: dict[str, Any]) -> Any:
        """The canonical object from the mapping's plain data."""
        return from_plain(self.model, plain)

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
        "function_code": declaration.header.function_code or "",
    }


def declaration_summary(declaration: Declaration) -> str:
    return f"{len(declaration.goods_items)} goods item(s)"


DECLARATION = CanonicalKind(
    "declaration", Declaration, DECLARATION_VERSION, DECLARATION_RULES, declaration_attributes,
    business_reference=lambda d: d.header.lrn or None, summary=declaration_summary,
    named_rules=NAMED_DECLARATION_RULES)


def payment_attributes(notification: PaymentNotification) -> dict[str, str]:
    return {"bank": notification.bank or "", "account": notification.account or ""}


PAYMENT_NOTIFICATION = CanonicalKind(
    "payment_notification", PaymentNotification, PAYMENT_VERSION, PAYMENT_NOTIFICATION_RULES,
    payment_attributes, business_reference=lambda n: n.message_id or None,
    summary=lambda n: n.summary())


def licence_attributes(licence: Licence) -> dict[str, str]:
    agency = licence.issuing_agency
    return {"type": licence.type, "status": licence.status,
            "certificate_type": licence.certificate_type_code or "",
            "agency": (agency.id if agency else None) or "", "source": licence.source}


def licence_document_type(licence: Licence) -> DocumentType:
    return DocumentType(licence.document_type(), TYPE_POINTERS.get(licence.source))


LICENCE = CanonicalKind(
    "licence", Licence, LICENCE_VERSION, LICENCE_RULES, licence_attributes,
    business_reference=lambda licence: licence.number or None,
    summary=lambda licence: licence.summary(), document_type=licence_document_type)


MOVEMENT = CanonicalKind(
    "movement_message", MovementMessage, MOVEMENT_VERSION, MOVEMENT_RULES, movement_attributes,
    business_reference=lambda m: m.reference, summary=lambda m: m.summary())


def declaration_kind(licensing: LicensingRequirements | None = None) -> CanonicalKind:
    """The declaration kind; with ``licensing`` (``config/licensing.toml``, loaded at start-up)
    its named rules include ``licences-quoted``."""
    if licensing is None:
        return DECLARATION
    return replace(DECLARATION, named_rules={**DECLARATION.named_rules,
                                             LICENCES_QUOTED: licences_quoted(licensing)})


def default_kinds(licensing: LicensingRequirements | None = None) -> CanonicalKinds:
    return CanonicalKinds([declaration_kind(licensing), PAYMENT_NOTIFICATION, LICENCE, MOVEMENT])
