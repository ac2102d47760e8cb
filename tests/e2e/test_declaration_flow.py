"""The declaration flow end to end: broker -> gateway -> RabbitMQ -> clearance -> broker.

The whole gateway runs in sandbox mode with the clearance stand-in (a real RabbitMQ consumer
that decides and signs) and the sandbox callback receiver for broker-alpha's pushes; the test
is the broker, talking plain HTTP.
"""

from __future__ import annotations

import json
import time
import uuid
from decimal import Decimal
from typing import Any

import pytest
from conftest import RunningGateway, wait_for
from lxml import etree
from support.journal import canonical_json

from adapters.bootstrap import load_signing_key
from adapters.standins.clearance_rules import ClearanceRules, assess
from gateway.canonical.declaration import Declaration
from gateway.canonical.model import from_plain
from gateway.identifiers import is_valid_mrn
from gateway.settings import Settings
from gateway.signing.keys import TrustStore
from gateway.signing.xmldsig import verify_enveloped
from samples.asycuda import build_sad
from samples.wco import build_dec

pytestmark = pytest.mark.e2e

BROKER = "broker-alpha"
GW = "urn:customs-gateway:v1"
RELEASED = ["ACC", "CTL", "TAX", "RES"]


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12].upper()}"


def _submit(running: RunningGateway, token: str, document: bytes) -> tuple[str, etree._Element]:
    """POST a declaration; the conversation id and the signed receipt of the 202."""
    with running.client(token) as client:
        response = client.post("/v1/messages", content=document,
                               headers={"Content-Type": "application/xml"})
    assert response.status_code == 202, response.text[:2000]
    receipt = etree.fromstring(response.content)
    assert receipt.findtext(f"{{{GW}}}ConversationID") == response.headers["X-Conversation-ID"]
    return response.headers["X-Conversation-ID"], receipt


def _pull(running: RunningGateway, token: str, conversation_id: str) -> dict[str, Any]:
    with running.client(token, Accept="application/json") as client:
        response = client.get(f"/v1/conversations/{conversation_id}/notifications")
    assert response.status_code == 200, response.text
    return response.json()


def _until_kinds(running: RunningGateway, token: str, conversation_id: str,
                 last: str, timeout: float = 30.0) -> dict[str, Any]:
    """Pull until a notification of kind ``last`` is there; the pulled listing."""
    def pulled_with_last() -> dict[str, Any] | None:
        data = _pull(running, token, conversation_id)
        return data if last in [n["kind"] for n in data["notifications"]] else None

    return wait_for(pulled_with_last, timeout=timeout)


def _trust(settings: Settings) -> TrustStore:
    trust = TrustStore()
    trust.add("gateway", load_signing_key(settings, "gateway").certificate)
    return trust


def _check_released(settings: Settings, running: RunningGateway, token: str,
                    conversation_id: str, receipt: etree._Element) -> dict[str, Any]:
    data = _until_kinds(running, token, conversation_id, "RES")
    trust = _trust(settings)
    verify_enveloped(receipt, trust, owner="gateway")
    assert [n["kind"] for n in data["notifications"]] == RELEASED
    assert [n["seq"] for n in data["notifications"]] == [1, 2, 3, 4]
    assert data["status"] == "released"
    assert data["conversation_id"] == conversation_id
    assert is_valid_mrn(data["mrn"]), data["mrn"]
    for notification in data["notifications"]:
        root = verify_enveloped(etree.fromstring(notification["document"].encode()), trust,
                                owner="gateway").element
        assert root.findtext(f"{{{GW}}}ConversationID") == conversation_id
        assert root.findtext(f"{{{GW}}}Kind") == notification["kind"]
        assert notification["mrn"] == data["mrn"]
    return data


def _pushed(running: RunningGateway, token: str, conversation_id: str) -> list[dict[str, str]]:
    """What broker-alpha's callback endpoint received for the conversation (its token)."""
    with running.client(token) as client:
        received = client.get(f"/sandbox/callbacks/{BROKER}").json()
    return [p for p in received if p["conversation_id"] == conversation_id]


def test_flow_wco_declaration_over_http_is_released_with_valid_mrn(
        settings: Settings, sandbox_server: RunningGateway, tokens: dict[str, str]) -> None:
    """A WCO DEC over HTTP gets ACC, CTL, TAX, RES (signed) and a valid MRN."""
    lrn = _unique("LRN")
    conversation_id, receipt = _submit(sandbox_server, tokens[BROKER], build_dec(3, lrn=lrn))
    data = _check_released(settings, sandbox_server, tokens[BROKER], conversation_id, receipt)
    assert data["mrn"][2:4] == "MK" and data["mrn"][-2] == "R"
    conversation = sandbox_server.gateway.journal.conversation(conversation_id)
    assert conversation["reference"] == lrn
    assert conversation["customs_reference"] == data["mrn"]


