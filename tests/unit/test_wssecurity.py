"""WS-Security envelopes (``gateway/signing/wssecurity.py``): signed by us, verified strictly.

Good envelopes (SOAP 1.1 and 1.2, ECDSA and RSA) verify with ours and with the independent
``xmlsec1``; every refusal is shown with its stable code on an envelope that differs from a
good one in one respect, re-signed with the trusted key where the point is the profile and not
a broken signature value. The wrapping tests also show what a naive reader would have used.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from lxml import etree
from signing_helpers import find_ds, make_expired_key, make_key, resign

from gateway.errors import GatewayError, SignatureInvalid
from gateway.problem_codes import problem_code
from gateway.signing.dsig_profile import (
    BASE64_BINARY,
    BINARY_SECURITY_TOKEN,
    WSSE_NS,
    X509V3,
)
from gateway.signing.keys import SigningKey, TrustStore
from gateway.signing.wssecurity import (
    SOAP11,
    SOAP12,
    VerifiedSoap,
    fault_code,
    secure_envelope,
    verify_envelope,
)
from gateway.signing.xmldsig import WSU_ID, WSU_NS, XmlSigner, verify_references

pytest_plugins = ["signing_helpers"]

DS = "http://www.w3.org/2000/09/xmldsig#"
BANK = "urn:bank:payments:v1"
#: the tests' clock: the certificates generated for them are valid from a few minutes ago
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"
RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"


def envelope(version: str = SOAP11, amount: str = "1000.00") -> etree._Element:
    return etree.fromstring(
        f'<s:Envelope xmlns:s="{version}"><s:Body><b:PaymentConfirmation xmlns:b="{BANK}">'
        f"<b:Reference>RF18539007547034</b:Reference><b:Amount>{amount}</b:Amount>"
        "</b:PaymentConfirmation></s:Body></s:Envelope>")


def secured(key: SigningKey, version: str = SOAP11, *, now: dt.datetime = NOW,
            ttl: int = 300) -> etree._Element:
    """A signed envelope, serialised and parsed again (as a receiver gets it)."""
    document = secure_envelope(envelope(version), XmlSigner(key), ttl_seconds=ttl, now=now)
    return etree.fromstring(etree.tostring(document))


def verify(document: etree._Element, trust: TrustStore, *, owner: str = "bank",
           now: dt.datetime = NOW) -> VerifiedSoap:
    return verify_envelope(etree.fromstring(etree.tostring(document)), trust, owner=owner,
                           now=now)


def refusal(document: etree._Element, trust: TrustStore, **kwargs: object) -> SignatureInvalid:
    with pytest.raises(SignatureInvalid) as exc_info:
        verify(document, trust, **kwargs)  # type: ignore[arg-type]
    return exc_info.value


def amount(element: etree._Element) -> str | None:
    return element.findtext(f".//{{{BANK}}}Amount")


def body_of(document: etree._Element) -> etree._Element:
    return document.find(f"{{{etree.QName(document).namespace}}}Body")


def security_of(document: etree._Element) -> etree._Element:
    namespace = etree.QName(document).namespace
    found = document.find(f"{{{namespace}}}Header/{{{WSSE_NS}}}Security")
    assert found is not None
    return found


def signature_of(document: etree._Element) -> etree._Element:
    return security_of(document).find(f"{{{DS}}}Signature")


def iso(moment: dt.datetime, **delta: int) -> str:
    return (moment + dt.timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%S")


def hand_secured(key: SigningKey, *, version: str = SOAP11, created: str = iso(NOW) + "Z",
                 expires: str = iso(NOW, minutes=5) + "Z", sign: tuple[str, ...] = ("body", "ts"),
                 extra: etree._Element | None = None) -> etree._Element:
    """A Security header written here (any Timestamp text), signed with ``key`` by our signer."""
    document = envelope(version)
    header = etree.Element(f"{{{version}}}Header")
    document.insert(0, header)
    security = etree.SubElement(header, f"{{{WSSE_NS}}}Security")
    timestamp = etree.SubElement(security, f"{{{WSU_NS}}}Timestamp", {WSU_ID: "TS-1"})
    etree.SubElement(timestamp, f"{{{WSU_NS}}}Created").text = created
    etree.SubElement(timestamp, f"{{{WSU_NS}}}Expires").text = expires
    etree.SubElement(security, BINARY_SECURITY_TOKEN, {
        "EncodingType": BASE64_BINARY, "ValueType": X509V3, WSU_ID: "X509-1",
    }).text = base64.b64encode(key.cert_der).decode()
    if extra is not None:
        security.append(extra)
    body = body_of(document)
    body.set(WSU_ID, "Body-1")
    chosen = [element for name, element in (("body", body), ("ts", timestamp)) if name in sign]
    XmlSigner(key).sign_references(chosen, security, token_id="X509-1")
    return etree.fromstring(etree.tostring(document))


def run_xmlsec1(document: bytes, cert: Path, tmp_path: Path, version: str) -> tuple[int, str]:
    """``xmlsec1 --verify`` with the signer's public key given (it does not read wsse tokens).

    ``--id-attr:Id <ns>:<node>`` declares the Id attributes of Body and Timestamp; xmlsec1
    matches the attribute by local name, so it finds ``wsu:Id``.
    """
    binary = shutil.which("xmlsec1")
    if binary is None:
        pytest.fail("xmlsec1 is required (Debian package xmlsec1) and is not installed")
    path = tmp_path / f"wss-{uuid.uuid4().hex}.xml"
    path.write_bytes(document)
    done = subprocess.run(
        [binary, "--verify", "--pubkey-cert-pem", str(cert),
         "--id-attr:Id", f"{version}:Body", "--id-attr:Id", f"{WSU_NS}:Timestamp", str(path)],
        capture_output=True, text=True, timeout=60, check=False)
    return done.returncode, done.stdout + done.stderr


@pytest.fixture
def bank(tmp_path: Path) -> tuple[SigningKey, Path]:
    return make_key(tmp_path, "bank")


@pytest.fixture
def bank_trust(bank: tuple[SigningKey, Path]) -> TrustStore:
    store = TrustStore()
    store.add("bank", bank[0].certificate)
    return store


# --- good envelopes -------------------------------------------------------------------------

@pytest.mark.parametrize("version", [SOAP11, SOAP12], ids=["soap11", "soap12"])
@pytest.mark.parametrize("algorithm", ["ecdsa", "rsa"])
def test_secure_envelope_round_trip_returns_the_verified_body(version: str, algorithm: str,
                                                              tmp_path: Path) -> None:
    """A signed envelope verifies; the result is the Body's document, the signer and the times."""
    key, _ = make_key(tmp_path, f"bank-{algorithm}", algorithm)
    trust = TrustStore()
    trust.add("bank", key.certificate)

    verified = verify(secured(key, version), trust, now=NOW + dt.timedelta(seconds=10))

    assert verified.document.tag == f"{{{BANK}}}PaymentConfirmation"
    assert amount(verified.document) == "1000.00"
    assert verified.body.tag == f"{{{version}}}Body"
    assert (verified.owner, verified.key_id) == ("bank", key.key_id)
    assert (verified.created, verified.expires) == (NOW, NOW + dt.timedelta(seconds=300))
    assert verified.soap_namespace == version


