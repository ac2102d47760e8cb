"""Helpers shared by the SOAP 1.1 / 1.2 integration tests (``test_soap*.py``).

zeep clients built from the served WSDL (with DTDs, entities and external references
forbidden), raw envelopes for what a client library hides, and the checks of a fault's shape
in each SOAP version.
"""

from __future__ import annotations

from typing import Any

import httpx
import requests
import zeep
from conftest import RunningGateway
from http_helpers import DS_NS, GW_NS
from lxml import etree
from zeep.transports import Transport

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
MD_NS = "urn:wco:datamodel:WCO:DocumentMetaData-DMS:2"
RES_NS = "urn:wco:datamodel:WCO:RES-DMS:2"
NS = {"gw": GW_NS, "ds": DS_NS, "s11": SOAP11, "s12": SOAP12, "wsdl":
      "http://schemas.xmlsoap.org/wsdl/", "xs": "http://www.w3.org/2001/XMLSchema",
      "soap": "http://schemas.xmlsoap.org/wsdl/soap/",
      "soap12": "http://schemas.xmlsoap.org/wsdl/soap12/", "md": MD_NS, "res": RES_NS}
ACTION = "urn:customs-gateway:v1:"
PORTS = {"soap11": "CustomsGatewaySoap11Port", "soap12": "CustomsGatewaySoap12Port"}


class Wire:
    """A requests session that carries the bearer token and records every exchange."""

    def __init__(self, token: str | None) -> None:
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        self.seen: list[requests.Response] = []
        self.session.hooks["response"].append(lambda response, *a, **k: self.seen.append(response))


def zeep_client(running: RunningGateway, wire: Wire) -> zeep.Client:
    return zeep.Client(
        f"{running.base_url}/soap?wsdl", transport=Transport(session=wire.session),
        settings=zeep.Settings(forbid_dtd=True, forbid_entities=True, forbid_external=True))


def bound(running: RunningGateway, token: str | None, port: str) -> tuple[Any, zeep.Client, Wire]:
    wire = Wire(token)
    client = zeep_client(running, wire)
    return client.bind("CustomsGatewayService", PORTS[port]), client, wire


def strip_declaration(document: bytes) -> bytes:
    return document.split(b"?>", 1)[1] if document.startswith(b"<?xml") else document


def envelope(namespace: str, body: bytes, header: bytes = b"", prefix: str = "soap") -> bytes:
    head = f"<{prefix}:Header>".encode() + header + f"</{prefix}:Header>".encode() \
        if header else b""
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<{prefix}:Envelope xmlns:{prefix}='
            f'"{namespace}">'.encode() + head + f"<{prefix}:Body>".encode() + body
            + f"</{prefix}:Body></{prefix}:Envelope>".encode())


def submit(document: bytes) -> bytes:
    return (f'<gw:SubmitDeclaration xmlns:gw="{GW_NS}">'.encode()
            + strip_declaration(document) + b"</gw:SubmitDeclaration>")


def headers_for(version: str, token: str | None, operation: str = "SubmitDeclaration",
                action: str | None = None) -> dict[str, str]:
    action = ACTION + operation if action is None else action
    if version == "soap11":
        headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{action}"'}
    else:
        headers = {"Content-Type": f'application/soap+xml; charset=utf-8; action="{action}"'}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def post_soap(running: RunningGateway, content: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{running.base_url}/soap", content=content, headers=headers, timeout=30)


def fault_rejection(response: httpx.Response, version: str) -> etree._Element:
    """The gw:Rejection inside the fault's detail, after checking the fault's shape."""
    root = etree.fromstring(response.content)
    ns = SOAP11 if version == "soap11" else SOAP12
    assert root.tag == f"{{{ns}}}Envelope"
    fault = root.find(f"{{{ns}}}Body/{{{ns}}}Fault")
    assert fault is not None, response.text
    if version == "soap11":
        assert response.headers["content-type"].startswith("text/xml")
        assert fault.findtext("faultcode") in ("soap:Client", "soap:Server")
        assert fault.findtext("faultstring")
        rejection = fault.find(f"detail/{{{GW_NS}}}Fault/{{{GW_NS}}}Rejection")
    else:
        assert response.headers["content-type"].startswith("application/soap+xml")
        assert fault.findtext(f"{{{ns}}}Code/{{{ns}}}Value") in ("soap:Sender", "soap:Receiver")
        assert fault.findtext(f"{{{ns}}}Reason/{{{ns}}}Text")
        rejection = fault.find(f"{{{ns}}}Detail/{{{GW_NS}}}Fault/{{{GW_NS}}}Rejection")
    assert rejection is not None, response.text
    assert rejection.find("ds:Signature", NS) is not None
    return rejection


def rejection_code(rejection: etree._Element) -> str:
    return rejection.findtext("gw:Code", namespaces=NS)
