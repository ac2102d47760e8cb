"""WS-Security for the SOAP exchanges with banks: sign an envelope, verify one strictly.

One profile, both ways (OASIS WSS 1.0 SOAP Message Security and X.509 Token Profile 1.0, in
the shape of the WS-I Basic Security Profile; SOAP 1.1 or 1.2)::

    Envelope
      Header
        wsse:Security  S:mustUnderstand="1"     exactly one addressed to us (no actor/role,
                                                or next / ultimateReceiver)
          wsu:Timestamp wsu:Id                  exactly one: Created, Expires (UTC xsd:dateTime)
          wsse:BinarySecurityToken wsu:Id       exactly one: the signer's X.509 v3 certificate
          ds:Signature                          exactly one (``dsig_profile``, token reference):
                                                exc-C14N; ECDSA-P256-SHA256 or RSA-SHA256;
                                                references #Body and #Timestamp (exc-C14N,
                                                SHA-256); KeyInfo/wsse:SecurityTokenReference
                                                /wsse:Reference URI="#<token>" ValueType=X509v3
      Body wsu:Id                               the one Body of the envelope

The certificate travels as a ``BinarySecurityToken`` referenced from ``KeyInfo`` rather than as
``X509Data`` because that is what WS-Security stacks send and expect (WSS4J, .NET, zeep's
``BinarySignature``; BSP R5417: a ``KeyInfo`` holds exactly one ``SecurityTokenReference``).

``verify_envelope`` returns ``VerifiedSoap``: the **verified Body**, re-parsed from the bytes the
signature digested, and the signer. Callers act on ``VerifiedSoap.body`` / ``.document`` only.
It refuses, in this order, with stable codes:

    GW-SOAP-ENVELOPE     not a SOAP 1.1/1.2 Envelope with one Body (``MalformedXml``)
    GW-WSS-MISSING       no wsse:Security header for us, or one without a ds:Signature  (401)
    GW-WSS-HEADER        two Security headers for us, two signatures or tokens, an element
                         the profile does not know inside the header (UsernameToken, ...)
    GW-WSS-TIMESTAMP     no Timestamp, a malformed one, Created in the future beyond the skew,
                         Expires past, Expires not after Created, Created older than
                         ``max_age_seconds`` (when given)                                  (401)
    GW-SIGNATURE-*       the signature itself (``dsig_profile``, ``xmldsig``, ``keys``): profile,
                         algorithms (SHA-1 included), digests, duplicate Ids, the certificate
                         not trusted for ``owner`` or not valid at ``now``
    GW-WSS-WRAPPING      the signature covers a Body (or Timestamp) that is not THE envelope's
                         Body (the Security header's Timestamp): a signed Body moved into a
                         header or wrapper and another put in its place
    GW-WSS-COVERAGE      the signature does not cover the Body, or not the Timestamp

Every class is a ``SignatureInvalid``; ``fault_code`` names the WSS 1.0 fault (wsse:FailedCheck,
wsse:MessageExpired, ...) a SOAP endpoint answers each one with. Replays inside the Timestamp's
lifetime are not detected here: ``VerifiedSoap.replay_key`` is what a caller keeps (until
``VerifiedSoap.replayable_until``) to refuse them, with ``MessageReplayed`` (``GW-WSS-REPLAY``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid
from dataclasses import dataclass

from lxml import etree

from gateway.errors import GatewayError, MalformedXml, SignatureInvalid
from gateway.signing.dsig_profile import (
    BASE64_BINARY,
    BINARY_SECURITY_TOKEN,
    DS,
    TOKEN_REFERENCE,
    WSSE_NS,
    WSU_ID,
    WSU_NS,
    X509V3,
    element_with_id,
)
from gateway.signing.keys import TrustedCertificate, TrustStore
from gateway.signing.xmldsig import VerifiedReferences, XmlSigner, verify_references
from gateway.xml.safe_parser import XmlLimits

__all__ = ["SOAP11", "SOAP12", "MessageReplayed", "SignatureWrapping", "TimestampRefused",
           "VerifiedSoap", "WSSE_NS", "WSU_NS", "WsSecurityInvalid", "WsSecurityMissing",
           "fault_code", "secure_envelope", "verify_envelope"]

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
SECURITY = f"{{{WSSE_NS}}}Security"
TIMESTAMP = f"{{{WSU_NS}}}Timestamp"
SIGNATURE = f"{{{DS}}}Signature"
_CREATED, _EXPIRES = f"{{{WSU_NS}}}Created", f"{{{WSU_NS}}}Expires"
#: Roles a header block may name and still be ours (none named is ours too).
_OUR_ROLES = {SOAP11: {"http://schemas.xmlsoap.org/soap/actor/next"},
              SOAP12: {f"{SOAP12}/role/next", f"{SOAP12}/role/ultimateReceiver"}}
_ROLE_ATTRIBUTE = {SOAP11: f"{{{SOAP11}}}actor", SOAP12: f"{{{SOAP12}}}role"}
_UTC_DATETIME = re.compile(
    r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(?:Z|\+00:00)", re.ASCII)
_LIMITS = XmlLimits()


class WsSecurityMissing(SignatureInvalid):
    """No WS-Security signature at all: the sender is not authenticated."""

    code = "GW-WSS-MISSING"
    http_status = 401


class WsSecurityInvalid(SignatureInvalid):
    """A security header outside the profile (also raised as ``GW-WSS-COVERAGE``)."""

    code = "GW-WSS-HEADER"


class TimestampRefused(SignatureInvalid):
    """The message is not fresh (or states no usable time)."""

    code = "GW-WSS-TIMESTAMP"
    http_status = 401


class MessageReplayed(SignatureInvalid):
    """A signature the receiver has accepted before, within its lifetime: a replay."""

    code = "GW-WSS-REPLAY"
    http_status = 401


class SignatureWrapping(SignatureInvalid):
    """The signed Body (or Timestamp) is not the one the envelope presents."""

    code = "GW-WSS-WRAPPING"


@dataclass(frozen=True, slots=True)
class VerifiedSoap:
    """A verified SOAP message: act on ``body`` (or ``document``), nothing else.

    ``body`` is the envelope's Body re-parsed from the bytes the signature digested;
    ``replay_key`` (the SHA-256 of the signature value, hex) names this very signature, for a
    caller that refuses a message seen before within its lifetime.
    """

    body: etree._Element
    signer: TrustedCertificate
    created: dt.datetime
    expires: dt.datetime
    soap_namespace: str
    replay_key: str

    @property
    def owner(self) -> str:
        return self.signer.owner

    def replayable_until(self, max_age_seconds: int | None = None) -> dt.datetime:
        """Until when a copy of this message would still verify (``verify_envelope`` with the
        same ``max_age_seconds``): how long a receiver keeps ``replay_key``."""
        if max_age_seconds is None:
            return self.expires
        return min(self.expires, self.created + dt.timedelta(seconds=max_age_seconds))

    @property
    def key_id(self) -> str:
        return self.signer.key_id

    @property
    def document(self) -> etree._Element:
        """The Body's one element (the business document), from the verified bytes."""
        children = [c for c in self.body if isinstance(c.tag, str)]
        text = (self.body.text or "") + "".join(c.tail or "" for c in self.body)
        if len(children) != 1 or len(self.body) != 1 or text.strip():
            raise MalformedXml("the signed Body must hold exactly one element and no text",
                               code="GW-SOAP-BODY")
        return children[0]


