"""``gateway demo``, flow F3: goods that need a licence, reserved with the agency, never over.

The steps after the payment flow's, against the same sandbox (the permit agencies are SOAP
servers mounted on it under ``/agency/<id>/``, the clearance stand-in waits for reservations):

1. the phytosanitary agency (``agency-phyto``) issues a certificate for 18 t of apples — kept
   in its own register, then sent signed to the gateway; the broker declares 12 t of apples
   quoting it (``N851``): clearance accepts, the gateway reserves 12,000 kg with the agency
   over SOAP with WS-Security, clearance releases (``RES``), the reservation is written off;
2. the licensing department (``agency-trade``) issues an import licence for 10 t of steel; the
   broker declares 6 t quoting it (``X002``): reserved, released, written off — 4 t left;
3. the broker declares 5 t more on the same licence: the gateway refuses it (insufficient
   quantity, 4 t left) and says so in a signed ``LIC`` notification; clearance does not
   release.

Each step checks the signatures of what the broker gets and what the agency's register says.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
from lxml import etree

from adapters.demo import GW, Step, Verifier
from gateway.settings import Settings

IMPORTER = ("MK4030998765432", "Vardar Trade DOO Skopje")     # the sample importer


def licence_steps(settings: Settings, base: str, tokens: dict[str, str], verify: Verifier,
                  http: httpx.Client, run: str) -> list[Step]:
    """The F3 steps, in order; a step whose predecessor failed is reported as not run."""
    from gateway.signing.keys import SigningKey
    from gateway.signing.xmldsig import XmlSigner
    from samples.licence import build_licence
    from samples.licensed import build_licensed_dec
    from samples.sps import build_sps_certificate

    def signer(agency: str) -> XmlSigner:
        return XmlSigner(SigningKey.load(settings.keys_dir / f"{agency}.key",
                                         settings.keys_dir / f"{agency}.crt"))

    certificate, licence = f"RS-PC-DEMO-{run}", f"MK-IL-DEMO-{run}"
    agencies = _Agencies(base, tokens)
    steps = [Step("apples on a certificate", "http", "reserved, released"),
             Step("steel 6 t, licence 10 t", "http", "reserved, released"),
             Step("5 t more steel", "http", "refused: insufficient")]
    actions: list[Callable[[Step], None]] = [
        lambda s: _released(http, verify, agencies, s, "agency-phyto", certificate,
                            build_sps_certificate(number=certificate, lines=1,
                                                  hs_codes=["080810"], quantities=["18000"],
                                                  signer=signer("agency-phyto")),
                            build_licensed_dec(f"DEMO-{run}-F3A", [
                                ("08081080", "12000", [("N", "851", certificate)])])),
        lambda s: _released(http, verify, agencies, s, "agency-trade", licence,
                            build_licence(number=licence, holder=IMPORTER,
                                          valid_from="2026-01-01", valid_to="2099-12-31",
                                          lines=(("72083900", "Hot-rolled coils", "10.000",
                                                  "TNE"),), signer=signer("agency-trade")),
                            build_licensed_dec(f"DEMO-{run}-F3B", [
                                ("72083900", "6000", [("X", "002", licence)])])),
        lambda s: _refused(http, verify, agencies, s, licence, build_licensed_dec(
            f"DEMO-{run}-F3C", [("72083900", "5000", [("X", "002", licence)])])),
    ]
    for step, action in zip(steps, actions, strict=True):
        started = time.perf_counter()
        try:
            action(step)
        except Exception as exc:  # noqa: BLE001 - a demo step reports, the table goes on
            step.ok, step.note = False, f"{type(exc).__name__}: {exc}"[:160]
        step.seconds = time.perf_counter() - started
        if not step.ok:
            for later in steps[steps.index(step) + 1:]:
                later.note = "not run: an earlier F3 step failed"
            break
    return steps


class _Agencies:
    """The permit agencies: their own register (the stand-ins) and what they send customs."""

    def __init__(self, base: str, tokens: dict[str, str]) -> None:
        self.base, self.tokens = base, tokens

    def issue(self, agency: str, document: bytes) -> None:
        kept = httpx.post(f"{self.base}/agency/{agency}/licences", content=document, timeout=30)
        assert kept.status_code == 201, f"the agency did not keep it: {kept.text[:200]}"
        sent = httpx.post(f"{self.base}/v1/messages", content=document, timeout=30, headers={
            "Content-Type": "application/xml", "Authorization": f"Bearer {self.tokens[agency]}"})
        assert sent.status_code == 202, f"the gateway answered {sent.status_code}"

    def line(self, agency: str, number: str) -> dict[str, Any]:
        status = httpx.get(f"{self.base}/agency/{agency}/licences/{number}", timeout=30).json()
        return dict(status["lines"][0])


def _declare(http: httpx.Client, verify: Verifier, step: Step, document: bytes) -> str:
    response = http.post("/v1/messages", content=document,
                         headers={"Content-Type": "application/xml"})
    step.http = response.status_code
    receipt = verify(etree.fromstring(response.content))
    assert response.status_code == 202 and receipt is not None, \
        f"HTTP {response.status_code}, signed receipt: {receipt is not None}"
    step.receipt = receipt.findtext(f"{{{GW}}}ReceiptID")
    step.conversation = response.headers.get("X-Conversation-ID")
    return step.conversation or ""


def _listing(http: httpx.Client, conversation: str, verify: Verifier, kind: str,
             timeout: float = 30.0) -> dict[str, Any]:
    """The conversation's notifications once one of ``kind`` is there, every one verified."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = dict(http.get(f"/v1/conversations/{conversation}/notifications",
                             headers={"Accept": "application/json"}).json())
        if kind in [n["kind"] for n in data["notifications"]]:
            assert all(verify(etree.fromstring(n["document"].encode())) is not None
                       for n in data["notifications"]), "a notification's signature fails"
            return data
        time.sleep(0.2)
    raise AssertionError(f"no {kind} notification within {timeout:.0f} s")


