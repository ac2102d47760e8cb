"""Movement events in, NCTS messages out (gateway/flows/transit/events.py, outbound.py).

A trader's CC015C through the real intake, then customs' decisions as the transit system
publishes them (signed by the clearance key, through the event service): each issues its
messages — trader notifications in the trader's conversation, CD messages in the outbox for
the customs link — signed, valid against our schemas, and moves the movement one step per
message. Redelivered decisions are applied once; decisions out of sequence, for unknown
movements, or whose messages cannot be built are refused (parked by the consumer) and change
nothing; a movement changed meanwhile is prepared again (retryable).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from support.ncts_trader import cc007c, cc015c, fixture, new_id, read, schema_problems
from transit_support import CONTROL, TransitWorld, new_mrn
from transit_support import movement_event as event

from gateway.canonical.model import to_json_bytes
from gateway.canonical.movement import ControlResult
from gateway.events.service import Event
from gateway.flows.transit.events import (
    InvalidMovementEvent,
    MovementChanged,
    MovementEventRefused,
    parse_event,
)
from gateway.flows.transit.outbound import MessageNotBuilt, NctsOutbound
from gateway.flows.transit.states import DEPARTURE, DESTINATION, TRANSIT
from gateway.identifiers import is_valid_mrn
from gateway.routing import RoutingTable
from gateway.signing.detached import verify_body
from gateway.signing.xmldsig import verify_enveloped


@pytest.fixture
def world(tmp_path: Path) -> Iterator[TransitWorld]:
    built = TransitWorld.build(tmp_path)
    yield built
    built.close()


def declared(world: TransitWorld, **kwargs: Any) -> str:
    """A trader's CC015C through the intake: its conversation id."""
    answer = world.submit(cc015c(**kwargs))
    assert answer.http_status == 202, answer.document
    assert answer.conversation_id is not None
    return answer.conversation_id


def notified(world: TransitWorld, conversation_id: str) -> list[tuple[str, etree._Element]]:
    """The conversation's notifications: (kind, the P5 message inside), each verified."""
    out = []
    for n in world.journal.notifications(conversation_id):
        root = etree.fromstring(n.document)
        verify_enveloped(root, world.trust, owner="gateway")
        (payload,) = root.find("{urn:customs-gateway:v1}Payload")
        assert n.kind == etree.QName(payload).localname
        assert schema_problems(etree.tostring(payload)) == []
        out.append((n.kind, payload))
    return out


def cd_messages(world: TransitWorld) -> list[tuple[str, bytes, dict[str, Any]]]:
    """The outbox's CD messages: routing key, body, headers — each body verified (enveloped
    and detached) and valid against its schema."""
    out = []
    for row in world.outbox():
        if not row["kind"].startswith("movement."):
            continue
        headers, body = json.loads(row["headers"]), bytes(row["body"])
        assert (row["exchange"], row["content_type"]) == ("customs.link", "application/xml")
        verify_body(world.trust, body, headers, owner="gateway")
        verify_enveloped(etree.fromstring(body), world.trust, owner="gateway")
        assert schema_problems(body) == []
        out.append((row["routing_key"], body, headers))
    return out


def released(world: TransitWorld, **kwargs: Any) -> tuple[str, str]:
    conversation = declared(world, **kwargs)
    mrn = new_mrn()
    world.decide(event("mrn_allocated", mrn=mrn, conversation_id=conversation,
                       acceptance_date="2026-12-01"))
    world.decide(event("released", mrn=mrn, release_date="2026-12-01", control_result=CONTROL))
    return conversation, mrn


# --- departure ----------------------------------------------------------------------------------


