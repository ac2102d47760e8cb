"""zeep's own WS-Security (python-xmlsec) against our profile, both ways.

What a bank's developer gets from zeep without thinking — ``zeep.wsse.signature.Signature`` or
``BinarySignature`` with their defaults — is RSA-SHA1 with SHA-1 digests: we refuse it. The same
``BinarySignature`` given SHA-256 methods writes our profile's shape and is accepted (an
implementation that is not ours agrees with the profile), and zeep's verifier accepts what we
sign. python-xmlsec must be built against the libxml2 lxml uses; that is checked first, in a
child process, so a mismatch is a failed test rather than a crashed run.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree
from signing_helpers import make_key

from gateway.errors import SignatureInvalid
from gateway.signing.keys import SigningKey, TrustStore
from gateway.signing.wssecurity import SOAP11, secure_envelope, verify_envelope
from gateway.signing.xmldsig import XmlSigner

pytest_plugins = ["signing_helpers"]

DS = "http://www.w3.org/2000/09/xmldsig#"
BANK = "urn:bank:payments:v1"


def xmlsec_module():  # noqa: ANN201 - the module, imported only once the pair is checked
    try:
        import xmlsec
    except ImportError:
        pytest.fail("python-xmlsec is required for these tests (dev extra `xmlsec`)")
    return xmlsec


def envelope_with_timestamp(now: dt.datetime) -> etree._Element:
    """A SOAP 1.1 envelope whose Security header has a Timestamp, as zeep users add one."""
    from zeep.wsse.utils import WSU, get_security_header

    document = etree.fromstring(
        f'<s:Envelope xmlns:s="{SOAP11}"><s:Body><b:Ack xmlns:b="{BANK}"><b:Id>A-1</b:Id>'
        "</b:Ack></s:Body></s:Envelope>")
    get_security_header(document).append(WSU.Timestamp(
        WSU.Created(now.strftime("%Y-%m-%dT%H:%M:%SZ")),
        WSU.Expires((now + dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"))))
    return document


@pytest.fixture
def rsa_bank(tmp_path: Path) -> tuple[SigningKey, Path, Path, TrustStore]:
    key, cert = make_key(tmp_path, "bank-rsa", "rsa")
    trust = TrustStore()
    trust.add("bank", key.certificate)
    return key, tmp_path / "bank-rsa.key", cert, trust


def zeep_signed(kind: str, key_path: Path, cert_path: Path, now: dt.datetime,
                **methods: object) -> etree._Element:
    from zeep.wsse import signature

    plugin = getattr(signature, kind)(str(key_path), str(cert_path), **methods)
    document, _ = plugin.apply(envelope_with_timestamp(now), {})
    return etree.fromstring(etree.tostring(document))


def refusal_code(document: etree._Element, trust: TrustStore, now: dt.datetime) -> str:
    with pytest.raises(SignatureInvalid) as exc_info:
        verify_envelope(document, trust, owner="bank", now=now)
    return exc_info.value.code


def test_xmlsec_and_lxml_share_one_libxml2() -> None:
    """python-xmlsec imports beside lxml, both on the same libxml2 (else errors or crashes)."""
    done = subprocess.run(
        [sys.executable, "-c", "import lxml.etree as e, xmlsec; "
         "print(e.LIBXML_VERSION == xmlsec.get_libxml_version(), e.LIBXML_VERSION)"],
        capture_output=True, text=True, timeout=60, check=False)

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("True"), f"libxml2 differs: {done.stdout} {done.stderr}"


@pytest.mark.parametrize("kind", ["Signature", "BinarySignature"])
def test_zeep_default_signature_is_sha1_and_refused(
        kind: str, rsa_bank: tuple[SigningKey, Path, Path, TrustStore]) -> None:
    """zeep's defaults sign with RSA-SHA1 and SHA-1 digests: GW-SIGNATURE-ALGORITHM."""
    xmlsec_module()
    _, key_path, cert_path, trust = rsa_bank
    now = dt.datetime.now(dt.UTC)
    document = zeep_signed(kind, key_path, cert_path, now)

    algorithms = {e.get("Algorithm") for e in document.iter(
        f"{{{DS}}}SignatureMethod", f"{{{DS}}}DigestMethod")}
    assert algorithms == {"http://www.w3.org/2000/09/xmldsig#rsa-sha1",
                          "http://www.w3.org/2000/09/xmldsig#sha1"}
    assert refusal_code(document, trust, now) == "GW-SIGNATURE-ALGORITHM"


def test_zeep_binary_signature_with_sha256_is_accepted(
        rsa_bank: tuple[SigningKey, Path, Path, TrustStore]) -> None:
    """zeep's BinarySignature with RSA-SHA256 and SHA-256 writes our shape: it verifies, and
    the verified Body is the one zeep signed."""
    xmlsec = xmlsec_module()
    _, key_path, cert_path, trust = rsa_bank
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    document = zeep_signed("BinarySignature", key_path, cert_path, now,
                           signature_method=xmlsec.Transform.RSA_SHA256,
                           digest_method=xmlsec.Transform.SHA256)

    verified = verify_envelope(document, trust, owner="bank", now=now)

    assert verified.document.findtext(f"{{{BANK}}}Id") == "A-1"
    assert verified.created == now


def test_zeep_signature_with_sha256_but_x509_data_is_refused(
        rsa_bank: tuple[SigningKey, Path, Path, TrustStore]) -> None:
    """zeep's non-binary Signature puts X509Data inside the SecurityTokenReference: outside
    the profile even with SHA-256 (GW-SIGNATURE-PROFILE)."""
    xmlsec = xmlsec_module()
    _, key_path, cert_path, trust = rsa_bank
    now = dt.datetime.now(dt.UTC)
    document = zeep_signed("Signature", key_path, cert_path, now,
                           signature_method=xmlsec.Transform.RSA_SHA256,
                           digest_method=xmlsec.Transform.SHA256)

    assert refusal_code(document, trust, now) == "GW-SIGNATURE-PROFILE"


@pytest.mark.parametrize("algorithm", ["ecdsa", "rsa"])
def test_zeep_verifier_accepts_our_signed_envelope(algorithm: str, tmp_path: Path) -> None:
    """zeep's own verifier (python-xmlsec, the signer's certificate given) accepts ours, and
    refuses it once the Body changed."""
    from zeep.exceptions import SignatureVerificationFailed
    from zeep.wsse.signature import verify_envelope as zeep_verify

    xmlsec_module()
    key, cert = make_key(tmp_path, f"bank-{algorithm}", algorithm)
    document = etree.fromstring(b'<s:Envelope xmlns:s="%s"><s:Body><b:Ack xmlns:b="%s">'
                                b"<b:Id>A-1</b:Id></b:Ack></s:Body></s:Envelope>"
                                % (SOAP11.encode(), BANK.encode()))
    signed = etree.tostring(secure_envelope(document, XmlSigner(key)))

    zeep_verify(etree.fromstring(signed), str(cert))
    with pytest.raises(SignatureVerificationFailed):
        zeep_verify(etree.fromstring(signed.replace(b"A-1", b"A-2")), str(cert))
