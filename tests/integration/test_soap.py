"""SOAP 1.1 and 1.2 at ``/soap`` against a real uvicorn server and the real RabbitMQ.

The contract is exercised the way partners use it: with **zeep** built from the served WSDL
(with DTDs, entities and external references forbidden) on both ports, and with raw HTTP
for what a client library hides — content types on the wire, the exact fault shapes of each
SOAP version, and hostile or inconsistent envelopes. Signed receipts, rejections and
notifications inside SOAP bodies are verified with the independent ``xmlsec1`` binary.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
import uuid
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import zeep
import zeep.exceptions
from conftest import FIXTURES, RunningGateway, wait_for, xmlsec1_verify
from lxml import etree
from zeep.transports import Transport

from adapters.standins.asycuda_samples import build_sad
from adapters.standins.wco_samples import build_dec
from adapters.store.sqlite_journal import sqlite_path

pytestmark = pytest.mark.integration

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
GW_NS = "urn:customs-gateway:v1"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
MD_NS = "urn:wco:datamodel:WCO:DocumentMetaData-DMS:2"
RES_NS = "urn:wco:datamodel:WCO:RES-DMS:2"
XML_NS = "http://www.w3.org/XML/1998/namespace"
NS = {"gw": GW_NS, "ds": DS_NS, "s11": SOAP11, "s12": SOAP12, "wsdl":
      "http://schemas.xmlsoap.org/wsdl/", "xs": "http://www.w3.org/2001/XMLSchema",
      "soap": "http://schemas.xmlsoap.org/wsdl/soap/",
      "soap12": "http://schemas.xmlsoap.org/wsdl/soap12/", "md": MD_NS, "res": RES_NS}
ACTION = "urn:customs-gateway:v1:"
PORTS = {"soap11": "CustomsGatewaySoap11Port", "soap12": "CustomsGatewaySoap12Port"}
RECEIPT_NODE = "urn:customs-gateway:v1:Receipt"
REJECTION_NODE = "urn:customs-gateway:v1:Rejection"
NOTIFICATION_NODE = "urn:customs-gateway:v1:Notification"
FUNCTION_CODES = {"ACC": "01", "CTL": "05", "TAX": "13", "RES": "07"}


# --- helpers ------------------------------------------------------------------------------


def new_lrn() -> str:
    return f"LRN-{uuid.uuid4().hex[:16].upper()}"


def gateway_cert(running: RunningGateway) -> Path:
    return running.settings.keys_dir / "gateway.crt"


def journal_snapshot(running: RunningGateway) -> tuple[int, int, dict[str, int]]:
    """Conversations, journaled messages and outbox rows by state, read independently."""
    path = sqlite_path(running.settings.journal_url)
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        conversations = db.execute("SELECT COUNT(*) FROM conversations").fetchone()[0]
        messages = db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    return conversations, messages, running.gateway.journal.outbox_counts()


class Wire:
    """A requests session that carries the bearer token and records every exchange."""

    def __init__(self, token: str | None) -> None:
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        self.seen: list[requests.Response] = []
        self.session.hooks["response"].append(lambda response, *a, **k: self.seen.append(response))


def zeep_client(running: RunningGateway, wire: Wire) -> zeep.Client:
    return zeep.Client(
        f"{running.base_url}/soap?wsdl", transport=Transport(session=wire.session),
        settings=zeep.Settings(forbid_dtd=True, forbid_entities=True, forbid_external=True))


def bound(running: RunningGateway, token: str | None, port: str) -> tuple[Any, zeep.Client, Wire]:
    wire = Wire(token)
    client = zeep_client(running, wire)
    return client.bind("CustomsGatewayService", PORTS[port]), client, wire


def strip_declaration(document: bytes) -> bytes:
    return document.split(b"?>", 1)[1] if document.startswith(b"<?xml") else document


def envelope(namespace: str, body: bytes, header: bytes = b"", prefix: str = "soap") -> bytes:
    head = f"<{prefix}:Header>".encode() + header + f"</{prefix}:Header>".encode() \
        if header else b""
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<{prefix}:Envelope xmlns:{prefix}='
            f'"{namespace}">'.encode() + head + f"<{prefix}:Body>".encode() + body
            + f"</{prefix}:Body></{prefix}:Envelope>".encode())


def submit(document: bytes) -> bytes:
    return (f'<gw:SubmitDeclaration xmlns:gw="{GW_NS}">'.encode()
            + strip_declaration(document) + b"</gw:SubmitDeclaration>")


def headers_for(version: str, token: str | None, operation: str = "SubmitDeclaration",
                action: str | None = None) -> dict[str, str]:
    action = ACTION + operation if action is None else action
    if version == "soap11":
        headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{action}"'}
    else:
        headers = {"Content-Type": f'application/soap+xml; charset=utf-8; action="{action}"'}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def post_soap(running: RunningGateway, content: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{running.base_url}/soap", content=content, headers=headers, timeout=30)


def fault_rejection(response: httpx.Response, version: str) -> etree._Element:
    """The gw:Rejection inside the fault's detail, after checking the fault's shape."""
    root = etree.fromstring(response.content)
    ns = SOAP11 if version == "soap11" else SOAP12
    assert root.tag == f"{{{ns}}}Envelope"
    fault = root.find(f"{{{ns}}}Body/{{{ns}}}Fault")
    assert fault is not None, response.text
    if version == "soap11":
        assert response.headers["content-type"].startswith("text/xml")
        assert fault.findtext("faultcode") in ("soap:Client", "soap:Server")
        assert fault.findtext("faultstring")
        rejection = fault.find(f"detail/{{{GW_NS}}}Fault/{{{GW_NS}}}Rejection")
    else:
        assert response.headers["content-type"].startswith("application/soap+xml")
        assert fault.findtext(f"{{{ns}}}Code/{{{ns}}}Value") in ("soap:Sender", "soap:Receiver")
        assert fault.findtext(f"{{{ns}}}Reason/{{{ns}}}Text")
        rejection = fault.find(f"{{{ns}}}Detail/{{{GW_NS}}}Fault/{{{GW_NS}}}Rejection")
    assert rejection is not None, response.text
    assert rejection.find("ds:Signature", NS) is not None
    return rejection


def rejection_code(rejection: etree._Element) -> str:
    return rejection.findtext("gw:Code", namespaces=NS)


def fields(element: etree._Element) -> dict[str, str]:
    return {etree.QName(c).localname: (c.text or "") for c in element
            if isinstance(c.tag, str) and etree.QName(c).namespace == GW_NS and len(c) == 0}


def invalid_declaration() -> bytes:
    return (FIXTURES / "wco" / "dec_invalid_many_errors.xml").read_bytes().replace(
        b"LRN-BAD-0001", new_lrn().encode())


# --- the contract -------------------------------------------------------------------------


def test_wsdl_served_with_server_address_and_inlined_schema(
        gateway_server: RunningGateway) -> None:
    """``GET /soap?wsdl`` names this server in both ports and carries the gateway schema."""
    response = httpx.get(f"{gateway_server.base_url}/soap?wsdl", timeout=5)
    assert response.status_code == 200
    assert "xml" in response.headers["content-type"]
    wsdl = etree.fromstring(response.content)
    assert wsdl.tag == "{http://schemas.xmlsoap.org/wsdl/}definitions"
    address = f"{gateway_server.base_url}/soap"
    ports = wsdl.findall("wsdl:service/wsdl:port", NS)
    assert {p.get("name") for p in ports} == set(PORTS.values())
    locations = [p.find("soap:address", NS) if p.find("soap:address", NS) is not None
                 else p.find("soap12:address", NS) for p in ports]
    assert [loc.get("location") for loc in locations] == [address, address]
    assert "{address}" not in response.text and "{types}" not in response.text
    schema = wsdl.find("wsdl:types/xs:schema", NS)
    assert schema is not None
    assert schema.get("targetNamespace") == GW_NS
    declared = {e.get("name") for e in schema.findall("xs:element", NS)}
    assert {"Receipt", "Rejection", "Notification", "SubmitDeclaration",
            "SubmitDeclarationResponse", "GetNotifications", "GetNotificationsResponse",
            "Fault"} <= declared
    assert schema.find("xs:import", NS) is None and schema.find("xs:include", NS) is None


@pytest.mark.parametrize("port", list(PORTS))
def test_zeep_submit_declaration_returns_receipt(
        gateway_server: RunningGateway, tokens: dict[str, str], port: str) -> None:
    """zeep's SubmitDeclaration on either port returns the receipt and the message is published."""
    service, _, wire = bound(gateway_server, tokens["broker-alpha"], port)
    lrn = new_lrn()
    declaration = etree.fromstring(build_dec(2, lrn=lrn))
    receipt = service.SubmitDeclaration(_value_1=declaration)

    conversation_id = wire.seen[-1].headers["X-Conversation-ID"]
    assert receipt.ConversationID == conversation_id
    assert receipt.ReceiptID and receipt.Id == f"RCP-{receipt.ReceiptID}"
    assert receipt.Partner == "broker-alpha"
    assert receipt.MessageType == "wco-dec-3.6"
    assert receipt.MessageVersion == "3.6"
    assert receipt.MessageID == f"doc:wco:{lrn}"
    assert receipt.Status == "accepted"
    c14n = etree.tostring(declaration, method="c14n", exclusive=True)
    assert hashlib.sha256(c14n).hexdigest() == receipt.SHA256
    journal = gateway_server.gateway.journal
    history = journal.conversation(conversation_id)["history"]
    assert history[0]["event"] == "submitted" and history[0]["channel"] == port
    wait_for(lambda: journal.outbox_counts() == {"sent": 1}, timeout=10)


