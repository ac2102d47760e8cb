"""Per-stage cost of the intake, measured in-process on one core with the real components.

    .venv/bin/python bench/stages.py [--n 2000] [--db-url URL] [--json FILE]
                                                     (run by bench/run.py after the HTTP phases)

Stages: parse (hardened), identify, validate (XSD), map (+ canonical build, rules, JSON),
route + detached bus signature, receipt XML-DSig signature, journal (group commit, 64
concurrent writers; the journal of ``--db-url``: SQLite ``synchronous=FULL`` by default, or
PostgreSQL), publish (confirms, 256 in flight, quorum queue). Then one 999-item declaration:
time per stage and peak memory (RSS high-water mark). ``--json`` writes the key figures.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.bootstrap import build_gateway  # noqa: E402
from adapters.setup_keys import init_keys, load_demo_tokens  # noqa: E402
from gateway.pipeline.exchange import Exchange  # noqa: E402
from gateway.ports import AcceptedMessage  # noqa: E402
from gateway.settings import Settings  # noqa: E402
from samples.wco import build_dec  # noqa: E402


def run_steps(intake, ex: Exchange, totals: dict[str, float] | None = None) -> Exchange:  # type: ignore[no-untyped-def]
    """The intake's front pipeline then its kind's back pipeline, timing each named step."""
    ex = _run_timed(intake.front.steps, ex, totals)
    assert ex.message_type is not None
    return _run_timed(intake.back[ex.message_type.canonical_kind].steps, ex, totals)


def _run_timed(steps, ex: Exchange, totals: dict[str, float] | None) -> Exchange:  # type: ignore[no-untyped-def]
    for name, step in steps:
        t0 = time.perf_counter()
        ex = step(ex)
        if totals is not None:
            totals[name] = totals.get(name, 0.0) + time.perf_counter() - t0
    return ex


def timed_steps(gateway, bodies: list[bytes], token: str) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Mean microseconds per message for each pipeline step."""
    intake = gateway.intake
    totals: dict[str, float] = {}
    for body in bodies:
        ex = run_steps(intake, Exchange(body=body, channel="http",
                                        authorization=f"Bearer {token}"), totals)
        t0 = time.perf_counter()
        intake.signer.sign_to_bytes(intake._receipt(ex).to_xml())
        totals["sign_receipt"] = totals.get("sign_receipt", 0.0) + time.perf_counter() - t0
    return {k: v / len(bodies) * 1e6 for k, v in totals.items()}


def accepted(ex: Exchange, receipt: bytes) -> AcceptedMessage:
    return AcceptedMessage(
        receipt_id=ex.id, conversation_id=ex.conversation_id, partner_id="broker-alpha",
        idempotency_key=f"bench:{ex.id}", message_type="wco-dec-3.6", channel="http",
        received_at=ex.received_at, sha256=ex.sha256, body=ex.body,
        canonical_json=ex.canonical_json, receipt_xml=receipt, receipt={}, reference=None,
        outbox=tuple(ex.outbox))


async def journal_rate(gateway, exchanges: list[Exchange], receipt: bytes) -> float:  # type: ignore[no-untyped-def]
    sem = asyncio.Semaphore(64)

    async def one(ex: Exchange) -> None:
        async with sem:
            await gateway.journal.record(accepted(ex, receipt))

    t0 = time.perf_counter()
    await asyncio.gather(*(one(ex) for ex in exchanges))
    return len(exchanges) / (time.perf_counter() - t0)


async def publish_rate(gateway, n: int) -> float:  # type: ignore[no-untyped-def]
    from adapters.amqp.relay import OutboxRelay

    relay = OutboxRelay(gateway.journal, amqp_url=gateway.settings.amqp_url, names=gateway.names,
                        parking_exchange=gateway.topology.parking_exchange, owner="bench",
                        metrics=gateway.metrics, batch=256)
    await gateway.declare_topology()
    channel = await relay._ensure_channel()
    t0 = time.perf_counter()
    published = 0
    while published < n:
        done = await relay._cycle(channel)
        if not done:
            break
        published += done
    rate = published / (time.perf_counter() - t0)
    await relay.stop()
    return rate


