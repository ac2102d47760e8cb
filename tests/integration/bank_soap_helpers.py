"""Helpers of the tests where a bank talks SOAP with the gateway, with WS-Security both ways.

The tests act as ``bank-demo``: with zeep given only the gateway's ``/soap?wsdl`` and our
WS-Security plugin (the bank's key; the gateway's answers must verify as the gateway's), or
with raw envelopes signed by the bank stand-in's ``signed_soap_request`` for what a client
library would never send (replays, wrapped Bodies, stale Timestamps). Assessments are recorded
as clearance does it (``payment_helpers.assess``) on a gateway whose ``bank-demo`` entry sends
its ACK pushes to a bank stand-in the test runs (``home_with_bank``).
"""

from __future__ import annotations

import datetime as dt
import functools
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import zeep
from conftest import RunningGateway
from lxml import etree
from zeep.transports import Transport

import adapters.bootstrap as bootstrap
from adapters.local_server import serve_in_thread, wait_until_ready
from adapters.push import PushDeliverer
from adapters.soap_client.wsse import WsSecuritySignature
from adapters.standins.bank import BANK_OWNER, BankStandIn
from gateway.documents.receipts import GW_NS
from gateway.settings import Settings
from gateway.signing.keys import SigningKey, TrustStore
from gateway.signing.wssecurity import SOAP11, SOAP12, VerifiedSoap, verify_envelope

WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
PORTS = {"soap11": "CustomsGatewaySoap11Port", "soap12": "CustomsGatewaySoap12Port"}
ACTION = "urn:customs-gateway:v1:"
SUBMIT = f"{{{GW_NS}}}SubmitPaymentNotification"
LOOKUP = f"{{{GW_NS}}}LookupPaymentReference"
INFO_NODE = "urn:customs-gateway:v1:PaymentReferenceInfo"
RECEIPT_NODE = "urn:customs-gateway:v1:Receipt"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def gateway_trust(settings: Settings) -> TrustStore:
    trust = TrustStore()
    trust.add_pem_file("gateway", settings.keys_dir / "gateway.crt")
    return trust


def bank_key(settings: Settings) -> SigningKey:
    return SigningKey.load(settings.keys_dir / f"{BANK_OWNER}.key",
                           settings.keys_dir / f"{BANK_OWNER}.crt")


def acting_bank(settings: Settings, *, clock: Callable[[], dt.datetime] = utc_now,
                key: SigningKey | None = None) -> BankStandIn:
    """The bank stand-in used to sign requests as the bank (``signed_soap_request``)."""
    return BankStandIn(key or bank_key(settings), gateway_trust(settings), clock=clock)


# --- zeep, as a bank's SOAP software would call the gateway ------------------------------------

class Wire:
    """A requests session with the bearer token that records every answer's bytes."""

    def __init__(self, token: str | None) -> None:
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        self.answers: list[requests.Response] = []
        self.session.hooks["response"].append(
            lambda response, *a, **k: self.answers.append(response))

    @property
    def last(self) -> bytes:
        return bytes(self.answers[-1].content)


def bank_service(running: RunningGateway, token: str, port: str, *,
                 key: SigningKey | None = None, raw: bool = False) -> tuple[Any, Wire]:
    """A zeep service bound to ``port`` from the served WSDL, signing as the bank (WS-Security,
    our SHA-256 profile) and accepting only answers the gateway signed."""
    wire = Wire(token)
    settings = running.settings
    client = zeep.Client(
        f"{running.base_url}/soap?wsdl", transport=Transport(session=wire.session),
        wsse=WsSecuritySignature(key or bank_key(settings), gateway_trust(settings), "gateway"),
        settings=zeep.Settings(strict=True, forbid_dtd=True, forbid_entities=True,
                               forbid_external=True, raw_response=raw))
    return client.bind("CustomsGatewayService", PORTS[port]), wire


# --- raw signed envelopes ------------------------------------------------------------------------

def headers_for(version: str, token: str | None, operation: str) -> dict[str, str]:
    if version == "soap11":
        headers = {"Content-Type": "text/xml; charset=utf-8",
                   "SOAPAction": f'"{ACTION}{operation}"'}
    else:
        headers = {"Content-Type": f'application/soap+xml; charset=utf-8; '
                                   f'action="{ACTION}{operation}"'}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def signed(bank: BankStandIn, document: bytes, version: str, wrapper: str = SUBMIT) -> bytes:
    """``document`` inside ``wrapper`` in a SOAP envelope signed by ``bank``."""
    return bank.signed_soap_request(document, soap12=version == "soap12", wrapper=wrapper).body


def unsigned(document: bytes, version: str, wrapper: str = SUBMIT) -> bytes:
    namespace = SOAP12 if version == "soap12" else SOAP11
    envelope = etree.Element(f"{{{namespace}}}Envelope", nsmap={"s": namespace})
    parent = etree.SubElement(etree.SubElement(envelope, f"{{{namespace}}}Body"), wrapper)
    parent.append(etree.fromstring(document))
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


def lookup_document(reference: str) -> bytes:
    return f'<gw:Reference xmlns:gw="{GW_NS}">{reference}</gw:Reference>'.encode()


