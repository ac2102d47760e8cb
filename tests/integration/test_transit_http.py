"""Flow F4 at the office of departure over real HTTP, RabbitMQ and SQLite.

With the stand-ins (``sandbox_server``): the haulier's CC015C is answered with a signed CC928C
(valid against our schema, correlated, ``xmlsec1`` accepts it); the transit stand-in allocates
the MRN and releases; the trader's conversation gets the CC928C, CC028C (a valid MRN) and CC029C
by pull and by push; the CD001C and the CD050C leave for RS on ``customs.link``, signed
(detached and enveloped) and valid. Without them (``gateway_server``), every bad input the issue
names gets its NCTS answer — 90, 92, 26, 93, CC917C with line and column — or, for what must
never be NACKed, our rejection.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pika
import pytest
from conftest import RunningGateway, wait_for, xmlsec1_verify
from http_helpers import XML_HEADERS, gateway_cert
from lxml import etree
from support.ncts_trader import (
    MRN,
    cc007c,
    cc015c,
    fixture,
    line_of,
    local_name,
    new_id,
    read,
    schema_problems,
    with_goods_items,
)

from adapters.bootstrap import load_signing_key
from gateway.canonical.model import to_json_bytes
from gateway.canonical.movement_event import MovementEvent
from gateway.identifiers import is_valid_mrn, make_mrn
from gateway.settings import Settings
from gateway.signing.detached import sign_body, verify_body
from gateway.signing.keys import TrustStore
from gateway.signing.xmldsig import verify_enveloped

pytestmark = pytest.mark.integration
NCTS = "http://ncts.dgtaxud.ec"
TRADER = "trader-haulier"


def post(running: RunningGateway, token: str, body: bytes) -> httpx.Response:
    with running.client(token) as client:
        return client.post("/v1/messages", content=body, headers=XML_HEADERS)


def trust(running: RunningGateway) -> TrustStore:
    store = TrustStore()
    store.add("gateway", running.gateway.bus_key.certificate)
    return store


def checked_answer(running: RunningGateway, response: httpx.Response, request: bytes,
                   tmp_path: Path | None = None) -> Any:
    """The NCTS answer of ``request``: signed by the gateway, valid, correlated (R0008)."""
    document = response.content
    verify_enveloped(etree.fromstring(document), trust(running), owner="gateway")
    if tmp_path is not None:
        rc, err = xmlsec1_verify(document, gateway_cert(running),
                                 f"{NCTS}:{local_name(document)}", tmp_path)
        assert rc == 0, err
    assert schema_problems(document) == []
    answer, asked = read(document), read(request)
    assert answer.header["correlationIdentifier"] == asked.header["messageIdentification"]
    assert answer.header["messageRecipient"] == asked.header["messageSender"]
    return answer


@pytest.fixture
def link_capture(settings: Settings, rabbitmq: str) -> Iterator[Any]:
    """A queue of the test's own bound to customs.link (what the link would carry)."""
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    channel = connection.channel()
    name = f"{settings.amqp_prefix}test.link-capture"
    holder: dict[str, Any] = {"channel": channel, "queue": name}

    def bind() -> None:
        channel.queue_declare(name, durable=False, auto_delete=False)
        channel.queue_bind(name, f"{settings.amqp_prefix}customs.link", "movement.#")
    holder["bind"] = bind
    yield holder
    try:
        channel.queue_delete(name)
    finally:
        connection.close()


def take(channel: Any, queue: str, count: int, timeout: float = 20.0
         ) -> list[tuple[str, Any, bytes]]:
    got: list[tuple[str, Any, bytes]] = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        method, properties, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            time.sleep(0.05)
        else:
            got.append((method.routing_key, properties, body))
    assert len(got) == count, f"{len(got)} message(s) on {queue}, expected {count}"
    return got


def notifications(running: RunningGateway, token: str, conversation_id: str
                  ) -> list[dict[str, Any]]:
    with running.client(token, Accept="application/json") as client:
        response = client.get(f"/v1/conversations/{conversation_id}/notifications")
    assert response.status_code == 200, response.text
    return list(response.json()["notifications"])


# --- the story at departure -----------------------------------------------------------------------


