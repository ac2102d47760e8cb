"""``gateway demo``, flow F2: a declaration's duties paid at the bank, with WS-Security.

The steps after the declaration flow's, against the same sandbox:

1. the broker sends a declaration without a deferment account: clearance (the stand-in)
   assesses duties, and the broker's signed ``TAX`` notification carries the ISO 11649 ``RF``
   payment reference and the amount due;
2. the bank (``bank-demo``, acting here with zeep given only ``/soap?wsdl``) looks the
   reference up with ``LookupPaymentReference`` over SOAP 1.1, signed with WS-Security by the
   bank's key; the answer's WS-Security signature is the gateway's, and the signed
   ``gw:PaymentReferenceInfo`` says valid, open, what is outstanding and the MRN;
3. the bank sends a camt.054 (``samples.camt054``) with two payments of that reference — one
   partial, then the rest — with ``SubmitPaymentNotification`` over SOAP 1.2, signed with
   WS-Security; the gateway answers with its signed receipt and matches both (partly, then
   matched): the broker gets a signed ``PAY``;
4. the gateway's ``ACK`` reaches the bank's SOAP service (the bank stand-in mounted under
   ``/bank/``), by zeep with WS-Security: ``/bank/acknowledgements`` lists both outcomes;
5. clearance releases the goods: where the clearance stand-in releases only once the duties
   are paid (its rules say ``pay_before_release``), the ``RES`` must come after the ``PAY``
   and not before the payment; with a stand-in that releases at once, the ``RES`` is there
   already — the table says which.
"""

from __future__ import annotations

import datetime as dt
import inspect
import re
import time
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
from lxml import etree

from adapters.demo import GW, Step, Verifier
from gateway.settings import Settings

BANK = "bank-demo"
RES = "urn:wco:datamodel:WCO:RES-DMS:2"
CENT = Decimal("0.01")


class DutiesCase:
    """What the F2 steps learnt so far (the declaration, its reference, its amount)."""

    conversation: str | None = None
    mrn: str | None = None
    reference: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    released_before_payment: bool = False
    waits_for_payment: bool = False            # the stand-in releases after payment


def payment_steps(settings: Settings, base: str, tokens: dict[str, str], verify: Verifier,
                  http: httpx.Client, run: str) -> list[Step]:
    """The F2 steps, in order; a step whose predecessor failed is reported as not run."""
    from samples.camt054 import build_camt054, sample_payments
    from samples.wco import build_dec

    case = DutiesCase()
    case.waits_for_payment = _pays_before_release(settings, build_dec)
    bank = _Bank(settings, base, tokens[BANK])
    steps = [Step("declaration with duties", "http", "TAX with RF reference"),
             Step("bank looks RF up", "soap11", "valid, open, amount due"),
             Step("camt.054, 2 payments", "soap12", "partly + matched, PAY"),
             Step("ACK to the bank", "push", "bank received ACK"),
             Step("release after payment", "bus", "released")]
    actions: list[Callable[[Step], None]] = [
        lambda s: _declare(http, build_dec, run, verify, case, s),
        lambda s: _look_up(bank, verify, case, s),
        lambda s: _pay(bank, http, build_camt054, sample_payments, run, verify, case, s),
        lambda s: _acknowledged(http, run, s),
        lambda s: _released(http, verify, case, s),
    ]
    for step, action in zip(steps, actions, strict=True):
        started = time.perf_counter()
        try:
            action(step)
        except Exception as exc:  # noqa: BLE001 - a demo step reports, the table goes on
            step.ok, step.note = False, f"{type(exc).__name__}: {exc}"[:160]
        step.seconds = time.perf_counter() - started
        if not step.ok:
            for later in steps[steps.index(step) + 1:]:
                later.note = "not run: an earlier F2 step failed"
            break
    return steps


# --- 1. the declaration and its TAX notification ----------------------------------------------

def _pays_before_release(settings: Settings, build_dec: Callable[..., bytes]) -> bool:
    """Whether the clearance stand-in of this tree releases only once duties are paid (and the
    sample builder can leave out the deferment account that would release at once)."""
    from adapters.standins.clearance_rules import ClearanceRules

    rules = ClearanceRules.load(settings.config_dir / "standins" / "clearance.toml")
    return bool(getattr(rules, "pay_before_release", False)) and \
        "deferment" in inspect.signature(build_dec).parameters


