"""Licences and certificates from permit agencies over SOAP 1.1 and 1.2 (flow F3).

The agency wraps its signed document in ``gw:SubmitLicence``; the gateway verifies the
document's own signature inside the envelope (exclusive C14N leaves the envelope out) and
answers ``gw:SubmitLicenceResponse`` with its signed receipt, or a fault carrying the signed
rejection — ``401``-class for an unsigned licence, kept as it is in both SOAP versions.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from conftest import RunningGateway, start_gateway
from lxml import etree

from adapters.bootstrap import load_signing_key
from gateway.documents.receipts import GW_NS
from gateway.settings import Settings
from gateway.signing.xmldsig import XmlSigner
from samples.licence import build_licence
from samples.sps import build_sps_certificate

SOAP = {"soap11": "http://schemas.xmlsoap.org/soap/envelope/",
        "soap12": "http://www.w3.org/2003/05/soap-envelope"}
ACTION = "urn:customs-gateway:v1:SubmitLicence"


@pytest.fixture
def soap_server(settings: Settings, rabbitmq: str) -> Iterator[RunningGateway]:
    running = start_gateway(settings)
    yield running
    running.stop()


def call(running: RunningGateway, version: str, token: str, document: bytes) -> httpx.Response:
    inner = document.split(b"?>", 1)[1] if document.startswith(b"<?xml") else document
    body = (f'<s:Envelope xmlns:s="{SOAP[version]}"><s:Body><gw:SubmitLicence xmlns:gw="{GW_NS}">'
            ).encode() + inner + b"</gw:SubmitLicence></s:Body></s:Envelope>"
    if version == "soap11":
        headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{ACTION}"'}
    else:
        headers = {"Content-Type": f'application/soap+xml; charset=utf-8; action="{ACTION}"'}
    headers["Authorization"] = f"Bearer {token}"
    with httpx.Client(base_url=running.base_url, timeout=30) as client:
        return client.post("/soap", content=body, headers=headers)


@pytest.mark.parametrize("version", ["soap11", "soap12"])
def test_signed_licence_over_soap_gets_a_receipt_and_is_kept(
        soap_server: RunningGateway, tokens: dict[str, str], version: str) -> None:
    """A signed licence in SubmitLicence: 200, SubmitLicenceResponse with the receipt; kept."""
    running = soap_server
    number = f"MK-IL-SOAP-{uuid.uuid4().hex[:6].upper()}"
    document = build_licence(number=number,
                             signer=XmlSigner(load_signing_key(running.settings, "agency-trade")))
    response = call(running, version, tokens["agency-trade"], document)
    assert response.status_code == 200, response.text
    answer = etree.fromstring(response.content)
    receipt = answer.find(f".//{{{GW_NS}}}SubmitLicenceResponse/{{{GW_NS}}}Receipt")
    assert receipt is not None
    assert receipt.findtext(f"{{{GW_NS}}}MessageType") == "licence-1"
    kept = running.gateway.journal.flow("licences").licence("agency-trade", number)
    assert kept is not None and kept.version == 1


@pytest.mark.parametrize("version", ["soap11", "soap12"])
def test_unsigned_certificate_over_soap_is_a_fault_with_the_signed_rejection(
        soap_server: RunningGateway, tokens: dict[str, str], version: str) -> None:
    """An unsigned certificate: a fault, HTTP 401 in both versions, GW-SIGNATURE-REQUIRED."""
    running = soap_server
    response = call(running, version, tokens["agency-phyto"],
                    build_sps_certificate(number=f"RS-PC-{uuid.uuid4().hex[:6]}"))
    assert response.status_code == 401, response.text
    assert b"GW-SIGNATURE-REQUIRED" in response.content
    assert b"Rejection" in response.content and b"Fault" in response.content
