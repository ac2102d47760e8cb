"""Business rules on canonical payment notifications (every camt.054 version).

What a bank file must state for the gateway to take it at all — the rest (references that are
not ISO 11649, unknown references, other currencies) is decided transaction by transaction by
matching, which parks what it cannot match instead of refusing the file.
"""

from __future__ import annotations

from gateway.canonical.payment import PaymentNotification
from gateway.errors import Problem


def has_transactions(notification: PaymentNotification) -> list[Problem]:
    """A notification with no entry at all carries nothing to match."""
    if notification.transactions:
        return []
    return [Problem("GW-RULE-NO-PAYMENTS", "the notification reports no entry (Ntry)",
                    pointer="BkToCstmrDbtCdtNtfctn/Ntfctn/Ntry")]


def amounts_stated(notification: PaymentNotification) -> list[Problem]:
    """Every payment states an amount with its currency (the transaction's or its entry's)."""
    return [Problem("GW-RULE-AMOUNT", f"payment {index} states no amount with a currency",
                    pointer=f"Ntry/NtryDtls/TxDtls[{index}]/Amt")
            for index, tx in enumerate(notification.transactions, 1)
            if tx.amount is None or not tx.amount.currency]


PAYMENT_NOTIFICATION_RULES = (has_transactions, amounts_stated)