@pytest.mark.parametrize("port", list(PORTS))
def test_zeep_raw_receipt_in_soap_body_verifies_with_xmlsec1(
        gateway_server: RunningGateway, tokens: dict[str, str], tmp_path: Path,
        port: str) -> None:
    """The receipt inside the SOAP response verifies with xmlsec1, in place and extracted."""
    service, client, _ = bound(gateway_server, tokens["broker-alpha"], port)
    with client.settings(raw_response=True):
        raw = service.SubmitDeclaration(_value_1=etree.fromstring(build_dec(1, lrn=new_lrn())))
    assert raw.status_code == 200
    ns = SOAP11 if port == "soap11" else SOAP12
    root = etree.fromstring(raw.content)
    receipt = root.find(f"{{{ns}}}Body/gw:SubmitDeclarationResponse/gw:Receipt", NS)
    assert receipt is not None
    assert receipt.findtext("gw:ConversationID", namespaces=NS) == \
        raw.headers["X-Conversation-ID"]
    cert = gateway_cert(gateway_server)
    rc, err = xmlsec1_verify(raw.content, cert, RECEIPT_NODE, tmp_path)
    assert rc == 0, err
    rc, err = xmlsec1_verify(etree.tostring(receipt), cert, RECEIPT_NODE, tmp_path)
    assert rc == 0, err


