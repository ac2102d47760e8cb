"""Back-pipeline steps that decide whether the sender is trusted for what its document says.

Every back pipeline runs both; each does nothing unless the registry or the kind asks for it.

``verify_signature`` — first, before the schema: for a message type whose registry entry says
``signature = "required"`` (licences and certificates from agencies), the document must carry
an enveloped XML-DSig signature (``ds:Signature``, a child of the root, referencing the root's
``Id``) by the sending partner's own key, whose certificate the partner registry lists. The
verifier returns the signed element re-parsed from the digested bytes; from here on the
exchange's document *is* that element (the schema validates it, the mapping reads it), so
nothing the signature does not cover can reach the canonical licence. Its elements get the line
numbers of the document as received, so problems still point at the sender's lines. No
signature at all is ``401 GW-SIGNATURE-REQUIRED``; a wrong one the verifier's own code
(``GW-SIGNATURE-DIGEST``, ``-WRONG-SIGNER``, ``-UNKNOWN-KEY``, ``-PROFILE`` …, 400).

``authorise_document_type`` — after the mapping: for a kind that states a document type
(``CanonicalKind.document_type``: a licence's certificate type code or licence type), a
partner whose ``allowed_document_types`` list the types for this message type may send only
those: another one is ``403 GW-AUTH-DOCUMENT-TYPE``, located where the document states it.

``set_aside_signature`` is ``gateway validate``'s stand-in for the first: without a partner
there is no key to verify against, so the enveloped signature is removed unverified and the
document checked as the intake would check what was signed.
"""

from __future__ import annotations

from lxml import etree

from gateway.canonical.kinds import CanonicalKinds
from gateway.errors import Forbidden, Problem, SignatureInvalid
from gateway.pipeline.exchange import Exchange
from gateway.pipeline.pipeline import Step
from gateway.signing.keys import TrustStore
from gateway.signing.xmldsig import DS, verify_enveloped
from gateway.xml.safe_parser import XmlLimits
from gateway.xml.schema_problems import local_pointer

REQUIRED = "required"
_SIGNATURE = f"{{{DS}}}Signature"


class SignatureRequired(SignatureInvalid):
    """A document its message type requires to be signed carries no signature at all."""

    code = "GW-SIGNATURE-REQUIRED"
    http_status = 401


def verify_signature(trust: TrustStore, limits: XmlLimits) -> Step:
    def step(ex: Exchange) -> Exchange:
        assert ex.message_type is not None and ex.document is not None
        if ex.message_type.signature != REQUIRED or ex.signer_key_id is not None:
            return ex          # not required, or verified already (signature identity)
        assert ex.partner is not None
        document = ex.document
        if next(document.iter(_SIGNATURE), None) is None:
            raise SignatureRequired(
                f"a {ex.message_type.name} must carry the issuer's enveloped XML-DSig "
                f"signature (ds:Signature as the last child of the root, referencing its Id)",
                problems=[Problem(SignatureRequired.code, "the document is not signed",
                                  pointer=local_pointer(document), line=document.sourceline)])
        verified = verify_enveloped(document, trust, owner=ex.partner.id, limits=limits)
        keep_source_lines(document, verified.element)
        ex.document = verified.element
        return ex
    return step


def set_aside_signature(ex: Exchange) -> Exchange:
    """Remove an enveloped signature, unverified (``gateway validate`` has no partner key)."""
    assert ex.message_type is not None and ex.document is not None
    if ex.message_type.signature == REQUIRED:
        for signature in ex.document.findall(_SIGNATURE):
            _remove(signature)
    return ex


def authorise_document_type(kinds: CanonicalKinds) -> Step:
    def step(ex: Exchange) -> Exchange:
        assert ex.message_type is not None and ex.partner is not None
        kind = kinds.get(ex.message_type.canonical_kind)
        found = kind.document_type(ex.canonical) if kind.document_type is not None else None
        if found is None or ex.partner.may_issue(ex.message_type.id, found.code):
            return ex
        message = (f"partner {ex.partner.id!r} may not send a {ex.message_type.name} of type "
                   f"{found.code!r}")
        raise Forbidden(message, code="GW-AUTH-DOCUMENT-TYPE", problems=[Problem(
            "GW-AUTH-DOCUMENT-TYPE", message, pointer=found.pointer,
            line=_line_of(ex.document, found.pointer), value=found.code)])
    return step


def keep_source_lines(received: etree._Element, signed: etree._Element) -> None:
    """Give the signed element's elements the lines of their twins in the received document.

    Both trees hold the same elements in the same order (the signed bytes are the received
    element without its signature); if they somehow do not, the lines are left as parsed.
    """
    twins = [e for e in received.iter(etree.Element)
             if e.tag != _SIGNATURE and not any(a.tag == _SIGNATURE for a in e.iterancestors())]
    mine = list(signed.iter(etree.Element))
    if len(twins) != len(mine) or any(a.tag != b.tag for a, b in zip(twins, mine, strict=True)):
        return
    for twin, element in zip(twins, mine, strict=True):
        if twin.sourceline is not None:
            element.sourceline = twin.sourceline


def _remove(element: etree._Element) -> None:
    parent = element.getparent()
    if parent is None:
        return
    if element.tail:                  # keep the text after it, as the enveloped transform does
        previous = element.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + element.tail
        else:
            parent.text = (parent.text or "") + element.tail
    parent.remove(element)


def _line_of(document: etree._Element | None, pointer: str | None) -> int | None:
    """The line of the first element at a local-name ``pointer`` (``/Licence/Type``)."""
    if document is None or not pointer:
        return None
    steps = pointer.strip("/").split("/")
    if not steps or etree.QName(document).localname != steps[0]:
        return None
    node: etree._Element | None = document
    for name in steps[1:]:
        assert node is not None
        node = next((c for c in node if isinstance(c.tag, str)
                     and etree.QName(c).localname == name), None)
        if node is None:
            return None
    return node.sourceline if node is not None else None
