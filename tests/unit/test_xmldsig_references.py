"""Detached references in one document (``XmlSigner.sign_references``, ``verify_references``).

The WS-Security shape banks will send: a ``ds:Signature`` in ``wsse:Security`` whose
references name the SOAP Body and the Timestamp by ``wsu:Id``. Envelopes are built by hand
and signed by our own code; good ones verify with ours and with ``xmlsec1``. The verifier
returns each referenced element re-parsed from its signed bytes, and the caller asks for "the
verified Body" by Id — so a forged Body put where a naive verifier would look is never used.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from lxml import etree
from signing_helpers import (
    DS,
    ENVELOPED,
    EXC_C14N,
    assert_xmlsec1_accepts,
    assert_xmlsec1_refuses,
    digest_of,
    hand_signature,
    make_key,
    reason,
)

from gateway.errors import SignatureInvalid
from gateway.signing.keys import SigningKey, TrustStore
from gateway.signing.xmldsig import (
    WSU_ID,
    WSU_NS,
    XmlSigner,
    c14n,
    verify_enveloped,
    verify_references,
)

pytest_plugins = ["signing_helpers"]     # fixtures: gateway_key, trust, signed

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
BANK = "urn:bank:payments:v1"
BODY = f"{{{SOAP12}}}Body"
ID_NODES = [f"{SOAP12}:Body", f"{WSU_NS}:Timestamp"]


def _envelope(amount: str = "1000.00") -> etree._Element:
    return etree.fromstring(f"""<s:Envelope xmlns:s="{SOAP12}" xmlns:wsu="{WSU_NS}">
  <s:Header>
    <wsse:Security xmlns:wsse="{WSSE}" s:mustUnderstand="true">
      <wsu:Timestamp wsu:Id="TS-1"><wsu:Created>2026-11-28T10:15:00Z</wsu:Created>
        <wsu:Expires>2026-11-28T10:20:00Z</wsu:Expires></wsu:Timestamp>
    </wsse:Security>
  </s:Header>
  <s:Body wsu:Id="Body-1">
    <b:PaymentConfirmation xmlns:b="{BANK}">
      <b:Reference>MRN-26MK0000000001</b:Reference><b:Amount>{amount}</b:Amount>
    </b:PaymentConfirmation>
  </s:Body>
