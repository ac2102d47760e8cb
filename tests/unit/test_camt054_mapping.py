"""camt.054 (001.02/04/08) mapped into the canonical PaymentNotification / PaymentConfirmation.

Real bank files are read in place from the corpus (``camt054_support``) and their values
asserted as the files state them; generated files (``samples.camt054``) are compared with
the payments the builder says it wrote.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from functools import cache

import pytest
from camt054_support import MAPPINGS, VERSIONS, compile_schema, corpus_dir, our_xsd, parser
from lxml import etree

from gateway.canonical.declaration import Amount
from gateway.canonical.model import from_plain, to_json_bytes
from gateway.canonical.payment import PaymentConfirmation, PaymentNotification
from gateway.errors import InvalidMessage
from gateway.mapping.engine import Mapping, load_mapping
from samples.camt054 import (
    BOOKING_DATE,
    CUSTOMS_BANK,
    CUSTOMS_IBAN,
    VALUE_DATE,
    build_camt054,
    sample_payments,
)


@cache
def mapping(version: str) -> Mapping:
    return load_mapping(MAPPINGS / f"camt054-001.{version}.toml")


def notification(version: str, body: bytes) -> PaymentNotification:
    root = etree.fromstring(body, parser())
    return from_plain(PaymentNotification, mapping(version).apply(root, body))


def corpus_notification(name: str, version: str) -> PaymentNotification:
    return notification(version, (corpus_dir() / name).read_bytes())


# --- real files ----------------------------------------------------------------------------


def test_camt054_v08_corpus_file_maps_to_its_three_payments() -> None:
    """The 001.08 file: three CHF payments of one entry, with references, ids and debtor."""
    n = corpus_notification("camt054.v8.xml", "08")
    assert (n.source_format, n.message_id, n.created_at) == (
        "camt054-001.08", "AAAASESS-FP-ACCR001", "2007-10-18T12:30:00+01:00")
    assert (n.bank, n.account) == ("UBSWCHZH80A", "CH2801234000123456789")
    txs = n.transactions
    assert [t.reference for t in txs] == [
        "ISR ref number V1", "ISR ref number V2", "Ref number V3 block 1"]
    assert [t.reference_type for t in txs] == ["ISR Reference", "ISR Reference", "SCOR"]
    assert [t.amount for t in txs] == [Amount(Decimal("3.1"), "CHF"), Amount(Decimal("3.2"), "CHF"),
                                       Amount(Decimal("3.2"), "CHF")]
    assert [t.end_to_end_id for t in txs] == [
        "UXC06170000006PI00001EE00001", "UXC06170000006PI00001EE00002",
        "UXC06170000006PI00001EE00002"]
    first = txs[0]
    assert (first.credit_debit, first.status, first.reversal) == ("CRDT", "BOOK", False)
    assert (first.booking_date, first.value_date) == ("2007-10-18", "2007-10-18")
    assert first.entry_amount == Amount(Decimal("200000"), "SEK")
    assert (first.debtor_name, first.debtor_account, first.debtor_agent) == (
        "UNIFITS GmbH", "CH2801234000123456789", "BANKCHZHXXX")
    assert first.entry_account_servicer_reference == "ACSR160617103200001"
    assert first.remittance_information == "Unstructured Remittance Information V1"
    assert [r.reference for r in txs[2].creditor_references] == [
        "Ref number V3 block 1", "Ref number V3 block 2"]
    assert all((t.message_id, t.notification_id, t.bank) == (
        "AAAASESS-FP-ACCR001", "AAAASESS-FP-ACCR001", "UBSWCHZH80A") for t in txs)


POSTFINANCE = [  # (reference, amount, credit/debit, entry reference, account servicer ref)
    ("120000000000234478943216899", "250.00", "CRDT", "014295803", "180315CH02ZX5RI3"),
    ("120000000000234478943216899", "200.00", "CRDT", "014295803", "180315CH02ZX5RI4"),
    ("120000000000234478943216899", "300.00", "CRDT", "014295803", "180315CH02ZX5RI5"),
    ("359335273113716998981168243", "324.00", "CRDT", "014295803", "180315CH02ZZ4OOX"),
    ("684388397169969395754931859", "463.00", "CRDT", "014295803", "180315CH02ZZ4OOY"),
    ("100041698214115449371805270", "147.00", "DBIT", "020010001", "180410CH02UZ2PC1"),
]


def test_camt054_v04_swiss_corpus_file_maps_every_esr_payment() -> None:
    """The Swiss 001.04 file: six payments over two entries; ESR references map as they are."""
    n = corpus_notification("ch-postfinance-camt054-v04.xml", "04")
    assert (n.message_id, n.created_at, n.notification_id) == (
        "20190424375204228750928", "2019-04-25T00:20:05", "20190424375204228750931")
    assert (n.account, n.bank) == ("CH2909000000250094239", None)
    got = [(t.reference, format(t.amount.value, "f") if t.amount else None, t.credit_debit,
            t.entry_reference, t.account_servicer_reference) for t in n.transactions]
    assert got == POSTFINANCE
    assert {t.amount.currency for t in n.transactions if t.amount} == {"CHF"}
    assert {(t.booking_date, t.value_date, t.status, t.reversal) for t in n.transactions} == {
        ("2019-04-24", "2019-04-25", "BOOK", False)}
    assert [t.entry_account_servicer_reference for t in n.transactions] == \
        ["07582000303KBMSU"] * 5 + ["100820002V496ZRA"]
    first, last = n.transactions[0], n.transactions[-1]
    assert (first.debtor_name, first.debtor_account, first.debtor_agent) == (
        "Bernasconi Maria", "CH5109000000250092291", "POFICHBEXXX")
    assert (first.reference_type, first.reference_source) == ("ISR Reference", "structured")
    assert first.end_to_end_id == "EndToEndId-001-02-02"
    assert (last.reference_type, last.debtor_name) == (None, None)
    assert not any(t.is_creditor_reference for t in n.transactions)   # ESR, not RF
    assert n.totals() == {"CHF": Decimal("1390.00")}                  # 1537.00 - 147.00


# --- generated files -----------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_generated_1000_payments_validate_and_map_in_under_a_second(
        version: str, record_property) -> None:
    """10 entries × 100 payments: parsed, validated (our schema) and mapped in < 1 s, each
    payment read back with the reference, amount, currency, debtor and dates written."""
    schema = compile_schema(our_xsd(version))
    mapping(version)
    body = build_camt054(version, entries=10, transactions=100, seed=7)
    started = time.perf_counter()
    root = etree.fromstring(body, parser())
    valid = schema.validate(root)
    n = from_plain(PaymentNotification, mapping(version).apply(root, body))
    elapsed = time.perf_counter() - started
    record_property("validate_and_map_1000_seconds", round(elapsed, 4))
    print(f"camt.054.001.{version}: 1,000 payments ({len(body):,} bytes) validated and mapped "
          f"in {elapsed * 1000:.0f} ms")
    assert valid, schema.error_log
    assert elapsed < 1.0
    expected = sample_payments(1000, seed=7)
    assert len(n.transactions) == 1000
    assert [t.reference for t in n.transactions] == [p.reference for p in expected]
    assert [t.amount for t in n.transactions] == [Amount(p.amount, "EUR") for p in expected]
    assert all(t.is_creditor_reference and t.reference_type == "SCOR" for t in n.transactions)
    assert [(t.debtor_name, t.debtor_account, t.debtor_agent) for t in n.transactions] == [
        (p.debtor_name, p.debtor_iban, p.debtor_bic) for p in expected]
    assert {(t.booking_date, t.value_date, t.account, t.bank) for t in n.transactions} == {
        (BOOKING_DATE, VALUE_DATE, CUSTOMS_IBAN, CUSTOMS_BANK)}
    assert [t.uetr for t in n.transactions] == (
        [p.uetr for p in expected] if version == "08" else [None] * 1000)


@pytest.mark.parametrize("version", VERSIONS)
def test_entry_values_reach_every_transaction_of_their_entry(version: str) -> None:
    """Entry reference, entry amount and status of each Ntry are on each of its payments."""
    n = notification(version, build_camt054(version, entries=3, transactions=2))
    assert [t.entry_reference for t in n.transactions] == [
        "NTRY-00001", "NTRY-00001", "NTRY-00002", "NTRY-00002", "NTRY-00003", "NTRY-00003"]
    payments = sample_payments(6)
    totals = [payments[i].amount + payments[i + 1].amount for i in (0, 2, 4)]
    assert [t.entry_amount.value for t in n.transactions if t.entry_amount] == [
        total for total in totals for _ in range(2)]
    assert {(t.status, t.credit_debit, t.message_id) for t in n.transactions} == {
        ("BOOK", "CRDT", "CAMT054-0000-3x2")}


@pytest.mark.parametrize("version", VERSIONS)
def test_document_in_an_envelope_maps_like_the_bare_document(version: str) -> None:
    """Behind a business application header (BizMsg/AppHdr + Document) the result is the same."""
    bare = notification(version, build_camt054(version, entries=2, transactions=3))
    wrapped = notification(version, build_camt054(version, entries=2, transactions=3,
                                                  envelope=True))
    assert to_json_bytes(wrapped) == to_json_bytes(bare)
    assert len(wrapped.transactions) == 6


@pytest.mark.parametrize("version", VERSIONS)
def test_reversed_entries_map_as_reversed_debits(version: str) -> None:
    """RvslInd true and DBIT reach every payment; its signed amount is negative."""
    n = notification(version, build_camt054(version, entries=2, transactions=2, reversal=True))
    assert {(t.reversal, t.credit_debit) for t in n.transactions} == {(True, "DBIT")}
    assert all(t.signed_amount is not None and t.signed_amount < 0 for t in n.transactions)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("kind", ["partial", "overpaid"])
def test_partial_and_over_payments_carry_the_due_and_remitted_amounts(
        version: str, kind: str) -> None:
    """A partial or over payment's creditor reference states what was due and what was paid."""
    n = notification(version, build_camt054(version, transactions=3, **{kind: True}))
    for tx, payment in zip(n.transactions, sample_payments(3, **{kind: True}), strict=True):
        (ref,) = tx.creditor_references
        assert ref.due_amount == Amount(payment.due, "EUR")
        assert ref.remitted_amount == Amount(payment.amount, "EUR") == tx.amount
        assert (payment.amount < payment.due) if kind == "partial" else (
            payment.amount > payment.due)


