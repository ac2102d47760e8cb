"""``gateway demo``, flow F4: a transit movement from North Macedonia to Serbia, two gateways.

The demo's gateway is North Macedonia's; ``transit_deployments`` makes the Serbian one beside
it (``adapters/deployments.py``: its own config folder ``deployments/rs/config``, var directory
``var/demo/rs``, journal and prefix ``<demo prefix>rs.``), both trusting each other's gateway
certificate, each knowing where the other is — before the North Macedonian gateway starts, so
that its link to Serbia is on. ``transit_steps`` then starts the Serbian gateway in this
process (sandbox mode: its transit stand-in decides as Serbia's transit system would) and plays
the movement — MK001005 to RS002000 through the office of transit RS001100 — as the two
traders would, over plain HTTP:

1. the haulier lodges a CC015C at MK: the signed answer is a CC928C; MK's transit stand-in
   allocates the MRN and releases (CC028C, CC029C to the haulier);
2. MK sends the anticipated arrival record (CD001C) and the anticipated transit record (CD050C)
   over the link: Serbia journals both, from ``customs-mk``, each verified against MK's
   certificate;
3. the movement crosses at RS001100: Serbia's CD118C reaches MK (the haulier's movement is
   ``crossing_notified``);
4. the trader at destination notifies the arrival at RS (CC007C): Serbia accepts it, releases
   the goods (CC025C to that trader);
5. Serbia's arrival advice (CD006C) and control results (CD018C) reach MK, which writes the
   movement off: the haulier's CC045C.

Each row says what it saw; every answer and notification signature is verified (MK's by MK's
certificate, RS's by RS's), as is every CD message Serbia received.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from lxml import etree

from adapters.demo import Step
from adapters.deployments import linked, neighbour
from adapters.local_server import free_port, serve_in_thread, wait_until_ready
from adapters.setup_keys import load_demo_tokens
from gateway.errors import SignatureInvalid
from gateway.settings import Settings
from gateway.signing.keys import SigningKey, TrustStore
from gateway.signing.xmldsig import verify_enveloped

HAULIER, TRADER_RS = "trader-haulier", "trader-rs"
WAIT = 30.0


def transit_deployments(settings: Settings) -> tuple[Settings, Settings]:
    """The demo's MK settings with its link to RS on, and RS's (keys set up, trusted)."""
    rs = neighbour(settings, "RS", var_dir=settings.var_dir / "demo" / "rs")
    return linked(settings, rs)


class _Case:
    """What the steps learnt so far."""

    conversation: str | None = None          # the haulier's, at MK
    mrn: str | None = None
    arrival: str | None = None               # the trader's CC007C conversation, at RS


def transit_steps(mk: Settings, mk_base: str, rs: Settings) -> list[Step]:
    """Start Serbia's gateway beside the demo's and play the movement (see the module)."""
    steps = [Step("transit CC015C at MK", "http", "CC928C, MRN, release"),
             Step("CD001C+CD050C MK->RS", "link", "AAR, ATR at RS"),
             Step("CD118C RS->MK", "link", "crossing at MK"),
             Step("CC007C at RS", "http", "arrival, CC025C"),
             Step("CD006C+CD018C RS->MK", "link", "written off, CC045C")]
    try:
        server, gateway, rs_base = _start_neighbour(rs)
    except Exception as exc:  # noqa: BLE001 - reported in the table
        for step in steps:
            step.note = f"Serbia's gateway did not start: {type(exc).__name__}: {exc}"[:160]
        return steps
    try:
        world = _World(mk, mk_base, rs, rs_base, gateway)
        case = _Case()
        actions: list[Callable[[Step], None]] = [
            lambda s: world.declare(case, s), lambda s: world.records(case, s),
            lambda s: world.crossing(case, s), lambda s: world.arrival(case, s),
            lambda s: world.written_off(case, s)]
        for step, action in zip(steps, actions, strict=True):
            started = time.perf_counter()
            try:
                action(step)
            except Exception as exc:  # noqa: BLE001 - a demo step reports, the table goes on
                step.ok, step.note = False, f"{type(exc).__name__}: {exc}"[:160]
            step.seconds = time.perf_counter() - started
            if not step.ok:
                for later in steps[steps.index(step) + 1:]:
                    later.note = "not run: an earlier F4 step failed"
                break
        world.close()
    finally:
        server.should_exit = True
    return steps


def _start_neighbour(rs: Settings) -> tuple[Any, Any, str]:
    from adapters.bootstrap import build_gateway
    from adapters.http.app import create_app

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    gateway = build_gateway(rs, gateway_url=base)
    server, _ = serve_in_thread(create_app(gateway, sandbox=True), port, "gateway-demo-rs")
    if not wait_until_ready(base):
        server.should_exit = True
        raise RuntimeError("Serbia's gateway did not become ready within 20 s")
    return server, gateway, base


class _World:
    def __init__(self, mk: Settings, mk_base: str, rs: Settings, rs_base: str,
                 rs_gateway: Any) -> None:
        from adapters.bootstrap import open_journal

        self.rs_gateway = rs_gateway
        self.mk_journal = open_journal(mk)              # MK's movements, read beside its gateway
        self.mk_movements = self.mk_journal.flow("movements")
        self.mk_http = httpx.Client(base_url=mk_base, timeout=30, headers={
            "Authorization": f"Bearer {load_demo_tokens(mk)[HAULIER]}"})
        self.rs_http = httpx.Client(base_url=rs_base, timeout=30, headers={
            "Authorization": f"Bearer {load_demo_tokens(rs)[TRADER_RS]}"})
        self.mk_trust, self.rs_trust = _gateway_trust(mk), _gateway_trust(rs)
        self.samples = mk.home / "tests" / "fixtures" / "ncts"

    def sample(self, name: str, **values: str) -> bytes:
        """One of the project's P5 sample messages (``tests/fixtures/ncts``, in the checkout,
        like ``samples/``) with a fresh ``messageIdentification`` and the ``values`` given
        (every element of that name)."""
        root = etree.fromstring((self.samples / name).read_bytes())
        values["messageIdentification"] = f"DEMO{uuid.uuid4().hex[:24].upper()}"
        for tag, value in values.items():
            for element in root.iter(tag):
                element.text = value
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")

    def close(self) -> None:
        self.mk_http.close()
        self.rs_http.close()
        self.mk_journal.close()

    # --- the steps -----------------------------------------------------------------------------

    def declare(self, case: _Case, step: Step) -> None:
        document = self.sample("cc015c_mk_rs.xml",
                               LRN=f"MK-DEMO-{uuid.uuid4().hex[:10].upper()}")
        response = self.mk_http.post("/v1/messages", content=document,
                                     headers={"Content-Type": "application/xml"})
        step.http = response.status_code
        answer = _verified(response.content, self.mk_trust)
        if answer is None or etree.QName(answer).localname != "CC928C":
            step.note = "no signed CC928C"
            return
        case.conversation = step.conversation = response.headers["X-Conversation-ID"]
        step.receipt = answer.findtext("messageIdentification")
        view = self._mk_until(case, "atr_sent")
        case.mrn = step.mrn = view["mrn"]
        step.notifications = self._mk_kinds(case)
        step.ok = step.notifications[:3] == ["CC928C", "CC028C", "CC029C"] and bool(case.mrn)
        step.note = f"MK departure {view['status']}"

    def records(self, case: _Case, step: Step) -> None:
        received = _until(lambda: self._rs_received({"CD001C", "CD050C"}))
        step.mrn = case.mrn
        roles = {m.role for m in self._rs_movements(case)}
        step.notifications = [mt for mt, _ in received]
        step.ok = roles >= {"destination", "transit"}
        step.note = (f"RS journaled {', '.join(step.notifications)} from customs-mk, MK's "
                     f"signatures verified; RS roles {', '.join(sorted(roles))}")

    def crossing(self, case: _Case, step: Step) -> None:
        self._mk_until(case, "crossing_notified")
        step.mrn = case.mrn
        transit = next(m for m in self._rs_movements(case) if m.role == "transit")
        step.ok = True
        step.note = f"RS transit {transit.state}; MK departure passed crossing_notified"

    def arrival(self, case: _Case, step: Step) -> None:
        response = self.rs_http.post("/v1/messages",
                                     content=self.sample("cc007c.xml", MRN=case.mrn or ""),
                                     headers={"Content-Type": "application/xml"})
        step.http = response.status_code
        receipt = _verified(response.content, self.rs_trust)
        if response.status_code != 202 or receipt is None:
            step.note = f"not accepted ({response.status_code})"
            return
        case.arrival = step.conversation = response.headers["X-Conversation-ID"]
        step.mrn = case.mrn
        kinds = _until(lambda: (k := self._rs_kinds(case)) and "CC025C" in k and k)
        step.notifications = kinds
        destination = next(m for m in self._rs_movements(case) if m.role == "destination")
        step.ok = True
        step.note = f"RS destination {destination.state}; notifications signed by RS"

    def written_off(self, case: _Case, step: Step) -> None:
        view = self._mk_until(case, "written_off")
        step.mrn = case.mrn
        step.notifications = self._mk_kinds(case)
        step.ok = step.notifications == ["CC928C", "CC028C", "CC029C", "CC045C"]
        step.note = f"MK departure {view['status']}; every notification signed by MK"

    # --- what the gateways know -----------------------------------------------------------------

    def _mk_until(self, case: _Case, state: str) -> dict[str, Any]:
        """MK's departure movement once it went through ``state`` (its log says so), with its
        MRN; the haulier's conversation view beside it."""
        def reached() -> dict[str, Any] | None:
            movement = self.mk_movements.for_conversation(case.conversation, "departure")
            if movement is None:
                return None
            passed = [step.state_after for step in self.mk_movements.steps(movement.movement_id)]
            return {"mrn": movement.mrn, "status": movement.state} if state in passed else None
        return _until(reached)

    def _mk_kinds(self, case: _Case) -> list[str]:
        return _kinds(self.mk_http, case.conversation, self.mk_trust)

    def _rs_kinds(self, case: _Case) -> list[str]:
        return _kinds(self.rs_http, case.arrival, self.rs_trust)

    def _rs_movements(self, case: _Case) -> list[Any]:
        return list(self.rs_gateway.journal.flow("movements").movements(case.mrn or ""))

    def _rs_received(self, wanted: set[str]) -> list[tuple[str, etree._Element]] | None:
        """What Serbia journaled from customs-mk, each verified against MK's certificate."""
        import sqlite3
        from pathlib import Path

        path = Path(self.rs_gateway.settings.journal_url.removeprefix("sqlite:///"))
        with sqlite3.connect(path) as db:
            rows = db.execute("SELECT b.body FROM messages m JOIN blobs b ON b.sha256 = m.sha256 "
                              "WHERE m.partner_id = 'customs-mk' ORDER BY m.received_at").fetchall()
        found = []
        for (body,) in rows:
            element = _verified(bytes(body), self.mk_trust)
            if element is None:
                raise SignatureInvalid("a CD message at RS does not verify against MK's key")
            found.append((etree.QName(element).localname, element))
        return found if wanted <= {name for name, _ in found} else None


def _kinds(http: httpx.Client, conversation: str | None, trust: TrustStore) -> list[str]:
    data = http.get(f"/v1/conversations/{conversation}/notifications",
                    headers={"Accept": "application/json"}).json()
    for notification in data["notifications"]:
        if _verified(notification["document"].encode(), trust) is None:
            raise SignatureInvalid("a notification does not verify")
    return [n["kind"] for n in data["notifications"]]


def _gateway_trust(settings: Settings) -> TrustStore:
    trust = TrustStore()
    key = SigningKey.load(settings.keys_dir / "gateway.key", settings.keys_dir / "gateway.crt")
    trust.add("gateway", key.certificate)
    return trust


def _verified(document: bytes, trust: TrustStore) -> etree._Element | None:
    try:
        return verify_enveloped(etree.fromstring(document), trust, owner="gateway").element
    except (SignatureInvalid, etree.XMLSyntaxError):
        return None


def _until(found: Callable[[], Any], timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = found()
        if result:
            return result
        time.sleep(0.1)
    raise TimeoutError(f"nothing within {timeout:g} s")
