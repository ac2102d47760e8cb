"""Enveloped XML-DSig for every document the gateway emits, and its strict verifier.

One fixed, interoperable suite (``dsig_profile`` draws it): exclusive C14N, SHA-256 digest,
ECDSA-P256-SHA256 (or RSA-SHA256), the signer's X.509 certificate in ``KeyInfo``. The
``Reference`` points at the root's ``Id`` attribute (``URI="#…"``) with the enveloped-signature
transform, so the same signed element verifies on its own and embedded in a SOAP body
(exclusive C14N ignores the surrounding namespaces). ``xmlsec1 --verify --id-attr:Id <Root>``
accepts the result (tested). ``sign_references`` signs elements elsewhere in one document by
``wsu:Id`` (the WS-Security shape: the signature in a header, the Body referenced).

Verifying returns what was verified: the exact bytes that were digested, re-parsed with the
hardened parser (``Verified.element``). Callers act on that element only, never on a lookup in
the tree they passed in — content the digest leaves out (the signature itself, a ``ds:Object``,
a wrapper, a comment) cannot reach them.

Signing costs one C14N pass over the document plus one over ``SignedInfo`` and one
signature — the XML-DSig bookkeeping that generic libraries spend most of their time on is
not needed for documents we build ourselves.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import datetime as dt
import hashlib
import hmac
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec
from lxml import etree

from gateway.errors import SignatureInvalid
from gateway.signing.dsig_profile import (
    DS,
    ENVELOPED,
    EXC_C14N,
    SHA256,
    TOKEN_REFERENCE,
    WSSE_NS,
    WSU_ID,
    WSU_NS,
    X509_DATA,
    X509V3,
    SignatureParts,
    binary_security_token,
    element_with_id,
    read_signature,
    refuse_comments,
)
from gateway.signing.keys import (
    ECDSA_SHA256,
    SigningKey,
    TrustedCertificate,
    TrustStore,
    key_id_of_der,
    verify_raw,
)
from gateway.xml.safe_parser import XmlLimits, parse_untrusted

__all__ = ["DS", "ENVELOPED", "EXC_C14N", "SHA256", "TOKEN_REFERENCE", "WSU_ID", "WSU_NS",
           "X509_DATA", "Verified", "VerifiedReferences", "XmlSigner", "c14n",
           "verify_enveloped", "verify_references"]

_NS = {"ds": DS}
_LIMITS = XmlLimits()


def _ds(tag: str) -> str:
    return f"{{{DS}}}{tag}"


def c14n(element: etree._Element) -> bytes:
    return etree.tostring(element, method="c14n", exclusive=True, with_comments=False)


def _digest(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


@dataclass(frozen=True, slots=True)
class Verified:
    """A verified signed element: act on ``element``, nothing else.

    ``signed_bytes`` are exactly the bytes whose digest the signature covers (exclusive C14N
    of the referenced element, for an enveloped signature without the signature itself);
    ``element`` is those bytes parsed again with the hardened parser.
    """

    element: etree._Element
    signed_bytes: bytes
    signer: TrustedCertificate
    reference_id: str

    @property
    def key_id(self) -> str:
        return self.signer.key_id

    @property
    def owner(self) -> str:
        return self.signer.owner


@dataclass(frozen=True, slots=True)
class VerifiedReferences:
    """The elements one detached signature covers, each verified, by Id."""

    signer: TrustedCertificate
    by_id: Mapping[str, Verified]

    def element(self, ref_id: str | None, tag: str | None = None) -> etree._Element:
        """The verified element for ``ref_id``; refused unless it was signed (and is a ``tag``)."""
        verified = self.by_id.get(ref_id or "")
        if verified is None:
            raise SignatureInvalid(f"the element with Id {ref_id!r} is not among the signed "
                                   f"references ({', '.join(sorted(self.by_id))})",
                                   code="GW-SIGNATURE-REFERENCE")
        if tag is not None and verified.element.tag != tag:
            raise SignatureInvalid(f"the signed element #{ref_id} is {verified.element.tag}, "
                                   f"not {tag}", code="GW-SIGNATURE-REFERENCE")
        return verified.element


class XmlSigner:
    """Signs documents with one loaded key."""

    def __init__(self, key: SigningKey) -> None:
        self._key = key
        self._cert_b64 = base64.b64encode(key.cert_der).decode("ascii")

    @property
    def key_id(self) -> str:
        return self._key.key_id

    @property
    def certificate_base64(self) -> str:
        """The signer's certificate, DER in base64 (a ``wsse:BinarySecurityToken``'s text)."""
        return self._cert_b64

    def sign(self, root: etree._Element) -> etree._Element:
        """Append an enveloped ``ds:Signature`` to ``root`` (given an ``Id`` if it has none)."""
        ref_id = root.get("Id") or f"_{uuid.uuid4().hex}"
        root.set("Id", ref_id)
        self._append_signature(root, [(ref_id, (ENVELOPED, EXC_C14N), _digest(c14n(root)))])
        return root

    def sign_references(self, elements: Sequence[etree._Element], into: etree._Element, *,
                        token_id: str | None = None) -> etree._Element:
        """Append to ``into`` one ``ds:Signature`` over ``elements``, referenced by ``wsu:Id``.

        Each element keeps its ``wsu:Id`` or is given one; the signature must not sit inside
        any of them (it would change what it signs). With ``token_id``, ``KeyInfo`` holds a
        ``wsse:SecurityTokenReference`` to the ``wsse:BinarySecurityToken`` of that Id (the
        caller puts the token, ``certificate_base64``, beside the signature) instead of
        ``X509Data``. Returns the signature element.
        """
        for element in elements:
            if element is into or any(a is element for a in into.iterancestors()):
                raise ValueError("a detached signature cannot sit inside an element it signs")
            element.set(WSU_ID, element.get(WSU_ID) or f"id-{uuid.uuid4().hex}")
        # Digests only once every Id is set: an Id added inside another element changes it.
        return self._append_signature(into, [
            (str(element.get(WSU_ID)), (EXC_C14N,), _digest(c14n(element)))
            for element in elements], token_id)

    def sign_to_bytes(self, root: etree._Element) -> bytes:
        """The signed document as bytes, written directly in canonical form.

        The document is serialised once, in exclusive C14N (which is also what the digest
        covers), and the ``Signature`` is inserted before the root's end tag; ``SignedInfo`` is
        written in its canonical form from a template, so nothing is parsed or built twice.
        """
        ref_id = root.get("Id") or f"_{uuid.uuid4().hex}"
        root.set("Id", ref_id)
        document = c14n(root)
        signed_info = _SIGNED_INFO.format(algorithm=self._key.algorithm, ref=ref_id,
                                          digest=_digest(document)).encode("ascii")
        value = base64.b64encode(self._key.sign(signed_info)).decode("ascii")
        signature = (f'<ds:Signature xmlns:ds="{DS}">').encode() + signed_info + (
            f"<ds:SignatureValue>{value}</ds:SignatureValue><ds:KeyInfo><ds:X509Data>"
            f"<ds:X509Certificate>{self._cert_b64}</ds:X509Certificate></ds:X509Data>"
            f"</ds:KeyInfo></ds:Signature>").encode("ascii")
        end = document.rindex(b"</")
        return b'<?xml version="1.0" encoding="UTF-8"?>\n' + document[:end] + signature + \
            document[end:]

    def _append_signature(self, parent: etree._Element,
                          references: Sequence[tuple[str, tuple[str, ...], str]],
                          token_id: str | None = None) -> etree._Element:
        signature = etree.SubElement(parent, _ds("Signature"), nsmap={"ds": DS})
        signed_info = etree.SubElement(signature, _ds("SignedInfo"))
        etree.SubElement(signed_info, _ds("CanonicalizationMethod"), Algorithm=EXC_C14N)
        etree.SubElement(signed_info, _ds("SignatureMethod"), Algorithm=self._key.algorithm)
        for ref_id, transforms, digest in references:
            reference = etree.SubElement(signed_info, _ds("Reference"), URI=f"#{ref_id}")
            chain = etree.SubElement(reference, _ds("Transforms"))
            for algorithm in transforms:
                etree.SubElement(chain, _ds("Transform"), Algorithm=algorithm)
            etree.SubElement(reference, _ds("DigestMethod"), Algorithm=SHA256)
            etree.SubElement(reference, _ds("DigestValue")).text = digest
        value = self._key.sign(c14n(signed_info))
        etree.SubElement(signature, _ds("SignatureValue")).text = \
            base64.b64encode(value).decode("ascii")
        key_info = etree.SubElement(signature, _ds("KeyInfo"))
        if token_id is None:
            x509_data = etree.SubElement(key_info, _ds("X509Data"))
            etree.SubElement(x509_data, _ds("X509Certificate")).text = self._cert_b64
        else:
            token_reference = etree.SubElement(
                key_info, f"{{{WSSE_NS}}}SecurityTokenReference", nsmap={"wsse": WSSE_NS})
            etree.SubElement(token_reference, f"{{{WSSE_NS}}}Reference", URI=f"#{token_id}",
                             ValueType=X509V3)
        return signature


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


def verify_enveloped(root: etree._Element, trust: TrustStore, *, owner: str | None = None,
                     id_attributes: Sequence[str] = ("Id",),
                     limits: XmlLimits = _LIMITS) -> Verified:
    """Verify the enveloped signature of ``root``; return the signed element, re-parsed.

    ``root`` must carry exactly one ``ds:Signature`` (as a child) whose one reference names
    ``root``'s own Id, unique in the whole document; the certificate must be in the trust
    store (for ``owner`` if given). ``root``'s tree is left as it was. Raises
    ``SignatureInvalid`` (codes in ``dsig_profile``), or ``UnsafeXml`` if the signed element
    breaks the hardened parser's ``limits``.
    """
    signature = _enveloped_signature(root)
    parts = read_signature(signature, transforms=(ENVELOPED, EXC_C14N), max_references=1)
    (reference,) = parts.references
    if not any(root.get(name) == reference.ref_id for name in id_attributes):
        raise SignatureInvalid(
            f"the signature references #{reference.ref_id}, not this element "
            f"({etree.QName(root).localname} Id={root.get('Id')!r})",
            code="GW-SIGNATURE-REFERENCE")
    element_with_id(root, reference.ref_id, id_attributes)      # unique in the document
    refuse_comments(root)
    trusted = _signer(parts, trust, owner)
    signed_bytes = _without_signature(root, signature)
    _check_digest(reference.ref_id, reference.digest, signed_bytes)
    verify_raw(trusted.public_key, parts.value, c14n(parts.signed_info))
    return Verified(parse_untrusted(signed_bytes, limits).getroot(), signed_bytes, trusted,
                    reference.ref_id)


def verify_references(signature: etree._Element, trust: TrustStore, *,
                      owner: str | None = None, id_attributes: Sequence[str] = (WSU_ID,),
                      limits: XmlLimits = _LIMITS, key_info: str = X509_DATA,
                      at: dt.datetime | None = None) -> VerifiedReferences:
    """Verify a detached signature over elements of its own document, referenced by Id.

    The WS-Security shape: ``signature`` sits in a header and each ``ds:Reference`` names an
    element elsewhere in the same document (``wsu:Id`` by default) with exclusive C14N as its
    only transform. Each Id must name exactly one element in the whole document, none of which
    may contain the signature. Returns every referenced element re-parsed from its signed
    bytes; ask ``result.element(body_id, tag=...)`` for the one to act on.

    ``key_info=TOKEN_REFERENCE`` accepts (only) the WS-Security certificate form: a
    ``wsse:SecurityTokenReference`` to a ``wsse:BinarySecurityToken`` beside the signature
    (``dsig_profile``). The certificate must be valid ``at`` (default: now).
    """
    parent = signature.getparent()
    if parent is not None and etree.QName(parent).namespace == DS:
        raise SignatureInvalid("a ds:Signature nested inside another ds:Signature element is "
                               "not accepted", code="GW-SIGNATURE-PROFILE")
    parts = read_signature(signature, transforms=(EXC_C14N,), max_references=16,
                           key_info=key_info)
    if parts.token_reference is not None:
        parts = dataclasses.replace(parts, certificate_der=binary_security_token(
            signature, parts.token_reference))
    trusted = _signer(parts, trust, owner, at)
    verify_raw(trusted.public_key, parts.value, c14n(parts.signed_info))
    ancestors = list(signature.iterancestors())
    verified = {}
    for reference in parts.references:
        element = element_with_id(signature, reference.ref_id, id_attributes)
        if any(a is element for a in ancestors):
            raise SignatureInvalid(
                f"#{reference.ref_id} contains the signature itself; only an enveloped "
                "signature may sign its own ancestor", code="GW-SIGNATURE-REFERENCE")
        refuse_comments(element)
        signed_bytes = c14n(element)
        _check_digest(reference.ref_id, reference.digest, signed_bytes)
        verified[reference.ref_id] = Verified(parse_untrusted(signed_bytes, limits).getroot(),
                                              signed_bytes, trusted, reference.ref_id)
    return VerifiedReferences(trusted, verified)


def _enveloped_signature(root: etree._Element) -> etree._Element:
    signatures = list(root.iter(_ds("Signature")))
    if len(signatures) > 1:
        raise SignatureInvalid(
            f"the signed element holds {len(signatures)} ds:Signature elements; exactly one "
            "is accepted", code="GW-SIGNATURE-PROFILE")
    if not signatures or signatures[0].getparent() is not root:
        raise SignatureInvalid(
            "the element carries no enveloped ds:Signature of its own (a child of the element)",
            code="GW-SIGNATURE-MISSING")
    return signatures[0]


def _signer(parts: SignatureParts, trust: TrustStore, owner: str | None,
            at: dt.datetime | None = None) -> TrustedCertificate:
    """The trusted certificate that is byte for byte the one in ``KeyInfo``."""
    trusted = trust.lookup(key_id_of_der(parts.certificate_der), owner=owner, at=at)
    if trusted.der != parts.certificate_der:
        raise SignatureInvalid("the certificate in KeyInfo is not the trusted one with its "
                               "key id", code="GW-SIGNATURE-UNKNOWN-KEY")
    key = trusted.public_key
    if isinstance(key, ec.EllipticCurvePublicKey):
        fits = parts.method == ECDSA_SHA256 and key.curve.name == "secp256r1"
    else:
        fits = parts.method != ECDSA_SHA256 and key.key_size >= 2048
    if not fits:
        raise SignatureInvalid(f"the signature method {parts.method} does not fit the "
                               f"signer's {type(key).__name__}", code="GW-SIGNATURE-ALGORITHM")
    return trusted


def _without_signature(root: etree._Element, signature: etree._Element) -> bytes:
    """The enveloped-signature transform, then exclusive C14N, on a copy of ``root``.

    The transform removes the signature element and nothing else: the text that follows it
    (its lxml ``tail``) stays in the node-set, so it is covered by the digest.
    """
    clone = copy.deepcopy(root)
    copied = clone[root.index(signature)]
    if copied.tail:
        previous = copied.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + copied.tail
        else:
            clone.text = (clone.text or "") + copied.tail
    clone.remove(copied)
    return c14n(clone)


def _check_digest(ref_id: str, expected: bytes, signed_bytes: bytes) -> None:
    if not hmac.compare_digest(hashlib.sha256(signed_bytes).digest(), expected):
        raise SignatureInvalid(f"#{ref_id} was changed after it was signed (digest mismatch)",
                               code="GW-SIGNATURE-DIGEST")
