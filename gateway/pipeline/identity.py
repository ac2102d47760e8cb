"""Signed-document identity: the partner is whoever's certificate verifies the document.

A neighbouring customs administration sends its CD messages over AMQP, with no token: each
message carries an enveloped XML-DSig signature by the administration's key, and the partner
registry says that this partner's identity is its signature (``identity = "signature"``, its
``certificates`` — several for rotation — in the trust store). The front pipeline runs::

    authenticate (token channels) -> parse -> identify -> authenticate_signature
    (signature channels) -> authorise -> …

``authenticate_signature`` acts only where the channel carries no token (``Exchange.identity
== "signature"``): it verifies the signature against every trusted certificate (the signer is
*found*, not claimed), takes the partner the certificate belongs to — refused unless that
partner's identity is ``signature`` — and from then on the exchange's document **is** the
verified element (re-parsed from the digested bytes, the received line numbers kept), its
message type and message id read again from it. The ``Id`` attribute the signature references
is the signer's handle on the root, not business data (P5 roots declare none): it is removed,
so the schema validates, the mapping reads and the digest covers exactly the business
document. A message the signature does not cover, or a signer not in the trust store, or one
whose identity is a token, never gets a partner.

``signer_is_sender`` (a kind step of ``movement_message``): a customs-to-customs message names
its sender (``messageSender``, ``NTA.<country>``); it must be the administration that signed
it — else ``403 GW-AUTH-SENDER`` — so one administration cannot speak for another even with a
key this gateway trusts.
"""

from __future__ import annotations

from gateway.canonical.movement import CUSTOMS_TO_CUSTOMS, MovementMessage
from gateway.errors import Forbidden, Problem
from gateway.message_types import MessageTypeRegistry
from gateway.partners import SIGNATURE, PartnerRegistry
from gateway.pipeline.exchange import Exchange
from gateway.pipeline.pipeline import Step
from gateway.pipeline.steps import document_digest
from gateway.pipeline.trust_steps import keep_source_lines
from gateway.signing.keys import TrustStore
from gateway.signing.xmldsig import verify_enveloped
from gateway.xml.safe_parser import XmlLimits

SENDER_PREFIX = "NTA."       # an NCTS national transit application: NTA.<country>


def authenticate_signature(partners: PartnerRegistry, trust: TrustStore,
                           registry: MessageTypeRegistry, limits: XmlLimits) -> Step:
    def step(ex: Exchange) -> Exchange:
        if ex.identity != SIGNATURE:
            return ex
        assert ex.document is not None
        verified = verify_enveloped(ex.document, trust, limits=limits)
        partner = partners.signed_by(verified.owner)
        element = verified.element
        keep_source_lines(ex.document, element)
        if element.get("Id") == verified.reference_id:
            del element.attrib["Id"]
        found = registry.identify(element)
        ex.document, ex.partner, ex.signer_key_id = element, partner, verified.key_id
        ex.document_digest = document_digest(element)
        ex.message_type, ex.document_message_id = found.message_type, found.message_id
        ex.stated_version = found.stated_version
        return ex
    return step


def signer_is_sender(ex: Exchange) -> Exchange:
    """A customs-to-customs message's ``messageSender`` is ``NTA.<the signer's country>``."""
    message = ex.canonical
    if ex.identity != SIGNATURE or not isinstance(message, MovementMessage) \
            or message.direction != CUSTOMS_TO_CUSTOMS:
        return ex
    assert ex.partner is not None
    expected = f"{SENDER_PREFIX}{ex.partner.country}"
    stated = message.header.sender
    if stated != expected:
        text = (f"the message names {stated!r} as its sender but is signed by "
                f"{ex.partner.id!r} ({expected})")
        raise Forbidden(text, code="GW-AUTH-SENDER", problems=[Problem(
            "GW-AUTH-SENDER", text, pointer=f"/{message.message_type}/messageSender",
            value=stated)])
    return ex
