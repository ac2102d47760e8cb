"""SOAP 1.1 and 1.2 at ``/soap`` read strictly, against a real uvicorn server and RabbitMQ.

Raw envelopes over httpx build what no client library would send: two Bodies, a Header after
the Body, content after the Body, text in the Envelope, mandatory header blocks nobody
understands, blocks for other roles, numbers written with superscript or Arabic-Indic digits,
and a forged ``Host``. zeep with its WS-Addressing plugin shows the happy path still works and
how a partner sees a MustUnderstand fault. Signed rejections are verified with ``xmlsec1``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import zeep.exceptions
from conftest import RunningGateway, module_gateway, start_gateway, xmlsec1_verify
from http_helpers import GW_NS, REJECTION_NODE, fields, gateway_cert, journal_snapshot, new_lrn
from lxml import etree
from soap_helpers import (
    ACTION,
    NS,
    PORTS,
    SOAP11,
    SOAP12,
    bound,
    envelope,
    fault_rejection,
    headers_for,
    post_soap,
    rejection_code,
    submit,
)
from zeep.wsa import WsAddressingPlugin

from gateway.settings import Settings
from samples.wco import build_dec

pytestmark = pytest.mark.integration

WSA = "http://www.w3.org/2005/08/addressing"
ANONYMOUS = f"{WSA}/anonymous"
VERSIONS = {"soap11": SOAP11, "soap12": SOAP12}
AFTER_POINTER = "/Envelope/Body/GetNotifications/AfterSequence"


@pytest.fixture(scope="module")
def gateway_server(session_var: Path, tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[RunningGateway]:
    """One gateway for the module: none of these tests changes its configuration, and each
    compares the journal with itself before the test (``journal_changes``)."""
    yield from module_gateway(session_var, tmp_path_factory.mktemp("soap-strict"))


BEFORE: dict[str, tuple[int, int, dict[str, int]]] = {}


@pytest.fixture(autouse=True)
def _journal_before(gateway_server: RunningGateway) -> None:
    BEFORE["journal"] = journal_snapshot(gateway_server)


def journal_changes(running: RunningGateway) -> tuple[int, int, int]:
    """Conversations, messages and outbox rows added since the test began."""
    before, after = BEFORE["journal"], journal_snapshot(running)
    return (after[0] - before[0], after[1] - before[1],
            sum(after[2].values()) - sum(before[2].values()))


def raw_envelope(namespace: str, children: bytes) -> bytes:
    """An Envelope of ``namespace`` whose children (prefix ``soap``) are given verbatim."""
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<soap:Envelope xmlns:soap="{namespace}">'
            ).encode() + children + b"</soap:Envelope>"


def declaration_body() -> bytes:
    return b"<soap:Body>" + submit(build_dec(1, lrn=new_lrn())) + b"</soap:Body>"


def message_id_header(message_id: str | None = None) -> bytes:
    return (f'<soap:Header><wsa:MessageID xmlns:wsa="{WSA}">'
            f'{message_id or f"urn:uuid:{uuid.uuid4()}"}</wsa:MessageID></soap:Header>').encode()


def problem(rejection: etree._Element) -> dict[str, str]:
    found = rejection.find("gw:Problems/gw:Problem", NS)
    assert found is not None
    return fields(found)


def sender_status(version: str) -> int:
    return 500 if version == "soap11" else 400


# --- exactly one Body, after an optional single Header ----------------------------------------

MALFORMED_ENVELOPES = {
    "two-bodies": (lambda: declaration_body() + declaration_body(), "/Envelope/Body[2]"),
    "header-after-body": (lambda: declaration_body() + message_id_header(), "/Envelope/Header"),
    "two-headers": (lambda: message_id_header() + message_id_header() + declaration_body(),
                    "/Envelope/Header[2]"),
    "element-after-body": (lambda: declaration_body() + b'<x:Trailer xmlns:x="urn:example:x"/>',
                           "/Envelope/Trailer"),
    "element-before-body": (lambda: b'<x:Preamble xmlns:x="urn:example:x"/>'
                            + declaration_body(), "/Envelope/Preamble"),
    "text-after-body": (lambda: declaration_body() + b"trailing words", "/Envelope"),
    "text-before-body": (lambda: b"\n  stray text\n" + declaration_body(), "/Envelope"),
}


@pytest.mark.parametrize("version", list(VERSIONS))
@pytest.mark.parametrize("case", list(MALFORMED_ENVELOPES))
def test_envelope_other_than_header_then_one_body_faults_and_processes_nothing(
        gateway_server: RunningGateway, tokens: dict[str, str], case: str,
        version: str) -> None:
    """Two Bodies, a second or late Header, other elements or text in the Envelope: a fault
    with code GW-SOAP-ENVELOPE locating the culprit, and no declaration is journaled."""
    children, pointer = MALFORMED_ENVELOPES[case]
    body = raw_envelope(VERSIONS[version], children())
    response = post_soap(gateway_server, body, headers_for(version, tokens["broker-alpha"]))
    assert response.status_code == sender_status(version), response.text
    rejection = fault_rejection(response, version)
    assert rejection_code(rejection) == "GW-SOAP-ENVELOPE"
    located = problem(rejection)
    assert located["Pointer"] == pointer
    assert int(located["Line"]) >= 2
    assert journal_changes(gateway_server) == (0, 0, 0)


@pytest.mark.parametrize("version", list(VERSIONS))
def test_text_beside_the_operation_in_body_faults(
        gateway_server: RunningGateway, tokens: dict[str, str], version: str) -> None:
    """Non-whitespace text in the Body next to the operation element is a GW-SOAP-BODY fault."""
    body = envelope(VERSIONS[version], submit(build_dec(1, lrn=new_lrn())) + b" and more")
    response = post_soap(gateway_server, body, headers_for(version, tokens["broker-alpha"]))
    assert response.status_code == sender_status(version), response.text
    rejection = fault_rejection(response, version)
    assert rejection_code(rejection) == "GW-SOAP-BODY"
    assert problem(rejection)["Pointer"] == "/Envelope/Body"
    assert journal_changes(gateway_server) == (0, 0, 0)


@pytest.mark.parametrize("version", list(VERSIONS))
def test_comments_and_whitespace_around_header_and_body_accepted(
        gateway_server: RunningGateway, tokens: dict[str, str], version: str) -> None:
    """Comments, processing instructions and whitespace between Header and Body are allowed."""
    children = (b"\n  <!-- sent by the broker's system -->\n  " + message_id_header()
                + b"\n  <?broker trace?>\n  " + declaration_body() + b"\n  <!-- end -->\n")
    response = post_soap(gateway_server, raw_envelope(VERSIONS[version], children),
                         headers_for(version, tokens["broker-alpha"]))
    assert response.status_code == 200, response.text
    assert journal_changes(gateway_server)[:2] == (1, 1)


# --- mustUnderstand ---------------------------------------------------------------------------

TX_NS = "urn:example:transactions"


def transaction_block(attributes: str) -> bytes:
    return f'<tx:Transaction xmlns:tx="{TX_NS}" {attributes}>5</tx:Transaction>'.encode()


def test_soap11_unknown_mandatory_header_gives_must_understand_fault(
        gateway_server: RunningGateway, tokens: dict[str, str], tmp_path: Path) -> None:
    """SOAP 1.1: an unknown block with mustUnderstand="1" is faultcode soap:MustUnderstand,
    HTTP 500, no detail (it is not about the Body), the signed rejection in a header entry."""
    body = envelope(SOAP11, submit(build_dec(1, lrn=new_lrn())),
                    transaction_block('soap:mustUnderstand="1"'))
    response = post_soap(gateway_server, body, headers_for("soap11", tokens["broker-alpha"]))
    assert response.status_code == 500, response.text
    assert response.headers["content-type"].startswith("text/xml")
    root = etree.fromstring(response.content)
    fault = root.find("s11:Body/s11:Fault", NS)
    assert fault.findtext("faultcode") == "soap:MustUnderstand"
    assert f"{{{TX_NS}}}Transaction" in fault.findtext("faultstring")
    assert fault.find("detail") is None
    rejection = root.find("s11:Header/gw:Fault/gw:Rejection", NS)
    assert rejection is not None, response.text
    assert rejection_code(rejection) == "GW-SOAP-MUST-UNDERSTAND"
    assert problem(rejection)["Pointer"] == "/Envelope/Header/Transaction"
    rc, err = xmlsec1_verify(response.content, gateway_cert(gateway_server), REJECTION_NODE,
                             tmp_path)
    assert rc == 0, err
    assert journal_changes(gateway_server) == (0, 0, 0)


@pytest.mark.parametrize("value", ["true", "1", " true "])
def test_soap12_unknown_mandatory_header_gives_must_understand_fault_with_not_understood(
        gateway_server: RunningGateway, tokens: dict[str, str], tmp_path: Path,
        value: str) -> None:
    """SOAP 1.2: an unknown block with mustUnderstand true/1 is Code/Value soap:MustUnderstand,
    HTTP 500, with a NotUnderstood header block whose qname names the block."""
    other = f'<o:Audit xmlns:o="urn:example:audit" soap:mustUnderstand="{value}"/>'.encode()
    body = envelope(SOAP12, submit(build_dec(1, lrn=new_lrn())),
                    transaction_block(f'soap:mustUnderstand="{value}"') + other)
    response = post_soap(gateway_server, body, headers_for("soap12", tokens["broker-alpha"]))
    assert response.status_code == 500, response.text
    assert response.headers["content-type"].startswith("application/soap+xml")
    root = etree.fromstring(response.content)
    fault = root.find("s12:Body/s12:Fault", NS)
    assert fault.findtext("s12:Code/s12:Value", namespaces=NS) == "soap:MustUnderstand"
    assert fault.findtext("s12:Reason/s12:Text", namespaces=NS)
    named = []
    for block in root.findall("s12:Header/s12:NotUnderstood", NS):
        prefix, _, local = block.get("qname").partition(":")
        named.append(f"{{{block.nsmap[prefix]}}}{local}")
    assert named == [f"{{{TX_NS}}}Transaction", "{urn:example:audit}Audit"]
    rejection = fault.find("s12:Detail/gw:Fault/gw:Rejection", NS)
    assert rejection_code(rejection) == "GW-SOAP-MUST-UNDERSTAND"
    assert len(rejection.findall("gw:Problems/gw:Problem", NS)) == 2
    rc, err = xmlsec1_verify(response.content, gateway_cert(gateway_server), REJECTION_NODE,
                             tmp_path)
    assert rc == 0, err
    assert journal_changes(gateway_server) == (0, 0, 0)


@pytest.mark.parametrize(("version", "attributes"), [
    ("soap11", 'soap:mustUnderstand="1" soap:actor="http://schemas.xmlsoap.org/soap/actor/next"'),
    ("soap12", 'soap:mustUnderstand="true" '
               'soap:role="http://www.w3.org/2003/05/soap-envelope/role/next"'),
    ("soap12", 'soap:mustUnderstand="1" '
               'soap:role="http://www.w3.org/2003/05/soap-envelope/role/ultimateReceiver"'),
], ids=["1.1-actor-next", "1.2-role-next", "1.2-role-ultimateReceiver"])
def test_unknown_mandatory_header_for_our_role_gives_must_understand_fault(
        gateway_server: RunningGateway, tokens: dict[str, str], version: str,
        attributes: str) -> None:
    """A block naming a role this endpoint plays (next, ultimateReceiver) must be understood."""
    body = envelope(VERSIONS[version], submit(build_dec(1, lrn=new_lrn())),
                    transaction_block(attributes))
    response = post_soap(gateway_server, body, headers_for(version, tokens["broker-alpha"]))
    assert response.status_code == 500, response.text
    assert b"soap:MustUnderstand" in response.content
    assert journal_changes(gateway_server) == (0, 0, 0)


@pytest.mark.parametrize(("version", "attributes"), [
    ("soap11", 'soap:mustUnderstand="1" soap:actor="urn:example:auditor"'),
    ("soap12", 'soap:mustUnderstand="true" soap:role="urn:example:auditor"'),
    ("soap12", 'soap:mustUnderstand="true" '
               'soap:role="http://www.w3.org/2003/05/soap-envelope/role/none"'),
    ("soap11", 'soap:mustUnderstand="0"'),
    ("soap12", 'soap:mustUnderstand="false"'),
], ids=["1.1-other-actor", "1.2-other-role", "1.2-role-none", "1.1-optional", "1.2-optional"])
def test_unknown_header_not_ours_or_optional_is_ignored(
        gateway_server: RunningGateway, tokens: dict[str, str], version: str,
        attributes: str) -> None:
    """A block for another actor/role, for role none, or not mandatory is ignored: accepted."""
    body = envelope(VERSIONS[version], submit(build_dec(1, lrn=new_lrn())),
                    transaction_block(attributes))
    response = post_soap(gateway_server, body, headers_for(version, tokens["broker-alpha"]))
    assert response.status_code == 200, response.text
    assert journal_changes(gateway_server)[:2] == (1, 1)


@pytest.mark.parametrize(("version", "value"), [
    ("soap11", "yes"), ("soap11", "true"), ("soap12", "yes"), ("soap12", "")])
def test_invalid_must_understand_value_faults(
        gateway_server: RunningGateway, tokens: dict[str, str], version: str,
        value: str) -> None:
    """A mustUnderstand value the version does not define (1.1: 0/1; 1.2: boolean) is the
    sender's error: Client/Sender fault GW-SOAP-HEADER showing the value."""
    body = envelope(VERSIONS[version], submit(build_dec(1, lrn=new_lrn())),
                    transaction_block(f'soap:mustUnderstand="{value}"'))
    response = post_soap(gateway_server, body, headers_for(version, tokens["broker-alpha"]))
    assert response.status_code == sender_status(version), response.text
    rejection = fault_rejection(response, version)
    assert rejection_code(rejection) == "GW-SOAP-HEADER"
    assert problem(rejection)["Pointer"] == "/Envelope/Header/Transaction"
    assert journal_changes(gateway_server) == (0, 0, 0)


