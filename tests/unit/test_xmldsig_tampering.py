"""Enveloped XML-DSig (``gateway.signing.xmldsig``): tampered and malformed documents.

Tampered documents must be refused by our verifier with the right error code, and by
``xmlsec1`` wherever it can tell (it cannot know which element a document is about, so
signature wrapping and owner checks are ours alone). Where ``xmlsec1`` accepts an attack —
content hidden where the digest does not look (``ds:Object``, ``KeyInfo``, a comment) — the
test shows it, to prove the attack keeps the signature valid and only our profile refuses it.
Attacks that need a signature value to match are signed with the trusted key itself
(``resign``), so each refusal comes from the check named, not from a bad value. A damaged
signature is refused, not a crash; verification leaves the document as it was. The shapes
outside the profile are in ``test_xmldsig_profile.py``.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import hmac
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID
from lxml import etree
from signing_helpers import (
    DS,
    ENVELOPED,
    EXC_C14N,
    assert_xmlsec1_accepts,
    assert_xmlsec1_refuses,
    digest_of,
    find_ds,
    hand_signature,
    make_expired_key,
    make_key,
    make_receipt,
    reason,
    resign,
)

from gateway.documents.receipts import GW_NS
from gateway.errors import SignatureInvalid
from gateway.signing.keys import SigningKey, TrustStore, key_id_of
from gateway.signing.xmldsig import XmlSigner, c14n, verify_enveloped

pytest_plugins = ["signing_helpers"]     # fixtures: gateway_key, trust, signed

GW = {"gw": GW_NS, "ds": DS}
WSU_ID = "{http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd}Id"


def _refused(root: etree._Element, trust: TrustStore) -> str:
    with pytest.raises(SignatureInvalid) as exc_info:
        verify_enveloped(root, trust)
    return reason(exc_info)


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



# --- the security review's findings -----------------------------------------------------------

def test_verify_enveloped_text_after_the_signature_is_refused_as_digest(
        gateway_key: tuple[SigningKey, Path], trust: TrustStore, signed: bytes,
        tmp_path: Path) -> None:
    """Text added after ds:Signature stays in the enveloped transform's output: digest fails."""
    root = etree.fromstring(signed)
    find_ds(root, "ds:Signature").tail = "APPROVED"
    tampered = etree.tostring(root)

    assert _refused(etree.fromstring(tampered), trust) == "GW-SIGNATURE-DIGEST"
    assert_xmlsec1_refuses(tampered, gateway_key[1], tmp_path)


def test_verify_enveloped_text_after_a_signature_placed_first_is_refused_as_digest(
        gateway_key: tuple[SigningKey, Path], trust: TrustStore, tmp_path: Path) -> None:
    """With the signature first in the root, text after it is still covered by the digest."""
    receipt = XmlSigner(gateway_key[0]).sign(make_receipt())
    receipt.insert(0, receipt[-1])                  # the signature moves to the front
    assert verify_enveloped(etree.fromstring(etree.tostring(receipt)), trust)
    receipt[0].tail = "APPROVED"
    tampered = etree.tostring(receipt)

    assert _refused(etree.fromstring(tampered), trust) == "GW-SIGNATURE-DIGEST"
    assert_xmlsec1_refuses(tampered, gateway_key[1], tmp_path)


def test_verify_enveloped_forged_element_appended_after_the_signature_is_refused_as_digest(
        gateway_key: tuple[SigningKey, Path], trust: TrustStore, signed: bytes,
        tmp_path: Path) -> None:
    """A forged element after ds:Signature is part of the signed element: the digest fails."""
    root = etree.fromstring(signed)
    etree.SubElement(root, f"{{{GW_NS}}}Partner").text = "broker-mallory"
    tampered = etree.tostring(root)

    assert _refused(etree.fromstring(tampered), trust) == "GW-SIGNATURE-DIGEST"
    assert_xmlsec1_refuses(tampered, gateway_key[1], tmp_path)


