"""The canonical payment confirmation: one payment a bank booked, as the gateway hands it on.

A bank's ISO 20022 ``camt.054`` notification (001.02, 001.04 or 001.08) becomes one
``PaymentNotification`` — the canonical unit of one file — whose ``transactions`` are
``PaymentConfirmation`` objects, one per transaction (``TxDtls``) of every entry (``Ntry``) of
every account notification (``Ntfctn``); an entry without transaction details gives one
confirmation from the entry's own values. Each confirmation carries what matching it to a
duty assessment needs — the payment reference, amount and currency, credit or debit,
reversal, status, dates — and the ids to trace it back: message, notification, entry, the
bank's own references.

The reference is the first structured creditor reference (``RmtInf/Strd/CdtrRefInf/Ref``, its
type code ``SCOR`` for an ISO 11649 ``RF…`` reference), else the first line of unstructured
remittance text (``RmtInf/Ustrd``). The model does not refuse other references (a Swiss bank's
ESR/QR numbers, free text): matching parks what it cannot match. Every field names its ISO
20022 path below ``TxDtls`` (``iso20022``; ``../..`` is the entry, ``../../..`` the account
notification). ``CANONICAL_VERSION`` changes whenever a field is added, renamed or re-typed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from gateway.canonical.declaration import Amount
from gateway.identifiers import is_valid_creditor_reference

CANONICAL_VERSION = "1.0"

CREDIT, DEBIT = "CRDT", "DBIT"
BOOKED = "BOOK"


def iso(path: str, *, default: Any = None, many: bool = False) -> Any:
    """A canonical field that knows its ISO 20022 path (below ``TxDtls`` for a transaction)."""
    metadata = {"iso20022": path}
    if many:
        return dataclasses.field(default_factory=list, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass
class CreditorReference:
    """One structured remittance block's creditor reference (``RmtInf/Strd/CdtrRefInf``)."""

    reference: str | None = iso("Ref")
    type_code: str | None = iso("Tp/CdOrPrtry/Cd")            # SCOR for ISO 11649 (RF…)
    proprietary_type: str | None = iso("Tp/CdOrPrtry/Prtry")  # e.g. "ISR Reference"
    issuer: str | None = iso("Tp/Issr")
    due_amount: Amount | None = iso("../RfrdDocAmt/DuePyblAmt")
    remitted_amount: Amount | None = iso("../RfrdDocAmt/RmtdAmt")


@dataclass
class PaymentConfirmation:
    """One payment (``TxDtls``) as booked by the bank, with the values of its entry."""

    reference: str | None = iso("RmtInf/Strd/CdtrRefInf/Ref | RmtInf/Ustrd")
    reference_type: str | None = iso("RmtInf/Strd/CdtrRefInf/Tp/CdOrPrtry")
    reference_source: str | None = None          # "structured" | "unstructured"
    creditor_references: list[CreditorReference] = iso("RmtInf/Strd/CdtrRefInf", many=True)
    remittance_information: str | None = iso("RmtInf/Ustrd")
    amount: Amount | None = iso("Amt | AmtDtls/TxAmt/Amt")
    entry_amount: Amount | None = iso("../../Amt")
    credit_debit: str | None = iso("CdtDbtInd | ../../CdtDbtInd")
    reversal: bool = iso("../../RvslInd", default=False)
    status: str | None = iso("../../Sts")
    booking_date: str | None = iso("../../BookgDt")
    value_date: str | None = iso("../../ValDt")
    debtor_name: str | None = iso("RltdPties/Dbtr")
    debtor_account: str | None = iso("RltdPties/DbtrAcct/Id")
    debtor_agent: str | None = iso("RltdAgts/DbtrAgt/FinInstnId")
    end_to_end_id: str | None = iso("Refs/EndToEndId")
    uetr: str | None = iso("Refs/UETR")
    account_servicer_reference: str | None = iso("Refs/AcctSvcrRef")
    entry_account_servicer_reference: str | None = iso("../../AcctSvcrRef")
    entry_reference: str | None = iso("../../NtryRef")
    return_reason: str | None = iso("RtrInf/Rsn")
    notification_id: str | None = iso("../../../Id")
    account: str | None = iso("../../../Acct/Id")
    bank: str | None = iso("../../../Acct/Svcr/FinInstnId")
    message_id: str | None = iso("../../../../GrpHdr/MsgId")

    def __post_init__(self) -> None:
        if self.reference is not None:
            return
        first = next((r for r in self.creditor_references if r.reference), None)
        if first is not None:
            self.reference = first.reference
            self.reference_type = first.type_code or first.proprietary_type
            self.reference_source = "structured"
        elif self.remittance_information is not None:
            self.reference = self.remittance_information
            self.reference_source = "unstructured"

    @property
    def is_creditor_reference(self) -> bool:
        """The reference is a valid ISO 11649 ``RF…`` creditor reference."""
        return self.reference is not None and is_valid_creditor_reference(self.reference)

    @property
    def signed_amount(self) -> Decimal | None:
        """The amount as it moves the account: negative for a debit, whatever reversal says."""
        if self.amount is None:
            return None
        return -self.amount.value if self.credit_debit == DEBIT else self.amount.value


@dataclass
class PaymentNotification:
    """One bank-to-customer notification file: its ids and its payment confirmations.

    ``bank`` and ``account`` are those of the file's first account notification; each
    transaction names its own (a file may report several accounts).
    """

    source_format: str = ""                      # registry id of the format it came from
    canonical_version: str = CANONICAL_VERSION
    message_id: str | None = iso("GrpHdr/MsgId")
    created_at: str | None = iso("GrpHdr/CreDtTm")
    notification_id: str | None = iso("Ntfctn[1]/Id")
    bank: str | None = iso("Ntfctn[1]/Acct/Svcr/FinInstnId")
    account: str | None = iso("Ntfctn[1]/Acct/Id")
    transactions: list[PaymentConfirmation] = iso("Ntfctn/Ntry/NtryDtls/TxDtls", many=True)

    def totals(self) -> dict[str, Decimal]:
        """Sum of the signed transaction amounts per currency."""
        out: dict[str, Decimal] = {}
        for tx in self.transactions:
            signed = tx.signed_amount
            if signed is not None and tx.amount is not None and tx.amount.currency:
                out[tx.amount.currency] = out.get(tx.amount.currency, Decimal(0)) + signed
        return out

    def summary(self) -> str:
        """One line for logs and operators, e.g. ``camt.054 MSG-1: 3 payment(s), CHF 9.50``."""
        sums = ", ".join(f"{c} {format(v, 'f')}" for c, v in sorted(self.totals().items()))
        return (f"{self.source_format or 'payment notification'} {self.message_id}: "
                f"{len(self.transactions)} payment(s){', ' + sums if sums else ''}")