def test_flow_keeps_one_conversation_id_from_receipt_to_last_notification(
        settings: Settings, sandbox_server: RunningGateway, tokens: dict[str, str]) -> None:
    """Receipt, publication, decisions, notifications and pushes all carry one conversation id."""
    conversation_id, receipt = _submit(sandbox_server, tokens[BROKER],
                                       build_dec(2, lrn=_unique("LRN")))
    assert receipt.findtext(f"{{{GW}}}ConversationID") == conversation_id
    data = _check_released(settings, sandbox_server, tokens[BROKER], conversation_id, receipt)

    journal = sandbox_server.gateway.journal
    conversation = journal.conversation(conversation_id)
    events = [e["event"] for e in conversation["history"]]
    assert events[:2] == ["submitted", "published"]
    assert [e for e in events if e.startswith("notification.")] == \
        [f"notification.{k}" for k in RELEASED]
    stored = journal.notifications(conversation_id)
    assert {n.conversation_id for n in stored} == {conversation_id}
    assert [n.id for n in stored] == [n["notification_id"] for n in data["notifications"]]

    wait_for(lambda: len(_pushed(sandbox_server, tokens[BROKER], conversation_id)) == 4)
    pushes = _pushed(sandbox_server, tokens[BROKER], conversation_id)
    assert sorted(p["kind"] for p in pushes) == sorted(RELEASED)
    assert {p["notification_id"] for p in pushes} == {n.id for n in stored}
    for push in pushes:
        pushed_root = etree.fromstring(push["document"].encode())
        assert pushed_root.findtext(f"{{{GW}}}ConversationID") == conversation_id


def test_flow_asycuda_declaration_over_http_is_released_with_valid_mrn(
        settings: Settings, sandbox_server: RunningGateway, tokens: dict[str, str]) -> None:
    """An ASYCUDA SAD over HTTP gets ACC, CTL, TAX, RES and a valid MRN."""
    reference = _unique("REF")
    conversation_id, receipt = _submit(sandbox_server, tokens[BROKER],
                                       build_sad(3, reference=reference))
    data = _check_released(settings, sandbox_server, tokens[BROKER], conversation_id, receipt)
    tax = data["notifications"][2]
    assert tax["total_duties"] and tax["payment_reference"].startswith("RF")


def test_flow_legacy_broker_pulls_asycuda_notifications(
        settings: Settings, sandbox_server: RunningGateway, tokens: dict[str, str]) -> None:
    """A pull-only broker's ASYCUDA declaration is released too; nothing is pushed for it."""
    conversation_id, receipt = _submit(sandbox_server, tokens["broker-legacy"],
                                       build_sad(2, reference=_unique("REF")))
    _check_released(settings, sandbox_server, tokens["broker-legacy"], conversation_id, receipt)
    assert all(n.push is False for n in
               sandbox_server.gateway.journal.notifications(conversation_id))
    assert _pushed(sandbox_server, tokens[BROKER], conversation_id) == []


def test_flow_999_item_wco_declaration_is_released(
        settings: Settings, sandbox_server: RunningGateway, tokens: dict[str, str]) -> None:
    """A 999-item WCO declaration (~2 MB) is accepted and released end to end."""
    document = build_dec(999, lrn=_unique("LRN-BIG"))
    started = time.perf_counter()
    conversation_id, receipt = _submit(sandbox_server, tokens[BROKER], document)
    accepted = time.perf_counter() - started
    data = _check_released(settings, sandbox_server, tokens[BROKER], conversation_id, receipt)
    released = time.perf_counter() - started
    print(f"\n999-item WCO DEC ({len(document) / 1e6:.1f} MB): 202 after {accepted:.2f} s, "
          f"released after {released:.2f} s")
    declaration = from_plain(Declaration, json.loads(canonical_json(settings, conversation_id)))
    assert len(declaration.goods_items) == 999
    assert [item.sequence for item in declaration.goods_items] == list(range(1, 1000))
    rules = ClearanceRules.load(settings.config_dir / "standins" / "clearance.toml")
    _, expected_total = assess(declaration, rules)
    tax = data["notifications"][2]
    assert tax["kind"] == "TAX"
    assert Decimal(tax["total_duties"]) == expected_total > 0, "duties over all 999 items"


def test_flow_red_channel_declaration_is_not_released(
        settings: Settings, sandbox_server: RunningGateway, tokens: dict[str, str]) -> None:
    """Arms (HS 9302) go to the red channel: ACC, CTL (red), TAX — and no release."""
    conversation_id, receipt = _submit(
        sandbox_server, tokens[BROKER],
        build_dec(2, lrn=_unique("LRN-RED"), hs_codes=["93020000"]))
    data = _until_kinds(sandbox_server, tokens[BROKER], conversation_id, "TAX")
    time.sleep(0.5)                    # a release would follow the duties within milliseconds
    data = _pull(sandbox_server, tokens[BROKER], conversation_id)
    kinds = [n["kind"] for n in data["notifications"]]
    assert kinds == ["ACC", "CTL", "TAX"]
    assert data["notifications"][1]["channel"] == "red"
    assert data["status"] == "duties-assessed"
    assert is_valid_mrn(data["mrn"])
    history = [e["event"] for e in
               sandbox_server.gateway.journal.conversation(conversation_id)["history"]]
    assert "notification.RES" not in history
    verify_enveloped(receipt, _trust(settings), owner="gateway")