def secure_envelope(envelope: etree._Element, signer: XmlSigner, *, ttl_seconds: int = 300,
                    now: dt.datetime | None = None) -> etree._Element:
    """Add a signed ``wsse:Security`` header to ``envelope`` (in place); return it.

    The header holds a Timestamp (Created ``now``, Expires ``ttl_seconds`` later), the signer's
    certificate as a BinarySecurityToken and one signature over the Body and the Timestamp
    (each given a ``wsu:Id`` if it has none). The envelope must have no Security header for
    us yet; nothing may change the Body or the Timestamp afterwards.
    """
    namespace = _namespace(envelope)
    if ttl_seconds <= 0:
        raise ValueError("ttl_seconds must be positive")
    created = _utc(now or dt.datetime.now(dt.UTC))
    body = _body(envelope, namespace)
    header = _header(envelope, namespace, create=True)
    assert header is not None
    if _our_security_headers(header, namespace):
        raise ValueError("the envelope already has a wsse:Security header; sign it once")
    security = etree.SubElement(header, SECURITY, nsmap={"wsse": WSSE_NS, "wsu": WSU_NS})
    security.set(f"{{{namespace}}}mustUnderstand", "1")
    timestamp = etree.SubElement(security, TIMESTAMP, {WSU_ID: f"TS-{uuid.uuid4().hex}"})
    etree.SubElement(timestamp, _CREATED).text = _format(created)
    etree.SubElement(timestamp, _EXPIRES).text = \
        _format(created + dt.timedelta(seconds=ttl_seconds))
    token_id = f"X509-{uuid.uuid4().hex}"
    etree.SubElement(security, BINARY_SECURITY_TOKEN, {
        "EncodingType": BASE64_BINARY, "ValueType": X509V3, WSU_ID: token_id,
    }).text = signer.certificate_base64
    if body.get(WSU_ID) is None:
        _declare_wsu(body)
        body.set(WSU_ID, f"Body-{uuid.uuid4().hex}")
    signer.sign_references([body, timestamp], security, token_id=token_id)
    return envelope


