"""Matching bank payments to duty assessments (gateway/flows/payments), over the fakes.

Each test records assessments in ``tests.fake_payment_ledger``, runs a bank file's transactions
through ``PaymentIntake.apply_file`` in a ``tests.fakes.FakeTransaction`` (as the intake does
in the journal's transaction) and checks the ledger, the outbox events to clearance (signed),
the broker's ``PAY`` and the bank's ``ACK`` notifications. References are real ISO 11649
references (python-stdnum check digits), amounts real decimals.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from gateway.canonical.declaration import Amount
from gateway.canonical.payment import CreditorReference, PaymentConfirmation
from gateway.documents.receipts import GW_NS
from gateway.errors import NotFound
from gateway.flows.payments.intake_effect import FileResult, PaymentIntake, ReplayRefused
from gateway.flows.payments.ledger import Assessment
from gateway.flows.payments.matching import Source, bank_references, payment_reference
from gateway.identifiers import creditor_reference_for
from gateway.message_types import compile_schema
from gateway.partners import PartnerRegistry
from gateway.routing import RoutingTable
from gateway.settings import Settings
from gateway.signing.detached import verify_body
from gateway.signing.keys import SigningKey, TrustStore, generate_key_pair
from gateway.signing.xmldsig import XmlSigner, verify_enveloped
from tests.fake_payment_ledger import FakePaymentLedgerStore
from tests.fakes import FakeJournal, FakeTransaction

SETTINGS = Settings()
GW = {"gw": GW_NS}
REF = creditor_reference_for("26MK0010052200017")      # RF…, valid check digits
REF_2 = creditor_reference_for("26MK0010052200018")
MRN = "26MK00100522FACER8"
DECLARATION = "conv-declaration-1"
FILE = Source(bank="bank-demo", receipt_id="rcp-camt-1", conversation_id="conv-camt-1",
              message_id="CAMT-1", bank_bic="CUSTMK22XXX")


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> SigningKey:
    directory: Path = tmp_path_factory.mktemp("keys")
    key_pem, cert_pem = generate_key_pair("gateway.test", "Gateway test")
    (directory / "gw.key").write_bytes(key_pem)
    (directory / "gw.crt").write_bytes(cert_pem)
    return SigningKey.load(directory / "gw.key", directory / "gw.crt")


@pytest.fixture(scope="module")
def gateway_schema() -> etree.XMLSchema:
    return compile_schema(SETTINGS.schemas_dir / "gateway" / "gateway-v1.xsd",
                          SETTINGS.schemas_dir)


class World:
    """A fake journal with the payments ledger, and the intake effect over it."""

    def __init__(self, key: SigningKey) -> None:
        self.key = key
        self.journal = FakeJournal()
        self.ledger = FakePaymentLedgerStore()
        self.journal.flows["payments"] = self.ledger
        partners = PartnerRegistry.load(SETTINGS.config_dir / "partners.toml", None,
                                        "https://gateway.test")
        self.intake = PaymentIntake(
            signer=XmlSigner(key), bus_key=key,
            routing=RoutingTable.load(SETTINGS.config_dir / "routes.toml"),
            parking_exchange="gateway.parking", partners=partners)
        self.trust = TrustStore()
        self.trust.add("gateway", key.certificate)

    def assess(self, reference: str = REF, due: str = "1500.00", currency: str = "MKD",
               paid: str = "0", conversation_id: str = DECLARATION) -> None:
        self.ledger.assessments[reference] = Assessment(
            reference=reference, conversation_id=conversation_id, partner_id="broker-alpha",
            mrn=MRN, amount_due=Decimal(due), currency=currency, decision_id="dec-3",
            assessed_at="2026-11-28T10:05:00.000Z", paid=Decimal(paid),
            status="open" if Decimal(paid) == 0 else "partly_paid")

    def pay(self, *transactions: PaymentConfirmation, source: Source = FILE) -> FileResult:
        tx = self.last_tx = FakeTransaction(self.journal)
        result = self.intake.apply_file(tx, source, list(transactions),
                                        bank_references(list(transactions)))
        tx.commit()
        return result

    def assessment(self, reference: str = REF) -> Assessment:
        return self.ledger.assessments[reference]

    def events(self) -> list[dict[str, Any]]:
        """The payment events in the outbox, each after checking its detached signature."""
        out = []
        for entry in self.journal.outbox:
            message = entry.message
            verify_body(self.trust, message.body, message.headers, owner="gateway")
            out.append({**json.loads(message.body), "_exchange": message.exchange,
                        "_key": message.routing_key})
        return out

    def notifications(self, conversation_id: str, kind: str) -> list[etree._Element]:
        found = [n for n in self.journal.stored_notifications.values()
                 if n.conversation_id == conversation_id and n.kind == kind]
        return [verify_enveloped(etree.fromstring(n.document), self.trust,
                                 owner="gateway").element for n in found]


@pytest.fixture
def world(key: SigningKey) -> World:
    return World(key)


def payment(amount: str = "1500.00", currency: str = "MKD", reference: str | None = REF,
            asr: str | None = "ASR-0001", **values: Any) -> PaymentConfirmation:
    """One booked credit as a camt.054 TxDtls maps to it."""
    refs = [CreditorReference(reference=reference, type_code="SCOR")] if reference else []
    base: dict[str, Any] = dict(
        creditor_references=refs, amount=Amount(Decimal(amount), currency),
        entry_amount=Amount(Decimal(amount), currency), credit_debit="CRDT", status="BOOK",
        booking_date="2026-11-30", value_date="2026-12-01", debtor_name="Ljubljana Trade d.o.o.",
        debtor_account="SI56191000000123438", debtor_agent="LJBASI2X",
        end_to_end_id="E2E-0001", account_servicer_reference=asr,
        entry_account_servicer_reference="ENTRY-00001", entry_reference="NTRY-00001",
        notification_id="CAMT-1-1", account="MK07250120000058984", bank="CUSTMK22XXX",
        message_id="CAMT-1")
    base.update(values)
    return PaymentConfirmation(**base)


def _text(element: etree._Element, path: str) -> str | None:
    return element.findtext(path, namespaces=GW)


# --- applied payments --------------------------------------------------------------------------


def test_matching_full_payment_pays_the_assessment_and_tells_everyone(
        world: World, gateway_schema: etree.XMLSchema) -> None:
    """A payment of the whole amount due marks the assessment paid, publishes a signed event
    to clearance, notifies the broker (PAY) and acknowledges the bank (ACK)."""
    world.assess(due="1500.00")
    result = world.pay(payment("1500.00"))
    assert [o.outcome for o in result.outcomes] == ["matched"]
    paid = world.assessment()
    assert (paid.status, paid.paid, paid.outstanding) == ("paid", Decimal("1500.00"), 0)
    (event,) = world.events()
    assert (event["event"], event["status"], event["outstanding"], event["amount"]) == \
        ("confirmed", "paid", "0.00", "1500.00")
    assert (event["mrn"], event["reference"], event["conversation_id"]) == \
        (MRN, REF, DECLARATION)
    assert (event["_exchange"], event["_key"]) == ("customs.clearance", f"payment.confirmed.{MRN}")
    assert event["bank"] == "bank-demo" and event["bank_reference"] == "tx:ASR-0001"
    (notice,) = world.notifications(DECLARATION, "PAY")
    assert gateway_schema.validate(notice), gateway_schema.error_log
    assert _text(notice, "gw:Payload/gw:PaymentStatus/gw:Status") == "paid"
    assert _text(notice, "gw:Partner") == "broker-alpha"
    (ack,) = world.notifications(FILE.conversation_id, "ACK")
    assert gateway_schema.validate(ack), gateway_schema.error_log
    assert _text(ack, "gw:Payload/gw:PaymentAcknowledgement/gw:Transactions/gw:Transaction/"
                      "gw:Outcome") == "matched"


def test_matching_partial_payment_leaves_the_rest_outstanding(world: World) -> None:
    """A payment of part of the amount due leaves it partly paid, with the rest outstanding;
    the broker is not told it is paid."""
    world.assess(due="1500.00")
    result = world.pay(payment("600.50"))
    assert [o.outcome for o in result.outcomes] == ["partly"]
    partly = world.assessment()
    assert (partly.status, partly.outstanding) == ("partly_paid", Decimal("899.50"))
    assert world.events()[0]["outstanding"] == "899.50"
    assert world.notifications(DECLARATION, "PAY") == []


def test_matching_two_partial_payments_in_one_file_complete_the_assessment(world: World) -> None:
    """Two payments of one file that together pay the amount due: partly, then matched, and
    one PAY notification."""
    world.assess(due="1000.00")
    result = world.pay(payment("400.00", asr="A-1"), payment("600.00", asr="A-2"))
    assert [o.outcome for o in result.outcomes] == ["partly", "matched"]
    assert world.assessment().status == "paid"
    assert len(world.notifications(DECLARATION, "PAY")) == 1
    assert [e["status"] for e in world.events()] == ["partly_paid", "paid"]


def test_matching_overpayment_records_the_excess(world: World) -> None:
    """A payment above the amount due marks the assessment overpaid with the excess."""
    world.assess(due="1000.00")
    result = world.pay(payment("1250.00"))
    assert [o.outcome for o in result.outcomes] == ["over"]
    over = world.assessment()
    assert (over.status, over.excess, over.outstanding) == ("overpaid", Decimal("250.00"), 0)
    assert world.events()[0]["excess"] == "250.00"
    assert len(world.notifications(DECLARATION, "PAY")) == 1


def test_matching_reference_in_free_text_is_found(world: World) -> None:
    """A reference quoted only in the unstructured remittance text is matched."""
    world.assess(due="100.00")
    tx = payment("100.00", reference=None, remittance_information=f"CUSTOMS DUTIES {REF} THX")
    assert payment_reference(tx) == (REF, None)
    assert [o.outcome for o in world.pay(tx).outcomes] == ["matched"]


# --- duplicates and reversals ------------------------------------------------------------------


def test_matching_same_transaction_in_another_file_is_applied_once(world: World) -> None:
    """The same bank transaction (same AcctSvcrRef) in a second file is a duplicate: nothing
    changes and nothing is published again."""
    world.assess(due="1500.00")
    world.pay(payment("700.00"))
    again = world.pay(payment("700.00"), source=dataclasses.replace(
        FILE, receipt_id="rcp-camt-2", conversation_id="conv-camt-2", message_id="CAMT-2"))
    assert [o.outcome for o in again.outcomes] == ["duplicate"]
    assert world.assessment().paid == Decimal("700.00")
    assert len(world.events()) == 1 and len(world.ledger.payments) == 1
    (ack,) = world.notifications("conv-camt-2", "ACK")
    assert ack.find(".//gw:Transactions", GW).get("duplicates") == "1"


def test_matching_reversal_undoes_the_payment_and_reopens(world: World) -> None:
    """A reversal (RvslInd, debit) of a matched payment takes it off the assessment, which is
    open again, and tells clearance."""
    world.assess(due="1500.00")
    world.pay(payment("1500.00", end_to_end_id="E2E-77"))
    reversal = payment("1500.00", credit_debit="DBIT", reversal=True, end_to_end_id="E2E-77",
                       asr="RVSL-0001")
    result = world.pay(reversal)
    assert [o.outcome for o in result.outcomes] == ["reversed"]
    reopened = world.assessment()
    assert (reopened.status, reopened.paid, reopened.outstanding) == \
        ("open", Decimal("0.00"), Decimal("1500.00"))
    original = next(p for p in world.ledger.payments.values() if not p.reversal)
    assert original.reversed_by == result.outcomes[0].payment.id   # type: ignore[union-attr]
    assert [e["event"] for e in world.events()] == ["confirmed", "reversed"]
    assert world.events()[1]["_key"] == f"payment.reversed.{MRN}"


def test_matching_reversal_of_nothing_applied_is_parked(world: World) -> None:
    """A reversal whose payment was never applied (other end-to-end id) is parked."""
    world.assess(due="1500.00")
    world.pay(payment("1500.00", end_to_end_id="E2E-1"))
    result = world.pay(payment("1500.00", credit_debit="DBIT", reversal=True,
                               end_to_end_id="E2E-OTHER", asr="RV-1"))
    assert [(o.outcome, o.reason) for o in result.outcomes] == [("parked", "reversal-unmatched")]
    assert world.assessment().status == "paid"


def test_matching_reversal_of_two_equal_payments_is_ambiguous(world: World) -> None:
    """Two equal payments and a reversal that names neither: parked as ambiguous."""
    world.assess(due="1000.00")
    world.pay(payment("500.00", asr="A-1", end_to_end_id=None),
              payment("500.00", asr="A-2", end_to_end_id=None))
    result = world.pay(payment("500.00", credit_debit="DBIT", reversal=True,
                               end_to_end_id=None, asr=None, uetr=None,
                               entry_account_servicer_reference="RV-ENTRY"))
    assert [(o.outcome, o.reason) for o in result.outcomes] == [("parked", "reversal-ambiguous")]
    assert world.assessment().paid == Decimal("1000.00")


# --- parked, never refused ---------------------------------------------------------------------


@pytest.mark.parametrize(("tx", "reason"), [
    (payment(reference=creditor_reference_for("26MK0099")), "unknown-reference"),
    (payment(currency="EUR"), "currency-mismatch"),
    # a Swiss bank's ESR/ISR number (the corpus's PostFinance file), not ISO 11649
    (payment(reference="120000000000234478943216899"), "unmatched-not-rf"),
    (payment(reference=REF[:2] + ("00" if REF[2:4] != "00" else "01") + REF[4:]),
     "bad-check-digit"),
    (payment(credit_debit="DBIT"), "debit-entry"),
    (payment(status="PDNG"), "not-booked"),
    (payment(reference=None), "unmatched-not-rf"),
], ids=["unknown-reference", "currency-mismatch", "esr-number", "bad-check-digit", "debit",
        "pending", "no-reference"])
def test_matching_unmatchable_payment_is_parked_with_its_reason(
        world: World, tx: PaymentConfirmation, reason: str) -> None:
    """A payment that cannot be applied is parked with the reason — the file is not refused,
    the assessment is untouched, nothing is published, the bank is told."""
    world.assess(due="1500.00", currency="MKD")
    result = world.pay(tx)
    (outcome,) = result.outcomes
    assert (outcome.outcome, outcome.reason) == ("parked", reason)
    assert world.assessment().paid == 0 and world.events() == []
    (parked,) = world.ledger.parked.values()
    assert (parked.reason, parked.state, parked.id) == (reason, "parked", outcome.parked_id)
    (ack,) = world.notifications(FILE.conversation_id, "ACK")
    assert _text(ack, ".//gw:Transaction/gw:Reason") == reason


def test_matching_holds_the_file_assessments_in_reference_order(world: World) -> None:
    """The assessments a file pays are held once, sorted (no two files wait on each other)."""
    world.assess(REF, due="10.00")
    world.assess(REF_2, due="10.00", conversation_id="conv-declaration-2")
    world.pay(payment("10.00", reference=max(REF, REF_2), asr="A-1"),
              payment("10.00", reference=min(REF, REF_2), asr="A-2"))
    assert world.ledger.held == [sorted([REF, REF_2])]


def test_matching_file_reads_its_keys_once_and_stores_its_notices_in_one_batch(
        world: World) -> None:
    """A file asks the ledger once which of its transactions are recorded (after the hold),
    and stores its PAY notices and the bank's ACK in one batch of notifications."""
    world.assess(REF, due="10.00")
    world.assess(REF_2, due="10.00", conversation_id="conv-declaration-2")
    transactions = [payment("10.00", reference=REF, asr="A-1"),
                    payment("10.00", reference=REF_2, asr="A-2")]
    world.pay(*transactions)
    assert world.ledger.preloaded == [("bank-demo", bank_references(transactions))]
    assert world.last_tx.batches == [3]
    stored = sorted((n.conversation_id, n.kind)
                    for n in world.journal.stored_notifications.values())
    assert stored == [(FILE.conversation_id, "ACK"), (DECLARATION, "PAY"),
                      ("conv-declaration-2", "PAY")]


