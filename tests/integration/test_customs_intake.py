"""The AMQP intake of CD messages (adapters/amqp/intake_consumer.py) on the real RabbitMQ.

The test plays the Serbian administration's link: it publishes CD messages, signed with the
stand-in key of ``customs-rs`` that ``gateway keys init`` wrote to the session's var directory
(or with other keys), to the gateway's ``<prefix>customs.incoming``, exactly as RS's link would
(``x-link-from: RS``). The gateway is MK's (``config/``) with its link to RS off (no URL), so
every answer it sends back stays in its queue ``<prefix>link.to.rs``, where the test reads it;
refused messages land on ``<prefix>gateway.parking``.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pika
import pytest
from conftest import RunningGateway, wait_for
from lxml import etree

from adapters.bootstrap import load_signing_key
from adapters.setup_keys import load_stand_in_key
from gateway.settings import Settings
from gateway.signing.keys import SigningKey, TrustStore, generate_key_pair
from gateway.signing.xmldsig import verify_enveloped
from tests.support import transit

pytestmark = pytest.mark.usefixtures("gateway_server")


@pytest.fixture
def amqp(settings: Settings, gateway_server: RunningGateway) -> Iterator[Any]:
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    channel = connection.channel()
    channel.confirm_delivery()
    yield channel
    if connection.is_open:
        connection.close()


@pytest.fixture
def rs_key(settings: Settings) -> SigningKey:
    """Serbia's stand-in key: the certificate MK's registry lists for customs-rs."""
    return load_stand_in_key(settings, "customs-rs")


def _publish(channel: Any, settings: Settings, body: bytes, *, link_from: str = "RS") -> str:
    message_id = uuid.uuid4().hex
    channel.basic_publish(
        settings.amqp_prefix + "customs.incoming", f"from.{link_from.lower()}.movement", body,
        pika.BasicProperties(headers={"x-link-from": link_from}, message_id=message_id,
                             content_type="application/xml", delivery_mode=2),
        mandatory=True)
    return message_id


def _get(channel: Any, settings: Settings, queue: str) -> tuple[Any, bytes] | None:
    """One message off ``queue`` (consumed: the link queues take one consumer at a time and
    no basic.get), or ``None``."""
    channel.basic_qos(prefetch_count=1)
    for method, properties, body in channel.consume(settings.amqp_prefix + queue,
                                                     inactivity_timeout=0.2):
        if method is not None:
            channel.basic_ack(method.delivery_tag)
        channel.cancel()
        return (properties, body) if method is not None else None
    return None


def _count(channel: Any, settings: Settings, queue: str) -> int:
    return channel.queue_declare(settings.amqp_prefix + queue, passive=True).method.message_count


def _journal(settings: Settings) -> list[tuple[str, ...]]:
    path = Path(settings.db_url.removeprefix("sqlite:///"))
    with sqlite3.connect(path) as db:
        return db.execute("SELECT partner_id, message_type, channel, idempotency_key, status "
                          "FROM messages ORDER BY received_at").fetchall()


def _parked(channel: Any, settings: Settings) -> tuple[dict[str, Any], bytes]:
    found = wait_for(lambda: _get(channel, settings, "gateway.parking"))
    return dict(found[0].headers or {}), found[1]


def _settled(channel: Any, settings: Settings) -> None:
    """The incoming queue is empty and no message is left unacknowledged."""
    wait_for(lambda: _count(channel, settings, "gateway.customs-incoming") == 0)


def _aar_for_mk(**changes: Any) -> etree._Element:
    """A CD001C from RS's departure to MK's destination office (a movement RS → MK)."""
    return transit.message("cd001c", sender=changes.pop("sender", "NTA.RS"), recipient="NTA.MK",
                           mrn=changes.pop("mrn", None) or transit.new_mrn("RS"),
                           offices={"CustomsOfficeOfDeparture": "RS002000",
                                    "CustomsOfficeOfDestinationDeclared": "MK001005",
                                    "CustomsOfficeOfTransitDeclared": "MK002008"}, **changes)


def _gateway_trust(settings: Settings) -> TrustStore:
    trust = TrustStore()
    trust.add("gateway", load_signing_key(settings, "gateway").certificate)
    return trust


# --- accepted --------------------------------------------------------------------------------


def test_customs_intake_signed_aar_is_journaled_as_the_administrations(
        amqp: Any, settings: Settings, rs_key: SigningKey) -> None:
    """A CD001C signed by Serbia is journaled as customs-rs's over amqp and acknowledged; no
    answer goes back (NCTS has no positive acknowledgement between administrations)."""
    aar = _aar_for_mk()
    _publish(amqp, settings, transit.signed(aar, rs_key))

    rows = wait_for(lambda: _journal(settings))
    _settled(amqp, settings)
    message_id = aar.findtext("messageIdentification")
    assert [row[:4] for row in rows] == [
        ("customs-rs", "ncts-p5-cd001c", "amqp", f"doc:ncts:{message_id}")]
    assert _count(amqp, settings, "link.to.rs") == 0
    assert _count(amqp, settings, "gateway.parking") == 0


def test_customs_intake_redelivered_or_resigned_message_is_journaled_once(
        amqp: Any, settings: Settings, rs_key: SigningKey) -> None:
    """The link delivers at least once: the same bytes twice, and the same message signed
    again, are one journaled message; every copy is acknowledged, none parked."""
    aar = _aar_for_mk()
    body = transit.signed(aar, rs_key)
    for copy in (body, body, transit.signed(aar, rs_key)):
        _publish(amqp, settings, copy)

    wait_for(lambda: _journal(settings))
    _settled(amqp, settings)
    assert len(_journal(settings)) == 1
    assert _count(amqp, settings, "gateway.parking") == 0
    assert _count(amqp, settings, "link.to.rs") == 0


# --- refused -------------------------------------------------------------------------------


def test_customs_intake_administration_not_in_the_trust_store_is_parked_unanswered(
        amqp: Any, settings: Settings, tmp_path: Path) -> None:
    """A key nobody registered: parked with GW-SIGNATURE-UNKNOWN-KEY and the original bytes;
    nobody is answered (a signature nobody can verify names no administration)."""
    key_pem, cert_pem = generate_key_pair("impostor.test", "Impostor")
    (tmp_path / "x.key").write_bytes(key_pem)
    (tmp_path / "x.crt").write_bytes(cert_pem)
    body = transit.signed(_aar_for_mk(), SigningKey.load(tmp_path / "x.key", tmp_path / "x.crt"))
    _publish(amqp, settings, body, link_from="XX")

    headers, parked = _parked(amqp, settings)
    assert parked == body
    assert headers["x-gateway-error-code"] == "GW-SIGNATURE-UNKNOWN-KEY"
    assert headers["x-original-queue"] == settings.amqp_prefix + "gateway.customs-incoming"
    assert headers["x-gateway-answer"].startswith("not answered")
    _settled(amqp, settings)
    assert _journal(settings) == [] and _count(amqp, settings, "link.to.rs") == 0


def test_customs_intake_message_signed_by_a_token_partner_is_parked(
        amqp: Any, settings: Settings) -> None:
    """Signed with the phytosanitary agency's key (trusted, but a token partner): not an
    administration, GW-AUTH-UNAUTHENTICATED, parked, nothing journaled."""
    body = transit.signed(_aar_for_mk(), load_signing_key(settings, "agency-phyto"))
    _publish(amqp, settings, body)

    headers, _ = _parked(amqp, settings)
    assert headers["x-gateway-error-code"] == "GW-AUTH-UNAUTHENTICATED"
    assert _journal(settings) == []


def test_customs_intake_message_claiming_another_sender_is_parked(
        amqp: Any, settings: Settings, rs_key: SigningKey) -> None:
    """Serbia's key on a message that says it is from NTA.AL: GW-AUTH-SENDER, parked."""
    _publish(amqp, settings, transit.signed(_aar_for_mk(sender="NTA.AL"), rs_key))

    headers, _ = _parked(amqp, settings)
    assert headers["x-gateway-error-code"] == "GW-AUTH-SENDER"
    assert _journal(settings) == []