class RssSampler:
    """Peak resident set size while a block runs (sampled every millisecond)."""

    def __enter__(self) -> RssSampler:
        self.base = self.peak = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())

    def _sample(self) -> None:
        while not self._stop.wait(0.001):
            self.peak = max(self.peak, _rss())


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def big_declaration(var_dir: Path, prefix: str) -> dict[str, float]:
    """Run in a fresh process so the RSS high-water mark belongs to this document alone."""
    settings = Settings(var_dir=var_dir, db_url=f"sqlite:///{var_dir / 'big.db'}",
                        amqp_prefix=prefix)
    gateway = build_gateway(settings)
    token = load_demo_tokens(settings)["broker-alpha"]
    timed_steps(gateway, [build_dec(3, lrn="WARM")], token)
    body = (var_dir / "big.xml").read_bytes()          # written by the parent process
    gc.collect()
    sampler = RssSampler()
    t0 = time.perf_counter()
    with sampler:
        stages = timed_steps(gateway, [body], token)
    elapsed = time.perf_counter() - t0
    gateway.journal.close()
    grown = sampler.peak - sampler.base
    print(f"\n999-item declaration, in-process: {len(body):,} bytes, {elapsed * 1000:.0f} ms "
          f"(before journal); resident memory peaked {grown / 2**20:.1f} MiB above the "
          f"baseline ({grown / len(body):.1f}x the document)")
    print("  " + ", ".join(f"{k} {v / 1000:.1f} ms" for k, v in stages.items() if v > 500))
    return {"big_ms": elapsed * 1000, "big_mib": grown / 2**20}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="declarations per stage")
    parser.add_argument("--var-dir", type=Path, help="keys and journal (default: a temp dir)")
    parser.add_argument("--prefix", default=f"stages{uuid.uuid4().hex[:6]}.",
                        help="RabbitMQ name prefix")
    parser.add_argument("--db-url", default="",
                        help="journal (default: a new SQLite file in the var dir)")
    parser.add_argument("--json", type=Path, help="write the key figures to this file")
    parser.add_argument("--big-only", action="store_true", help="only the 999-item declaration")
    args = parser.parse_args()
    var_dir = args.var_dir or Path(tempfile.mkdtemp(prefix="gateway-stages-"))
    init_keys(Settings(var_dir=var_dir))
    if args.big_only:
        figures = big_declaration(var_dir, args.prefix)
        if args.json:
            args.json.write_text(json.dumps(figures))
        return 0
    db_url = args.db_url or f"sqlite:///{var_dir / f'{uuid.uuid4().hex}.db'}"
    journal = "PostgreSQL" if db_url.startswith("postgres") else "SQLite synchronous=FULL"
    settings = Settings(var_dir=var_dir, db_url=db_url, amqp_prefix=args.prefix)
    gateway = build_gateway(settings)
    token = load_demo_tokens(settings)["broker-alpha"]
    run = uuid.uuid4().hex[:6]
    bodies = [build_dec(3, lrn=f"S{run}-{i}") for i in range(args.n)]
    timed_steps(gateway, bodies[:100], token)                     # warm-up
    per_stage = timed_steps(gateway, bodies, token)
    print(f"\nStages, in-process, mean per ~{len(bodies[0]) // 1024} KB declaration "
          f"({args.n} messages, one core):")
    for name, micros in per_stage.items():
        print(f"  {name:<18} {micros:8.1f} µs")
    print(f"  {'total CPU':<18} {sum(per_stage.values()):8.1f} µs "
          f"(= {1e6 / sum(per_stage.values()):,.0f} msg/s per core before HTTP and I/O)")
    exchanges = []
    for body in bodies:
        exchanges.append(run_steps(gateway.intake, Exchange(
            body=body, channel="http", authorization=f"Bearer {token}")))
    receipt = gateway.intake.signer.sign_to_bytes(gateway.intake._receipt(exchanges[0]).to_xml())
    rate = asyncio.run(journal_rate(gateway, exchanges, receipt))
    print(f"  {'journal':<18} {1e6 / rate:8.1f} µs  ({rate:,.0f} msg/s, group commit, 64 "
          f"concurrent, {journal})")
    figures = {"cpu_us": sum(per_stage.values()), "journal_rate": rate}
    rate = asyncio.run(publish_rate(gateway, len(exchanges)))
    print(f"  {'publish':<18} {1e6 / rate:8.1f} µs  ({rate:,.0f} msg/s, confirms, 256 in flight,"
          f" quorum queue)")
    figures["publish_rate"] = rate
    gateway.journal.close()
    from bench.run import _delete_names

    _delete_names(settings, args.prefix)
    (var_dir / "big.xml").write_bytes(build_dec(999, lrn=f"BIG-{uuid.uuid4().hex[:6]}"))
    big_json = var_dir / "big.json"
    subprocess.run([sys.executable, __file__, "--var-dir", str(var_dir), "--prefix",
                    args.prefix, "--big-only", "--json", str(big_json)], check=True)
    _delete_names(settings, args.prefix)
    if args.json:
        args.json.write_text(json.dumps({**figures, **json.loads(big_json.read_text())}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