# --- the bank's own reference ------------------------------------------------------------------


def test_bank_reference_prefers_the_transaction_then_entry_then_uetr_then_end_to_end() -> None:
    """The de-duplication key: the TxDtls AcctSvcrRef, else the entry's with the position in
    the entry, else the UETR, else the end-to-end id with account, amount and reference; a
    reversal's key is apart from the original's."""
    uetr = "8a562c67-ca16-48ba-b074-65581be6f011"
    txs = [payment(asr="TX-1"),
           payment(asr=None), payment(asr=None),
           payment(asr=None, entry_account_servicer_reference=None, uetr=uetr.upper()),
           payment(asr=None, entry_account_servicer_reference=None, end_to_end_id="E-9"),
           payment(asr="TX-1", credit_debit="DBIT", reversal=True)]
    keys = bank_references(txs)
    # the entry's second and third transactions (positions count every TxDtls of the entry)
    assert keys[:4] == ["tx:TX-1", "entry:ENTRY-00001#2", "entry:ENTRY-00001#3", f"uetr:{uetr}"]
    assert keys[4] == f"e2e:E-9:SI56191000000123438:MKD1500.00:{REF}"
    assert keys[5] == "rvsl:tx:TX-1"


# --- replaying a parked payment ----------------------------------------------------------------


