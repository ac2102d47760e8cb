"""A transit movement across two real national gateways (flow F4): North Macedonia → Serbia.

Two deployments of the gateway run side by side, each from its own data (MK from ``config/``,
RS from ``deployments/rs/config``), each with its own keys, journal and RabbitMQ prefix, each in
sandbox mode (its transit stand-in decides at once as the national transit system would). Each
trusts the other's gateway certificate; each one's link delivers its CD messages to the other's
AMQP intake — through a ``TcpProxy`` that the interruption test cuts.

The movement: a haulier lodges a CC015C at MK's office of departure (MK001005) with one office
of transit (RS001100) and the office of destination RS002000::

    trader -> MK  CC015C            MK -> trader  CC928C, CC028C (MRN), CC029C (release)
    MK -> RS      CD001C (AAR, to the destination), CD050C (ATR, to the office of transit)
    RS -> MK      CD118C (crossing at RS001100)
    trader -> RS  CC007C (arrival)  RS -> trader  CC025C (goods released)
    RS -> MK      CD006C (arrival advice), CD018C (control results)
    MK -> trader  CC045C (write-off)

Every message is checked at both gateways, in order: the journals, the trader notifications,
the movements' states and logs, the outbox rows, the signatures (ours and ``xmlsec1``).
"""

from __future__ import annotations

import os
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pika
import pytest
from conftest import RunningGateway, start_gateway, wait_for, xmlsec1_verify
from lxml import etree

from adapters.amqp.topology import delete_prefixed
from adapters.bootstrap import load_signing_key, load_topology
from adapters.deployments import linked, neighbour
from adapters.local_server import rabbitmq_reachable
from adapters.setup_keys import load_demo_tokens
from gateway.settings import DEFAULT_AMQP_URL, Settings
from gateway.signing.keys import SigningKey, TrustStore
from gateway.signing.xmldsig import verify_enveloped
from tests.support import transit
from tests.support.tcp_proxy import TcpProxy

MK_TRADER, RS_TRADER = "trader-haulier", "trader-rs"
DEPARTURE_STEPS = ["CC015C", "CC028C", "CC029C", "CD001C", "CD050C", "CD118C", "CD006C",
                   "CD018C", "CC045C"]
DESTINATION_STEPS = ["CD001C", "CC007C", "CD006C", "CD018C", "CC025C"]
TRANSIT_STEPS = ["CD050C", "CD118C"]


@dataclass
class Pair:
    mk: RunningGateway
    rs: RunningGateway
    proxy: TcpProxy

    def token(self, side: RunningGateway, partner: str) -> str:
        return load_demo_tokens(side.settings)[partner]

    def trust(self, side: RunningGateway) -> TrustStore:
        """The certificate of ``side``'s gateway key, as its neighbour trusts it."""
        trust = TrustStore()
        trust.add("gateway", load_signing_key(side.settings, "gateway").certificate)
        return trust


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    """MK and RS, linked to each other through one proxy (both directions)."""
    amqp_url = os.environ.get("GATEWAY_AMQP_URL", DEFAULT_AMQP_URL)
    if not rabbitmq_reachable(amqp_url):
        pytest.fail(f"RabbitMQ is required at {amqp_url} and is not reachable")
    run = uuid.uuid4().hex[:8]
    mk = Settings(var_dir=tmp_path / "mk", db_url=f"sqlite:///{tmp_path / 'mk' / 'journal.db'}",
                  amqp_url=amqp_url, amqp_prefix=f"t{run}.mk.", country="MK",
                  instance_id=f"e2e-{run}-mk")
    rs = neighbour(mk, "RS", var_dir=tmp_path / "rs", prefix=f"t{run}.rs.")
    proxy = TcpProxy().start()
    mk, rs = linked(mk, rs, a_reaches_b=proxy.url(), b_reaches_a=proxy.url())
    running: list[RunningGateway] = []
    try:
        running.append(start_gateway(mk, sandbox=True))
        running.append(start_gateway(rs, sandbox=True))
        yield Pair(running[0], running[1], proxy)
    finally:
        for gateway in running:
            gateway.stop()
        proxy.stop()
        import asyncio

        for settings in (mk, rs):
            asyncio.run(delete_prefixed(amqp_url, load_topology(settings), settings.amqp_prefix))


# --- what the traders do ---------------------------------------------------------------------


