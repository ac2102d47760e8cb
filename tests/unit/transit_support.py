"""One gateway's transit flow, wired as ``build_gateway`` wires it, for the unit tests (F4).

The registry, schemas, mappings, routes are the repository's; the partners are a registry of
the test's own (a trader, a trader allowed every P5 type — to show what a NACK sent to us gets
—, and an administration that authenticates with a token, standing in for the AMQP intake);
keys are generated; the journal is the real SQLite journal in ``tmp_path`` with the movements
store (``adapters/store/movement_store.py``), so an intake effect that refuses really rolls
its transaction back.
"""

from __future__ import annotations

import asyncio
import functools
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree
from support.ncts_trader import fixture

from adapters.bootstrap import flow_stores, load_formats
from adapters.store.sqlite_journal import SqliteJournal
from gateway.bus_topology import Topology
from gateway.canonical.model import to_json_bytes
from gateway.canonical.movement import MESSAGES, ControlResult, MovementMessage
from gateway.canonical.movement_event import EVENT_TYPES, EventError, MovementEvent
from gateway.documents.answers import AnswerFormats, GatewayReceipts
from gateway.documents.ncts_answers import NctsAnswers
from gateway.events.service import Event, EventService
from gateway.flows.transit.events import MovementEventHandler
from gateway.flows.transit.intake_effect import MovementIntake
from gateway.flows.transit.outbound import NctsOutbound, schema_check
from gateway.flows.transit.states import DEPARTURE, DESTINATION, TRANSIT
from gateway.flows.transit.store import FLOW, Movement
from gateway.identifiers import make_mrn
from gateway.metrics import RecordingMetrics
from gateway.partners import PartnerRegistry, hash_token, write_credentials
from gateway.pipeline.assembly import intake_pipelines
from gateway.pipeline.exchange import Exchange
from gateway.pipeline.intake import Answer, IntakeService
from gateway.routing import RoutingTable
from gateway.settings import Settings
from gateway.signing.detached import sign_body
from gateway.signing.keys import SigningKey, TrustStore, generate_key_pair
from gateway.signing.xmldsig import XmlSigner
from gateway.xml.safe_parser import XmlLimits

SETTINGS = Settings()
ALL_NCTS = [f"ncts-p5-{t}" for t in (
    "cc007c", "cc015c", "cc025c", "cc028c", "cc029c", "cc045c", "cc056c", "cc906c", "cc917c",
    "cc928c", "cd001c", "cd006c", "cd018c", "cd050c", "cd118c", "cd906c", "cd917c")]
PARTNERS_TEMPLATE = f"""
[[partner]]
id = "trader-haulier"
name = "trader"
kind = "trader"
allowed_message_types = ["ncts-p5-cc015c", "ncts-p5-cc007c"]

[[partner]]
id = "trader-all"
name = "a trader allowed every P5 type (to see what a NACK sent to us gets)"
kind = "trader"
allowed_message_types = {json.dumps(ALL_NCTS)}

[[partner]]
id = "customs-test"
name = "an administration with a token (the AMQP intake's stand-in)"
kind = "customs"
country = "{{neighbour}}"
allowed_message_types = {json.dumps([t for t in ALL_NCTS if "-cd" in t])}

[[partner]]
id = "broker-alpha"
name = "a broker"
kind = "broker"
allowed_message_types = ["wco-dec-3.6"]
"""
TOKENS = {"trader-haulier": "tok-trader-0123456789", "trader-all": "tok-all-0123456789",
          "customs-test": "tok-customs-0123456789", "broker-alpha": "tok-broker-0123456789"}


def make_key(directory: Path, name: str) -> SigningKey:
    key_pem, cert_pem = generate_key_pair(f"{name}.test", f"{name} test")
    (directory / f"{name}.key").write_bytes(key_pem)
    (directory / f"{name}.crt").write_bytes(cert_pem)
    return SigningKey.load(directory / f"{name}.key", directory / f"{name}.crt")