@pytest.mark.parametrize("version", [SOAP11, SOAP12], ids=["soap11", "soap12"])
def test_secure_envelope_writes_the_profile_shape(version: str,
                                                  bank: tuple[SigningKey, Path]) -> None:
    """Security (mustUnderstand 1): Timestamp, BinarySecurityToken, Signature over Body and
    Timestamp whose KeyInfo references the token; SHA-256 and exclusive C14N throughout."""
    document = secured(bank[0], version)
    security = security_of(document)
    timestamp, token, signature = list(security)

    assert security.get(f"{{{version}}}mustUnderstand") == "1"
    assert timestamp.tag == f"{{{WSU_NS}}}Timestamp"
    assert timestamp.findtext(f"{{{WSU_NS}}}Created") == f"{iso(NOW)}.000Z"
    assert timestamp.findtext(f"{{{WSU_NS}}}Expires") == f"{iso(NOW, minutes=5)}.000Z"
    assert token.tag == BINARY_SECURITY_TOKEN and token.get("ValueType") == X509V3
    assert base64.b64decode(token.text or "") == bank[0].cert_der
    uris = [r.get("URI") for r in signature.iter(f"{{{DS}}}Reference")]
    assert uris == [f"#{body_of(document).get(WSU_ID)}", f"#{timestamp.get(WSU_ID)}"]
    assert {m.get("Algorithm") for m in signature.iter(f"{{{DS}}}DigestMethod")} == {
        "http://www.w3.org/2001/04/xmlenc#sha256"}
    reference = find_ds(signature, "ds:KeyInfo").find(
        f"{{{WSSE_NS}}}SecurityTokenReference/{{{WSSE_NS}}}Reference")
    assert reference is not None and reference.get("URI") == f"#{token.get(WSU_ID)}"
    assert b'wsu:Id="Body-' in etree.tostring(body_of(document))     # not ns0:Id