def _declare(http: httpx.Client, build_dec: Callable[..., bytes], run: str, verify: Verifier,
             case: DutiesCase, step: Step) -> None:
    # no deferment account: the duties are paid before release
    options: dict[str, Any] = {"deferment": None} if case.waits_for_payment else {}
    response = http.post("/v1/messages", content=build_dec(2, lrn=f"DEMO-{run}-F2", **options),
                         headers={"Content-Type": "application/xml"})
    step.http = response.status_code
    receipt = verify(etree.fromstring(response.content))
    if response.status_code != 202 or receipt is None:
        step.note = f"HTTP {response.status_code}" + ("" if receipt is not None
                                                      else ", BAD receipt signature")
        return
    step.receipt = receipt.findtext(f"{{{GW}}}ReceiptID")
    case.conversation = step.conversation = response.headers.get("X-Conversation-ID")
    tax = _wait_for_kind(http, case.conversation or "", "TAX", verify)
    if tax is None:
        step.note = "no signed TAX notification within 30 s"
        return
    payment = tax.find(f".//{{{RES}}}DutyTaxFee/{{{RES}}}Payment")
    assert payment is not None, "the TAX notification names no payment"
    amount = payment.find(f"{{{RES}}}TaxAssessedAmount")
    assert amount is not None
    case.reference = payment.findtext(f"{{{RES}}}ReferenceID")
    case.amount, case.currency = Decimal(amount.text or "0"), amount.get("currencyID")
    case.mrn = step.mrn = tax.findtext(f".//{{{RES}}}Declaration/{{{RES}}}ID")
    step.notifications = _kinds(http, case.conversation or "")
    step.ok = bool(case.reference and case.reference.startswith("RF") and case.amount)
    step.note = f"{case.reference} {case.amount} {case.currency} due"


# --- 2. the bank's look-up --------------------------------------------------------------------

class _Bank:
    """The bank's SOAP software: zeep from the WSDL, WS-Security with the bank's key."""

    def __init__(self, settings: Settings, base: str, token: str) -> None:
        from gateway.signing.keys import SigningKey, TrustStore

        keys = settings.keys_dir
        self.key = SigningKey.load(keys / f"{BANK}.key", keys / f"{BANK}.crt")
        self.trust = TrustStore()
        self.trust.add_pem_file("gateway", keys / "gateway.crt")
        self.base, self.token = base, token
        self.answers: list[bytes] = []

    def service(self, port: str, *, raw: bool = False) -> Any:
        import requests
        import zeep
        from zeep.transports import Transport

        from adapters.soap_client.wsse import WsSecuritySignature

        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self.token}"
        session.hooks["response"].append(
            lambda response, *a, **k: self.answers.append(bytes(response.content)))
        client = zeep.Client(
            f"{self.base}/soap?wsdl", transport=Transport(session=session),
            wsse=WsSecuritySignature(self.key, self.trust, "gateway"),
            settings=zeep.Settings(strict=True, forbid_dtd=True, forbid_entities=True,
                                   forbid_external=True, raw_response=raw))
        return client.bind("CustomsGatewayService", port)

    def verified(self, answer: bytes) -> etree._Element:
        """The operation's answer from the WS-Security-verified Body (the gateway's)."""
        from gateway.signing.wssecurity import verify_envelope

        return verify_envelope(etree.fromstring(answer), self.trust, owner="gateway",
                               now=dt.datetime.now(dt.UTC)).document


def _look_up(bank: _Bank, verify: Verifier, case: DutiesCase, step: Step) -> None:
    service = bank.service("CustomsGatewaySoap11Port")
    answer = service.LookupPaymentReference(Reference=case.reference)   # WSS verified by zeep
    step.http = 200
    info = bank.verified(bank.answers[-1]).find(f"{{{GW}}}PaymentReferenceInfo")
    signed = verify(info) if info is not None else None
    if signed is None:
        step.note = "BAD PaymentReferenceInfo signature"
        return
    outstanding = Decimal(signed.findtext(f"{{{GW}}}Outstanding") or "-1")
    step.mrn = signed.findtext(f"{{{GW}}}MRN")
    step.ok = (answer.Validity, answer.Status, outstanding, step.mrn) == (
        "valid", "open", case.amount, case.mrn)
    step.note = (f"{answer.Validity}, {answer.Status}, {outstanding} {case.currency} "
                 "outstanding; both signatures verified")


# --- 3. the bank's camt.054 -------------------------------------------------------------------

def _camt054(build_camt054: Callable[..., bytes], sample_payments: Callable[..., Any],
             run: str, reference: str, amounts: tuple[Decimal, Decimal],
             currency: str) -> bytes:
    """Two entries of one payment each, both quoting ``reference``, with this run's own bank
    references (a payment is recorded once per bank reference, also across demo runs)."""
    seed = int(run, 16) % 10_000
    text = build_camt054("08", entries=2, transactions=1, currency=currency, seed=seed,
                         message_id=f"DEMO-{run}-CAMT").decode()
    for number, (sample, amount) in enumerate(
            zip(sample_payments(2, currency=currency, seed=seed), amounts, strict=True), 1):
        text = text.replace(sample.reference, reference)
        text = text.replace(sample.account_servicer_reference, f"DEMO{run}P{number}")
        text = re.sub(rf">{re.escape(str(sample.amount))}<", f">{amount}<", text)
    return text.encode()


