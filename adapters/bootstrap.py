"""One place wires everything: configuration, schemas, mappings, keys, journal, RabbitMQ.

``build_gateway(settings)`` reads and compiles everything once (schemas, mappings, keys,
partner registry, routes, topology) and returns a ``Gateway`` whose ``start()`` runs the
background work on the current event loop: the outbox relay, the event consumers and the
push deliverer, the AMQP intake of other customs administrations' CD messages and the links
to them (``config/link.toml``) — plus, in sandbox mode, the stand-in partners. Nothing here
runs at import. Every config file is the deployment's (``Settings.config_file``: its own
folder's, else the shared one), so a second country is a folder of data.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from adapters.amqp.event_consumer import EventConsumer
from adapters.amqp.intake_consumer import CustomsIntakeConsumer
from adapters.amqp.link import CustomsLink
from adapters.amqp.relay import OutboxRelay
from adapters.amqp.topology import Names, connect, declare
from adapters.licence_flow import LicenceReservations, licence_reservations
from adapters.observability import PrometheusMetrics
from adapters.push import PushDeliverer
from adapters.push_transports import PartnerDeliveries, SoapPartnerDelivery
from adapters.store.licence_store import LicenceStoreSql
from adapters.store.movement_store import MovementStoreSql
from adapters.store.payment_ledger import PaymentLedgerStore
from adapters.store.sqlite_journal import SqliteJournal, sqlite_path
from adapters.store.wss_replays import ReplayStore
from gateway.administrations import Administration, LinkConfig
from gateway.bus_topology import Topology
from gateway.canonical.kinds import CanonicalKinds, default_kinds
from gateway.canonical.licensing_rules import LicensingRequirements
from gateway.checking import DocumentChecker
from gateway.documents.answers import AnswerFormats, GatewayReceipts
from gateway.documents.ncts_answers import NctsAnswers
from gateway.errors import ConfigurationError
from gateway.events.config import ConsumerSpec, load_consumers
from gateway.events.service import EventHandler, EventService
from gateway.flows.clearance_decisions import ClearanceDecisionHandler
from gateway.flows.payments.assessments import DutyAssessmentHandler
from gateway.flows.payments.intake_effect import PaymentIntake
from gateway.flows.transit.events import MovementEventHandler
from gateway.flows.transit.intake_effect import MovementIntake
from gateway.flows.transit.outbound import NctsOutbound, schema_check
from gateway.flows.transit.store import FLOW as MOVEMENTS
from gateway.mapping.engine import Mapping, load_mapping
from gateway.message_types import MessageTypeRegistry
from gateway.metrics import Metrics
from gateway.partners import PartnerRegistry
from gateway.pipeline.assembly import check_pipelines, intake_pipelines
from gateway.pipeline.intake import IntakeService
from gateway.routing import RoutingTable
from gateway.settings import Settings
from gateway.signing.keys import SigningKey, TrustStore
from gateway.signing.xmldsig import XmlSigner
from gateway.xml.safe_parser import XmlLimits

log = structlog.get_logger("gateway.bootstrap")
GATEWAY_OWNER = "gateway"
ALL, HTTP, MESSAGING = "all", "http", "messaging"


def flow_stores() -> list[Any]:
    """Every flow's own tables (payments, licences, …), created and bound with the journal's."""
    return [PaymentLedgerStore(), LicenceStoreSql(),
            ReplayStore(),     # WS-Security signatures accepted: replays refused (soap.py)
            MovementStoreSql()]    # flow F4: movements per role and MRN, their steps


def open_journal(settings: Settings) -> Any:
    url = settings.journal_url
    if url.startswith("sqlite:///"):
        return SqliteJournal(sqlite_path(url), flow_stores()).open()
    if url.startswith(("postgresql://", "postgres://")):
        from adapters.store.postgres_journal import PostgresJournal  # psycopg: only if used

        return PostgresJournal(url, flow_stores()).open()
    raise ConfigurationError(f"GATEWAY_DB_URL must be sqlite:///… or postgresql://…, not {url!r}")


def load_signing_key(settings: Settings, name: str) -> SigningKey:
    return SigningKey.load(settings.keys_dir / f"{name}.key", settings.keys_dir / f"{name}.crt")


def load_trust(settings: Settings, partners: PartnerRegistry) -> TrustStore:
    trust = TrustStore()
    for partner in partners.partners.values():
        for cert in partner.certificates:
            trust.add_pem_file(partner.id, settings.var_dir / cert)
    return trust


@dataclass
class Gateway:
    settings: Settings
    registry: MessageTypeRegistry
    partners: PartnerRegistry
    routing: RoutingTable
    topology: Topology
    names: Names
    journal: Any
    metrics: PrometheusMetrics
    signer: XmlSigner
    bus_key: SigningKey
    trust: TrustStore
    intake: IntakeService
    events: dict[str, tuple[ConsumerSpec, EventService]]     # consumer name -> spec, service
    limits: XmlLimits
    payments: PaymentIntake | None = None      # flow F2: matching, also for `gateway parked`
    administration: Administration | None = None   # flow F4: who we are (administration.toml)
    link: LinkConfig = field(default_factory=LinkConfig)   # flow F4: the other administrations
    customs_intake: CustomsIntakeConsumer | None = None
    links: list[CustomsLink] = field(default_factory=list)
    relay: OutboxRelay | None = None
    consumers: list[EventConsumer] = field(default_factory=list)
    pusher: PushDeliverer | None = None
    licences: LicenceReservations | None = None    # flow F3: reservations with the agencies
    background: list[Any] = field(default_factory=list)
    role: str = ALL
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self, *, sandbox: bool = False, role: str = ALL) -> None:
        """Start the background work of ``role``.

        ``all`` (one process: HTTP and messaging), ``http`` (the intake only: several HTTP
        worker processes share one messaging process), ``messaging`` (relay, decision
        consumer, pushes, and the stand-ins in sandbox mode; no HTTP).
        """
        self.role = role
        if role == HTTP:
            return
        owner = f"{self.settings.instance_id}:{os.getpid()}"
        self.relay = OutboxRelay(
            self.journal, amqp_url=self.settings.amqp_url, names=self.names,
            parking_exchange=self.topology.parking_exchange, owner=owner, metrics=self.metrics,
            prepare=lambda channel: declare(channel, self.topology, self.names),
            # no commit in this process wakes the relay when HTTP runs elsewhere: poll often
            idle_poll=0.05 if role == MESSAGING else 1.0)
        self.pusher = PushDeliverer(
            self.journal, owner=owner, metrics=self.metrics,
            max_attempts=self.settings.push_max_attempts,
            transport=PartnerDeliveries(self.partners, soap=SoapPartnerDelivery(
                self.bus_key, self.trust)))     # per partner: HTTP callback or its SOAP service
        self.consumers = [EventConsumer(
            service, amqp_url=self.settings.amqp_url, names=self.names, queue=spec.queue,
            default_event_type=spec.default_event_type,
            parking_exchange=self.topology.parking_exchange, metrics=self.metrics,
            on_applied=self._applied,          # notifications to push, outbox rows to publish
            prepare=lambda channel: declare(channel, self.topology, self.names))
            for spec, service in self.events.values()]
        self.intake.after_commit = self.relay.wake
        self._customs_link()
        await self.declare_topology()
        self.background = [self.relay, *self.consumers, self.pusher, *self._agency_caller(owner),
                           *([self.customs_intake] if self.customs_intake else []), *self.links]
        if sandbox:
            self.background.extend(self._standins())
        self._tasks = [asyncio.create_task(part.run(), name=type(part).__name__)
                       for part in self.background]

    async def declare_topology(self) -> bool:
        """Declare exchanges and queues; if RabbitMQ is down, say so and carry on."""
        try:
            connection = await connect(self.settings.amqp_url, "gateway-topology")
        except Exception as exc:  # noqa: BLE001 - the gateway still accepts into the journal
            log.error("amqp.unreachable", error=f"{type(exc).__name__}: {exc}",
                      hint="messages are journaled and published when RabbitMQ is back")
            return False
        async with connection:
            await declare(await connection.channel(), self.topology, self.names)
        return True

    def _applied(self) -> None:
        """An event was applied: its notifications and outbox rows (a CD001C at release …)
        go now, not at the next poll."""
        if self.pusher is not None:
            self.pusher.wake()
        if self.relay is not None:
            self.relay.wake()
        if self.licences is not None:      # an agency call may be due (a reservation …)
            self.licences.wake()

    def _agency_caller(self, owner: str) -> list[Any]:
        """Flow F3: the caller of the agencies' quantity services (after each commit)."""
        if self.licences is None:
            return []
        return [self.licences.caller(self.journal, key=self.bus_key, trust=self.trust,
                                     owner=owner, after_commit=self._applied)]

    def _customs_link(self) -> None:
        """Flow F4: the AMQP intake of CD messages, and a link to each peer whose broker the
        deployment names (``config/link.toml``; the others' messages wait in their queue)."""
        def prepare(channel: Any) -> Any:
            return declare(channel, self.topology, self.names)

        self.customs_intake = CustomsIntakeConsumer(
            self.intake, amqp_url=self.settings.amqp_url, names=self.names, link=self.link,
            parking_exchange=self.topology.parking_exchange, metrics=self.metrics,
            prepare=prepare)
        self.links = []
        for peer in self.link.peers:
            if peer.amqp_url is None:
                log.info("link.off", peer=peer.country, queue=self.names(peer.queue),
                         hint=f"set GATEWAY_LINK_{peer.country}_AMQP_URL to deliver to it")
                continue
            self.links.append(CustomsLink(
                peer, amqp_url=self.settings.amqp_url, names=self.names,
                country=self.settings.country, metrics=self.metrics, prepare=prepare))

    def _standins(self) -> list[Any]:
        from adapters.standins.clearance import ClearanceStandIn
        from adapters.standins.clearance_ledger import ClearanceLedger, ledger_path
        from adapters.standins.clearance_rules import ClearanceRules
        from adapters.standins.transit import TransitStandIn

        trust = TrustStore()
        trust.add(GATEWAY_OWNER, self.bus_key.certificate)
        return [ClearanceStandIn(
            amqp_url=self.settings.amqp_url, names=self.names,
            queue=self.topology.clearance_queue, decisions_exchange="customs.decisions",
            parking_exchange=self.topology.parking_exchange,
            key=load_signing_key(self.settings, "clearance"), trust=trust,
            rules=ClearanceRules.load(self.settings.config_file("standins/clearance.toml")),
            ledger=ClearanceLedger(ledger_path(self.settings.var_dir)),
            payments_queue="clearance.payments",      # flow F2: release once paid
            licences_queue="clearance.licences",      # flow F3: release once reserved
            licensing=self.licences.licensing if self.licences else None),
            TransitStandIn(                           # flow F4: MRN, release, arrival …
                amqp_url=self.settings.amqp_url, names=self.names, queue="clearance.transit",
                decisions_exchange="customs.decisions",
                parking_exchange=self.topology.parking_exchange,
                key=load_signing_key(self.settings, "clearance"), trust=trust,
                country=self.settings.country)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=10)
        for part in self.background:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(part.stop(), 10)
        self.journal.close()

    def readiness(self) -> dict[str, Any]:
        try:
            journal_ok = bool(self.journal.ping())
        except Exception:  # noqa: BLE001 - reported, not raised
            journal_ok = False
        if self.role == HTTP:
            amqp_ok = messaging_ready(self.settings)
        else:
            amqp_ok = self.messaging_connected()
        return {"ready": journal_ok and amqp_ok, "journal": journal_ok, "rabbitmq": amqp_ok}

    def messaging_connected(self) -> bool:
        return bool(self.relay and self.relay.connected and self.consumers
                    and all(consumer.connected for consumer in self.consumers)
                    and (self.customs_intake is None or self.customs_intake.connected))