@pytest.mark.parametrize("version", [SOAP11, SOAP12], ids=["soap11", "soap12"])
def test_secure_envelope_xmlsec1_accepts_ours_and_refuses_it_tampered(
        version: str, bank: tuple[SigningKey, Path], tmp_path: Path) -> None:
    """The independent xmlsec1 verifies our Body and Timestamp digests and signature, and
    refuses the same envelope with the amount changed."""
    document = etree.tostring(secured(bank[0], version))
    code, output = run_xmlsec1(document, bank[1], tmp_path, version)
    assert code == 0, output
    assert "SignedInfo References (ok/all): 2/2" in output

    tampered = document.replace(b"1000.00", b"9000.00")
    assert run_xmlsec1(tampered, bank[1], tmp_path, version)[0] != 0


def test_secure_envelope_keeps_prefixes_used_only_in_text(bank: tuple[SigningKey, Path],
                                                          bank_trust: TrustStore) -> None:
    """Declaring wsu on the Body keeps a prefix used only inside a value (xsi:type="b:T")."""
    document = etree.fromstring(
        f'<s:Envelope xmlns:s="{SOAP11}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f'<s:Body xmlns:t="urn:types"><x:Item xmlns:x="{BANK}" xsi:type="t:Special"/>'
        "</s:Body></s:Envelope>")
    secure_envelope(document, XmlSigner(bank[0]), now=NOW)
    item = body_of(document)[0]

    assert item.nsmap["t"] == "urn:types"
    assert verify(document, bank_trust).document.get(
        "{http://www.w3.org/2001/XMLSchema-instance}type") == "t:Special"


