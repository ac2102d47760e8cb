"""Check documents the way the intake does, without a partner or a journal.

Used by ``gateway validate FILE…`` so brokers can check files before sending them: the same
parser limits, registry, schemas, mappings and business rules, the same problem codes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.canonical.registry import CanonicalKinds
from gateway.errors import GatewayError, Problem
from gateway.mapping.engine import Mapping
from gateway.registry import MessageTypeRegistry
from gateway.xml.safe_parser import XmlLimits, parse_untrusted


@dataclass
class CheckResult:
    valid: bool
    message_type: str | None = None
    summary: str = ""
    problems: list[Problem] = field(default_factory=list)


@dataclass
class DocumentChecker:
    registry: MessageTypeRegistry
    mappings: dict[str, Mapping]
    kinds: CanonicalKinds
    limits: XmlLimits

    def check(self, body: bytes) -> CheckResult:
        message_type = None
        try:
            root = parse_untrusted(body, self.limits).getroot()
            message_type = self.registry.identify(root).message_type
            problems = self.registry.validate(message_type, root, body)
            if problems:
                return CheckResult(False, message_type.id, "schema problems", problems)
            plain = self.mappings[message_type.mapping_file].apply(root, body)
            kind = self.kinds.get(message_type.canonical_kind)
            canonical = kind.build(plain)
            kind.check(canonical)
        except GatewayError as err:
            return CheckResult(False, message_type.id if message_type else None, err.message,
                               list(err.problems))
        items = len(getattr(canonical, "goods_items", []) or [])
        return CheckResult(True, message_type.id, f"{items} goods item(s)")
