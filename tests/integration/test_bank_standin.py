"""The demo bank served by real uvicorn, called by our zeep ``BankClient`` with WS-Security.

Both directions are signed and verified for real: the client signs ``AcknowledgePayments``
with the gateway's key (SHA-256 profile), the stand-in verifies it against the gateway's
certificate and answers signed with the bank's key, and the client reads only the verified
answer. Tampered, unsigned, expired, wrapped, foreign-signed and SHA-1-signed requests (the
last one by zeep's own default ``BinarySignature``) are refused with signed SOAP faults carrying
the WS-Security fault code, and nothing refused is kept. Answers tampered with on the way back
are refused by the client.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from lxml import etree

from adapters.bootstrap import load_signing_key
from adapters.local_server import free_port, serve_in_thread, wait_until_ready
from adapters.soap_client.bank_client import BankClient, TransactionAck
from adapters.soap_client.errors import PartnerFault
from adapters.standins.bank import BANK_NS, BANK_OWNER, BankStandIn
from gateway.errors import ServiceUnavailable, SignatureInvalid
from gateway.settings import Settings
from gateway.signing.dsig_profile import WSSE_NS
from gateway.signing.keys import SigningKey, TrustStore, generate_key_pair
from gateway.signing.wssecurity import SOAP11, SOAP12, secure_envelope, verify_envelope
from gateway.signing.xmldsig import XmlSigner

pytestmark = pytest.mark.integration

DS = "http://www.w3.org/2000/09/xmldsig#"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
ACTION = "urn:bank-standin:payments:v1:AcknowledgePayments"
LINES = [TransactionAck("ACSV-0001", "matched"),
         TransactionAck("ACSV-0002", "parked", "no assessment with reference RF18539007547034")]


@dataclass
class RunningBank:
    base_url: str
    stand_in: BankStandIn
    server: Any

    @property
    def wsdl(self) -> str:
        return f"{self.base_url}/bank/soap?wsdl"

    def received(self) -> list[dict[str, Any]]:
        return list(httpx.get(f"{self.base_url}/bank/acknowledgements", timeout=5).json())


def start_bank(stand_in_for: Callable[[str], BankStandIn]) -> tuple[RunningBank, Any]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    stand_in = stand_in_for(base)
    server, thread = serve_in_thread(stand_in.app(), port, name="bank")
    if not wait_until_ready(base, path="/bank/acknowledgements"):
        server.should_exit = True
        raise RuntimeError(f"the bank stand-in at {base} did not start")
    return RunningBank(base, stand_in, server), thread


@pytest.fixture
def bank(settings: Settings) -> Iterator[RunningBank]:
    """The demo bank with the session's keys (``gateway keys init``), on its own server."""
    running, thread = start_bank(lambda base: BankStandIn.from_settings(settings, base))
    yield running
    running.server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def gateway_key(settings: Settings) -> SigningKey:
    return load_signing_key(settings, "gateway")


@pytest.fixture
def bank_trust(settings: Settings) -> TrustStore:
    """The gateway's trust in the bank, as bootstrap builds it from partners.toml."""
    trust = TrustStore()
    trust.add_pem_file(BANK_OWNER, settings.keys_dir / f"{BANK_OWNER}.crt")
    return trust


