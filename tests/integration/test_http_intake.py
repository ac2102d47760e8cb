"""``POST /v1/messages`` against a real uvicorn server and the real RabbitMQ: accepted messages.

Every answer is checked as a partner would check it: the status, the headers, the signed
receipt (verified with the independent ``xmlsec1`` binary against the gateway's certificate)
and what the gateway kept — the journal (conversations, messages, outbox) and the declaration
waiting in the clearance queue. A repeat gets the original receipt and publishes nothing new.
Bad input is covered in ``test_http_bad_input.py``, health and metrics in
``test_http_health.py``.
"""

from __future__ import annotations

import hashlib
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import RunningGateway, wait_for, xmlsec1_verify
from http_helpers import (
    GW_NS,
    NS,
    RECEIPT_NODE,
    XML_HEADERS,
    assert_signed_rejection,
    clearance_queue_messages,
    fields,
    gateway_cert,
    journal_snapshot,
    new_lrn,
    parse,
)
from lxml import etree
from support.journal import canonical_json

from samples.asycuda import build_sad
from samples.wco import build_dec

pytestmark = pytest.mark.integration

RECEIPT_FIELDS = {
    "ReceiptID": "receipt_id", "ConversationID": "conversation_id",
    "ReceivedAt": "received_at", "Partner": "partner", "MessageType": "message_type",
    "MessageName": "message_name", "MessageVersion": "message_version",
    "StatedVersion": "stated_version", "MessageID": "message_id", "SHA256": "sha256",
    "Status": "status",
}


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


# --- ASYCUDA exports as broker software writes them --------------------------------------


@pytest.mark.parametrize("options", [{"reference": None}, {"with_reference": False}],
                         ids=["reference-null", "reference-absent"])
def test_asycuda_export_with_fractional_packages_and_no_reference_accepted(
        gateway_server: RunningGateway, tokens: dict[str, str], tmp_path: Path,
        options: dict[str, Any]) -> None:
    """0.06 packages and no declarant reference: 202, no LRN, quantity 0.06 when canonical."""
    body = build_sad(2, packages=["0.06", "3"], **options)
    with gateway_server.client(tokens["broker-alpha"]) as client:
        response = client.post("/v1/messages", content=body, headers=XML_HEADERS)

    assert response.status_code == 202, response.text
    rc, err = xmlsec1_verify(response.content, gateway_cert(gateway_server), RECEIPT_NODE,
                             tmp_path)
    assert rc == 0, err
    conversation_id = response.headers["X-Conversation-ID"]
    canonical = json.loads(canonical_json(gateway_server.settings, conversation_id))
    assert canonical.get("header", {}).get("lrn") is None
    assert canonical["header"]["total_packages"] == "3.06"
    assert [item["packages"][0]["quantity"] for item in canonical["goods_items"]] == ["0.06", "3"]
    journal = gateway_server.gateway.journal
    assert not journal.conversation(conversation_id)["reference"]
    canonical_form = etree.tostring(etree.fromstring(body), method="c14n", exclusive=True)
    key = f"digest:{hashlib.sha256(canonical_form).hexdigest()}"   # no document id: its digest
    assert journal.find("broker-alpha", key) is not None
    wait_for(lambda: journal.outbox_counts() == {"sent": 1}, timeout=10)
    ((headers, published),) = clearance_queue_messages(gateway_server.settings)
    assert "x-reference" not in headers
    assert json.loads(published) == canonical


def test_asycuda_exports_without_reference_are_distinct_and_repeats_duplicates(
        gateway_server: RunningGateway, tokens: dict[str, str]) -> None:
    """Two reference-less exports without Idempotency-Key are two messages; a repeat is one."""
    first_body = build_sad(2, reference=None, seed=1)
    second_body = build_sad(2, reference=None, seed=2)
    with gateway_server.client(tokens["broker-alpha"]) as client:
        first = client.post("/v1/messages", content=first_body, headers=XML_HEADERS)
        second = client.post("/v1/messages", content=second_body, headers=XML_HEADERS)
        again = client.post("/v1/messages", content=first_body, headers=XML_HEADERS)

    assert [r.status_code for r in (first, second, again)] == [202, 202, 202]
    assert "X-Duplicate" not in first.headers and "X-Duplicate" not in second.headers
    assert first.headers["X-Conversation-ID"] != second.headers["X-Conversation-ID"]
    assert again.headers["X-Duplicate"] == "true"
    assert again.headers["X-Conversation-ID"] == first.headers["X-Conversation-ID"]
    assert again.content == first.content
    wait_for(lambda: gateway_server.gateway.journal.outbox_counts() == {"sent": 2}, timeout=10)
    assert journal_snapshot(gateway_server)[:2] == (2, 2)
