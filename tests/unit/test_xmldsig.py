"""Enveloped XML-DSig (``gateway.signing.xmldsig``): good signatures.

Every good signature is checked twice: by our verifier and by the independent ``xmlsec1``
binary — ECDSA and RSA, receipts inside a SOAP body, rejections and notifications — and a
signature made by ``xmlsec1`` verifies with ours. The verifier returns the signed element
re-parsed from the exact bytes it digested. Tampered or malformed documents are covered in
``test_xmldsig_tampering.py`` and ``test_xmldsig_profile.py``, detached references
(WS-Security shape) in ``test_xmldsig_references.py``, detached body signatures in
``test_detached_signatures.py``.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
from pathlib import Path

import pytest
from lxml import etree
from signing_helpers import (
    DS,
    RECEIPT_NODE,
    assert_xmlsec1_accepts,
    find_ds,
    make_key,
    make_receipt,
)

from gateway.canonical.clearance_decision import ClearanceDecision, DecisionError
from gateway.documents.notifications import build_notification
from gateway.documents.receipts import GW_NS, RejectionInfo
from gateway.errors import Problem
from gateway.signing.keys import SigningKey, TrustStore
from gateway.signing.xmldsig import XmlSigner, c14n, verify_enveloped

pytest_plugins = ["signing_helpers"]     # fixtures: gateway_key, trust, signed

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"


@pytest.mark.parametrize("algorithm", ["ecdsa", "rsa"])
def test_xml_signer_signature_verifies_with_ours_and_xmlsec1(algorithm: str,
                                                             tmp_path: Path) -> None:
    """An ECDSA or RSA enveloped signature is accepted by our verifier and by xmlsec1."""
    key, cert = make_key(tmp_path, f"gw-{algorithm}", algorithm)
    document = XmlSigner(key).sign_to_bytes(make_receipt())
    root = etree.fromstring(document)
    store = TrustStore()
    store.add("gateway", key.certificate)

    verified = verify_enveloped(root, store, owner="gateway")

    assert verified.key_id == key.key_id
    assert verified.signer.certificate == key.certificate
    method = find_ds(root, "ds:Signature/ds:SignedInfo/ds:SignatureMethod").get("Algorithm")
    assert method == key.algorithm
    assert method.endswith("ecdsa-sha256" if algorithm == "ecdsa" else "rsa-sha256")
    assert find_ds(root, "ds:Signature/ds:SignedInfo/ds:Reference").get("URI") == "#RCP-r-0001"
    assert_xmlsec1_accepts(document, cert, tmp_path)


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

    assert_xmlsec1_accepts(envelope, gateway_key[1], tmp_path)
    embedded = etree.fromstring(envelope).find(f".//{{{GW_NS}}}Receipt")
    assert embedded is not None
    verified = verify_enveloped(embedded, trust, owner="gateway")
    assert verified.owner == "gateway"
    assert c14n(embedded) == c14n(etree.fromstring(signed))
    assert verified.signed_bytes == verify_enveloped(etree.fromstring(signed),
                                                     trust).signed_bytes


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
        verified = verify_enveloped(etree.fromstring(document), trust)
        assert verified.owner == "gateway"
        assert verified.element.tag == element.tag
        assert_xmlsec1_accepts(document, gateway_key[1], tmp_path, node)


def test_xml_signer_sign_in_place_matches_sign_to_bytes(tmp_path: Path) -> None:
    """sign() and sign_to_bytes() produce the same canonical document (deterministic RSA)."""
    key, cert = make_key(tmp_path, "gw-rsa", "rsa")
    signer = XmlSigner(key)
    store = TrustStore()
    store.add("gateway", key.certificate)

    in_place = signer.sign(make_receipt())
    as_bytes = signer.sign_to_bytes(make_receipt())

    assert c14n(in_place) == c14n(etree.fromstring(as_bytes))
    assert verify_enveloped(in_place, store).owner == "gateway"
    assert_xmlsec1_accepts(etree.tostring(in_place), cert, tmp_path)


def test_signing_key_is_loaded_once_and_reused_for_many_documents(tmp_path: Path) -> None:
    """After loading, signing 200 documents needs no key files (the key is not re-read)."""
    key, cert_path = make_key(tmp_path, "reused")
    signer = XmlSigner(key)
    store = TrustStore()
    store.add("gateway", key.certificate)
    (tmp_path / "reused.key").unlink()
    cert_path.unlink()

    documents = [signer.sign_to_bytes(make_receipt(f"r-{n:04d}")) for n in range(200)]

    assert not (tmp_path / "reused.key").exists() and not cert_path.exists()
    for n, document in enumerate(documents):
        root = etree.fromstring(document)
        assert root.get("Id") == f"RCP-r-{n:04d}"
        assert verify_enveloped(root, store).key_id == key.key_id



def test_verify_enveloped_returns_the_digested_bytes_reparsed_without_the_signature(
        trust: TrustStore, signed: bytes) -> None:
    """The result is the signed receipt as digested: same values, no ds:Signature, own tree."""
    root = etree.fromstring(signed)
    digest_value = find_ds(root, "ds:Signature/ds:SignedInfo/ds:Reference/ds:DigestValue").text

    verified = verify_enveloped(root, trust)

    assert base64.b64encode(hashlib.sha256(verified.signed_bytes).digest()).decode() == \
        digest_value
    assert c14n(verified.element) == verified.signed_bytes
    assert verified.element.find(f"{{{DS}}}Signature") is None
    assert verified.element.getroottree() is not root.getroottree()
    assert verified.element.get("Id") == root.get("Id") == verified.reference_id
    assert verified.element.findtext(f"{{{GW_NS}}}Partner") == "broker-alpha"
    assert root[-1].tag == f"{{{DS}}}Signature"          # the caller's tree is left alone


def test_verify_enveloped_accepts_a_signature_made_by_xmlsec1(
        gateway_key: tuple[SigningKey, Path], trust: TrustStore, tmp_path: Path) -> None:
    """A receipt signed by xmlsec1 from our profile's template (indented, wrapped base64)."""
    receipt = make_receipt()
    receipt.set("Id", "RCP-x")
    template = etree.fromstring(XMLSEC1_TEMPLATE.replace("{algorithm}", gateway_key[0].algorithm))
    receipt.append(template)
    source, key_path = tmp_path / "template.xml", tmp_path / "gateway.key"
    source.write_bytes(etree.tostring(receipt))
    done = subprocess.run(
        ["xmlsec1", "--sign", "--privkey-pem", f"{key_path},{gateway_key[1]}",
         "--id-attr:Id", RECEIPT_NODE, str(source)],
        capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr.decode()

    document = etree.fromstring(done.stdout)
    assert find_ds(document, "ds:Signature/ds:SignatureValue").text.strip()
    assert find_ds(document, "ds:Signature/ds:KeyInfo/ds:X509Data/ds:X509Certificate").text

    verified = verify_enveloped(document, trust, owner="gateway")

    assert verified.element.findtext(f"{{{GW_NS}}}ReceiptID") == "r-0001"
    assert verified.element.find(f"{{{DS}}}Signature") is None


XMLSEC1_TEMPLATE = f"""<ds:Signature xmlns:ds="{DS}">
  <ds:SignedInfo>
    <ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
    <ds:SignatureMethod Algorithm="{{algorithm}}"/>
    <ds:Reference URI="#RCP-x">
      <ds:Transforms>
        <ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>
        <ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
      </ds:Transforms>
      <ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>
      <ds:DigestValue/>
    </ds:Reference>
  </ds:SignedInfo>
  <ds:SignatureValue/>
  <ds:KeyInfo>
    <ds:X509Data/>
  </ds:KeyInfo>
</ds:Signature>"""
