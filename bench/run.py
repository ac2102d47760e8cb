"""Benchmark: declarations over HTTP, end to end, plus an in-process per-stage breakdown.

    scripts/bench.sh [--n 5000] [--concurrency 64] [--workers 2] [--items 3]

1. Starts ``gateway serve --workers N`` (uvloop + httptools, one process per core) with a fresh
   SQLite journal (``synchronous=FULL``) and its own RabbitMQ names.
2. **Throughput**: N distinct ~10 KB WCO DEC declarations from C keep-alive connections
   (closed loop) -> validated, mapped, journaled, signed receipt; then waits until the outbox
   is empty, i.e. every message was published to the quorum queue with a broker confirm.
   Prints accepted/s, end-to-end published/s and latency percentiles.
3. **Latency at half rate**: the same at a fixed arrival rate of half the measured throughput
   (open loop), p50/p95/p99.
4. **Stages** (in-process, one core): parse, identify, validate, map, route+sign bus message,
   sign receipt, journal commit (group commit, as the server does), confirmed publish.
5. **999 items**: time and peak memory of one 999-item declaration through the in-process
   pipeline, and its end-to-end HTTP time.

Figures are printed, not asserted: they depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.local_server import wait_until_ready  # noqa: E402
from adapters.setup_keys import init_keys, load_demo_tokens  # noqa: E402
from gateway.settings import Settings  # noqa: E402
from samples.wco import build_dec  # noqa: E402


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


class RawHttpClient:
    """A minimal keep-alive HTTP/1.1 client: the load generator must cost little CPU."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port = host, port
        self.head = (f"POST /v1/messages HTTP/1.1\r\nHost: {host}:{port}\r\n"
                     f"Authorization: Bearer {token}\r\nContent-Type: application/xml\r\n")

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def post(self, body: bytes) -> int:
        self.writer.write(f"{self.head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        status_line = await self.reader.readline()
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await self.reader.readexactly(length)
        return int(status_line.split()[1])

    def close(self) -> None:
        self.writer.close()


async def closed_loop(host: str, port: int, token: str, bodies: list[bytes],
                      concurrency: int) -> tuple[list[float], dict[int, int], float]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    queue = iter(bodies)

    async def worker() -> None:
        client = RawHttpClient(host, port, token)
        await client.connect()
        for body in queue:
            t0 = time.perf_counter()
            status = await client.post(body)
            latencies.append(time.perf_counter() - t0)
            statuses[status] = statuses.get(status, 0) + 1
        client.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, statuses, time.perf_counter() - started


async def open_loop(host: str, port: int, token: str, bodies: list[bytes], rate: float,
                    pool: int = 256) -> tuple[list[float], dict[int, int], float]:
    """Send at a fixed rate; latency counts from the scheduled send time."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    clients: asyncio.Queue[RawHttpClient] = asyncio.Queue()
    for _ in range(pool):
        client = RawHttpClient(host, port, token)
        await client.connect()
        clients.put_nowait(client)
    started = time.perf_counter()

    async def one(i: int, body: bytes) -> None:
        scheduled = started + i / rate
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        client = await clients.get()
        status = await client.post(body)
        latencies.append(time.perf_counter() - scheduled)
        statuses[status] = statuses.get(status, 0) + 1
        clients.put_nowait(client)

    await asyncio.gather(*(one(i, b) for i, b in enumerate(bodies)))
    elapsed = time.perf_counter() - started
    while not clients.empty():
        clients.get_nowait().close()
    return latencies, statuses, elapsed


def wait_published(db: Path, timeout: float = 120.0) -> float:
    """Seconds until no outbox row is pending (all confirmed by RabbitMQ)."""
    started = time.perf_counter()
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        while time.perf_counter() - started < timeout:
            pending = conn.execute("SELECT COUNT(*) FROM outbox WHERE state = 'pending'"
                                   ).fetchone()[0]
            if pending == 0:
                return time.perf_counter() - started
            time.sleep(0.02)
    finally:
        conn.close()
    raise RuntimeError("outbox not drained within the timeout")


def outbox_states(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return dict(conn.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state"))
    finally:
        conn.close()


def report(title: str, latencies: list[float], statuses: dict[int, int], elapsed: float) -> None:
    ms = [v * 1000 for v in latencies]
    print(f"{title}: {len(ms)} requests in {elapsed:.2f} s = {len(ms) / elapsed:,.0f} req/s; "
          f"statuses {statuses}")
    print(f"  latency ms: p50 {percentile(ms, 50):.1f}  p95 {percentile(ms, 95):.1f}  "
          f"p99 {percentile(ms, 99):.1f}  max {max(ms):.1f}  mean {statistics.fmean(ms):.1f}")


def start_server(env: dict[str, str], port: int, workers: int) -> subprocess.Popen[bytes]:
    log = open(Path(env["GATEWAY_VAR_DIR"]) / "gateway.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gateway"), "serve", "--port", str(port),
         "--workers", str(workers)], env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)
    if wait_until_ready(f"http://127.0.0.1:{port}", timeout=60):
        return process
    process.kill()
    raise RuntimeError("gateway did not become ready; see gateway.log in the bench var dir")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5000, help="declarations per phase")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--items", type=int, default=3, help="goods items per declaration")
    parser.add_argument("--port", type=int, default=18080)
    parser.add_argument("--skip-stages", action="store_true")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="arrival rate of the latency phase (default: half the throughput)")
    parser.add_argument("--latency-only", action="store_true",
                        help="skip the throughput phase (needs --rate)")
    args = parser.parse_args()

    var_dir = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    settings = Settings(var_dir=var_dir)
    init_keys(settings)
    token = load_demo_tokens(settings)["broker-alpha"]
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    db = var_dir / "journal.db"
    env = {**os.environ, "GATEWAY_VAR_DIR": str(var_dir), "GATEWAY_AMQP_PREFIX": prefix,
           "GATEWAY_DB_URL": f"sqlite:///{db}", "GATEWAY_LOG_LEVEL": "warning"}
    run = uuid.uuid4().hex[:6].upper()
    sample = build_dec(args.items, lrn=f"B{run}-0")
    print(f"Benchmark: {args.n} WCO DEC declarations of {len(sample):,} bytes ({args.items} "
          f"items), {args.concurrency} connections, {args.workers} worker process(es), "
          f"{os.cpu_count()} CPU(s); journal SQLite synchronous=FULL; RabbitMQ quorum queue")
    bodies = [build_dec(args.items, lrn=f"B{run}-{i}") for i in range(args.n)]
    paced = [build_dec(args.items, lrn=f"P{run}-{i}") for i in range(args.n // 2)]
    server = start_server(env, args.port, args.workers)
    try:
        asyncio.run(closed_loop("127.0.0.1", args.port, token, bodies[:200], 8))   # warm-up
        wait_published(db)
        rate = args.rate
        if not args.latency_only:
            lat, statuses, elapsed = asyncio.run(
                closed_loop("127.0.0.1", args.port, token, bodies[200:], args.concurrency))
            drained = wait_published(db)
            report("\nThroughput (closed loop)", lat, statuses, elapsed)
            total = len(lat)
            print(f"  end to end incl. confirmed publish of all: "
                  f"{total / (elapsed + drained):,.0f} msg/s (outbox drained "
                  f"{drained * 1000:.0f} ms after the last receipt); outbox {outbox_states(db)}")
            rate = rate or max(50.0, total / elapsed / 2)
        lat2, statuses2, elapsed2 = asyncio.run(
            open_loop("127.0.0.1", args.port, token, paced, rate))
        wait_published(db)
        report(f"\nLatency at {rate:,.0f} req/s (open loop)", lat2, statuses2, elapsed2)
        big = build_dec(999, lrn=f"L{run}")
        t0 = time.perf_counter()
        response = httpx.post(f"http://127.0.0.1:{args.port}/v1/messages", content=big,
                              headers={"Authorization": f"Bearer {token}",
                                       "Content-Type": "application/xml"}, timeout=60)
        print(f"\n999-item declaration ({len(big):,} bytes) over HTTP: HTTP "
              f"{response.status_code} in {(time.perf_counter() - t0) * 1000:.0f} ms")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        _delete_names(settings, prefix)
    if not args.skip_stages:
        subprocess.run([sys.executable, str(ROOT / "bench" / "stages.py"), "--var-dir",
                        str(var_dir), "--prefix", prefix + "stages."], check=True)
    return 0


def _delete_names(settings: Settings, prefix: str) -> None:
    from adapters.amqp.topology import delete_prefixed
    from gateway.bus_topology import Topology

    asyncio.run(delete_prefixed(settings.amqp_url,
                                Topology.load(settings.config_dir / "topology.toml"), prefix))


if __name__ == "__main__":
    sys.exit(main())