def test_movement_event_mrn_allocated_notifies_cc028c_after_the_cc928c(
        world: TransitWorld) -> None:
    """The trader's conversation holds the CC928C, then the CC028C with the MRN, correlated
    to the CC015C; the conversation is accepted with the MRN."""
    message_id = new_id("VL", 30)
    conversation = declared(world, message_id=message_id, lrn="MK-LRN-028")
    mrn = new_mrn()
    assert world.decide(event("mrn_allocated", mrn=mrn, conversation_id=conversation,
                              acceptance_date="2026-12-01")).applied
    kinds = notified(world, conversation)
    assert [k for k, _ in kinds] == ["CC928C", "CC028C"]
    cc028c = kinds[1][1]
    assert (cc028c.findtext("TransitOperation/MRN"), cc028c.findtext("TransitOperation/LRN"),
            cc028c.findtext("correlationIdentifier")) == (mrn, "MK-LRN-028", message_id)
    assert kinds[0][1].findtext("correlationIdentifier") == message_id
    found = world.journal.conversation(conversation)
    assert (found["status"], found["customs_reference"]) == ("accepted", mrn)


def test_movement_event_release_issues_cc029c_cd001c_and_a_cd050c_per_country_of_transit(
        world: TransitWorld) -> None:
    """At release: the CC029C to the trader, the CD001C for RS (destination) and the CD050C
    for RS (transit) in the outbox, signed both ways, valid, as movement.<type>.rs."""
    conversation, mrn = released(world)
    assert [k for k, _ in notified(world, conversation)] == ["CC928C", "CC028C", "CC029C"]
    sent = cd_messages(world)
    assert [key for key, _, _ in sent] == ["movement.cd001c.rs", "movement.cd050c.rs"]
    for (_, body, headers), kind in zip(sent, ("CD001C", "CD050C"), strict=True):
        record = read(body)
        assert record.message_type == kind and record.header["TransitOperation/MRN"] == mrn
        assert (record.header["messageSender"], record.header["messageRecipient"]) == \
            ("NTA.MK", "NTA.RS")
        assert (headers["x-mrn"], headers["x-ncts-message-type"], headers["x-recipient"]) == \
            (mrn, kind, "NTA.RS")
        assert headers["x-ncts-message-id"] == record.header["messageIdentification"]
    movement = world.movements().movement(DEPARTURE, mrn)
    steps = [(s.message_type, s.direction, s.state_after)
             for s in world.movements().steps(movement.movement_id)]
    assert steps == [("CC015C", "in", "declared"), ("CC028C", "out", "accepted"),
                     ("CC029C", "out", "released"), ("CD001C", "out", "aar_sent"),
                     ("CD050C", "out", "atr_sent")]
    assert world.journal.conversation(conversation)["status"] == "atr_sent"


def test_movement_event_redelivered_decision_is_applied_once(world: TransitWorld) -> None:
    """The same event (same message id) twice: applied once, one CC028C."""
    conversation = declared(world)
    allocation = event("mrn_allocated", mrn=new_mrn(), conversation_id=conversation)
    assert world.decide(allocation).applied
    assert not world.decide(allocation).applied
    assert [k for k, _ in notified(world, conversation)] == ["CC928C", "CC028C"]


def test_movement_event_out_of_sequence_or_unknown_is_refused_and_changes_nothing(
        world: TransitWorld) -> None:
    """A release for an MRN not allocated here, a write-off before the control results, an
    MRN given to another movement already: refused, nothing issued."""
    conversation, mrn = released(world)
    before = len(cd_messages(world))
    with pytest.raises(MovementEventRefused):
        world.decide(event("released", mrn=new_mrn(), control_result=CONTROL))
    with pytest.raises(MovementEventRefused, match="out of sequence"):
        world.decide(event("written_off", mrn=mrn))
    other = declared(world)
    with pytest.raises(MovementEventRefused, match="another movement"):
        world.decide(event("mrn_allocated", mrn=mrn, conversation_id=other))
    assert len(cd_messages(world)) == before == 2
    assert world.movements().movement(DEPARTURE, mrn).state == "atr_sent"


