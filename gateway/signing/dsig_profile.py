"""The one XML-DSig profile the gateway emits and accepts, read strictly.

A ``ds:Signature`` is accepted only in exactly this shape (whitespace between elements is
allowed, nothing else — no other element, attribute, text, comment or processing instruction)::

    ds:Signature
      ds:SignedInfo
        ds:CanonicalizationMethod  Algorithm = exclusive C14N, without comments
        ds:SignatureMethod         Algorithm = ECDSA-SHA256 (P-256) | RSA-SHA256 (>= 2048 bits)
        ds:Reference URI="#<Id>"   one (enveloped) or one per element (detached references)
          ds:Transforms
            ds:Transform           enveloped-signature   (enveloped signatures only)
            ds:Transform           exclusive C14N        (no InclusiveNamespaces prefix list)
          ds:DigestMethod          Algorithm = SHA-256
          ds:DigestValue           base64 of 32 bytes
      ds:SignatureValue            base64
      ds:KeyInfo
        ds:X509Data
          ds:X509Certificate       base64 DER of the signer's certificate, exactly one

WS-Security messages (``key_info=TOKEN_REFERENCE``, and only there) carry the certificate as
the WS-I Basic Security Profile wants it (R5417: a KeyInfo holds exactly one
SecurityTokenReference; X.509 Token Profile 1.0 direct reference), the form WSS4J, .NET and
zeep's ``BinarySignature`` use; ``X509Data`` is then refused::

      ds:KeyInfo                   optional Id
        wsse:SecurityTokenReference      optional wsu:Id
          wsse:Reference URI="#<token Id>" ValueType="...#X509v3"
    wsse:BinarySecurityToken       a sibling of the ds:Signature (same wsse:Security header),
                                   wsu:Id, ValueType="...#X509v3",
                                   EncodingType="...#Base64Binary", base64 DER

Refusals raise ``SignatureInvalid`` with one of these stable codes::

    GW-SIGNATURE-MISSING           no enveloped ds:Signature on the element
    GW-SIGNATURE-PROFILE           an element, attribute or text outside the shape above
                                   (ds:Object, a second Reference or certificate, ...)
    GW-SIGNATURE-ALGORITHM         an algorithm outside the suite (SHA-1, HMAC, XPath,
                                   inclusive or with-comments C14N, a method not fitting the key)
    GW-SIGNATURE-REFERENCE         a URI other than "#Id", or naming another element
    GW-SIGNATURE-DUPLICATE-ID      an Id carried by several elements (signature wrapping)
    GW-SIGNATURE-UNSIGNED-CONTENT  a comment inside signed content (exclusive C14N without
                                   comments leaves it out of the digest, a reader would not)
    GW-SIGNATURE-DIGEST, GW-SIGNATURE-INVALID                           (``xmldsig``)
    GW-SIGNATURE-UNKNOWN-KEY, GW-SIGNATURE-WRONG-SIGNER, GW-SIGNATURE-EXPIRED  (``keys``)
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from lxml import etree

from gateway.errors import SignatureInvalid
from gateway.signing.keys import ECDSA_SHA256, RSA_SHA256

DS = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
SIGNATURE_METHODS = (ECDSA_SHA256, RSA_SHA256)
WSU_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
WSU_ID = f"{{{WSU_NS}}}Id"
WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
X509V3 = ("http://docs.oasis-open.org/wss/2004/01/"
          "oasis-200401-wss-x509-token-profile-1.0#X509v3")
BASE64_BINARY = ("http://docs.oasis-open.org/wss/2004/01/"
                 "oasis-200401-wss-soap-message-security-1.0#Base64Binary")
BINARY_SECURITY_TOKEN = f"{{{WSSE_NS}}}BinarySecurityToken"
#: Where a signature carries its certificate: ``ds:X509Data`` (our documents) or a
#: ``wsse:SecurityTokenReference`` to a ``wsse:BinarySecurityToken`` (WS-Security).
X509_DATA, TOKEN_REFERENCE = "X509Data", "SecurityTokenReference"
XML_ID = "{http://www.w3.org/XML/1998/namespace}id"

# Names for the algorithms people try, so a refusal says what was found.
_KNOWN = {
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315": "inclusive C14N",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments":
        "inclusive C14N with comments",
    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments": "exclusive C14N with comments",
    "http://www.w3.org/2006/12/xml-c14n11": "C14N 1.1",
    "http://www.w3.org/2000/09/xmldsig#sha1": "SHA-1",
    "http://www.w3.org/2000/09/xmldsig#rsa-sha1": "RSA-SHA1",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1": "ECDSA-SHA1",
    "http://www.w3.org/2000/09/xmldsig#hmac-sha1": "HMAC-SHA1",
    "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256": "HMAC-SHA256",
    "http://www.w3.org/TR/1999/REC-xpath-19991116": "XPath",
    "http://www.w3.org/2002/06/xmldsig-filter2": "XPath Filter 2.0",
    "http://www.w3.org/TR/1999/REC-xslt-19991116": "XSLT",
}
_OURS = {EXC_C14N: "exclusive C14N", ENVELOPED: "enveloped-signature", SHA256: "SHA-256",
         ECDSA_SHA256: "ECDSA-SHA256", RSA_SHA256: "RSA-SHA256"}
_ID_VALUE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*", re.ASCII)
_HAS_COMMENT = etree.XPath("boolean(descendant::comment())")
_HAS_COMMENT_OR_PI = etree.XPath(
    "boolean(descendant::comment() | descendant::processing-instruction())")
DS_TAGS = {name: f"{{{DS}}}{name}" for name in (
    "CanonicalizationMethod", "SignatureMethod", "Reference", "Transform")}
_PREFIXES = {DS: "ds", WSSE_NS: "wsse", WSU_NS: "wsu"}
_ID_ATTRIBUTES = frozenset({"Id", "ID", "id", WSU_ID, XML_ID})
_ATTRIBUTES_EQUAL_TO = etree.XPath("//@*[. = $v]")       # then filtered by name: 4x faster


@dataclass(frozen=True, slots=True)
class ReferencePart:
    """One ``ds:Reference``: the Id it names, its transform chain, the expected digest."""

    ref_id: str
    transforms: tuple[str, ...]
    digest: bytes


@dataclass(frozen=True, slots=True)
class SignatureParts:
    """A ``ds:Signature`` read strictly; nothing else in it can matter."""

    signed_info: etree._Element
    method: str
    references: tuple[ReferencePart, ...]
    value: bytes
    certificate_der: bytes                   # empty for a token reference until resolved
    token_reference: str | None = None       # the BinarySecurityToken's wsu:Id


def read_signature(signature: etree._Element, *, transforms: tuple[str, ...],
                   max_references: int, key_info: str = X509_DATA) -> SignatureParts:
    """Check ``signature`` against the profile; every reference must use ``transforms``.

    ``key_info`` is the one ``KeyInfo`` form accepted (``X509_DATA`` or ``TOKEN_REFERENCE``);
    a token reference is resolved by ``binary_security_token``.
    """
    if signature.tag != _ds("Signature"):
        _refuse(f"{_name(signature)} is not a ds:Signature")
    if _HAS_COMMENT_OR_PI(signature):
        _refuse("a ds:Signature with comments or processing instructions is not accepted")
    signed_info, value, key_info_element = _children(
        signature, ("SignedInfo", "SignatureValue", "KeyInfo"))
    children = _plain(signed_info)
    if len(children) < 2:
        _refuse("ds:SignedInfo must start with ds:CanonicalizationMethod, ds:SignatureMethod")
    canonicalization, method, *references = children
    _expect(canonicalization, "CanonicalizationMethod", signed_info)
    _expect(method, "SignatureMethod", signed_info)
    _method(canonicalization, (EXC_C14N,), "canonicalization")
    algorithm = _method(method, SIGNATURE_METHODS, "signature method")
    for reference in references:
        _expect(reference, "Reference", signed_info)
    if not references:
        _refuse("ds:SignedInfo has no ds:Reference")
    if len(references) > max_references:
        _refuse(f"ds:SignedInfo has {len(references)} ds:Reference elements; "
                f"at most {max_references} accepted here")
    parts = tuple(_reference(r, signed_info, transforms) for r in references)
    ids = [p.ref_id for p in parts]
    if len(set(ids)) != len(ids):
        _refuse("two ds:Reference elements name the same Id")
    if key_info == TOKEN_REFERENCE:
        return SignatureParts(signed_info, algorithm, parts, _base64(value), b"",
                              _token_reference(key_info_element))
    (x509_data,) = _children(key_info_element, ("X509Data",))
    (certificate,) = _children(x509_data, ("X509Certificate",))
    return SignatureParts(signed_info, algorithm, parts, _base64(value),
                          _base64(certificate))


def binary_security_token(signature: etree._Element, token_id: str) -> bytes:
    """The DER certificate of the ``wsse:BinarySecurityToken`` a token reference names.

    The token must be the one element of the document with that Id, an X.509 v3 token in
    base64, and sit beside the signature in the same ``wsse:Security`` header.
    """
    token = element_with_id(signature, token_id, (WSU_ID,))
    if token.tag != BINARY_SECURITY_TOKEN or token.getparent() is not signature.getparent():
        raise SignatureInvalid(
            f"#{token_id} is {_name(token)}, not a wsse:BinarySecurityToken beside the "
            "signature in its wsse:Security header", code="GW-SIGNATURE-REFERENCE")
    if sorted(token.keys()) != sorted(("EncodingType", "ValueType", WSU_ID)):
        _refuse(f"the BinarySecurityToken #{token_id} must carry exactly EncodingType, "
                "ValueType and wsu:Id")
    if token.get("ValueType") != X509V3 or token.get("EncodingType") != BASE64_BINARY:
        _refuse(f"the BinarySecurityToken #{token_id} must be an X.509 v3 certificate "
                f"(ValueType {X509V3}) in base64 (EncodingType {BASE64_BINARY})")
    return _base64(token, attributes=True)


def _token_reference(key_info: etree._Element) -> str:
    """The token Id of ``KeyInfo/wsse:SecurityTokenReference/wsse:Reference``, read strictly."""
    _optional_id(key_info, "Id")
    children = _plain(key_info, tuple(key_info.keys()))
    if [c.tag for c in children] != [f"{{{WSSE_NS}}}SecurityTokenReference"]:
        _refuse("ds:KeyInfo must contain exactly one wsse:SecurityTokenReference; found "
                f"{', '.join(_name(c) for c in children) or 'nothing'}")
    (reference,) = children
    _optional_id(reference, WSU_ID)
    children = _plain(reference, tuple(reference.keys()))
    if [c.tag for c in children] != [f"{{{WSSE_NS}}}Reference"]:
        _refuse("wsse:SecurityTokenReference must contain exactly one wsse:Reference (a direct "
                "reference to a BinarySecurityToken); found "
                f"{', '.join(_name(c) for c in children) or 'nothing'}")
    (direct,) = children
    if len(_plain(direct, ("URI", "ValueType"))):
        _refuse("wsse:Reference must be empty")
    uri = direct.get("URI") or ""
    if direct.get("ValueType") != X509V3:
        _refuse(f"wsse:Reference ValueType must be {X509V3}")
    if not uri.startswith("#") or not _ID_VALUE.fullmatch(uri[1:]):
        raise SignatureInvalid(f"wsse:Reference URI {uri!r} is not \"#\" and the Id of a "
                               "BinarySecurityToken in the message", code="GW-SIGNATURE-REFERENCE")
    return uri[1:]


def _optional_id(element: etree._Element, name: str) -> None:
    """``element`` carries no attribute but, optionally, the Id attribute ``name``."""
    if set(element.keys()) - {name}:
        _refuse(f"{_name(element)} may carry only {_attribute_name(name)}; found "
                f"{', '.join(_attribute_name(str(a)) for a in element.attrib)}")


def refuse_comments(element: etree._Element) -> None:
    """Refuse signed content holding a comment, which the digest does not cover."""
    if _HAS_COMMENT(element):
        raise SignatureInvalid(
            f"{_name(element)} contains a comment: exclusive C14N leaves it out of the "
            "digest, so the text a reader sees could differ from what was signed",
            code="GW-SIGNATURE-UNSIGNED-CONTENT")


def element_with_id(node: etree._Element, ref_id: str,
                    id_attributes: Sequence[str]) -> etree._Element:
    """The one element of ``node``'s document whose Id is ``ref_id``.

    Every usual Id attribute (``Id``, ``ID``, ``id``, ``wsu:Id``, ``xml:id``) is searched, so
    a forged element carrying the same value under another name is a duplicate, not ignored;
    the element found must carry the value under one of ``id_attributes``.
    """
    found: list[etree._Element] = []
    for value in _ATTRIBUTES_EQUAL_TO(node, v=ref_id):       # type: ignore[union-attr]
        element = value.getparent()
        if value.attrname in _ID_ATTRIBUTES and not any(e is element for e in found):
            found.append(element)
    if not found:
        raise SignatureInvalid(f"no element has the Id {ref_id!r} the signature references",
                               code="GW-SIGNATURE-REFERENCE")
    if len(found) > 1:
        raise SignatureInvalid(
            f"the Id {ref_id!r} is carried by {len(found)} elements "
            f"({', '.join(_name(e) for e in found[:4])}): a signed Id must be unique",
            code="GW-SIGNATURE-DUPLICATE-ID")
    element = found[0]
    if not any(element.get(name) == ref_id for name in id_attributes):
        raise SignatureInvalid(
            f"{_name(element)} carries {ref_id!r} in an attribute not accepted as its Id "
            f"(accepted: {', '.join(_attribute_name(a) for a in id_attributes)})",
            code="GW-SIGNATURE-REFERENCE")
    return element


def _reference(reference: etree._Element, signed_info: etree._Element,
               expected: tuple[str, ...]) -> ReferencePart:
    uri = reference.get("URI")
    transforms, digest_method, digest_value = _children(
        reference, ("Transforms", "DigestMethod", "DigestValue"), ("URI",))
    if uri is None or not uri.startswith("#") or not _ID_VALUE.fullmatch(uri[1:]):
        raise SignatureInvalid(
            f"ds:Reference URI {uri!r} is not accepted: it must be \"#\" and the Id of the "
            "signed element", code="GW-SIGNATURE-REFERENCE")
    chain = tuple(_transform(t, transforms) for t in _plain(transforms))
    if chain != expected:
        raise SignatureInvalid(
            f"ds:Reference {uri} has transforms {_names(chain)}; expected {_names(expected)}",
            code="GW-SIGNATURE-ALGORITHM")
    _method(digest_method, (SHA256,), "digest method")
    digest = _base64(digest_value)
    if len(digest) != 32:
        _refuse(f"ds:DigestValue of {uri} is {len(digest)} bytes, not a SHA-256 digest")
    return ReferencePart(uri[1:], chain, digest)


def _transform(transform: etree._Element, parent: etree._Element) -> str:
    _expect(transform, "Transform", parent)
    algorithm = transform.get("Algorithm")
    if algorithm not in (ENVELOPED, EXC_C14N):
        raise SignatureInvalid(
            f"the transform {_label(algorithm)} is not accepted; only enveloped-signature and "
            "exclusive C14N are", code="GW-SIGNATURE-ALGORITHM")
    if len(transform):
        _refuse(f"the {_names((algorithm,))} transform has parameters ({_name(transform[0])}); "
                "an InclusiveNamespaces prefix list or any other parameter is not supported")
    _plain(transform, ("Algorithm",))
    return algorithm


def _method(element: etree._Element, allowed: tuple[str, ...], what: str) -> str:
    algorithm = element.get("Algorithm")
    if algorithm not in allowed:
        raise SignatureInvalid(
            f"{what} {_label(algorithm)} is not accepted; expected {_names(allowed, ' or ')}",
            code="GW-SIGNATURE-ALGORITHM")
    if len(element):
        _refuse(f"{_name(element)} must have no content; found {_name(element[0])}")
    _plain(element, ("Algorithm",))
    return algorithm


def _children(element: etree._Element, names: tuple[str, ...],
              attributes: tuple[str, ...] = ()) -> list[etree._Element]:
    children = _plain(element, attributes)
    if [c.tag for c in children] != _tags(names):
        _refuse(f"{_name(element)} must contain exactly {', '.join('ds:' + n for n in names)}; "
                f"found {', '.join(_name(c) for c in children) or 'nothing'}")
    return children


def _plain(element: etree._Element, attributes: tuple[str, ...] = ()) -> list[etree._Element]:
    """The children of ``element`` after checking it has the given attributes and no text."""
    keys = element.keys()
    if len(keys) != len(attributes) or (keys != list(attributes)
                                        and sorted(keys) != sorted(attributes)):
        found = ", ".join(_attribute_name(str(a)) for a in keys) or "none"
        _refuse(f"{_name(element)} must carry {_attribute_list(attributes)}; found {found}")
    text = element.text
    if text and not text.isspace():
        _refuse(f"{_name(element)} contains text")
    children = list(element)
    for child in children:
        tail = child.tail
        if tail and not tail.isspace():
            _refuse(f"{_name(element)} contains text between its elements")
    return children


def _expect(element: etree._Element, name: str, parent: etree._Element) -> None:
    if element.tag != DS_TAGS[name]:
        _refuse(f"{_name(parent)} contains {_name(element)} where ds:{name} belongs")


def _base64(element: etree._Element, *, attributes: bool = False) -> bytes:
    if len(element) or (element.attrib and not attributes):
        _refuse(f"{_name(element)} must hold base64 text only")
    try:
        return base64.b64decode("".join((element.text or "").split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureInvalid(f"{_name(element)} is not base64",
                               code="GW-SIGNATURE-PROFILE") from exc


def _refuse(message: str) -> None:
    raise SignatureInvalid(message, code="GW-SIGNATURE-PROFILE")


def _ds(tag: str) -> str:
    return f"{{{DS}}}{tag}"


@functools.cache
def _tags(names: tuple[str, ...]) -> list[str]:
    return [_ds(n) for n in names]


def _name(node: etree._Element) -> str:
    tag = node.tag
    if not isinstance(tag, str):
        return "a comment" if isinstance(node, etree._Comment) else "a non-element node"
    qname = etree.QName(tag)
    prefix = _PREFIXES.get(qname.namespace or "")
    if prefix:
        return f"{prefix}:{qname.localname}"
    return f"{{{qname.namespace}}}{qname.localname}" if qname.namespace else qname.localname


def _attribute_name(name: str) -> str:
    return {WSU_ID: "wsu:Id", XML_ID: "xml:id"}.get(name, name)


def _attribute_list(attributes: tuple[str, ...]) -> str:
    return ", ".join(attributes) if attributes else "no attributes"


def _label(algorithm: str | None) -> str:
    if algorithm is None:
        return "(none)"
    return f"{_KNOWN[algorithm]} ({algorithm})" if algorithm in _KNOWN else repr(algorithm)


def _names(algorithms: tuple[str | None, ...], joiner: str = " then ") -> str:
    return joiner.join(_OURS.get(a or "", _label(a)) for a in algorithms) or "none"
