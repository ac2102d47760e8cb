"""What the clearance STAND-IN does with the gateway's licence messages (``clearance.licences``).

The gateway publishes two kinds there, each signed (detached, the gateway's bus key) and told
apart by the ``x-canonical-kind`` header:

* ``licence`` — every version of a licence or certificate an agency sent (canonical
  ``Licence``): noted;
* ``licence_reservation`` — each step of a quantity reserved on a licence for a goods item
  (canonical ``ReservationEvent``). For a declaration whose release waits
  (``clearance_rules.release_conditions``), ``reserved`` **meets** its condition
  ``reservation:<agency>:<number>:<item>``; ``refused``, and ``licence_revoked`` (the licence
  was revoked after the quantity was reserved), **fail** it — the release is withheld; any
  other step (written off, deleted, a refused write-off) is noted.

Anything else — another kind, a body that is not the canonical JSON — is parked. Signatures
and de-duplication by message id are the consumer's (``clearance.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from gateway.canonical.licence import Licence
from gateway.canonical.licence_reservation import KIND as RESERVATION
from gateway.canonical.licence_reservation import ReservationEvent
from gateway.canonical.model import from_plain

LICENCE = "licence"
MEET, FAIL, NOTED, PARK = "meet", "fail", "noted", "park"
_FAILING = ("refused", "licence_revoked")


@dataclass(frozen=True)
class LicenceVerdict:
    """What to do with one licence message, and why (one sentence for the log)."""

    action: str                          # MEET | FAIL | NOTED | PARK
    reason: str
    conversation_id: str | None = None
    condition: str | None = None


def condition_of(event: ReservationEvent) -> str:
    return f"reservation:{event.agency}:{event.number}:{event.item}"


def judge_licence(kind: str | None, body: bytes) -> LicenceVerdict:
    """The verdict on a licence message of ``kind`` (its signature checked already)."""
    try:
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        if kind == LICENCE:
            licence = from_plain(Licence, data)
            return LicenceVerdict(NOTED, licence.summary())
        if kind == RESERVATION:
            return _reservation(from_plain(ReservationEvent, data))
    except (ValueError, TypeError, ArithmeticError) as exc:
        return LicenceVerdict(PARK, f"the {kind} message cannot be understood: {exc}")
    return LicenceVerdict(PARK, f"clearance.licences carries no {kind!r} messages")


def _reservation(event: ReservationEvent) -> LicenceVerdict:
    if not event.conversation_id or not event.number or not event.item or not event.event:
        raise ValueError("a reservation event names its conversation, licence, item and event")
    where = f"{event.agency}/{event.number} item {event.item} (MRN {event.mrn})"
    condition = condition_of(event)
    if event.event == "reserved":
        return LicenceVerdict(MEET, f"{where} reserved", event.conversation_id, condition)
    if event.event in _FAILING:
        because = f": {event.reason} — {event.reason_text}" if event.reason else ""
        return LicenceVerdict(FAIL, f"{where} {event.event}{because}", event.conversation_id,
                              condition)
    return LicenceVerdict(NOTED, f"{where} {event.event}", event.conversation_id, condition)