def addressing_headers(operation: str, *, reply_to: str = ANONYMOUS,
                       must_understand: str = "1") -> bytes:
    mu = f'soap:mustUnderstand="{must_understand}"'
    return (f'<wsa:MessageID xmlns:wsa="{WSA}" {mu}>urn:uuid:{uuid.uuid4()}</wsa:MessageID>'
            f'<wsa:Action xmlns:wsa="{WSA}" {mu}>{ACTION}{operation}</wsa:Action>'
            f'<wsa:To xmlns:wsa="{WSA}" {mu}>http://gateway.example/soap</wsa:To>'
            f'<wsa:ReplyTo xmlns:wsa="{WSA}" {mu}><wsa:Address>{reply_to}</wsa:Address>'
            f'</wsa:ReplyTo><wsa:RelatesTo xmlns:wsa="{WSA}" {mu}>urn:uuid:{uuid.uuid4()}'
            f'</wsa:RelatesTo>').encode()


@pytest.mark.parametrize("version", list(VERSIONS))
def test_mandatory_ws_addressing_headers_are_understood(
        gateway_server: RunningGateway, tokens: dict[str, str], version: str) -> None:
    """MessageID, Action, To, ReplyTo (anonymous) and RelatesTo marked mustUnderstand are
    understood: the declaration is accepted."""
    must = "1" if version == "soap11" else "true"
    body = envelope(VERSIONS[version], submit(build_dec(1, lrn=new_lrn())),
                    addressing_headers("SubmitDeclaration", must_understand=must))
    response = post_soap(gateway_server, body, headers_for(version, tokens["broker-alpha"]))
    assert response.status_code == 200, response.text
    assert journal_changes(gateway_server)[:2] == (1, 1)


