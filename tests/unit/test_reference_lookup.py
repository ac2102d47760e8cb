"""A bank's payment-reference look-up: the ledger's answer and its signed document."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from fake_payment_ledger import FakePaymentLedgerReader, FakePaymentLedgerStore
from lxml import etree
from signing_helpers import assert_xmlsec1_accepts

from gateway.documents.receipts import GW_NS
from gateway.documents.reference_info import build_reference_info
from gateway.flows.payments.ledger import Assessment
from gateway.flows.payments.reference_lookup import (
    INVALID,
    UNKNOWN,
    VALID,
    look_up_reference,
)
from gateway.identifiers import creditor_reference_for
from gateway.settings import Settings
from gateway.signing.keys import SigningKey, TrustStore
from gateway.signing.xmldsig import XmlSigner, verify_enveloped

pytest_plugins = ["signing_helpers"]

REFERENCE = creditor_reference_for("26MK00100599")
SCHEMA = etree.XMLSchema(etree.parse(str(Settings().schemas_dir / "gateway" / "gateway-v1.xsd")))
GW = {"gw": GW_NS}


def _assessment(reference: str = REFERENCE, *, paid: str = "0", status: str = "open",
                superseded_by: str | None = None) -> Assessment:
    return Assessment(reference=reference, conversation_id="c-1", partner_id="broker-alpha",
                      mrn="26MK0010059900001R4", amount_due=Decimal("250.00"), currency="MKD",
                      decision_id="d-1", assessed_at="2026-12-01T10:00:00.000Z",
                      paid=Decimal(paid), status=status, superseded_by=superseded_by)


def _reader(*assessments: Assessment) -> FakePaymentLedgerReader:
    return FakePaymentLedgerReader(FakePaymentLedgerStore(
        assessments={a.reference: a for a in assessments}))


def test_lookup_of_an_issued_reference_is_valid_with_its_assessment() -> None:
    """A reference the ledger holds is valid and carries its assessment."""
    info = look_up_reference(_reader(_assessment()), REFERENCE)
    assert (info.validity, info.reference) == (VALID, REFERENCE)
    assert info.assessment is not None and info.assessment.amount_due == Decimal("250.00")


def test_lookup_reads_the_printed_form_as_the_same_reference() -> None:
    """Spaces and lower case (the printed form) name the same reference."""
    printed = " ".join(REFERENCE[i:i + 4] for i in range(0, len(REFERENCE), 4)).lower()
    info = look_up_reference(_reader(_assessment()), printed)
    assert (info.validity, info.reference) == (VALID, REFERENCE)


def test_lookup_of_a_well_formed_reference_nobody_issued_is_unknown() -> None:
    """A reference with good check digits that no assessment has is unknown, not invalid."""
    other = creditor_reference_for("26MK99999999")
    assert look_up_reference(_reader(_assessment()), other).validity == UNKNOWN


@pytest.mark.parametrize("reference", [
    REFERENCE[:2] + ("00" if REFERENCE[2:4] != "00" else "01") + REFERENCE[4:],   # check digits
    "RF18" + "1" * 30, "HELLO", "RF", "12345678"])
def test_lookup_of_a_malformed_reference_is_invalid_and_never_reaches_the_ledger(
        reference: str) -> None:
    """A wrong check digit, length or shape is invalid, even if the ledger held the string."""
    reader = _reader(_assessment(reference=reference.upper()))
    info = look_up_reference(reader, reference)
    assert (info.validity, info.assessment) == (INVALID, None)


@pytest.mark.parametrize(("paid", "status", "outstanding"), [
    ("0", "open", "250.00"), ("100.00", "partly_paid", "150.00"), ("250.00", "paid", "0"),
    ("300.00", "overpaid", "0"), ("0", "cancelled", "0")])
def test_reference_info_states_status_and_amounts(paid: str, status: str,
                                                  outstanding: str) -> None:
    """The document is valid against gateway-v1.xsd and says status, due, paid, outstanding."""
    assessment = _assessment(paid=paid, status=status,
                             superseded_by="RF" if status == "cancelled" else None)
    info = look_up_reference(_reader(assessment), REFERENCE)
    root = build_reference_info(info, info_id="i-1", answered_at="2026-12-01T10:00:00.000Z",
                                partner_id="bank-demo")
    assert SCHEMA.validate(root), SCHEMA.error_log
    assert root.findtext("gw:Status", namespaces=GW) == status
    assert Decimal(root.findtext("gw:Outstanding", namespaces=GW)) == Decimal(outstanding)
    assert root.find("gw:Outstanding", GW).get("currency") == "MKD"
    assert root.findtext("gw:MRN", namespaces=GW) == assessment.mrn
    assert (root.findtext("gw:ReplacedBy", namespaces=GW) is not None) == (status == "cancelled")


def test_reference_info_of_an_unknown_reference_has_no_assessment_fields() -> None:
    """unknown: the reference and its validity only."""
    info = look_up_reference(_reader(), REFERENCE)
    root = build_reference_info(info, info_id="i-2", answered_at="2026-12-01T10:00:00.000Z",
                                partner_id="bank-demo")
    assert SCHEMA.validate(root), SCHEMA.error_log
    assert [etree.QName(c).localname for c in root] == [
        "InfoID", "AnsweredAt", "Partner", "Reference", "Validity"]


def test_reference_info_signed_verifies_with_ours_and_xmlsec1(
        gateway_key: tuple[SigningKey, Path], trust: TrustStore, tmp_path: Path) -> None:
    """Signed like every gateway document: our verifier and xmlsec1 accept it; the signed
    document is still schema-valid."""
    key, cert = gateway_key
    info = look_up_reference(_reader(_assessment()), REFERENCE)
    signed = XmlSigner(key).sign_to_bytes(build_reference_info(
        info, info_id="i-3", answered_at="2026-12-01T10:00:00.000Z", partner_id="bank-demo"))
    root = etree.fromstring(signed)
    assert SCHEMA.validate(root), SCHEMA.error_log
    verified = verify_enveloped(root, trust, owner="gateway")
    assert verified.element.findtext("gw:Validity", namespaces=GW) == VALID
    assert_xmlsec1_accepts(signed, cert, tmp_path,
                           id_node="urn:customs-gateway:v1:PaymentReferenceInfo")