def heartbeat_path(settings: Settings) -> Path:
    return settings.var_dir / f"messaging-{settings.instance_id}.json"


def messaging_ready(settings: Settings, max_age: float = 5.0) -> bool:
    """Whether this instance's messaging process reported itself connected recently."""
    try:
        beat = json.loads(heartbeat_path(settings).read_text("utf-8"))
    except (OSError, ValueError):
        return False
    return bool(beat.get("rabbitmq")) and time.time() - float(beat.get("at", 0)) < max_age


def build_gateway(settings: Settings, *, gateway_url: str = "",
                  metrics: Metrics | None = None) -> Gateway:
    """Read, compile and load everything once."""
    registry, mappings, kinds = load_formats(settings)
    routing = RoutingTable.load(settings.config_file("routes.toml"))
    partners = PartnerRegistry.load(settings.config_file("partners.toml"),
                                    settings.credentials_path, gateway_url or settings.public_url)
    administration, link = load_administration(settings, partners)
    topology = link.with_topology(Topology.load(settings.config_file("topology.toml")))
    _check_routes(routing, topology)
    signer_key = load_signing_key(settings, "gateway")
    signer = XmlSigner(signer_key)
    trust = load_trust(settings, partners)
    journal = open_journal(settings)
    prom = metrics if isinstance(metrics, PrometheusMetrics) else PrometheusMetrics()
    limits = XmlLimits(settings.max_body_bytes, settings.max_depth, settings.max_elements)
    pipelines = intake_pipelines(
        partners=partners, limits=limits, registry=registry, mappings=mappings, kinds=kinds,
        routing=routing, parking_exchange=topology.parking_exchange, bus_key=signer_key,
        trust=trust)
    answers = AnswerFormats((GatewayReceipts(), NctsAnswers(settings.country)))
    answers.check((mt.id, mt.answer) for mt in registry)
    transit = NctsOutbound(signer=signer, bus_key=signer_key, routing=routing,
                           parking_exchange=topology.parking_exchange, partners=partners,
                           country=settings.country, validate=schema_check(registry))
    payments = PaymentIntake(signer=signer, bus_key=signer_key, routing=routing,
                             parking_exchange=topology.parking_exchange, partners=partners)
    licences = licence_reservations(settings, signer=signer, bus_key=signer_key,
                                    routing=routing, parking_exchange=topology.parking_exchange,
                                    partners=partners)
    intake = IntakeService(front=pipelines.front, back=pipelines.back, journal=journal,
                           signer=signer, metrics=prom, problem_cap=settings.problem_cap,
                           answers=answers, effects={"payment_notification": payments,
                                                     "licence": licences.licence_intake,
                                                     "declaration": licences.requests,
                                                     "movement_message": MovementIntake(transit)})
    handlers: list[EventHandler] = [ClearanceDecisionHandler(
        signer=signer, partners=partners, metrics=prom, country=settings.country,
        agency=settings.agency), DutyAssessmentHandler(),
        MovementEventHandler(transit, movements=lambda: journal.flow(MOVEMENTS)),
        licences.handler]
    events = {spec.name: (spec, EventService(
        spec.name, spec.routes, handlers, trust=trust, store=journal, reads=journal,
        metrics=prom)) for spec in load_consumers(settings.config_file("events.toml"))}
    return Gateway(settings, registry, partners, routing, topology, Names(settings.amqp_prefix),
                   journal, prom, signer, signer_key, trust, intake, events, limits, payments,
                   administration=administration, link=link, licences=licences)


