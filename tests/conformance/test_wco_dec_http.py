"""Real WCO DM 3.6 declarations submitted over HTTP, as a broker's software sends them.

Each file of ``wco-dec/`` is POSTed as it is (``broker-alpha``, ``application/xml``) to a real
gateway (uvicorn, the real RabbitMQ): it must get ``202`` and a receipt signed by the gateway
(verified by our verifier, and by ``xmlsec1`` for a few), its canonical JSON must be in the
journal and say what the file says (LRN, function code, goods items, issue date), and it must
reach the clearance queue: published, the same canonical JSON, detached-signed.

The gateways are shared by the module (one start for the whole corpus). A declaration's
idempotency key is its LRN (``FunctionalReferenceID``): two different files with the same LRN
would be a 409 conflict in one journal, so a file whose LRN a gateway has already seen is sent
to another gateway with a journal of its own (no file is edited).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pika
import pytest
from conftest import RunningGateway, delete_prefixed, start_gateway, wait_for, xmlsec1_verify
from corpus import corpus_file, corpus_params
from lxml import etree
from support.journal import canonical_json

from adapters.local_server import rabbitmq_reachable
from gateway.settings import DEFAULT_AMQP_URL, Settings
from gateway.signing.detached import verify_body
from gateway.signing.keys import TrustStore
from gateway.signing.xmldsig import verify_enveloped

pytestmark = [pytest.mark.conformance, pytest.mark.integration]

FAMILY = "wco-dec"
FILES = corpus_params(FAMILY)
# xmlsec1 (an independent verifier) checks the receipts of the first, middle and last file
XMLSEC_IDS = {FILES[0].id, FILES[len(FILES) // 2].id, FILES[-1].id}
GW_NS = "urn:customs-gateway:v1"
NS = {"md": "urn:wco:datamodel:WCO:DocumentMetaData-DMS:2",
      "d": "urn:wco:datamodel:WCO:DEC-DMS:2",
      "ds": "urn:wco:datamodel:WCO:Declaration_DS:DMS:2",
      "gw": GW_NS}
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
XML_HEADERS = {"Content-Type": "application/xml"}


@dataclass
class CorpusGateways:
    """Running gateways, each with its own journal and AMQP prefix, and the LRNs each has seen."""

    session_var: Path
    folder: Path
    amqp_url: str
    started: list[tuple[RunningGateway, set[str]]] = field(default_factory=list)

    def for_reference(self, reference: str) -> RunningGateway:
        """A gateway whose journal has not seen ``reference`` yet (started when needed)."""
        for running, seen in self.started:
            if reference not in seen:
                seen.add(reference)
                return running
        settings = Settings(var_dir=self.session_var,
                            db_url=f"sqlite:///{self.folder / f'journal-{len(self.started)}.db'}",
                            amqp_url=self.amqp_url, amqp_prefix=f"t{uuid.uuid4().hex[:10]}.")
        running = start_gateway(settings)
        self.started.append((running, {reference}))
        return running

    def stop(self) -> None:
        for running, _ in self.started:
            running.stop()
            delete_prefixed(running.settings)


@pytest.fixture(scope="module")
def gateways(session_var: Path,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[CorpusGateways]:
    import os

    amqp_url = os.environ.get("GATEWAY_AMQP_URL", DEFAULT_AMQP_URL)
    if not rabbitmq_reachable(amqp_url):
        pytest.fail(f"RabbitMQ is required at {amqp_url} and is not reachable")
    pool = CorpusGateways(session_var, tmp_path_factory.mktemp("corpus-journals"), amqp_url)
    yield pool
    pool.stop()


@dataclass(frozen=True)
class Stated:
    """What the declaration file itself says, read independently of the gateway."""

    lrn: str
    function_code: str
    version: str | None
    items: int
    issued: str | None


def stated(body: bytes) -> Stated:
    root = etree.fromstring(body, PARSER)

    def text(path: str) -> str | None:
        found = root.xpath(f"string({path})", namespaces=NS).strip()
        return found or None

    lrn = text("d:Declaration/d:FunctionalReferenceID")
    assert lrn, "every corpus declaration states its LRN"
    return Stated(lrn=lrn, function_code=text("d:Declaration/d:FunctionCode") or "",
                  version=text("md:WCODataModelVersionCode"),
                  items=len(root.xpath("d:Declaration/d:GoodsShipment/"
                                       "d:GovernmentAgencyGoodsItem", namespaces=NS)),
                  issued=text("d:Declaration/d:IssueDateTime/ds:DateTimeString"))


def gateway_trust(running: RunningGateway) -> TrustStore:
    trust = TrustStore()
    trust.add_pem_file("gateway", running.settings.keys_dir / "gateway.crt")
    return trust


def receipt_fields(root: etree._Element) -> dict[str, str]:
    return {etree.QName(c).localname: c.text or "" for c in root
            if isinstance(c.tag, str) and etree.QName(c).namespace == GW_NS and len(c) == 0}


def published(running: RunningGateway, conversation_id: str) -> bool:
    conversation = running.gateway.journal.conversation(conversation_id)
    return any(e["event"] == "published" for e in conversation["history"])


def take_from_clearance(settings: Settings, conversation_id: str,
                        timeout: float = 10.0) -> tuple[dict[str, Any], bytes]:
    """Consume the clearance queue until the conversation's message is there."""
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    try:
        channel = connection.channel()
        queue = f"{settings.amqp_prefix}clearance.declarations"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            method, properties, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                time.sleep(0.05)
                continue
            headers = dict(properties.headers or {})
            if headers.get("x-conversation-id") == conversation_id:
                return headers, body
    finally:
        connection.close()
    pytest.fail(f"conversation {conversation_id} never reached {queue}")


