"""The intake steps, each ``step(exchange) -> exchange``, in the order they run.

    authenticate -> parse -> identify -> [authenticate_signature] -> authorise
    -> idempotency_key                                                    (front: cheap checks)
    [duplicate check against the journal, in intake.py]
    validate -> map_to_canonical -> route -> sign_outbound                 (back: the real work)

A step raises a ``GatewayError`` to stop the message; ``intake.py`` turns that into a signed
rejection. Steps never touch the network or the journal.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

from lxml import etree

from gateway.canonical.kinds import CanonicalKinds
from gateway.canonical.model import to_json_bytes
from gateway.errors import InvalidMessage, NoRoute, RequestError
from gateway.idempotency import sender_key
from gateway.mapping.engine import Mapping
from gateway.message_types import MessageTypeRegistry
from gateway.partners import PartnerRegistry
from gateway.pipeline.exchange import Exchange, new_id
from gateway.pipeline.pipeline import Step
from gateway.ports import OutboundMessage
from gateway.routing import RoutingTable
from gateway.signing.detached import sign_body
from gateway.signing.keys import SigningKey
from gateway.xml.safe_parser import XmlLimits, parse_untrusted


def authenticate(partners: PartnerRegistry) -> Step:
    """The bearer token's partner; a channel whose identity is the document's signature
    (AMQP from customs administrations) is authenticated once the document is read
    (``gateway/pipeline/identity.py``)."""
    def step(ex: Exchange) -> Exchange:
        if ex.identity == "signature":
            return ex
        ex.partner = partners.authenticate(ex.authorization)
        return ex
    return step


def parse(limits: XmlLimits) -> Step:
    def step(ex: Exchange) -> Exchange:
        if ex.document is None:      # SOAP adapters hand over the Body's child, already parsed
            ex.document = parse_untrusted(ex.body, limits).getroot()
        ex.document_digest = document_digest(ex.document)
        return ex
    return step


def document_digest(document: etree._Element) -> str:
    """The SHA-256 of the business document in exclusive C14N (no comments).

    The same document has the same digest whatever carried it: posted as plain XML, or as the
    child of a SOAP Body (exclusive C14N leaves out the envelope's namespace declarations),
    with another encoding, attribute order or whitespace inside tags.
    """
    return hashlib.sha256(etree.tostring(document, method="c14n", exclusive=True,
                                         with_comments=False)).hexdigest()


def identify(registry: MessageTypeRegistry) -> Step:
    def step(ex: Exchange) -> Exchange:
        assert ex.document is not None
        found = registry.identify(ex.document)
        ex.message_type, ex.document_message_id = found.message_type, found.message_id
        ex.stated_version = found.stated_version
        return ex
    return step


def authorise(partners: PartnerRegistry) -> Step:
    def step(ex: Exchange) -> Exchange:
        assert ex.partner is not None and ex.message_type is not None
        partners.authorise(ex.partner, ex.message_type.id)
        return ex
    return step


def operation_matches(ex: Exchange) -> Exchange:
    """A document submitted through a named operation (SOAP) must be one that operation takes."""
    assert ex.message_type is not None
    if ex.operation is not None and ex.operation != ex.message_type.soap_operation:
        expected = ex.message_type.soap_operation
        raise RequestError(
            f"a {ex.message_type.name} is not submitted with {ex.operation}"
            + (f"; use {expected}" if expected else "; it is not taken over SOAP"),
            code="GW-SOAP-OPERATION")
    return ex


def idempotency_key(ex: Exchange) -> Exchange:
    """The document's own message id, else the sender's key, else the document digest.

    The sender's key (``Idempotency-Key`` header, SOAP ``wsa:MessageID``) is at most 200
    printable ASCII characters (no control characters), whitespace around it removed; a longer
    or non-printable one is refused with ``GW-IDEMPOTENCY-KEY`` (400, located at the header or
    the block) — whether or not the document has an id of its own — and never cut
    (``gateway/idempotency.py``).
    """
    assert ex.message_type is not None
    header = sender_key(ex.idempotency_header, ex.channel)
    if ex.document_message_id:
        ex.idempotency_key = f"doc:{ex.message_type.family}:{ex.document_message_id}"
    elif header:
        ex.idempotency_key = f"hdr:{header}"
    else:
        ex.idempotency_key = f"digest:{ex.document_digest}"
    return ex


def validate(registry: MessageTypeRegistry) -> Step:
    def step(ex: Exchange) -> Exchange:
        assert ex.message_type is not None and ex.document is not None
        problems = registry.validate(ex.message_type, ex.document, ex.body)
        if problems:
            raise InvalidMessage(
                f"the {ex.message_type.name} does not conform to its schema "
                f"({len(problems)} problem(s))", code="GW-XSD-INVALID", problems=problems)
        return ex
    return step


def map_to_canonical(mappings: dict[str, Mapping], kinds: CanonicalKinds) -> Step:
    def step(ex: Exchange) -> Exchange:
        assert ex.message_type is not None and ex.document is not None
        plain = mappings[ex.message_type.mapping_file].apply(ex.document, ex.body)
        kind = kinds.get(ex.message_type.canonical_kind)
        ex.canonical = kind.build(plain)
        kind.check(ex.canonical, ex.message_type.rules)   # the kind's rules + the format's
        ex.canonical_json = to_json_bytes(ex.canonical)
        ex.canonical_version = kind.version
        ex.business_reference = kind.business_reference(ex.canonical)
        ex.summary = kind.summary(ex.canonical)
        ex.routing_attributes = kind.routing_attributes(ex.canonical)
        ex.routing_attributes.update(source_format=ex.message_type.id,
                                     routing_class=ex.message_type.routing_class,
                                     partner=ex.partner.id if ex.partner else "")
        return ex
    return step


def route(routing: RoutingTable, parking_exchange: str) -> Step:
    def step(ex: Exchange) -> Exchange:
        assert ex.message_type is not None
        kind = ex.message_type.canonical_kind
        try:
            destination = routing.route_for(kind, ex.routing_attributes)
            exchange, key, extra = destination.exchange, destination.routing_key, \
                {"x-route": destination.route}
        except NoRoute as exc:
            ex.parked_reason = exc.message
            exchange, key, extra = parking_exchange, f"unrouted.{kind}", \
                {"x-gateway-reason": f"{exc.code}: {exc.message}"}
        ex.outbox.append(OutboundMessage(
            id=new_id(), conversation_id=ex.conversation_id, kind=kind,
            exchange=exchange, routing_key=key, body=ex.canonical_json,
            headers=_bus_headers(ex, extra)))
        return ex
    return step


def sign_outbound(key: SigningKey) -> Step:
    def step(ex: Exchange) -> Exchange:
        ex.outbox = [replace(m, headers={**m.headers, **sign_body(key, m.body)})
                     for m in ex.outbox]
        return ex
    return step


def _bus_headers(ex: Exchange, extra: dict[str, str]) -> dict[str, str]:
    assert ex.message_type is not None and ex.partner is not None
    headers: dict[str, Any] = {
        "x-conversation-id": ex.conversation_id,
        "x-receipt-id": ex.id,
        "x-partner": ex.partner.id,
        "x-source-format": ex.message_type.id,
        "x-canonical-kind": ex.message_type.canonical_kind,
        "x-canonical-version": ex.canonical_version,
        **extra,
    }
    if ex.business_reference:
        headers["x-reference"] = ex.business_reference
    return headers
