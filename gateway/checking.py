"""Check documents the way the intake does, without a partner or a journal.

Used by ``gateway validate FILE…`` so brokers can check files before sending them: the very
same pipeline steps (parse, identify, validate, map with the business rules) and therefore
the same problem codes, pointers, lines and columns as a real submission.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.errors import GatewayError, Problem
from gateway.pipeline.assembly import CheckPipelines
from gateway.pipeline.exchange import Exchange


@dataclass
class CheckResult:
    valid: bool
    message_type: str | None = None
    summary: str = ""
    problems: list[Problem] = field(default_factory=list)


@dataclass
class DocumentChecker:
    pipelines: CheckPipelines        # the intake's own steps: parse, identify, validate, map

    def check(self, body: bytes) -> CheckResult:
        ex = Exchange(body=body, channel="file")
        try:
            ex = self.pipelines.identify.run(ex)
            assert ex.message_type is not None
            ex = self.pipelines.check[ex.message_type.canonical_kind].run(ex)
        except GatewayError as err:
            return CheckResult(False, ex.message_type.id if ex.message_type else None,
                               err.message, list(err.problems))
        assert ex.message_type is not None
        return CheckResult(True, ex.message_type.id, ex.summary)