def _declare(pair: Pair) -> tuple[str, etree._Element, float]:
    """The haulier lodges a CC015C at MK: 202 with a signed CC928C; its conversation."""
    declaration = transit.message("cc015c_mk_rs", lrn=f"MK-E2E-{uuid.uuid4().hex[:10].upper()}")
    started = time.perf_counter()
    with pair.mk.client(pair.token(pair.mk, MK_TRADER)) as client:
        response = client.post("/v1/messages", content=etree.tostring(declaration),
                               headers={"Content-Type": "application/xml"})
    assert response.status_code == 202, response.text
    answer = verify_enveloped(etree.fromstring(response.content), pair.trust(pair.mk),
                              owner="gateway").element
    assert etree.QName(answer).localname == "CC928C"
    assert answer.findtext("correlationIdentifier") == \
        declaration.findtext("messageIdentification")
    return response.headers["X-Conversation-ID"], declaration, started


def _arrive(pair: Pair, mrn: str) -> str:
    """The trader at destination notifies the arrival at RS: 202; its conversation."""
    arrival = transit.message("cc007c", mrn=mrn)
    with pair.rs.client(pair.token(pair.rs, RS_TRADER)) as client:
        response = client.post("/v1/messages", content=etree.tostring(arrival),
                               headers={"Content-Type": "application/xml"})
    assert response.status_code == 202, response.text
    return response.headers["X-Conversation-ID"]


# --- what the gateways know ------------------------------------------------------------------


def _movements(side: RunningGateway) -> Any:
    return side.gateway.journal.flow("movements")


def _departure(pair: Pair, conversation_id: str) -> Any:
    return _movements(pair.mk).for_conversation(conversation_id, "departure")


def _state_at_least(pair: Pair, conversation_id: str, state: str) -> Any:
    movement = _departure(pair, conversation_id)
    steps = _movements(pair.mk).steps(movement.movement_id) if movement else []
    return movement if movement and state in [s.state_after for s in steps] else None


def _steps(side: RunningGateway, role: str, mrn: str) -> list[str]:
    movement = _movements(side).movement(role, mrn)
    assert movement is not None, f"no {role} movement {mrn} at {side.settings.country}"
    return [step.message_type for step in _movements(side).steps(movement.movement_id)]


def _journal(side: RunningGateway) -> list[tuple[str, str, str, bytes]]:
    path = Path(side.settings.db_url.removeprefix("sqlite:///"))
    with sqlite3.connect(path) as db:
        return db.execute("SELECT m.partner_id, m.message_type, m.channel, b.body FROM messages m "
                          "JOIN blobs b ON b.sha256 = m.sha256 ORDER BY m.received_at").fetchall()


def _outbox(side: RunningGateway) -> list[tuple[str, str, str]]:
    path = Path(side.settings.db_url.removeprefix("sqlite:///"))
    with sqlite3.connect(path) as db:
        return db.execute("SELECT exchange, routing_key, state FROM outbox WHERE exchange = "
                          "'customs.link' ORDER BY seq").fetchall()


def _notifications(side: RunningGateway, token: str, conversation_id: str) -> list[str]:
    with side.client(token) as client:
        data = client.get(f"/v1/conversations/{conversation_id}/notifications",
                          headers={"Accept": "application/json"}).json()
    trust = TrustStore()
    trust.add("gateway", load_signing_key(side.settings, "gateway").certificate)
    for notification in data["notifications"]:
        verify_enveloped(etree.fromstring(notification["document"].encode()), trust,
                         owner="gateway")
    return [n["kind"] for n in data["notifications"]]


def _waiting(side: RunningGateway, queue: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(side.settings.amqp_url))
    try:
        declared = connection.channel().queue_declare(side.settings.amqp_prefix + queue,
                                                      passive=True)
        return int(declared.method.message_count)
    finally:
        connection.close()


def _received(side: RunningGateway, partner: str) -> list[tuple[str, bytes]]:
    """(message type, signed bytes as received) of what ``partner`` sent over the link."""
    return [(mt, bytes(body)) for p, mt, channel, body in _journal(side)
            if p == partner and channel == "amqp"]