def post(running: RunningGateway, body: bytes, version: str, token: str | None,
         operation: str = "SubmitPaymentNotification") -> httpx.Response:
    return httpx.post(f"{running.base_url}/soap", content=body,
                      headers=headers_for(version, token, operation), timeout=30)


def lookup_envelope(bank: BankStandIn, reference: str, version: str) -> bytes:
    """A signed LookupPaymentReference (its Reference element inside the operation)."""
    namespace = SOAP12 if version == "soap12" else SOAP11
    envelope = etree.Element(f"{{{namespace}}}Envelope", nsmap={"s": namespace})
    operation = etree.SubElement(etree.SubElement(envelope, f"{{{namespace}}}Body"), LOOKUP,
                                 nsmap={"gw": GW_NS})
    etree.SubElement(operation, f"{{{GW_NS}}}Reference").text = reference
    return bank.signed_soap_request(etree.tostring(envelope)).body


# --- reading the gateway's answers -------------------------------------------------------------

def verified_answer(response: httpx.Response | bytes, settings: Settings) -> VerifiedSoap:
    """The answer's WS-Security signature verified as the gateway's (now)."""
    content = response if isinstance(response, bytes) else response.content
    return verify_envelope(etree.fromstring(content), gateway_trust(settings), owner="gateway",
                           now=utc_now())


@dataclass(frozen=True)
class WssFault:
    status: int
    wss_code: str                 # wsse:FailedCheck, … (1.1 faultcode, 1.2 Subcode)
    code: str                     # the signed rejection's gw:Code
    signed: bool                  # the fault envelope carries the gateway's WS-Security


def wss_fault(response: httpx.Response, version: str, settings: Settings) -> WssFault:
    """The fault's WSS code and problem code; its envelope must verify as the gateway's."""
    verified = verified_answer(response, settings)
    fault = verified.document
    namespace = SOAP12 if version == "soap12" else SOAP11
    assert etree.QName(fault) == etree.QName(namespace, "Fault"), response.text
    if version == "soap11":
        raw_code = fault.findtext("faultcode") or ""
        rejection = fault.find(f"detail/{{{GW_NS}}}Fault/{{{GW_NS}}}Rejection")
    else:
        assert fault.findtext(f"{{{namespace}}}Code/{{{namespace}}}Value") == "soap:Sender"
        raw_code = fault.findtext(
            f"{{{namespace}}}Code/{{{namespace}}}Subcode/{{{namespace}}}Value") or ""
        rejection = fault.find(f"{{{namespace}}}Detail/{{{GW_NS}}}Fault/{{{GW_NS}}}Rejection")
    prefix, _, local = raw_code.partition(":")
    # exclusive C14N leaves out a declaration used only in text (the code's QName): the prefix
    # is bound in the envelope as sent, the signature covers the text
    sent = etree.fromstring(response.content).find(f"{{{namespace}}}Body/{{{namespace}}}Fault")
    assert sent is not None and sent.nsmap.get(prefix) in (WSSE, namespace), raw_code
    assert rejection is not None, response.text
    return WssFault(response.status_code, f"{prefix}:{local}",
                    rejection.findtext(f"{{{GW_NS}}}Code") or "", True)


# --- a gateway whose bank-demo acknowledgements go to a bank the test runs ---------------------

def home_with_bank(tmp_path: Path, settings: Settings, bank_wsdl: str,
                   extra_partners: str = "") -> Path:
    """A copy of the configuration in which bank-demo's SOAP service is at ``bank_wsdl``."""
    home = tmp_path / "home"
    for part in ("config", "schemas", "mappings"):
        shutil.copytree(settings.home / part, home / part, dirs_exist_ok=True)
    partners = home / "config" / "partners.toml"
    text = partners.read_text(encoding="utf-8")
    original = 'callback_url = "{gateway_url}/bank/soap?wsdl"'
    assert original in text
    partners.write_text(text.replace(original, f'callback_url = "{bank_wsdl}"')
                        + extra_partners, encoding="utf-8")
    return home


@dataclass
class RunningBank:
    """The bank stand-in on its own uvicorn server (stoppable, restartable on its port)."""

    port: int
    stand_in: BankStandIn
    server: Any = None
    thread: Any = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def wsdl(self) -> str:
        return f"{self.base_url}/bank/soap?wsdl"

    def start(self) -> RunningBank:
        self.server, self.thread = serve_in_thread(self.stand_in.app(), self.port, name="bank")
        if not wait_until_ready(self.base_url, path="/bank/acknowledgements"):
            raise RuntimeError(f"the bank stand-in at {self.base_url} did not start")
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
            self.thread.join(timeout=10)
            self.server = None

    def received(self) -> list[dict[str, Any]]:
        return list(httpx.get(f"{self.base_url}/bank/acknowledgements", timeout=5).json())

    def received_for(self, message_id: str) -> dict[str, Any] | None:
        return next((r for r in self.received() if r["message_id"] == message_id), None)


@pytest.fixture
def fast_push(monkeypatch: pytest.MonkeyPatch) -> None:
    """The gateway's push deliverer retries after 0.2 s (doubling) and polls every 0.05 s."""
    monkeypatch.setattr(bootstrap, "PushDeliverer",
                        functools.partial(PushDeliverer, base_delay=0.2, idle_poll=0.05))


def stopped(items: list[Any]) -> Iterator[None]:
    yield
    for item in reversed(items):
        item.stop()
