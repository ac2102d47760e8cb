"""Flow F4's trader side over SOAP 1.1 and 1.2 (``SubmitTransitMessage``), on a real gateway.

The operation comes from the registry (``soap_operation`` of the CC entries) and is in both
bindings of the served WSDL. A CC015C is answered 200 with ``SubmitTransitMessageResponse``
carrying the signed CC928C; a schema-invalid one with a fault whose detail carries the signed
CC917C (SOAP 1.2 Sender: 400; 1.1 Client: 500); a CC906C gets a fault with our rejection, never
a NACK; the same CC015C over SOAP and then over plain HTTP is one message (one CC928C).
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import RunningGateway
from http_helpers import GW_NS, XML_HEADERS
from lxml import etree
from soap_helpers import (
    NS,
    SOAP11,
    SOAP12,
    envelope,
    fault_rejection,
    headers_for,
    post_soap,
    strip_declaration,
)
from support.ncts_trader import cc015c, fixture, read, schema_problems

from gateway.signing.keys import TrustStore
from gateway.signing.xmldsig import verify_enveloped

pytestmark = pytest.mark.integration
NCTS = "http://ncts.dgtaxud.ec"
OPERATION = "SubmitTransitMessage"
TRADER = "trader-haulier"
VERSIONS = {"soap11": SOAP11, "soap12": SOAP12}


def submit(document: bytes) -> bytes:
    return (f'<gw:{OPERATION} xmlns:gw="{GW_NS}">'.encode() + strip_declaration(document)
            + f"</gw:{OPERATION}>".encode())


def call(running: RunningGateway, token: str, version: str, document: bytes) -> Any:
    return post_soap(running, envelope(VERSIONS[version], submit(document)),
                     headers_for(version, token, OPERATION))


def verified(running: RunningGateway, element: etree._Element) -> bytes:
    """The signed P5 element alone: its signature verifies, it is valid against our schema."""
    trust = TrustStore()
    trust.add("gateway", running.gateway.bus_key.certificate)
    verify_enveloped(element, trust, owner="gateway")
    document = etree.tostring(element)
    assert schema_problems(document) == []
    return document


def test_transit_soap_contract_offers_submit_transit_message_in_both_bindings(
        gateway_server: RunningGateway) -> None:
    """The served WSDL has the operation in its port type and both bindings, and its wrappers
    in the schema."""
    with gateway_server.client() as client:
        wsdl = etree.fromstring(client.get("/soap?wsdl").content)
    ops = wsdl.xpath("//wsdl:portType/wsdl:operation/@name", namespaces=NS)
    assert OPERATION in ops
    for binding in wsdl.iterfind("{http://schemas.xmlsoap.org/wsdl/}binding"):
        assert OPERATION in [o.get("name") for o in binding]
    elements = wsdl.xpath("//xs:schema/xs:element/@name", namespaces=NS)
    assert {OPERATION, f"{OPERATION}Response"} <= set(elements)


@pytest.mark.parametrize("version", ["soap11", "soap12"])
def test_transit_soap_cc015c_gets_the_signed_cc928c(gateway_server: RunningGateway,
                                                    tokens: dict[str, str],
                                                    version: str) -> None:
    """200, SubmitTransitMessageResponse holding the CC928C: signed, valid, correlated."""
    request = cc015c()
    response = call(gateway_server, tokens[TRADER], version, request)
    assert response.status_code == 200, response.text
    body = etree.fromstring(response.content).find(f"{{{VERSIONS[version]}}}Body")
    (wrapper,) = body
    assert wrapper.tag == f"{{{GW_NS}}}{OPERATION}Response"
    (answer,) = wrapper
    assert answer.tag == f"{{{NCTS}}}CC928C"
    got = read(verified(gateway_server, answer))
    assert got.header["correlationIdentifier"] == read(request).header["messageIdentification"]
    assert response.headers["X-Conversation-ID"]


@pytest.mark.parametrize(("version", "status"), [("soap11", 500), ("soap12", 400)])
def test_transit_soap_invalid_cc015c_is_a_fault_carrying_the_cc917c(
        gateway_server: RunningGateway, tokens: dict[str, str], version: str,
        status: int) -> None:
    """A bad office reference: a fault of the version with the signed CC917C in its detail."""
    request = cc015c().replace(b">MK001005<", b">MK-01005<", 1)
    response = call(gateway_server, tokens[TRADER], version, request)
    assert response.status_code == status
    ns = VERSIONS[version]
    fault = etree.fromstring(response.content).find(f"{{{ns}}}Body/{{{ns}}}Fault")
    detail = fault.find("detail" if version == "soap11" else f"{{{ns}}}Detail")
    (answer,) = detail.find(f"{{{GW_NS}}}Fault")
    assert answer.tag == f"{{{NCTS}}}CC917C"
    nack = read(verified(gateway_server, answer))
    assert nack.codes == ["12"] and int(nack.errors[0]["errorLineNumber"]) > 0


def test_transit_soap_a_nack_gets_a_fault_with_our_rejection(gateway_server: RunningGateway,
                                                             tokens: dict[str, str]) -> None:
    """A CC906C over SubmitTransitMessage (the trader may not send it): our rejection."""
    response = call(gateway_server, tokens[TRADER], "soap12", fixture("cc906c.xml"))
    assert response.status_code == 403
    assert fault_rejection(response, "soap12").findtext("gw:Code", namespaces=NS) == \
        "GW-AUTH-FORBIDDEN"


def test_transit_soap_then_http_is_one_message(gateway_server: RunningGateway,
                                               tokens: dict[str, str]) -> None:
    """The same CC015C by SOAP, then by plain HTTP: a repeat with the same CC928C."""
    request = cc015c()
    response = call(gateway_server, tokens[TRADER], "soap12", request)
    (wrapper,) = etree.fromstring(response.content).find(f"{{{SOAP12}}}Body")
    (answer,) = wrapper
    with gateway_server.client(tokens[TRADER]) as client:
        again = client.post("/v1/messages", content=request, headers=XML_HEADERS)
    assert (again.status_code, again.headers.get("X-Duplicate")) == (202, "true")
    assert read(again.content).header["messageIdentification"] == \
        answer.findtext("messageIdentification")
