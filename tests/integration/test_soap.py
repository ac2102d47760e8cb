"""SOAP 1.1 and 1.2 at ``/soap`` against a real uvicorn server and the real RabbitMQ: the contract.

The contract is exercised the way partners use it: with **zeep** built from the served WSDL
(with DTDs, entities and external references forbidden) on both ports, and with the content
types each SOAP version puts on the wire. Signed receipts and notifications inside SOAP bodies
are verified with the independent ``xmlsec1`` binary. Faults, hostile or inconsistent
envelopes and WS-Addressing resends are covered in ``test_soap_faults.py``.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import httpx
import pytest
import zeep.exceptions
from conftest import RunningGateway, wait_for, xmlsec1_verify
from http_helpers import GW_NS, NOTIFICATION_NODE, RECEIPT_NODE, gateway_cert, new_lrn
from lxml import etree
from soap_helpers import ACTION, NS, PORTS, SOAP11, SOAP12, bound, rejection_code

from samples.wco import build_dec

pytestmark = pytest.mark.integration

FUNCTION_CODES = {"ACC": "01", "CTL": "05", "TAX": "13", "RES": "07"}


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
    assert hashlib.sha256(c14n).hexdigest() == receipt.DocumentDigest
    assert hashlib.sha256(wire.seen[-1].request.body).hexdigest() == receipt.SHA256
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