def verify_envelope(envelope: etree._Element, trust: TrustStore, *, owner: str,
                    now: dt.datetime, max_skew_seconds: int = 300,
                    max_age_seconds: int | None = None,
                    limits: XmlLimits = _LIMITS) -> VerifiedSoap:
    """Verify the WS-Security signature of ``envelope`` (left unchanged); return what it signs.

    ``owner`` is the partner the message must come from (its certificate in ``trust``, valid at
    ``now``); ``max_skew_seconds`` is how far ahead of ``now`` a Created time may be;
    ``max_age_seconds`` (if given) how long after its Created time a message is still accepted,
    whatever its Expires says (a sender's far-off Expires does not keep it fresh for ever).
    """
    namespace = _namespace(envelope, malformed=True)
    body = _body(envelope, namespace, malformed=True)
    security = _security(envelope, namespace)
    signature, timestamp = _parts(security)
    verified = verify_references(signature, trust, owner=owner, key_info=TOKEN_REFERENCE,
                                 at=_utc(now), limits=limits)
    body_id = _covered(verified, body, "Body", "the envelope's Body")
    timestamp_id = _covered(verified, timestamp, "Timestamp",
                            "the Timestamp of the wsse:Security header")
    created, expires = _fresh(verified.element(timestamp_id, tag=TIMESTAMP), _utc(now),
                              max_skew_seconds, max_age_seconds)
    signature_value = (signature.findtext(f"{{{DS}}}SignatureValue") or "").encode("ascii")
    return VerifiedSoap(verified.element(body_id, tag=body.tag), verified.signer, created,
                        expires, namespace, hashlib.sha256(b"".join(signature_value.split()))
                        .hexdigest())


#: The WSS 1.0 fault (``wsse:`` local name) a SOAP endpoint answers each refusal with.
_FAULTS = {"GW-WSS-TIMESTAMP": "MessageExpired",
           "GW-SIGNATURE-DIGEST": "FailedCheck", "GW-SIGNATURE-INVALID": "FailedCheck",
           "GW-SIGNATURE-UNKNOWN-KEY": "FailedAuthentication",
           "GW-SIGNATURE-WRONG-SIGNER": "FailedAuthentication",
           "GW-SIGNATURE-EXPIRED": "FailedAuthentication"}


def fault_code(error: GatewayError) -> str:
    """``wsse:InvalidSecurity``, ``wsse:FailedCheck``, … as a Clark name, for ``error``."""
    return f"{{{WSSE_NS}}}{_FAULTS.get(error.code, 'InvalidSecurity')}"