def _check_signed_by(received: list[tuple[str, bytes]], sender: RunningGateway,
                     tmp_path: Path) -> None:
    """Every message verifies against the sending gateway's certificate, and xmlsec1 agrees."""
    trust = TrustStore()
    trust.add("gateway", load_signing_key(sender.settings, "gateway").certificate)
    for message_type, body in received:
        verified = verify_enveloped(etree.fromstring(body), trust, owner="gateway")
        assert etree.QName(verified.element).localname == message_type.rsplit("-", 1)[-1].upper()
        code, stderr = xmlsec1_verify(body, sender.settings.keys_dir / "gateway.crt",
                                      f"http://ncts.dgtaxud.ec:{etree.QName(verified.element).localname}",
                                      tmp_path)
        assert code == 0, stderr


# --- the lifecycle ---------------------------------------------------------------------------


def _run_lifecycle(pair: Pair, *, cut: bool = False) -> dict[str, Any]:
    """The movement from CC015C to CC045C; with ``cut`` the link is down while the AAR/ATR
    leave MK and again while RS's arrival advice and control results leave RS."""
    if cut:
        pair.proxy.stop()
    conversation, declaration, started = _declare(pair)
    released = wait_for(lambda: _state_at_least(pair, conversation, "atr_sent"), timeout=30)
    mrn = released.mrn
    if cut:
        wait_for(lambda: _waiting(pair.mk, "link.to.rs") == 2)   # CD001C, CD050C wait, durable
        time.sleep(0.5)
        assert _movements(pair.rs).movements(mrn) == []          # nothing crossed the link
        assert _waiting(pair.mk, "link.to.rs") == 2
        pair.proxy.start()
    wait_for(lambda: _state_at_least(pair, conversation, "crossing_notified"), timeout=30)
    wait_for(lambda: _movements(pair.rs).movement("destination", mrn), timeout=30)
    if cut:
        pair.proxy.stop()
    arrival_conversation = _arrive(pair, mrn)
    if cut:
        wait_for(lambda: _waiting(pair.rs, "link.to.mk") == 2, timeout=30)   # CD006C, CD018C
        assert _departure(pair, conversation).state == "crossing_notified"
        pair.proxy.start()
    wait_for(lambda: _state_at_least(pair, conversation, "written_off"), timeout=30)
    seconds = time.perf_counter() - started
    return {"conversation": conversation, "arrival": arrival_conversation, "mrn": mrn,
            "declaration": declaration, "seconds": seconds}


def _check_lifecycle(pair: Pair, run: dict[str, Any], tmp_path: Path) -> int:
    """Everything both gateways know of the movement, in order; the number of P5 messages."""
    mrn = run["mrn"]
    # the movements and their logs, at both gateways
    assert _departure(pair, run["conversation"]).state == "written_off"
    assert _steps(pair.mk, "departure", mrn) == DEPARTURE_STEPS
    assert _steps(pair.rs, "destination", mrn) == DESTINATION_STEPS
    assert _steps(pair.rs, "transit", mrn) == TRANSIT_STEPS
    # what each journal holds, in the order it arrived: no message twice
    assert [(p, mt, ch) for p, mt, ch, _ in _journal(pair.mk)] == [
        (MK_TRADER, "ncts-p5-cc015c", "http"), ("customs-rs", "ncts-p5-cd118c", "amqp"),
        ("customs-rs", "ncts-p5-cd006c", "amqp"), ("customs-rs", "ncts-p5-cd018c", "amqp")]
    assert [(p, mt, ch) for p, mt, ch, _ in _journal(pair.rs)] == [
        ("customs-mk", "ncts-p5-cd001c", "amqp"), ("customs-mk", "ncts-p5-cd050c", "amqp"),
        (RS_TRADER, "ncts-p5-cc007c", "http")]
    # what each sent over the link, confirmed by the broker (sent)
    assert _outbox(pair.mk) == [("customs.link", "movement.cd001c.rs", "sent"),
                                ("customs.link", "movement.cd050c.rs", "sent")]
    assert _outbox(pair.rs) == [("customs.link", "movement.cd118c.mk", "sent"),
                                ("customs.link", "movement.cd006c.mk", "sent"),
                                ("customs.link", "movement.cd018c.mk", "sent")]
    # the traders' notifications, signed, in order
    departure_trader = _notifications(pair.mk, pair.token(pair.mk, MK_TRADER), run["conversation"])
    assert departure_trader == ["CC928C", "CC028C", "CC029C", "CC045C"]
    destination_trader = _notifications(pair.rs, pair.token(pair.rs, RS_TRADER), run["arrival"])
    assert destination_trader == ["CC025C"]
    # every CD message as received verifies against the sender's certificate (ours, xmlsec1)
    _check_signed_by(_received(pair.rs, "customs-mk"), pair.mk, tmp_path)
    _check_signed_by(_received(pair.mk, "customs-rs"), pair.rs, tmp_path)
    # nothing parked, nothing waiting
    for side, queue in ((pair.mk, "link.to.rs"), (pair.rs, "link.to.mk"),
                        (pair.mk, "gateway.parking"), (pair.rs, "gateway.parking")):
        assert _waiting(side, queue) == 0, f"{side.settings.country} {queue}"
    return 2 + len(departure_trader) + len(destination_trader) + 5    # CC015C, CC007C, 5 CD


