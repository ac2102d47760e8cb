"""Payment documents: the broker's "duties paid" notice and the bank's acknowledgement.

Both are ``gw:Notification`` documents (``schemas/gateway/gateway-v1.xsd``), signed whole like
the decision notifications, with ``SourceID`` naming what caused them instead of a decision:

* kind ``PAY`` — in the declaration's conversation, for the broker, once its assessment has
  nothing outstanding: ``gw:PaymentStatus`` (reference, MRN, amount due, paid, outstanding,
  excess, status, the payment that completed it);
* kind ``ACK`` — in the bank file's own conversation, for the bank: ``gw:PaymentAcknowledgement``
  listing every transaction of the file with its outcome (``matched``, ``partly``, ``over``,
  ``reversed``, ``duplicate``, ``parked`` with the reason).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from lxml import etree

from gateway.documents.receipts import GW_NS
from gateway.flows.payments.ledger import Assessment, Payment
from gateway.flows.payments.matching import Outcome

PAY, ACK = "PAY", "ACK"


def _gw(tag: str) -> str:
    return f"{{{GW_NS}}}{tag}"


def _leaf(parent: etree._Element, tag: str, text: object | None) -> etree._Element | None:
    if text is None:
        return None
    element = etree.SubElement(parent, _gw(tag))
    element.text = format(text, "f") if isinstance(text, Decimal) else str(text)
    return element


def _amount(parent: etree._Element, tag: str, value: Decimal | None, currency: str | None
            ) -> None:
    element = _leaf(parent, tag, value)
    if element is not None and currency:
        element.set("currency", currency)


def _notification(kind: str, *, notification_id: str, conversation_id: str, source_id: str,
                  created_at: str, partner_id: str) -> tuple[etree._Element, etree._Element]:
    root = etree.Element(_gw("Notification"), nsmap={"gw": GW_NS}, Id=f"NTF-{notification_id}")
    for tag, text in (("NotificationID", notification_id), ("ConversationID", conversation_id),
                      ("SourceID", source_id), ("Kind", kind), ("CreatedAt", created_at),
                      ("Partner", partner_id)):
        _leaf(root, tag, text)
    return root, etree.SubElement(root, _gw("Payload"))


def build_payment_notice(assessment: Assessment, payment: Payment, *, notification_id: str,
                         source_id: str, created_at: str) -> etree._Element:
    """The unsigned ``PAY`` notification: the declaration's duties are paid."""
    root, payload = _notification(
        PAY, notification_id=notification_id, conversation_id=assessment.conversation_id,
        source_id=source_id, created_at=created_at, partner_id=assessment.partner_id)
    status = etree.SubElement(payload, _gw("PaymentStatus"))
    _leaf(status, "Reference", assessment.reference)
    _leaf(status, "MRN", assessment.mrn)
    _leaf(status, "Status", assessment.status)
    c = assessment.currency
    _amount(status, "AmountDue", assessment.amount_due, c)
    _amount(status, "Paid", assessment.paid, c)
    _amount(status, "Outstanding", assessment.outstanding, c)
    if assessment.excess:
        _amount(status, "Excess", assessment.excess, c)
    last = etree.SubElement(status, _gw("Payment"))
    _leaf(last, "Bank", payment.bank)
    _leaf(last, "BankReference", payment.bank_reference)
    _amount(last, "Amount", payment.amount, payment.currency)
    _leaf(last, "BookingDate", payment.booking_date)
    _leaf(last, "ValueDate", payment.value_date)
    return root


def build_payment_acknowledgement(outcomes: Sequence[Outcome], *, notification_id: str,
                                  conversation_id: str, source_id: str, created_at: str,
                                  partner_id: str, message_id: str | None,
                                  receipt_id: str) -> etree._Element:
    """The unsigned ``ACK`` notification: each transaction of the bank's file and its outcome."""
    root, payload = _notification(
        ACK, notification_id=notification_id, conversation_id=conversation_id,
        source_id=source_id, created_at=created_at, partner_id=partner_id)
    ack = etree.SubElement(payload, _gw("PaymentAcknowledgement"))
    _leaf(ack, "MessageID", message_id)
    _leaf(ack, "ReceiptID", receipt_id)
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.outcome] = counts.get(outcome.outcome, 0) + 1
    transactions = etree.SubElement(ack, _gw("Transactions"), count=str(len(outcomes)),
                                    applied=str(sum(o.applied for o in outcomes)),
                                    parked=str(counts.get("parked", 0)),
                                    duplicates=str(counts.get("duplicate", 0)))
    for outcome in outcomes:
        _transaction(transactions, outcome)
    return root


def _transaction(parent: etree._Element, outcome: Outcome) -> None:
    tx = outcome.confirmation
    element = etree.SubElement(parent, _gw("Transaction"), index=str(outcome.index))
    _leaf(element, "BankReference", outcome.bank_reference)
    _leaf(element, "EndToEndID", tx.end_to_end_id)
    _leaf(element, "Reference", tx.reference)
    if tx.amount is not None:
        _amount(element, "Amount", tx.amount.value, tx.amount.currency)
    _leaf(element, "Outcome", outcome.outcome)
    _leaf(element, "Reason", outcome.reason)
    if outcome.assessment is not None:
        _leaf(element, "Status", outcome.assessment.status)
        _amount(element, "Outstanding", outcome.assessment.outstanding,
                outcome.assessment.currency)
    _leaf(element, "ParkedID", outcome.parked_id)