def test_movement_event_unbuildable_message_is_not_sent(world: TransitWorld) -> None:
    """A holder without name and address is fine in a CC015C and a CC028C, not in a CD001C:
    the release is refused (MessageNotBuilt, with the schema's problems) and nothing sent."""
    body = cc015c()
    start = body.index(b"<name>Vardar")
    end = body.index(b"</Address>", start) + len(b"</Address>")
    answer = world.submit(body[:start] + body[end:])
    assert answer.http_status == 202
    mrn = new_mrn()
    world.decide(event("mrn_allocated", mrn=mrn, conversation_id=answer.conversation_id))
    with pytest.raises(MessageNotBuilt) as refused:
        world.decide(event("released", mrn=mrn, control_result=CONTROL))
    assert not refused.value.retryable and refused.value.problems
    assert cd_messages(world) == []
    assert world.movements().movement(DEPARTURE, mrn).state == "accepted"


def test_movement_event_changed_meanwhile_is_prepared_again(world: TransitWorld) -> None:
    """Prepared on one version, applied on another: MovementChanged, retryable."""
    conversation = declared(world)
    mrn = new_mrn()
    world.decide(event("mrn_allocated", mrn=mrn, conversation_id=conversation))
    release = event("released", mrn=mrn, control_result=CONTROL)
    body = to_json_bytes(release)
    prepared = world.handler.prepare(Event(release.event_id, "transit.released", body), None)
    stale = replace(prepared, movement=replace(prepared.movement, version=0))
    with pytest.raises(MovementChanged) as changed:
        asyncio.run(world.journal.transaction(lambda tx: world.handler.apply(stale, tx)))
    assert changed.value.retryable
    asyncio.run(world.journal.transaction(lambda tx: world.handler.apply(prepared, tx)))
    assert world.movements().movement(DEPARTURE, mrn).state == "atr_sent"


@pytest.mark.parametrize("body", [
    b"not json", b'{"event_id": "e", "kind": "teleported", "decided_at": "2026-12-01T10:00Z"}',
    b'{"event_id": "e", "kind": "released", "decided_at": "2026-12-01T10:00:00Z",'
    b' "mrn": "25MK000001234567J7"}',
    b'{"event_id": "e", "kind": "released", "decided_at": "2026-12-01T10:00:00Z",'
    b' "mrn": "25MK000001234567J0"}'])
def test_movement_event_that_cannot_be_understood_is_invalid(body: bytes) -> None:
    """Not JSON, an unknown kind, an MRN with a bad check digit, a release without its control
    result: InvalidMovementEvent (parked, never applied)."""
    with pytest.raises(InvalidMovementEvent):
        parse_event(body)


def test_movement_event_departure_receives_crossing_arrival_control_then_writes_off(
        world: TransitWorld) -> None:
    """CD118C, CD006C, CD018C from the other administrations move the departure movement, and
    the trader's CC015C conversation follows (status and history); the write-off sends the
    CC045C; a CD018C before the CD006C would have been 92."""
    conversation, mrn = released(world)
    early = world.submit(_cd(world, "cd018c.xml", mrn), partner="customs-test")
    assert read(early.document).codes == ["92"]
    for name, state in (("cd118c.xml", "crossing_notified"), ("cd006c.xml", "arrived"),
                        ("cd018c.xml", "controlled")):
        answer = world.submit(_cd(world, name, mrn), partner="customs-test")
        assert answer.http_status == 202, answer.document
        assert world.movements().movement(DEPARTURE, mrn).state == state
        trader = world.journal.conversation(conversation)
        assert (trader["status"], trader["customs_reference"]) == (state, mrn)
        assert trader["history"][-1]["event"] == f"movement.{state}"
    world.decide(event("written_off", mrn=mrn))
    kinds = notified(world, conversation)
    assert [k for k, _ in kinds][-1] == "CC045C"
    assert kinds[-1][1].findtext("TransitOperation/MRN") == mrn
    assert world.journal.conversation(conversation)["status"] == "written_off"


