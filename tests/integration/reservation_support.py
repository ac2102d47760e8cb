"""What the reservation integration tests share: agencies on a real server, gateway instances.

``Agencies`` is the permit agency stand-in (``adapters/standins/agency.py``) on its own uvicorn
server with its own register; ``Instance`` is one gateway built with ``build_gateway`` on a
real journal (SQLite, or PostgreSQL shared by two instances) whose partners' ``{gateway_url}``
is that server — so the agencies' ``callback_url`` is the real SOAP service — driven in the
test's own event loop: declarations and licences through the real intake, clearance's
decisions signed with the clearance key through the real event service, and the agency
caller (``AgencyCaller``) making the real zeep calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from adapters.agency_calls import AgencyCaller
from adapters.bootstrap import Gateway, build_gateway, load_signing_key
from adapters.local_server import free_port, serve_in_thread, wait_until_ready
from adapters.soap_client.agency_client import AgencyClients
from adapters.standins.agency import AgencyStandIns
from adapters.standins.agency_register import AgencyRegister
from gateway.canonical.clearance_decision import ClearanceDecision
from gateway.canonical.model import to_json_bytes
from gateway.events.service import Event
from gateway.flows.licences.agency import AgencyCall
from gateway.flows.licences.reservations import AnswerOutcome, Reservation
from gateway.pipeline.exchange import Exchange, utc_now_iso
from gateway.settings import Settings
from gateway.signing.detached import sign_body, verify_body
from gateway.signing.keys import TrustStore
from gateway.signing.xmldsig import XmlSigner
from samples.licence import build_licence
from samples.licensed import build_licensed_dec

HOLDER = ("MK4030998765432", "Vardar Trade DOO Skopje")
SETTLED = ("reserved", "refused", "written_off", "deleted")


@dataclass
class Agencies:
    base: str
    register: AgencyRegister
    server: Any
    thread: Any

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.register.close()


def start_agencies(settings: Settings, path: Path) -> Agencies:
    register = AgencyRegister(path)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server, thread = serve_in_thread(AgencyStandIns.from_settings(settings, register).app(),
                                     port, name="agencies")
    assert wait_until_ready(base, path="/agency/agency-trade/soap")
    return Agencies(base, register, server, thread)


@dataclass
class Instance:
    """One gateway instance on a journal, driven from the test's event loop."""

    gateway: Gateway
    tokens: dict[str, str]
    agencies: Agencies
    # each answer recorded: the call, what it did, its claim-to-record seconds, and when
    answered: list[tuple[AgencyCall, AnswerOutcome, float, float]] = field(default_factory=list)
    caller: AgencyCaller | None = None
    _task: asyncio.Task[None] | None = None

    @property
    def settings(self) -> Settings:
        return self.gateway.settings

    # --- the partners -------------------------------------------------------------------------

    def issue(self, number: str, *, lines: Any = (("72083900", "Coils", "10.000", "TNE"),),
              agency: str = "agency-trade", **values: Any) -> bytes:
        """The agency issues a licence: kept in its register, the signed document returned."""
        values.setdefault("holder", HOLDER)
        values.setdefault("valid_to", "2099-12-31")
        document = build_licence(number=number, lines=lines, signer=XmlSigner(
            load_signing_key(self.settings, agency)), **values)
        response = httpx.post(f"{self.agencies.base}/agency/{agency}/licences",
                              content=document, timeout=10)
        assert response.status_code == 201, response.text
        return document

    async def submit(self, partner: str, document: bytes) -> str:
        """A submission through the real intake; its conversation (asserting it was accepted)."""
        answer = await self.gateway.intake.submit(Exchange(
            body=document, channel="http", authorization=f"Bearer {self.tokens[partner]}"))
        assert answer.accepted, answer.content
        assert answer.conversation_id is not None
        return answer.conversation_id

    async def declare(self, number: str, kg: str = "1000", *, hs: str = "72083900",
                      **values: Any) -> str:
        lrn = f"LIC-{uuid.uuid4().hex[:10].upper()}"
        return await self.submit("broker-alpha", build_licensed_dec(
            lrn, [(hs, kg, [("X", "002", number)])], **values))

    async def decide(self, conversation_id: str, kind: str, mrn: str | None = None) -> str:
        """Clearance's signed decision through the real event service; the MRN."""
        mrn = mrn or f"26MK001005{uuid.uuid4().hex[:8].upper()}"
        decision = ClearanceDecision(decision_id=uuid.uuid4().hex, kind=kind,
                                     conversation_id=conversation_id, receipt_id="r",
                                     mrn=mrn, decided_at=utc_now_iso())
        body = to_json_bytes(decision)
        key = load_signing_key(self.settings, "clearance")
        _, service = self.gateway.events["clearance-events"]
        await service.handle(Event(decision.decision_id, "clearance.decision", body,
                                   sign_body(key, body), conversation_id))
        return mrn

    # --- the agency caller --------------------------------------------------------------------

    def start_caller(self, *, lease_seconds: float = 30.0, concurrency: int = 32) -> None:
        g = self.gateway
        assert g.licences is not None
        self.caller = AgencyCaller(
            g.journal, g.licences.answers, AgencyClients(g.partners, g.bus_key, g.trust),
            owner=f"{g.settings.instance_id}:test", concurrency=concurrency,
            lease_seconds=lease_seconds, idle_poll=0.05,
            on_answer=lambda call, outcome, seconds: self.answered.append(
                (call, outcome, seconds, time.perf_counter())))
        self._task = asyncio.create_task(self.caller.run())

    async def stop_caller(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            assert self.caller is not None
            await self.caller.stop()
            self._task = None

    # --- what the gateway keeps and publishes -------------------------------------------------

    def reservations(self, conversation_id: str) -> list[Reservation]:
        return list(self.gateway.journal.flow("licences").reservations_of(conversation_id))

    async def settled(self, conversation_id: str, state: str | None = None,
                      timeout: float = 20.0) -> Reservation:
        """The conversation's one reservation once nothing is due (in ``state`` if given)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = self.reservations(conversation_id)
            if rows and rows[0].next_at is None and rows[0].state in SETTLED \
                    and (state is None or rows[0].state == state):
                return rows[0]
            await asyncio.sleep(0.05)
        raise AssertionError(f"{conversation_id}: {self.reservations(conversation_id)}")

    async def published(self) -> list[dict[str, Any]]:
        """Every reservation event in the outbox, its detached signature verified."""
        rows = await self.gateway.journal.claim("test-reader", 10_000, 3600)
        trust = TrustStore()
        trust.add("gateway", self.gateway.bus_key.certificate)
        events = []
        for row in rows:
            if row.message.kind != "licence_reservation":
                continue
            verify_body(trust, row.message.body, row.message.headers, owner="gateway")
            events.append({"routing_key": row.message.routing_key,
                           **json.loads(row.message.body)})
        return events

    def history(self, conversation_id: str) -> list[str]:
        conversation = self.gateway.journal.conversation(conversation_id)
        return [h["event"] for h in conversation["history"]]

    def close(self) -> None:
        self.gateway.journal.close()


@contextlib.contextmanager
def instances(settings: Settings, tokens: dict[str, str], agencies: Agencies,
              count: int = 1) -> Iterator[list[Instance]]:
    """``count`` gateway instances on ``settings``' journal (several: share a PostgreSQL)."""
    built = [Instance(build_gateway(settings.with_(instance_id=f"gw-{n}"),
                                    gateway_url=agencies.base), tokens, agencies)
             for n in range(1, count + 1)]
    try:
        yield built
    finally:
        for instance in built:
            instance.close()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def quantity_sum(rows: list[Reservation], states: tuple[str, ...]) -> Decimal:
    return sum((r.quantity or Decimal(0) for r in rows if r.state in states), Decimal(0))


Decide = Callable[..., Any]
