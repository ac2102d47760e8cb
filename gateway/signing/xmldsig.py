"""Enveloped XML-DSig for every document the gateway emits.

One fixed, interoperable suite: exclusive C14N, SHA-256 digest, ECDSA-P256-SHA256 (or
RSA-SHA256), the signer's X.509 certificate in ``KeyInfo``. The ``Reference`` points at the
root's ``Id`` attribute (``URI="#…"``) with the enveloped-signature transform, so the same
signed element verifies on its own and embedded in a SOAP body (exclusive C14N ignores the
surrounding namespaces). ``xmlsec1 --verify --id-attr:Id <Root>`` accepts the result (tested).

Signing costs one C14N pass over the document plus one over ``SignedInfo`` and one
signature — the XML-DSig bookkeeping that generic libraries spend most of their time on is
not needed for documents we build ourselves.
"""

from __future__ import annotations

import base64
import hashlib
import uuid

from cryptography import x509
from lxml import etree

from gateway.errors import SignatureInvalid
from gateway.signing.keys import (
    SigningKey,
    TrustedCertificate,
    TrustStore,
    key_id_of,
    verify_raw,
)

DS = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
_NS = {"ds": DS}


def _ds(tag: str) -> str:
    return f"{{{DS}}}{tag}"


def c14n(element: etree._Element) -> bytes:
    return etree.tostring(element, method="c14n", exclusive=True, with_comments=False)


class XmlSigner:
    """Signs documents in place with one loaded key."""

    def __init__(self, key: SigningKey) -> None:
        self._key = key
        self._cert_b64 = base64.b64encode(key.cert_der).decode("ascii")

    @property
    def key_id(self) -> str:
        return self._key.key_id

    def sign(self, root: etree._Element) -> etree._Element:
        """Append an enveloped ``ds:Signature`` to ``root`` (given an ``Id`` if it has none)."""
        ref_id = root.get("Id") or f"_{uuid.uuid4().hex}"
        root.set("Id", ref_id)
        digest = base64.b64encode(hashlib.sha256(c14n(root)).digest()).decode("ascii")
        signature = etree.SubElement(root, _ds("Signature"), nsmap={"ds": DS})
        signed_info = _signed_info(signature, self._key.algorithm, ref_id, digest)
        value = self._key.sign(c14n(signed_info))
        etree.SubElement(signature, _ds("SignatureValue")).text = \
            base64.b64encode(value).decode("ascii")
        x509_data = etree.SubElement(etree.SubElement(signature, _ds("KeyInfo")), _ds("X509Data"))
        etree.SubElement(x509_data, _ds("X509Certificate")).text = self._cert_b64
        return root

    def sign_to_bytes(self, root: etree._Element) -> bytes:
        """The signed document as bytes, written directly in canonical form.

        The document is serialised once, in exclusive C14N (which is also what the digest
        covers), and the ``Signature`` is inserted before the root's end tag; ``SignedInfo`` is
        written in its canonical form from a template, so nothing is parsed or built twice.
        """
        ref_id = root.get("Id") or f"_{uuid.uuid4().hex}"
        root.set("Id", ref_id)
        document = c14n(root)
        digest = base64.b64encode(hashlib.sha256(document).digest()).decode("ascii")
        signed_info = _SIGNED_INFO.format(algorithm=self._key.algorithm, ref=ref_id,
                                          digest=digest).encode("ascii")
        value = base64.b64encode(self._key.sign(signed_info)).decode("ascii")
        signature = (f'<ds:Signature xmlns:ds="{DS}">').encode() + signed_info + (
            f"<ds:SignatureValue>{value}</ds:SignatureValue><ds:KeyInfo><ds:X509Data>"
            f"<ds:X509Certificate>{self._cert_b64}</ds:X509Certificate></ds:X509Data>"
            f"</ds:KeyInfo></ds:Signature>").encode("ascii")
        end = document.rindex(b"</")
        return b'<?xml version="1.0" encoding="UTF-8"?>\n' + document[:end] + signature + \
            document[end:]


# SignedInfo exactly as exclusive C14N renders it inside the Signature.
_SIGNED_INFO = (
    f'<ds:SignedInfo xmlns:ds="{DS}">'
    f'<ds:CanonicalizationMethod Algorithm="{EXC_C14N}"></ds:CanonicalizationMethod>'
    '<ds:SignatureMethod Algorithm="{algorithm}"></ds:SignatureMethod>'
    '<ds:Reference URI="#{ref}"><ds:Transforms>'
    f'<ds:Transform Algorithm="{ENVELOPED}"></ds:Transform>'
    f'<ds:Transform Algorithm="{EXC_C14N}"></ds:Transform></ds:Transforms>'
    f'<ds:DigestMethod Algorithm="{SHA256}"></ds:DigestMethod>'
    "<ds:DigestValue>{digest}</ds:DigestValue></ds:Reference></ds:SignedInfo>"
)