def test_customs_intake_forbidden_message_type_is_parked_unanswered(
        amqp: Any, settings: Settings, rs_key: SigningKey) -> None:
    """An administration may not lodge a trader's CC015C: GW-AUTH-FORBIDDEN, parked; P5 has
    no NACK for a permission, so nothing goes back."""
    _publish(amqp, settings, transit.signed(transit.message("cc015c_mk_rs"), rs_key))

    headers, _ = _parked(amqp, settings)
    assert headers["x-gateway-error-code"] == "GW-AUTH-FORBIDDEN"
    assert headers["x-gateway-answer"].startswith("not answered")
    _settled(amqp, settings)
    assert _count(amqp, settings, "link.to.rs") == 0


def test_customs_intake_schema_error_is_answered_with_a_cd917c_over_the_link(
        amqp: Any, settings: Settings, rs_key: SigningKey) -> None:
    """A CD001C missing a required element: a CD917C, signed by MK, goes to RS's queue
    (movement.cd917c.rs) correlated to the refused message; the original is parked."""
    aar = _aar_for_mk()
    aar.remove(aar.find("CustomsOfficeOfDeparture"))
    body = transit.signed(aar, rs_key)
    _publish(amqp, settings, body)

    headers, parked = _parked(amqp, settings)
    assert parked == body and headers["x-gateway-error-code"].startswith("GW-XSD")
    assert headers["x-gateway-answer"] == "CD917C to RS"
    properties, answer = wait_for(lambda: _get(amqp, settings, "link.to.rs"))
    nack = verify_enveloped(etree.fromstring(answer), _gateway_trust(settings),
                            owner="gateway").element
    assert etree.QName(nack).localname == "CD917C" and properties.type == "CD917C"
    assert nack.findtext("correlationIdentifier") == aar.findtext("messageIdentification")
    assert (nack.findtext("messageSender"), nack.findtext("messageRecipient")) == (
        "NTA.MK", "NTA.RS")
    assert nack.find("XMLError") is not None
    assert _journal(settings) == []