def _released(http: httpx.Client, verify: Verifier, agencies: _Agencies, step: Step,
              agency: str, number: str, licence: bytes, declaration: bytes) -> None:
    agencies.issue(agency, licence)
    conversation = _declare(http, verify, step, declaration)
    data = _listing(http, conversation, verify, "RES")
    step.notifications = [n["kind"] for n in data["notifications"]]
    step.mrn = data.get("mrn")
    deadline = time.monotonic() + 15
    while (line := agencies.line(agency, number))["usage"][:1] and \
            line["usage"][0]["state"] != "written_off" and time.monotonic() < deadline:
        time.sleep(0.2)
    states = [u["state"] for u in line["usage"]]
    step.ok = states == ["written_off"] and "LIC" not in step.notifications
    step.note = f"{agency} {number}: written off, {line['available']} {line['unit']} left" \
        if step.ok else f"agency says {states}"


def _refused(http: httpx.Client, verify: Verifier, agencies: _Agencies, step: Step,
             number: str, declaration: bytes) -> None:
    conversation = _declare(http, verify, step, declaration)
    data = _listing(http, conversation, verify, "LIC")
    step.notifications = [n["kind"] for n in data["notifications"]]
    step.mrn = data.get("mrn")
    (notice,) = [n for n in data["notifications"] if n["kind"] == "LIC"]
    signed = verify(etree.fromstring(notice["document"].encode()))
    assert signed is not None
    reason = signed.findtext(f".//{{{GW}}}Reason/{{{GW}}}Code")
    available = signed.findtext(f".//{{{GW}}}Available")
    time.sleep(1.0)                  # clearance had its chance to release: it must not have
    kinds = [n["kind"] for n in http.get(f"/v1/conversations/{conversation}/notifications",
                                         headers={"Accept": "application/json"}).json()[
        "notifications"]]
    line = agencies.line("agency-trade", number)
    step.ok = reason == "insufficient-quantity" and "RES" not in kinds and \
        line["available"] == available
    step.note = f"{reason}: {available} t left, broker told (LIC), not released" if step.ok \
        else f"reason {reason}, notifications {kinds}, agency {line['available']}"