# --- reading --------------------------------------------------------------------------------

def _namespace(envelope: etree._Element, *, malformed: bool = False) -> str:
    qname = etree.QName(envelope)
    if qname.localname != "Envelope" or qname.namespace not in (SOAP11, SOAP12):
        message = f"{qname.text} is not a SOAP 1.1 or 1.2 Envelope"
        if malformed:
            raise MalformedXml(message, code="GW-SOAP-ENVELOPE")
        raise ValueError(message)
    return str(qname.namespace)


def _body(envelope: etree._Element, namespace: str, *, malformed: bool = False
          ) -> etree._Element:
    bodies = [c for c in envelope if c.tag == f"{{{namespace}}}Body"]
    if len(bodies) != 1:
        message = f"the Envelope has {len(bodies)} Body elements; exactly one is accepted"
        if malformed:
            raise MalformedXml(message, code="GW-SOAP-ENVELOPE")
        raise ValueError(message)
    return bodies[0]


def _header(envelope: etree._Element, namespace: str, *, create: bool = False
            ) -> etree._Element | None:
    headers = [c for c in envelope if c.tag == f"{{{namespace}}}Header"]
    if len(headers) > 1:
        raise MalformedXml("the Envelope has several Header elements", code="GW-SOAP-ENVELOPE")
    if headers or not create:
        return headers[0] if headers else None
    header = etree.SubElement(envelope, f"{{{namespace}}}Header")   # the envelope's prefix
    envelope.insert(0, header)
    return header


def _our_security_headers(header: etree._Element, namespace: str) -> list[etree._Element]:
    role = _ROLE_ATTRIBUTE[namespace]
    return [block for block in header if block.tag == SECURITY
            and (block.get(role) is None or block.get(role) in _OUR_ROLES[namespace])]


def _security(envelope: etree._Element, namespace: str) -> etree._Element:
    header = _header(envelope, namespace)
    blocks = [] if header is None else _our_security_headers(header, namespace)
    if not blocks:
        raise WsSecurityMissing("the message carries no wsse:Security header addressed to us: "
                                "it must be signed with WS-Security")
    if len(blocks) > 1:
        raise WsSecurityInvalid(f"the message carries {len(blocks)} wsse:Security headers "
                                "addressed to us; exactly one is accepted")
    return blocks[0]


def _parts(security: etree._Element) -> tuple[etree._Element, etree._Element]:
    """The Signature and the Timestamp of the Security header, which holds nothing else."""
    found: dict[str, list[etree._Element]] = {SIGNATURE: [], TIMESTAMP: [],
                                              BINARY_SECURITY_TOKEN: []}
    for child in security:
        if not isinstance(child.tag, str) or child.tag not in found:
            raise WsSecurityInvalid(
                f"wsse:Security holds {_label(child)}, which this profile does not process; "
                "only wsu:Timestamp, wsse:BinarySecurityToken and ds:Signature are accepted")
        found[child.tag].append(child)
    if (security.text or "").strip() or any((c.tail or "").strip() for c in security):
        raise WsSecurityInvalid("wsse:Security contains text")
    signatures, timestamps = found[SIGNATURE], found[TIMESTAMP]
    if not signatures:
        raise WsSecurityMissing("the wsse:Security header carries no ds:Signature")
    for elements in found.values():
        if len(elements) > 1:
            raise WsSecurityInvalid(f"the wsse:Security header carries {len(elements)} "
                                    f"{_label(elements[0])} elements; exactly one is accepted")
    if not timestamps:
        raise TimestampRefused("the wsse:Security header carries no wsu:Timestamp")
    return signatures[0], timestamps[0]     # the token: found through the signature's KeyInfo