ADDRESSING_REFUSALS = {
    "action-other-operation": (lambda: addressing_headers("GetNotifications"), "GW-SOAP-ACTION",
                               "/Envelope/Header/Action"),
    "reply-to-elsewhere": (lambda: addressing_headers(
        "SubmitDeclaration", reply_to="http://attacker.example/collect"),
        "GW-SOAP-ADDRESSING", "/Envelope/Header/ReplyTo"),
    "message-id-twice": (lambda: addressing_headers("SubmitDeclaration") + (
        f'<wsa:MessageID xmlns:wsa="{WSA}">urn:uuid:{uuid.uuid4()}</wsa:MessageID>').encode(),
        "GW-SOAP-ADDRESSING", "/Envelope/Header/MessageID[2]"),
}


@pytest.mark.parametrize("version", list(VERSIONS))
@pytest.mark.parametrize("case", list(ADDRESSING_REFUSALS))
def test_ws_addressing_headers_we_cannot_honour_fault(
        gateway_server: RunningGateway, tokens: dict[str, str], case: str,
        version: str) -> None:
    """A wsa:Action naming another operation, a non-anonymous ReplyTo, or a repeated MessageID
    is refused with a located Client/Sender fault; nothing is journaled."""
    header, code, pointer = ADDRESSING_REFUSALS[case]
    body = envelope(VERSIONS[version], submit(build_dec(1, lrn=new_lrn())), header())
    response = post_soap(gateway_server, body, headers_for(version, tokens["broker-alpha"]))
    assert response.status_code == sender_status(version), response.text
    rejection = fault_rejection(response, version)
    assert rejection_code(rejection) == code
    assert problem(rejection)["Pointer"] == pointer
    assert journal_changes(gateway_server) == (0, 0, 0)


