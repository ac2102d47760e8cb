"""The conversation and notification resources, with the clearance stand-in deciding.

``sandbox_server`` runs the gateway with the stand-in clearance system on the real RabbitMQ:
a valid declaration is accepted, channelled green, assessed and released within about a
second; a declaration whose item count disagrees with its items is rejected. The tests read
the outcome as a broker would — ``GET /v1/conversations/…`` in JSON and XML, each signed
notification verified with ``xmlsec1`` — and compare it with what the broker's callback
endpoint received by push.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import RunningGateway, module_gateway, wait_for, xmlsec1_verify
from http_helpers import GW_NS, NOTIFICATION_NODE, XML_HEADERS, gateway_cert, new_lrn
from lxml import etree
from soap_helpers import SOAP11, SOAP12, envelope, fault_rejection, headers_for, rejection_code

from samples.wco import build_dec

pytestmark = pytest.mark.integration

NS = {"gw": GW_NS, "ds": "http://www.w3.org/2000/09/xmldsig#",
      "md": "urn:wco:datamodel:WCO:DocumentMetaData-DMS:2",
      "res": "urn:wco:datamodel:WCO:RES-DMS:2"}
KINDS = ["ACC", "CTL", "TAX", "RES"]
FUNCTION_CODES = {"ACC": "01", "CTL": "05", "TAX": "13", "RES": "07", "REJ": "03"}
MRN = re.compile(r"^\d{2}MK[0-9A-Z]{12}[A-Z]\d$")


# --- helpers ------------------------------------------------------------------------------



@pytest.fixture(scope="module")
def sandbox_server(session_var: Path, tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[RunningGateway]:
    """One sandbox gateway for the module: each test reads only the conversations it made."""
    yield from module_gateway(session_var, tmp_path_factory.mktemp("conversations"),
                              sandbox=True)


def submit(running: RunningGateway, token: str, body: bytes) -> str:
    with running.client(token) as client:
        response = client.post("/v1/messages", content=body, headers=XML_HEADERS)
    assert response.status_code == 202, response.text
    return response.headers["X-Conversation-ID"]


def conversation(running: RunningGateway, token: str, conversation_id: str) -> dict[str, Any]:
    with running.client(token) as client:
        response = client.get(f"/v1/conversations/{conversation_id}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def settled(running: RunningGateway, token: str, conversation_id: str, status: str,
            notifications: int) -> dict[str, Any]:
    """Poll the conversation resource until it reaches ``status`` with all notifications."""
    def done() -> dict[str, Any] | None:
        found = conversation(running, token, conversation_id)
        ok = found["status"] == status and len(found["notifications"]) == notifications
        return found if ok else None
    return wait_for(done, timeout=15, interval=0.1)


def released_conversation(running: RunningGateway, tokens: dict[str, str]) -> tuple[str, str]:
    lrn = new_lrn()
    conversation_id = submit(running, tokens["broker-alpha"], build_dec(2, lrn=lrn))
    settled(running, tokens["broker-alpha"], conversation_id, "released", 4)
    return conversation_id, lrn


def function_code(notification: etree._Element) -> str:
    return notification.findtext("gw:Payload/md:MetaData/res:Response/res:FunctionCode",
                                 namespaces=NS)


# --- the conversation resource ------------------------------------------------------------


def test_conversation_progresses_to_released_with_history(
        sandbox_server: RunningGateway, tokens: dict[str, str]) -> None:
    """A valid declaration's conversation goes submitted -> published -> ACC…RES, with an MRN."""
    lrn = new_lrn()
    conversation_id = submit(sandbox_server, tokens["broker-alpha"], build_dec(2, lrn=lrn))
    found = settled(sandbox_server, tokens["broker-alpha"], conversation_id, "released", 4)

    assert found["id"] == conversation_id
    assert found["partner_id"] == "broker-alpha"
    assert found["reference"] == lrn
    assert MRN.match(found["mrn"]), found["mrn"]
    events = [e["event"] for e in found["history"]]
    milestones = [e for e in events if not e.startswith("push.")]
    assert milestones == ["submitted", "published", "notification.ACC", "notification.CTL",
                          "notification.TAX", "notification.RES"]
    by_event = {e["event"]: e for e in found["history"]}
    assert by_event["notification.ACC"]["mrn"] == found["mrn"]
    assert by_event["notification.CTL"]["channel"] == "green"
    assert by_event["notification.TAX"]["payment_reference"].startswith("RF")
    assert [n["kind"] for n in found["notifications"]] == KINDS
    assert [n["seq"] for n in found["notifications"]] == [1, 2, 3, 4]
    assert all("document" not in n for n in found["notifications"])