def test_secure_envelope_refuses_an_envelope_already_secured(
        bank: tuple[SigningKey, Path]) -> None:
    """Signing twice, a naive time or a non-SOAP root is a programming error (ValueError)."""
    signer = XmlSigner(bank[0])
    with pytest.raises(ValueError, match="already has a wsse:Security"):
        secure_envelope(secured(bank[0]), signer, now=NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        secure_envelope(envelope(), signer, now=dt.datetime(2026, 11, 28))
    with pytest.raises(ValueError, match="not a SOAP"):
        secure_envelope(etree.fromstring("<Envelope><Body/></Envelope>"), signer, now=NOW)


def test_verify_envelope_replay_key_names_one_signature(bank: tuple[SigningKey, Path],
                                                         bank_trust: TrustStore) -> None:
    """The same message verified twice has one replay key; the same content signed again
    has another."""
    first = secured(bank[0])
    again = secured(bank[0])

    assert verify(first, bank_trust).replay_key == verify(first, bank_trust).replay_key
    assert verify(first, bank_trust).replay_key != verify(again, bank_trust).replay_key


# --- missing, header shape --------------------------------------------------------------------

def test_verify_envelope_refuses_an_unsigned_envelope(bank_trust: TrustStore) -> None:
    """No Security header: GW-WSS-MISSING, HTTP 401."""
    error = refusal(envelope(), bank_trust)

    assert (error.code, error.http_status) == ("GW-WSS-MISSING", 401)
    assert problem_code(error.code).http_status == 401


def test_verify_envelope_refuses_a_security_header_without_signature(
        bank: tuple[SigningKey, Path], bank_trust: TrustStore) -> None:
    """A Security header with a Timestamp and a token but no signature is unsigned."""
    document = secured(bank[0])
    security = security_of(document)
    security.remove(signature_of(document))

    assert refusal(document, bank_trust).code == "GW-WSS-MISSING"


def test_verify_envelope_ignores_a_security_header_for_another_actor(
        bank: tuple[SigningKey, Path], bank_trust: TrustStore) -> None:
    """A signed header addressed to an intermediary is not ours: the message is unsigned."""
    document = secured(bank[0])
    security_of(document).set(f"{{{SOAP11}}}actor", "urn:some-intermediary")

    assert refusal(document, bank_trust).code == "GW-WSS-MISSING"


def test_verify_envelope_refuses_two_security_headers(bank: tuple[SigningKey, Path],
                                                      bank_trust: TrustStore) -> None:
    """Two Security headers for us: GW-WSS-HEADER (which one would count?)."""
    document = secured(bank[0])
    security = security_of(document)
    second = copy.deepcopy(security)
    for element in second.iter():
        if element.get(WSU_ID):
            element.set(WSU_ID, f"copy-{element.get(WSU_ID)}")
    security.getparent().append(second)

    assert refusal(document, bank_trust).code == "GW-WSS-HEADER"


@pytest.mark.parametrize("element", [
    f"<wsse:UsernameToken xmlns:wsse='{WSSE_NS}'><wsse:Username>x</wsse:Username>"
    "</wsse:UsernameToken>",
    f"<ds:Signature xmlns:ds='{DS}'/>",
    f"<wsu:Timestamp xmlns:wsu='{WSU_NS}'/>",
], ids=["username-token", "second-signature", "second-timestamp"])
def test_verify_envelope_refuses_other_content_in_the_security_header(
        element: str, bank: tuple[SigningKey, Path], bank_trust: TrustStore) -> None:
    """Anything but one Timestamp, one token and one signature: GW-WSS-HEADER."""
    document = hand_secured(bank[0], extra=etree.fromstring(element))

    assert refusal(document, bank_trust).code == "GW-WSS-HEADER"


def test_verify_envelope_refuses_x509_data_instead_of_a_token_reference(
        bank: tuple[SigningKey, Path], bank_trust: TrustStore) -> None:
    """Our enveloped-document form (X509Data in KeyInfo) is not the WS-Security form."""
    document = envelope()
    header = etree.SubElement(document, f"{{{SOAP11}}}Header")
    document.insert(0, header)
    security = etree.SubElement(header, f"{{{WSSE_NS}}}Security")
    timestamp = etree.SubElement(security, f"{{{WSU_NS}}}Timestamp", {WSU_ID: "TS-1"})
    etree.SubElement(timestamp, f"{{{WSU_NS}}}Created").text = iso(NOW) + "Z"
    etree.SubElement(timestamp, f"{{{WSU_NS}}}Expires").text = iso(NOW, minutes=5) + "Z"
    etree.SubElement(security, BINARY_SECURITY_TOKEN, {
        "EncodingType": BASE64_BINARY, "ValueType": X509V3, WSU_ID: "X509-1",
    }).text = base64.b64encode(bank[0].cert_der).decode()
    XmlSigner(bank[0]).sign_references([body_of(document), timestamp], security)

    error = refusal(document, bank_trust)
    assert error.code == "GW-SIGNATURE-PROFILE"
    assert "SecurityTokenReference" in error.message


def test_verify_references_refuses_a_token_reference_unless_asked_for(
        bank: tuple[SigningKey, Path], bank_trust: TrustStore) -> None:
    """The default profile (documents, bus) still accepts only X509Data in KeyInfo."""
    document = secured(bank[0])

    with pytest.raises(SignatureInvalid) as exc_info:
        verify_references(signature_of(document), bank_trust)
    assert exc_info.value.code == "GW-SIGNATURE-PROFILE"


@pytest.mark.parametrize("change", ["value-type", "extra-attribute", "outside-header",
                                    "missing"])
def test_verify_envelope_refuses_a_token_outside_the_profile(
        change: str, bank: tuple[SigningKey, Path], bank_trust: TrustStore) -> None:
    """The token must be an X.509 v3 Base64Binary BinarySecurityToken beside the signature."""
    document = secured(bank[0])
    token = security_of(document).find(BINARY_SECURITY_TOKEN)
    if change == "value-type":
        token.set("ValueType", X509V3.replace("X509v3", "X509PKIPathv1"))
    elif change == "extra-attribute":
        token.set("Usage", "signing")
    elif change == "missing":
        security_of(document).remove(token)
    else:
        body_of(document).append(token)
        security_of(document).append(etree.Element(BINARY_SECURITY_TOKEN, {
            "EncodingType": BASE64_BINARY, "ValueType": X509V3, WSU_ID: "X509-other"}))

    expected = "GW-SIGNATURE-REFERENCE" if change in ("outside-header", "missing") else \
        "GW-SIGNATURE-PROFILE"
    assert refusal(document, bank_trust).code == expected


# --- timestamps -----------------------------------------------------------------------------

def test_verify_envelope_refuses_an_expired_timestamp(bank: tuple[SigningKey, Path],
                                                      bank_trust: TrustStore) -> None:
    """Verified one second after Expires: GW-WSS-TIMESTAMP, HTTP 401; one second before: ok."""
    document = secured(bank[0], ttl=300)

    assert verify(document, bank_trust, now=NOW + dt.timedelta(seconds=299)).document is not None
    error = refusal(document, bank_trust, now=NOW + dt.timedelta(seconds=301))
    assert (error.code, error.http_status) == ("GW-WSS-TIMESTAMP", 401)
    assert "expired" in error.message


def test_verify_envelope_refuses_a_timestamp_in_the_future(bank: tuple[SigningKey, Path],
                                                           bank_trust: TrustStore) -> None:
    """Created 6 minutes ahead of our clock is refused; 4 minutes ahead is clock skew."""
    ahead = secured(bank[0], now=NOW + dt.timedelta(minutes=6))
    within_skew = secured(bank[0], now=NOW + dt.timedelta(minutes=4))

    error = refusal(ahead, bank_trust)
    assert error.code == "GW-WSS-TIMESTAMP" and "future" in error.message
    assert verify(within_skew, bank_trust).created == NOW + dt.timedelta(minutes=4)


@pytest.mark.parametrize(("created", "expires"), [
    (iso(NOW, hours=2) + "+02:00", iso(NOW, minutes=5) + "Z"),      # not UTC
    (iso(NOW), iso(NOW, minutes=5) + "Z"),                          # no zone
    (NOW.strftime("%d/%m/%Y %H:%M"), iso(NOW, minutes=5) + "Z"),
    (iso(NOW) + "Z", iso(NOW) + "Z"),                               # Expires not after Created
    (f"{NOW.year}-02-30T10:15:00Z", iso(NOW, minutes=5) + "Z"),     # no such day
], ids=["offset", "no-zone", "not-iso", "expires-at-created", "no-such-day"])
def test_verify_envelope_refuses_a_malformed_timestamp(created: str, expires: str,
                                                       bank: tuple[SigningKey, Path],
                                                       bank_trust: TrustStore) -> None:
    """Created and Expires are UTC xsd:dateTime values, Expires after Created."""
    document = hand_secured(bank[0], created=created, expires=expires)

    assert refusal(document, bank_trust).code == "GW-WSS-TIMESTAMP"


def test_verify_envelope_accepts_utc_written_as_offset_and_long_fractions(
        bank: tuple[SigningKey, Path], bank_trust: TrustStore) -> None:
    """+00:00 (zeep's default) and 7 fractional digits (.NET) are UTC times too."""
    document = hand_secured(bank[0], created=iso(NOW) + ".1234567+00:00",
                            expires=iso(NOW, minutes=5) + "Z")

    assert verify(document, bank_trust).created == NOW.replace(microsecond=123456)


def test_verify_envelope_refuses_a_missing_timestamp(bank: tuple[SigningKey, Path],
                                                     bank_trust: TrustStore) -> None:
    """No Timestamp: GW-WSS-TIMESTAMP (a message without a time cannot be fresh)."""
    document = secured(bank[0])
    security = security_of(document)
    security.remove(security.find(f"{{{WSU_NS}}}Timestamp"))

    assert refusal(document, bank_trust).code == "GW-WSS-TIMESTAMP"


# --- coverage and wrapping ------------------------------------------------------------------

@pytest.mark.parametrize("signed", [("ts",), ("body",)], ids=["only-timestamp", "only-body"])
def test_verify_envelope_refuses_a_signature_not_covering_body_and_timestamp(
        signed: tuple[str, ...], bank: tuple[SigningKey, Path], bank_trust: TrustStore) -> None:
    """A valid signature over the Timestamp alone (or the Body alone): GW-WSS-COVERAGE."""
    document = hand_secured(bank[0], sign=signed)

    error = refusal(document, bank_trust)
    assert error.code == "GW-WSS-COVERAGE"


@pytest.mark.parametrize("where", ["header", "forged-body"])
def test_verify_envelope_refuses_signature_wrapping(where: str, bank: tuple[SigningKey, Path],
                                                    bank_trust: TrustStore,
                                                    tmp_path: Path) -> None:
    """The signed Body moved into a wrapper, a forged Body in its place: the signature still
    verifies and a naive reader reads the forged amount; ours refuses with GW-WSS-WRAPPING."""
    document = secured(bank[0])
    signed_body = body_of(document)
    forged = body_of(envelope(amount="999999.00"))
    document.replace(signed_body, forged)
    parent = document.find(f"{{{SOAP11}}}Header") if where == "header" else forged
    etree.SubElement(parent, "{urn:attacker}Wrapper").append(signed_body)
    wrapped = etree.fromstring(etree.tostring(document))

    assert amount(body_of(wrapped)) == "999999.00"                          # naive lookup
    assert verify_references(signature_of(wrapped), bank_trust,          # signature is fine
                             key_info="SecurityTokenReference", at=NOW).signer.owner == "bank"
    assert run_xmlsec1(etree.tostring(wrapped), bank[1], tmp_path, SOAP11)[0] == 0
    error = refusal(wrapped, bank_trust)
    assert error.code == "GW-WSS-WRAPPING"


def test_verify_envelope_refuses_a_signed_timestamp_moved_out_of_the_header(
        bank: tuple[SigningKey, Path], bank_trust: TrustStore) -> None:
    """An old message with its signed Timestamp wrapped away and a fresh unsigned one put in
    the header is refused (the freshness read must be the signed one)."""
    document = secured(bank[0])
    security = security_of(document)
    old = security.find(f"{{{WSU_NS}}}Timestamp")
    fresh = copy.deepcopy(old)
    del fresh.attrib[WSU_ID]
    security.replace(old, fresh)
    etree.SubElement(document.find(f"{{{SOAP11}}}Header"), "{urn:attacker}Wrapper").append(old)

    assert refusal(document, bank_trust).code == "GW-WSS-WRAPPING"


def test_verify_envelope_refuses_a_duplicate_wsu_id(bank: tuple[SigningKey, Path],
                                                    bank_trust: TrustStore) -> None:
    """The forged Body carrying the signed Body's wsu:Id: GW-SIGNATURE-DUPLICATE-ID."""
    document = secured(bank[0])
    signed_body = body_of(document)
    forged = body_of(envelope(amount="999999.00"))
    forged.set(WSU_ID, str(signed_body.get(WSU_ID)))
    document.replace(signed_body, forged)
    etree.SubElement(document.find(f"{{{SOAP11}}}Header"), "{urn:attacker}Wrapper") \
        .append(signed_body)

    assert refusal(document, bank_trust).code == "GW-SIGNATURE-DUPLICATE-ID"


def test_verify_envelope_refuses_a_changed_body(bank: tuple[SigningKey, Path],
                                                bank_trust: TrustStore) -> None:
    """One digit changed in the Body after signing: GW-SIGNATURE-DIGEST."""
    document = secured(bank[0])
    body_of(document).find(f".//{{{BANK}}}Amount").text = "1000.01"

    assert refusal(document, bank_trust).code == "GW-SIGNATURE-DIGEST"


def test_verify_envelope_refuses_two_bodies(bank: tuple[SigningKey, Path],
                                            bank_trust: TrustStore) -> None:
    """An Envelope with a second Body is not a SOAP message: GW-SOAP-ENVELOPE."""
    document = secured(bank[0])
    document.append(body_of(envelope(amount="1.00")))

    with pytest.raises(GatewayError) as exc_info:
        verify(document, bank_trust)
    assert exc_info.value.code == "GW-SOAP-ENVELOPE"


# --- who signed -----------------------------------------------------------------------------

def test_verify_envelope_refuses_an_untrusted_certificate(tmp_path: Path,
                                                          bank_trust: TrustStore) -> None:
    """Signed by a key the trust store does not hold: GW-SIGNATURE-UNKNOWN-KEY."""
    stranger, _ = make_key(tmp_path, "stranger")

    assert refusal(secured(stranger), bank_trust).code == "GW-SIGNATURE-UNKNOWN-KEY"


def test_verify_envelope_refuses_an_expired_certificate(tmp_path: Path) -> None:
    """A trusted certificate that expired in 2021: GW-SIGNATURE-EXPIRED."""
    expired, _ = make_expired_key(tmp_path)
    trust = TrustStore()
    trust.add("bank", expired.certificate)

    assert refusal(secured(expired), trust).code == "GW-SIGNATURE-EXPIRED"


def test_verify_envelope_checks_the_certificate_at_the_given_time(
        bank: tuple[SigningKey, Path], bank_trust: TrustStore) -> None:
    """The certificate must be valid at ``now`` (here ten years on), not at the wall clock."""
    later = NOW + dt.timedelta(days=3650)

    assert refusal(secured(bank[0], now=later), bank_trust, now=later).code == \
        "GW-SIGNATURE-EXPIRED"


def test_verify_envelope_refuses_another_partners_signature(
        bank: tuple[SigningKey, Path], bank_trust: TrustStore) -> None:
    """Trusted, but for "bank", while the message must come from "other-bank"."""
    error = refusal(secured(bank[0]), bank_trust, owner="other-bank")

    assert error.code == "GW-SIGNATURE-WRONG-SIGNER"


# --- algorithms -----------------------------------------------------------------------------

def test_verify_envelope_refuses_sha1_digests(bank: tuple[SigningKey, Path],
                                              bank_trust: TrustStore) -> None:
    """Our output with SHA-1 digests (right values, SignedInfo re-signed): refused."""
    document = secured(bank[0])
    signature = signature_of(document)
    for reference in signature.iter(f"{{{DS}}}Reference"):
        target = document.xpath(f"//*[@wsu:Id='{reference.get('URI')[1:]}']",
                                namespaces={"wsu": WSU_NS})[0]
        digest = hashlib.sha1(etree.tostring(target, method="c14n", exclusive=True)).digest()
        reference.find(f"{{{DS}}}DigestMethod").set("Algorithm", SHA1)
        reference.find(f"{{{DS}}}DigestValue").text = base64.b64encode(digest).decode()
    resign(signature, bank[0])

    error = refusal(document, bank_trust)
    assert error.code == "GW-SIGNATURE-ALGORITHM" and "SHA-1" in error.message


def test_verify_envelope_refuses_an_rsa_sha1_signature(tmp_path: Path) -> None:
    """RSA-SHA1 over a correct SignedInfo (signed by hand with SHA-1): refused."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    key, _ = make_key(tmp_path, "bank-rsa", "rsa")
    trust = TrustStore()
    trust.add("bank", key.certificate)
    document = secured(key)
    signature = signature_of(document)
    find_ds(signature, "ds:SignedInfo/ds:SignatureMethod").set("Algorithm", RSA_SHA1)
    signed_info = etree.tostring(find_ds(signature, "ds:SignedInfo"), method="c14n",
                                 exclusive=True)
    find_ds(signature, "ds:SignatureValue").text = base64.b64encode(key.private_key.sign(
        signed_info, padding.PKCS1v15(), hashes.SHA1())).decode()       # type: ignore[union-attr]

    error = refusal(document, trust)
    assert error.code == "GW-SIGNATURE-ALGORITHM" and "RSA-SHA1" in error.message


# --- what the answer says -------------------------------------------------------------------

@pytest.mark.parametrize(("code", "fault"), [
    ("GW-WSS-MISSING", "InvalidSecurity"), ("GW-WSS-WRAPPING", "InvalidSecurity"),
    ("GW-SIGNATURE-ALGORITHM", "InvalidSecurity"), ("GW-WSS-TIMESTAMP", "MessageExpired"),
    ("GW-SIGNATURE-DIGEST", "FailedCheck"), ("GW-SIGNATURE-INVALID", "FailedCheck"),
    ("GW-SIGNATURE-UNKNOWN-KEY", "FailedAuthentication"),
    ("GW-SIGNATURE-EXPIRED", "FailedAuthentication"),
])
def test_fault_code_names_the_ws_security_fault(code: str, fault: str) -> None:
    """Each refusal maps to the WSS 1.0 fault code a SOAP endpoint answers with."""
    assert fault_code(SignatureInvalid("x", code=code)) == f"{{{WSSE_NS}}}{fault}"


def test_verified_soap_document_requires_one_element(bank: tuple[SigningKey, Path],
                                                     bank_trust: TrustStore) -> None:
    """A signed Body with two elements verifies, but has no single document to act on."""
    document = envelope()
    etree.SubElement(body_of(document), f"{{{BANK}}}Second")
    secure_envelope(document, XmlSigner(bank[0]), now=NOW)
    verified = verify(document, bank_trust)

    assert len(verified.body) == 2
    with pytest.raises(GatewayError) as exc_info:
        verified.document    # noqa: B018
    assert exc_info.value.code == "GW-SOAP-BODY"


@pytest.mark.parametrize(("change", "accepted"), [
    ("key-info-id", True), ("reference-wsu-id", True), ("reference-attribute", False),
    ("value-type", False), ("two-references", False), ("uri-not-local", False),
    ("key-name", False),
])
def test_verify_envelope_reads_the_token_reference_strictly(
        change: str, accepted: bool, bank: tuple[SigningKey, Path],
        bank_trust: TrustStore) -> None:
    """KeyInfo may carry an Id and the SecurityTokenReference a wsu:Id (WSS4J writes both);
    anything else in them — another attribute, a ValueType other than X509v3, a second
    reference, a URI that is not "#Id", a KeyName — is refused."""
    document = secured(bank[0])
    key_info = find_ds(signature_of(document), "ds:KeyInfo")
    token_reference = key_info[0]
    direct = token_reference[0]
    if change == "key-info-id":
        key_info.set("Id", "KI-1")
    elif change == "reference-wsu-id":
        token_reference.set(WSU_ID, "STR-1")
    elif change == "reference-attribute":
        token_reference.set("Usage", "x")
    elif change == "value-type":
        direct.set("ValueType", X509V3.replace("X509v3", "X509v1"))
    elif change == "two-references":
        token_reference.append(copy.deepcopy(direct))
    elif change == "uri-not-local":
        direct.set("URI", "https://bank.example/cert.pem")
    else:
        key_info.insert(0, etree.Element(f"{{{DS}}}KeyName"))

    if accepted:
        assert verify(document, bank_trust).owner == "bank"
    else:
        assert refusal(document, bank_trust).code in ("GW-SIGNATURE-PROFILE",
                                                      "GW-SIGNATURE-REFERENCE")
