"""The canonical clearance decision: what the clearance system says about a declaration.

Decisions travel on RabbitMQ as deterministic JSON, signed (detached) by the clearance
system. One declaration gets several: accepted (with the MRN) or rejected (with errors and
WCO pointers), then the risk channel (control), the duties assessed, and the release — or,
after its acceptance, its invalidation (``invalidated``: the declaration no longer stands; the
quantities it reserved on licences are given back).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from gateway.canonical.model import wco

DECISION_KINDS = ("accepted", "rejected", "control", "duties_assessed", "released",
                  "invalidated")
CHANNELS = ("green", "yellow", "red")


@dataclass
class DecisionError:
    code: str = wco("377")
    description: str = wco("488")
    pointer: str | None = wco("97A")             # WCO id path, e.g. 42A/67A/68A[2]/23A/65A/128


@dataclass
class AssessedDuty:
    item: int = wco("006", default=0)
    type: str | None = wco("113")
    base: Decimal | None = wco("116")
    rate: Decimal | None = wco("115")
    amount: Decimal | None = wco("120", "94A/120")


@dataclass
class ClearanceDecision:
    decision_id: str = ""
    kind: str = ""                                # one of DECISION_KINDS
    conversation_id: str = ""
    receipt_id: str = ""
    reference: str | None = wco("D026")           # the trader's LRN
    mrn: str | None = wco("D014")
    decided_at: str = ""
    channel: str | None = None                    # control: green / yellow / red
    errors: list[DecisionError] = wco("53A", many=True)
    duties: list[AssessedDuty] = wco("50A", many=True)
    total_duties: Decimal | None = wco("120")
    currency: str | None = None
    payment_reference: str | None = wco("014", "94A/014")
    canonical_version: str = "1.0"

    def check(self) -> None:
        """Raise ``ValueError`` unless the decision is complete enough to act on."""
        if self.kind not in DECISION_KINDS:
            raise ValueError(f"unknown decision kind {self.kind!r}")
        if not self.decision_id or not self.conversation_id:
            raise ValueError("a decision needs decision_id and conversation_id")
        if self.kind == "accepted" and not self.mrn:
            raise ValueError("an acceptance needs the MRN")
        if self.kind == "control" and self.channel not in CHANNELS:
            raise ValueError(f"control decision with channel {self.channel!r}")
        try:
            dt.datetime.fromisoformat(self.decided_at.replace("Z", "+00:00"))
        except (AttributeError, ValueError) as exc:
            raise ValueError(f"decided_at {self.decided_at!r} is not an ISO 8601 time") from exc
        for error in self.errors:
            if not error.code or not error.description:
                raise ValueError("every error needs a code and a description")
        if self.kind == "rejected" and not self.errors:
            raise ValueError("a rejection needs at least one error")
