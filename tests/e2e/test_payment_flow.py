"""The payment story end to end (flow F2): duties assessed → the importer pays → release.

The gateway runs in sandbox mode (real HTTP, the real RabbitMQ, the clearance stand-in as a
real consumer) on an SQLite and on a PostgreSQL journal. The test is the broker (a WCO
declaration naming no deferment account, so its release waits for payment), the bank (plain
HTTP with its token: camt.054 files) and the operator (``gateway parked replay``, a real
process on the same journal). A queue of the test's own, bound beside the clearance stand-in's,
receives a copy of everything the gateway tells clearance about payments, whose detached
signatures the test checks on the way.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pika
import pytest
from conftest import RunningGateway, start_gateway, wait_for
from lxml import etree

from adapters.bootstrap import load_signing_key
from gateway.identifiers import creditor_reference_for, is_valid_creditor_reference
from gateway.settings import PROJECT_HOME, Settings
from gateway.signing.detached import verify_body
from gateway.signing.keys import TrustStore
from gateway.signing.xmldsig import verify_enveloped
from samples.camt054 import SamplePayment, build_camt054, sample_payments
from samples.wco import build_dec

pytestmark = pytest.mark.e2e

BROKER, BANK = "broker-alpha", "bank-demo"
GW = {"gw": "urn:customs-gateway:v1"}
RES = {"r": "urn:wco:datamodel:WCO:RES-DMS:2"}
XML = {"Content-Type": "application/xml"}


@dataclasses.dataclass
class Sandbox:
    running: RunningGateway
    tokens: dict[str, str]
    channel: Any
    tap: str                                   # the test's copy of the payments traffic
    trust: TrustStore

    @property
    def settings(self) -> Settings:
        return self.running.settings

    def post(self, partner: str, body: bytes) -> tuple[str, etree._Element]:
        with self.running.client(self.tokens[partner]) as client:
            response = client.post("/v1/messages", content=body, headers=XML)
        assert response.status_code == 202, response.text[:2000]
        receipt = etree.fromstring(response.content)
        verify_enveloped(receipt, self.trust, owner="gateway")
        return response.headers["X-Conversation-ID"], receipt

    def listing(self, partner: str, conversation_id: str) -> dict[str, Any]:
        with self.running.client(self.tokens[partner], Accept="application/json") as client:
            response = client.get(f"/v1/conversations/{conversation_id}/notifications")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def until(self, partner: str, conversation_id: str, kind: str,
              timeout: float = 30.0) -> dict[str, Any]:
        """The conversation's listing once it holds a notification of ``kind``."""
        def listed() -> dict[str, Any] | None:
            data = self.listing(partner, conversation_id)
            return data if kind in [n["kind"] for n in data["notifications"]] else None
        return dict(wait_for(listed, timeout=timeout))

    def document(self, notification: dict[str, Any]) -> etree._Element:
        """The notification's signed document, verified; the element the signature covers."""
        return verify_enveloped(etree.fromstring(notification["document"].encode()),
                                self.trust, owner="gateway").element

    def tapped(self, count: int, timeout: float = 20.0) -> list[tuple[str, dict[str, Any]]]:
        """``count`` payment messages to clearance, each verified: (kind, canonical JSON)."""
        got: list[tuple[str, dict[str, Any]]] = []
        deadline = time.monotonic() + timeout
        while len(got) < count and time.monotonic() < deadline:
            method, properties, body = self.channel.basic_get(self.tap, auto_ack=True)
            if method is None:
                time.sleep(0.05)
                continue
            verify_body(self.trust, body, properties.headers, owner="gateway")
            got.append((properties.headers["x-canonical-kind"], json.loads(body)))
        assert len(got) == count, f"{len(got)} payment message(s) to clearance, not {count}"
        return got

    def cli(self, *argv: str) -> tuple[int, str]:
        """``gateway ARGV`` as its own process on the sandbox's journal and keys."""
        env = {**os.environ, "GATEWAY_VAR_DIR": str(self.settings.var_dir),
               "GATEWAY_DB_URL": self.settings.journal_url,
               "GATEWAY_AMQP_PREFIX": self.settings.amqp_prefix}
        done = subprocess.run([str(PROJECT_HOME / ".venv" / "bin" / "gateway"), *argv],
                              env=env, capture_output=True, text=True, timeout=120)
        return done.returncode, done.stdout