</s:Envelope>""")


def _signed_envelope(key: SigningKey) -> bytes:
    envelope = _envelope()
    security = envelope.find(f"{{{SOAP12}}}Header/{{{WSSE}}}Security")
    XmlSigner(key).sign_references([envelope.find(BODY), security[0]], security)
    return etree.tostring(envelope)


def _signature(document: etree._Element) -> etree._Element:
    found = document.find(f"{{{SOAP12}}}Header/{{{WSSE}}}Security/{{{DS}}}Signature")
    assert found is not None
    return found


def _amount(element: etree._Element) -> str | None:
    return element.findtext(f"{{{BANK}}}PaymentConfirmation/{{{BANK}}}Amount")


def _refused(document: etree._Element, trust: TrustStore) -> str:
    with pytest.raises(SignatureInvalid) as exc_info:
        verify_references(_signature(document), trust)
    return reason(exc_info)


@pytest.fixture
def bank_key(tmp_path: Path) -> tuple[SigningKey, Path]:
    return make_key(tmp_path, "bank")


@pytest.fixture
def bank_trust(bank_key: tuple[SigningKey, Path]) -> TrustStore:
    store = TrustStore()
    store.add("bank", bank_key[0].certificate)
    return store


# --- good envelopes ---------------------------------------------------------------------------

@pytest.mark.parametrize("algorithm", ["ecdsa", "rsa"])
def test_sign_references_envelope_verifies_with_ours_and_xmlsec1(algorithm: str,
                                                                 tmp_path: Path) -> None:
    """Body and Timestamp signed by wsu:Id verify with xmlsec1; ours returns both by Id."""
    key, cert = make_key(tmp_path, f"bank-{algorithm}", algorithm)
    document = _signed_envelope(key)
    store = TrustStore()
    store.add("bank", key.certificate)
    assert_xmlsec1_accepts(document, cert, tmp_path, ID_NODES)

    verified = verify_references(_signature(etree.fromstring(document)), store, owner="bank")

    assert sorted(verified.by_id) == ["Body-1", "TS-1"]
    assert verified.signer.owner == "bank"
    body = verified.element("Body-1", tag=BODY)
    assert _amount(body) == "1000.00"
    assert c14n(body) == verified.by_id["Body-1"].signed_bytes
    assert verified.element("TS-1").tag == f"{{{WSU_NS}}}Timestamp"


def test_sign_references_gives_elements_without_an_id_a_wsu_id(
        bank_key: tuple[SigningKey, Path], bank_trust: TrustStore, tmp_path: Path) -> None:
    """An element signed without a wsu:Id gets a fresh one, which the reference names."""
    envelope = _envelope()
    body = envelope.find(BODY)
    del body.attrib[WSU_ID]
    security = envelope.find(f"{{{SOAP12}}}Header/{{{WSSE}}}Security")
    XmlSigner(bank_key[0]).sign_references([body], security)
    document = etree.tostring(envelope)

    body_id = body.get(WSU_ID)
    assert body_id and body_id.startswith("id-")
    verified = verify_references(_signature(etree.fromstring(document)), bank_trust)
    assert _amount(verified.element(body_id, tag=BODY)) == "1000.00"
    assert_xmlsec1_accepts(document, bank_key[1], tmp_path, ID_NODES)


def test_sign_references_element_and_one_inside_it_both_verify(
        bank_key: tuple[SigningKey, Path], bank_trust: TrustStore, tmp_path: Path) -> None:
    """Signing the Body and, in the same signature, an element inside it keeps both digests."""
    envelope = _envelope()
    body = envelope.find(BODY)
    del body.attrib[WSU_ID]
    security = envelope.find(f"{{{SOAP12}}}Header/{{{WSSE}}}Security")
    XmlSigner(bank_key[0]).sign_references([body, body[0]], security)
    document = etree.tostring(envelope)

    verified = verify_references(_signature(etree.fromstring(document)), bank_trust)

    assert len(verified.by_id) == 2
    inner = verified.element(body[0].get(WSU_ID), tag=f"{{{BANK}}}PaymentConfirmation")
    assert inner.findtext(f"{{{BANK}}}Amount") == "1000.00"
    assert_xmlsec1_accepts(document, bank_key[1], tmp_path,
                           [*ID_NODES, f"{BANK}:PaymentConfirmation"])


def test_verify_references_signed_body_carrying_an_enveloped_receipt_verifies_both(
        gateway_key: tuple[SigningKey, Path], trust: TrustStore, signed: bytes,
        bank_key: tuple[SigningKey, Path], bank_trust: TrustStore) -> None:
    """A gateway-signed receipt inside a bank-signed Body: each signature verifies on its own."""
    envelope = _envelope()
    body = envelope.find(BODY)
    body.append(etree.fromstring(signed))
    security = envelope.find(f"{{{SOAP12}}}Header/{{{WSSE}}}Security")
    XmlSigner(bank_key[0]).sign_references([body], security)
    document = etree.fromstring(etree.tostring(envelope))

    verified_body = verify_references(_signature(document), bank_trust).element(
        "Body-1", tag=BODY)
    receipt = verify_enveloped(verified_body[-1], trust, owner="gateway")

    assert receipt.element.get("Id") == "RCP-r-0001"


# --- wrapping and tampering -------------------------------------------------------------------

def test_verify_references_body_moved_to_header_and_forged_body_never_reaches_the_caller(
        bank_key: tuple[SigningKey, Path], bank_trust: TrustStore, tmp_path: Path) -> None:
    """The classic wrapping: xmlsec1 still says OK; asking ours for the Body present is refused."""
    document = etree.fromstring(_signed_envelope(bank_key[0]))
    signed_body = document.find(BODY)
    etree.SubElement(document.find(f"{{{SOAP12}}}Header"), "{urn:attacker}Wrapper") \
        .append(signed_body)
    forged = copy.deepcopy(_envelope("999999.00").find(BODY))
    del forged.attrib[WSU_ID]
    document.append(forged)
    wrapped = etree.tostring(document)
    assert_xmlsec1_accepts(wrapped, bank_key[1], tmp_path, ID_NODES)   # a naive verifier

    verified = verify_references(_signature(etree.fromstring(wrapped)), bank_trust)
    present_body = etree.fromstring(wrapped).find(BODY)

    assert _amount(present_body) == "999999.00"
    with pytest.raises(SignatureInvalid) as exc_info:
        verified.element(present_body.get(WSU_ID), tag=BODY)
    assert reason(exc_info) == "GW-SIGNATURE-REFERENCE"
    assert _amount(verified.element("Body-1", tag=BODY)) == "1000.00"


@pytest.mark.parametrize("attribute", [WSU_ID, "Id", "ID", "id"])
def test_verify_references_forged_body_with_the_same_id_is_refused_as_duplicate(
        attribute: str, bank_key: tuple[SigningKey, Path], bank_trust: TrustStore) -> None:
    """A forged Body carrying the signed Id (under any Id attribute) makes the Id ambiguous."""
    document = etree.fromstring(_signed_envelope(bank_key[0]))
    signed_body = document.find(BODY)
    etree.SubElement(document.find(f"{{{SOAP12}}}Header"), "{urn:attacker}Wrapper") \
        .append(signed_body)
    forged = copy.deepcopy(_envelope("999999.00").find(BODY))
    del forged.attrib[WSU_ID]
    forged.set(attribute, "Body-1")
    document.append(forged)

    assert _refused(etree.fromstring(etree.tostring(document)), bank_trust) == \
        "GW-SIGNATURE-DUPLICATE-ID"


def test_verify_references_changed_body_is_refused_as_digest(
        bank_key: tuple[SigningKey, Path], bank_trust: TrustStore, tmp_path: Path) -> None:
    """Changing the amount after signing fails the Body's digest, for us and for xmlsec1."""
    tampered = _signed_envelope(bank_key[0]).replace(b">1000.00<", b">999999.00<")

    assert _refused(etree.fromstring(tampered), bank_trust) == "GW-SIGNATURE-DIGEST"
    assert_xmlsec1_refuses(tampered, bank_key[1], tmp_path, ID_NODES)