def _covered(verified: VerifiedReferences, element: etree._Element, what: str,
             which: str) -> str:
    """The Id by which the signature covers ``element`` itself; refuse anything else."""
    ref_id = element.get(WSU_ID)
    if ref_id is not None and ref_id in verified.by_id:
        if element_with_id(element, ref_id, (WSU_ID,)) is not element:      # defensive
            raise SignatureWrapping(f"#{ref_id} does not name {which}")
        return ref_id
    elsewhere = sorted(i for i, v in verified.by_id.items() if v.element.tag == element.tag)
    if elsewhere:
        raise SignatureWrapping(
            f"the signature covers a {what} (#{', #'.join(elsewhere)}) that is not {which} "
            f"(wsu:Id {ref_id!r}): signature wrapping, refused")
    raise WsSecurityInvalid(f"the signature does not cover {which}: both the Body and the "
                            "Timestamp must be signed", code="GW-WSS-COVERAGE")


def _fresh(timestamp: etree._Element, now: dt.datetime, max_skew_seconds: int,
           max_age_seconds: int | None = None) -> tuple[dt.datetime, dt.datetime]:
    """Created and Expires of the (verified) Timestamp, checked against ``now``."""
    children = list(timestamp)
    if [c.tag for c in children] != [_CREATED, _EXPIRES] or any(
            c.attrib or len(c) for c in children) or set(timestamp.keys()) != {WSU_ID}:
        raise TimestampRefused("wsu:Timestamp must hold exactly wsu:Created then wsu:Expires, "
                               "without attributes")
    created, expires = (_parse_time(c) for c in children)
    if expires <= created:
        raise TimestampRefused(f"wsu:Expires {_format(expires)} is not after wsu:Created "
                               f"{_format(created)}")
    if created > now + dt.timedelta(seconds=max_skew_seconds):
        raise TimestampRefused(f"wsu:Created {_format(created)} is in the future (now "
                               f"{_format(now)}, {max_skew_seconds} s of clock skew allowed)")
    if expires <= now:
        raise TimestampRefused(f"the message expired at {_format(expires)} (now "
                               f"{_format(now)})")
    if max_age_seconds is not None and created + dt.timedelta(seconds=max_age_seconds) <= now:
        raise TimestampRefused(f"the message was created at {_format(created)}, more than "
                               f"{max_age_seconds} s ago (now {_format(now)}): sign it again")
    return created, expires


def _parse_time(element: etree._Element) -> dt.datetime:
    text = (element.text or "").strip()
    match = _UTC_DATETIME.fullmatch(text)
    try:
        if match is None:
            raise ValueError(text)
        fraction = (match.group(2) or "").ljust(6, "0")[:6]
        return dt.datetime.fromisoformat(f"{match.group(1)}.{fraction}+00:00")
    except ValueError as exc:
        raise TimestampRefused(
            f"wsu:{etree.QName(element).localname} {text[:40]!r} is not an xsd:dateTime in "
            "UTC (YYYY-MM-DDThh:mm:ss[.fff]Z)") from exc


def _label(node: etree._Element) -> str:
    if not isinstance(node.tag, str):
        return "a comment or processing instruction"
    qname = etree.QName(node)
    prefix = {DS: "ds", WSSE_NS: "wsse", WSU_NS: "wsu"}.get(qname.namespace or "")
    return f"{prefix}:{qname.localname}" if prefix else qname.text


# --- writing --------------------------------------------------------------------------------

def _utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return moment.astimezone(dt.UTC)


def _format(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _declare_wsu(body: etree._Element) -> None:
    """Declare the ``wsu`` prefix on the Body, so its Id reads ``wsu:Id`` (not ``ns0:Id``).

    Every prefix in scope anywhere below is kept: a prefix used only inside text (an
    ``xsi:type`` value) must not lose its declaration. lxml cannot be told to keep a default
    namespace declaration, so where one is in scope the Body is left as it is (lxml then
    names the prefix itself).
    """
    if body.nsmap.get("wsu", WSU_NS) != WSU_NS:
        return                                    # "wsu" means something else here
    scopes = [element.nsmap for element in body.iter() if isinstance(element.tag, str)]
    if any(None in scope for scope in scopes):
        return
    keep = {prefix for scope in scopes for prefix in scope if prefix}
    etree.cleanup_namespaces(body, top_nsmap={"wsu": WSU_NS},
                             keep_ns_prefixes=sorted(keep | {"wsu"}))