@pytest.fixture(params=["sqlite", "postgresql"])
def sandbox(request: pytest.FixtureRequest, settings: Settings, rabbitmq: str,
            tokens: dict[str, str]) -> Iterator[Sandbox]:
    """The sandbox gateway on the parametrised journal, and the test's tap on its payments."""
    if request.param == "postgresql":
        settings = settings.with_(db_url=request.getfixturevalue("postgres_url"))
    running = start_gateway(settings, sandbox=True)
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    channel = connection.channel()
    tap = f"{settings.amqp_prefix}test.payments-tap"
    channel.queue_declare(tap, auto_delete=True)
    channel.queue_bind(tap, f"{settings.amqp_prefix}customs.clearance", "payment.#")
    trust = TrustStore()
    trust.add("gateway", load_signing_key(settings, "gateway").certificate)
    yield Sandbox(running, tokens, channel, tap, trust)
    channel.queue_delete(tap)                  # auto_delete never fires without a consumer
    connection.close()
    running.stop()


def _iso11649(reference: str) -> bool:
    """Independent ISO 11649 check: RFkk moved to the end, letters → 10…35, mod 97 == 1."""
    rearranged = reference[4:] + reference[:4]
    return reference.startswith("RF") and int(
        "".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _declare(sandbox: Sandbox) -> tuple[str, str, Decimal, str]:
    """A broker's declaration with duties and no deferment account, until its TAX: the
    conversation, the RF reference and the amount and currency the TAX notification states."""
    lrn = f"LRN-PAY-{uuid.uuid4().hex[:10].upper()}"
    conversation_id, _ = sandbox.post(BROKER, build_dec(2, lrn=lrn, deferment=None))
    data = sandbox.until(BROKER, conversation_id, "TAX")
    assert [n["kind"] for n in data["notifications"]] == ["ACC", "CTL", "TAX"]
    tax = data["notifications"][2]
    document = sandbox.document(tax)
    payment = document.find(".//r:Declaration/r:DutyTaxFee/r:Payment", RES)
    assert payment is not None, etree.tostring(document)[:2000]
    reference = payment.findtext("r:ReferenceID", namespaces=RES)
    amount = payment.find("r:TaxAssessedAmount", RES)
    assert reference and amount is not None and amount.text
    assert is_valid_creditor_reference(reference) and _iso11649(reference)
    assert (tax["payment_reference"], tax["total_duties"], tax["currency"]) == \
        (reference, amount.text, amount.get("currencyID"))
    assert Decimal(amount.text) > 0
    return conversation_id, reference, Decimal(amount.text), amount.get("currencyID") or ""


def _paying(reference: str, amounts: list[Decimal], currency: str) -> tuple[bytes, str]:
    """A camt.054.001.08 of one entry paying ``amounts`` to ``reference``; its MsgId."""
    seed = uuid.uuid4().int % 10_000
    samples = sample_payments(len(amounts), currency=currency, seed=seed)
    payments: list[SamplePayment] = [dataclasses.replace(s, reference=reference, amount=a)
                                     for s, a in zip(samples, amounts, strict=True)]
    message_id = f"CAMT-E2E-{uuid.uuid4().hex[:12].upper()}"
    return build_camt054("08", payments=payments, message_id=message_id), message_id


def _acknowledged(sandbox: Sandbox, conversation_id: str) -> list[dict[str, str | None]]:
    """The bank's ACK for its file: each transaction's outcome, status and reason."""
    data = sandbox.until(BANK, conversation_id, "ACK")
    (ack,) = [n for n in data["notifications"] if n["kind"] == "ACK"]
    document = sandbox.document(ack)
    return [{"outcome": t.findtext("gw:Outcome", namespaces=GW),
             "status": t.findtext("gw:Status", namespaces=GW),
             "reason": t.findtext("gw:Reason", namespaces=GW),
             "parked_id": t.findtext("gw:ParkedID", namespaces=GW)}
            for t in document.iterfind(".//gw:Transaction", GW)]


def _released(sandbox: Sandbox, conversation_id: str) -> dict[str, Any]:
    data = sandbox.until(BROKER, conversation_id, "RES")
    assert [n["kind"] for n in data["notifications"]] == ["ACC", "CTL", "TAX", "PAY", "RES"]
    assert [n["seq"] for n in data["notifications"]] == [1, 2, 3, 4, 5]
    assert data["status"] == "released"
    res = sandbox.document(data["notifications"][4])
    assert res.findtext(".//r:Response/r:FunctionCode", namespaces=RES) == "07"
    assert res.findtext(".//r:Response/r:Declaration/r:ID", namespaces=RES) == data["mrn"]
    return data


def _still_waiting(sandbox: Sandbox, conversation_id: str, seconds: float = 2.0) -> None:
    time.sleep(seconds)
    kinds = [n["kind"] for n in sandbox.listing(BROKER, conversation_id)["notifications"]]
    assert "RES" not in kinds, kinds


def test_payment_flow_two_payments_for_the_duties_release_the_declaration(
        sandbox: Sandbox) -> None:
    """TAX carries a valid RF reference and the amount; the bank's file pays part and then
    the rest: the broker gets PAY, the bank an ACK listing both outcomes, clearance two
    signed payment events and the file, and releases: RES, status released."""
    conversation_id, reference, due, currency = _declare(sandbox)
    _still_waiting(sandbox, conversation_id)
    first = (due * Decimal("0.4")).quantize(Decimal("0.01"))

    body, message_id = _paying(reference, [first, due - first], currency)
    file_conversation, receipt = sandbox.post(BANK, body)
    assert receipt.findtext("gw:MessageType", namespaces=GW) == "camt054-001.08"

    assert _acknowledged(sandbox, file_conversation) == [
        {"outcome": "partly", "status": "partly_paid", "reason": None, "parked_id": None},
        {"outcome": "matched", "status": "paid", "reason": None, "parked_id": None}]
    tapped = sandbox.tapped(3)
    assert sorted(kind for kind, _ in tapped) == ["payment", "payment", "payment_notification"]
    events = [event for kind, event in tapped if kind == "payment"]
    assert [(e["status"], e["outstanding"], e["conversation_id"], e["reference"])
            for e in events] == [
        ("partly_paid", format(due - first, "f"), conversation_id, reference),
        ("paid", "0.00", conversation_id, reference)]
    (file_event,) = [event for kind, event in tapped if kind == "payment_notification"]
    assert file_event["message_id"] == message_id and len(file_event["transactions"]) == 2

    data = _released(sandbox, conversation_id)
    pay = sandbox.document(data["notifications"][3])
    assert (pay.findtext(".//gw:PaymentStatus/gw:Reference", namespaces=GW),
            pay.findtext(".//gw:PaymentStatus/gw:Status", namespaces=GW),
            pay.findtext(".//gw:PaymentStatus/gw:Outstanding", namespaces=GW)) == \
        (reference, "paid", "0.00")
    assert data["notifications"][3]["mrn"] == data["mrn"]


def test_payment_flow_unknown_reference_parked_then_replayed_releases(
        sandbox: Sandbox) -> None:
    """A payment quoting a reference nobody assessed is parked (ACK says why; nothing paid,
    no release); the operator replays it with the right reference (gateway parked replay, a
    process of its own): applied, PAY, and clearance releases the declaration."""
    conversation_id, reference, due, currency = _declare(sandbox)
    unknown = creditor_reference_for(f"99{uuid.uuid4().int % 10**12:012d}")
    body, _ = _paying(unknown, [due], currency)
    file_conversation, _ = sandbox.post(BANK, body)
    (parked,) = _acknowledged(sandbox, file_conversation)
    assert (parked["outcome"], parked["reason"]) == ("parked", "unknown-reference")
    _still_waiting(sandbox, conversation_id)

    code, out = sandbox.cli("parked", "list", "--json")
    assert code == 0
    (row,) = [r for r in json.loads(out) if r["id"] == parked["parked_id"]]
    assert (row["reason"], row["reference"], row["amount"]) == \
        ("unknown-reference", unknown, format(due, "f"))
    code, out = sandbox.cli("parked", "replay", row["id"], "--reference", reference,
                            "--operator", "e2e-desk")
    result = json.loads(out.strip().splitlines()[-1])
    assert code == 0, out
    assert (result["outcome"], result["status"], result["outstanding"], result["events"],
            result["paid_notices"]) == ("matched", "paid", "0.00", 1, 1)

    data = _released(sandbox, conversation_id)
    assert sandbox.document(data["notifications"][3]).findtext(
        ".//gw:PaymentStatus/gw:Status", namespaces=GW) == "paid"
    code, out = sandbox.cli("parked", "list", "--json")
    assert code == 0 and row["id"] not in [r["id"] for r in json.loads(out)]