def test_notifications_xml_each_verifies_and_carries_function_code(
        sandbox_server: RunningGateway, tokens: dict[str, str], tmp_path: Path) -> None:
    """The XML notification list holds four signed gw:Notification with the right RES codes."""
    conversation_id, lrn = released_conversation(sandbox_server, tokens)
    with sandbox_server.client(tokens["broker-alpha"]) as client:
        response = client.get(f"/v1/conversations/{conversation_id}/notifications")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert response.headers["X-Conversation-ID"] == conversation_id

    root = etree.fromstring(response.content)
    assert root.tag == f"{{{GW_NS}}}Notifications"
    assert root.get("ConversationID") == conversation_id
    assert root.get("Status") == "released"
    assert root.get("count") == "4"
    notifications = root.findall("gw:Notification", NS)
    assert [n.findtext("gw:Kind", namespaces=NS) for n in notifications] == KINDS
    mrn = sandbox_server.gateway.journal.conversation(conversation_id)["customs_reference"]
    for notification in notifications:
        kind = notification.findtext("gw:Kind", namespaces=NS)
        assert notification.findtext("gw:ConversationID", namespaces=NS) == conversation_id
        assert notification.get("Id") == \
            "NTF-" + notification.findtext("gw:NotificationID", namespaces=NS)
        assert function_code(notification) == FUNCTION_CODES[kind]
        response_ = notification.find("gw:Payload/md:MetaData/res:Response", NS)
        assert response_.findtext("res:FunctionalReferenceID", namespaces=NS) == lrn
        assert response_.findtext("res:Declaration/res:ID", namespaces=NS) == mrn
        alone = etree.tostring(notification)
        rc, err = xmlsec1_verify(alone, gateway_cert(sandbox_server), NOTIFICATION_NODE,
                                 tmp_path)
        assert rc == 0, f"{kind}: {err}"


def test_notifications_after_sequence_returns_later_ones(
        sandbox_server: RunningGateway, tokens: dict[str, str]) -> None:
    """``?after=2`` lists only the notifications after the second one."""
    conversation_id, _ = released_conversation(sandbox_server, tokens)
    with sandbox_server.client(tokens["broker-alpha"]) as client:
        response = client.get(f"/v1/conversations/{conversation_id}/notifications",
                              params={"after": 2})
    root = etree.fromstring(response.content)
    assert root.get("count") == "2"
    assert [n.findtext("gw:Kind", namespaces=NS) for n in root.findall("gw:Notification", NS)] \
        == ["TAX", "RES"]


def test_notifications_json_variant_matches_journal(
        sandbox_server: RunningGateway, tokens: dict[str, str], tmp_path: Path) -> None:
    """``Accept: application/json`` lists the same notifications with their signed documents."""
    conversation_id, _ = released_conversation(sandbox_server, tokens)
    with sandbox_server.client(tokens["broker-alpha"], Accept="application/json") as client:
        response = client.get(f"/v1/conversations/{conversation_id}/notifications")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    content = response.json()
    journal = sandbox_server.gateway.journal
    assert content["conversation_id"] == conversation_id
    assert content["status"] == "released"
    assert content["mrn"] == journal.conversation(conversation_id)["customs_reference"]
    listed = content["notifications"]
    stored = journal.notifications(conversation_id)
    assert [n["kind"] for n in listed] == KINDS
    assert [n["seq"] for n in listed] == [1, 2, 3, 4]
    assert [n["notification_id"] for n in listed] == [n.id for n in stored]
    assert [n["document"].encode() for n in listed] == [n.document for n in stored]
    assert listed[2]["decision"] == "duties_assessed" and listed[2]["total_duties"]
    rc, err = xmlsec1_verify(listed[3]["document"].encode(), gateway_cert(sandbox_server),
                             NOTIFICATION_NODE, tmp_path)
    assert rc == 0, err