def test_verify_references_comment_in_the_body_is_refused(
        bank_key: tuple[SigningKey, Path], bank_trust: TrustStore, tmp_path: Path) -> None:
    """``1<!---->000.00`` keeps the digest (xmlsec1 accepts) but would read ``1``: refused."""
    tampered = _signed_envelope(bank_key[0]).replace(b">1000.00<", b">1<!---->000.00<")
    assert_xmlsec1_accepts(tampered, bank_key[1], tmp_path, ID_NODES)

    assert _refused(etree.fromstring(tampered), bank_trust) == "GW-SIGNATURE-UNSIGNED-CONTENT"


def test_verify_references_id_under_an_attribute_not_accepted_is_refused(
        bank_key: tuple[SigningKey, Path], bank_trust: TrustStore) -> None:
    """A reference resolving to a plain ``Id`` where ``wsu:Id`` is expected is refused."""
    envelope = _envelope()
    body = envelope.find(BODY)
    del body.attrib[WSU_ID]
    body.set("Id", "Body-1")
    security = envelope.find(f"{{{SOAP12}}}Header/{{{WSSE}}}Security")
    hand_signature(security, bank_key[0], [("#Body-1", (EXC_C14N,), digest_of(c14n(body)))])
    document = etree.fromstring(etree.tostring(envelope))

    assert _refused(document, bank_trust) == "GW-SIGNATURE-REFERENCE"
    assert verify_references(_signature(document), bank_trust, id_attributes=("Id",)) \
        .element("Body-1", tag=BODY) is not None


