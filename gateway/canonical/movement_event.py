"""The canonical movement event: what customs decided about a transit movement.

Events travel on RabbitMQ as deterministic JSON (AMQP type ``transit.<kind>``, correlation id
the MRN), signed (detached) by the clearance system — or, in the sandbox, by the transit
stand-in (``adapters/standins/transit.py``) with the clearance key. One movement gets, at
each gateway, the events of the role it plays there:

* departure: ``mrn_allocated`` (the MRN; the CC015C's conversation), ``rejected`` (errors),
  ``released`` (acceptance and release dates, the control result), ``written_off``;
* destination: ``arrival_accepted`` (the goods are at the office of destination: the arrival
  advice goes to departure), ``control_results`` (the control result: to departure, and the
  goods released to the trader);
* transit: ``crossing`` (the office of transit the movement passed, the passage date).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from gateway.canonical.movement import ControlResult
from gateway.identifiers import is_valid_mrn

EVENT_KINDS = ("mrn_allocated", "rejected", "released", "written_off", "arrival_accepted",
               "control_results", "crossing")
#: the event type on the bus (config/events.toml) of each kind
EVENT_TYPES = {kind: f"transit.{kind}" for kind in EVENT_KINDS}
_BY_CONVERSATION = ("mrn_allocated", "rejected")


@dataclass
class EventError:
    """One functional error of a rejection (CL180 code, XPath pointer, rule)."""

    pointer: str = ""
    code: str = "12"
    reason: str = "N/A"
    value: str | None = None


@dataclass
class MovementEvent:
    event_id: str = ""
    kind: str = ""                                # one of EVENT_KINDS
    mrn: str | None = None
    conversation_id: str | None = None            # mrn_allocated, rejected: the CC015C's
    decided_at: str = ""                          # ISO 8601 instant
    acceptance_date: str | None = None            # YYYY-MM-DD
    release_date: str | None = None
    control_result: ControlResult | None = None   # released, control_results
    office: str | None = None                     # crossing: transit; arrival: destination
    passage_date: str | None = None               # crossing
    arrived_at: str | None = None                 # arrival_accepted
    rejection_reason: str | None = None
    errors: list[EventError] = field(default_factory=list)
    canonical_version: str = "1.0"

    def check(self) -> None:
        """Raise ``ValueError`` unless the event is complete enough to act on."""
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"unknown movement event kind {self.kind!r}")
        if not self.event_id:
            raise ValueError("a movement event needs its event_id")
        try:
            dt.datetime.fromisoformat(self.decided_at.replace("Z", "+00:00"))
        except (AttributeError, ValueError) as exc:
            raise ValueError(f"decided_at {self.decided_at!r} is not an ISO 8601 time") from exc
        if self.kind in _BY_CONVERSATION and not self.conversation_id:
            raise ValueError(f"a {self.kind} event names the declaration's conversation_id")
        if self.kind != "rejected" and not (self.mrn and is_valid_mrn(self.mrn)):
            raise ValueError(f"a {self.kind} event needs a valid MRN, not {self.mrn!r}")
        if self.kind in ("released", "control_results") and (
                self.control_result is None or not self.control_result.code
                or not self.control_result.date):
            raise ValueError(f"a {self.kind} event needs the control result (code, date)")
        if self.kind == "crossing" and not self.office:
            raise ValueError("a crossing event names the office of transit")
        if self.kind == "rejected" and not self.errors:
            raise ValueError("a rejection needs at least one error")