@pytest.mark.parametrize("port", list(PORTS))
def test_zeep_get_notifications_returns_signed_notifications(
        sandbox_server: RunningGateway, tokens: dict[str, str], tmp_path: Path,
        port: str) -> None:
    """GetNotifications returns the conversation's four signed notifications in order."""
    service, client, _ = bound(sandbox_server, tokens["broker-alpha"], port)
    receipt = service.SubmitDeclaration(_value_1=etree.fromstring(build_dec(2, lrn=new_lrn())))
    conversation_id = receipt.ConversationID
    journal = sandbox_server.gateway.journal
    wait_for(lambda: len(journal.notifications(conversation_id)) == 4
             and journal.conversation(conversation_id)["status"] == "released", timeout=15)

    answer = service.GetNotifications(ConversationID=conversation_id)
    assert answer.ConversationID == conversation_id
    assert answer.Status == "released"
    assert [n.Kind for n in answer.Notification] == ["ACC", "CTL", "TAX", "RES"]
    assert [n.NotificationID for n in answer.Notification] == \
        [n.id for n in journal.notifications(conversation_id)]
    assert all(n.ConversationID == conversation_id and n.Partner == "broker-alpha"
               for n in answer.Notification)
    later = service.GetNotifications(ConversationID=conversation_id, AfterSequence=2)
    assert [n.Kind for n in later.Notification] == ["TAX", "RES"]

    with client.settings(raw_response=True):
        raw = service.GetNotifications(ConversationID=conversation_id)
    ns = SOAP11 if port == "soap11" else SOAP12
    assert raw.headers["content-type"].startswith(
        "text/xml" if port == "soap11" else "application/soap+xml")
    notifications = etree.fromstring(raw.content).findall(
        f"{{{ns}}}Body/gw:GetNotificationsResponse/gw:Notification", NS)
    assert len(notifications) == 4
    for element in notifications:
        kind = element.findtext("gw:Kind", namespaces=NS)
        code = element.findtext("gw:Payload/md:MetaData/res:Response/res:FunctionCode",
                                namespaces=NS)
        assert code == FUNCTION_CODES[kind]
        rc, err = xmlsec1_verify(etree.tostring(element), gateway_cert(sandbox_server),
                                 NOTIFICATION_NODE, tmp_path)
        assert rc == 0, err


