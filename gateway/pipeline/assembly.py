"""The intake's pipelines, assembled once from what bootstrap loaded.

    front (every message):   authenticate -> parse -> identify -> authorise
                             -> operation_matches -> idempotency_key
    back  (one per kind):    validate -> map_to_canonical -> [the kind's own steps]
                             -> route -> sign_outbound
    check (``gateway validate``): parse -> identify -> validate -> map_to_canonical

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
from gateway.pipeline.pipeline import Pipeline, Step
from gateway.routing import RoutingTable
from gateway.signing.keys import SigningKey
from gateway.xml.safe_parser import XmlLimits

#: Steps of a kind's own, after its mapping (they may read the partner: not in ``check``).
KIND_STEPS: Mapping[str, Sequence[tuple[str, Step]]] = {
    "payment_notification": (("account_servicer_is_sender", account_servicer_is_sender),),
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
        ("validate", steps.validate(registry)),
        ("map_to_canonical", steps.map_to_canonical(dict(mappings), kinds)),
    )) for kind in used})


def intake_pipelines(*, partners: PartnerRegistry, limits: XmlLimits,
                     registry: MessageTypeRegistry, mappings: Mapping[str, MappingSpec],
                     kinds: CanonicalKinds, routing: RoutingTable, parking_exchange: str,
                     bus_key: SigningKey,
                     kind_steps: Mapping[str, Sequence[tuple[str, Step]]] | None = None
                     ) -> IntakePipelines:
    front = Pipeline.of("front", (
        ("authenticate", steps.authenticate(partners)),
        ("parse", steps.parse(limits)),
        ("identify", steps.identify(registry)),
        ("authorise", steps.authorise(partners)),
        ("operation_matches", steps.operation_matches),
        ("idempotency_key", steps.idempotency_key),
    ))
    checks = check_pipelines(limits=limits, registry=registry, mappings=mappings, kinds=kinds)
    own = KIND_STEPS if kind_steps is None else kind_steps
    back = {kind: Pipeline.of(f"back:{kind}", (
        *check.steps,
        *own.get(kind, ()),
        ("route", steps.route(routing, parking_exchange)),
        ("sign_outbound", steps.sign_outbound(bus_key)),
    )) for kind, check in checks.check.items()}
    return IntakePipelines(front, back)