def load_administration(settings: Settings, partners: PartnerRegistry) -> tuple[
        Administration | None, LinkConfig]:
    """This deployment's administration (checked against ``GATEWAY_COUNTRY``) and its link
    peers (each checked against the partner registry)."""
    path = settings.config_file("administration.toml")
    administration = Administration.load(path, country=settings.country) \
        if path.is_file() else None
    link = LinkConfig.load(settings.config_file("link.toml"), setting=settings.link_setting)
    link.check_partners(partners.partners)
    return administration, link


def load_topology(settings: Settings) -> Topology:
    """The deployment's whole topology: ``topology.toml`` and the link queues of its peers
    (``gateway topology declare/delete``, tests)."""
    link = LinkConfig.load(settings.config_file("link.toml"), setting=settings.link_setting)
    return link.with_topology(Topology.load(settings.config_file("topology.toml")))


def load_formats(settings: Settings) -> tuple[MessageTypeRegistry, dict[str, Mapping],
                                               CanonicalKinds]:
    """The message-type registry with compiled schemas, the compiled mappings, the kinds."""
    registry = MessageTypeRegistry.load(settings.config_file("message_types.toml"),
                                        settings.schemas_dir, dict(settings.xsd_dirs))
    mappings = {mt.mapping_file: load_mapping(settings.mappings_dir / mt.mapping_file)
                for mt in registry}
    kinds = default_kinds(LicensingRequirements.load(settings.config_file("licensing.toml")))
    kinds.check_message_types(registry)        # unknown kind or business rule: refuse to start
    return registry, mappings, kinds


def document_checker(settings: Settings) -> DocumentChecker:
    """The intake's own checks (same steps), for ``gateway validate``."""
    registry, mappings, kinds = load_formats(settings)
    limits = XmlLimits(settings.max_body_bytes, settings.max_depth, settings.max_elements)
    return DocumentChecker(check_pipelines(limits=limits, registry=registry, mappings=mappings,
                                           kinds=kinds))


def _check_routes(routing: RoutingTable, topology: Topology) -> None:
    declared = {e.name for e in topology.exchanges}
    for route in routing.routes:
        if route.exchange not in declared:
            raise ConfigurationError(f"route {route.name!r} targets undeclared exchange "
                                     f"{route.exchange!r}")