@pytest.mark.parametrize("port", list(PORTS))
def test_zeep_get_notifications_of_unknown_conversation_faults(
        gateway_server: RunningGateway, tokens: dict[str, str], port: str) -> None:
    """GetNotifications for a conversation the partner does not own raises a zeep Fault."""
    service, _, _ = bound(gateway_server, tokens["broker-alpha"], port)
    with pytest.raises(zeep.exceptions.Fault) as raised:
        service.GetNotifications(ConversationID=uuid.uuid4().hex)
    assert raised.value.code == ("soap:Client" if port == "soap11" else "soap:Sender")
    rejection = raised.value.detail.find(f"{{{GW_NS}}}Fault/{{{GW_NS}}}Rejection")
    assert rejection_code(rejection) == "GW-NOT-FOUND"


# --- the wire -----------------------------------------------------------------------------


def test_soap11_content_types_on_the_wire(
        gateway_server: RunningGateway, tokens: dict[str, str]) -> None:
    """SOAP 1.1 goes as ``text/xml`` with a SOAPAction and is answered ``text/xml``."""
    service, _, wire = bound(gateway_server, tokens["broker-alpha"], "soap11")
    service.SubmitDeclaration(_value_1=etree.fromstring(build_dec(1, lrn=new_lrn())))
    exchange = wire.seen[-1]
    assert exchange.request.headers["Content-Type"].startswith("text/xml")
    assert exchange.request.headers["SOAPAction"].strip('"') == ACTION + "SubmitDeclaration"
    assert exchange.status_code == 200
    assert exchange.headers["content-type"] == "text/xml; charset=utf-8"
    assert etree.fromstring(exchange.content).tag == f"{{{SOAP11}}}Envelope"


def test_soap12_content_types_on_the_wire(
        gateway_server: RunningGateway, tokens: dict[str, str]) -> None:
    """SOAP 1.2 goes as ``application/soap+xml; action=…`` and is answered in kind."""
    service, _, wire = bound(gateway_server, tokens["broker-alpha"], "soap12")
    service.SubmitDeclaration(_value_1=etree.fromstring(build_dec(1, lrn=new_lrn())))
    exchange = wire.seen[-1]
    content_type = exchange.request.headers["Content-Type"]
    assert content_type.startswith("application/soap+xml")
    assert f'action="{ACTION}SubmitDeclaration"' in content_type
    assert exchange.status_code == 200
    assert exchange.headers["content-type"].startswith("application/soap+xml")
    assert etree.fromstring(exchange.content).tag == f"{{{SOAP12}}}Envelope"


# --- faults -------------------------------------------------------------------------------


def test_soap11_schema_invalid_declaration_fault(
        gateway_server: RunningGateway, tokens: dict[str, str], tmp_path: Path) -> None:
    """A schema-invalid declaration in SOAP 1.1 gives HTTP 500 and a soap:Client fault."""
    body = envelope(SOAP11, b"\n" + submit(invalid_declaration()))
    error_lines = [i + 1 for i, line in enumerate(body.split(b"\n")) if b"<!-- ERROR" in line]
    response = post_soap(gateway_server, body, headers_for("soap11", tokens["broker-alpha"]))

    assert response.status_code == 500
    fault = etree.fromstring(response.content).find("s11:Body/s11:Fault", NS)
    assert fault.findtext("faultcode") == "soap:Client"
    assert "schema" in fault.findtext("faultstring")
    rejection = fault.find("detail/gw:Fault/gw:Rejection", NS)
    assert rejection is not None
    assert rejection_code(rejection) == "GW-XSD-INVALID"
    problems = rejection.find("gw:Problems", NS)
    assert problems.get("count") == "7"
    listed = [fields(p) for p in problems.findall("gw:Problem", NS)]
    assert [int(p["Line"]) for p in listed] == error_lines
    rc, err = xmlsec1_verify(response.content, gateway_cert(gateway_server), REJECTION_NODE,
                             tmp_path)
    assert rc == 0, err
    # the same precise problems as over plain HTTP: readable pointer, column and value
    by_pointer = {p.get("Pointer"): p for p in listed}
    assert "/MetaData/Declaration/FunctionCode" in by_pointer, sorted(by_pointer)
    assert by_pointer["/MetaData/Declaration/FunctionCode"]["Value"] == "10"
    assert all("Column" in p for p in listed)
    assert journal_snapshot(gateway_server) == (0, 0, {})


