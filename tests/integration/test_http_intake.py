"""``POST /v1/messages`` against a real uvicorn server and the real RabbitMQ.

Every answer is checked as a partner would check it: the status, the headers, the signed
receipt or rejection (verified with the independent ``xmlsec1`` binary against the gateway's
certificate) and what the gateway kept — the journal (conversations, messages, outbox) and,
for accepted messages, the declaration waiting in the clearance queue. Bad input must be
answered with a signed rejection and must change nothing.
"""

from __future__ import annotations

import hashlib
import json
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pika
import pytest
from conftest import FIXTURES, RunningGateway, start_gateway, wait_for, xmlsec1_verify
from lxml import etree
from prometheus_client.parser import text_string_to_metric_families

from adapters.standins.asycuda_samples import build_sad
from adapters.standins.wco_samples import build_dec
from adapters.store.sqlite_journal import sqlite_path
from gateway.settings import Settings
from gateway.topology import Topology

pytestmark = pytest.mark.integration

GW_NS = "urn:customs-gateway:v1"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
NS = {"gw": GW_NS, "ds": DS_NS}
RECEIPT_NODE = "urn:customs-gateway:v1:Receipt"
REJECTION_NODE = "urn:customs-gateway:v1:Rejection"
XML_HEADERS = {"Content-Type": "application/xml"}
RECEIPT_FIELDS = {
    "ReceiptID": "receipt_id", "ConversationID": "conversation_id",
    "ReceivedAt": "received_at", "Partner": "partner", "MessageType": "message_type",
    "MessageName": "message_name", "MessageVersion": "message_version",
    "MessageID": "message_id", "SHA256": "sha256", "Status": "status",
}


# --- helpers ------------------------------------------------------------------------------


def new_lrn() -> str:
    return f"LRN-{uuid.uuid4().hex[:16].upper()}"


def gateway_cert(running: RunningGateway) -> Path:
    return running.settings.keys_dir / "gateway.crt"


def parse(document: bytes) -> etree._Element:
    return etree.fromstring(document)


def fields(root: etree._Element) -> dict[str, str]:
    """The leaf children of a gw:Receipt / gw:Rejection by local name."""
    return {etree.QName(child).localname: (child.text or "") for child in root
            if isinstance(child.tag, str) and etree.QName(child).namespace == GW_NS
            and len(child) == 0}


def journal_snapshot(running: RunningGateway) -> tuple[int, int, dict[str, int]]:
    """Conversations, journaled messages and outbox rows by state, read independently."""
    path = sqlite_path(running.settings.journal_url)
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        conversations = db.execute("SELECT COUNT(*) FROM conversations").fetchone()[0]
        messages = db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    return conversations, messages, running.gateway.journal.outbox_counts()


def clearance_queue_messages(settings: Settings) -> list[tuple[dict[str, Any], bytes]]:
    """Headers and bodies of the messages waiting in the clearance queue (left in place)."""
    topology = Topology.load(settings.config_dir / "topology.toml")
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    found: list[tuple[dict[str, Any], bytes]] = []
    try:
        channel = connection.channel()
        queue = settings.amqp_prefix + topology.clearance_queue
        while True:
            method, properties, body = channel.basic_get(queue, auto_ack=False)
            if method is None:
                break
            found.append((dict(properties.headers or {}), body))
    finally:
        connection.close()          # unacknowledged messages go back to the queue
    return found


def accept_one(running: RunningGateway, token: str) -> str:
    """Submit one valid declaration, wait until it is published; its conversation id."""
    with running.client(token) as client:
        response = client.post("/v1/messages", content=build_dec(1, lrn=new_lrn()),
                               headers=XML_HEADERS)
    assert response.status_code == 202, response.text
    wait_for(lambda: running.gateway.journal.outbox_counts() == {"sent": 1}, timeout=10)
    return response.headers["X-Conversation-ID"]


def assert_signed_rejection(response: httpx.Response, running: RunningGateway,
                            tmp_path: Path, status: int, code: str) -> etree._Element:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/xml")
    root = parse(response.content)
    assert root.tag == f"{{{GW_NS}}}Rejection"
    assert root.find("ds:Signature", NS) is not None
    assert root.findtext("gw:Status", namespaces=NS) == "rejected"
    assert root.findtext("gw:Code", namespaces=NS) == code
    rc, err = xmlsec1_verify(response.content, gateway_cert(running), REJECTION_NODE, tmp_path)
    assert rc == 0, err
    assert "X-Conversation-ID" not in response.headers
    return root