def _cd(world: TransitWorld, name: str, mrn: str) -> bytes:
    body = fixture(name).replace(b"25MK000001234567J0", mrn.encode())
    found = etree.fromstring(body).findtext("messageIdentification")
    assert found is not None
    return body.replace(found.encode(), new_id("C", 30).encode())


# --- destination and transit ------------------------------------------------------------------


def test_movement_event_destination_advises_arrival_sends_control_results_and_releases(
        world: TransitWorld) -> None:
    """At RS: the AAR received, the trader's CC007C, then arrival accepted (CD006C to MK) and
    control results (CD018C to MK, CC025C to the trader in the CC007C's conversation)."""
    rs = TransitWorld.build(world.directory / "rs", country="RS")
    try:
        mrn = new_mrn()
        assert rs.submit(_cd(rs, "cd001c.xml", mrn), partner="customs-test").http_status == 202
        arrival_id = new_id("BDC", 30)
        arrival = rs.submit(cc007c(mrn, message_id=arrival_id))
        assert (arrival.http_status, read(arrival.document).message_type) == (202, "Receipt")
        rs.decide(event("arrival_accepted", mrn=mrn, office="RS002000"))
        rs.decide(event("control_results", mrn=mrn, control_result=ControlResult(
            code="A1", date="2026-12-01", state_of_seals=True, text="Seals intact")))
        sent = cd_messages(rs)
        assert [key for key, _, _ in sent] == ["movement.cd006c.mk", "movement.cd018c.mk"]
        assert read(sent[1][1]).root.findtext("ControlResult/stateOfSeals") == "1"
        assert all(read(b).header["messageSender"] == "NTA.RS" for _, b, _ in sent)
        kinds = notified(rs, arrival.conversation_id or "")
        assert [k for k, _ in kinds] == ["CC025C"]
        assert kinds[0][1].findtext("correlationIdentifier") == arrival_id
        assert kinds[0][1].findtext("TraderAtDestination/identificationNumber") == \
            "RS101234567"
        assert rs.movements().movement(DESTINATION, mrn).state == "goods_released"
        assert rs.journal.conversation(arrival.conversation_id)["status"] == "goods_released"
    finally:
        rs.close()


def test_movement_event_transit_office_notifies_the_crossing(world: TransitWorld) -> None:
    """At RS as a country of transit: the ATR received, the crossing sends a CD118C to MK."""
    rs = TransitWorld.build(world.directory / "rs", country="RS")
    try:
        mrn = new_mrn()
        assert rs.submit(_cd(rs, "cd050c.xml", mrn), partner="customs-test").http_status == 202
        rs.decide(event("crossing", mrn=mrn, office="RS001100", passage_date="2026-12-01"))
        ((key, body, _),) = cd_messages(rs)
        record = read(body)
        assert key == "movement.cd118c.mk"
        assert record.root.findtext("CustomsOfficeOfTransitActual/referenceNumber") == \
            "RS001100"
        assert rs.movements().movement(TRANSIT, mrn).state == "crossing_notified"
    finally:
        rs.close()


def test_movement_event_cd_message_without_a_route_is_parked(world: TransitWorld) -> None:
    """No customs_to_customs route: the CD message goes to the parking exchange, with why."""
    outbound = NctsOutbound(signer=world.outbound.signer, bus_key=world.key,
                            routing=RoutingTable([]), parking_exchange="gateway.parking",
                            partners=world.partners)
    element = etree.fromstring(fixture("cd118c.xml"))
    row = outbound.customs_message(element, country="MK", conversation_id="c",
                                   mrn="25MK000001234567J0")
    assert (row.exchange, row.routing_key) == ("gateway.parking", "unrouted.customs_to_customs")
    assert "GW-ROUTE-NONE" in row.headers["x-gateway-reason"]
    assert is_valid_mrn(new_mrn())