@pytest.mark.parametrize("param", FILES)
def test_corpus_declaration_accepted_signed_mapped_and_published(
        gateways: CorpusGateways, tokens: dict[str, str], tmp_path: Path,
        request: pytest.FixtureRequest, param: Path | str) -> None:
    """A real declaration: 202, a verified signed receipt, its canonical JSON, and published."""
    path = corpus_file(param, FAMILY)
    body = path.read_bytes()
    facts = stated(body)
    running = gateways.for_reference(facts.lrn)

    with running.client(tokens["broker-alpha"]) as client:
        response = client.post("/v1/messages", content=body, headers=XML_HEADERS)

    assert response.status_code == 202, response.text[:4000]
    conversation_id = response.headers["X-Conversation-ID"]
    receipt = etree.fromstring(response.content)
    assert verify_enveloped(receipt, gateway_trust(running), owner="gateway")
    if request.node.callspec.id in XMLSEC_IDS:
        rc, err = xmlsec1_verify(response.content, running.settings.keys_dir / "gateway.crt",
                                 f"{GW_NS}:Receipt", tmp_path)
        assert rc == 0, err
    signed = receipt_fields(receipt)
    assert signed["Status"] == "accepted"                       # routed, not parked
    assert (signed["MessageType"], signed["MessageVersion"]) == ("wco-dec-3.6", "3.6")
    assert signed.get("StatedVersion") == facts.version
    assert signed["MessageID"] == f"doc:wco:{facts.lrn}"
    assert signed["ConversationID"] == conversation_id

    stored = canonical_json(running.settings, conversation_id)
    canonical = json.loads(stored)
    assert canonical["source_format"] == "wco-dec-3.6"
    assert canonical["header"]["lrn"] == facts.lrn
    assert canonical["header"]["function_code"] == facts.function_code
    assert len(canonical.get("goods_items") or []) == facts.items
    if facts.issued:
        assert re.sub(r"\D", "", canonical["header"]["issued_at"])[:14] == facts.issued[:14]

    wait_for(lambda: published(running, conversation_id), timeout=10)
    headers, payload = take_from_clearance(running.settings, conversation_id)
    assert payload == stored
    assert headers["x-receipt-id"] == signed["ReceiptID"]
    trust = TrustStore()
    trust.add_pem_file("gateway", running.settings.keys_dir / "gateway.crt")
    verify_body(trust, payload, headers, owner="gateway")


def test_corpus_declaration_stating_an_unlisted_version_gets_a_located_signed_rejection(
        gateways: CorpusGateways, tokens: dict[str, str]) -> None:
    """A real declaration stating WCODataModelVersionCode 9.9: 400, signed, pointer and line."""
    path = corpus_file(FILES[0].values[0], FAMILY)
    tree = etree.parse(str(path), PARSER)
    tree.getroot().find("md:WCODataModelVersionCode", NS).text = "9.9"
    mutated = etree.tostring(tree, xml_declaration=True, encoding="UTF-8")
    version = etree.fromstring(mutated, PARSER).find("md:WCODataModelVersionCode", NS)
    running = gateways.for_reference(f"unlisted-version:{path.name}")

    with running.client(tokens["broker-alpha"]) as client:
        response = client.post("/v1/messages", content=mutated, headers=XML_HEADERS)

    assert response.status_code == 400, response.text
    rejection = etree.fromstring(response.content)
    assert verify_enveloped(rejection, gateway_trust(running), owner="gateway")
    assert rejection.findtext("gw:Code", namespaces=NS) == "GW-MSG-UNSUPPORTED-VERSION"
    (problem,) = rejection.findall("gw:Problems/gw:Problem", NS)
    assert problem.findtext("gw:Pointer", namespaces=NS) == "/MetaData/WCODataModelVersionCode"
    assert problem.findtext("gw:Line", namespaces=NS) == str(version.sourceline)
    assert problem.findtext("gw:Value", namespaces=NS) == "9.9"


def test_corpus_declaration_stating_3_7_is_accepted_as_3_6_and_the_receipt_says_so(
        gateways: CorpusGateways, tokens: dict[str, str]) -> None:
    """Real traffic states 3.7 on valid 3.6 documents: 202, MessageVersion 3.6, Stated 3.7."""
    path = corpus_file(FILES[-1].values[0], FAMILY)
    tree = etree.parse(str(path), PARSER)
    tree.getroot().find("md:WCODataModelVersionCode", NS).text = "3.7"
    body = etree.tostring(tree, xml_declaration=True, encoding="UTF-8")
    running = gateways.for_reference(stated(body).lrn)     # a journal that has not seen it

    with running.client(tokens["broker-alpha"]) as client:
        response = client.post("/v1/messages", content=body, headers=XML_HEADERS)

    assert response.status_code == 202, response.text[:4000]
    receipt = etree.fromstring(response.content)
    assert verify_enveloped(receipt, gateway_trust(running), owner="gateway")
    signed = receipt_fields(receipt)
    assert (signed["MessageVersion"], signed["StatedVersion"]) == ("3.6", "3.7")
    assert signed["Status"] == "accepted"