def test_soap12_schema_invalid_declaration_fault(
        gateway_server: RunningGateway, tokens: dict[str, str], tmp_path: Path) -> None:
    """A schema-invalid declaration in SOAP 1.2 gives HTTP 400 and a soap:Sender fault."""
    body = envelope(SOAP12, submit(invalid_declaration()))
    response = post_soap(gateway_server, body, headers_for("soap12", tokens["broker-alpha"]))

    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/soap+xml")
    fault = etree.fromstring(response.content).find("s12:Body/s12:Fault", NS)
    assert fault.findtext("s12:Code/s12:Value", namespaces=NS) == "soap:Sender"
    text = fault.find("s12:Reason/s12:Text", NS)
    assert text.get(f"{{{XML_NS}}}lang") == "en"
    assert "schema" in text.text
    rejection = fault.find("s12:Detail/gw:Fault/gw:Rejection", NS)
    assert rejection is not None
    assert rejection_code(rejection) == "GW-XSD-INVALID"
    assert len(rejection.findall("gw:Problems/gw:Problem", NS)) == 7
    rc, err = xmlsec1_verify(response.content, gateway_cert(gateway_server), REJECTION_NODE,
                             tmp_path)
    assert rc == 0, err
    assert journal_snapshot(gateway_server) == (0, 0, {})


@pytest.mark.parametrize("port", list(PORTS))
def test_zeep_raises_fault_for_invalid_declaration(
        gateway_server: RunningGateway, tokens: dict[str, str], port: str) -> None:
    """zeep raises ``Fault`` carrying the signed rejection for a schema-invalid declaration."""
    service, _, _ = bound(gateway_server, tokens["broker-alpha"], port)
    with pytest.raises(zeep.exceptions.Fault) as raised:
        service.SubmitDeclaration(_value_1=etree.fromstring(invalid_declaration()))
    fault = raised.value
    assert fault.code == ("soap:Client" if port == "soap11" else "soap:Sender")
    assert "does not conform to its schema" in fault.message
    rejection = fault.detail.find(f"{{{GW_NS}}}Fault/{{{GW_NS}}}Rejection")
    assert rejection_code(rejection) == "GW-XSD-INVALID"
    assert rejection.find("gw:Problems", NS).get("count") == "7"


@pytest.mark.parametrize(("namespace", "version"), [(SOAP12, "soap11"), (SOAP11, "soap12")],
                         ids=["1.2-envelope-as-text/xml", "1.1-envelope-as-soap+xml"])
def test_envelope_version_not_matching_content_type_faults(
        gateway_server: RunningGateway, tokens: dict[str, str], namespace: str,
        version: str) -> None:
    """An envelope whose SOAP version contradicts the content type is refused with a fault."""
    body = envelope(namespace, submit(build_dec(1, lrn=new_lrn())))
    response = post_soap(gateway_server, body, headers_for(version, tokens["broker-alpha"]))
    assert response.status_code == (500 if version == "soap11" else 400)
    assert rejection_code(fault_rejection(response, version)) == "GW-SOAP-VERSION"
    assert journal_snapshot(gateway_server) == (0, 0, {})


@pytest.mark.parametrize("version", ["soap11", "soap12"])
def test_unknown_operation_faults(
        gateway_server: RunningGateway, tokens: dict[str, str], version: str) -> None:
    """A Body element that is not one of the service's operations is refused with a fault."""
    namespace = SOAP11 if version == "soap11" else SOAP12
    body = envelope(namespace, f'<gw:CancelDeclaration xmlns:gw="{GW_NS}"><gw:ConversationID>'
                    f'x</gw:ConversationID></gw:CancelDeclaration>'.encode())
    response = post_soap(gateway_server, body, headers_for(
        version, tokens["broker-alpha"], action=ACTION + "CancelDeclaration"))
    rejection = fault_rejection(response, version)
    assert rejection_code(rejection) == "GW-SOAP-OPERATION"
    assert "CancelDeclaration" in rejection.findtext("gw:Summary", namespaces=NS)