def test_notification_by_sequence_is_one_signed_document(
        sandbox_server: RunningGateway, tokens: dict[str, str], tmp_path: Path) -> None:
    """``/notifications/{seq}`` returns that one signed notification; an unknown seq is 404."""
    conversation_id, _ = released_conversation(sandbox_server, tokens)
    stored = sandbox_server.gateway.journal.notifications(conversation_id)
    with sandbox_server.client(tokens["broker-alpha"]) as client:
        second = client.get(f"/v1/conversations/{conversation_id}/notifications/2")
        missing = client.get(f"/v1/conversations/{conversation_id}/notifications/9")
    assert second.status_code == 200
    assert second.headers["content-type"].startswith("application/xml")
    assert second.headers["X-Conversation-ID"] == conversation_id
    assert second.content == stored[1].document
    root = etree.fromstring(second.content)
    assert root.tag == f"{{{GW_NS}}}Notification"
    assert root.findtext("gw:Kind", namespaces=NS) == "CTL"
    assert function_code(root) == "05"
    rc, err = xmlsec1_verify(second.content, gateway_cert(sandbox_server), NOTIFICATION_NODE,
                             tmp_path)
    assert rc == 0, err
    assert missing.status_code == 404
    assert missing.json()["code"] == "GW-NOT-FOUND"


@pytest.mark.parametrize("path", ["", "/notifications", "/notifications/1"])
def test_conversation_hidden_from_other_broker(
        sandbox_server: RunningGateway, tokens: dict[str, str], path: str) -> None:
    """Another broker gets 404 for the conversation and its notifications, as if absent."""
    conversation_id, _ = released_conversation(sandbox_server, tokens)
    with sandbox_server.client(tokens["broker-legacy"]) as client:
        response = client.get(f"/v1/conversations/{conversation_id}{path}")
    assert response.status_code == 404
    assert response.json()["code"] == "GW-NOT-FOUND"
    assert "released" not in response.text and "<gw:Notification" not in response.text
    unknown = httpx.get(f"{sandbox_server.base_url}/v1/conversations/{uuid.uuid4().hex}{path}",
                        headers={"Authorization": f"Bearer {tokens['broker-alpha']}"})
    assert unknown.status_code == 404


def get_notifications_soap(running: RunningGateway, token: str, conversation_id: str,
                           version: str, *, signed_by_bank: bool = False) -> httpx.Response:
    """GetNotifications over SOAP; ``signed_by_bank``: with the bank's WS-Security signature
    (bank-demo is registered with require_wss: unsigned, it would be refused before reading)."""
    body = (f'<gw:GetNotifications xmlns:gw="{GW_NS}"><gw:ConversationID>{conversation_id}'
            f"</gw:ConversationID></gw:GetNotifications>").encode()
    content = envelope(SOAP11 if version == "soap11" else SOAP12, body)
    if signed_by_bank:
        from adapters.standins.bank import BankStandIn

        content = BankStandIn.from_settings(running.settings).signed_soap_request(content).body
    return httpx.post(f"{running.base_url}/soap", content=content,
                      headers=headers_for(version, token, "GetNotifications"), timeout=30)


READ_PATHS = ("", "/notifications", "/notifications/1")


@pytest.mark.parametrize("reader", ["broker-legacy", "clearance", "bank-demo"])
def test_conversation_hidden_from_every_non_owner_over_rest_and_soap(
        sandbox_server: RunningGateway, tokens: dict[str, str], reader: str) -> None:
    """Another broker, the clearance identity and a bank get 404 / a GW-NOT-FOUND fault."""
    conversation_id, _ = released_conversation(sandbox_server, tokens)
    with sandbox_server.client(tokens[reader]) as client:
        for path in READ_PATHS:
            response = client.get(f"/v1/conversations/{conversation_id}{path}")
            assert response.status_code == 404, (path, response.text)
            assert response.json()["code"] == "GW-NOT-FOUND"
            assert "released" not in response.text and "<gw:Notification" not in response.text
    for version in ("soap11", "soap12"):
        response = get_notifications_soap(sandbox_server, tokens[reader], conversation_id,
                                          version, signed_by_bank=reader == "bank-demo")
        assert rejection_code(fault_rejection(response, version)) == "GW-NOT-FOUND"
        assert "<gw:Notification " not in response.text


