"""Helpers shared by the integration tests of the intake (``POST /v1/messages`` and ``/soap``).

They read answers and state the way a partner or an operator would: the gateway's signed
documents by local name, the journal straight from its SQLite file, the clearance queue
through RabbitMQ without consuming it.
"""

from __future__ import annotations

import sqlite3
import uuid
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pika
from conftest import FIXTURES, RunningGateway, xmlsec1_verify
from lxml import etree

from adapters.store.sqlite_journal import sqlite_path
from gateway.bus_topology import Topology
from gateway.settings import Settings

GW_NS = "urn:customs-gateway:v1"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
NS = {"gw": GW_NS, "ds": DS_NS}
RECEIPT_NODE = "urn:customs-gateway:v1:Receipt"
REJECTION_NODE = "urn:customs-gateway:v1:Rejection"
NOTIFICATION_NODE = "urn:customs-gateway:v1:Notification"
XML_HEADERS = {"Content-Type": "application/xml"}


def new_lrn() -> str:
    return f"LRN-{uuid.uuid4().hex[:16].upper()}"


def gateway_cert(running: RunningGateway) -> Path:
    return running.settings.keys_dir / "gateway.crt"


def parse(document: bytes) -> etree._Element:
    return etree.fromstring(document)


def fields(root: etree._Element) -> dict[str, str]:
    """The leaf children of a gw:Receipt / gw:Rejection / gw:Problem by local name."""
    return {etree.QName(child).localname: (child.text or "") for child in root
            if isinstance(child.tag, str) and etree.QName(child).namespace == GW_NS
            and len(child) == 0}


def invalid_declaration() -> bytes:
    """The WCO declaration with seven schema errors, under a fresh LRN."""
    return (FIXTURES / "wco" / "dec_invalid_many_errors.xml").read_bytes().replace(
        b"LRN-BAD-0001", new_lrn().encode())


def journal_snapshot(running: RunningGateway) -> tuple[int, int, dict[str, int]]:
    """Conversations, journaled messages and outbox rows by state, read independently."""
    path = sqlite_path(running.settings.journal_url)
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        conversations = db.execute("SELECT COUNT(*) FROM conversations").fetchone()[0]
        messages = db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    return conversations, messages, running.gateway.journal.outbox_counts()


def clearance_queue_messages(settings: Settings) -> list[tuple[dict[str, Any], bytes]]:
    """Headers and bodies of the messages waiting in the clearance queue (left in place)."""
    topology = Topology.load(settings.config_dir / "topology.toml")
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    found: list[tuple[dict[str, Any], bytes]] = []
    try:
        channel = connection.channel()
        queue = settings.amqp_prefix + topology.clearance_queue
        while True:
            method, properties, body = channel.basic_get(queue, auto_ack=False)
            if method is None:
                break
            found.append((dict(properties.headers or {}), body))
    finally:
        connection.close()          # unacknowledged messages go back to the queue
    return found


def assert_signed_rejection(response: httpx.Response, running: RunningGateway,
                            tmp_path: Path, status: int, code: str) -> etree._Element:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/xml")
    root = parse(response.content)
    assert root.tag == f"{{{GW_NS}}}Rejection"
    assert root.find("ds:Signature", NS) is not None
    assert root.findtext("gw:Status", namespaces=NS) == "rejected"
    assert root.findtext("gw:Code", namespaces=NS) == code
    rc, err = xmlsec1_verify(response.content, gateway_cert(running), REJECTION_NODE, tmp_path)
    assert rc == 0, err
    assert "X-Conversation-ID" not in response.headers
    return root
