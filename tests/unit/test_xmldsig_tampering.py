"""Enveloped XML-DSig (``gateway.signing.xmldsig``): tampered and malformed documents.

Tampered documents must be refused by our verifier with the right error code, and by
``xmlsec1`` wherever it can tell (it cannot know which element a document is about, so
signature wrapping and owner checks are ours alone). A damaged signature is refused, not a
crash; verification leaves the document as it was.
"""

from __future__ import annotations

import base64
import copy
from pathlib import Path

import pytest
from lxml import etree
from signing_helpers import (
    DS,
    assert_xmlsec1_refuses,
    find_ds,
    make_expired_key,
    make_key,
    make_receipt,
    reason,
)

from gateway.documents.receipts import GW_NS
from gateway.errors import SignatureInvalid
from gateway.signing.keys import SigningKey, TrustStore
from gateway.signing.xmldsig import XmlSigner, c14n, verify_enveloped

pytest_plugins = ["signing_helpers"]     # fixtures: gateway_key, trust, signed


def test_verify_enveloped_changed_text_is_refused_as_digest(
        gateway_key: tuple[SigningKey, Path], trust: TrustStore, signed: bytes,
        tmp_path: Path) -> None:
    """Changing one value after signing fails the digest, for us and for xmlsec1."""
    root = etree.fromstring(signed)
    root.find(f"{{{GW_NS}}}Partner").text = "broker-mallory"
    tampered = etree.tostring(root)

    with pytest.raises(SignatureInvalid) as exc_info:
        verify_enveloped(etree.fromstring(tampered), trust)
    assert reason(exc_info) == "GW-SIGNATURE-DIGEST"
    assert_xmlsec1_refuses(tampered, gateway_key[1], tmp_path)


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
    assert reason(exc_info) == "GW-SIGNATURE-DIGEST"
    assert_xmlsec1_refuses(tampered, gateway_key[1], tmp_path)


def test_verify_enveloped_removed_signature_is_refused_as_missing(
        gateway_key: tuple[SigningKey, Path], trust: TrustStore, signed: bytes,
        tmp_path: Path) -> None:
    """A document stripped of its signature is refused as unsigned, by us and xmlsec1."""
    root = etree.fromstring(signed)
    root.remove(find_ds(root, "ds:Signature"))
    stripped = etree.tostring(root)

    with pytest.raises(SignatureInvalid) as exc_info:
        verify_enveloped(etree.fromstring(stripped), trust)
    assert reason(exc_info) == "GW-SIGNATURE-MISSING"
    assert_xmlsec1_refuses(stripped, gateway_key[1], tmp_path)


def test_verify_enveloped_document_signed_by_untrusted_key_is_refused(
        gateway_key: tuple[SigningKey, Path], trust: TrustStore, tmp_path: Path) -> None:
    """A receipt re-signed with a key outside the trust store is refused by us and xmlsec1."""
    intruder, _ = make_key(tmp_path, "intruder")
    forged = XmlSigner(intruder).sign_to_bytes(make_receipt())

    with pytest.raises(SignatureInvalid) as exc_info:
        verify_enveloped(etree.fromstring(forged), trust)
    assert reason(exc_info) == "GW-SIGNATURE-UNKNOWN-KEY"
    assert_xmlsec1_refuses(forged, gateway_key[1], tmp_path)


def test_verify_enveloped_certificate_swapped_for_untrusted_one_is_refused(
        gateway_key: tuple[SigningKey, Path], trust: TrustStore, signed: bytes,
        tmp_path: Path) -> None:
    """Replacing the KeyInfo certificate with an untrusted one is refused by us and xmlsec1."""
    intruder, _ = make_key(tmp_path, "intruder")
    root = etree.fromstring(signed)
    find_ds(root, "ds:Signature/ds:KeyInfo/ds:X509Data/ds:X509Certificate").text = \
        base64.b64encode(intruder.cert_der).decode()
    swapped = etree.tostring(root)

    with pytest.raises(SignatureInvalid) as exc_info:
        verify_enveloped(etree.fromstring(swapped), trust)
    assert reason(exc_info) == "GW-SIGNATURE-UNKNOWN-KEY"
    assert_xmlsec1_refuses(swapped, gateway_key[1], tmp_path)


def test_verify_enveloped_certificate_swapped_for_other_trusted_one_fails_signature(
        trust: TrustStore, signed: bytes, tmp_path: Path) -> None:
    """With another trusted certificate in KeyInfo the signature value no longer matches."""
    other, _ = make_key(tmp_path, "other-trusted")
    trust.add("gateway", other.certificate)
    root = etree.fromstring(signed)
    find_ds(root, "ds:Signature/ds:KeyInfo/ds:X509Data/ds:X509Certificate").text = \
        base64.b64encode(other.cert_der).decode()

    with pytest.raises(SignatureInvalid) as exc_info:
        verify_enveloped(root, trust)
    assert reason(exc_info) == "GW-SIGNATURE-INVALID"


def test_verify_enveloped_signature_wrapping_is_refused_as_reference(
        trust: TrustStore, signed: bytes) -> None:
    """Moving the signed receipt under a forged root with another Id is caught (reference)."""
    original = etree.fromstring(signed)
    signature = find_ds(original, "ds:Signature")
    original.remove(signature)
    forged = make_receipt("r-FORGED", partner="broker-mallory")     # Id RCP-r-FORGED
    forged.append(signature)                                     # still names #RCP-r-0001
    wrapper = etree.SubElement(forged, "{urn:attacker}Hidden")
    wrapper.append(original)                                     # its digest still matches
    wrapped = etree.fromstring(etree.tostring(forged))
    assert wrapped.get("Id") != original.get("Id")

    with pytest.raises(SignatureInvalid) as exc_info:
        verify_enveloped(wrapped, trust)
    assert reason(exc_info) == "GW-SIGNATURE-REFERENCE"