@pytest.mark.parametrize("where", ["ds:Object", "ds:KeyInfo"])
def test_verify_enveloped_forged_element_hidden_in_the_signature_is_refused(
        where: str, gateway_key: tuple[SigningKey, Path], trust: TrustStore, signed: bytes,
        tmp_path: Path) -> None:
    """A forged gw:Partner inside ds:Object or ds:KeyInfo (outside the digest) is refused."""
    root = etree.fromstring(signed)
    signature = find_ds(root, "ds:Signature")
    holder = (etree.SubElement(signature, f"{{{DS}}}Object") if where == "ds:Object"
              else find_ds(signature, "ds:KeyInfo"))
    etree.SubElement(holder, f"{{{GW_NS}}}Partner").text = "broker-mallory"
    tampered = etree.tostring(root)
    assert etree.fromstring(tampered).xpath("(//gw:Partner)[last()]/text()",
                                            namespaces=GW) == ["broker-mallory"]
    assert_xmlsec1_accepts(tampered, gateway_key[1], tmp_path)     # the digest still holds

    assert _refused(etree.fromstring(tampered), trust) == "GW-SIGNATURE-PROFILE"


def test_verify_enveloped_comment_splitting_a_value_is_refused(
        gateway_key: tuple[SigningKey, Path], trust: TrustStore, signed: bytes,
        tmp_path: Path) -> None:
    """``broker<!---->-alpha`` digests like ``broker-alpha`` but reads ``broker``: refused."""
    tampered = signed.replace(b"<gw:Partner>broker-alpha<", b"<gw:Partner>broker<!---->-alpha<")
    assert tampered != signed
    assert etree.fromstring(tampered).findtext(f"{{{GW_NS}}}Partner") == "broker"
    assert_xmlsec1_accepts(tampered, gateway_key[1], tmp_path)     # comments are not digested

    assert _refused(etree.fromstring(tampered), trust) == "GW-SIGNATURE-UNSIGNED-CONTENT"


# --- signature wrapping -----------------------------------------------------------------------

def test_verify_enveloped_signed_receipt_moved_into_ds_object_under_forged_one_is_refused(
        trust: TrustStore, signed: bytes) -> None:
    """A forged receipt with the same Id holding the signature, the original in its ds:Object."""
    original = etree.fromstring(signed)
    signature = find_ds(original, "ds:Signature")
    original.remove(signature)
    forged = make_receipt(partner="broker-mallory")
    forged.set("Id", original.get("Id"))
    forged.append(signature)
    etree.SubElement(signature, f"{{{DS}}}Object").append(original)

    assert _refused(etree.fromstring(etree.tostring(forged)), trust) == "GW-SIGNATURE-PROFILE"


def test_verify_enveloped_duplicate_id_elsewhere_in_the_document_is_refused(
        trust: TrustStore, signed: bytes) -> None:
    """A forged receipt with the same Id beside the signed one: whichever a lookup finds, refuse."""
    envelope = etree.Element("{urn:attacker}Envelope")
    forged = etree.SubElement(envelope, f"{{{GW_NS}}}Receipt", Id="RCP-r-0001")
    etree.SubElement(forged, f"{{{GW_NS}}}Partner").text = "broker-mallory"
    envelope.append(etree.fromstring(signed))
    document = etree.fromstring(etree.tostring(envelope))
    assert verify_enveloped(etree.fromstring(signed), trust)

    assert _refused(document[1], trust) == "GW-SIGNATURE-DUPLICATE-ID"


@pytest.mark.parametrize("attribute", ["ID", "id", WSU_ID,
                                       "{http://www.w3.org/XML/1998/namespace}id"])
def test_verify_enveloped_same_id_under_another_attribute_name_is_refused(
        attribute: str, trust: TrustStore, signed: bytes) -> None:
    """An element elsewhere carrying the signed Id as ID/id/wsu:Id/xml:id is a duplicate."""
    envelope = etree.Element("{urn:attacker}Envelope")
    etree.SubElement(envelope, f"{{{GW_NS}}}Partner", {attribute: "RCP-r-0001"})
    envelope.append(etree.fromstring(signed))

    assert _refused(envelope[1], trust) == "GW-SIGNATURE-DUPLICATE-ID"


