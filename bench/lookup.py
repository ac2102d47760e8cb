"""Benchmark: a bank's ``LookupPaymentReference`` under 200 concurrent look-ups (flow F2).

    .venv/bin/python bench/lookup.py [--assessments 2000] [--concurrency 200] [--workers 2]

1. Starts ``gateway serve --workers N --sandbox`` with its own var dir, RabbitMQ names and a
   fresh SQLite journal (``synchronous=FULL``); the clearance stand-in assesses duties on every
   declaration, so ``--assessments`` declarations (sent over HTTP) give as many payment
   references (ISO 11649 ``RF…``, read back from the journal's ``assessments`` table).
2. Signs one ``LookupPaymentReference`` per reference with WS-Security, as ``bank-demo``
   (its key; Timestamp, BinarySecurityToken, signature over Body and Timestamp), before the
   clock starts: every request asks about a **distinct** reference and carries a distinct
   signature (the gateway refuses a replayed one), so the gateway does all its work for each:
   token, strict envelope, WS-Security verification, the replay record (one journal write),
   the ledger read, the signed ``gw:PaymentReferenceInfo`` and the WS-Security signature of the
   answer.
3. **closed loop**: ``--concurrency`` keep-alive connections send them as fast as answered;
   latency per request, p50/p95/p99/max, look-ups/s; every answer must be HTTP 200 (counted
   otherwise) and a sample of answers is verified (WS-Security and the enveloped signature,
   validity ``valid``).
4. Beside it: ``GET /healthz`` requests/s with wrk on the same server (2 threads, the same
   connections), before and after, and the ratio look-ups/s ÷ healthz/s — these VMs vary by 2x
   from one hour to the next, and the ratio survives that.

The admission limits are raised for the run (``GATEWAY_MAX_IN_FLIGHT`` and
``GATEWAY_MAX_IN_FLIGHT_PER_PARTNER``, ``--in-flight``, default 256): one bank sends all 200
look-ups here, and its default share (16 per worker) would answer most of them 429 at once.
Figures are printed, not asserted: they depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lxml import etree  # noqa: E402

from adapters.local_server import wait_until_ready  # noqa: E402
from adapters.setup_keys import init_keys, load_demo_tokens  # noqa: E402
from bench import wrk  # noqa: E402
from bench.run import closed_loop, machine, percentile, wait_for_idle  # noqa: E402
from gateway.settings import Settings  # noqa: E402
from gateway.signing.keys import SigningKey, TrustStore  # noqa: E402
from gateway.signing.wssecurity import SOAP11, secure_envelope, verify_envelope  # noqa: E402
from gateway.signing.xmldsig import XmlSigner, verify_enveloped  # noqa: E402
from samples.wco import build_dec  # noqa: E402

GW = "urn:customs-gateway:v1"
ACTION = "urn:customs-gateway:v1:LookupPaymentReference"


class SoapClient:
    """A minimal keep-alive HTTP/1.1 client posting pre-built SOAP 1.1 requests to /soap."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port = host, port
        self.head = (f"POST /soap HTTP/1.1\r\nHost: {host}:{port}\r\n"
                     f"Authorization: Bearer {token}\r\n"
                     f"Content-Type: text/xml; charset=utf-8\r\nSOAPAction: \"{ACTION}\"\r\n")

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def post(self, body: bytes) -> tuple[int, bytes]:
        self.writer.write(f"{self.head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        status_line = await self.reader.readline()
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            if line.lower().startswith(b"content-length:"):
                length = int(line[15:])
        return int(status_line.split()[1]), await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    answers: list[bytes] = field(default_factory=list)
    elapsed: float = 0.0


async def look_ups(host: str, port: int, token: str, bodies: list[bytes],
                   concurrency: int, keep: int = 50) -> Result:
    result = Result()
    queue = iter(bodies)

    async def worker() -> None:
        client = SoapClient(host, port, token)
        await client.connect()
        for body in queue:
            t0 = time.perf_counter()
            status, answer = await client.post(body)
            result.latencies.append(time.perf_counter() - t0)
            result.statuses[status] = result.statuses.get(status, 0) + 1
            if len(result.answers) < keep:
                result.answers.append(answer)
        client.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.elapsed = time.perf_counter() - started
    return result


def signed_lookup(signer: XmlSigner, reference: str) -> bytes:
    envelope = etree.Element(f"{{{SOAP11}}}Envelope", nsmap={"s": SOAP11})
    operation = etree.SubElement(etree.SubElement(envelope, f"{{{SOAP11}}}Body"),
                                 f"{{{GW}}}LookupPaymentReference", nsmap={"gw": GW})
    etree.SubElement(operation, f"{{{GW}}}Reference").text = reference
    return etree.tostring(secure_envelope(envelope, signer), xml_declaration=True,
                          encoding="UTF-8")


def check_answers(answers: list[bytes], settings: Settings) -> str:
    """Verify a sample of answers: the gateway's WS-Security, the signed info, ``valid``."""
    trust = TrustStore()
    trust.add_pem_file("gateway", settings.keys_dir / "gateway.crt")
    valid = 0
    for answer in answers:
        verified = verify_envelope(etree.fromstring(answer), trust, owner="gateway",
                                   now=dt.datetime.now(dt.UTC))
        info = verified.document.find(f"{{{GW}}}PaymentReferenceInfo")
        assert info is not None
        checked = verify_enveloped(info, trust, owner="gateway").element
        valid += checked.findtext(f"{{{GW}}}Validity") == "valid"
    return f"{len(answers)} answers verified (WS-Security + enveloped), {valid} valid"


def assessed_references(journal: Path, wanted: int, timeout: float = 300,
                        settle: float = 10.0) -> list[str]:
    """The payment references the clearance stand-in's assessments created: waits until there
    are ``wanted``, or their number has not grown for ``settle`` s (two declarations may get
    one MRN, hence one reference: the stand-in's MRN serial is a 6-hex-digit hash)."""
    deadline = time.monotonic() + timeout
    seen, since = -1, time.monotonic()
    while True:
        with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as db:
            try:
                rows = db.execute("SELECT reference FROM assessments").fetchall()
            except sqlite3.OperationalError:
                rows = []
        now = time.monotonic()
        if len(rows) != seen:
            seen, since = len(rows), now
        if len(rows) >= wanted or now > deadline or (rows and now - since > settle):
            return [r[0] for r in rows]
        time.sleep(0.5)


def healthz(base: str, run_dir: Path, connections: int, duration: float) -> float | None:
    if wrk.wrk_path() is None:
        print(f"  healthz: not measured ({wrk.INSTALL_HINT})")
        return None
    rate, _ = wrk.healthz_rate(base, run_dir, threads=2, connections=connections,
                               duration=duration)
    print(f"  healthz: {rate:,.0f} req/s (wrk, 2 threads, {connections} connections)")
    return rate


def run(args: argparse.Namespace) -> int:
    var_dir = Path(tempfile.mkdtemp(prefix="gateway-bench-lookup-"))
    settings = Settings(var_dir=var_dir)
    init_keys(settings)
    tokens = load_demo_tokens(settings)
    prefix = f"benchlk{uuid.uuid4().hex[:6]}."
    journal = var_dir / "journal.db"
    env = {**os.environ, "GATEWAY_VAR_DIR": str(var_dir), "GATEWAY_AMQP_PREFIX": prefix,
           "GATEWAY_DB_URL": f"sqlite:///{journal}", "GATEWAY_LOG_LEVEL": "warning",
           "GATEWAY_MAX_IN_FLIGHT": str(args.in_flight),
           "GATEWAY_MAX_IN_FLIGHT_PER_PARTNER": str(args.in_flight)}
    base = f"http://127.0.0.1:{args.port}"
    print(f"=== LookupPaymentReference, {args.workers} worker process(es), SQLite journal; "
          f"{machine()}; var dir {var_dir}")
    log = open(var_dir / "gateway.log", "wb")  # noqa: SIM115
    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gateway"), "serve", "--port", str(args.port),
         "--workers", str(args.workers), "--sandbox"], env=env, stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True)
    try:
        if not wait_until_ready(base, timeout=60):
            raise RuntimeError(f"the gateway did not become ready; see {var_dir}/gateway.log")
        marker = uuid.uuid4().hex[:6].upper()
        bodies = [build_dec(1, lrn=f"LK{marker}-{i}") for i in range(args.assessments)]
        asyncio.run(closed_loop("127.0.0.1", args.port, tokens["broker-alpha"], bodies, 16))
        references = assessed_references(journal, args.assessments)
        print(f"  {len(references)} assessments (distinct RF references) in the ledger")
        idle = wait_for_idle(120)          # the stand-ins' decisions and pushes are done
        print(f"  CPU idle over 5 s before the look-ups: {100 * idle:.0f} %")
        signer = XmlSigner(SigningKey.load(settings.keys_dir / "bank-demo.key",
                                           settings.keys_dir / "bank-demo.crt"))
        warm = [signed_lookup(signer, f"RF{marker}{i}") for i in range(200)]   # invalid refs
        asyncio.run(look_ups("127.0.0.1", args.port, tokens["bank-demo"], warm,
                             args.concurrency))
        before = healthz(base, var_dir, args.concurrency, args.healthz_duration)
        t0 = time.perf_counter()
        requests = [signed_lookup(signer, r) for r in references]
        print(f"  {len(requests)} look-ups signed by the bank in "
              f"{time.perf_counter() - t0:.1f} s (before the clock starts)")
        result = asyncio.run(look_ups("127.0.0.1", args.port, tokens["bank-demo"], requests,
                                      args.concurrency))
        after = healthz(base, var_dir, args.concurrency, args.healthz_duration)
        ms = [v * 1000 for v in result.latencies]
        rate = len(ms) / result.elapsed
        print(f"closed loop, {args.concurrency} concurrent: {len(ms)} look-ups in "
              f"{result.elapsed:.2f} s = {rate:,.0f} look-ups/s; statuses {result.statuses}")
        print(f"  latency ms: p50 {percentile(ms, 50):.1f}  p95 {percentile(ms, 95):.1f}  "
              f"p99 {percentile(ms, 99):.1f}  max {max(ms):.1f}  mean {statistics.fmean(ms):.1f}")
        rates = [r for r in (before, after) if r]
        if rates:
            print(f"  ratio look-ups/s ÷ healthz/s (mean of before/after): "
                  f"{rate / statistics.fmean(rates):.3f}")
        print(f"  {check_answers(result.answers, settings)}")
        return 0 if result.statuses == {200: len(ms)} else 1
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        _delete_names(settings, prefix)


def _delete_names(settings: Settings, prefix: str) -> None:
    from adapters.amqp.topology import delete_prefixed
    from adapters.bootstrap import load_topology

    asyncio.run(delete_prefixed(settings.amqp_url, load_topology(settings), prefix))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--assessments", type=int, default=2000,
                        help="declarations sent (one assessment, one distinct reference each) "
                             "= look-ups measured")
    parser.add_argument("--concurrency", type=int, default=200, help="concurrent look-ups")
    parser.add_argument("--workers", type=int, default=2, help="gateway HTTP worker processes")
    parser.add_argument("--port", type=int, default=18931, help="the gateway's port")
    parser.add_argument("--in-flight", type=int, default=256,
                        help="GATEWAY_MAX_IN_FLIGHT and _PER_PARTNER for the run")
    parser.add_argument("--healthz-duration", type=float, default=5.0,
                        help="seconds of each /healthz measurement")
    return parser.parse_args(argv)


if __name__ == "__main__":
    raise SystemExit(run(parse_args()))
