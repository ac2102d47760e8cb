"""CC015C intake throughput: the whole intake of a transit declaration, in one process.

Each CC015C (our fixture, 2 goods items, ~7 KB; a fresh messageIdentification and LRN each)
goes through ``IntakeService.submit`` of a gateway built by ``build_gateway`` — authenticate,
parse, identify, authorise, validate against our P5 schema, map, rules (R0028, R0318,
R0987/R0988/R0007), route, sign the bus message, build and sign the CC928C and the CC928C
notification, and one SQLite (or PostgreSQL) transaction with the journal rows, the outbox
row and the movement (created, with its step) — ``--concurrency`` submissions at a time, as
HTTP workers would hand them over. RabbitMQ is not involved (the outbox is drained by the
relay, elsewhere). Every answer is checked to be a 202 CC928C.

Run::

    .venv/bin/python -m bench.transit_intake [--n 2000] [--concurrency 64]
        [--db sqlite|postgresql://…]

It prints messages per second and the latency percentiles of one submission.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from adapters.bootstrap import build_gateway
from adapters.setup_keys import init_keys, load_demo_tokens
from gateway.pipeline.exchange import Exchange
from gateway.settings import PROJECT_HOME, Settings

FIXTURE = PROJECT_HOME / "tests" / "fixtures" / "ncts" / "cc015c_mk_rs.xml"


def declaration(template: bytes) -> bytes:
    token = uuid.uuid4().hex.upper()
    return template.replace(b"VL-015-20250314-0001", f"VL{token[:30]}".encode()).replace(
        b"MK-2025-TR-000117", f"MK{token[:20]}".encode())


async def run(n: int, concurrency: int, settings: Settings) -> tuple[float, list[float]]:
    gateway = build_gateway(settings, gateway_url="http://127.0.0.1")
    token = load_demo_tokens(settings)["trader-haulier"]
    template = FIXTURE.read_bytes()
    bodies = [declaration(template) for _ in range(n)]
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)

    async def one(body: bytes) -> None:
        async with gate:
            start = time.perf_counter()
            answer = await gateway.intake.submit(Exchange(
                body=body, channel="http", authorization=f"Bearer {token}"))
            latencies.append(time.perf_counter() - start)
            assert answer.http_status == 202 and b"CC928C" in answer.document[:200]

    for _ in range(50):                      # warm up: schemas, mappings, the journal
        await one(declaration(template))
    latencies.clear()
    start = time.perf_counter()
    await asyncio.gather(*(one(body) for body in bodies))
    elapsed = time.perf_counter() - start
    gateway.journal.close()
    return elapsed, latencies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="CC015C submissions to time")
    parser.add_argument("--concurrency", type=int, default=64,
                        help="submissions in flight at once")
    parser.add_argument("--db", default="sqlite", help="sqlite, or a PostgreSQL URL")
    args = parser.parse_args(argv)
    var = Path(tempfile.mkdtemp(prefix="transit-bench-"))
    db = f"sqlite:///{var / 'journal.db'}" if args.db == "sqlite" else args.db
    settings = Settings(var_dir=var, db_url=db)
    init_keys(settings)
    elapsed, latencies = asyncio.run(run(args.n, args.concurrency, settings))
    ordered = sorted(latencies)
    print(f"CC015C intake: {args.n} in {elapsed:.2f} s = {args.n / elapsed:,.0f} messages/s "
          f"(concurrency {args.concurrency}, journal {args.db.split(':')[0]})")
    print(f"latency ms: p50 {statistics.median(ordered) * 1000:.1f}  "
          f"p90 {ordered[int(len(ordered) * 0.9)] * 1000:.1f}  "
          f"p99 {ordered[int(len(ordered) * 0.99)] * 1000:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
