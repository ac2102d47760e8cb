"""``POST /v1/messages`` against a real uvicorn server and the real RabbitMQ: bad input.

Bad input must be answered with a rejection signed by the gateway (verified with the
independent ``xmlsec1`` binary against the gateway's certificate) and must change nothing:
the journal (conversations, messages, outbox) and the clearance queue stay as they were.
Covers hostile XML, wrong media types and tokens, schema problems and bodies over the size
limit.
"""

from __future__ import annotations

import hashlib
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import RunningGateway, start_gateway, wait_for
from http_helpers import (
    GW_NS,
    NS,
    XML_HEADERS,
    assert_signed_rejection,
    clearance_queue_messages,
    fields,
    invalid_declaration,
    journal_snapshot,
    new_lrn,
    parse,
)

from gateway.settings import Settings
from samples.wco import build_dec

pytestmark = pytest.mark.integration


def accept_one(running: RunningGateway, token: str) -> str:
    """Submit one valid declaration, wait until it is published; its conversation id."""
    with running.client(token) as client:
        response = client.post("/v1/messages", content=build_dec(1, lrn=new_lrn()),
                               headers=XML_HEADERS)
    assert response.status_code == 202, response.text
    wait_for(lambda: running.gateway.journal.outbox_counts() == {"sent": 1}, timeout=10)
    return response.headers["X-Conversation-ID"]


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
    body = invalid_declaration()
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
        # the element starts at the column given, prefixed or not (ds:DateTimeString)
        start = re.search(rb"<(\w+:)?" + local.encode() + rb"\b", line)
        assert start is not None and start.start() + 1 == int(problem["Column"]), line
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
