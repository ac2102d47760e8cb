"""The canonical payment event: what clearance is told when a bank's payment is applied.

One event per payment the gateway applied to a duty assessment (``event = "confirmed"``) or
per reversal that undid one (``event = "reversed"``), published to clearance as deterministic
JSON with a detached signature (the gateway's bus key), routed by ``config/routes.toml``
(kind ``payment``). It states the assessment after the payment: its new status, what is
still outstanding and any excess, so that clearance can release the goods once ``status`` is
``paid`` (or ``overpaid``) without keeping its own sums.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

CANONICAL_VERSION = "1.0"
CONFIRMED, REVERSED = "confirmed", "reversed"


@dataclass
class PaymentEvent:
    event_id: str = ""
    event: str = CONFIRMED                   # confirmed | reversed
    payment_id: str = ""
    reference: str = ""                      # the assessment's ISO 11649 reference
    mrn: str | None = None
    conversation_id: str = ""                # the declaration's conversation
    amount: Decimal | None = None            # this payment (a reversal: the amount undone)
    currency: str = ""
    status: str = ""                         # the assessment's status after this payment
    amount_due: Decimal | None = None
    paid: Decimal | None = None              # paid in total, after this payment
    outstanding: Decimal | None = None
    excess: Decimal | None = None
    bank: str = ""                           # the sending bank (partner id)
    bank_bic: str | None = None
    bank_reference: str = ""
    end_to_end_id: str | None = None
    uetr: str | None = None
    booking_date: str | None = None
    value_date: str | None = None
    reverses: str | None = None              # a reversal: the payment id it undid
    notification_conversation_id: str = ""   # the bank file's conversation
    notification_receipt_id: str = ""
    applied_at: str = ""
    canonical_version: str = CANONICAL_VERSION
