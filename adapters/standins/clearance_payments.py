"""What the clearance STAND-IN does with the gateway's payment messages (``clearance.payments``).

The gateway publishes two kinds there, each signed (detached, the gateway's bus key) and told
apart by the ``x-canonical-kind`` header:

* ``payment`` — one canonical ``PaymentEvent`` per payment applied to a duty assessment (or
  reversal undoing one), stating the assessment's status after it. When a declaration's release
  waits for payment (``clearance_rules.pending_release``) and the event says its assessment is
  ``paid`` or ``overpaid`` with nothing outstanding, the stand-in **releases** it: the
  ``released`` decision a release at once would have had (same id). A partial payment, a
  reversal, or a payment for a declaration that waits for nothing (released already, deferred,
  not on the green channel) is noted and changes nothing. An event for a waiting declaration
  that names another reference, currency or amount due than the stand-in assessed is parked
  for a person.
* ``payment_notification`` — the bank's whole file, canonical (every transaction, matched or
  not), for clearance's reconciliation: the stand-in reads it and notes its totals.

Anything else — another kind, a body that is not the canonical JSON — is parked. Signatures
and de-duplication by message id are the consumer's (``clearance.py``); this module only
decides, given what the stand-in's ledger says waits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from adapters.standins.clearance_rules import PendingRelease
from gateway.canonical.model import from_plain
from gateway.canonical.payment import PaymentNotification
from gateway.canonical.payment_event import CONFIRMED, PaymentEvent

EVENT, FILE = "payment", "payment_notification"
RELEASE, NOTED, PARK = "release", "noted", "park"
FULLY_PAID = ("paid", "overpaid")


class WaitingReleases(Protocol):
    def pending(self, conversation_id: str) -> PendingRelease | None: ...


@dataclass(frozen=True)
class PaymentVerdict:
    """What to do with one payment message, and why (one sentence for the log)."""

    action: str                          # RELEASE | NOTED | PARK
    reason: str
    pending: PendingRelease | None = None
    conversation_id: str | None = None


def judge(kind: str | None, body: bytes, releases: WaitingReleases) -> PaymentVerdict:
    """The verdict on a payment message of ``kind`` (its signature checked already)."""
    try:
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        if kind == FILE:
            return _file(from_plain(PaymentNotification, data))
        if kind == EVENT:
            return _event(from_plain(PaymentEvent, data), releases)
    except (ValueError, TypeError, ArithmeticError) as exc:
        return PaymentVerdict(PARK, f"the {kind} message cannot be understood: {exc}")
    return PaymentVerdict(PARK, f"clearance.payments carries no {kind!r} messages")


def _file(notification: PaymentNotification) -> PaymentVerdict:
    totals = ", ".join(f"{currency} {amount}"
                       for currency, amount in sorted(notification.totals().items()))
    return PaymentVerdict(NOTED, f"bank file {notification.message_id}: "
                                 f"{len(notification.transactions)} transaction(s), "
                                 f"{totals or 'no amounts'}")


def _event(event: PaymentEvent, releases: WaitingReleases) -> PaymentVerdict:
    conversation = event.conversation_id
    if not conversation or not event.reference:
        raise ValueError("a payment event names its declaration's conversation and reference")
    pending = releases.pending(conversation)
    if pending is None:
        return PaymentVerdict(NOTED, f"{event.event} payment on {event.reference}: nothing "
                                     f"waits for payment on this declaration", None, conversation)
    assessed = (pending.payment_reference, pending.currency, pending.amount_due)
    if (event.reference, event.currency, event.amount_due) != assessed:
        return PaymentVerdict(PARK, f"the declaration waits for {pending.currency} "
                                    f"{pending.amount_due} on {pending.payment_reference}; the "
                                    f"event says {event.currency} {event.amount_due} on "
                                    f"{event.reference}", pending, conversation)
    outstanding = event.outstanding if event.outstanding is not None else Decimal(1)
    if event.event == CONFIRMED and event.status in FULLY_PAID and outstanding == 0:
        return PaymentVerdict(RELEASE, f"{event.reference} is {event.status}", pending,
                              conversation)
    return PaymentVerdict(NOTED, f"{event.event} payment on {event.reference}: {event.status}, "
                                 f"{event.outstanding} outstanding", pending, conversation)