def metric_samples(text: str) -> list[Any]:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def metric_value(samples: list[Any], name: str, **labels: str) -> float:
    return sum(s.value for s in samples
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


# --- accepted messages --------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["wco", "asycuda"])
def test_valid_declaration_answered_with_signed_receipt(
        gateway_server: RunningGateway, tokens: dict[str, str], tmp_path: Path,
        kind: str) -> None:
    """A valid WCO or ASYCUDA declaration gets 202 and a receipt signed by the gateway."""
    if kind == "wco":
        body = build_dec(3, lrn=new_lrn())
        expected_type, expected_version = "wco-dec-3.6", "3.6"
    else:
        body = build_sad(3, reference=new_lrn())
        expected_type, expected_version = "asycuda-sad-1", "sad-1"
    with gateway_server.client(tokens["broker-alpha"]) as client:
        response = client.post("/v1/messages", content=body, headers=XML_HEADERS)

    assert response.status_code == 202, response.text
    assert response.headers["content-type"].startswith("application/xml")
    conversation_id = response.headers["X-Conversation-ID"]
    assert "X-Duplicate" not in response.headers
    root = parse(response.content)
    assert root.tag == f"{{{GW_NS}}}Receipt"
    receipt = fields(root)
    assert receipt["ConversationID"] == conversation_id
    assert root.get("Id") == f"RCP-{receipt['ReceiptID']}"
    assert receipt["ReceiptID"] and receipt["ReceiptID"] != conversation_id
    assert receipt["ReceivedAt"].endswith("Z") and receipt["ReceivedAt"][:4].isdigit()
    assert receipt["Partner"] == "broker-alpha"
    assert receipt["MessageType"] == expected_type
    assert receipt["MessageVersion"] == expected_version
    assert receipt["SHA256"] == hashlib.sha256(body).hexdigest()
    assert receipt["Status"] == "accepted"
    rc, err = xmlsec1_verify(response.content, gateway_cert(gateway_server), RECEIPT_NODE,
                             tmp_path)
    assert rc == 0, err


def test_valid_declaration_journaled_and_published_with_confirm(
        gateway_server: RunningGateway, tokens: dict[str, str]) -> None:
    """An accepted declaration is journaled with its outbox row, which becomes ``sent``."""
    lrn = new_lrn()
    body = build_dec(2, lrn=lrn)
    with gateway_server.client(tokens["broker-alpha"]) as client:
        response = client.post("/v1/messages", content=body, headers=XML_HEADERS)
    assert response.status_code == 202, response.text
    conversation_id = response.headers["X-Conversation-ID"]
    receipt = fields(parse(response.content))
    journal = gateway_server.gateway.journal

    conversation = journal.conversation(conversation_id)
    assert conversation is not None
    assert conversation["partner_id"] == "broker-alpha"
    assert conversation["reference"] == lrn
    stored = journal.find("broker-alpha", f"doc:wco:{lrn}")
    assert stored is not None
    assert stored.receipt_id == receipt["ReceiptID"]
    assert stored.receipt_xml == response.content

    wait_for(lambda: journal.outbox_counts() == {"sent": 1}, timeout=10)
    events = [e["event"] for e in journal.conversation(conversation_id)["history"]]
    assert events[:2] == ["submitted", "published"]
    waiting = clearance_queue_messages(gateway_server.settings)
    assert len(waiting) == 1
    headers, payload = waiting[0]
    assert headers["x-conversation-id"] == conversation_id
    assert headers["x-receipt-id"] == receipt["ReceiptID"]
    assert json.loads(payload)  # the canonical declaration, as JSON


def test_accept_json_gives_same_receipt_content(
        gateway_server: RunningGateway, tokens: dict[str, str]) -> None:
    """``Accept: application/json`` answers with the same receipt fields as the signed XML."""
    lrn = new_lrn()
    body = build_dec(1, lrn=lrn)
    with gateway_server.client(tokens["broker-alpha"]) as client:
        response = client.post("/v1/messages", content=body,
                               headers={**XML_HEADERS, "Accept": "application/json"})
    assert response.status_code == 202, response.text
    assert response.headers["content-type"].startswith("application/json")
    content = response.json()
    assert content["conversation_id"] == response.headers["X-Conversation-ID"]
    assert content["sha256"] == hashlib.sha256(body).hexdigest()
    stored = gateway_server.gateway.journal.find("broker-alpha", f"doc:wco:{lrn}")
    assert stored is not None
    signed = fields(parse(stored.receipt_xml))
    assert {json_key: content[json_key] for json_key in RECEIPT_FIELDS.values()} == \
        {json_key: signed[xml_name] for xml_name, json_key in RECEIPT_FIELDS.items()}


def test_large_999_item_declaration_accepted_and_published(
        gateway_server: RunningGateway, tokens: dict[str, str]) -> None:
    """A 999-item WCO declaration (about 2 MB) is accepted and published."""
    body = build_dec(999, lrn=new_lrn())
    with gateway_server.client(tokens["broker-alpha"]) as client:
        response = client.post("/v1/messages", content=body, headers=XML_HEADERS)
    assert response.status_code == 202, response.text[:2000]
    assert fields(parse(response.content))["SHA256"] == hashlib.sha256(body).hexdigest()
    wait_for(lambda: gateway_server.gateway.journal.outbox_counts() == {"sent": 1}, timeout=15)
    waiting = clearance_queue_messages(gateway_server.settings)
    assert len(waiting) == 1
    assert len(json.loads(waiting[0][1])["goods_items"]) == 999


# --- repeats ------------------------------------------------------------------------------


def test_repeat_of_same_body_returns_original_receipt(
        gateway_server: RunningGateway, tokens: dict[str, str]) -> None:
    """Sending the same bytes again gives 202, the original receipt and publishes nothing."""
    body = build_dec(2, lrn=new_lrn())
    with gateway_server.client(tokens["broker-alpha"]) as client:
        first = client.post("/v1/messages", content=body, headers=XML_HEADERS)
        assert first.status_code == 202, first.text
        wait_for(lambda: gateway_server.gateway.journal.outbox_counts() == {"sent": 1})
        before = journal_snapshot(gateway_server)
        again = client.post("/v1/messages", content=body, headers=XML_HEADERS)

    assert again.status_code == 202, again.text
    assert again.headers["X-Duplicate"] == "true"
    assert again.headers["X-Conversation-ID"] == first.headers["X-Conversation-ID"]
    assert fields(parse(again.content))["ReceiptID"] == fields(parse(first.content))["ReceiptID"]
    assert again.content == first.content
    time.sleep(0.3)   # give a wrongly re-queued outbox row the chance to show
    assert journal_snapshot(gateway_server) == before
    assert len(clearance_queue_messages(gateway_server.settings)) == 1


def test_concurrent_repeats_share_one_receipt_and_one_outbox_row(
        gateway_server: RunningGateway, tokens: dict[str, str]) -> None:
    """Ten simultaneous copies of one declaration get one receipt and publish once."""
    body = build_dec(2, lrn=new_lrn())

    def post(_: int) -> httpx.Response:
        with gateway_server.client(tokens["broker-alpha"]) as client:
            return client.post("/v1/messages", content=body, headers=XML_HEADERS)

    with ThreadPoolExecutor(10) as pool:
        responses = list(pool.map(post, range(10)))
    assert [r.status_code for r in responses] == [202] * 10
    assert len({r.content for r in responses}) == 1
    assert sum(r.headers.get("X-Duplicate") == "true" for r in responses) == 9
    wait_for(lambda: gateway_server.gateway.journal.outbox_counts() == {"sent": 1})
    time.sleep(0.2)
    assert journal_snapshot(gateway_server) == (1, 1, {"sent": 1})


def test_same_lrn_with_different_content_rejected_with_conflict(
        gateway_server: RunningGateway, tokens: dict[str, str], tmp_path: Path) -> None:
    """Reusing an LRN for a different document gives 409 naming the original receipt."""
    lrn = new_lrn()
    with gateway_server.client(tokens["broker-alpha"]) as client:
        first = client.post("/v1/messages", content=build_dec(2, lrn=lrn), headers=XML_HEADERS)
        assert first.status_code == 202, first.text
        before = journal_snapshot(gateway_server)
        other = client.post("/v1/messages", content=build_dec(3, lrn=lrn), headers=XML_HEADERS)

    root = assert_signed_rejection(other, gateway_server, tmp_path, 409,
                                   "GW-DUPLICATE-CONFLICT")
    original = fields(parse(first.content))["ReceiptID"]
    assert root.findtext("gw:OriginalReceiptID", namespaces=NS) == original
    assert original in root.findtext("gw:Summary", namespaces=NS)
    assert journal_snapshot(gateway_server)[:2] == before[:2]


# --- bad input: a signed rejection, nothing changed ---------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<ASYCUDA><Property><Sad_flow>&lol9;</Sad_flow></Property></ASYCUDA>
"""


def xxe_declaration() -> bytes:
    """A real WCO declaration whose LRN is an external entity pointing at /etc/passwd."""
    lrn = new_lrn()
    body = build_dec(1, lrn=lrn).replace(
        b'<?xml version="1.0" encoding="UTF-8"?>\n',
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<!DOCTYPE md:MetaData [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n', 1)
    return body.replace(f">{lrn}<".encode(), b">&xxe;<", 1)


def xinclude_declaration() -> bytes:
    """A real WCO declaration with an XInclude of /etc/passwd in its goods description."""
    body = build_dec(1, lrn=new_lrn())
    start = body.index(b"<Description>")
    end = body.index(b"</Description>", start)
    return (body[:start] + b'<Description><xi:include xmlns:xi="http://www.w3.org/2001/XInclude"'
            b' href="file:///etc/passwd" parse="text"/>' + body[end:])


def deep_document(levels: int = 200) -> bytes:
    inner = b"<Declaration>" * levels + b"x" + b"</Declaration>" * levels
    return (b'<md:MetaData xmlns:md="urn:wco:datamodel:WCO:DocumentMetaData-DMS:2">'
            + inner + b"</md:MetaData>")


BAD_INPUTS: dict[str, dict[str, Any]] = {
    "billion-laughs": dict(body=lambda: BILLION_LAUGHS, status=400, code="GW-XML-DTD"),
    "external-entity": dict(body=xxe_declaration, status=400, code="GW-XML-DTD"),
    "xinclude": dict(body=xinclude_declaration, status=400, code="GW-XML-XINCLUDE"),
    "deep-nesting": dict(body=deep_document, status=400, code="GW-XML-DEPTH"),
    "wrong-content-type": dict(headers={"Content-Type": "text/plain"}, status=415,
                               code="GW-MEDIA-TYPE"),
    "missing-content-type": dict(headers={}, status=415, code="GW-MEDIA-TYPE"),
    "accept-html": dict(headers={**XML_HEADERS, "Accept": "text/html"}, status=406,
                        code="GW-NOT-ACCEPTABLE"),
    "unknown-root": dict(body=lambda: b'<?xml version="1.0"?>\n<Invoice xmlns="urn:example:'
                         b'invoice"><ID>1</ID></Invoice>', status=400,
                         code="GW-MSG-UNKNOWN-TYPE"),
    "no-token": dict(token=None, status=401, code="GW-AUTH-UNAUTHENTICATED"),
    "wrong-token": dict(token="gwt_" + "A" * 43, status=401, code="GW-AUTH-UNAUTHENTICATED"),
    "bank-token": dict(token="bank-demo", status=403, code="GW-AUTH-FORBIDDEN"),
    "legacy-broker-sends-wco": dict(token="broker-legacy", status=403,
                                    code="GW-AUTH-FORBIDDEN"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS), ids=list(BAD_INPUTS))
def test_bad_input_rejected_signed_and_changes_nothing(
        gateway_server: RunningGateway, tokens: dict[str, str], tmp_path: Path,
        case: str) -> None:
    """Each kind of bad request gets its signed rejection and leaves the journal as it was."""
    spec = BAD_INPUTS[case]
    accept_one(gateway_server, tokens["broker-alpha"])
    before = journal_snapshot(gateway_server)
    body = spec.get("body", lambda: build_dec(1, lrn=new_lrn()))()
    token = spec.get("token", "broker-alpha")
    token = tokens.get(token, token) if token else None
    with gateway_server.client(token) as client:
        response = client.post("/v1/messages", content=body,
                               headers=spec.get("headers", XML_HEADERS))

    root = assert_signed_rejection(response, gateway_server, tmp_path, spec["status"],
                                   spec["code"])
    problems = root.find("gw:Problems", NS)
    assert int(problems.get("count")) >= 1
    assert problems.findtext("gw:Problem/gw:Code", namespaces=NS)
    time.sleep(0.2)
    assert journal_snapshot(gateway_server) == before
    assert len(clearance_queue_messages(gateway_server.settings)) == 1


def test_malformed_xml_rejected_with_line_and_column(
        gateway_server: RunningGateway, tokens: dict[str, str], tmp_path: Path) -> None:
    """A body that is not well-formed gives 400 with the line and column of the fault."""
    lines = build_dec(1, lrn=new_lrn()).split(b"\n")
    broken_line = next(i for i, line in enumerate(lines) if b"<TypeCode>IMA" in line)
    lines[broken_line] = lines[broken_line].replace(b"</TypeCode>", b"</TypeKode>")
    before = journal_snapshot(gateway_server)
    with gateway_server.client(tokens["broker-alpha"]) as client:
        response = client.post("/v1/messages", content=b"\n".join(lines), headers=XML_HEADERS)

    root = assert_signed_rejection(response, gateway_server, tmp_path, 400, "GW-XML-MALFORMED")
    problem = root.find("gw:Problems/gw:Problem", NS)
    assert problem.findtext("gw:Code", namespaces=NS) == "GW-XML-MALFORMED"
    assert int(problem.findtext("gw:Line", namespaces=NS)) == broken_line + 1
    column = int(problem.findtext("gw:Column", namespaces=NS))
    assert 1 <= column <= len(lines[broken_line]) + 1
    assert journal_snapshot(gateway_server) == before


def test_external_entity_never_resolved_into_answer(
        gateway_server: RunningGateway, tokens: dict[str, str]) -> None:
    """An external entity to /etc/passwd is refused and no file content reaches the answer."""
    passwd = Path("/etc/passwd").read_text()
    first_entry = passwd.splitlines()[0]
    for accept in ("application/xml", "application/json"):
        with gateway_server.client(tokens["broker-alpha"]) as client:
            response = client.post("/v1/messages", content=xxe_declaration(),
                                   headers={**XML_HEADERS, "Accept": accept})
        assert response.status_code == 400, response.text
        assert first_entry not in response.text
        assert "root:" not in response.text and "/bin/" not in response.text


def test_schema_invalid_document_lists_every_problem(
        gateway_server: RunningGateway, tokens: dict[str, str], tmp_path: Path) -> None:
    """A schema-invalid declaration gets 400 listing each problem with pointer, line, column."""
    body = (FIXTURES / "wco" / "dec_invalid_many_errors.xml").read_bytes().replace(
        b"LRN-BAD-0001", new_lrn().encode())
    error_lines = [i + 1 for i, line in enumerate(body.split(b"\n")) if b"<!-- ERROR" in line]
    before = journal_snapshot(gateway_server)
    with gateway_server.client(tokens["broker-alpha"]) as client:
        response = client.post("/v1/messages", content=body, headers=XML_HEADERS)

    root = assert_signed_rejection(response, gateway_server, tmp_path, 400, "GW-XSD-INVALID")
    assert root.findtext("gw:MessageType", namespaces=NS) == "wco-dec-3.6"
    problems = root.find("gw:Problems", NS)
    assert problems.get("count") == problems.get("shown") == str(len(error_lines)) == "7"
    listed = [fields(p) for p in problems.findall("gw:Problem", NS)]
    assert [int(p["Line"]) for p in listed] == error_lines
    lines = body.split(b"\n")
    for problem in listed:
        assert problem["Code"].startswith("GW-XSD-")
        assert problem["Message"] and "{urn:" not in problem["Message"]
        assert problem["Pointer"].startswith("/MetaData/Declaration/")
        local = problem["Pointer"].rsplit("/", 1)[-1].split("[")[0]
        line = lines[int(problem["Line"]) - 1]
        assert line.index(f"<{local}".encode()) + 1 == int(problem["Column"])
    by_pointer = {p["Pointer"]: p for p in listed}
    assert by_pointer["/MetaData/Declaration/FunctionCode"]["Value"] == "10"
    assert by_pointer["/MetaData/Declaration/FunctionCode"]["Code"] == "GW-XSD-ENUMERATION"
    assert by_pointer["/MetaData/Declaration/InvoiceAmount"]["Value"] == "1234.5678"
    assert by_pointer["/MetaData/Declaration/Exporter/Address/CountryCode"]["Value"] == "DEU"
    assert by_pointer["/MetaData/Declaration/GoodsShipment/Importer/VATNumber"]["Code"] == \
        "GW-XSD-CONTENT"
    assert journal_snapshot(gateway_server) == before


def test_schema_problems_capped_at_25_with_total_count(
        gateway_server: RunningGateway, tokens: dict[str, str], tmp_path: Path) -> None:
    """A document with 30 schema errors lists 25 of them and states the total of 30."""
    body = build_dec(30, lrn=new_lrn()).replace(b"<TypeCode>PK</TypeCode>",
                                                b"<TypeCode>PACK</TypeCode>")
    with gateway_server.client(tokens["broker-alpha"]) as client:
        response = client.post("/v1/messages", content=body, headers=XML_HEADERS)
        as_json = client.post("/v1/messages", content=body,
                              headers={**XML_HEADERS, "Accept": "application/json"})

    root = assert_signed_rejection(response, gateway_server, tmp_path, 400, "GW-XSD-INVALID")
    problems = root.find("gw:Problems", NS)
    assert problems.get("count") == "30"
    assert problems.get("shown") == "25"
    assert len(problems.findall("gw:Problem", NS)) == 25
    assert as_json.status_code == 400
    content = as_json.json()
    assert content["problem_count"] == 30
    assert len(content["problems"]) == 25
    assert content["more_problems"] == 5
    assert journal_snapshot(gateway_server)[:2] == (0, 0)


@pytest.mark.parametrize("accept", ["application/json;q=0, application/xml",
                                    "application/json;q=0.0, application/xml",
                                    "application/json; q=0.000, application/xml"])
def test_accept_json_with_quality_zero_answers_xml(
        gateway_server: RunningGateway, tokens: dict[str, str], accept: str) -> None:
    """A client that refuses JSON with ``q=0`` (in any spelling) is answered in XML."""
    with gateway_server.client(tokens["broker-alpha"]) as client:
        response = client.post("/v1/messages", content=build_dec(1, lrn=new_lrn()),
                               headers={**XML_HEADERS, "Accept": accept})
    assert response.status_code == 202, response.text
    assert response.headers["content-type"].startswith("application/xml")
    assert parse(response.content).tag == f"{{{GW_NS}}}Receipt"


@pytest.mark.parametrize("case", ["wrong-content-type", "accept-html"])
def test_rejection_before_reading_states_no_false_sha256(
        gateway_server: RunningGateway, tokens: dict[str, str], case: str) -> None:
    """A rejection issued before the body is read never claims a SHA-256 of other bytes."""
    body = build_dec(1, lrn=new_lrn())
    headers = BAD_INPUTS[case]["headers"]
    with gateway_server.client(tokens["broker-alpha"]) as client:
        response = client.post("/v1/messages", content=body, headers=headers)
    assert response.status_code in (406, 415)
    stated = parse(response.content).findtext("gw:SHA256", namespaces=NS)
    assert stated in (None, hashlib.sha256(body).hexdigest())


# --- body size ----------------------------------------------------------------------------


@pytest.fixture
def small_limit_gateway(settings: Settings, rabbitmq: str) -> Iterator[RunningGateway]:
    """A gateway that takes bodies of at most 2000 bytes."""
    running = start_gateway(settings.with_(max_body_bytes=2000))
    yield running
    running.stop()


def test_body_over_limit_rejected_with_413(
        small_limit_gateway: RunningGateway, tokens: dict[str, str], tmp_path: Path) -> None:
    """A body larger than ``max_body_bytes`` with an honest Content-Length gets 413."""
    body = build_dec(3, lrn=new_lrn())
    assert len(body) > 2000
    with small_limit_gateway.client(tokens["broker-alpha"]) as client:
        response = client.post("/v1/messages", content=body, headers=XML_HEADERS)
    assert_signed_rejection(response, small_limit_gateway, tmp_path, 413, "GW-SIZE-LIMIT")
    assert journal_snapshot(small_limit_gateway) == (0, 0, {})


def test_streamed_body_without_length_over_limit_rejected_with_413(
        small_limit_gateway: RunningGateway, tokens: dict[str, str], tmp_path: Path) -> None:
    """A chunked body with no Content-Length is cut off at the limit and gets 413."""
    body = build_dec(3, lrn=new_lrn())

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 500):
            yield body[start:start + 500]

    with small_limit_gateway.client(tokens["broker-alpha"]) as client:
        response = client.post("/v1/messages", content=chunks(), headers=XML_HEADERS)
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_signed_rejection(response, small_limit_gateway, tmp_path, 413, "GW-SIZE-LIMIT")
    assert journal_snapshot(small_limit_gateway) == (0, 0, {})


def test_understated_content_length_gets_no_oversized_body_in(
        small_limit_gateway: RunningGateway, tokens: dict[str, str]) -> None:
    """A Content-Length under the limit followed by a larger body is refused, not accepted."""
    body = build_dec(3, lrn=new_lrn())
    host, port = small_limit_gateway.base_url.removeprefix("http://").split(":")
    head = (f"POST /v1/messages HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {tokens['broker-alpha']}\r\n"
            f"Content-Type: application/xml\r\nContent-Length: 1500\r\n"
            f"Connection: close\r\n\r\n").encode()
    received = b""
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head + body)
        while chunk := sock.recv(65536):
            received += chunk
    status = int(received.split(b" ", 2)[1])
    assert status in (400, 413), received[:500]
    assert b"<gw:Receipt" not in received
    assert journal_snapshot(small_limit_gateway) == (0, 0, {})


# --- health and metrics -------------------------------------------------------------------


def test_healthz_answers_ok(gateway_server: RunningGateway) -> None:
    """``GET /healthz`` answers 200 while the process runs."""
    response = httpx.get(f"{gateway_server.base_url}/healthz", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_reports_journal_and_rabbitmq(gateway_server: RunningGateway) -> None:
    """``GET /readyz`` answers 200 with the journal and RabbitMQ both ready."""
    response = httpx.get(f"{gateway_server.base_url}/readyz", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"ready": True, "journal": True, "rabbitmq": True}


def test_metrics_count_traffic_by_outcome(
        gateway_server: RunningGateway, tokens: dict[str, str]) -> None:
    """``GET /metrics`` counts received, accepted, rejected (by code) and published messages."""
    with gateway_server.client(tokens["broker-alpha"]) as client:
        assert client.post("/v1/messages", content=build_dec(1, lrn=new_lrn()),
                           headers=XML_HEADERS).status_code == 202
        assert client.post("/v1/messages", content=b"<broken>",
                           headers=XML_HEADERS).status_code == 400
    wait_for(lambda: gateway_server.gateway.journal.outbox_counts() == {"sent": 1})

    response = httpx.get(f"{gateway_server.base_url}/metrics", timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'gateway_messages_accepted_total{message_type="wco-dec-3.6"} 1.0' in text
    samples = metric_samples(text)
    assert metric_value(samples, "gateway_messages_received_total", channel="http") == 2
    assert metric_value(samples, "gateway_messages_accepted_total",
                        message_type="wco-dec-3.6") == 1
    assert metric_value(samples, "gateway_messages_rejected_total",
                        code="GW-XML-MALFORMED") == 1
    assert metric_value(samples, "gateway_messages_published_total", kind="declaration",
                        message_type="wco-dec-3.6") == 1
    assert metric_value(samples, "gateway_intake_seconds_count", channel="http",
                        outcome="accepted") == 1
    assert metric_value(samples, "gateway_intake_seconds_count", channel="http",
                        outcome="rejected") == 1
    buckets = [s for s in samples if s.name == "gateway_intake_seconds_bucket"
               and s.labels.get("outcome") == "accepted"]
    assert buckets and buckets[-1].labels["le"] == "+Inf" and buckets[-1].value == 1