def test_transit_cc015c_gets_cc928c_then_mrn_release_and_the_records_leave_for_rs(
        sandbox_server: RunningGateway, tokens: dict[str, str], link_capture: Any,
        tmp_path: Path) -> None:
    """CC015C -> 202 CC928C (signed, valid, correlated) -> CC028C with a valid MRN -> CC029C
    (pulled and pushed) -> CD001C and CD050C for RS on customs.link, signed both ways."""
    running = sandbox_server
    link_capture["bind"]()
    request = cc015c()
    response = post(running, tokens[TRADER], request)
    assert response.status_code == 202, response.text
    assert local_name(response.content) == "CC928C"
    checked_answer(running, response, request, tmp_path)
    conversation_id = response.headers["X-Conversation-ID"]

    listed = wait_for(lambda: (found := notifications(running, tokens[TRADER],
                                                      conversation_id)) and
                      len(found) >= 3 and found, timeout=20)
    assert [n["kind"] for n in listed] == ["CC928C", "CC028C", "CC029C"]
    payloads = {}
    for n in listed:
        root = etree.fromstring(n["document"].encode())
        verify_enveloped(root, trust(running), owner="gateway")
        (payload,) = root.find("{urn:customs-gateway:v1}Payload")
        assert schema_problems(etree.tostring(payload)) == []
        payloads[n["kind"]] = payload
    rc, err = xmlsec1_verify(listed[1]["document"].encode(), gateway_cert(running),
                             "urn:customs-gateway:v1:Notification", tmp_path)
    assert rc == 0, err
    mrn = payloads["CC028C"].findtext("TransitOperation/MRN") or ""
    assert len(mrn) == 18 and is_valid_mrn(mrn) and mrn[2:4] == "MK"
    assert payloads["CC029C"].findtext("TransitOperation/MRN") == mrn
    assert payloads["CC028C"].findtext("correlationIdentifier") == \
        read(request).header["messageIdentification"]

    sent = take(link_capture["channel"], link_capture["queue"], 2)
    assert sorted(key for key, _, _ in sent) == ["movement.cd001c.rs", "movement.cd050c.rs"]
    for key, properties, body in sent:
        verify_body(trust(running), body, properties.headers, owner="gateway")
        verify_enveloped(etree.fromstring(body), trust(running), owner="gateway")
        assert schema_problems(body) == []
        record = read(body)
        assert record.message_type == key.split(".")[1].upper()
        assert (record.header["TransitOperation/MRN"], record.header["messageRecipient"]) == \
            (mrn, "NTA.RS")
        assert properties.headers["x-ncts-message-id"] == record.header["messageIdentification"]
        assert properties.content_type == "application/xml"

    with running.client(tokens[TRADER]) as client:
        found = client.get(f"/v1/conversations/{conversation_id}").json()
    assert (found["status"], found["mrn"]) == ("atr_sent", mrn)

    def pushed() -> list[Any]:
        with running.client(tokens[TRADER]) as client:
            items = client.get(f"/sandbox/callbacks/{TRADER}").json()
        return items if len(items) >= 3 else []
    assert len(wait_for(pushed, timeout=20)) == 3


# --- bad input (no stand-ins: the movement stays where the test puts it) ---------------------


def test_transit_cc007c_for_an_unknown_mrn_is_90(gateway_server: RunningGateway,
                                                 tokens: dict[str, str]) -> None:
    """An arrival for an MRN this gateway does not know: 400 CC906C 90, the MRN as pointer."""
    request = cc007c(make_mrn(2026, "MK", uuid.uuid4().hex[:12].upper(), "J"))
    response = post(gateway_server, tokens[TRADER], request)
    answer = checked_answer(gateway_server, response, request)
    assert (response.status_code, answer.message_type, answer.codes) == (400, "CC906C", ["90"])


def test_transit_cc007c_before_release_is_92(gateway_server: RunningGateway,
                                             tokens: dict[str, str], settings: Settings) -> None:
    """A declaration accepted (the transit system's signed mrn_allocated applied) but not
    released: an arrival for its MRN is out of sequence, 409 CC906C 92 at the root."""
    running = gateway_server
    accepted = post(running, tokens[TRADER], cc015c())
    conversation_id = accepted.headers["X-Conversation-ID"]
    mrn = make_mrn(2026, "MK", uuid.uuid4().hex[:12].upper(), "J")
    event = MovementEvent(event_id=uuid.uuid4().hex, kind="mrn_allocated", mrn=mrn,
                          conversation_id=conversation_id, decided_at="2026-12-01T10:00:00Z")
    body = to_json_bytes(event)
    key = load_signing_key(settings, "clearance")
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    try:
        connection.channel().basic_publish(
            f"{settings.amqp_prefix}customs.decisions", "transit.mrn_allocated", body,
            pika.BasicProperties(headers=sign_body(key, body), message_id=event.event_id,
                                 correlation_id=mrn, type="transit.mrn_allocated",
                                 delivery_mode=2))
    finally:
        connection.close()
    with running.client(tokens[TRADER]) as client:
        wait_for(lambda: client.get(f"/v1/conversations/{conversation_id}").json()["mrn"] == mrn)
    request = cc007c(mrn)
    response = post(running, tokens[TRADER], request)
    answer = checked_answer(running, response, request)
    assert (response.status_code, answer.codes) == (409, ["92"])
    assert answer.errors[0]["errorPointer"] == "/CC007C"