def test_transit_lifecycle_across_two_gateways(pair: Pair, tmp_path: Path) -> None:
    """MK departure, one office of transit and the destination in RS: every message of the
    movement in order at both gateways, both movements' states, every signature."""
    run = _run_lifecycle(pair)
    count = _check_lifecycle(pair, run, tmp_path)
    assert count == 12
    print(f"\nlifecycle: {count} P5 messages, CC015C to CC045C in {run['seconds']:.2f} s")


def test_transit_lifecycle_survives_the_link_cut_twice(pair: Pair, tmp_path: Path) -> None:
    """The link is down while MK sends the AAR and ATR, and again while RS sends the arrival
    advice and control results: they wait, durable, in the sender's link queue, and once the
    link is back the movement completes with every message delivered — none lost, none
    journaled or applied twice."""
    run = _run_lifecycle(pair, cut=True)
    assert _check_lifecycle(pair, run, tmp_path) == 12
    print(f"\nlifecycle with two link cuts: CC015C to CC045C in {run['seconds']:.2f} s")


# --- bad input across the link ---------------------------------------------------------------


def _as_rs(pair: Pair, element: etree._Element) -> None:
    """Publish a CD message signed with RS's gateway key into MK's intake, as RS's link does."""
    key = SigningKey.load(pair.rs.settings.keys_dir / "gateway.key",
                          pair.rs.settings.keys_dir / "gateway.crt")
    connection = pika.BlockingConnection(pika.URLParameters(pair.mk.settings.amqp_url))
    channel = connection.channel()
    channel.confirm_delivery()
    channel.basic_publish(pair.mk.settings.amqp_prefix + "customs.incoming", "from.rs.movement",
                          transit.signed(element, key),
                          pika.BasicProperties(headers={"x-link-from": "RS"}, delivery_mode=2,
                                               message_id=uuid.uuid4().hex),
                          mandatory=True)
    connection.close()


def _nacks_at_rs(pair: Pair) -> list[etree._Element]:
    """The NACKs MK sent back that RS journaled, verified against MK's certificate."""
    return [verify_enveloped(etree.fromstring(body), pair.trust(pair.mk), owner="gateway").element
            for mt, body in _received(pair.rs, "customs-mk") if mt == "ncts-p5-cd906c"]


def test_transit_out_of_sequence_and_unknown_mrn_are_answered_across_the_link(
        pair: Pair) -> None:
    """With the movement crossing (no arrival advice yet), a CD018C for it is out of sequence
    (92) and a CD006C for an MRN MK never released is unknown (90): MK answers each with a
    CD906C that travels over its link to RS, where it is journaled (never answered); the
    movement does not move."""
    conversation, _, _ = _declare(pair)
    movement = wait_for(lambda: _state_at_least(pair, conversation, "crossing_notified"),
                        timeout=30)
    _as_rs(pair, transit.message("cd018c", mrn=movement.mrn))
    unknown = transit.new_mrn("MK")
    _as_rs(pair, transit.message("cd006c", mrn=unknown))

    nacks = wait_for(lambda: len(_nacks_at_rs(pair)) == 2 and _nacks_at_rs(pair), timeout=30)
    codes = {(n.findtext("Header/MRN") or n.findtext("FunctionalError/errorPointer"),
              n.findtext("FunctionalError/errorCode")) for n in nacks}
    assert codes == {(movement.mrn, "92"), (unknown, "90")}
    assert all(n.findtext("messageRecipient") == "NTA.RS" for n in nacks)
    assert _departure(pair, conversation).state == "crossing_notified"
    assert [mt for _, mt, _, _ in _journal(pair.mk)].count("ncts-p5-cd018c") == 0
    time.sleep(0.5)
    assert _waiting(pair.mk, "link.to.rs") == 0 and _waiting(pair.rs, "link.to.mk") == 0