def test_verify_enveloped_second_reference_is_refused(gateway_key: tuple[SigningKey, Path],
                                                      trust: TrustStore, signed: bytes) -> None:
    """A second ds:Reference (validly signed) is outside the enveloped profile."""
    root = etree.fromstring(signed)
    reference = find_ds(root, "ds:Signature/ds:SignedInfo/ds:Reference")
    reference.addnext(copy.deepcopy(reference))
    resign(find_ds(root, "ds:Signature"), gateway_key[0])

    assert _refused(root, trust) == "GW-SIGNATURE-PROFILE"


def test_verify_enveloped_signature_over_a_child_element_is_refused_as_reference(
        gateway_key: tuple[SigningKey, Path], trust: TrustStore) -> None:
    """A valid enveloped-style signature whose reference names a child, not the root."""
    receipt = make_receipt()
    receipt.set("Id", "RCP-r-0001")
    partner = receipt.find(f"{{{GW_NS}}}Partner")
    partner.set("Id", "the-partner")
    hand_signature(receipt, gateway_key[0],
                   [("#the-partner", (ENVELOPED, EXC_C14N), digest_of(c14n(partner)))])

    assert _refused(etree.fromstring(etree.tostring(receipt)), trust) == \
        "GW-SIGNATURE-REFERENCE"


def test_verify_enveloped_signature_over_a_sibling_is_refused(
        gateway_key: tuple[SigningKey, Path], trust: TrustStore) -> None:
    """A signature inside one element that references its sibling is not that element's."""
    envelope = etree.Element("{urn:attacker}Envelope")
    signed_one = etree.SubElement(envelope, f"{{{GW_NS}}}Receipt", Id="RCP-a")
    sibling = make_receipt("r-b")
    envelope.append(sibling)
    hand_signature(signed_one, gateway_key[0],
                   [(f"#{sibling.get('Id')}", (ENVELOPED, EXC_C14N), digest_of(c14n(sibling)))])
    document = etree.fromstring(etree.tostring(envelope))

    assert _refused(document[0], trust) == "GW-SIGNATURE-REFERENCE"
    assert _refused(document[1], trust) == "GW-SIGNATURE-MISSING"


# --- algorithms and keys ----------------------------------------------------------------------

def test_verify_enveloped_xpath_transform_is_refused_as_algorithm(
        gateway_key: tuple[SigningKey, Path], trust: TrustStore, signed: bytes) -> None:
    """An XPath transform (validly signed) in place of enveloped-signature is refused."""
    root = etree.fromstring(signed)
    transform = find_ds(root, "ds:Signature/ds:SignedInfo/ds:Reference/ds:Transforms/"
                              "ds:Transform")
    transform.set("Algorithm", "http://www.w3.org/TR/1999/REC-xpath-19991116")
    etree.SubElement(transform, f"{{{DS}}}XPath").text = "not(ancestor-or-self::ds:Signature)"
    resign(find_ds(root, "ds:Signature"), gateway_key[0])

    assert _refused(root, trust) == "GW-SIGNATURE-ALGORITHM"


def test_verify_enveloped_inclusive_c14n_with_comments_is_refused_as_algorithm(
        gateway_key: tuple[SigningKey, Path], trust: TrustStore, signed: bytes) -> None:
    """CanonicalizationMethod changed to inclusive C14N with comments, signed again: refused."""
    root = etree.fromstring(signed)
    find_ds(root, "ds:Signature/ds:SignedInfo/ds:CanonicalizationMethod").set(
        "Algorithm", "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments")
    resign(find_ds(root, "ds:Signature"), gateway_key[0])

    assert _refused(root, trust) == "GW-SIGNATURE-ALGORITHM"


def test_verify_enveloped_sha1_digest_is_refused_as_algorithm(
        gateway_key: tuple[SigningKey, Path], trust: TrustStore, signed: bytes) -> None:
    """A correct SHA-1 digest (downgrade), validly signed, is refused."""
    root = etree.fromstring(signed)
    reference = find_ds(root, "ds:Signature/ds:SignedInfo/ds:Reference")
    unsigned = copy.deepcopy(root)
    unsigned.remove(unsigned[-1])
    find_ds(reference, "ds:DigestMethod").set("Algorithm",
                                              "http://www.w3.org/2000/09/xmldsig#sha1")
    find_ds(reference, "ds:DigestValue").text = \
        base64.b64encode(hashlib.sha1(c14n(unsigned)).digest()).decode()
    resign(find_ds(root, "ds:Signature"), gateway_key[0])

    assert _refused(root, trust) == "GW-SIGNATURE-ALGORITHM"


