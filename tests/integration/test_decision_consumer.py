"""The decision consumer against the real RabbitMQ: verify, apply, then acknowledge — or park.

The gateway runs without the clearance stand-in; the tests play clearance themselves and
publish decisions (signed with the clearance key, forged, unsigned …) to
``<prefix>customs.decisions`` with pika, then look at the journal and at the parking queue.
Transient failures, the delivery limit and broker outages are covered in
``test_decision_consumer_failures.py``.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from conftest import RunningGateway, wait_for
from decision_helpers import (
    BROKER,
    header_text,
    make_decision,
    notification_kinds,
    publish_raw,
    publish_signed,
    submit_declaration,
    take_next,
    take_parked,
)

from adapters.bootstrap import load_signing_key
from adapters.standins.clearance_rules import ClearanceRules, decide
from gateway.canonical.clearance_decision import ClearanceDecision
from gateway.canonical.declaration import Declaration
from gateway.canonical.model import from_plain, to_json_bytes
from gateway.identifiers import is_valid_mrn
from gateway.settings import Settings
from gateway.signing.detached import sign_body

pytestmark = pytest.mark.integration
pytest_plugins = ["decision_helpers"]     # the ``amqp`` fixture


# --- applied -----------------------------------------------------------------------------------


def test_consumer_applies_decision_signed_by_clearance(
        settings: Settings, gateway_server: RunningGateway, tokens: dict[str, str],
        amqp: Any) -> None:
    """A clearance-signed acceptance becomes an ACC notification, status accepted, the MRN."""
    conversation_id = submit_declaration(gateway_server, tokens[BROKER])
    decision = make_decision(conversation_id)
    publish_signed(amqp, settings, decision)

    journal = gateway_server.gateway.journal
    wait_for(lambda: journal.notifications(conversation_id))
    (notification,) = journal.notifications(conversation_id)
    assert notification.kind == "ACC" and notification.seq == 1
    assert notification.source_id == decision.decision_id
    assert notification.summary["mrn"] == decision.mrn
    conversation = journal.conversation(conversation_id)
    assert conversation["status"] == "accepted"
    mrn = conversation["customs_reference"]
    assert mrn == decision.mrn and is_valid_mrn(mrn)
    assert b"NotificationID" in notification.document


def test_consumer_does_not_duplicate_a_redelivered_decision(
        settings: Settings, gateway_server: RunningGateway, tokens: dict[str, str],
        amqp: Any) -> None:
    """The same decision delivered twice yields one notification (later decisions still apply)."""
    conversation_id = submit_declaration(gateway_server, tokens[BROKER])
    accepted = make_decision(conversation_id)
    publish_signed(amqp, settings, accepted)
    publish_signed(amqp, settings, accepted)
    barrier = make_decision(conversation_id, "control", mrn=accepted.mrn)
    publish_signed(amqp, settings, barrier)   # applied after the duplicate (same conversation)

    wait_for(lambda: "CTL" in notification_kinds(gateway_server, conversation_id))
    time.sleep(0.2)
    assert notification_kinds(gateway_server, conversation_id) == ["ACC", "CTL"]
    history = gateway_server.gateway.journal.conversation(conversation_id)["history"]
    assert [e["event"] for e in history].count("notification.ACC") == 1


def test_consumer_applies_decisions_of_one_conversation_in_order(
        settings: Settings, gateway_server: RunningGateway, tokens: dict[str, str],
        amqp: Any) -> None:
    """Clearance's accepted, control, duties and release decisions become seq 1..4 in order."""
    conversations = [submit_declaration(gateway_server, tokens[BROKER]) for _ in range(2)]
    rules = ClearanceRules.load(settings.config_dir / "standins" / "clearance.toml")
    queue = settings.amqp_prefix + "clearance.declarations"
    batches: dict[str, list[ClearanceDecision]] = {}
    for _ in conversations:          # play clearance: take the published declarations
        _, properties, body = take_next(amqp, queue)
        batches[properties.correlation_id] = decide(
            from_plain(Declaration, json.loads(body)), message_id=properties.message_id,
            conversation_id=properties.correlation_id,
            receipt_id=header_text(properties.headers["x-receipt-id"]), rules=rules)
    assert sorted(batches) == sorted(conversations)
    for first, second in zip(*batches.values(), strict=True):   # interleave conversations
        publish_signed(amqp, settings, first)
        publish_signed(amqp, settings, second)

    journal = gateway_server.gateway.journal
    for conversation_id, decisions in batches.items():
        assert [d.kind for d in decisions] == ["accepted", "control", "duties_assessed",
                                               "released"]
        wait_for(lambda c=conversation_id: len(journal.notifications(c)) == 4)
        notifications = journal.notifications(conversation_id)
        assert [n.seq for n in notifications] == [1, 2, 3, 4]
        assert [n.kind for n in notifications] == ["ACC", "CTL", "TAX", "RES"]
        assert [n.source_id for n in notifications] == [d.decision_id for d in decisions]
        conversation = journal.conversation(conversation_id)
        assert conversation["status"] == "released"
        assert is_valid_mrn(conversation["customs_reference"])


# --- parked ------------------------------------------------------------------------------------