def _mutated(version: str, old: bytes, new: bytes, **options) -> bytes:
    body = build_camt054(version, transactions=2, **options)
    assert old in body
    return body.replace(old, new, 1)


@pytest.mark.parametrize("version", VERSIONS)
def test_amount_with_more_decimals_than_its_currency_is_a_located_problem(version: str) -> None:
    """12.345 EUR passes the schema (5 decimals) but not ISO 4217: GW-MAP-AMOUNT-DECIMALS."""
    amount = str(sample_payments(1)[0].amount).encode()
    old = b'<Amt Ccy="EUR">' + amount + b"</Amt><"
    body = _mutated(version, old, b'<Amt Ccy="EUR">12.345</Amt><')
    assert compile_schema(our_xsd(version)).validate(etree.fromstring(body, parser()))
    with pytest.raises(InvalidMessage) as caught:
        notification(version, body)
    problems = [p for p in caught.value.problems if p.code == "GW-MAP-AMOUNT-DECIMALS"]
    assert problems, caught.value.problems
    problem = problems[0]
    assert problem.value == "12.345" and problem.line == 2 and problem.column is not None
    assert problem.pointer is not None and problem.pointer.endswith("/Amt")
    assert "EUR" in problem.message


def test_yen_amount_with_any_decimal_is_refused() -> None:
    """JPY has no minor unit: 1000.5 JPY is GW-MAP-AMOUNT-DECIMALS, 1000.0 is not."""
    amount = str(sample_payments(1, currency="JPY")[0].amount).encode()
    old = b'<Amt Ccy="JPY">' + amount + b"</Amt><CdtDbtInd>"
    with pytest.raises(InvalidMessage) as caught:
        notification("08", _mutated("08", old, old.replace(amount, b"1000.5"), currency="JPY"))
    assert {p.code for p in caught.value.problems} == {"GW-MAP-AMOUNT-DECIMALS"}
    fine = notification("08", _mutated("08", old, old.replace(amount, b"1000.0"),
                                       currency="JPY"))
    assert fine.transactions[0].amount == Amount(Decimal("1000.0"), "JPY")