def test_verify_references_reference_to_an_ancestor_of_the_signature_is_refused(
        bank_key: tuple[SigningKey, Path], bank_trust: TrustStore) -> None:
    """A detached reference may not cover the header holding the signature itself."""
    envelope = _envelope()
    header = envelope.find(f"{{{SOAP12}}}Header")
    header.set(WSU_ID, "Header-1")
    hand_signature(header.find(f"{{{WSSE}}}Security"), bank_key[0],
                   [("#Header-1", (EXC_C14N,), digest_of(c14n(header)))])

    assert _refused(etree.fromstring(etree.tostring(envelope)), bank_trust) == \
        "GW-SIGNATURE-REFERENCE"


def test_verify_references_enveloped_transform_is_refused_as_algorithm(
        bank_key: tuple[SigningKey, Path], bank_trust: TrustStore) -> None:
    """A detached reference with the enveloped-signature transform is outside the profile."""
    envelope = _envelope()
    body = envelope.find(BODY)
    hand_signature(envelope.find(f"{{{SOAP12}}}Header/{{{WSSE}}}Security"), bank_key[0],
                   [("#Body-1", (ENVELOPED, EXC_C14N), digest_of(c14n(body)))])

    assert _refused(etree.fromstring(etree.tostring(envelope)), bank_trust) == \
        "GW-SIGNATURE-ALGORITHM"


def test_verify_references_same_id_referenced_twice_is_refused(
        bank_key: tuple[SigningKey, Path], bank_trust: TrustStore) -> None:
    """Two references naming one Id are refused: exactly one verified element per Id."""
    envelope = _envelope()
    digest = digest_of(c14n(envelope.find(BODY)))
    hand_signature(envelope.find(f"{{{SOAP12}}}Header/{{{WSSE}}}Security"), bank_key[0],
                   [("#Body-1", (EXC_C14N,), digest), ("#Body-1", (EXC_C14N,), digest)])

    assert _refused(etree.fromstring(etree.tostring(envelope)), bank_trust) == \
        "GW-SIGNATURE-PROFILE"


def test_verify_references_untrusted_signer_is_refused(
        bank_key: tuple[SigningKey, Path], tmp_path: Path) -> None:
    """An envelope signed by a key outside the trust store is refused as unknown."""
    intruder, _ = make_key(tmp_path, "intruder")
    store = TrustStore()
    store.add("bank", bank_key[0].certificate)

    assert _refused(etree.fromstring(_signed_envelope(intruder)), store) == \
        "GW-SIGNATURE-UNKNOWN-KEY"


def test_verified_references_element_refuses_unsigned_ids_and_other_tags(
        bank_key: tuple[SigningKey, Path], bank_trust: TrustStore) -> None:
    """Asking for an Id not signed, or for the Timestamp as if it were the Body, is refused."""
    verified = verify_references(_signature(etree.fromstring(_signed_envelope(bank_key[0]))),
                                 bank_trust)

    for ref_id, tag in (("Body-2", None), (None, BODY), ("TS-1", BODY)):
        with pytest.raises(SignatureInvalid) as exc_info:
            verified.element(ref_id, tag=tag)
        assert reason(exc_info) == "GW-SIGNATURE-REFERENCE"


def test_sign_references_refuses_a_signature_inside_a_signed_element(
        bank_key: tuple[SigningKey, Path]) -> None:
    """Signing the Body into a place inside the Body would change what was signed: refused."""
    envelope = _envelope()
    body = envelope.find(BODY)

    with pytest.raises(ValueError, match="inside an element it signs"):
        XmlSigner(bank_key[0]).sign_references([body], body[0])
    assert body.find(f".//{{{DS}}}Signature") is None
