"""A bank over SOAP with WS-Security against the real gateway (uvicorn, RabbitMQ, SQLite).

``bank-demo`` is registered with ``require_wss``: its camt.054 files
(``SubmitPaymentNotification``) and its reference look-ups (``LookupPaymentReference``) must be
signed with WS-Security by its own key, the gateway acts only on the signed Body, refuses a
signature it has seen, a stale Timestamp and another bank's signature, answers with the
WS-Security fault code, and signs its own answers with WS-Security on top of the enveloped
signature of the receipt or look-up answer. zeep is given only ``/soap?wsdl``.
"""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pika
import pytest
from bank_soap_helpers import (
    INFO_NODE,
    LOOKUP,
    RECEIPT_NODE,
    SUBMIT,
    acting_bank,
    bank_key,
    bank_service,
    gateway_trust,
    home_with_bank,
    lookup_envelope,
    post,
    signed,
    unsigned,
    verified_answer,
    wss_fault,
)
from conftest import RunningGateway, start_gateway, xmlsec1_verify
from lxml import etree
from payment_helpers import assess, camt_paying, new_reference

from adapters.local_server import free_port
from adapters.standins.bank import BankStandIn
from gateway.documents.receipts import GW_NS
from gateway.settings import Settings
from gateway.signing.keys import SigningKey, generate_key_pair
from gateway.signing.wssecurity import SOAP11, SOAP12, secure_envelope
from gateway.signing.xmldsig import XmlSigner, verify_enveloped

pytestmark = pytest.mark.integration

GW = {"gw": GW_NS}
VERSIONS = ["soap11", "soap12"]


def _key(tmp_path: Path, name: str) -> tuple[SigningKey, Path]:
    key_pem, cert_pem = generate_key_pair(f"{name}.test", name)
    (tmp_path / f"{name}.key").write_bytes(key_pem)
    (tmp_path / f"{name}.crt").write_bytes(cert_pem)
    return SigningKey.load(tmp_path / f"{name}.key", tmp_path / f"{name}.crt"), \
        tmp_path / f"{name}.crt"


@pytest.fixture
def other_bank(tmp_path: Path) -> tuple[SigningKey, Path]:
    """A second bank's key pair, registered as ``bank-two`` (trusted, but for itself)."""
    return _key(tmp_path, "bank-two")


@pytest.fixture
def running(settings: Settings, rabbitmq: str, tmp_path: Path,
            other_bank: tuple[SigningKey, Path]) -> Iterator[RunningGateway]:
    """The gateway (no stand-ins) with a second bank registered; bank-demo's ACKs go to a bank
    that is not running (they are pulled here)."""
    extra = (f'\n[[partner]]\nid = "bank-two"\nname = "Second bank"\nkind = "bank"\n'
             f'bic = "BANKMK22XXX"\nrequire_wss = true\nallowed_message_types = []\n'
             f'certificates = ["{other_bank[1]}"]\n')
    home = home_with_bank(tmp_path, settings, f"http://127.0.0.1:{free_port()}/bank/soap?wsdl",
                          extra)
    gateway = start_gateway(settings.with_(home=home, push_max_attempts=1))
    yield gateway
    gateway.stop()


@pytest.fixture
def channel(running: RunningGateway) -> Iterator[Any]:
    connection = pika.BlockingConnection(pika.URLParameters(running.settings.amqp_url))
    ch = connection.channel()
    ch.confirm_delivery()
    yield ch
    connection.close()


def _message_id() -> str:
    return f"CAMT-{uuid.uuid4().hex[:16].upper()}"


def _assessed(running: RunningGateway, channel: Any, tokens: dict[str, str],
              due: Decimal) -> tuple[str, str]:
    """(reference, MRN) of a new assessment of ``due`` EUR on a broker's declaration."""
    reference = new_reference()
    _, mrn = assess(running, channel, tokens["broker-alpha"], reference, due)
    return reference, mrn


def _ledger(running: RunningGateway, reference: str) -> Any:
    return running.gateway.journal.flow("payments").look_up(reference)