def test_consumer_parks_decision_with_bad_signature(
        settings: Settings, gateway_server: RunningGateway, tokens: dict[str, str],
        amqp: Any) -> None:
    """A body altered after signing is parked with GW-SIGNATURE-INVALID, never applied."""
    conversation_id = submit_declaration(gateway_server, tokens[BROKER])
    decision = make_decision(conversation_id)
    body = to_json_bytes(decision)
    headers = sign_body(load_signing_key(settings, "clearance"), body)
    position = body.index(decision.mrn.encode()) + 4
    tampered = body[:position] + bytes([body[position] ^ 0x01]) + body[position + 1:]
    assert tampered != body and len(tampered) == len(body)
    publish_raw(amqp, settings, tampered, headers, correlation_id=conversation_id,
                message_id=decision.decision_id)

    ((properties, parked_body),) = take_parked(amqp, settings)
    assert header_text(properties.headers["x-gateway-error-code"]) == "GW-SIGNATURE-INVALID"
    assert properties.headers["x-gateway-reason"]
    assert parked_body == tampered
    assert properties.headers["x-signature"] == headers["x-signature"]
    assert properties.correlation_id == conversation_id

    # the lane is not stalled: a correct decision behind it is applied, the forged one is not
    good = make_decision(conversation_id)
    publish_signed(amqp, settings, good)
    journal = gateway_server.gateway.journal
    wait_for(lambda: journal.notifications(conversation_id))
    assert [n.source_id for n in journal.notifications(conversation_id)] == [good.decision_id]
    assert journal.conversation(conversation_id)["customs_reference"] == good.mrn


def test_consumer_parks_unsigned_decision(
        settings: Settings, gateway_server: RunningGateway, tokens: dict[str, str],
        amqp: Any) -> None:
    """A decision without signature headers is parked with GW-SIGNATURE-MISSING."""
    conversation_id = submit_declaration(gateway_server, tokens[BROKER])
    body = to_json_bytes(make_decision(conversation_id))
    publish_raw(amqp, settings, body, {}, correlation_id=conversation_id)

    ((properties, parked_body),) = take_parked(amqp, settings)
    assert header_text(properties.headers["x-gateway-error-code"]) == "GW-SIGNATURE-MISSING"
    assert parked_body == body
    time.sleep(0.2)
    assert gateway_server.gateway.journal.notifications(conversation_id) == []
    assert gateway_server.gateway.journal.conversation(conversation_id)["status"] == "submitted"


def test_consumer_parks_decision_signed_by_untrusted_gateway_key(
        settings: Settings, gateway_server: RunningGateway, tokens: dict[str, str],
        amqp: Any) -> None:
    """A decision signed with the gateway's own key (not clearance's) is parked, not applied."""
    conversation_id = submit_declaration(gateway_server, tokens[BROKER])
    body = publish_signed(amqp, settings, make_decision(conversation_id),
                          key=load_signing_key(settings, "gateway"))

    ((properties, parked_body),) = take_parked(amqp, settings)
    assert header_text(properties.headers["x-gateway-error-code"]) == "GW-SIGNATURE-UNKNOWN-KEY"
    assert parked_body == body
    time.sleep(0.2)
    assert gateway_server.gateway.journal.notifications(conversation_id) == []


def test_consumer_parks_decision_signed_by_another_trusted_partner(
        settings: Settings, gateway_server: RunningGateway, tokens: dict[str, str],
        amqp: Any) -> None:
    """A key trusted for a partner other than clearance is the wrong signer: parked."""
    gateway_key = load_signing_key(settings, "gateway")
    gateway_server.gateway.trust.add(BROKER, gateway_key.certificate)   # a broker's key
    conversation_id = submit_declaration(gateway_server, tokens[BROKER])
    body = publish_signed(amqp, settings, make_decision(conversation_id), key=gateway_key)

    ((properties, parked_body),) = take_parked(amqp, settings)
    assert header_text(properties.headers["x-gateway-error-code"]) == "GW-SIGNATURE-WRONG-SIGNER"
    assert parked_body == body
    time.sleep(0.2)
    assert gateway_server.gateway.journal.notifications(conversation_id) == []


def test_consumer_parks_decision_for_unknown_conversation(
        settings: Settings, gateway_server: RunningGateway, amqp: Any) -> None:
    """A correctly signed decision for a conversation the gateway never had is parked."""
    stranger = uuid.uuid4().hex
    body = publish_signed(amqp, settings, make_decision(stranger))

    ((properties, parked_body),) = take_parked(amqp, settings)
    assert header_text(properties.headers["x-gateway-error-code"]) == \
        "GW-DECISION-UNKNOWN-CONVERSATION"
    assert parked_body == body
    assert gateway_server.gateway.journal.conversation(stranger) is None


def test_consumer_parks_unintelligible_decision(
        settings: Settings, gateway_server: RunningGateway, tokens: dict[str, str],
        amqp: Any) -> None:
    """A correctly signed body that is not a decision is parked with GW-DECISION-INVALID."""
    conversation_id = submit_declaration(gateway_server, tokens[BROKER])
    body = json.dumps({"kind": "approved", "conversation_id": conversation_id}).encode()
    publish_raw(amqp, settings, body, sign_body(load_signing_key(settings, "clearance"), body),
                correlation_id=conversation_id)

    ((properties, parked_body),) = take_parked(amqp, settings)
    assert header_text(properties.headers["x-gateway-error-code"]) == "GW-DECISION-INVALID"
    assert parked_body == body
    assert gateway_server.gateway.journal.notifications(conversation_id) == []
