"""Enveloped XML-DSig (gateway.signing.xmldsig) and detached body signatures (.detached).

Every good signature is checked twice: by our verifier and by the independent ``xmlsec1``
binary. Tampered documents must be refused by our verifier with the right error code, and by
``xmlsec1`` wherever it can tell (it cannot know which element a document is about, so
signature wrapping and owner checks are ours alone).
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from lxml import etree

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # allow a bare `pytest` run without an installed package
    sys.path.insert(0, str(ROOT))

from gateway.canonical.decision import ClearanceDecision, DecisionError  # noqa: E402
from gateway.documents.notifications import build_notification  # noqa: E402
from gateway.documents.receipts import GW_NS, ReceiptInfo, RejectionInfo  # noqa: E402
from gateway.errors import Problem, SignatureInvalid  # noqa: E402
from gateway.signing.detached import KEY_ID, SIGNATURE, sign_body, verify_body  # noqa: E402
from gateway.signing.keys import SigningKey, TrustStore, generate_key_pair  # noqa: E402
from gateway.signing.xmldsig import XmlSigner, c14n, verify_enveloped  # noqa: E402

DS = "http://www.w3.org/2000/09/xmldsig#"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
RECEIPT_NODE = f"{GW_NS}:Receipt"


# --- helpers ---------------------------------------------------------------------------------


def _key(directory: Path, name: str, algorithm: str = "ecdsa") -> tuple[SigningKey, Path]:
    """Generate a key pair into ``directory`` and load it; return the key and its cert path."""
    key_pem, cert_pem = generate_key_pair(f"{name}.test", f"{name} org", algorithm=algorithm)
    key_path, cert_path = directory / f"{name}.key", directory / f"{name}.crt"
    key_path.write_bytes(key_pem)
    cert_path.write_bytes(cert_pem)
    return SigningKey.load(key_path, cert_path), cert_path


def _expired_key(directory: Path) -> tuple[SigningKey, Path]:
    """A key whose self-signed certificate was valid only during 2020."""
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "expired.test")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(private.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
            .not_valid_after(dt.datetime(2021, 1, 1, tzinfo=dt.UTC))
            .sign(private, hashes.SHA256()))
    key_path, cert_path = directory / "expired.key", directory / "expired.crt"
    key_path.write_bytes(private.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return SigningKey.load(key_path, cert_path), cert_path


def _receipt(receipt_id: str = "r-0001", partner: str = "broker-alpha") -> etree._Element:
    return ReceiptInfo(
        receipt_id=receipt_id, conversation_id="conv-0001",
        received_at="2026-11-28T10:15:00.000Z", partner_id=partner,
        message_type="wco-dec-3.6", message_name="WCO DM 3.6 goods declaration (DEC)",
        message_version="3.6", message_id="doc:wco:LRN-0001", sha256="ab" * 32,
    ).to_xml()


def _xmlsec1(document: bytes, cert: Path, tmp_path: Path,
             id_node: str = RECEIPT_NODE) -> tuple[int, str]:
    """Run the independent verifier exactly as a partner would; return (exit code, output)."""
    binary = shutil.which("xmlsec1")
    if binary is None:
        pytest.fail("xmlsec1 is required for these tests (Debian/Ubuntu package `xmlsec1`) "
                    "and was not found on PATH")
    path = tmp_path / f"signed-{uuid.uuid4().hex}.xml"
    path.write_bytes(document)
    done = subprocess.run(
        [binary, "--verify", "--trusted-pem", str(cert), "--id-attr:Id", id_node, str(path)],
        capture_output=True, text=True, timeout=60, check=False)
    return done.returncode, done.stdout + done.stderr


def _assert_xmlsec1_accepts(document: bytes, cert: Path, tmp_path: Path,
                            id_node: str = RECEIPT_NODE) -> None:
    code, output = _xmlsec1(document, cert, tmp_path, id_node)
    assert code == 0, f"xmlsec1 refused a good signature:\n{output}"


def _assert_xmlsec1_refuses(document: bytes, cert: Path, tmp_path: Path) -> None:
    code, output = _xmlsec1(document, cert, tmp_path)
    assert code != 0, f"xmlsec1 accepted a tampered document:\n{output}"


def _reason(exc_info: pytest.ExceptionInfo[SignatureInvalid]) -> str:
    return exc_info.value.code


def _ds(element: etree._Element, path: str) -> etree._Element:
    found = element.find(path, namespaces={"ds": DS})
    assert found is not None, path
    return found


@pytest.fixture
def gateway_key(tmp_path: Path) -> tuple[SigningKey, Path]:
    return _key(tmp_path, "gateway")


@pytest.fixture
def trust(gateway_key: tuple[SigningKey, Path]) -> TrustStore:
    store = TrustStore()
    store.add("gateway", gateway_key[0].certificate)
    return store


@pytest.fixture
def signed(gateway_key: tuple[SigningKey, Path]) -> bytes:
    return XmlSigner(gateway_key[0]).sign_to_bytes(_receipt())


# --- good signatures -------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["ecdsa", "rsa"])
def test_xml_signer_signature_verifies_with_ours_and_xmlsec1(algorithm: str,
                                                             tmp_path: Path) -> None:
    """An ECDSA or RSA enveloped signature is accepted by our verifier and by xmlsec1."""
    key, cert = _key(tmp_path, f"gw-{algorithm}", algorithm)
    document = XmlSigner(key).sign_to_bytes(_receipt())
    root = etree.fromstring(document)
    store = TrustStore()
    store.add("gateway", key.certificate)

    trusted = verify_enveloped(root, store, owner="gateway")

    assert trusted.key_id == key.key_id
    method = _ds(root, "ds:Signature/ds:SignedInfo/ds:SignatureMethod").get("Algorithm")
    assert method == key.algorithm
    assert method.endswith("ecdsa-sha256" if algorithm == "ecdsa" else "rsa-sha256")
    assert _ds(root, "ds:Signature/ds:SignedInfo/ds:Reference").get("URI") == "#RCP-r-0001"
    _assert_xmlsec1_accepts(document, cert, tmp_path)


def test_xml_signer_receipt_inside_soap12_body_still_verifies(
        gateway_key: tuple[SigningKey, Path], trust: TrustStore, signed: bytes,
        tmp_path: Path) -> None:
    """A signed receipt placed in a SOAP 1.2 Body verifies with xmlsec1 and with ours."""
    receipt_text = etree.tostring(etree.fromstring(signed), encoding="unicode")
    envelope = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<env:Envelope xmlns:env="{SOAP12}" xmlns:gw="{GW_NS}"'
        f' xmlns:wsa="http://www.w3.org/2005/08/addressing">\n'
        f'  <env:Header><wsa:Action>urn:customs-gateway:v1:SubmitDeclaration</wsa:Action>'
        f'</env:Header>\n'
        f'  <env:Body>\n    <gw:SubmitDeclarationResponse>\n      {receipt_text}\n'
        f'    </gw:SubmitDeclarationResponse>\n  </env:Body>\n</env:Envelope>\n'
    ).encode()

    _assert_xmlsec1_accepts(envelope, gateway_key[1], tmp_path)
    embedded = etree.fromstring(envelope).find(f".//{{{GW_NS}}}Receipt")
    assert embedded is not None
    assert verify_enveloped(embedded, trust, owner="gateway").owner == "gateway"
    assert c14n(embedded) == c14n(etree.fromstring(signed))


def test_xml_signer_rejection_and_notification_verify_with_xmlsec1(
        gateway_key: tuple[SigningKey, Path], trust: TrustStore, tmp_path: Path) -> None:
    """The other signed documents (nested default namespaces, escaped text) verify too."""
    rejection = RejectionInfo(
        rejection_id="rej-1", received_at="2026-11-28T10:15:00.000Z", code="GW-XSD-INVALID",
        summary='a <summary> with "quotes" & ampersands\r\n', http_status=400,
        problems=[Problem("GW-XSD-PATTERN", "bad\tvalue", pointer="/MetaData/X", value="v\r")])
    notification = build_notification(
        ClearanceDecision(decision_id="dec-1", kind="rejected", conversation_id="conv-1",
                          decided_at="2026-11-28T10:15:00Z", reference="LRN <1> & 2",
                          errors=[DecisionError("R0228", "count <differs> & \"more\"",
                                                "42A/67A/68A[2]/23A/65A/128")]),
        notification_id="n-1", partner_id="broker-alpha", created_at="2026-11-28T10:15:01Z",
        country="MK", agency="Customs & Excise")
    signer = XmlSigner(gateway_key[0])

    for element, node in ((rejection.to_xml(), f"{GW_NS}:Rejection"),
                          (notification, f"{GW_NS}:Notification")):
        document = signer.sign_to_bytes(element)
        assert verify_enveloped(etree.fromstring(document), trust).owner == "gateway"
        _assert_xmlsec1_accepts(document, gateway_key[1], tmp_path, node)


def test_xml_signer_sign_in_place_matches_sign_to_bytes(tmp_path: Path) -> None:
    """sign() and sign_to_bytes() produce the same canonical document (deterministic RSA)."""
    key, cert = _key(tmp_path, "gw-rsa", "rsa")
    signer = XmlSigner(key)
    store = TrustStore()
    store.add("gateway", key.certificate)

    in_place = signer.sign(_receipt())
    as_bytes = signer.sign_to_bytes(_receipt())

    assert c14n(in_place) == c14n(etree.fromstring(as_bytes))
    assert verify_enveloped(in_place, store).owner == "gateway"
    _assert_xmlsec1_accepts(etree.tostring(in_place), cert, tmp_path)


def test_signing_key_is_loaded_once_and_reused_for_many_documents(tmp_path: Path) -> None:
    """After loading, signing 200 documents needs no key files (the key is not re-read)."""
    key, cert_path = _key(tmp_path, "reused")
    signer = XmlSigner(key)
    store = TrustStore()
    store.add("gateway", key.certificate)
    (tmp_path / "reused.key").unlink()
    cert_path.unlink()

    documents = [signer.sign_to_bytes(_receipt(f"r-{n:04d}")) for n in range(200)]

    assert not (tmp_path / "reused.key").exists() and not cert_path.exists()
    for n, document in enumerate(documents):
        root = etree.fromstring(document)
        assert root.get("Id") == f"RCP-r-{n:04d}"
        assert verify_enveloped(root, store).key_id == key.key_id


# --- tampering -------------------------------------------------------------------------------


def test_verify_enveloped_changed_text_is_refused_as_digest(
        gateway_key: tuple[SigningKey, Path], trust: TrustStore, signed: bytes,
        tmp_path: Path) -> None:
    """Changing one value after signing fails the digest, for us and for xmlsec1."""
    root = etree.fromstring(signed)
    root.find(f"{{{GW_NS}}}Partner").text = "broker-mallory"
    tampered = etree.tostring(root)

    with pytest.raises(SignatureInvalid) as exc_info:
        verify_enveloped(etree.fromstring(tampered), trust)
    assert _reason(exc_info) == "GW-SIGNATURE-DIGEST"
    _assert_xmlsec1_refuses(tampered, gateway_key[1], tmp_path)


def test_verify_enveloped_reordered_elements_are_refused_as_digest(
        gateway_key: tuple[SigningKey, Path], trust: TrustStore, signed: bytes,
        tmp_path: Path) -> None:
    """Swapping two signed elements fails the digest, for us and for xmlsec1."""
    root = etree.fromstring(signed)
    partner = root.find(f"{{{GW_NS}}}Partner")
    message_type = root.find(f"{{{GW_NS}}}MessageType")
    root.remove(message_type)
    partner.addprevious(message_type)
    tampered = etree.tostring(root)
    assert tampered != signed

    with pytest.raises(SignatureInvalid) as exc_info:
        verify_enveloped(etree.fromstring(tampered), trust)
    assert _reason(exc_info) == "GW-SIGNATURE-DIGEST"
    _assert_xmlsec1_refuses(tampered, gateway_key[1], tmp_path)


def test_verify_enveloped_removed_signature_is_refused_as_missing(
        gateway_key: tuple[SigningKey, Path], trust: TrustStore, signed: bytes,
        tmp_path: Path) -> None:
    """A document stripped of its signature is refused as unsigned, by us and xmlsec1."""
    root = etree.fromstring(signed)
    root.remove(_ds(root, "ds:Signature"))
    stripped = etree.tostring(root)

    with pytest.raises(SignatureInvalid) as exc_info:
        verify_enveloped(etree.fromstring(stripped), trust)
    assert _reason(exc_info) == "GW-SIGNATURE-MISSING"
    _assert_xmlsec1_refuses(stripped, gateway_key[1], tmp_path)


def test_verify_enveloped_document_signed_by_untrusted_key_is_refused(
        gateway_key: tuple[SigningKey, Path], trust: TrustStore, tmp_path: Path) -> None:
    """A receipt re-signed with a key outside the trust store is refused by us and xmlsec1."""
    intruder, _ = _key(tmp_path, "intruder")
    forged = XmlSigner(intruder).sign_to_bytes(_receipt())

    with pytest.raises(SignatureInvalid) as exc_info:
        verify_enveloped(etree.fromstring(forged), trust)
    assert _reason(exc_info) == "GW-SIGNATURE-UNKNOWN-KEY"
    _assert_xmlsec1_refuses(forged, gateway_key[1], tmp_path)


def test_verify_enveloped_certificate_swapped_for_untrusted_one_is_refused(
        gateway_key: tuple[SigningKey, Path], trust: TrustStore, signed: bytes,
        tmp_path: Path) -> None:
    """Replacing the KeyInfo certificate with an untrusted one is refused by us and xmlsec1."""
    intruder, _ = _key(tmp_path, "intruder")
    root = etree.fromstring(signed)
    _ds(root, "ds:Signature/ds:KeyInfo/ds:X509Data/ds:X509Certificate").text = \
        base64.b64encode(intruder.cert_der).decode()
    swapped = etree.tostring(root)

    with pytest.raises(SignatureInvalid) as exc_info:
        verify_enveloped(etree.fromstring(swapped), trust)
    assert _reason(exc_info) == "GW-SIGNATURE-UNKNOWN-KEY"
    _assert_xmlsec1_refuses(swapped, gateway_key[1], tmp_path)


def test_verify_enveloped_certificate_swapped_for_other_trusted_one_fails_signature(
        trust: TrustStore, signed: bytes, tmp_path: Path) -> None:
    """With another trusted certificate in KeyInfo the signature value no longer matches."""
    other, _ = _key(tmp_path, "other-trusted")
    trust.add("gateway", other.certificate)
    root = etree.fromstring(signed)
    _ds(root, "ds:Signature/ds:KeyInfo/ds:X509Data/ds:X509Certificate").text = \
        base64.b64encode(other.cert_der).decode()

    with pytest.raises(SignatureInvalid) as exc_info:
        verify_enveloped(root, trust)
    assert _reason(exc_info) == "GW-SIGNATURE-INVALID"


def test_verify_enveloped_signature_wrapping_is_refused_as_reference(
        trust: TrustStore, signed: bytes) -> None:
    """Moving the signed receipt under a forged root with another Id is caught (reference)."""
    original = etree.fromstring(signed)
    signature = _ds(original, "ds:Signature")
    original.remove(signature)
    forged = _receipt("r-FORGED", partner="broker-mallory")     # Id RCP-r-FORGED
    forged.append(signature)                                     # still names #RCP-r-0001
    wrapper = etree.SubElement(forged, "{urn:attacker}Hidden")
    wrapper.append(original)                                     # its digest still matches
    wrapped = etree.fromstring(etree.tostring(forged))
    assert wrapped.get("Id") != original.get("Id")

    with pytest.raises(SignatureInvalid) as exc_info:
        verify_enveloped(wrapped, trust)
    assert _reason(exc_info) == "GW-SIGNATURE-REFERENCE"


def test_verify_enveloped_signed_receipt_hidden_inside_forged_root_is_refused(
        trust: TrustStore, signed: bytes) -> None:
    """A forged unsigned root that merely contains the signed receipt is refused as unsigned."""
    forged = _receipt("r-FORGED", partner="broker-mallory")
    etree.SubElement(forged, "{urn:attacker}Hidden").append(etree.fromstring(signed))
    wrapped = etree.fromstring(etree.tostring(forged))

    with pytest.raises(SignatureInvalid) as exc_info:
        verify_enveloped(wrapped, trust)
    assert _reason(exc_info) == "GW-SIGNATURE-MISSING"


def test_verify_enveloped_reference_to_other_id_is_refused(trust: TrustStore,
                                                          signed: bytes) -> None:
    """A root whose Id no longer matches the Reference URI is refused as a wrong reference."""
    root = etree.fromstring(signed)
    root.set("Id", "RCP-somebody-else")

    with pytest.raises(SignatureInvalid) as exc_info:
        verify_enveloped(root, trust)
    assert _reason(exc_info) == "GW-SIGNATURE-REFERENCE"


def test_verify_enveloped_other_canonicalization_is_refused_as_algorithm(
        trust: TrustStore, signed: bytes) -> None:
    """A SignedInfo announcing inclusive C14N is outside the suite and refused as algorithm."""
    root = etree.fromstring(signed)
    _ds(root, "ds:Signature/ds:SignedInfo/ds:CanonicalizationMethod").set(
        "Algorithm", "http://www.w3.org/TR/2001/REC-xml-c14n-20010315")

    with pytest.raises(SignatureInvalid) as exc_info:
        verify_enveloped(root, trust)
    assert _reason(exc_info) == "GW-SIGNATURE-ALGORITHM"


def test_verify_enveloped_changed_signature_value_is_refused(
        gateway_key: tuple[SigningKey, Path], trust: TrustStore, signed: bytes,
        tmp_path: Path) -> None:
    """Flipping bits of the SignatureValue is refused by us and by xmlsec1."""
    root = etree.fromstring(signed)
    value_element = _ds(root, "ds:Signature/ds:SignatureValue")
    value = bytearray(base64.b64decode(value_element.text))
    value[5] ^= 0xFF
    value_element.text = base64.b64encode(bytes(value)).decode()
    tampered = etree.tostring(root)

    with pytest.raises(SignatureInvalid) as exc_info:
        verify_enveloped(etree.fromstring(tampered), trust)
    assert _reason(exc_info) == "GW-SIGNATURE-INVALID"
    _assert_xmlsec1_refuses(tampered, gateway_key[1], tmp_path)


@pytest.mark.parametrize("damage", ["remove-keyinfo", "garbage-certificate",
                                    "remove-digest-method"])
def test_verify_enveloped_malformed_signature_raises_signature_invalid(
        damage: str, trust: TrustStore, signed: bytes) -> None:
    """A structurally damaged ds:Signature is refused with SignatureInvalid, not a crash."""
    root = etree.fromstring(signed)
    if damage == "remove-keyinfo":
        key_info = _ds(root, "ds:Signature/ds:KeyInfo")
        key_info.getparent().remove(key_info)
    elif damage == "garbage-certificate":
        _ds(root, "ds:Signature/ds:KeyInfo/ds:X509Data/ds:X509Certificate").text = \
            base64.b64encode(b"not a certificate").decode()
    else:
        method = _ds(root, "ds:Signature/ds:SignedInfo/ds:Reference/ds:DigestMethod")
        method.getparent().remove(method)

    with pytest.raises(SignatureInvalid):
        verify_enveloped(root, trust)


def test_verify_enveloped_expired_certificate_is_refused(tmp_path: Path) -> None:
    """A signature by a trusted but expired certificate is refused by us and by xmlsec1."""
    key, cert = _expired_key(tmp_path)
    store = TrustStore()
    store.add("gateway", key.certificate)
    document = XmlSigner(key).sign_to_bytes(_receipt())

    with pytest.raises(SignatureInvalid) as exc_info:
        verify_enveloped(etree.fromstring(document), store)
    assert _reason(exc_info) == "GW-SIGNATURE-EXPIRED"
    _assert_xmlsec1_refuses(document, cert, tmp_path)


def test_verify_enveloped_wrong_owner_is_refused(gateway_key: tuple[SigningKey, Path],
                                                 signed: bytes) -> None:
    """A valid signature by a key trusted for another partner is refused as wrong signer."""
    store = TrustStore()
    store.add("clearance", gateway_key[0].certificate)

    assert verify_enveloped(etree.fromstring(signed), store).owner == "clearance"
    with pytest.raises(SignatureInvalid) as exc_info:
        verify_enveloped(etree.fromstring(signed), store, owner="gateway")
    assert _reason(exc_info) == "GW-SIGNATURE-WRONG-SIGNER"


def test_verify_enveloped_leaves_document_unchanged(trust: TrustStore, signed: bytes) -> None:
    """Verification puts the signature back exactly where it was (same canonical form)."""
    root = etree.fromstring(signed)
    before = c14n(copy.deepcopy(root))

    verify_enveloped(root, trust)

    assert c14n(root) == before
    assert root[-1].tag == f"{{{DS}}}Signature"


# --- detached body signatures ----------------------------------------------------------------


BODY = b'{"canonical_version":"1.0","header":{"lrn":"LRN-0001"},"source_format":"wco-dec-3.6"}'


@pytest.mark.parametrize("algorithm", ["ecdsa", "rsa"])
def test_detached_signature_verifies(algorithm: str, tmp_path: Path) -> None:
    """sign_body headers verify for the exact body and name the signer."""
    key, _ = _key(tmp_path, f"bus-{algorithm}", algorithm)
    store = TrustStore()
    store.add("gateway", key.certificate)

    headers = sign_body(key, BODY)

    assert headers[KEY_ID] == key.key_id
    assert verify_body(store, BODY, headers, owner="gateway").key_id == key.key_id


def test_detached_signature_verifies_with_bytes_header_values(
        gateway_key: tuple[SigningKey, Path], trust: TrustStore) -> None:
    """Header values delivered as bytes (as AMQP clients may do) still verify."""
    headers = {k: v.encode() for k, v in sign_body(gateway_key[0], BODY).items()}

    assert verify_body(trust, BODY, headers).owner == "gateway"


@pytest.mark.parametrize("position", [0, len(BODY) // 2, len(BODY) - 1])
def test_detached_signature_changed_byte_is_refused(
        position: int, gateway_key: tuple[SigningKey, Path], trust: TrustStore) -> None:
    """Changing any single byte of the body makes verification fail."""
    headers = sign_body(gateway_key[0], BODY)
    changed = bytearray(BODY)
    changed[position] ^= 0x01

    with pytest.raises(SignatureInvalid) as exc_info:
        verify_body(trust, bytes(changed), headers)
    assert _reason(exc_info) == "GW-SIGNATURE-INVALID"


@pytest.mark.parametrize("header", [SIGNATURE, KEY_ID])
def test_detached_signature_missing_header_is_refused(
        header: str, gateway_key: tuple[SigningKey, Path], trust: TrustStore) -> None:
    """A message without the signature or without the key id header counts as unsigned."""
    headers = sign_body(gateway_key[0], BODY)
    del headers[header]

    with pytest.raises(SignatureInvalid) as exc_info:
        verify_body(trust, BODY, headers)
    assert _reason(exc_info) == "GW-SIGNATURE-MISSING"


def test_detached_signature_unknown_key_id_is_refused(
        gateway_key: tuple[SigningKey, Path], trust: TrustStore) -> None:
    """A key id that is not in the trust store is refused as an unknown key."""
    headers = {**sign_body(gateway_key[0], BODY), KEY_ID: "0123456789abcdef"}

    with pytest.raises(SignatureInvalid) as exc_info:
        verify_body(trust, BODY, headers)
    assert _reason(exc_info) == "GW-SIGNATURE-UNKNOWN-KEY"


def test_detached_signature_by_untrusted_key_is_refused(trust: TrustStore,
                                                        tmp_path: Path) -> None:
    """A body signed by a key outside the trust store is refused as an unknown key."""
    intruder, _ = _key(tmp_path, "intruder")

    with pytest.raises(SignatureInvalid) as exc_info:
        verify_body(trust, BODY, sign_body(intruder, BODY))
    assert _reason(exc_info) == "GW-SIGNATURE-UNKNOWN-KEY"


def test_detached_signature_wrong_owner_is_refused(gateway_key: tuple[SigningKey, Path],
                                                   trust: TrustStore) -> None:
    """A body signed by the gateway is refused where the clearance system must have signed."""
    with pytest.raises(SignatureInvalid) as exc_info:
        verify_body(trust, BODY, sign_body(gateway_key[0], BODY), owner="clearance")
    assert _reason(exc_info) == "GW-SIGNATURE-WRONG-SIGNER"


def test_detached_signature_not_base64_is_refused(gateway_key: tuple[SigningKey, Path],
                                                  trust: TrustStore) -> None:
    """A signature header that is not base64 is refused, not decoded leniently."""
    headers = {**sign_body(gateway_key[0], BODY), SIGNATURE: "***not base64***"}

    with pytest.raises(SignatureInvalid):
        verify_body(trust, BODY, headers)
