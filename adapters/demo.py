"""``gateway demo``: the declaration flow and the duty payment (F2) end to end, with stand-ins.

Starts the gateway in sandbox mode on a local port (SQLite journal under ``var/demo``, its own
RabbitMQ names), then, as the demo broker would:

1. sends a WCO DM 3.6 declaration over **SOAP 1.2** with zeep (the real SOAP client, given
   only the WSDL URL);
2. sends an ASYCUDA SAD declaration over **plain HTTP**;
3. sends a schema-invalid declaration (expects a signed 400 rejection listing the problems);
4. sends the first declaration again (expects the original receipt, nothing new published);
5. sends a declaration whose item count disagrees with its items (clearance rejects it);

waits for the clearance decisions, checks every receipt and notification signature; then plays
flow F2 (``adapters/demo_payments.py``): a declaration with duties and its ``TAX`` notification
with the ``RF`` reference, the bank's look-up and camt.054 (two payments, one partial) over SOAP
with WS-Security, the broker's ``PAY``, the ``ACK`` delivered to the bank's SOAP service (the
bank stand-in), the release; then flow F4 (``adapters/demo_transit.py``): a transit movement
from North Macedonia to Serbia through one office of transit, with Serbia's gateway — a second
deployment — started beside this one and the two linked. It prints what happened to each
step. Exit 0 only if every step did what it should.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from lxml import etree

from adapters.local_server import free_port, rabbitmq_reachable, serve_in_thread, wait_until_ready
from adapters.setup_keys import init_keys, load_demo_tokens
from gateway.settings import Settings

BROKER = "broker-alpha"
Verifier = Callable[[etree._Element], etree._Element | None]   # the verified element, or None
GW = "urn:customs-gateway:v1"


@dataclass
class Step:
    name: str
    channel: str
    expect: str
    http: int | None = None
    receipt: str | None = None
    conversation: str | None = None
    notifications: list[str] = field(default_factory=list)
    mrn: str | None = None
    seconds: float = 0.0
    ok: bool = False
    note: str = ""


def run_demo(settings: Settings, *, port: int = 0) -> int:
    if not rabbitmq_reachable(settings.amqp_url):
        print(f"RabbitMQ is not reachable at {settings.amqp_url}.\n"
              "Start it (`rabbitmq-server -detached`), or install it on Debian with\n"
              "`sudo apt-get install rabbitmq-server`, or point GATEWAY_AMQP_URL at one.",
              file=sys.stderr)
        return 3
    settings = settings.with_(var_dir=settings.var_dir, amqp_prefix=settings.amqp_prefix or "demo.",
                              db_url=settings.db_url or
                              f"sqlite:///{settings.var_dir / 'demo' / 'journal.db'}")
    init_keys(settings)
    from adapters.demo_transit import transit_deployments, transit_steps

    settings, neighbour = transit_deployments(settings)     # flow F4: Serbia's gateway beside
    port = port or free_port()
    base = f"http://127.0.0.1:{port}"
    server = _start_server(settings, port, base)
    try:
        steps = _run_steps(settings, base) + transit_steps(settings, base, neighbour)
    finally:
        server.should_exit = True
    _print(steps, base)
    return 0 if all(s.ok for s in steps) else 1


def _sample_builders(settings: Settings) -> tuple[Callable[..., bytes], Callable[..., bytes]]:
    """The sample-message builders of the source checkout (``samples/``, not installed)."""
    if str(settings.home) not in sys.path and (settings.home / "samples").is_dir():
        sys.path.append(str(settings.home))
    try:
        from samples.asycuda import build_sad
        from samples.wco import build_dec
    except ImportError as exc:
        raise SystemExit(f"the demo needs the project's samples/ folder next to config/ "
                         f"(GATEWAY_HOME={settings.home}): {exc}") from exc
    return build_dec, build_sad


def _run_steps(settings: Settings, base: str) -> list[Step]:
    from gateway.signing.keys import SigningKey, TrustStore

    build_dec, build_sad = _sample_builders(settings)

    tokens = load_demo_tokens(settings)
    auth = {"Authorization": f"Bearer {tokens[BROKER]}"}
    gateway_key = SigningKey.load(settings.keys_dir / "gateway.key",
                                  settings.keys_dir / "gateway.crt")
    trust = TrustStore()
    trust.add("gateway", gateway_key.certificate)
    verify = _verifier(trust)
    run = uuid.uuid4().hex[:8].upper()
    http = httpx.Client(base_url=base, headers=auth, timeout=30)
    wco = build_dec(3, lrn=f"DEMO-{run}-1")
    steps = [
        _soap_submit(base, tokens[BROKER], wco, verify,
                     Step("WCO DEC, SOAP 1.2", "soap12", "released")),
        _http_submit(http, build_sad(3, reference=f"DEMO-{run}-2"), verify,
                     Step("ASYCUDA SAD, HTTP", "http", "released")),
        _http_submit(http, _invalid(build_dec(3, lrn=f"DEMO-{run}-X")), verify,
                     Step("invalid WCO DEC, HTTP", "http", "rejected 400")),
        _soap_submit(base, tokens[BROKER], wco, verify,
                     Step("same WCO DEC again", "soap12", "duplicate")),
        _http_submit(http, build_dec(2, lrn=f"DEMO-{run}-3", declared_item_count=3), verify,
                     Step("item count wrong, HTTP", "http", "rejected by clearance")),
    ]
    first = steps[0]
    steps[3].ok = steps[3].receipt is not None and steps[3].receipt == first.receipt
    steps[3].note = "same receipt id as step 1" if steps[3].ok else "receipt differs!"
    _await_decisions(http, steps, verify)
    pushed = http.get(f"/sandbox/callbacks/{BROKER}").json()
    pushed_ids = {p["conversation_id"] for p in pushed}
    for step in (steps[0], steps[1], steps[4]):
        if step.conversation not in pushed_ids:
            step.ok, step.note = False, step.note + "; no push received"
    from adapters.demo_licences import licence_steps
    from adapters.demo_payments import payment_steps

    return steps + payment_steps(settings, base, tokens, verify, http, run) + \
        licence_steps(settings, base, tokens, verify, http, run)


def _soap_submit(base: str, token: str, document: bytes, verify: Verifier, step: Step) -> Step:
    import requests
    from zeep import Client
    from zeep import Settings as ZeepSettings
    from zeep.transports import Transport

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    client = Client(f"{base}/soap?wsdl", transport=Transport(session=session),
                    settings=ZeepSettings(forbid_dtd=True, forbid_entities=True,
                                          forbid_external=True, raw_response=True))
    service = client.bind("CustomsGatewayService", "CustomsGatewaySoap12Port")
    started = time.perf_counter()
    response = service.SubmitDeclaration(_value_1=etree.fromstring(document))
    step.seconds = time.perf_counter() - started
    step.http = response.status_code
    found = etree.fromstring(response.content).find(f".//{{{GW}}}Receipt")
    receipt = verify(found) if found is not None else None
    if receipt is None:
        step.note = "no signed receipt" if found is None else "BAD receipt signature"
        return step
    step.receipt = receipt.findtext(f"{{{GW}}}ReceiptID")
    step.conversation = receipt.findtext(f"{{{GW}}}ConversationID")
    step.ok = response.status_code == 200
    return step


def _http_submit(http: httpx.Client, document: bytes, verify: Verifier, step: Step) -> Step:
    started = time.perf_counter()
    response = http.post("/v1/messages", content=document,
                         headers={"Content-Type": "application/xml"})
    step.seconds = time.perf_counter() - started
    step.http = response.status_code
    root = verify(etree.fromstring(response.content))
    if root is None:
        step.note = "BAD answer signature"
    elif response.status_code == 202:
        step.receipt = root.findtext(f"{{{GW}}}ReceiptID")
        step.conversation = response.headers.get("X-Conversation-ID")
        step.ok = True
    else:
        problems = root.find(f"{{{GW}}}Problems")
        count = problems.get("count") if problems is not None else "?"
        step.note = f"{count} problems, first: {root.findtext(f'.//{{{GW}}}Problem/{{{GW}}}Code')}"
        step.ok = step.expect.startswith("rejected 400") and response.status_code == 400
    return step


def _await_decisions(http: httpx.Client, steps: list[Step], verify: Verifier) -> None:
    waiting = [s for s in steps if s.conversation and s.expect in ("released",
                                                                    "rejected by clearance")]
    deadline = time.monotonic() + 30
    while waiting and time.monotonic() < deadline:
        for step in list(waiting):
            data = http.get(f"/v1/conversations/{step.conversation}/notifications",
                            headers={"Accept": "application/json"}).json()
            kinds = [n["kind"] for n in data["notifications"]]
            done = "RES" in kinds if step.expect == "released" else "REJ" in kinds
            if done:
                step.notifications = kinds
                step.mrn = data.get("mrn")
                signed = all(verify(etree.fromstring(n["document"].encode())) is not None
                             for n in data["notifications"])
                step.ok = step.ok and signed
                step.note = (step.note + "; " if step.note else "") + \
                    ("notifications signed" if signed else "BAD notification signature")
                waiting.remove(step)
        time.sleep(0.2)
    for step in waiting:
        step.ok, step.note = False, "no decision within 30 s"


def _verifier(trust: Any) -> Verifier:
    """Checks a document's signature against the gateway's certificate (the broker's view).

    Returns the signed element as verified (re-parsed from the signed bytes), the only thing
    the demo reads values from, or ``None`` when the signature does not hold.
    """
    from gateway.errors import SignatureInvalid
    from gateway.signing.xmldsig import verify_enveloped

    def verify(root: etree._Element) -> etree._Element | None:
        try:
            return verify_enveloped(root, trust, owner="gateway").element
        except SignatureInvalid:
            return None

    return verify


def _invalid(document: bytes) -> bytes:
    return document.replace(b"<FunctionCode>9</FunctionCode>", b"<FunctionCode>10</FunctionCode>") \
        .replace(b"<CountryCode>DE</CountryCode>", b"<CountryCode>DEU</CountryCode>", 1)


def _start_server(settings: Settings, port: int, base: str) -> Any:
    from adapters.bootstrap import build_gateway
    from adapters.http.app import create_app
    from adapters.observability import configure_logging

    configure_logging("warning")
    gateway = build_gateway(settings, gateway_url=base)
    app = create_app(gateway, sandbox=True)
    server, _ = serve_in_thread(app, port, "gateway-demo")
    if not wait_until_ready(base):
        raise RuntimeError("the gateway did not become ready within 20 s")
    return server


def _print(steps: list[Step], base: str) -> None:
    print(f"\nCustoms gateway demo — sandbox at {base}\n")
    header = f"{'#':<2} {'step':<24} {'via':<7} {'HTTP':>4}  {'receipt':<10} {'MRN':<19} " \
             f"{'notifications':<22} {'ms':>6}  result"
    print(header)
    print("-" * len(header))
    for i, s in enumerate(steps, 1):
        print(f"{i:<2} {s.name:<24} {s.channel:<7} {s.http or '-':>4}  "
              f"{(s.receipt or '-')[:8]:<10} {s.mrn or '-':<19} "
              f"{','.join(s.notifications) or '-':<22} {s.seconds * 1000:>6.0f}  "
              f"{'OK' if s.ok else 'FAILED'} ({s.expect}{'; ' + s.note if s.note else ''})")
    print(f"\n{sum(s.ok for s in steps)}/{len(steps)} steps did what they should.")