# --- camt.054 over SOAP with WS-Security ---------------------------------------------------------

@pytest.mark.parametrize("version", VERSIONS)
def test_camt054_over_soap_with_ws_security_gets_signed_receipt(
        version: str, running: RunningGateway, channel: Any, tokens: dict[str, str],
        tmp_path: Path) -> None:
    """zeep, from the WSDL only, submits a camt.054 signed with the bank's key: HTTP 200, the
    answer carries the gateway's WS-Security signature and the enveloped-signed receipt
    (xmlsec1 verifies it), and the payment is matched."""
    reference, _ = _assessed(running, channel, tokens, Decimal("120.00"))
    document = camt_paying(reference, Decimal("120.00"), seed=301, message_id=_message_id())
    service, _ = bank_service(running, tokens["bank-demo"], version, raw=True)

    response = service.SubmitPaymentNotification(_value_1=etree.fromstring(document))

    assert response.status_code == 200, response.text
    verified = verified_answer(response.content, running.settings)
    assert verified.soap_namespace == (SOAP12 if version == "soap12" else SOAP11)
    answer = verified.document
    assert etree.QName(answer).localname == "SubmitPaymentNotificationResponse"
    receipt = answer.find("gw:Receipt", GW)
    assert receipt is not None
    assert verify_enveloped(receipt, gateway_trust(running.settings), owner="gateway")
    rc, err = xmlsec1_verify(etree.tostring(receipt), running.settings.keys_dir /
                             "gateway.crt", RECEIPT_NODE, tmp_path)
    assert rc == 0, err
    assert receipt.findtext("gw:MessageType", namespaces=GW) == "camt054-001.08"
    assert _ledger(running, reference).status == "paid"


@pytest.mark.parametrize("version", VERSIONS)
def test_camt054_without_ws_security_is_refused_with_wss_fault(
        version: str, running: RunningGateway, channel: Any, tokens: dict[str, str]) -> None:
    """An unsigned request of a require_wss bank: 401, wsse:InvalidSecurity (1.1 faultcode,
    1.2 Subcode), GW-WSS-MISSING in the signed rejection; the fault itself is signed with
    WS-Security; nothing is journaled or matched."""
    reference, _ = _assessed(running, channel, tokens, Decimal("50.00"))
    document = camt_paying(reference, Decimal("50.00"), seed=302, message_id=_message_id())

    response = post(running, unsigned(document, version), version, tokens["bank-demo"])

    fault = wss_fault(response, version, running.settings)
    assert (fault.status, fault.wss_code, fault.code) == (401, "wsse:InvalidSecurity",
                                                          "GW-WSS-MISSING")
    assert _ledger(running, reference).status == "open"


def _wrapped(envelope: bytes, forged_document: bytes, *, same_id: bool) -> bytes:
    """The signed Body moved into a header wrapper, a forged Body in its place (with the signed
    Body's wsu:Id too if ``same_id``)."""
    root = etree.fromstring(envelope)
    namespace = etree.QName(root).namespace
    body = root.find(f"{{{namespace}}}Body")
    forged = copy.deepcopy(body)
    operation = forged[0]
    operation.remove(operation[0])
    operation.append(etree.fromstring(forged_document))
    if not same_id:
        forged.attrib.clear()
    root.replace(body, forged)
    etree.SubElement(root.find(f"{{{namespace}}}Header"), "{urn:attacker}Wrapper").append(body)
    return etree.tostring(root)