def test_customs_intake_unknown_mrn_is_answered_with_a_cd906c_code_90(
        amqp: Any, settings: Settings, rs_key: SigningKey) -> None:
    """A CD006C (arrival advice) for an MRN MK never released: CD906C, error code 90, the MRN
    as errorPointer, back to RS."""
    mrn = transit.new_mrn("MK")
    advice = transit.message("cd006c", sender="NTA.RS", recipient="NTA.MK", mrn=mrn)
    _publish(amqp, settings, transit.signed(advice, rs_key))

    headers, _ = _parked(amqp, settings)
    assert headers["x-gateway-error-code"] == "GW-NCTS-UNKNOWN-MRN"
    _, answer = wait_for(lambda: _get(amqp, settings, "link.to.rs"))
    nack = verify_enveloped(etree.fromstring(answer), _gateway_trust(settings),
                            owner="gateway").element
    assert etree.QName(nack).localname == "CD906C"
    assert nack.findtext("FunctionalError/errorCode") == "90"
    assert nack.findtext("FunctionalError/errorPointer") == mrn


def test_customs_intake_never_answers_a_nack_with_a_nack(
        amqp: Any, settings: Settings, rs_key: SigningKey) -> None:
    """A CD906C from RS that breaks the schema is parked; nothing at all goes back."""
    nack = transit.message("cd906c", sender="NTA.RS", recipient="NTA.MK")
    nack.remove(nack.find("FunctionalError"))
    _publish(amqp, settings, transit.signed(nack, rs_key))

    headers, _ = _parked(amqp, settings)
    assert headers["x-gateway-error-code"].startswith("GW-XSD")
    assert "never a NACK to a NACK" in headers["x-gateway-answer"]
    _settled(amqp, settings)
    assert _count(amqp, settings, "link.to.rs") == 0


def test_customs_intake_message_changed_after_signing_is_parked(
        amqp: Any, settings: Settings, rs_key: SigningKey) -> None:
    """One office changed in transit: GW-SIGNATURE-DIGEST, parked, nothing journaled."""
    body = transit.signed(_aar_for_mk(), rs_key).replace(b"MK001005", b"MK001012")
    _publish(amqp, settings, body)

    headers, _ = _parked(amqp, settings)
    assert headers["x-gateway-error-code"] == "GW-SIGNATURE-DIGEST"
    assert _journal(settings) == []
