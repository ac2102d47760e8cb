"""Duty payments end to end over real HTTP, RabbitMQ and SQLite / PostgreSQL (flow F2).

Clearance's signed ``duties_assessed`` decisions record assessments; ``bank-demo`` posts
camt.054 files; the gateway answers 202 with its receipt, matches every payment in the same
transaction, publishes signed payment events to clearance, notifies the broker when a
declaration is paid and acknowledges the bank.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from conftest import RunningGateway, wait_for, xmlsec1_verify
from decision_helpers import take_parked
from lxml import etree
from payment_helpers import (
    assess,
    assessment,
    post,
    queue_messages,
)

from adapters.bootstrap import load_signing_key
from gateway.canonical.clearance_decision import ClearanceDecision
from gateway.canonical.model import to_json_bytes
from gateway.documents.receipts import GW_NS
from gateway.identifiers import creditor_reference_for
from gateway.signing.detached import sign_body, verify_body
from gateway.signing.keys import TrustStore
from samples.camt054 import build_camt054, sample_payments

pytest_plugins = ["payment_helpers"]
GW = {"gw": GW_NS}
NOTIFICATION_NODE = "urn:customs-gateway:v1:Notification"


def _trust(running: RunningGateway) -> TrustStore:
    trust = TrustStore()
    trust.add("gateway", running.gateway.bus_key.certificate)
    return trust


def test_payments_file_with_a_full_and_a_partial_payment(
        payments_server: RunningGateway, channel: Any, tokens: dict[str, str],
        tmp_path: Path) -> None:
    """Two assessments, one camt.054 paying the first in full and the second in part: 202 and
    the receipt; the ledger says paid and partly_paid; clearance receives the file and two
    signed payment events; the first broker conversation gets a signed PAY, the bank an ACK;
    the same file again gets the original receipt and adds nothing."""
    running = payments_server
    full, part = sample_payments(2, seed=41)
    first, mrn_1 = assess(running, channel, tokens["broker-alpha"], full.reference, full.amount)
    second, _ = assess(running, channel, tokens["broker-alpha"], part.reference,
                       part.amount + Decimal("100.00"))
    body = build_camt054("08", transactions=2, seed=41)

    response = post(running, tokens["bank-demo"], body)
    assert response.status_code == 202, response.text
    receipt = etree.fromstring(response.content)
    assert receipt.findtext("gw:Status", namespaces=GW) == "accepted"
    assert receipt.findtext("gw:MessageType", namespaces=GW) == "camt054-001.08"
    camt_conversation = response.headers["X-Conversation-ID"]

    assert assessment(running, full.reference).status == "paid"
    partly = assessment(running, part.reference)
    assert (partly.status, partly.outstanding) == ("partly_paid", Decimal("100.00"))

    messages = queue_messages(running.settings, 3)
    trust = _trust(running)
    for properties, message_body in messages:
        verify_body(trust, message_body, properties.headers, owner="gateway")
    kinds = sorted(p.headers["x-canonical-kind"] for p, _ in messages)
    assert kinds == ["payment", "payment", "payment_notification"]
    events = {json.loads(b)["reference"]: json.loads(b) for p, b in messages
              if p.headers["x-canonical-kind"] == "payment"}
    assert events[full.reference]["status"] == "paid" and events[full.reference]["mrn"] == mrn_1
    assert events[part.reference]["outstanding"] == "100.00"
    assert events[full.reference]["conversation_id"] == first

    journal = running.gateway.journal
    (pay,) = [n for n in journal.notifications(first) if n.kind == "PAY"]
    assert not [n for n in journal.notifications(second) if n.kind == "PAY"]
    rc, err = xmlsec1_verify(pay.document, running.settings.keys_dir / "gateway.crt",
                             NOTIFICATION_NODE, tmp_path)
    assert rc == 0, err
    with running.client(tokens["bank-demo"]) as client:
        listed = client.get(f"/v1/conversations/{camt_conversation}/notifications",
                            headers={"Accept": "application/json"}).json()
    (ack,) = listed["notifications"]
    assert ack["kind"] == "ACK"
    ack_doc = etree.fromstring(ack["document"].encode())
    outcomes = [t.findtext("gw:Outcome", namespaces=GW)
                for t in ack_doc.iterfind(".//gw:Transaction", GW)]
    assert outcomes == ["matched", "partly"]

    outbox = journal.outbox_counts()
    again = post(running, tokens["bank-demo"], body)
    assert again.status_code == 202 and again.headers.get("X-Duplicate") == "true"
    assert again.content == response.content
    assert journal.outbox_counts() == outbox
    assert len(journal.notifications(camt_conversation)) == 1
    assert assessment(running, part.reference).paid == part.amount


def test_payments_envelope_and_other_versions_are_matched(
        payments_server: RunningGateway, channel: Any, tokens: dict[str, str]) -> None:
    """camt.054 001.02 and 001.04 files, bare or in the BizMsg envelope, pay assessments."""
    running = payments_server
    for seed, version, envelope in ((51, "02", False), (52, "04", True)):
        (sample,) = sample_payments(1, seed=seed)
        assess(running, channel, tokens["broker-alpha"], sample.reference, sample.amount)
        response = post(running, tokens["bank-demo"],
                        build_camt054(version, seed=seed, envelope=envelope))
        assert response.status_code == 202, response.text
        assert assessment(running, sample.reference).status == "paid"


SUPPLEMENTARY_DATA = (b"<SplmtryData><PlcAndNm>/Document/BkToCstmrDbtCdtNtfctn</PlcAndNm><Envlp>"
                      b'<mp:Notice xmlns:mp="urn:example:bank-market-practice">'
                      b"<mp:Batch>B-77</mp:Batch></mp:Notice></Envlp></SplmtryData>")


def test_payments_file_with_supplementary_data_is_matched(
        payments_server: RunningGateway, channel: Any, tokens: dict[str, str]) -> None:
    """A bank's market-practice extension (SplmtryData, an xs:any envelope in the published
    schema) is accepted in 001.04 and 001.08 and the payment matched as without it."""
    running = payments_server
    for seed, version in ((53, "04"), (54, "08")):
        (sample,) = sample_payments(1, seed=seed)
        assess(running, channel, tokens["broker-alpha"], sample.reference, sample.amount)
        body = build_camt054(version, seed=seed).replace(
            b"</Ntfctn></BkToCstmrDbtCdtNtfctn>",
            b"</Ntfctn>" + SUPPLEMENTARY_DATA + b"</BkToCstmrDbtCdtNtfctn>")
        assert SUPPLEMENTARY_DATA in body
        response = post(running, tokens["bank-demo"], body)
        assert response.status_code == 202, response.text
        assert assessment(running, sample.reference).status == "paid"


def test_payments_invalid_reference_from_clearance_is_parked(
        payments_server: RunningGateway, channel: Any, tokens: dict[str, str]) -> None:
    """A duties_assessed decision with a bad RF check digit is parked, nothing recorded."""
    from decision_helpers import make_decision, submit_declaration

    running = payments_server
    conversation_id = submit_declaration(running, tokens["broker-alpha"])
    good = creditor_reference_for("26MK00100599")
    bad = good[:2] + ("00" if good[2:4] != "00" else "01") + good[4:]
    decision: ClearanceDecision = make_decision(
        conversation_id, "duties_assessed", total_duties=Decimal("10.00"), currency="MKD",
        payment_reference=bad)
    body = to_json_bytes(decision)
    from decision_helpers import publish_raw

    publish_raw(channel, running.settings, body,
                sign_body(load_signing_key(running.settings, "clearance"), body),
                kind="duties_assessed", message_id=decision.decision_id)
    ((properties, _),) = take_parked(channel, running.settings)
    assert "GW-ASSESSMENT-INVALID" in str(properties.headers.get("x-gateway-error-code"))
    assert running.gateway.journal.flow("payments").look_up(bad) is None
    assert not [n for n in running.gateway.journal.notifications(conversation_id)
                if n.kind == "TAX"]


def test_payments_concurrent_files_pay_one_assessment_once_each(
        payments_server: RunningGateway, channel: Any, tokens: dict[str, str]) -> None:
    """Twelve files at once, each paying 50.00 of 600.00 (four of them sent twice under other
    message ids): every payment applied once, the sum recorded is the sum paid, paid."""
    import concurrent.futures

    from payment_helpers import camt_paying, new_reference

    running = payments_server
    reference = new_reference()
    conversation_id, _ = assess(running, channel, tokens["broker-alpha"], reference,
                                Decimal("600.00"))
    files = [camt_paying(reference, Decimal("50.00"), seed=900 + i, message_id=f"C-{i}")
             for i in range(12)]
    files += [camt_paying(reference, Decimal("50.00"), seed=900 + i, message_id=f"C-{i}-again")
              for i in range(4)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda b: post(running, tokens["bank-demo"], b).status_code,
                                 files))
    assert statuses == [202] * 16
    final = assessment(running, reference)
    applied = [p for p in running.gateway.journal.flow("payments").payments(reference)
               if p.outcome in ("matched", "partly", "over")]
    assert len(applied) == 12 and len({p.bank_reference for p in applied}) == 12
    assert sum(p.amount for p in applied) == final.paid == Decimal("600.00")
    assert final.status == "paid"
    assert len([n for n in running.gateway.journal.notifications(conversation_id)
                if n.kind == "PAY"]) == 1
    wait_for(lambda: running.gateway.journal.outbox_counts().get("pending", 0) == 0)


def test_payments_two_instances_racing_files_apply_each_payment_once(
        payments_server: RunningGateway, channel: Any, tokens: dict[str, str]) -> None:
    """Two gateway instances on one journal take files paying the same two assessments at
    once — each bank transaction posted to both instances in two files (other message ids):
    each applied once, sums exact, both paid."""
    import concurrent.futures

    from conftest import start_gateway
    from payment_helpers import camt_paying, new_reference

    first = payments_server
    second = start_gateway(first.settings)
    try:
        references = [new_reference(), new_reference()]
        for reference in references:
            assess(first, channel, tokens["broker-alpha"], reference, Decimal("300.00"))
        jobs = [(instance, camt_paying(references[i % 2], Decimal("30.00"), seed=700 + i,
                                       message_id=f"R-{i}-{n}"))
                for i in range(20) for n, instance in enumerate((first, second))]
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(
                lambda job: post(job[0], tokens["bank-demo"], job[1]).status_code, jobs))
        assert statuses.count(202) == len(jobs), statuses
        for reference in references:
            final = assessment(first, reference)
            applied = [p for p in first.gateway.journal.flow("payments").payments(reference)
                       if p.outcome in ("matched", "partly", "over")]
            assert len(applied) == 10
            assert sum(p.amount for p in applied) == final.paid == Decimal("300.00")
            assert final.status == "paid"
    finally:
        second.stop()