def test_operator_reads_any_broker_conversation_over_rest_and_soap(
        sandbox_server: RunningGateway, tokens: dict[str, str]) -> None:
    """The operator role (kind operator) reads a broker's conversation as the broker does."""
    conversation_id, _ = released_conversation(sandbox_server, tokens)
    with sandbox_server.client(tokens["broker-alpha"]) as owner, \
            sandbox_server.client(tokens["operator-demo"]) as operator:
        for path in READ_PATHS:
            mine = owner.get(f"/v1/conversations/{conversation_id}{path}")
            seen = operator.get(f"/v1/conversations/{conversation_id}{path}")
            assert seen.status_code == 200, (path, seen.text)
            if path:
                assert seen.content == mine.content
            else:       # the history may gain push events between the two reads
                assert {**seen.json(), "history": None} == {**mine.json(), "history": None}
                assert seen.json()["partner_id"] == "broker-alpha"
    for version in ("soap11", "soap12"):
        response = get_notifications_soap(sandbox_server, tokens["operator-demo"],
                                          conversation_id, version)
        assert response.status_code == 200, response.text
        root = etree.fromstring(response.content)
        kinds = [k.text for k in root.iter(f"{{{GW_NS}}}Kind")]
        assert kinds == KINDS


def test_conversation_requires_token(
        sandbox_server: RunningGateway, tokens: dict[str, str]) -> None:
    """Without a token the conversation resource answers 401."""
    conversation_id, _ = released_conversation(sandbox_server, tokens)
    response = httpx.get(f"{sandbox_server.base_url}/v1/conversations/{conversation_id}")
    assert response.status_code == 401
    assert response.json()["code"] == "GW-AUTH-UNAUTHENTICATED"


def test_item_count_mismatch_ends_rejected_with_rej_notification(
        sandbox_server: RunningGateway, tokens: dict[str, str], tmp_path: Path) -> None:
    """Declaring 3 items but sending 2 ends ``rejected`` with an R0228 error and WCO pointers."""
    lrn = new_lrn()
    conversation_id = submit(sandbox_server, tokens["broker-alpha"],
                             build_dec(2, lrn=lrn, declared_item_count=3))
    found = settled(sandbox_server, tokens["broker-alpha"], conversation_id, "rejected", 1)
    assert found["mrn"] is None
    assert [e["event"] for e in found["history"] if not e["event"].startswith("push.")] == \
        ["submitted", "published", "notification.REJ"]
    assert found["notifications"][0]["errors"][0]["code"] == "R0228"

    with sandbox_server.client(tokens["broker-alpha"]) as client:
        response = client.get(f"/v1/conversations/{conversation_id}/notifications")
    notifications = etree.fromstring(response.content).findall("gw:Notification", NS)
    assert len(notifications) == 1
    notification = notifications[0]
    assert notification.findtext("gw:Kind", namespaces=NS) == "REJ"
    assert function_code(notification) == "03"
    error = notification.find("gw:Payload/md:MetaData/res:Response/res:Error", NS)
    assert error is not None
    assert error.findtext("res:ValidationCode", namespaces=NS) == "R0228"
    assert "3" in error.findtext("res:Description", namespaces=NS)
    pointers = error.findall("res:Pointer", NS)
    assert len(pointers) >= 2
    assert pointers[0].findtext("res:DocumentSectionCode", namespaces=NS) == "42A"
    assert pointers[-1].findtext("res:TagID", namespaces=NS)
    rc, err = xmlsec1_verify(etree.tostring(notification), gateway_cert(sandbox_server),
                             NOTIFICATION_NODE, tmp_path)
    assert rc == 0, err


def test_callback_received_same_notifications_by_push(
        sandbox_server: RunningGateway, tokens: dict[str, str]) -> None:
    """broker-alpha's callback receives the same four signed notifications by push."""
    conversation_id, _ = released_conversation(sandbox_server, tokens)
    url = f"{sandbox_server.base_url}/sandbox/callbacks/broker-alpha"

    def pushed() -> list[dict[str, str]] | None:
        listed = httpx.get(url, timeout=5,
                           headers={"Authorization": f"Bearer {tokens['broker-alpha']}"})
        mine = [p for p in listed.json() if p["conversation_id"] == conversation_id]
        return mine if len(mine) == 4 else None

    received = wait_for(pushed, timeout=15, interval=0.1)
    stored = sandbox_server.gateway.journal.notifications(conversation_id)
    by_id = {p["notification_id"]: p for p in received}
    assert set(by_id) == {n.id for n in stored}
    for notification in stored:
        push = by_id[notification.id]
        assert push["kind"] == notification.kind
        assert push["document"].encode() == notification.document
    assert sorted(p["kind"] for p in received) == sorted(KINDS)
    wait_for(lambda: sum(e["event"] == "push.delivered" for e in
                         sandbox_server.gateway.journal.conversation(conversation_id)
                         ["history"]) == 4, timeout=10)