@dataclass
class TransitWorld:
    directory: Path
    key: SigningKey
    clearance: SigningKey
    trust: TrustStore
    partners: PartnerRegistry
    journal: Any
    intake: IntakeService
    outbound: NctsOutbound
    handler: MovementEventHandler
    events: EventService

    @classmethod
    def build(cls, directory: Path, *, country: str = "MK") -> TransitWorld:
        directory.mkdir(parents=True, exist_ok=True)
        key, clearance = make_key(directory, "gateway"), make_key(directory, "clearance")
        neighbour = "RS" if country == "MK" else "MK"     # the administration sending to us
        (directory / "partners.toml").write_text(
            PARTNERS_TEMPLATE.replace("{neighbour}", neighbour), encoding="utf-8")
        credentials = directory / "credentials.toml"
        write_credentials(credentials, {p: [hash_token(t)] for p, t in TOKENS.items()})
        partners = PartnerRegistry.load(directory / "partners.toml", credentials)
        trust = TrustStore()
        trust.add("gateway", key.certificate)
        trust.add("clearance", clearance.certificate)
        registry, mappings, kinds = load_formats(SETTINGS)
        routing = RoutingTable.load(SETTINGS.config_dir / "routes.toml")
        parking = Topology.load(SETTINGS.config_dir / "topology.toml").parking_exchange
        limits = XmlLimits(SETTINGS.max_body_bytes, SETTINGS.max_depth, SETTINGS.max_elements)
        pipelines = intake_pipelines(partners=partners, limits=limits, registry=registry,
                                     mappings=mappings, kinds=kinds, routing=routing,
                                     parking_exchange=parking, bus_key=key, trust=trust)
        signer = XmlSigner(key)
        journal = SqliteJournal(directory / "journal.db", flow_stores()).open()
        outbound = NctsOutbound(signer=signer, bus_key=key, routing=routing,
                                parking_exchange=parking, partners=partners, country=country,
                                validate=schema_check(registry))
        intake = IntakeService(
            front=pipelines.front, back=pipelines.back, journal=journal, signer=signer,
            metrics=RecordingMetrics(),
            answers=AnswerFormats((GatewayReceipts(), NctsAnswers(country))),
            effects={"movement_message": MovementIntake(outbound)})
        handler = MovementEventHandler(outbound, movements=lambda: journal.flow(FLOW))
        from gateway.events.config import load_consumers
        spec = next(s for s in load_consumers(SETTINGS.config_dir / "events.toml")
                    if s.name == "transit-events")
        events = EventService(spec.name, spec.routes, [handler], trust=trust, store=journal,
                              reads=journal, metrics=RecordingMetrics())
        return cls(directory, key, clearance, trust, partners, journal, intake, outbound,
                   handler, events)

    def close(self) -> None:
        self.journal.close()

    def submit(self, body: bytes, partner: str = "trader-haulier") -> Answer:
        return asyncio.run(self.intake.submit(Exchange(
            body=body, channel="http", authorization=f"Bearer {TOKENS[partner]}")))

    def decide(self, event: MovementEvent) -> Any:
        """Publish ``event`` as the transit system would (signed by clearance) and apply it."""
        body = to_json_bytes(event)
        return asyncio.run(self.events.handle(Event(
            event.event_id, EVENT_TYPES[event.kind], body, sign_body(self.clearance, body),
            event.mrn)))

    def movements(self) -> Any:
        return self.journal.flow(FLOW)

    def outbox(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.journal._read(
            "SELECT kind, exchange, routing_key, headers, body, content_type FROM outbox"
            " ORDER BY seq")]


def root_name(document: bytes) -> str:
    return etree.QName(etree.fromstring(document)).localname


# --- canonical messages, movements and decisions ------------------------------------------------

NOW = "2026-12-01T10:30:00Z"
CONTROL = ControlResult(code="A1", date="2026-12-01", controlled_by="MK001005",
                        text="Documentary check")
FIXTURE_OF = {t: ("cc015c_mk_rs.xml" if t == "CC015C" else f"{t.lower()}.xml")
              for t in MESSAGES}
DECLARATION_OF = {DEPARTURE: "CC015C", DESTINATION: "CD001C", TRANSIT: "CD050C"}


@functools.cache
def _formats() -> Any:
    return load_formats(SETTINGS)


def canonical(message_type: str) -> MovementMessage:
    """Our fixture of ``message_type``, mapped to its canonical movement message."""
    registry, mappings, kinds = _formats()
    body = fixture(FIXTURE_OF[message_type])
    root = etree.fromstring(body)
    entry = registry.identify(root).message_type
    built = kinds.get("movement_message").build(mappings[entry.mapping_file].apply(root, body))
    assert isinstance(built, MovementMessage)
    return built


def new_mrn(country: str = "MK") -> str:
    """A fresh MRN with a valid check digit (R0028)."""
    return make_mrn(2026, country, uuid.uuid4().hex[:12].upper(), "J")


def movement_event(kind: str, **fields: Any) -> MovementEvent:
    return MovementEvent(event_id=uuid.uuid4().hex, kind=kind, decided_at=NOW, **fields)


def seed(world: TransitWorld, role: str, state: str) -> Movement:
    """A movement in ``role`` and ``state`` written straight to the store."""
    mrn = None if (role, state) in ((DEPARTURE, "declared"), (DEPARTURE, "rejected")) \
        else new_mrn()
    facts: dict[str, Any] = {"acceptance_date": "2026-12-01"}
    if role == DESTINATION:
        facts.update(arrival_partner_id="trader-haulier", arrival_conversation_id="c-arrival",
                     arrival_trader_id="RS101234567", arrival_sender="RS101234567",
                     arrival_message_id="BDC-1", office_of_destination_actual="RS002000",
                     arrived_at="2026-12-01T09:00:00")
    movement = Movement(
        movement_id=uuid.uuid4().hex, role=role, state=state, partner_id="trader-haulier",
        conversation_id=uuid.uuid4().hex, created_at=NOW, updated_at=NOW,
        declaration=to_json_bytes(canonical(DECLARATION_OF[role])), mrn=mrn,
        lrn=uuid.uuid4().hex[:20], trader_id="MK4080012345678", office="MK001005",
        office_of_departure="MK001005", facts=facts)
    asyncio.run(world.journal.transaction(lambda tx: tx.flow(FLOW).insert(movement)))
    return movement


def event_for(kind: str, movement: Movement) -> MovementEvent:
    """A decision of ``kind`` about ``movement`` (a new MRN where it has none)."""
    mrn = movement.mrn or new_mrn()
    fields: dict[str, dict[str, Any]] = {
        "mrn_allocated": {"mrn": new_mrn(), "conversation_id": movement.conversation_id},
        "rejected": {"conversation_id": movement.conversation_id,
                     "errors": [EventError("/CC015C/TransitOperation/LRN", "12")]},
        "released": {"mrn": mrn, "control_result": CONTROL},
        "written_off": {"mrn": mrn},
        "arrival_accepted": {"mrn": mrn, "office": "RS002000"},
        "control_results": {"mrn": mrn, "control_result": ControlResult(
            code="A1", date="2026-12-01", state_of_seals=True)},
        "crossing": {"mrn": mrn, "office": "RS001100"},
    }
    return movement_event(kind, **fields[kind])
