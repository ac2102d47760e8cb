"""One message, whatever the channel: the same document by SOAP and by plain HTTP is one message.

The receipt states two digests: ``SHA256`` of the bytes received (the document, or the SOAP
envelope) and ``DocumentDigest``, the SHA-256 of the business document in exclusive C14N —
the same for the document posted as plain XML and for the same document inside a SOAP Body.
A repeat is recognised by its idempotency key and its document digest, so the original
receipt comes back (``X-Duplicate: true``), not a ``409``.
"""

from __future__ import annotations

import hashlib

import pytest
from conftest import RunningGateway
from http_helpers import NS, XML_HEADERS, fields, journal_snapshot, new_lrn
from lxml import etree
from soap_helpers import SOAP11, SOAP12, envelope, headers_for, post_soap, submit

from samples.asycuda import build_sad
from samples.wco import build_dec

pytestmark = pytest.mark.integration
BROKER = "broker-alpha"


def _digest(document: bytes) -> str:
    canonical = etree.tostring(etree.fromstring(document), method="c14n", exclusive=True)
    return hashlib.sha256(canonical).hexdigest()


def _post_http(running: RunningGateway, token: str, document: bytes,
               key: str | None = None) -> tuple[int, bytes, dict[str, str]]:
    headers = {**XML_HEADERS, **({"Idempotency-Key": key} if key else {})}
    with running.client(token) as client:
        response = client.post("/v1/messages", content=document, headers=headers)
    return response.status_code, response.content, dict(response.headers)


def _post_soap(running: RunningGateway, token: str, document: bytes, version: str,
               message_id: str | None = None) -> tuple[int, bytes, dict[str, str]]:
    header = b""
    if message_id:
        header = (b'<wsa:MessageID xmlns:wsa="http://www.w3.org/2005/08/addressing">'
                  + message_id.encode() + b"</wsa:MessageID>")
    namespace = SOAP11 if version == "soap11" else SOAP12
    # the envelope declares namespaces of its own and re-indents nothing: the document inside
    # is the same document, not the same bytes
    wire = envelope(namespace, submit(document), header=header, prefix="env")
    response = post_soap(running, wire, headers_for(version, token))
    assert response.status_code == 200, response.text[:1500]
    receipt = etree.fromstring(response.content).find(".//gw:Receipt", NS)
    assert receipt is not None
    return response.status_code, etree.tostring(receipt), dict(response.headers)


def _stored(running: RunningGateway) -> tuple[int, int, int]:
    """Conversations, messages and outbox rows (in any state: the relay may be sending)."""
    conversations, messages, outbox = journal_snapshot(running)
    return conversations, messages, sum(outbox.values())


def _receipt_fields(document: bytes) -> dict[str, str]:
    root = etree.fromstring(document)
    receipt = root if root.tag.endswith("}Receipt") else root.find(".//gw:Receipt", NS)
    return fields(receipt)


@pytest.mark.parametrize("version", ["soap11", "soap12"])
def test_same_declaration_by_soap_then_http_is_one_message(
        gateway_server: RunningGateway, tokens: dict[str, str], version: str) -> None:
    """A WCO declaration by SOAP, then by HTTP with another Idempotency-Key: the original."""
    document = build_dec(2, lrn=new_lrn())
    _, soap_receipt, soap_headers = _post_soap(gateway_server, tokens[BROKER], document, version,
                                               message_id="urn:uuid:soap-first")
    before = _stored(gateway_server)

    status, http_receipt, http_headers = _post_http(gateway_server, tokens[BROKER], document,
                                                    key="a-different-key")

    assert status == 202
    assert http_headers["x-duplicate"] == "true"
    assert http_headers["x-conversation-id"] == soap_headers["x-conversation-id"]
    first, again = _receipt_fields(soap_receipt), _receipt_fields(http_receipt)
    assert again["ReceiptID"] == first["ReceiptID"]
    assert again["DocumentDigest"] == first["DocumentDigest"] == _digest(document)
    assert _stored(gateway_server) == before         # nothing new stored or queued


def test_same_declaration_by_http_then_soap_is_one_message(
        gateway_server: RunningGateway, tokens: dict[str, str]) -> None:
    """The reverse order: HTTP first, then the same document in a SOAP 1.1 envelope."""
    document = build_dec(1, lrn=new_lrn())
    status, http_receipt, http_headers = _post_http(gateway_server, tokens[BROKER], document)
    assert status == 202
    before = _stored(gateway_server)

    _, soap_receipt, soap_headers = _post_soap(gateway_server, tokens[BROKER], document, "soap11")

    assert soap_headers["x-duplicate"] == "true"
    assert soap_headers["x-conversation-id"] == http_headers["x-conversation-id"]
    assert _receipt_fields(soap_receipt)["ReceiptID"] == _receipt_fields(http_receipt)["ReceiptID"]
    assert _stored(gateway_server) == before


def test_receipt_states_bytes_hash_and_document_digest(
        gateway_server: RunningGateway, tokens: dict[str, str]) -> None:
    """SHA256 is of the bytes received; DocumentDigest of the document's exclusive C14N."""
    document = build_dec(1, lrn=new_lrn())
    reencoded = document.replace(b"\n", b"\r\n")            # other bytes, same document

    _, receipt, _ = _post_http(gateway_server, tokens[BROKER], reencoded)

    stated = _receipt_fields(receipt)
    assert stated["SHA256"] == hashlib.sha256(reencoded).hexdigest()
    assert stated["DocumentDigest"] == _digest(document) == _digest(reencoded)


def test_reference_less_asycuda_by_soap_then_http_is_one_message(
        gateway_server: RunningGateway, tokens: dict[str, str]) -> None:
    """Without a reference or a key, the document digest keys it: SOAP then HTTP is one."""
    document = build_sad(1, reference=None)
    _, soap_receipt, soap_headers = _post_soap(gateway_server, tokens[BROKER], document, "soap12")
    key = _receipt_fields(soap_receipt)["MessageID"]
    assert key == f"digest:{_digest(document)}"

    status, http_receipt, http_headers = _post_http(gateway_server, tokens[BROKER], document)

    assert status == 202 and http_headers["x-duplicate"] == "true"
    assert _receipt_fields(http_receipt)["ReceiptID"] == _receipt_fields(soap_receipt)["ReceiptID"]


def test_same_reference_different_document_is_a_conflict_on_either_channel(
        gateway_server: RunningGateway, tokens: dict[str, str]) -> None:
    """A reused LRN with other content is 409 whichever channel brought the first one."""
    lrn = new_lrn()
    _post_soap(gateway_server, tokens[BROKER], build_dec(1, lrn=lrn), "soap12")

    status, body, _ = _post_http(gateway_server, tokens[BROKER], build_dec(2, lrn=lrn))

    assert status == 409
    assert etree.fromstring(body).findtext("gw:Code", namespaces=NS) == "GW-DUPLICATE-CONFLICT"