@pytest.mark.parametrize("same_id", [False, True], ids=["other-id", "same-id"])
def test_wrapped_forged_body_is_refused(
        same_id: bool, running: RunningGateway, channel: Any, tokens: dict[str, str]) -> None:
    """Signature wrapping against the real endpoint: a genuinely signed file paying 1.00 is
    moved into a header and a forged Body paying the whole assessment put in its place. The
    gateway refuses it (GW-WSS-WRAPPING, or duplicate Ids) and pays nothing."""
    reference, _ = _assessed(running, channel, tokens, Decimal("900.00"))
    bank = acting_bank(running.settings)
    genuine = signed(bank, camt_paying(reference, Decimal("1.00"), seed=303,
                                       message_id=_message_id()), "soap11")
    forged = camt_paying(reference, Decimal("900.00"), seed=304, message_id=_message_id())

    response = post(running, _wrapped(genuine, forged, same_id=same_id), "soap11",
                    tokens["bank-demo"])

    fault = wss_fault(response, "soap11", running.settings)
    assert fault.code == ("GW-SIGNATURE-DUPLICATE-ID" if same_id else "GW-WSS-WRAPPING"), fault
    assert fault.wss_code in ("wsse:InvalidSecurity", "wsse:FailedCheck")
    found = _ledger(running, reference)
    assert (found.status, found.paid) == ("open", Decimal("0"))


def test_replayed_request_is_refused_across_a_restart(
        running: RunningGateway, channel: Any, tokens: dict[str, str], settings: Settings
        ) -> None:
    """The same signed bytes twice: the first is accepted, the second refused (401,
    GW-WSS-REPLAY) — also by a new gateway process on the same journal; the same file signed
    again is a repeat and gets its original receipt."""
    reference, _ = _assessed(running, channel, tokens, Decimal("30.00"))
    bank = acting_bank(running.settings)
    document = camt_paying(reference, Decimal("10.00"), seed=305, message_id=_message_id())
    body = signed(bank, document, "soap12")

    first = post(running, body, "soap12", tokens["bank-demo"])
    assert first.status_code == 200, first.text
    again = wss_fault(post(running, body, "soap12", tokens["bank-demo"]), "soap12",
                      running.settings)
    assert (again.status, again.code) == (401, "GW-WSS-REPLAY")

    restarted = start_gateway(running.settings)          # same journal, new process state
    try:
        after = wss_fault(post(restarted, body, "soap12", tokens["bank-demo"]), "soap12",
                          running.settings)
        assert (after.status, after.code) == (401, "GW-WSS-REPLAY")
        resent = post(restarted, signed(bank, document, "soap12"), "soap12",
                      tokens["bank-demo"])
        assert resent.status_code == 200 and resent.headers.get("X-Duplicate") == "true"
    finally:
        restarted.stop()
    assert _ledger(running, reference).paid == Decimal("10.00")


@pytest.mark.parametrize(("created_ago", "ttl"), [(600, 300), (400, 3600)],
                         ids=["expired", "too-old"])
def test_stale_timestamp_is_refused(
        created_ago: int, ttl: int, running: RunningGateway, channel: Any,
        tokens: dict[str, str]) -> None:
    """A Timestamp that expired, or one created more than 300 s ago whose Expires is still
    ahead: wsse:MessageExpired, GW-WSS-TIMESTAMP, nothing paid."""
    reference, _ = _assessed(running, channel, tokens, Decimal("75.00"))
    then = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=created_ago)
    document = camt_paying(reference, Decimal("75.00"), seed=306, message_id=_message_id())
    root = secure_envelope(etree.fromstring(unsigned(document, "soap11")),
                           XmlSigner(bank_key(running.settings)), ttl_seconds=ttl, now=then)

    fault = wss_fault(post(running, etree.tostring(root), "soap11", tokens["bank-demo"]),
                      "soap11", running.settings)
    assert (fault.status, fault.wss_code, fault.code) == (401, "wsse:MessageExpired",
                                                          "GW-WSS-TIMESTAMP")
    assert _ledger(running, reference).status == "open"


