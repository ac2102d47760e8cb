"""The sandbox's broker callback endpoint: only the gateway's signed pushes, listed to their owner.

The stand-in (``adapters/standins/broker_callbacks.py``) runs alone here, served by a real
uvicorn, with the session's keys and demo tokens: pushes are built and signed the way the
gateway signs notifications — or forged, unsigned, tampered with — and the listing is read
with no token, a wrong one, another partner's and the right one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from lxml import etree

from adapters.bootstrap import load_signing_key
from adapters.local_server import free_port, serve_in_thread, wait_until_ready
from adapters.standins import broker_callbacks
from gateway.documents.receipts import GW_NS
from gateway.partners import PartnerRegistry
from gateway.settings import Settings
from gateway.signing.xmldsig import XmlSigner
from gateway.xml.safe_parser import XmlLimits

pytestmark = pytest.mark.integration

BROKER = "broker-alpha"
XML = {"Content-Type": "application/xml; charset=utf-8"}


@dataclass
class Receiver:
    url: str
    gateway: XmlSigner
    clearance: XmlSigner

    def push(self, document: bytes, partner_id: str = BROKER) -> httpx.Response:
        return httpx.post(f"{self.url}/sandbox/callbacks/{partner_id}", content=document,
                          headers=XML, timeout=10)

    def listing(self, token: str | None, partner_id: str = BROKER) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.get(f"{self.url}/sandbox/callbacks/{partner_id}", headers=headers,
                         timeout=10)


@pytest.fixture
def receiver(settings: Settings) -> Iterator[Receiver]:
    """The callback stand-in on a free port, trusting the session's gateway certificate."""
    from fastapi import FastAPI

    partners = PartnerRegistry.load(settings.config_dir / "partners.toml",
                                    settings.credentials_path)
    gateway_key = load_signing_key(settings, "gateway")
    app = FastAPI()
    app.include_router(broker_callbacks.router(partners, gateway_key.certificate,
                                               XmlLimits(1_000_000, 48, 10_000)))
    port = free_port()
    server, thread = serve_in_thread(app, port, name="callbacks")
    url = f"http://127.0.0.1:{port}"
    assert wait_until_ready(url, path="/openapi.json"), "callback stand-in did not start"
    yield Receiver(url, XmlSigner(gateway_key),
                   XmlSigner(load_signing_key(settings, "clearance")))
    server.should_exit = True
    thread.join(timeout=10)


def notification(partner_id: str = BROKER, kind: str = "ACC") -> etree._Element:
    """An unsigned gw:Notification shaped like the gateway's."""
    notification_id = uuid.uuid4().hex
    root = etree.Element(f"{{{GW_NS}}}Notification", nsmap={"gw": GW_NS},
                         Id=f"NTF-{notification_id}")
    for tag, text in (("NotificationID", notification_id),
                      ("ConversationID", uuid.uuid4().hex), ("Kind", kind),
                      ("Partner", partner_id)):
        etree.SubElement(root, f"{{{GW_NS}}}{tag}").text = text
    return root


def listed_ids(receiver: Receiver, token: str) -> list[str]:
    response = receiver.listing(token)
    assert response.status_code == 200, response.text
    return [p["notification_id"] for p in response.json()]


def test_callback_push_signed_by_gateway_is_listed_once(
        receiver: Receiver, tokens: dict[str, str]) -> None:
    """A gateway-signed push is taken (204) and listed from its signed content, once."""
    root = notification(kind="CTL")
    document = receiver.gateway.sign_to_bytes(root)
    assert receiver.push(document).status_code == 204
    assert receiver.push(document).status_code == 204          # a retry of the same push
    listed = receiver.listing(tokens[BROKER]).json()
    assert len(listed) == 1
    assert listed[0]["notification_id"] == root.findtext(f"{{{GW_NS}}}NotificationID")
    assert listed[0]["conversation_id"] == root.findtext(f"{{{GW_NS}}}ConversationID")
    assert listed[0]["kind"] == "CTL"
    assert listed[0]["document"].encode() == document


def test_callback_listing_needs_that_partners_token(
        receiver: Receiver, tokens: dict[str, str]) -> None:
    """No token or a wrong one is 401, another partner's is 403, the partner's own lists."""
    assert receiver.push(receiver.gateway.sign_to_bytes(notification())).status_code == 204
    missing = receiver.listing(None)
    wrong = receiver.listing("gwt_not-a-token")
    other = receiver.listing(tokens["broker-legacy"])
    operator = receiver.listing(tokens["operator-demo"])
    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert missing.json()["code"] == wrong.json()["code"] == "GW-AUTH-UNAUTHENTICATED"
    assert (other.status_code, operator.status_code) == (403, 403)
    assert other.json()["code"] == "GW-AUTH-FORBIDDEN"
    assert "Notification" not in missing.text + wrong.text + other.text + operator.text
    assert len(listed_ids(receiver, tokens[BROKER])) == 1


def test_callback_push_unsigned_is_refused(receiver: Receiver, tokens: dict[str, str]) -> None:
    """A notification without a signature is refused (403) and not listed."""
    response = receiver.push(etree.tostring(notification()))
    assert response.status_code == 403
    assert response.json()["code"].startswith("GW-SIGNATURE")
    assert listed_ids(receiver, tokens[BROKER]) == []


def test_callback_push_signed_by_another_key_is_refused(
        receiver: Receiver, tokens: dict[str, str]) -> None:
    """A well-formed signature by a key other than the gateway's (forgery) is refused."""
    response = receiver.push(receiver.clearance.sign_to_bytes(notification()))
    assert response.status_code == 403
    assert response.json()["code"].startswith("GW-SIGNATURE")
    assert listed_ids(receiver, tokens[BROKER]) == []


def test_callback_push_changed_after_signing_is_refused(
        receiver: Receiver, tokens: dict[str, str]) -> None:
    """A gateway-signed push whose content was changed on the way is refused."""
    document = receiver.gateway.sign_to_bytes(notification(kind="REJ"))
    response = receiver.push(document.replace(b">REJ<", b">RES<"))
    assert response.status_code == 403
    assert response.json()["code"].startswith("GW-SIGNATURE")
    assert listed_ids(receiver, tokens[BROKER]) == []


def test_callback_push_for_another_partner_is_refused(
        receiver: Receiver, tokens: dict[str, str]) -> None:
    """A genuine notification for broker-legacy replayed to broker-alpha's endpoint is refused."""
    response = receiver.push(receiver.gateway.sign_to_bytes(notification("broker-legacy")))
    assert response.status_code == 403
    assert response.json()["code"] == "GW-AUTH-FORBIDDEN"
    assert listed_ids(receiver, tokens[BROKER]) == []


@pytest.mark.parametrize("body", [b"not xml at all", b"<gw:Receipt xmlns:gw='urn:customs-"
                                  b"gateway:v1' Id='x'/>", b""])
def test_callback_push_that_is_no_notification_is_refused(
        receiver: Receiver, tokens: dict[str, str], body: bytes) -> None:
    """What is not a gw:Notification at all is a 400 and not listed."""
    response = receiver.push(body)
    assert response.status_code == 400
    assert listed_ids(receiver, tokens[BROKER]) == []
