"""Helpers shared by the signature tests (``test_xmldsig*.py``, ``test_detached_signatures.py``).

Keys generated into ``tmp_path`` (one with an expired certificate), an unsigned receipt to
sign, the independent ``xmlsec1`` binary run exactly as a partner would run it, and a
hand-written signer (``hand_signature``, ``resign``) that signs with the *trusted* key whatever
a test puts in ``SignedInfo``, so a refusal proves the profile check, not a bad signature value.
Test modules load the fixtures below (``gateway_key``, ``trust``, ``signed``) with
``pytest_plugins = ["signing_helpers"]``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import shutil
import subprocess
import uuid
from collections.abc import Sequence
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from lxml import etree

from gateway.documents.receipts import GW_NS, ReceiptInfo
from gateway.errors import SignatureInvalid
from gateway.signing.keys import SigningKey, TrustStore, generate_key_pair
from gateway.signing.xmldsig import XmlSigner

DS = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
RECEIPT_NODE = f"{GW_NS}:Receipt"


def make_key(directory: Path, name: str, algorithm: str = "ecdsa") -> tuple[SigningKey, Path]:
    """Generate a key pair into ``directory`` and load it; return the key and its cert path."""
    key_pem, cert_pem = generate_key_pair(f"{name}.test", f"{name} org", algorithm=algorithm)
    key_path, cert_path = directory / f"{name}.key", directory / f"{name}.crt"
    key_path.write_bytes(key_pem)
    cert_path.write_bytes(cert_pem)
    return SigningKey.load(key_path, cert_path), cert_path


def make_expired_key(directory: Path) -> tuple[SigningKey, Path]:
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


def make_receipt(receipt_id: str = "r-0001", partner: str = "broker-alpha") -> etree._Element:
    return ReceiptInfo(
        receipt_id=receipt_id, conversation_id="conv-0001",
        received_at="2026-11-28T10:15:00.000Z", partner_id=partner,
        message_type="wco-dec-3.6", message_name="WCO DM 3.6 goods declaration (DEC)",
        message_version="3.6", message_id="doc:wco:LRN-0001", sha256="ab" * 32,
    ).to_xml()


def run_xmlsec1(document: bytes, cert: Path, tmp_path: Path,
                id_node: str | Sequence[str] = RECEIPT_NODE) -> tuple[int, str]:
    """Run the independent verifier exactly as a partner would; return (exit code, output).

    ``id_node`` names the element(s) whose ``Id`` (or ``wsu:Id``) attribute is an XML ID.
    """
    binary = shutil.which("xmlsec1")
    if binary is None:
        pytest.fail("xmlsec1 is required for these tests (Debian/Ubuntu package `xmlsec1`) "
                    "and was not found on PATH")
    path = tmp_path / f"signed-{uuid.uuid4().hex}.xml"
    path.write_bytes(document)
    nodes = [id_node] if isinstance(id_node, str) else list(id_node)
    ids = [arg for node in nodes for arg in ("--id-attr:Id", node)]
    done = subprocess.run(
        [binary, "--verify", "--trusted-pem", str(cert), *ids, str(path)],
        capture_output=True, text=True, timeout=60, check=False)
    return done.returncode, done.stdout + done.stderr


def assert_xmlsec1_accepts(document: bytes, cert: Path, tmp_path: Path,
                           id_node: str | Sequence[str] = RECEIPT_NODE) -> None:
    code, output = run_xmlsec1(document, cert, tmp_path, id_node)
    assert code == 0, f"xmlsec1 refused a good signature:\n{output}"


def assert_xmlsec1_refuses(document: bytes, cert: Path, tmp_path: Path,
                           id_node: str | Sequence[str] = RECEIPT_NODE) -> None:
    code, output = run_xmlsec1(document, cert, tmp_path, id_node)
    assert code != 0, f"xmlsec1 accepted a tampered document:\n{output}"


def _c14n(element: etree._Element) -> bytes:
    return etree.tostring(element, method="c14n", exclusive=True, with_comments=False)


def digest_of(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def hand_signature(parent: etree._Element, key: SigningKey,
                   references: Sequence[tuple[str, Sequence[str], str]]) -> etree._Element:
    """Append to ``parent`` a ds:Signature by ``key`` with the given (URI, transforms, digest).

    Written independently of the code under test, so a test can sign, with the trusted key,
    a signature whose shape the verifier must refuse.
    """
    signature = etree.SubElement(parent, f"{{{DS}}}Signature", nsmap={"ds": DS})
    signed_info = etree.SubElement(signature, f"{{{DS}}}SignedInfo")
    etree.SubElement(signed_info, f"{{{DS}}}CanonicalizationMethod", Algorithm=EXC_C14N)
    etree.SubElement(signed_info, f"{{{DS}}}SignatureMethod", Algorithm=key.algorithm)
    for uri, transforms, digest in references:
        reference = etree.SubElement(signed_info, f"{{{DS}}}Reference", URI=uri)
        chain = etree.SubElement(reference, f"{{{DS}}}Transforms")
        for algorithm in transforms:
            etree.SubElement(chain, f"{{{DS}}}Transform", Algorithm=algorithm)
        etree.SubElement(reference, f"{{{DS}}}DigestMethod", Algorithm=SHA256)
        etree.SubElement(reference, f"{{{DS}}}DigestValue").text = digest
    etree.SubElement(signature, f"{{{DS}}}SignatureValue")
    key_info = etree.SubElement(signature, f"{{{DS}}}KeyInfo")
    etree.SubElement(etree.SubElement(key_info, f"{{{DS}}}X509Data"),
                     f"{{{DS}}}X509Certificate").text = base64.b64encode(key.cert_der).decode()
    resign(signature, key)
    return signature


def resign(signature: etree._Element, key: SigningKey) -> None:
    """Sign ``signature``'s (edited) SignedInfo again with ``key``: the value is then right."""
    signed_info = find_ds(signature, "ds:SignedInfo")
    find_ds(signature, "ds:SignatureValue").text = \
        base64.b64encode(key.sign(_c14n(signed_info))).decode()


def reason(exc_info: pytest.ExceptionInfo[SignatureInvalid]) -> str:
    return exc_info.value.code


def find_ds(element: etree._Element, path: str) -> etree._Element:
    found = element.find(path, namespaces={"ds": DS})
    assert found is not None, path
    return found


@pytest.fixture
def gateway_key(tmp_path: Path) -> tuple[SigningKey, Path]:
    return make_key(tmp_path, "gateway")


@pytest.fixture
def trust(gateway_key: tuple[SigningKey, Path]) -> TrustStore:
    store = TrustStore()
    store.add("gateway", gateway_key[0].certificate)
    return store


@pytest.fixture
def signed(gateway_key: tuple[SigningKey, Path]) -> bytes:
    return XmlSigner(gateway_key[0]).sign_to_bytes(make_receipt())