def test_transit_duplicate_message_identification_is_26_and_a_repeat_its_cc928c(
        gateway_server: RunningGateway, tokens: dict[str, str]) -> None:
    """The same message id with another document: 409 CC906C 26; the same document again: the
    original CC928C, X-Duplicate."""
    message_id = new_id("VL", 30)
    original = cc015c(message_id=message_id)
    first = post(gateway_server, tokens[TRADER], original)
    assert first.status_code == 202
    request = cc015c(message_id=message_id)
    response = post(gateway_server, tokens[TRADER], request)
    answer = checked_answer(gateway_server, response, request)
    assert (response.status_code, answer.codes) == (409, ["26"])
    again = post(gateway_server, tokens[TRADER], original)
    assert (again.status_code, again.headers.get("X-Duplicate"), again.content) == \
        (202, "true", first.content)


def test_transit_mrn_with_a_bad_check_digit_is_93(gateway_server: RunningGateway,
                                                  tokens: dict[str, str]) -> None:
    """R0028: 400 CC906C 93, the MRN itself as errorPointer."""
    bad = MRN[:17] + "5"
    request = cc007c(bad)
    response = post(gateway_server, tokens[TRADER], request)
    answer = checked_answer(gateway_server, response, request)
    assert (response.status_code, answer.codes) == (400, ["93"])
    assert answer.errors[0]["errorPointer"] == bad


@pytest.mark.parametrize(("name", "mutate", "needle", "code"), [
    ("office reference", lambda b: b.replace(b">MK001005<", b">MK-01005<", 1), b">MK-01005<",
     "12"),
    ("GRN", lambda b: b.replace(b">25MK0000000001235<", b">25MK000000000123A<"),
     b">25MK000000000123A<", "12"),
    ("1000 goods items", lambda b: with_goods_items(b, 1000),
     b"<goodsItemNumber>1000<", "35"),
])
def test_transit_xml_errors_get_cc917c_with_line_and_column(
        gateway_server: RunningGateway, tokens: dict[str, str], tmp_path: Path, name: str,
        mutate: Any, needle: bytes, code: str) -> None:
    """A pattern broken (office reference, GRN), more than 999 goods items in a house
    consignment: 400 CC917C, the CL030 code at the offending line, with a column."""
    request = mutate(cc015c())
    response = post(gateway_server, tokens[TRADER], request)
    assert response.status_code == 400, name
    answer = checked_answer(gateway_server, response, request, tmp_path)
    assert answer.message_type == "CC917C" and code in answer.codes
    error = answer.errors[answer.codes.index(code)]
    expected = line_of(request, needle) - (1 if code == "35" else 0)
    assert int(error["errorLineNumber"]) in (expected, expected + 1)
    assert int(error["errorColumnNumber"]) >= 1


def test_transit_xinclude_and_nacks_never_get_a_nack(gateway_server: RunningGateway,
                                                     tokens: dict[str, str]) -> None:
    """An XInclude inside a P5 message is refused (our rejection); a CC906C sent by a trader
    gets our rejection (403), never a NACK; nothing is journaled for either."""
    xinclude = b'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/hosts"/>'
    before = len(gateway_server.gateway.journal._read("SELECT 1 FROM messages"))
    for body in (cc015c(), fixture("cc906c.xml")):
        response = post(gateway_server, tokens[TRADER],
                        body.replace(b"<messageType>", xinclude + b"<messageType>"))
        assert response.status_code == 400
        assert local_name(response.content) == "Rejection"
        assert b"GW-XML-XINCLUDE" in response.content
    response = post(gateway_server, tokens[TRADER], fixture("cc906c.xml"))
    assert (response.status_code, local_name(response.content)) == (403, "Rejection")
    assert len(gateway_server.gateway.journal._read("SELECT 1 FROM messages")) == before


def test_transit_json_clients_get_the_same_refusal(gateway_server: RunningGateway,
                                                   tokens: dict[str, str]) -> None:
    """Accept: application/json: the NACK's content as our JSON rejection (code, problems)."""
    with gateway_server.client(tokens[TRADER], Accept="application/json") as client:
        response = client.post("/v1/messages", content=cc007c(MRN[:17] + "5"),
                               headers=XML_HEADERS)
    assert response.status_code == 400
    found = json.loads(response.content)
    assert found["code"] == "GW-RULE-INVALID"
    assert found["problems"][0]["code"] == "GW-RULE-NCTS-MRN"
