"""The answer to a bank's payment-reference look-up: ``gw:PaymentReferenceInfo``.

One document (``schemas/gateway/gateway-v1.xsd``), signed whole like the gateway's other
documents (enveloped XML-DSig on its ``Id``)::

    PaymentReferenceInfo Id="PRI-…"
      InfoID, AnsweredAt, Partner (the bank that asked), Reference, Validity
      valid only: Status, MRN, AmountDue, Paid, Outstanding (currency attributes), ReplacedBy
                  (cancelled), AssessedAt

``Outstanding`` is what the bank may still collect under the reference: nothing once it is paid
(or overpaid) or cancelled.
"""

from __future__ import annotations

from decimal import Decimal

from lxml import etree

from gateway.documents.receipts import GW_NS
from gateway.flows.payments.reference_lookup import ReferenceInfo

PAYMENT_REFERENCE_INFO = f"{{{GW_NS}}}PaymentReferenceInfo"


def _leaf(parent: etree._Element, tag: str, text: object | None,
          currency: str | None = None) -> None:
    if text is None:
        return
    element = etree.SubElement(parent, f"{{{GW_NS}}}{tag}")
    element.text = format(text, "f") if isinstance(text, Decimal) else str(text)
    if currency:
        element.set("currency", currency)


def build_reference_info(info: ReferenceInfo, *, info_id: str, answered_at: str,
                         partner_id: str) -> etree._Element:
    """The unsigned ``gw:PaymentReferenceInfo`` for ``info``, asked by ``partner_id``."""
    root = etree.Element(PAYMENT_REFERENCE_INFO, nsmap={"gw": GW_NS}, Id=f"PRI-{info_id}")
    for tag, text in (("InfoID", info_id), ("AnsweredAt", answered_at),
                      ("Partner", partner_id), ("Reference", info.reference),
                      ("Validity", info.validity)):
        _leaf(root, tag, text)
    found = info.assessment
    if found is not None:
        _leaf(root, "Status", found.status)
        _leaf(root, "MRN", found.mrn)
        _leaf(root, "AmountDue", found.amount_due, found.currency)
        _leaf(root, "Paid", found.paid, found.currency)
        _leaf(root, "Outstanding", found.outstanding, found.currency)
        _leaf(root, "ReplacedBy", found.superseded_by)
        _leaf(root, "AssessedAt", found.assessed_at or None)
    return root