@pytest.mark.parametrize("port", list(PORTS))
def test_zeep_with_ws_addressing_plugin_submits_and_sees_must_understand_fault(
        gateway_server: RunningGateway, tokens: dict[str, str], port: str) -> None:
    """zeep with WS-Addressing (Action, MessageID, To) is accepted on both ports; an extra
    mandatory block of its own raises zeep's Fault with code soap:MustUnderstand."""
    _, client, wire = bound(gateway_server, tokens["broker-alpha"], port)
    client.plugins.append(WsAddressingPlugin())
    service = client.bind("CustomsGatewayService", PORTS[port])
    receipt = service.SubmitDeclaration(_value_1=etree.fromstring(build_dec(1, lrn=new_lrn())))
    assert receipt.Status == "accepted"
    sent = etree.fromstring(wire.seen[-1].request.body)
    assert sent.find(f".//{{{WSA}}}Action").text == ACTION + "SubmitDeclaration"

    namespace = SOAP11 if port == "soap11" else SOAP12
    block = etree.Element(f"{{{TX_NS}}}Transaction", nsmap={"tx": TX_NS})
    block.set(f"{{{namespace}}}mustUnderstand", "1")
    with pytest.raises(zeep.exceptions.Fault) as raised:
        service.SubmitDeclaration(_value_1=etree.fromstring(build_dec(1, lrn=new_lrn())),
                                  _soapheaders=[block])
    assert raised.value.code == "soap:MustUnderstand"
    assert wire.seen[-1].status_code == 500
    assert journal_changes(gateway_server)[:2] == (1, 1)