@pytest.mark.parametrize("version", ["soap11", "soap12"])
def test_soap_action_naming_other_operation_faults(
        gateway_server: RunningGateway, tokens: dict[str, str], version: str) -> None:
    """A SOAPAction (1.1) or action parameter (1.2) naming another operation is a fault."""
    namespace = SOAP11 if version == "soap11" else SOAP12
    body = envelope(namespace, submit(build_dec(1, lrn=new_lrn())))
    response = post_soap(gateway_server, body,
                         headers_for(version, tokens["broker-alpha"], "GetNotifications"))
    assert response.status_code == (500 if version == "soap11" else 400)
    assert rejection_code(fault_rejection(response, version)) == "GW-SOAP-ACTION"
    assert journal_snapshot(gateway_server) == (0, 0, {})


@pytest.mark.parametrize("version", ["soap11", "soap12"])
def test_doctype_in_soap_message_faults_and_journals_nothing(
        gateway_server: RunningGateway, tokens: dict[str, str], tmp_path: Path,
        version: str) -> None:
    """A SOAP message with a DOCTYPE (external entity) is refused and nothing is journaled."""
    namespace = SOAP11 if version == "soap11" else SOAP12
    lrn = new_lrn()
    inner = submit(build_dec(1, lrn=lrn)).replace(f">{lrn}<".encode(), b">&xxe;<")
    body = envelope(namespace, inner).replace(
        b"?>\n", b'?>\n<!DOCTYPE soap:Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n',
        1)
    response = post_soap(gateway_server, body, headers_for(version, tokens["broker-alpha"]))
    rejection = fault_rejection(response, version)
    assert rejection_code(rejection) == "GW-XML-DTD"
    assert "root:" not in response.text
    rc, err = xmlsec1_verify(response.content, gateway_cert(gateway_server), REJECTION_NODE,
                             tmp_path)
    assert rc == 0, err
    assert journal_snapshot(gateway_server) == (0, 0, {})


@pytest.mark.parametrize("version", ["soap11", "soap12"])
def test_missing_token_answers_401_with_soap_fault(
        gateway_server: RunningGateway, version: str) -> None:
    """Without a token SOAP answers HTTP 401 with a SOAP fault body carrying the rejection."""
    namespace = SOAP11 if version == "soap11" else SOAP12
    body = envelope(namespace, submit(build_dec(1, lrn=new_lrn())))
    response = post_soap(gateway_server, body, headers_for(version, None))
    assert response.status_code == 401
    rejection = fault_rejection(response, version)
    assert rejection_code(rejection) == "GW-AUTH-UNAUTHENTICATED"
    fault = etree.fromstring(response.content)
    code = fault.findtext("s11:Body/s11:Fault/faultcode", namespaces=NS) if version == "soap11" \
        else fault.findtext("s12:Body/s12:Fault/s12:Code/s12:Value", namespaces=NS)
    assert code == ("soap:Client" if version == "soap11" else "soap:Sender")
    assert journal_snapshot(gateway_server) == (0, 0, {})

    query = envelope(namespace, f'<gw:GetNotifications xmlns:gw="{GW_NS}"><gw:ConversationID>'
                     f'{uuid.uuid4().hex}</gw:ConversationID></gw:GetNotifications>'.encode())
    response = post_soap(gateway_server, query, headers_for(version, None, "GetNotifications"))
    assert response.status_code == 401
    assert rejection_code(fault_rejection(response, version)) == "GW-AUTH-UNAUTHENTICATED"


@pytest.mark.parametrize("version", ["soap11", "soap12"])
def test_get_notifications_with_non_numeric_after_sequence_faults(
        gateway_server: RunningGateway, tokens: dict[str, str], version: str) -> None:
    """A non-numeric AfterSequence is the sender's error, answered with a SOAP fault."""
    conversation_id = post_soap(gateway_server, envelope(
        SOAP11, submit(build_dec(1, lrn=new_lrn()))), headers_for(
        "soap11", tokens["broker-alpha"])).headers["X-Conversation-ID"]
    namespace = SOAP11 if version == "soap11" else SOAP12
    query = envelope(namespace, f'<gw:GetNotifications xmlns:gw="{GW_NS}"><gw:ConversationID>'
                     f'{conversation_id}</gw:ConversationID><gw:AfterSequence>two'
                     f'</gw:AfterSequence></gw:GetNotifications>'.encode())
    response = post_soap(gateway_server, query,
                         headers_for(version, tokens["broker-alpha"], "GetNotifications"))
    assert response.status_code == (500 if version == "soap11" else 400), response.text
    rejection = fault_rejection(response, version)
    assert rejection_code(rejection).startswith("GW-")