def _replay(world: World, parked_id: str, reference: str | None = None) -> FileResult:
    return asyncio.run(world.journal.transaction(lambda tx: world.intake.replay(
        tx, parked_id, operator="desk-1", reference=reference)))


def test_replay_after_the_assessment_arrived_applies_the_payment(world: World) -> None:
    """A payment parked as unknown-reference is applied by a replay once its assessment
    exists; the parked row is marked replayed by whom; a second replay is refused."""
    (outcome,) = world.pay(payment("1500.00")).outcomes
    assert outcome.reason == "unknown-reference"
    world.assess(due="1500.00")
    result = _replay(world, outcome.parked_id or "")
    assert [o.outcome for o in result.outcomes] == ["matched"]
    assert world.assessment().status == "paid" and len(world.events()) == 1
    parked = world.ledger.parked[outcome.parked_id or ""]
    assert (parked.state, parked.resolved_by, parked.resolution) == \
        ("replayed", "desk-1", "matched")
    assert len(world.ledger.payments) == 1            # the same payment row, now applied
    with pytest.raises(ReplayRefused):
        _replay(world, outcome.parked_id or "")


def test_replay_with_a_corrected_reference_matches_it(world: World) -> None:
    """An operator's corrected reference replaces the bank's bad one in the replay."""
    world.assess(due="80.00")
    (outcome,) = world.pay(payment("80.00", reference="RF00" + REF[4:])).outcomes
    assert outcome.reason == "bad-check-digit"
    result = _replay(world, outcome.parked_id or "", reference=REF.lower())
    assert [o.outcome for o in result.outcomes] == ["matched"]
    assert world.ledger.payments[result.outcomes[0].payment.id].reference == REF  # type: ignore[union-attr]


def test_replay_that_parks_again_records_a_new_parked_payment(world: World) -> None:
    """A replay that still cannot match parks the payment anew and resolves the old row."""
    (outcome,) = world.pay(payment("5.00")).outcomes
    result = _replay(world, outcome.parked_id or "")
    (again,) = result.outcomes
    assert (again.outcome, again.reason) == ("parked", "unknown-reference")
    assert again.parked_id != outcome.parked_id
    assert world.ledger.parked[outcome.parked_id or ""].resolution == "parked:unknown-reference"
    assert world.ledger.parked[again.parked_id or ""].state == "parked"


def test_replay_of_an_unknown_id_is_not_found(world: World) -> None:
    """Replaying an id no parked payment has raises NotFound."""
    with pytest.raises(NotFound):
        _replay(world, "no-such-id")