# --- numbers read from a request --------------------------------------------------------------

NOT_ASCII_NUMBERS = {
    "superscript-two": "\u00b2",
    "arabic-indic-three": "\u0663",
    "plus-sign": "+1",
    "underscore": "1_000",
    "five-thousand-digits": "9" * 5000,
    "ten-digits": "1234567890",
    "no-break-space": "\u00a01",
}


@pytest.fixture
def conversation_id(gateway_server: RunningGateway, tokens: dict[str, str]) -> str:
    """The conversation of one accepted declaration of broker-alpha."""
    response = post_soap(gateway_server, envelope(SOAP11, submit(build_dec(1, lrn=new_lrn()))),
                         headers_for("soap11", tokens["broker-alpha"]))
    assert response.status_code == 200, response.text
    return response.headers["X-Conversation-ID"]


def get_notifications(conversation_id: str, after: str) -> bytes:
    return (f'<gw:GetNotifications xmlns:gw="{GW_NS}"><gw:ConversationID>{conversation_id}'
            f'</gw:ConversationID><gw:AfterSequence>{after}</gw:AfterSequence>'
            f'</gw:GetNotifications>').encode()


@pytest.mark.parametrize("version", list(VERSIONS))
@pytest.mark.parametrize("case", list(NOT_ASCII_NUMBERS))
def test_after_sequence_not_plain_ascii_digits_faults(
        gateway_server: RunningGateway, tokens: dict[str, str], conversation_id: str,
        case: str, version: str) -> None:
    """AfterSequence in superscript or Arabic-Indic digits, signed, with `_`, or too long is a
    Client/Sender fault GW-NUMBER-INVALID pointing at AfterSequence — never a server error."""
    body = envelope(VERSIONS[version], get_notifications(conversation_id,
                                                          NOT_ASCII_NUMBERS[case]))
    response = post_soap(gateway_server, body,
                         headers_for(version, tokens["broker-alpha"], "GetNotifications"))
    assert response.status_code == sender_status(version), response.text
    rejection = fault_rejection(response, version)
    assert rejection_code(rejection) == "GW-NUMBER-INVALID"
    located = problem(rejection)
    assert located["Pointer"] == AFTER_POINTER
    assert len(located["Value"]) < 80