def test_verify_enveloped_signed_receipt_hidden_inside_forged_root_is_refused(
        trust: TrustStore, signed: bytes) -> None:
    """A forged unsigned root that merely contains the signed receipt is refused as unsigned."""
    forged = make_receipt("r-FORGED", partner="broker-mallory")
    etree.SubElement(forged, "{urn:attacker}Hidden").append(etree.fromstring(signed))
    wrapped = etree.fromstring(etree.tostring(forged))

    with pytest.raises(SignatureInvalid) as exc_info:
        verify_enveloped(wrapped, trust)
    assert reason(exc_info) == "GW-SIGNATURE-MISSING"


def test_verify_enveloped_reference_to_other_id_is_refused(trust: TrustStore,
                                                           signed: bytes) -> None:
    """A root whose Id no longer matches the Reference URI is refused as a wrong reference."""
    root = etree.fromstring(signed)
    root.set("Id", "RCP-somebody-else")

    with pytest.raises(SignatureInvalid) as exc_info:
        verify_enveloped(root, trust)
    assert reason(exc_info) == "GW-SIGNATURE-REFERENCE"


def test_verify_enveloped_other_canonicalization_is_refused_as_algorithm(
        trust: TrustStore, signed: bytes) -> None:
    """A SignedInfo announcing inclusive C14N is outside the suite and refused as algorithm."""
    root = etree.fromstring(signed)
    find_ds(root, "ds:Signature/ds:SignedInfo/ds:CanonicalizationMethod").set(
        "Algorithm", "http://www.w3.org/TR/2001/REC-xml-c14n-20010315")

    with pytest.raises(SignatureInvalid) as exc_info:
        verify_enveloped(root, trust)
    assert reason(exc_info) == "GW-SIGNATURE-ALGORITHM"


def test_verify_enveloped_changed_signature_value_is_refused(
        gateway_key: tuple[SigningKey, Path], trust: TrustStore, signed: bytes,
        tmp_path: Path) -> None:
    """Flipping bits of the SignatureValue is refused by us and by xmlsec1."""
    root = etree.fromstring(signed)
    value_element = find_ds(root, "ds:Signature/ds:SignatureValue")
    value = bytearray(base64.b64decode(value_element.text))
    value[5] ^= 0xFF
    value_element.text = base64.b64encode(bytes(value)).decode()
    tampered = etree.tostring(root)

    with pytest.raises(SignatureInvalid) as exc_info:
        verify_enveloped(etree.fromstring(tampered), trust)
    assert reason(exc_info) == "GW-SIGNATURE-INVALID"
    assert_xmlsec1_refuses(tampered, gateway_key[1], tmp_path)


@pytest.mark.parametrize("damage", ["remove-keyinfo", "garbage-certificate",
                                    "remove-digest-method"])
def test_verify_enveloped_malformed_signature_raises_signature_invalid(
        damage: str, trust: TrustStore, signed: bytes) -> None:
    """A structurally damaged ds:Signature is refused with SignatureInvalid, not a crash."""
    root = etree.fromstring(signed)
    if damage == "remove-keyinfo":
        key_info = find_ds(root, "ds:Signature/ds:KeyInfo")
        key_info.getparent().remove(key_info)
    elif damage == "garbage-certificate":
        find_ds(root, "ds:Signature/ds:KeyInfo/ds:X509Data/ds:X509Certificate").text = \
            base64.b64encode(b"not a certificate").decode()
    else:
        method = find_ds(root, "ds:Signature/ds:SignedInfo/ds:Reference/ds:DigestMethod")
        method.getparent().remove(method)

    with pytest.raises(SignatureInvalid):
        verify_enveloped(root, trust)


def test_verify_enveloped_expired_certificate_is_refused(tmp_path: Path) -> None:
    """A signature by a trusted but expired certificate is refused by us and by xmlsec1."""
    key, cert = make_expired_key(tmp_path)
    store = TrustStore()
    store.add("gateway", key.certificate)
    document = XmlSigner(key).sign_to_bytes(make_receipt())

    with pytest.raises(SignatureInvalid) as exc_info:
        verify_enveloped(etree.fromstring(document), store)
    assert reason(exc_info) == "GW-SIGNATURE-EXPIRED"
    assert_xmlsec1_refuses(document, cert, tmp_path)


def test_verify_enveloped_wrong_owner_is_refused(gateway_key: tuple[SigningKey, Path],
                                                 signed: bytes) -> None:
    """A valid signature by a key trusted for another partner is refused as wrong signer."""
    store = TrustStore()
    store.add("clearance", gateway_key[0].certificate)

    assert verify_enveloped(etree.fromstring(signed), store).owner == "clearance"
    with pytest.raises(SignatureInvalid) as exc_info:
        verify_enveloped(etree.fromstring(signed), store, owner="gateway")
    assert reason(exc_info) == "GW-SIGNATURE-WRONG-SIGNER"


def test_verify_enveloped_leaves_document_unchanged(trust: TrustStore, signed: bytes) -> None:
    """Verification puts the signature back exactly where it was (same canonical form)."""
    root = etree.fromstring(signed)
    before = c14n(copy.deepcopy(root))

    verify_enveloped(root, trust)

    assert c14n(root) == before
    assert root[-1].tag == f"{{{DS}}}Signature"