def test_verify_enveloped_ecdsa_sha1_signature_is_refused_as_algorithm(
        gateway_key: tuple[SigningKey, Path], trust: TrustStore, signed: bytes) -> None:
    """A genuine ECDSA-SHA1 signature by the trusted key (downgrade) is refused."""
    root = etree.fromstring(signed)
    signed_info = find_ds(root, "ds:Signature/ds:SignedInfo")
    find_ds(signed_info, "ds:SignatureMethod").set(
        "Algorithm", "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1")
    private = gateway_key[0].private_key
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    r, s = decode_dss_signature(private.sign(c14n(signed_info), ec.ECDSA(hashes.SHA1())))
    find_ds(root, "ds:Signature/ds:SignatureValue").text = \
        base64.b64encode(r.to_bytes(32, "big") + s.to_bytes(32, "big")).decode()

    assert _refused(root, trust) == "GW-SIGNATURE-ALGORITHM"


def test_verify_enveloped_hmac_keyed_with_the_certificate_is_refused_as_algorithm(
        trust: TrustStore, signed: bytes) -> None:
    """HMAC-SHA256 keyed with the public certificate (key confusion) is refused."""
    root = etree.fromstring(signed)
    signed_info = find_ds(root, "ds:Signature/ds:SignedInfo")
    find_ds(signed_info, "ds:SignatureMethod").set(
        "Algorithm", "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256")
    certificate = base64.b64decode(
        find_ds(root, "ds:Signature/ds:KeyInfo/ds:X509Data/ds:X509Certificate").text)
    find_ds(root, "ds:Signature/ds:SignatureValue").text = base64.b64encode(
        hmac.new(certificate, c14n(signed_info), hashlib.sha256).digest()).decode()

    assert _refused(root, trust) == "GW-SIGNATURE-ALGORITHM"


def test_verify_enveloped_rsa_method_over_an_ecdsa_key_is_refused_as_algorithm(
        gateway_key: tuple[SigningKey, Path], trust: TrustStore, signed: bytes) -> None:
    """A SignatureMethod that does not fit the signer's key type is refused, even if it checks."""
    root = etree.fromstring(signed)
    find_ds(root, "ds:Signature/ds:SignedInfo/ds:SignatureMethod").set(
        "Algorithm", "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")
    resign(find_ds(root, "ds:Signature"), gateway_key[0])      # an ECDSA value

    assert _refused(root, trust) == "GW-SIGNATURE-ALGORITHM"


@pytest.mark.parametrize("how", ["second-certificate", "second-x509-data"])
def test_verify_enveloped_key_info_with_a_second_certificate_is_refused(
        how: str, trust: TrustStore, signed: bytes, tmp_path: Path) -> None:
    """KeyInfo carrying an intruder's certificate beside the signer's is refused."""
    intruder, _ = make_key(tmp_path, "intruder")
    root = etree.fromstring(signed)
    x509_data = find_ds(root, "ds:Signature/ds:KeyInfo/ds:X509Data")
    parent = x509_data if how == "second-certificate" else etree.SubElement(
        x509_data.getparent(), f"{{{DS}}}X509Data")
    etree.SubElement(parent, f"{{{DS}}}X509Certificate").text = \
        base64.b64encode(intruder.cert_der).decode()

    assert _refused(root, trust) == "GW-SIGNATURE-PROFILE"


def test_verify_enveloped_rsa_key_under_2048_bits_is_refused_as_algorithm() -> None:
    """A trusted but 1024-bit RSA certificate is too weak for the suite, however it signs."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "weak.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(private.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1)).sign(private, hashes.SHA256()))
    der = cert.public_bytes(serialization.Encoding.DER)
    weak = SigningKey(private, cert, key_id_of(cert), der)
    store = TrustStore()
    store.add("gateway", cert)

    document = XmlSigner(weak).sign_to_bytes(make_receipt())

    assert _refused(etree.fromstring(document), store) == "GW-SIGNATURE-ALGORITHM"