# --- WS-Addressing MessageID as the idempotency key ---------------------------------------


def wsa_header(message_id: str, extra: str = "") -> bytes:
    return (f'<wsa:MessageID xmlns:wsa="{WSA}">{message_id}</wsa:MessageID>{extra}').encode()


def test_ws_addressing_message_id_makes_resend_idempotent(
        gateway_server: RunningGateway, tokens: dict[str, str]) -> None:
    """An ASYCUDA declaration resent in a new envelope with its MessageID gets its receipt."""
    message_id = f"urn:uuid:{uuid.uuid4()}"
    declaration = build_sad(2, reference=new_lrn())
    first = post_soap(gateway_server, envelope(SOAP11, submit(declaration),
                                                wsa_header(message_id)),
                      headers_for("soap11", tokens["broker-alpha"]))
    assert first.status_code == 200, first.text
    receipt = etree.fromstring(first.content).find(
        "s11:Body/gw:SubmitDeclarationResponse/gw:Receipt", NS)
    assert receipt.findtext("gw:MessageID", namespaces=NS) == f"hdr:{message_id}"
    wait_for(lambda: gateway_server.gateway.journal.outbox_counts() == {"sent": 1})

    other_envelope = envelope(
        SOAP11, b"\n  " + submit(declaration).replace(b"gw:", b"g:").replace(b"xmlns:gw=",
                                                                             b"xmlns:g=")
        + b"\n", wsa_header(message_id, f'<wsa:Action xmlns:wsa="{WSA}">{ACTION}Submit'
                                        f'Declaration</wsa:Action>'), prefix="env")
    again = post_soap(gateway_server, other_envelope, headers_for("soap11",
                                                                  tokens["broker-alpha"]))
    assert again.status_code == 200, again.text
    assert again.headers["X-Duplicate"] == "true"
    assert again.headers["X-Conversation-ID"] == first.headers["X-Conversation-ID"]
    repeated = etree.fromstring(again.content).find(
        "s11:Body/gw:SubmitDeclarationResponse/gw:Receipt", NS)
    assert fields(repeated) == fields(receipt)
    time.sleep(0.2)
    assert journal_snapshot(gateway_server) == (1, 1, {"sent": 1})


def test_ws_addressing_message_id_reused_for_other_declaration_faults_409(
        gateway_server: RunningGateway, tokens: dict[str, str], tmp_path: Path) -> None:
    """A MessageID reused for a different declaration is a conflict fault naming the receipt."""
    message_id = f"urn:uuid:{uuid.uuid4()}"
    first = post_soap(gateway_server, envelope(SOAP11, submit(build_sad(2, reference=new_lrn())),
                                                wsa_header(message_id)),
                      headers_for("soap11", tokens["broker-alpha"]))
    assert first.status_code == 200, first.text
    original = etree.fromstring(first.content).findtext(
        "s11:Body/gw:SubmitDeclarationResponse/gw:Receipt/gw:ReceiptID", namespaces=NS)

    for version, namespace in (("soap11", SOAP11), ("soap12", SOAP12)):
        other = post_soap(gateway_server,
                          envelope(namespace, submit(build_sad(3, reference=new_lrn())),
                                   wsa_header(message_id)),
                          headers_for(version, tokens["broker-alpha"]))
        assert other.status_code == (500 if version == "soap11" else 400)
        rejection = fault_rejection(other, version)
        assert rejection_code(rejection) == "GW-DUPLICATE-CONFLICT"
        assert rejection.findtext("gw:OriginalReceiptID", namespaces=NS) == original
        rc, err = xmlsec1_verify(other.content, gateway_cert(gateway_server), REJECTION_NODE,
                                 tmp_path)
        assert rc == 0, err
    assert journal_snapshot(gateway_server)[:2] == (1, 1)