@pytest.mark.parametrize("signer", ["bank-two", "unknown"])
def test_request_signed_by_another_bank_is_refused(
        signer: str, running: RunningGateway, channel: Any, tokens: dict[str, str],
        other_bank: tuple[SigningKey, Path], tmp_path: Path) -> None:
    """bank-demo's token with a signature by another registered bank (trusted, for itself
    only), or by a key nobody registered: wsse:FailedAuthentication, nothing paid."""
    reference, _ = _assessed(running, channel, tokens, Decimal("60.00"))
    key = other_bank[0] if signer == "bank-two" else _key(tmp_path, "stranger")[0]
    bank = BankStandIn(key, gateway_trust(running.settings))
    document = camt_paying(reference, Decimal("60.00"), seed=307, message_id=_message_id())

    fault = wss_fault(post(running, signed(bank, document, "soap12"), "soap12",
                           tokens["bank-demo"]), "soap12", running.settings)

    expected = "GW-SIGNATURE-WRONG-SIGNER" if signer == "bank-two" else \
        "GW-SIGNATURE-UNKNOWN-KEY"
    assert (fault.wss_code, fault.code) == ("wsse:FailedAuthentication", expected)
    assert _ledger(running, reference).status == "open"


def test_broker_sending_ws_security_gets_must_understand(
        running: RunningGateway, tokens: dict[str, str]) -> None:
    """A broker is not registered with require_wss: the gateway does not process its
    wsse:Security header, so one marked mustUnderstand is a MustUnderstand fault."""
    bank = acting_bank(running.settings)
    body = lookup_envelope(bank, "RF18539007547034", "soap11").replace(
        b"LookupPaymentReference", b"GetNotifications").replace(
        b"<gw:Reference>RF18539007547034</gw:Reference>",
        b"<gw:ConversationID>x</gw:ConversationID>")

    response = post(running, body, "soap11", tokens["broker-alpha"], "GetNotifications")

    assert response.status_code == 500
    assert b"<faultcode>soap:MustUnderstand</faultcode>" in response.content


# --- LookupPaymentReference -----------------------------------------------------------------------

@pytest.mark.parametrize("version", VERSIONS)
def test_broker_calling_lookup_is_forbidden(
        version: str, running: RunningGateway, tokens: dict[str, str]) -> None:
    """Only banks may look references up: a broker gets 403 GW-AUTH-FORBIDDEN."""
    body = unsigned(b'<gw:Reference xmlns:gw="urn:customs-gateway:v1">RF18539007547034'
                    b"</gw:Reference>", version, LOOKUP)

    response = post(running, body, version, tokens["broker-alpha"], "LookupPaymentReference")

    assert response.status_code == 403
    assert b"GW-AUTH-FORBIDDEN" in response.content
    assert b"PaymentReferenceInfo" not in response.content


def _pay(running: RunningGateway, tokens: dict[str, str], reference: str, amount: Decimal,
         seed: int) -> None:
    bank = acting_bank(running.settings)
    body = signed(bank, camt_paying(reference, amount, seed=seed, message_id=_message_id()),
                  "soap11")
    response = post(running, body, "soap11", tokens["bank-demo"])
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("version", VERSIONS)
def test_lookup_answers_each_state_signed(
        version: str, running: RunningGateway, channel: Any, tokens: dict[str, str],
        tmp_path: Path) -> None:
    """open, partly_paid and paid references answer valid with their amounts, currency, MRN and
    status; a well-formed reference nobody issued is unknown; a bad check digit is invalid.
    zeep (WSDL only, WS-Security both ways) reads them; each answer's enveloped signature
    verifies, with xmlsec1 too."""
    open_ref, open_mrn = _assessed(running, channel, tokens, Decimal("100.00"))
    partly_ref, _ = _assessed(running, channel, tokens, Decimal("250.00"))
    paid_ref, paid_mrn = _assessed(running, channel, tokens, Decimal("40.50"))
    _pay(running, tokens, partly_ref, Decimal("100.00"), seed=311)
    _pay(running, tokens, paid_ref, Decimal("40.50"), seed=312)
    unknown = new_reference()
    invalid = unknown[:2] + ("00" if unknown[2:4] != "00" else "01") + unknown[4:]
    service, wire = bank_service(running, tokens["bank-demo"], version)

    answers = {}
    for reference in (open_ref, partly_ref, paid_ref, unknown, invalid):
        answers[reference] = service.LookupPaymentReference(Reference=reference)
        raw = verified_answer(wire.last, running.settings).document
        info = raw.find("gw:PaymentReferenceInfo", GW)
        assert verify_enveloped(info, gateway_trust(running.settings), owner="gateway")
        rc, err = xmlsec1_verify(etree.tostring(info), running.settings.keys_dir /
                                 "gateway.crt", INFO_NODE, tmp_path)
        assert rc == 0, err

    opened = answers[open_ref]
    assert (opened.Validity, opened.Status, opened.MRN) == ("valid", "open", open_mrn)
    assert (opened.Outstanding._value_1, opened.Outstanding.currency) == (Decimal("100.00"),
                                                                         "EUR")
    partly = answers[partly_ref]
    assert (partly.Status, partly.Paid._value_1, partly.Outstanding._value_1) == (
        "partly_paid", Decimal("100.00"), Decimal("150.00"))
    paid = answers[paid_ref]
    assert (paid.Status, paid.MRN, paid.Outstanding._value_1, paid.AmountDue._value_1) == (
        "paid", paid_mrn, Decimal("0"), Decimal("40.50"))
    assert (answers[unknown].Validity, answers[unknown].Status) == ("unknown", None)
    assert (answers[invalid].Validity, answers[invalid].Reference) == ("invalid", invalid)
    assert answers[invalid].Partner == "bank-demo"