def _signed_info(parent: etree._Element, algorithm: str, ref_id: str,
                 digest: str) -> etree._Element:
    signed_info = etree.SubElement(parent, _ds("SignedInfo"))
    etree.SubElement(signed_info, _ds("CanonicalizationMethod"), Algorithm=EXC_C14N)
    etree.SubElement(signed_info, _ds("SignatureMethod"), Algorithm=algorithm)
    reference = etree.SubElement(signed_info, _ds("Reference"), URI=f"#{ref_id}")
    transforms = etree.SubElement(reference, _ds("Transforms"))
    etree.SubElement(transforms, _ds("Transform"), Algorithm=ENVELOPED)
    etree.SubElement(transforms, _ds("Transform"), Algorithm=EXC_C14N)
    etree.SubElement(reference, _ds("DigestMethod"), Algorithm=SHA256)
    etree.SubElement(reference, _ds("DigestValue")).text = digest
    return signed_info


def verify_enveloped(
    root: etree._Element, trust: TrustStore, *, owner: str | None = None
) -> TrustedCertificate:
    """Verify a document signed with the gateway's suite; return the trusted signer.

    The signed element must be ``root`` itself (its ``Id`` is the one the reference names),
    which rules out signature wrapping; the certificate must be in the trust store.
    """
    signatures = root.findall(_ds("Signature"))
    if len(signatures) != 1:
        raise SignatureInvalid("expected exactly one enveloped ds:Signature on the root",
                               code="GW-SIGNATURE-MISSING")
    signature = signatures[0]
    signed_info = signature.find(_ds("SignedInfo"))
    if signed_info is None:
        raise SignatureInvalid("ds:SignedInfo is missing", code="GW-SIGNATURE-MISSING")
    _check_algorithms(signed_info)
    references = signed_info.findall(_ds("Reference"))
    if len(references) != 1 or references[0].get("URI") != f"#{root.get('Id')}":
        raise SignatureInvalid("the signature does not reference this document's root",
                               code="GW-SIGNATURE-REFERENCE")
    trusted = trust.lookup(key_id_of(_certificate(signature)), owner=owner)
    _check_digest(root, signature, references[0])
    try:
        value = base64.b64decode(signature.findtext("ds:SignatureValue", namespaces=_NS) or "")
    except ValueError as exc:
        raise SignatureInvalid("the signature value is not base64") from exc
    verify_raw(trusted.public_key, value, c14n(signed_info))
    return trusted


def _certificate(signature: etree._Element) -> x509.Certificate:
    text = signature.findtext("ds:KeyInfo/ds:X509Data/ds:X509Certificate", namespaces=_NS)
    if not text:
        raise SignatureInvalid("the signature carries no X.509 certificate in KeyInfo",
                               code="GW-SIGNATURE-MISSING")
    try:
        return x509.load_der_x509_certificate(base64.b64decode(text))
    except ValueError as exc:
        raise SignatureInvalid("the certificate in KeyInfo cannot be read") from exc


def _check_algorithms(signed_info: etree._Element) -> None:
    c14n_alg = signed_info.find(_ds("CanonicalizationMethod"))
    method = signed_info.find(_ds("SignatureMethod"))
    if c14n_alg is None or c14n_alg.get("Algorithm") != EXC_C14N:
        raise SignatureInvalid("canonicalization must be exclusive C14N",
                               code="GW-SIGNATURE-ALGORITHM")
    if method is None or method.get("Algorithm") not in (
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    ):
        raise SignatureInvalid("signature method must be ECDSA-SHA256 or RSA-SHA256",
                               code="GW-SIGNATURE-ALGORITHM")


def _check_digest(root: etree._Element, signature: etree._Element,
                  reference: etree._Element) -> None:
    transforms = [t.get("Algorithm") for t in reference.iterfind("ds:Transforms/ds:Transform",
                                                                  namespaces=_NS)]
    if transforms != [ENVELOPED, EXC_C14N]:
        raise SignatureInvalid("unexpected reference transforms", code="GW-SIGNATURE-ALGORITHM")
    method = reference.find("ds:DigestMethod", namespaces=_NS)
    if method is None or method.get("Algorithm") != SHA256:
        raise SignatureInvalid("digest must be SHA-256", code="GW-SIGNATURE-ALGORITHM")
    parent, index, tail = root, root.index(signature), signature.tail
    parent.remove(signature)
    try:
        digest = base64.b64encode(hashlib.sha256(c14n(root)).digest()).decode("ascii")
    finally:
        signature.tail = tail
        parent.insert(index, signature)
    if digest != (reference.findtext("ds:DigestValue", namespaces=_NS) or "").strip():
        raise SignatureInvalid("the document was changed after it was signed",
                               code="GW-SIGNATURE-DIGEST")