def _pay(bank: _Bank, http: httpx.Client, build_camt054: Callable[..., bytes],
         sample_payments: Callable[..., Any], run: str, verify: Verifier, case: DutiesCase,
         step: Step) -> None:
    assert case.amount is not None and case.reference and case.currency
    partial = (case.amount * Decimal("0.4")).quantize(CENT, ROUND_HALF_UP)
    document = _camt054(build_camt054, sample_payments, run, case.reference,
                        (partial, case.amount - partial), case.currency)
    case.released_before_payment = "RES" in _kinds(http, case.conversation or "")
    service = bank.service("CustomsGatewaySoap12Port", raw=True)
    response = service.SubmitPaymentNotification(_value_1=etree.fromstring(document))
    step.http = response.status_code
    answer = bank.verified(response.content)               # the gateway's WS-Security
    found = answer.find(f"{{{GW}}}Receipt")
    receipt = verify(found) if found is not None else None
    if response.status_code != 200 or receipt is None:
        step.note = f"HTTP {response.status_code}, no signed receipt"
        return
    step.receipt = receipt.findtext(f"{{{GW}}}ReceiptID")
    step.conversation = response.headers.get("X-Conversation-ID")
    with bank_http(http, bank) as as_bank:
        ack = _wait_for_kind(as_bank, step.conversation or "", "ACK", verify)
    outcomes = [t.findtext(f"{{{GW}}}Outcome") for t in ack.iter(f"{{{GW}}}Transaction")] \
        if ack is not None else []
    pay = _wait_for_kind(http, case.conversation or "", "PAY", verify)
    status = pay.findtext(f".//{{{GW}}}PaymentStatus/{{{GW}}}Status") if pay is not None else None
    step.notifications = ["PAY"] if pay is not None else []
    step.ok = outcomes == ["partly", "matched"] and status == "paid"
    step.note = (f"{partial} + {case.amount - partial} {case.currency}: "
                 f"{', '.join(o or '?' for o in outcomes) or 'no ACK'}; broker's PAY: "
                 f"{status or 'none'}")


def bank_http(http: httpx.Client, bank: _Bank) -> httpx.Client:
    """The conversations API as the bank reads it (its own token)."""
    return httpx.Client(base_url=str(http.base_url),
                        headers={"Authorization": f"Bearer {bank.token}"}, timeout=30)


# --- 4. the ACK at the bank -------------------------------------------------------------------

def _acknowledged(http: httpx.Client, run: str, step: Step) -> None:
    message_id = f"DEMO-{run}-CAMT"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        listed = http.get("/bank/acknowledgements").json()
        kept = next((r for r in listed if r["message_id"] == message_id), None)
        if kept is not None:
            outcomes = [t["outcome"] for t in kept["transactions"]]
            step.ok = outcomes == ["partly", "matched"]
            step.note = (f"{BANK} received {', '.join(outcomes)} (AcknowledgePayments, "
                         "WS-Security)")
            return
        time.sleep(0.2)
    step.note = "the bank received no acknowledgement within 30 s"


# --- 5. the release ---------------------------------------------------------------------------

def _released(http: httpx.Client, verify: Verifier, case: DutiesCase, step: Step) -> None:
    step.mrn, step.conversation = case.mrn, case.conversation
    released = _wait_for_kind(http, case.conversation or "", "RES", verify)
    step.notifications = _kinds(http, case.conversation or "")
    if released is None:
        step.note = "no release within 30 s of the payment"
        return
    kinds = step.notifications
    if not case.waits_for_payment:
        step.ok, step.expect = True, "released"
        step.note = "this clearance stand-in releases at once, before payment"
        return
    step.ok = not case.released_before_payment and kinds.index("PAY") < kinds.index("RES")
    step.note = "released once the duties were paid" if step.ok else \
        "released before the duties were paid!"


# --- reading notifications --------------------------------------------------------------------

def _kinds(http: httpx.Client, conversation: str) -> list[str]:
    data = http.get(f"/v1/conversations/{conversation}/notifications",
                    headers={"Accept": "application/json"}).json()
    return [n["kind"] for n in data["notifications"]]


def _wait_for_kind(http: httpx.Client, conversation: str, kind: str, verify: Verifier,
                   timeout: float = 30.0) -> etree._Element | None:
    """The first notification of ``kind`` in the conversation, as verified (else None)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = http.get(f"/v1/conversations/{conversation}/notifications",
                        headers={"Accept": "application/json"}).json()
        for n in data["notifications"]:
            if n["kind"] == kind:
                return verify(etree.fromstring(n["document"].encode()))
        time.sleep(0.2)
    return None

