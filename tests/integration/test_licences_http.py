"""Licences and certificates from permit agencies over real HTTP, RabbitMQ and SQLite (flow F3).

The agencies of ``config/partners.toml`` post signed documents with their own tokens and keys
(``gateway keys init`` made them): a phytosanitary certificate with a 500 KB attachment and a
steel import licence through its amendment and revocation are answered ``202``, kept in the
licences store and published, signed, to ``clearance.licences``; versions out of order are
recorded without overwriting; a certificate type the agency may not issue is ``403``; unsigned
``401``, wrongly signed ``400``; an unknown unit is refused at its line; a WCO declaration whose
apples quote no phytosanitary certificate gets a located business rejection.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pika
import pytest
from conftest import RunningGateway, start_gateway, xmlsec1_verify
from lxml import etree

from adapters.bootstrap import load_signing_key
from gateway.documents.receipts import GW_NS
from gateway.settings import Settings
from gateway.signing.detached import verify_body
from gateway.signing.keys import TrustStore
from gateway.signing.xmldsig import XmlSigner
from samples.licence import build_licence
from samples.sps import attached, build_sps_certificate
from samples.wco import build_dec

GW = {"gw": GW_NS}
XML = {"Content-Type": "application/xml"}
LICENCES_QUEUE = "clearance.licences"


@pytest.fixture
def licence_server(settings: Settings, rabbitmq: str) -> Iterator[RunningGateway]:
    running = start_gateway(settings)
    yield running
    running.stop()


def signer(running: RunningGateway, agency: str) -> XmlSigner:
    return XmlSigner(load_signing_key(running.settings, agency))


def post(running: RunningGateway, token: str, body: bytes) -> httpx.Response:
    with running.client(token) as client:
        return client.post("/v1/messages", content=body, headers=XML)


def rejection(response: httpx.Response) -> dict[str, Any]:
    root = etree.fromstring(response.content)
    problems = [{etree.QName(c).localname: c.text for c in p}
                for p in root.iterfind(".//gw:Problem", GW)]
    return {"code": root.findtext("gw:Code", namespaces=GW), "problems": problems}


def queued(settings: Settings, count: int, timeout: float = 20.0
           ) -> list[tuple[str, Any, bytes]]:
    """Take ``count`` messages off clearance.licences (waiting for them): routing key,
    properties, body."""
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    got: list[tuple[str, Any, bytes]] = []
    try:
        channel = connection.channel()
        deadline = time.monotonic() + timeout
        while len(got) < count and time.monotonic() < deadline:
            method, properties, body = channel.basic_get(settings.amqp_prefix + LICENCES_QUEUE,
                                                         auto_ack=True)
            if method is None:
                time.sleep(0.05)
            else:
                got.append((method.routing_key, properties, body))
    finally:
        connection.close()
    assert len(got) == count, f"{len(got)} message(s) on {LICENCES_QUEUE}, expected {count}"
    return got


def number(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8].upper()}"


def test_signed_certificate_with_a_500_kb_attachment_is_accepted_kept_and_published(
        licence_server: RunningGateway, tokens: dict[str, str], tmp_path: Path) -> None:
    """agency-phyto's signed certificate (~680 KB): a signed receipt, the licence kept, one
    signed canonical licence on clearance.licences with the attachment summarised; the same
    certificate again is a repeat."""
    running = licence_server
    cert_number = number("RS-PC")
    body = build_sps_certificate(number=cert_number, attachment_bytes=500_000, seed=3,
                                 signer=signer(running, "agency-phyto"))
    assert len(body) > 650_000
    response = post(running, tokens["agency-phyto"], body)
    assert response.status_code == 202, response.text
    rc, err = xmlsec1_verify(response.content, running.settings.keys_dir / "gateway.crt",
                             f"{GW_NS}:Receipt", tmp_path)
    assert rc == 0, err
    receipt = etree.fromstring(response.content)
    assert receipt.findtext("gw:MessageType", namespaces=GW) == "sps-certificate-17"

    kept = running.gateway.journal.flow("licences").licence("agency-phyto", cert_number)
    assert kept is not None and (kept.status, kept.certificate_type_code) == ("issued", "851")
    assert [(line.hs_code, line.unit) for line in kept.lines] == [("080810", "KGM"),
                                                                  ("080830", "KGM")]
    ((routing_key, properties, message),) = queued(running.settings, 1)
    assert routing_key == "licence.phytosanitary.agency-phyto"
    trust = TrustStore()
    trust.add("gateway", running.gateway.bus_key.certificate)
    verify_body(trust, message, properties.headers, owner="gateway")
    assert properties.headers["x-canonical-kind"] == "licence"
    canonical = json.loads(message)
    (attachment,) = canonical["attachments"]
    assert attachment["size"] == 500_000 and len(message) < 4_000
    assert attachment["sha256"] == hashlib.sha256(attached(500_000, seed=3)).hexdigest()

    again = post(running, tokens["agency-phyto"], body)
    assert again.status_code == 202 and again.headers.get("X-Duplicate") == "true"


def test_licence_amendment_and_revocation_update_the_kept_licence(
        licence_server: RunningGateway, tokens: dict[str, str]) -> None:
    """v1 issued (2 lines), v2 amended (1 line of 12 TNE), v3 revoked: each 202, the licence
    kept follows; three canonical licences reach clearance with routing key
    licence.import.agency-trade."""
    running = licence_server
    key, token, lic = signer(running, "agency-trade"), tokens["agency-trade"], number("MK-IL")
    amended = [("72083900", "Coils", "12.000", "TNE")]
    for body in (build_licence(number=lic, signer=key),
                 build_licence(number=lic, version=2, status="amended", lines=amended,
                               signer=key),
                 build_licence(number=lic, version=3, status="revoked", lines=(), signer=key)):
        response = post(running, token, body)
        assert response.status_code == 202, response.text
    reader = running.gateway.journal.flow("licences")
    kept = reader.licence("agency-trade", lic)
    assert (kept.status, kept.version) == ("revoked", 3)
    assert [(line.line, str(line.quantity)) for line in kept.lines] == [(1, "12.000")]
    assert [(v.version, v.outcome) for v in reader.versions("agency-trade", lic)] == [
        (1, "created"), (2, "applied"), (3, "applied")]
    messages = queued(running.settings, 3)
    assert {key for key, _, _ in messages} == {"licence.import.agency-trade"}
    assert [json.loads(b)["version"] for _, _, b in messages] == [1, 2, 3]


def test_licence_versions_out_of_order_keep_the_newest(
        licence_server: RunningGateway, tokens: dict[str, str]) -> None:
    """v2 arrives before v1: both 202; the licence kept is v2; v1 is recorded as stale and its
    conversation says so."""
    running = licence_server
    key, token, lic = signer(running, "agency-trade"), tokens["agency-trade"], number("MK-IL")
    newer = [("72083900", "Coils", "8.000", "TNE")]
    assert post(running, token, build_licence(number=lic, version=2, status="amended",
                                              lines=newer, signer=key)).status_code == 202
    late = post(running, token, build_licence(number=lic, signer=key))
    assert late.status_code == 202, late.text
    reader = running.gateway.journal.flow("licences")
    kept = reader.licence("agency-trade", lic)
    assert (kept.version, [str(line.quantity) for line in kept.lines]) == (2, ["8.000"])
    assert {(v.version, v.outcome) for v in reader.versions("agency-trade", lic)} == {
        (2, "created"), (1, "stale")}
    with running.client(token) as client:
        history = client.get(f"/v1/conversations/{late.headers['X-Conversation-ID']}").json()
    assert "licence.stale" in json.dumps(history)


def test_certificate_from_an_agency_not_authorised_for_its_type_is_forbidden(
        licence_server: RunningGateway, tokens: dict[str, str]) -> None:
    """agency-phyto's signed CHED (636): 403 GW-AUTH-DOCUMENT-TYPE at the TypeCode; the
    trade ministry may not send SPS certificates at all (GW-AUTH-FORBIDDEN)."""
    running = licence_server
    ched = build_sps_certificate(number=number("RS-CH"), type_code="636",
                                 signer=signer(running, "agency-phyto"))
    response = post(running, tokens["agency-phyto"], ched)
    assert response.status_code == 403
    found = rejection(response)
    assert found["code"] == "GW-AUTH-DOCUMENT-TYPE"
    assert found["problems"][0]["Pointer"] == "/SPSCertificate/SPSExchangedDocument/TypeCode"
    assert found["problems"][0]["Value"] == "636"
    other = post(running, tokens["agency-trade"], build_sps_certificate(
        number=number("RS-PC"), signer=signer(running, "agency-trade")))
    assert (other.status_code, rejection(other)["code"]) == (403, "GW-AUTH-FORBIDDEN")
    assert running.gateway.journal.flow("licences").find("RS-CH") == []


def test_unsigned_and_wrongly_signed_licences_are_refused(
        licence_server: RunningGateway, tokens: dict[str, str]) -> None:
    """Unsigned: 401 GW-SIGNATURE-REQUIRED; signed with another agency's key: 400
    GW-SIGNATURE-WRONG-SIGNER; changed after signing: 400 GW-SIGNATURE-DIGEST. Nothing kept."""
    running = licence_server
    token, lic = tokens["agency-trade"], number("MK-IL")
    unsigned = post(running, token, build_licence(number=lic))
    assert (unsigned.status_code, rejection(unsigned)["code"]) == (401, "GW-SIGNATURE-REQUIRED")
    foreign = post(running, token, build_licence(number=lic, signer=signer(running,
                                                                           "agency-phyto")))
    assert (foreign.status_code, rejection(foreign)["code"]) == (400, "GW-SIGNATURE-WRONG-SIGNER")
    tampered = build_licence(number=lic, signer=signer(running, "agency-trade")).replace(
        b">6.000<", b">60.000<")
    changed = post(running, token, tampered)
    assert (changed.status_code, rejection(changed)["code"]) == (400, "GW-SIGNATURE-DIGEST")
    assert running.gateway.journal.flow("licences").licence("agency-trade", lic) is None


def test_licence_goods_line_in_an_unknown_unit_is_refused_at_its_line(
        licence_server: RunningGateway, tokens: dict[str, str]) -> None:
    """A signed licence whose second line is in 'XYZ': 400 GW-MAP-INVALID, the problem at
    /Licence/GoodsLine[2]/Quantity/@unitCode with its line and the value."""
    running = licence_server
    body = build_licence(number=number("MK-IL"), lines=[
        ("72083900", "Coils", "6", "TNE"), ("72142000", "Rebar", "4", "XYZ")],
        signer=signer(running, "agency-trade"))
    response = post(running, tokens["agency-trade"], body)
    assert response.status_code == 400
    found = rejection(response)
    assert found["code"] == "GW-MAP-INVALID"
    (problem,) = found["problems"]
    assert (problem["Code"], problem["Pointer"], problem["Value"]) == (
        "GW-MAP-UNIT", "/Licence/GoodsLine[2]/Quantity/@unitCode", "XYZ")
    assert problem["Line"] == "2"


def test_declaration_of_goods_needing_a_licence_but_quoting_none_is_rejected_located(
        licence_server: RunningGateway, tokens: dict[str, str]) -> None:
    """Apples (0808) declared by broker-alpha without an N851: 400 GW-RULE-INVALID with
    GW-RULE-LICENCE-MISSING at 42A/67A/68A[2]/02A; with the certificate quoted: 202."""
    running = licence_server
    token = tokens["broker-alpha"]
    lrn = f"LRN-{uuid.uuid4().hex[:12].upper()}"
    body = build_dec(2, lrn=lrn, hs_codes=["84713000", "08081080"])
    response = post(running, token, body)
    assert response.status_code == 400, response.text
    found = rejection(response)
    assert found["code"] == "GW-RULE-INVALID"
    (problem,) = found["problems"]
    assert (problem["Code"], problem["Pointer"], problem["Value"]) == (
        "GW-RULE-LICENCE-MISSING", "42A/67A/68A[2]/02A", "08081080")
    assert "N851" in (problem["Message"] or "")

    certificate = (b"<AdditionalDocument><CategoryCode>N</CategoryCode>"
                   b"<ID>RS-PC-2026-004711</ID><TypeCode>851</TypeCode></AdditionalDocument>")
    items = body.split(b"<GovernmentAgencyGoodsItem>")
    assert len(items) == 3
    second = items[2].replace(b"<AdditionalDocument>", certificate + b"<AdditionalDocument>", 1)
    quoted = b"<GovernmentAgencyGoodsItem>".join([items[0], items[1], second])
    accepted = post(running, token, quoted.replace(lrn.encode(), (lrn + "B").encode()))
    assert accepted.status_code == 202, accepted.text
