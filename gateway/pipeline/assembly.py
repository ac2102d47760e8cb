"""The intake's pipelines, assembled once from what bootstrap loaded.

    front (every message):   authenticate -> parse -> identify -> authenticate_signature
                             -> authorise -> operation_matches -> idempotency_key
    back  (one per kind):    verify_signature -> validate -> map_to_canonical
                             -> authorise_document_type -> [the kind's own steps]
                             -> route -> sign_outbound
    check (``gateway validate``): parse -> identify -> set_aside_signature -> validate
                             -> map_to_canonical

``authenticate`` reads the bearer token; ``authenticate_signature`` (``identity.py``) acts only
on channels whose identity is the document's signature (customs administrations over AMQP):
the signer's certificate names the partner, and the verified element becomes the document.
``verify_signature`` and ``authorise_document_type`` (``trust_steps.py``) act only where the
message type requires a signature (``signature = "required"``) and the kind states a document
type that the partner's ``allowed_document_types`` restrict.

The back pipeline is built per canonical kind, so a kind that needs a step of its own gets it
here, by name, without touching the others (``KIND_STEPS``: a payment notification's check
that the sending bank services the accounts it reports). Bootstrap, ``gateway validate``, the
unit tests and the benchmark all use these objects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gateway.canonical.kinds import CanonicalKinds
from gateway.flows.payments.servicer import account_servicer_is_sender
from gateway.mapping.engine import Mapping as MappingSpec
from gateway.message_types import MessageTypeRegistry
from gateway.partners import PartnerRegistry
from gateway.pipeline import steps
from gateway.pipeline.identity import authenticate_signature, signer_is_sender
from gateway.pipeline.pipeline import Pipeline, Step
from gateway.pipeline.trust_steps import (
    authorise_document_type,
    set_aside_signature,
    verify_signature,
)
from gateway.routing import RoutingTable
from gateway.signing.keys import SigningKey, TrustStore
from gateway.xml.safe_parser import XmlLimits

#: Steps of a kind's own, after its mapping (they may read the partner: not in ``check``).
KIND_STEPS: Mapping[str, Sequence[tuple[str, Step]]] = {
    "payment_notification": (("account_servicer_is_sender", account_servicer_is_sender),),
    "movement_message": (("signer_is_sender", signer_is_sender),),
}


@dataclass(frozen=True)
class CheckPipelines:
    """What checks a document without a partner, a journal or a bus (``gateway validate``)."""

    identify: Pipeline                    # parse -> identify
    check: Mapping[str, Pipeline]         # canonical kind -> validate -> map_to_canonical


@dataclass(frozen=True)
class IntakePipelines:
    front: Pipeline
    back: Mapping[str, Pipeline]          # canonical kind -> back pipeline

    def all(self) -> list[Pipeline]:
        return [self.front, *self.back.values()]


def check_pipelines(*, limits: XmlLimits, registry: MessageTypeRegistry,
                    mappings: Mapping[str, MappingSpec], kinds: CanonicalKinds) -> CheckPipelines:
    identify = Pipeline.of("identify", (("parse", steps.parse(limits)),
                                        ("identify", steps.identify(registry))))
    used = sorted({mt.canonical_kind for mt in registry})
    return CheckPipelines(identify, {kind: Pipeline.of(f"check:{kind}", (
        ("set_aside_signature", set_aside_signature),
        *_validate_and_map(registry, mappings, kinds),
    )) for kind in used})


def _validate_and_map(registry: MessageTypeRegistry, mappings: Mapping[str, MappingSpec],
                      kinds: CanonicalKinds) -> tuple[tuple[str, Step], ...]:
    return (("validate", steps.validate(registry)),
            ("map_to_canonical", steps.map_to_canonical(dict(mappings), kinds)))


def intake_pipelines(*, partners: PartnerRegistry, limits: XmlLimits,
                     registry: MessageTypeRegistry, mappings: Mapping[str, MappingSpec],
                     kinds: CanonicalKinds, routing: RoutingTable, parking_exchange: str,
                     bus_key: SigningKey,
                     kind_steps: Mapping[str, Sequence[tuple[str, Step]]] | None = None,
                     trust: TrustStore | None = None) -> IntakePipelines:
    """The intake's pipelines. ``trust``: the partners' certificates, which signed documents
    are verified against (none given: no signature verifies, so signed types are refused)."""
    front = Pipeline.of("front", (
        ("authenticate", steps.authenticate(partners)),
        ("parse", steps.parse(limits)),
        ("identify", steps.identify(registry)),
        ("authenticate_signature", authenticate_signature(
            partners, trust if trust is not None else TrustStore(), registry, limits)),
        ("authorise", steps.authorise(partners)),
        ("operation_matches", steps.operation_matches),
        ("idempotency_key", steps.idempotency_key),
    ))
    own = KIND_STEPS if kind_steps is None else kind_steps
    used = sorted({mt.canonical_kind for mt in registry})
    back = {kind: Pipeline.of(f"back:{kind}", (
        ("verify_signature", verify_signature(trust if trust is not None else TrustStore(),
                                               limits)),
        *_validate_and_map(registry, mappings, kinds),
        ("authorise_document_type", authorise_document_type(kinds)),
        *own.get(kind, ()),
        ("route", steps.route(routing, parking_exchange)),
        ("sign_outbound", steps.sign_outbound(bus_key)),
    )) for kind in used}
    return IntakePipelines(front, back)