def test_unknown_currency_code_is_refused() -> None:
    """A well-formed but unknown currency (QQQ) is GW-MAP-CURRENCY, not a silent pass."""
    body = build_camt054("08", currency="QQQ")
    with pytest.raises(InvalidMessage) as caught:
        notification("08", body)
    assert {p.code for p in caught.value.problems} == {"GW-MAP-CURRENCY"}


def test_v02_payment_without_amount_takes_the_amount_of_its_single_payment_entry() -> None:
    """001.02: no AmtDtls in an entry of one payment -> the entry's Amt; of two -> none."""
    one = build_camt054("02", transactions=1)
    start, end = one.index(b"<AmtDtls>"), one.index(b"</AmtDtls>") + len(b"</AmtDtls>")
    tx = notification("02", one[:start] + one[end:]).transactions[0]
    assert tx.amount == tx.entry_amount == Amount(sample_payments(1)[0].amount, "EUR")
    two = build_camt054("02", transactions=2)
    start, end = two.index(b"<AmtDtls>"), two.index(b"</AmtDtls>") + len(b"</AmtDtls>")
    first, second = notification("02", two[:start] + two[end:]).transactions
    assert first.amount is None and second.amount == Amount(sample_payments(2)[1].amount, "EUR")


def test_entry_without_transaction_details_gives_one_confirmation() -> None:
    """An entry with no TxDtls is not dropped: one confirmation from the entry's values."""
    body = build_camt054("08", entries=2, transactions=1)
    start = body.index(b"<NtryDtls>", body.index(b"NTRY-00002"))
    end = body.index(b"</NtryDtls>", start) + len(b"</NtryDtls>")
    n = notification("08", body[:start] + body[end:])
    assert [t.entry_reference for t in n.transactions] == ["NTRY-00001", "NTRY-00002"]
    lone = n.transactions[1]
    assert lone.amount == lone.entry_amount == Amount(sample_payments(2)[1].amount, "EUR")
    assert (lone.reference, lone.booking_date, lone.account) == (None, BOOKING_DATE, CUSTOMS_IBAN)


def test_unstructured_remittance_is_the_reference_when_nothing_is_structured() -> None:
    """Without Strd/CdtrRefInf the first Ustrd line is the reference (source: unstructured)."""
    body = build_camt054("08")
    start, end = body.index(b"<RmtInf>"), body.index(b"</RmtInf>")
    n = notification("08", body[:start] + b"<RmtInf><Ustrd>DUTY RF18539007547034</Ustrd>"
                     b"<Ustrd>second line</Ustrd>" + body[end:])
    tx = n.transactions[0]
    assert (tx.reference, tx.reference_source, tx.reference_type) == (
        "DUTY RF18539007547034", "unstructured", None)
    assert not tx.is_creditor_reference


def test_payment_notification_json_is_deterministic_and_round_trips() -> None:
    """to_json_bytes is stable and from_plain(JSON) rebuilds the same notification."""
    n = notification("08", build_camt054("08", entries=2, transactions=2, partial=True))
    data = to_json_bytes(n)
    again = from_plain(PaymentNotification, json.loads(data))
    assert to_json_bytes(again) == data
    assert again == n
    assert isinstance(again.transactions[0], PaymentConfirmation)
    assert n.summary().startswith("camt054-001.08 CAMT054-0000-2x2: 4 payment(s), EUR ")