@pytest.mark.parametrize("after", ["0", "7", "\n  42\n", "999999999"])
def test_after_sequence_in_ascii_digits_accepted(
        gateway_server: RunningGateway, tokens: dict[str, str], conversation_id: str,
        after: str) -> None:
    """AfterSequence of 1 to 9 ASCII digits, XML whitespace around allowed, is answered."""
    body = envelope(SOAP12, get_notifications(conversation_id, after))
    response = post_soap(gateway_server, body,
                         headers_for("soap12", tokens["broker-alpha"], "GetNotifications"))
    assert response.status_code == 200, response.text
    answer = etree.fromstring(response.content).find(
        "s12:Body/gw:GetNotificationsResponse", NS)
    assert answer.findtext("gw:ConversationID", namespaces=NS) == conversation_id


@pytest.mark.parametrize("case", [*NOT_ASCII_NUMBERS, "leading-space", "empty"])
def test_rest_after_query_not_plain_ascii_digits_refused(
        gateway_server: RunningGateway, tokens: dict[str, str], conversation_id: str,
        case: str) -> None:
    """``?after=`` over REST goes through the same parser: 400 GW-NUMBER-INVALID, located."""
    after = {**NOT_ASCII_NUMBERS, "leading-space": " 1", "empty": ""}[case]
    path = f"/v1/conversations/{conversation_id}/notifications"
    with gateway_server.client(tokens["broker-alpha"]) as client:
        response = client.get(path, params={"after": after})
        by_seq = client.get(f"{path}/{quote(after or ' ', safe='')}")
        fine = client.get(path, params={"after": "0"}, headers={"Accept": "application/json"})
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "GW-NUMBER-INVALID"
    assert body["problems"][0]["pointer"] == "?after"
    assert by_seq.status_code == 400, by_seq.text
    assert by_seq.json()["code"] == "GW-NUMBER-INVALID"
    assert fine.status_code == 200
    assert fine.json()["conversation_id"] == conversation_id


# --- the WSDL's address -----------------------------------------------------------------------

FORGED = {"Host": "attacker.example", "X-Forwarded-Host": "attacker.example",
          "X-Forwarded-Proto": "https", "Forwarded": "host=attacker.example;proto=https"}


def wsdl_locations(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    wsdl = etree.fromstring(response.content)
    return [address.get("location") for address in wsdl.findall(
        "wsdl:service/wsdl:port/*[@location]", NS)]


@pytest.mark.parametrize("forged", [{"Host": FORGED["Host"]}, FORGED],
                         ids=["host", "host-and-forwarded"])
def test_wsdl_address_ignores_forged_host_headers(
        gateway_server: RunningGateway, forged: dict[str, str]) -> None:
    """Without a public URL the WSDL names the listening socket, whatever Host or
    X-Forwarded-* headers the request carries."""
    response = httpx.get(f"{gateway_server.base_url}/soap?wsdl", headers=forged, timeout=5)
    assert wsdl_locations(response) == [f"{gateway_server.base_url}/soap"] * 2
    assert "attacker" not in response.text


@pytest.fixture
def public_gateway(settings: Settings, rabbitmq: str) -> Iterator[RunningGateway]:
    """A gateway whose GATEWAY_PUBLIC_URL is an https address behind a path prefix."""
    running = start_gateway(settings.with_(public_url="https://gateway.customs.example/ws/"))
    yield running
    running.stop()


def test_wsdl_address_is_the_public_url(public_gateway: RunningGateway) -> None:
    """With GATEWAY_PUBLIC_URL set, both ports' soap:address is that URL + /soap, forged
    headers notwithstanding."""
    for headers in ({}, FORGED):
        response = httpx.get(f"{public_gateway.base_url}/soap?wsdl", headers=headers, timeout=5)
        assert wsdl_locations(response) == ["https://gateway.customs.example/ws/soap"] * 2