class Wire:
    """A requests session that records what was sent and may rewrite what comes back."""

    def __init__(self, rewrite: Callable[[bytes], bytes] | None = None) -> None:
        self.session = requests.Session()
        self.sent: list[bytes] = []
        self.session.hooks["response"].append(self._hook)
        self._rewrite = rewrite

    def _hook(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if response.request.method == "POST":
            self.sent.append(bytes(response.request.body or b""))
            if self._rewrite is not None:
                response._content = self._rewrite(response.content)


def client(bank: RunningBank, key: SigningKey, trust: TrustStore, wire: Wire | None = None,
           **kwargs: Any) -> BankClient:
    return BankClient(bank.wsdl, key, trust, BANK_OWNER, session=(wire or Wire()).session,
                      **kwargs)


def ack_envelope(version: str = SOAP11, message_id: str = "CAMT-2026-0001") -> etree._Element:
    return etree.fromstring(
        f'<s:Envelope xmlns:s="{version}"><s:Body><b:AcknowledgePayments xmlns:b="{BANK_NS}">'
        f"<b:MessageId>{message_id}</b:MessageId><b:Transaction>"
        "<b:BankReference>ACSV-0001</b:BankReference><b:Outcome>matched</b:Outcome>"
        "</b:Transaction></b:AcknowledgePayments></s:Body></s:Envelope>")


def fault_of(response: httpx.Response, bank_trust: TrustStore) -> tuple[str, str]:
    """(WSS or SOAP fault code, problem code) of a fault answer, which must verify as the
    bank's."""
    verified = verify_envelope(etree.fromstring(response.content), bank_trust, owner=BANK_OWNER,
                               now=dt.datetime.now(dt.UTC))
    fault = verified.document
    if verified.soap_namespace == SOAP11:
        code = fault.findtext("faultcode") or ""
    else:
        code = fault.findtext(f"{{{SOAP12}}}Code/{{{SOAP12}}}Subcode/{{{SOAP12}}}Value") or ""
    return code, fault.findtext(f".//{{{BANK_NS}}}Code") or ""


# --- the contract ---------------------------------------------------------------------------

def test_bank_wsdl_is_served_with_its_own_address_and_inline_schema(bank: RunningBank) -> None:
    """Both ports name the stand-in's own URL; the types are inline (no external reference)."""
    wsdl = etree.fromstring(httpx.get(bank.wsdl, timeout=5).content)

    locations = {e.get("location") for e in wsdl.iter() if etree.QName(e).localname == "address"}
    assert locations == {f"{bank.base_url}/bank/soap"}
    assert wsdl.find(".//{http://www.w3.org/2001/XMLSchema}schema") is not None


@pytest.mark.parametrize("soap12", [False, True], ids=["soap11", "soap12"])
def test_bank_client_acknowledges_with_sha256_ws_security(
        soap12: bool, bank: RunningBank, gateway_key: SigningKey,
        bank_trust: TrustStore) -> None:
    """zeep sends AcknowledgePayments signed in our profile; the stand-in verifies it against
    the gateway's certificate and keeps it; the client returns the verified signed answer."""
    wire = Wire()
    receipt = client(bank, gateway_key, bank_trust, wire, soap12=soap12).acknowledge(
        "CAMT-2026-0001", LINES)

    assert receipt.message_id == "CAMT-2026-0001" and receipt.transaction_count == 2
    assert receipt.ack_id.startswith("ACK-")
    (request,) = wire.sent
    sent = etree.fromstring(request)
    assert etree.QName(sent).namespace == (SOAP12 if soap12 else SOAP11)
    algorithms = {e.get("Algorithm") for e in sent.iter(f"{{{DS}}}SignatureMethod",
                                                         f"{{{DS}}}DigestMethod")}
    assert algorithms == {"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
                          "http://www.w3.org/2001/04/xmlenc#sha256"}
    assert sent.find(f".//{{{WSSE_NS}}}BinarySecurityToken") is not None
    (kept,) = bank.received()
    assert kept["ack_id"] == receipt.ack_id and kept["signer_key_id"] == gateway_key.key_id
    assert kept["soap"] == ("1.2" if soap12 else "1.1")
    assert kept["transactions"] == [
        {"bank_reference": "ACSV-0001", "outcome": "matched", "reason": None},
        {"bank_reference": "ACSV-0002", "outcome": "parked",
         "reason": "no assessment with reference RF18539007547034"}]


def test_bank_client_repeat_gets_the_first_acknowledgement(
        bank: RunningBank, gateway_key: SigningKey, bank_trust: TrustStore) -> None:
    """Acknowledging the same file twice (a retry) is answered with the first AckId, kept once."""
    bank_client = client(bank, gateway_key, bank_trust)
    first = bank_client.acknowledge("CAMT-2026-0002", LINES)
    again = bank_client.acknowledge("CAMT-2026-0002", LINES)

    assert again.ack_id == first.ack_id
    (kept,) = bank.received()
    assert kept["repeats"] == 1


# --- the stand-in refuses ---------------------------------------------------------------------

def _tampered(key: SigningKey) -> bytes:
    signed = etree.tostring(secure_envelope(ack_envelope(), XmlSigner(key)))
    return signed.replace(b"ACSV-0001", b"ACSV-6666")


def _expired(key: SigningKey) -> bytes:
    old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    return etree.tostring(secure_envelope(ack_envelope(), XmlSigner(key), now=old))


def _wrapped(key: SigningKey) -> bytes:
    document = secure_envelope(ack_envelope(), XmlSigner(key))
    signed_body = document.find(f"{{{SOAP11}}}Body")
    forged = copy.deepcopy(ack_envelope(message_id="FORGED-0001").find(f"{{{SOAP11}}}Body"))
    document.replace(signed_body, forged)
    etree.SubElement(document.find(f"{{{SOAP11}}}Header"), "{urn:x}Wrapper").append(signed_body)
    return etree.tostring(document)


def _foreign(tmp_path: Path) -> bytes:
    key_pem, cert_pem = generate_key_pair("someone.test", "Someone")
    (tmp_path / "x.key").write_bytes(key_pem)
    (tmp_path / "x.crt").write_bytes(cert_pem)
    key = SigningKey.load(tmp_path / "x.key", tmp_path / "x.crt")
    return etree.tostring(secure_envelope(ack_envelope(), XmlSigner(key)))


@pytest.mark.parametrize(("case", "wss_fault", "code"), [
    ("unsigned", "wsse:InvalidSecurity", "GW-WSS-MISSING"),
    ("tampered", "wsse:FailedCheck", "GW-SIGNATURE-DIGEST"),
    ("expired", "wsse:MessageExpired", "GW-WSS-TIMESTAMP"),
    ("wrapped", "wsse:InvalidSecurity", "GW-WSS-WRAPPING"),
    ("foreign", "wsse:FailedAuthentication", "GW-SIGNATURE-UNKNOWN-KEY"),
])
def test_bank_standin_refuses_a_request_it_cannot_trust(
        case: str, wss_fault: str, code: str, bank: RunningBank, gateway_key: SigningKey,
        bank_trust: TrustStore, tmp_path: Path) -> None:
    """Each refusal is a signed SOAP 1.1 fault (HTTP 500) with the WSS fault code and the
    problem code; nothing is kept."""
    body = {"unsigned": lambda: etree.tostring(ack_envelope()),
            "tampered": lambda: _tampered(gateway_key), "expired": lambda: _expired(gateway_key),
            "wrapped": lambda: _wrapped(gateway_key), "foreign": lambda: _foreign(tmp_path)}[case]()

    response = httpx.post(f"{bank.base_url}/bank/soap", content=body, timeout=10, headers={
        "Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{ACTION}"'})

    assert response.status_code == 500
    assert fault_of(response, bank_trust) == (wss_fault, code)
    assert bank.received() == []


def test_bank_standin_answers_soap12_faults_with_a_subcode(
        bank: RunningBank, bank_trust: TrustStore) -> None:
    """SOAP 1.2: HTTP 400, Code Sender, Subcode wsse:InvalidSecurity for an unsigned request."""
    response = httpx.post(f"{bank.base_url}/bank/soap", content=etree.tostring(
        ack_envelope(SOAP12)), headers={"Content-Type": "application/soap+xml"}, timeout=10)

    assert response.status_code == 400
    assert fault_of(response, bank_trust) == ("wsse:InvalidSecurity", "GW-WSS-MISSING")
    assert b"<s:Value>s:Sender</s:Value>" in response.content


def test_bank_standin_refuses_zeep_default_sha1_signing(settings: Settings,
                                                         tmp_path: Path) -> None:
    """zeep's own BinarySignature with its defaults signs RSA-SHA1/SHA-1: the stand-in (trusting
    that very RSA key as the gateway's) answers a wsse:InvalidSecurity fault, GW-SIGNATURE-
    ALGORITHM, and keeps nothing."""
    import zeep
    import zeep.exceptions
    from zeep.wsse.signature import BinarySignature
    from zeep.wsse.utils import WSU as WSU_MAKER
    from zeep.wsse.utils import get_security_header

    key_pem, cert_pem = generate_key_pair("gateway-rsa.test", "Gateway", algorithm="rsa")
    (tmp_path / "g.key").write_bytes(key_pem)
    (tmp_path / "g.crt").write_bytes(cert_pem)
    trust = TrustStore()
    trust.add_pem_file("gateway", tmp_path / "g.crt")
    bank_key = load_signing_key(settings, BANK_OWNER)
    running, thread = start_bank(lambda base: BankStandIn(bank_key, trust, base))

    class TimestampedZeepDefault:
        """A Timestamp (as the profile needs), then zeep's default signature; no verifying."""

        def apply(self, envelope: Any, headers: Any) -> Any:
            now = dt.datetime.now(dt.UTC)
            get_security_header(envelope).append(WSU_MAKER.Timestamp(
                WSU_MAKER.Created(now.strftime("%Y-%m-%dT%H:%M:%SZ")),
                WSU_MAKER.Expires((now + dt.timedelta(minutes=5)).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"))))
            return BinarySignature(str(tmp_path / "g.key"), str(tmp_path / "g.crt")).apply(
                envelope, headers)

        def verify(self, envelope: Any) -> Any:
            return envelope

    try:
        wire = Wire()
        service = zeep.Client(running.wsdl, transport=zeep.transports.Transport(
            session=wire.session), wsse=TimestampedZeepDefault(), settings=zeep.Settings(
            forbid_dtd=True, forbid_entities=True, forbid_external=True)).service
        with pytest.raises(zeep.exceptions.Fault) as exc_info:
            service.AcknowledgePayments(MessageId="CAMT-SHA1", Transaction=[])

        assert b"xmldsig#rsa-sha1" in wire.sent[0] and b"xmldsig#sha1" in wire.sent[0]
        assert exc_info.value.code == "wsse:InvalidSecurity"
        assert "RSA-SHA1" in (exc_info.value.message or "")
        assert exc_info.value.detail.findtext(f".//{{{BANK_NS}}}Code") == "GW-SIGNATURE-ALGORITHM"
        assert running.received() == []
    finally:
        running.server.should_exit = True
        thread.join(timeout=10)


def test_bank_standin_refuses_an_invalid_acknowledgement(
        bank: RunningBank, gateway_key: SigningKey, bank_trust: TrustStore) -> None:
    """A well-signed AcknowledgePayments with an outcome the schema does not know: the bank's
    signed fault reaches the client as PartnerFault GW-PARTNER-FAULT (not retryable)."""
    with pytest.raises(PartnerFault) as exc_info:
        client(bank, gateway_key, bank_trust).acknowledge(
            "CAMT-2026-0003", [TransactionAck("ACSV-0001", "lost")])

    assert exc_info.value.code == "GW-PARTNER-FAULT" and not exc_info.value.retryable
    assert "AcknowledgePayments is not valid" in exc_info.value.message
    assert bank.received() == []


# --- the client refuses -----------------------------------------------------------------------

def _answer_tampered(answer: bytes) -> bytes:
    return answer.replace(b"<b:TransactionCount>2</b:TransactionCount>",
                          b"<b:TransactionCount>7</b:TransactionCount>")


def _answer_wrapped(answer: bytes) -> bytes:
    document = etree.fromstring(answer)
    signed_body = document.find(f"{{{SOAP11}}}Body")
    forged = copy.deepcopy(signed_body)
    del forged.attrib[f"{{{WSU}}}Id"]
    forged.find(f".//{{{BANK_NS}}}AckId").text = "ACK-FORGED"
    document.replace(signed_body, forged)
    etree.SubElement(document.find(f"{{{SOAP11}}}Header"), "{urn:x}Wrapper").append(signed_body)
    return etree.tostring(document)


def _answer_unsigned_fault(answer: bytes) -> bytes:
    return (f'<s:Envelope xmlns:s="{SOAP11}"><s:Body><s:Fault><faultcode>s:Server</faultcode>'
            "<faultstring>try later</faultstring></s:Fault></s:Body></s:Envelope>").encode()


@pytest.mark.parametrize(("rewrite", "error", "code"), [
    (_answer_tampered, SignatureInvalid, "GW-SIGNATURE-DIGEST"),
    (_answer_wrapped, SignatureInvalid, "GW-WSS-WRAPPING"),
    (_answer_unsigned_fault, PartnerFault, "GW-PARTNER-FAULT"),
], ids=["tampered", "wrapped", "unsigned-fault"])
def test_bank_client_refuses_an_answer_changed_on_the_way(
        rewrite: Callable[[bytes], bytes], error: type[Exception], code: str,
        bank: RunningBank, gateway_key: SigningKey, bank_trust: TrustStore) -> None:
    """The bank accepted the request, but the answer the client gets was changed: refused."""
    with pytest.raises(error) as exc_info:
        client(bank, gateway_key, bank_trust, Wire(rewrite)).acknowledge("CAMT-2026-0004", LINES)

    assert getattr(exc_info.value, "code", None) == code
    assert len(bank.received()) == 1          # the bank did get it: only the answer was bad


def test_bank_client_refuses_an_answer_signed_by_another_key(
        bank: RunningBank, gateway_key: SigningKey, tmp_path: Path) -> None:
    """Trusting another certificate for the bank: the genuine answer is GW-SIGNATURE-UNKNOWN-KEY."""
    _, cert_pem = generate_key_pair("other-bank.test", "Other bank")
    (tmp_path / "other.crt").write_bytes(cert_pem)
    trust = TrustStore()
    trust.add_pem_file(BANK_OWNER, tmp_path / "other.crt")

    with pytest.raises(SignatureInvalid) as exc_info:
        client(bank, gateway_key, trust).acknowledge("CAMT-2026-0005", LINES)
    assert exc_info.value.code == "GW-SIGNATURE-UNKNOWN-KEY"


def test_bank_client_unreachable_bank_is_retryable(gateway_key: SigningKey,
                                                   bank_trust: TrustStore) -> None:
    """Nothing listening: ServiceUnavailable GW-PARTNER-UNAVAILABLE, retryable, from requests."""
    dead = BankClient(f"http://127.0.0.1:{free_port()}/bank/soap?wsdl", gateway_key, bank_trust,
                      BANK_OWNER, timeout=2)

    with pytest.raises(ServiceUnavailable) as exc_info:
        dead.acknowledge("CAMT-2026-0006", LINES)
    assert exc_info.value.code == "GW-PARTNER-UNAVAILABLE" and exc_info.value.retryable
    assert isinstance(exc_info.value.__cause__, requests.RequestException)


# --- acting as the bank towards the gateway -------------------------------------------------

@pytest.mark.parametrize("soap12", [False, True], ids=["soap11", "soap12"])
def test_bank_signed_soap_request_wraps_a_document_signed_by_the_bank(
        soap12: bool, settings: Settings, bank_trust: TrustStore) -> None:
    """A camt.054 document comes back in an envelope the gateway verifies as bank-demo's, with
    the content type and action of its SOAP version."""
    stand_in = BankStandIn.from_settings(settings, "http://127.0.0.1:1")
    camt = (b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08">'
            b"<BkToCstmrDbtCdtNtfctn><GrpHdr><MsgId>CAMT-1</MsgId></GrpHdr>"
            b"</BkToCstmrDbtCdtNtfctn></Document>")

    request = stand_in.signed_soap_request(camt, soap12=soap12,
                                           wrapper="{urn:customs-gateway:v1}SubmitPayment",
                                           action="urn:customs-gateway:v1:SubmitPayment")
    verified = verify_envelope(etree.fromstring(request.body), bank_trust, owner=BANK_OWNER,
                               now=dt.datetime.now(dt.UTC))

    assert verified.document.tag == "{urn:customs-gateway:v1}SubmitPayment"
    assert verified.document[0].findtext(".//{*}MsgId") == "CAMT-1"
    if soap12:
        assert request.headers == {"Content-Type": 'application/soap+xml; charset=utf-8; '
                                                   'action="urn:customs-gateway:v1:SubmitPayment"'}
    else:
        assert request.headers == {"Content-Type": "text/xml; charset=utf-8",
                                   "SOAPAction": '"urn:customs-gateway:v1:SubmitPayment"'}