def test_lookup_reads_the_printed_form_and_refuses_an_empty_reference(
        running: RunningGateway, channel: Any, tokens: dict[str, str]) -> None:
    """The printed form (groups of four, lower case) is the same reference; an empty one is a
    located GW-SOAP-BODY fault."""
    reference, _ = _assessed(running, channel, tokens, Decimal("12.00"))
    printed = " ".join(reference[i:i + 4] for i in range(0, len(reference), 4)).lower()
    bank = acting_bank(running.settings)

    response = post(running, lookup_envelope(bank, printed, "soap11"), "soap11",
                    tokens["bank-demo"], "LookupPaymentReference")
    info = verified_answer(response, running.settings).document.find(
        "gw:PaymentReferenceInfo", GW)
    assert (info.findtext("gw:Reference", namespaces=GW),
            info.findtext("gw:Validity", namespaces=GW)) == (reference, "valid")

    empty = wss_fault(post(running, lookup_envelope(bank, " ", "soap11"), "soap11",
                           tokens["bank-demo"], "LookupPaymentReference"), "soap11",
                      running.settings)
    assert (empty.wss_code, empty.code) == ("soap:Client", "GW-SOAP-BODY")


def test_lookup_replayed_is_refused(running: RunningGateway, tokens: dict[str, str]) -> None:
    """A signed look-up sent twice: the second is a replay (GW-WSS-REPLAY)."""
    body = lookup_envelope(acting_bank(running.settings), new_reference(), "soap12")
    first = post(running, body, "soap12", tokens["bank-demo"], "LookupPaymentReference")
    assert first.status_code == 200, first.text
    again = wss_fault(post(running, body, "soap12", tokens["bank-demo"],
                           "LookupPaymentReference"), "soap12", running.settings)
    assert again.code == "GW-WSS-REPLAY"


def test_submission_through_the_other_operation_is_refused(
        running: RunningGateway, tokens: dict[str, str]) -> None:
    """A camt.054 inside SubmitDeclaration is refused (GW-SOAP-OPERATION): each document
    travels with the operation its registry entry names."""
    bank = acting_bank(running.settings)
    document = camt_paying(new_reference(), Decimal("1.00"), seed=313, message_id=_message_id())
    body = signed(bank, document, "soap11", wrapper=SUBMIT.replace(
        "SubmitPaymentNotification", "SubmitDeclaration"))

    fault = wss_fault(post(running, body, "soap11", tokens["bank-demo"], "SubmitDeclaration"),
                      "soap11", running.settings)

    assert fault.code == "GW-SOAP-OPERATION"

