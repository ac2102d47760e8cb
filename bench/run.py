"""Benchmark: declarations over HTTP, end to end, each figure beside a /healthz yardstick.

    scripts/bench.sh [--journal sqlite|postgresql|both] [--repeat N] [--wrk] [--rate 500] …
    scripts/bench.sh --help                      (every option with its default)

Per run (``--repeat`` runs, alternating journals with ``--journal both``):

1. Starts ``gateway serve --workers N`` (uvloop + httptools, one process per core) with its own
   var dir, its own RabbitMQ names, and a fresh journal: SQLite (``synchronous=FULL``) or a new
   PostgreSQL schema ``bench_<random>`` (dropped afterwards).
2. **closed**: distinct ~10 KB WCO DEC declarations (``samples.wco.build_dec``, each its own
   LRN) from C keep-alive connections (Python load generator); waits until the outbox is empty,
   i.e. every message was published to the quorum queue with a broker confirm.
3. **open**: a fixed arrival rate (``--rate``, default half the closed-loop rate); latency
   counts from the scheduled send time; p50/p95/p99.
4. **wrk** (``--wrk``): ``wrk`` sends the same declaration with a new LRN per request (Lua
   script generated for the run) for ``--wrk-duration`` s; then checks that no answer was a
   duplicate, that the messages stored for the run equal the requests answered 202, and that
   the outbox drained (every row sent).
5. **big**: 999-item declarations over HTTP (time).
6. **stages**: in-process cost of each pipeline stage, the journal's and the relay's own rates
   (on the run's journal), and the 999-item declaration's time and peak memory.

Beside every throughput figure: ``GET /healthz`` requests/s measured with wrk on the same
server in the same run, same threads and connections, and the ratio declarations/s ÷ healthz/s
— these VMs vary by 2x from one hour to the next, and the ratio survives that.

Figures are printed, not asserted: they depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.local_server import wait_until_ready  # noqa: E402
from adapters.setup_keys import init_keys, load_demo_tokens  # noqa: E402
from bench import wrk  # noqa: E402
from bench.journal_probe import (  # noqa: E402
    DEFAULT_PG_URL,
    JournalProbe,
    drop_schema,
    postgres_url_with_schema,
    sqlite_url,
)
from gateway.settings import Settings  # noqa: E402
from samples.wco import build_dec  # noqa: E402

PHASES = ("closed", "open", "wrk", "big", "stages")
STEADY = 0.20        # healthz before and after a phase further apart than this: unsteady run
DEFAULT_PHASES = "closed,open,big,stages"


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

    async def post(self, body: bytes) -> tuple[int, bool]:
        """HTTP status, and whether the answer was marked ``X-Duplicate: true``."""
        self.writer.write(f"{self.head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        status_line = await self.reader.readline()
        length, duplicate = 0, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            lowered = line.lower()
            if lowered.startswith(b"content-length:"):
                length = int(line[15:])
            elif lowered.startswith(b"x-duplicate:"):
                duplicate = lowered[12:].strip() == b"true"
        await self.reader.readexactly(length)
        return int(status_line.split()[1]), duplicate

    def close(self) -> None:
        self.writer.close()


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)
    accepted_latencies: list[float] = field(default_factory=list)     # of the 202 answers
    statuses: dict[int, int] = field(default_factory=dict)
    duplicates: int = 0
    elapsed: float = 0.0

    def count(self, started: float, status: int, duplicate: bool) -> None:
        latency = time.perf_counter() - started
        self.latencies.append(latency)
        if status == 202:
            self.accepted_latencies.append(latency)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.duplicates += duplicate

    @property
    def accepted(self) -> int:
        return self.statuses.get(202, 0)


async def closed_loop(host: str, port: int, token: str, bodies: list[bytes],
                      concurrency: int) -> LoadResult:
    result = LoadResult()
    queue = iter(bodies)

    async def worker() -> None:
        client = RawHttpClient(host, port, token)
        await client.connect()
        for body in queue:
            t0 = time.perf_counter()
            result.count(t0, *await client.post(body))
        client.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.elapsed = time.perf_counter() - started
    return result


async def open_loop(host: str, port: int, token: str, bodies: list[bytes], rate: float,
                    pool: int = 256) -> LoadResult:
    """Send at a fixed rate; latency counts from the scheduled send time."""
    result = LoadResult()
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
        result.count(scheduled, *await client.post(body))
        clients.put_nowait(client)

    await asyncio.gather(*(one(i, b) for i, b in enumerate(bodies)))
    result.elapsed = time.perf_counter() - started
    while not clients.empty():
        clients.get_nowait().close()
    return result


def report(title: str, load: LoadResult) -> None:
    ms = [v * 1000 for v in load.latencies]
    print(f"{title}: {len(ms)} requests in {load.elapsed:.2f} s = "
          f"{len(ms) / load.elapsed:,.0f} req/s; statuses {load.statuses}; "
          f"duplicates {load.duplicates}")
    print(f"  latency ms: p50 {percentile(ms, 50):.1f}  p95 {percentile(ms, 95):.1f}  "
          f"p99 {percentile(ms, 99):.1f}  max {max(ms):.1f}  mean {statistics.fmean(ms):.1f}")
    if load.accepted and load.accepted != len(ms):
        ok = [v * 1000 for v in load.accepted_latencies]
        print(f"  latency ms of the 202 answers only: p50 {percentile(ok, 50):.1f}  "
              f"p95 {percentile(ok, 95):.1f}  p99 {percentile(ok, 99):.1f}  max {max(ok):.1f}")


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


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor() or "?")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} CPU(s) ({model}), load average {load}"


def cpu_idle(window: float = 2.0) -> float:
    """Share of the whole machine's CPU time that was idle over ``window`` s (/proc/stat)."""
    def sample() -> tuple[int, int]:
        ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        return ticks[3] + ticks[4], sum(ticks)                  # idle + iowait, all
    idle0, total0 = sample()
    time.sleep(window)
    idle1, total1 = sample()
    return (idle1 - idle0) / max(1, total1 - total0)


def wait_for_idle(limit: float, wanted: float = 0.85) -> float:
    """CPU idle share; with ``limit`` > 0, first wait up to ``limit`` s for ``wanted``."""
    deadline = time.monotonic() + limit
    idle = cpu_idle()
    while idle < wanted and time.monotonic() < deadline:
        idle = cpu_idle(5.0)
    return idle


@dataclass
class Bench:
    """One run: a server with one journal, and the phases measured against it."""

    args: argparse.Namespace
    journal: str
    figures: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.var_dir = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
        self.settings = Settings(var_dir=self.var_dir)
        init_keys(self.settings)
        self.token = load_demo_tokens(self.settings)["broker-alpha"]
        self.prefix = f"bench{uuid.uuid4().hex[:6]}."
        self.run = uuid.uuid4().hex[:6].upper()
        self.schemas: list[str] = []
        self.db_url = self._journal_url("")
        self.probe = JournalProbe(self.db_url)
        self.port = self.args.port
        self.base = f"http://127.0.0.1:{self.port}"

    def _journal_url(self, tag: str) -> str:
        if self.journal == "sqlite":
            return sqlite_url(self.var_dir, f"journal{tag}.db")
        url, schema = postgres_url_with_schema(self.args.pg_url, tag)
        self.schemas.append(schema)
        return url

    def body(self, kind: str, i: int | str, items: int | None = None) -> bytes:
        return build_dec(self.args.items if items is None else items,
                         lrn=f"{kind}{self.run}-{i}")

    def execute(self) -> dict[str, float]:
        env = {**os.environ, "GATEWAY_VAR_DIR": str(self.var_dir),
               "GATEWAY_AMQP_PREFIX": self.prefix, "GATEWAY_DB_URL": self.db_url,
               "GATEWAY_LOG_LEVEL": "warning",
               # one partner sends everything here: its share is the whole process
               "GATEWAY_MAX_IN_FLIGHT_PER_PARTNER": os.environ.get(
                   "GATEWAY_MAX_IN_FLIGHT_PER_PARTNER", "64")}
        label = ("SQLite synchronous=FULL" if self.journal == "sqlite"
                 else f"PostgreSQL schema {self.schemas[0]}")
        idle = wait_for_idle(self.args.wait_idle)
        self.figures["idle"] = 100 * idle
        print(f"\n=== journal {label}; {self.args.workers} worker process(es); {machine()}; "
              f"CPU idle over 2 s before the run {100 * idle:.0f} %; var dir {self.var_dir}")
        server = start_server(env, self.port, self.args.workers)
        try:
            self.loaded(self.body("U", i) for i in range(200))                  # warm-up
            for phase in ("closed", "open", "wrk", "big"):
                if phase in self.args.phases:
                    getattr(self, f"phase_{phase}")()
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
            _delete_names(self.settings, self.prefix)
        try:
            if "stages" in self.args.phases:
                self.phase_stages()
        finally:
            for schema in self.schemas:
                drop_schema(self.args.pg_url, schema)
        return self.figures

    def loaded(self, bodies: Iterable[bytes]) -> None:
        asyncio.run(closed_loop("127.0.0.1", self.port, self.token, list(bodies), 8))
        self.probe.wait_drained()

    def healthz(self, when: str, key: str) -> float | None:
        """GET /healthz rate with wrk, same threads and connections as the load phases."""
        if wrk.wrk_path() is None:
            print(f"  healthz {when}: not measured ({wrk.INSTALL_HINT})")
            return None
        rate, run = wrk.healthz_rate(self.base, self.var_dir, threads=self.args.wrk_threads,
                                     connections=self.args.concurrency,
                                     duration=self.args.healthz_duration)
        bad = {k: v for k, v in run.errors.items() if v}
        print(f"  healthz {when}: {rate:,.0f} req/s ({self.args.wrk_threads} threads, "
              f"{self.args.concurrency} connections, {run.result['elapsed']:.0f} s"
              f"{f', errors {bad}' if bad else ''})")
        self.figures[key] = rate
        return rate

    def ratio(self, phase: str, rate: float) -> str:
        """``rate`` ÷ the mean healthz rate measured before and after the phase."""
        rates = [self.figures[k] for k in (f"{phase}_healthz_before", f"{phase}_healthz_after")
                 if k in self.figures]
        if not rates:
            return ""
        healthz = statistics.fmean(rates)
        self.figures[f"{phase}_ratio"] = rate / healthz
        spread = (max(rates) - min(rates)) / healthz
        self.figures[f"{phase}_healthz_spread"] = 100 * spread
        steady = "" if spread <= STEADY else (
            f" (UNSTEADY: healthz before/after differ by {100 * spread:.0f} %, the machine's "
            f"speed changed during the phase; do not trust this ratio)")
        return f"; ratio to healthz {rate / healthz:.3f}{steady}"

    def check_stored(self, kind: str, accepted: int) -> None:
        stored = self.probe.stored(f"{kind}{self.run}-")
        total = sum(stored.values())
        verdict = "ok" if total == accepted else "MISMATCH"
        print(f"  journal: {total} messages stored for this phase {stored}, {accepted} answered "
              f"202: {verdict}; outbox {self.probe.outbox_states()}")

    def phase_closed(self) -> None:
        n = self.args.n
        self.healthz("before the closed loop", "closed_healthz_before")
        load = asyncio.run(closed_loop("127.0.0.1", self.port, self.token,
                                       [self.body("B", i) for i in range(n)],
                                       self.args.concurrency))
        drained = self.probe.wait_drained()
        self.healthz("after the closed loop", "closed_healthz_after")
        report(f"Throughput (closed loop, {self.args.concurrency} connections)", load)
        rate = load.accepted / load.elapsed
        self.figures.update(closed=rate, closed_p99=percentile(load.latencies, 99) * 1000,
                            closed_e2e=load.accepted / (load.elapsed + drained))
        print(f"  {rate:,.0f} declarations/s accepted{self.ratio('closed', rate)};"
              f" end to end incl. confirmed publish of all: {self.figures['closed_e2e']:,.0f}"
              f" msg/s (outbox drained {drained * 1000:.0f} ms after the last receipt)")
        self.check_stored("B", load.accepted)

    def phase_open(self) -> None:
        rate = self.args.rate or self.figures.get("closed", 0) / 2
        if not rate:
            raise SystemExit("the open-loop phase needs --rate (or the closed phase before it)")
        healthz = self.healthz("before the open loop", "open_healthz")
        load = asyncio.run(open_loop("127.0.0.1", self.port, self.token,
                                     [self.body("P", i) for i in range(self.args.n // 2)], rate))
        self.probe.wait_drained()
        report(f"Latency at {rate:,.0f} req/s (open loop)", load)
        ms = [v * 1000 for v in load.accepted_latencies] or [0.0]
        self.figures.update(open_rate=rate, open_p50=percentile(ms, 50),
                            open_p99=percentile(ms, 99),
                            open_refused=100 * (1 - load.accepted / len(load.latencies)))
        if self.figures.get("closed"):
            print(f"  offered load {rate / self.figures['closed']:.2f} of this run's closed-loop "
                  f"rate; healthz {healthz or 0:,.0f} req/s just before")
        self.check_stored("P", load.accepted)

    def phase_wrk(self) -> None:
        if wrk.wrk_path() is None:
            raise SystemExit(wrk.INSTALL_HINT)
        a = self.args
        script = self.var_dir / "declarations.lua"
        script.write_text(wrk.declaration_script(
            build_dec(a.items, lrn=wrk.PLACEHOLDER), lrn_prefix=f"W{self.run}-",
            token=self.token, send_for=a.wrk_duration))
        self.healthz("before wrk", "wrk_healthz_before")
        run = wrk.run_wrk(f"{self.base}/v1/messages", script, threads=a.wrk_threads,
                          connections=a.concurrency, duration=a.wrk_duration + a.wrk_drain)
        self.healthz("after wrk", "wrk_healthz_after")
        r = run.result
        rate = r["accepted"] / r["elapsed"]
        lat = r["latency_ms"]
        print(f"  $ {run.command}")
        print(f"wrk ({a.wrk_threads} threads, {a.concurrency} connections, "
              f"{a.wrk_duration:.0f} s of declarations): {r['answered']} answered of {r['sent']} "
              f"sent in {r['elapsed']:.2f} s = {rate:,.0f} declarations/s accepted"
              f"{self.ratio('wrk', rate)}")
        print(f"  statuses {r['statuses']}; duplicates {r['duplicates']}; socket errors "
              f"{ {k: v for k, v in r['errors'].items() if k != 'status'} }; "
              f"latency ms p50 {lat['p50']:.1f} p90 {lat['p90']:.1f} p99 {lat['p99']:.1f} "
              f"max {lat['max']:.1f}")
        if r["sent"] != r["answered"]:
            print(f"  WARNING: {r['sent'] - r['answered']} declarations unanswered when wrk "
                  f"stopped (raise --wrk-drain)")
        self.figures.update(wrk=rate, wrk_duplicates=r["duplicates"],
                            wrk_non_202=r["answered"] - r["accepted"])
        self.probe.wait_drained()
        self.check_stored("W", r["accepted"])

    def phase_big(self) -> None:
        times = []
        for i in range(self.args.big):
            body = self.body("L", i, items=999)
            t0 = time.perf_counter()
            response = httpx.post(f"{self.base}/v1/messages", content=body, timeout=60,
                                  headers={"Authorization": f"Bearer {self.token}",
                                           "Content-Type": "application/xml"})
            times.append((time.perf_counter() - t0) * 1000)
            print(f"999-item declaration ({len(body):,} bytes) over HTTP: HTTP "
                  f"{response.status_code} in {times[-1]:.0f} ms")
        self.figures["big_http_ms"] = statistics.median(times)

    def phase_stages(self) -> None:
        out = self.var_dir / "stages.json"
        subprocess.run([sys.executable, str(ROOT / "bench" / "stages.py"), "--var-dir",
                        str(self.var_dir), "--prefix", self.prefix + "stages.", "--db-url",
                        self._journal_url("stages"), "--json", str(out)], check=True)
        figures = json.loads(out.read_text())
        self.figures.update({f"stages_{k}": v for k, v in figures.items()})


SUMMARY = (("idle", "CPU idle before %", "{:.0f}"),
           ("closed", "closed loop decl/s", "{:,.0f}"),
           ("closed_healthz_before", "healthz/s before", "{:,.0f}"),
           ("closed_healthz_after", "after", "{:,.0f}"), ("closed_ratio", "ratio", "{:.3f}"),
           ("wrk", "wrk decl/s", "{:,.0f}"),
           ("wrk_healthz_before", "healthz/s before", "{:,.0f}"),
           ("wrk_healthz_after", "after", "{:,.0f}"), ("wrk_ratio", "ratio", "{:.3f}"),
           ("open_rate", "open loop req/s", "{:,.0f}"), ("open_p99", "p99 ms (202s)", "{:.1f}"),
           ("open_refused", "% not 202", "{:.0f}"),
           ("open_healthz", "healthz/s", "{:,.0f}"), ("big_http_ms", "999 items HTTP ms", "{:.0f}"),
           ("stages_big_ms", "999 in-process ms", "{:.0f}"),
           ("stages_big_mib", "999 peak MiB", "{:.1f}"),
           ("stages_journal_rate", "journal alone msg/s", "{:,.0f}"))


def summary(runs: list[tuple[str, dict[str, float]]]) -> None:
    columns = [c for c in SUMMARY if any(c[0] in figures for _, figures in runs)]
    print("\n=== Summary (one row per run; * ratio of an unsteady phase: healthz before and "
          f"after differ by more than {100 * STEADY:.0f} %)\n")
    print("| journal | " + " | ".join(title for _, title, _ in columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for journal, figures in runs:
        cells = [fmt.format(figures[key]) + _unsteady(figures, key) if key in figures else ""
                 for key, _, fmt in columns]
        print(f"| {journal} | " + " | ".join(cells) + " |")


def _unsteady(figures: dict[str, float], key: str) -> str:
    if not key.endswith("_ratio"):
        return ""
    spread = figures.get(f"{key.removesuffix('_ratio')}_healthz_spread", 0)
    return "*" if spread > 100 * STEADY else ""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add = parser.add_argument
    add("--journal", choices=("sqlite", "postgresql", "both"), default="sqlite",
        help="journal of the server under test; 'both' alternates them run by run")
    add("--pg-url", default=os.environ.get("GATEWAY_TEST_PG_URL", DEFAULT_PG_URL),
        help="PostgreSQL database for --journal postgresql (a schema bench_<random> is "
             "created in it and dropped after the run); env GATEWAY_TEST_PG_URL")
    add("--repeat", type=int, default=1, help="runs per journal (a fresh server each)")
    add("--phases", default=DEFAULT_PHASES,
        help=f"comma-separated phases to run, in this order: {', '.join(PHASES)}")
    add("--wrk", action="store_true", help="add the wrk phase to --phases")
    add("--n", type=int, default=5000,
        help="declarations in the closed-loop phase (half as many in the open loop)")
    add("--concurrency", type=int, default=64,
        help="connections of the closed loop, of wrk and of every healthz measurement")
    add("--workers", type=int, default=2, help="gateway serve --workers")
    add("--items", type=int, default=3, help="goods items per declaration (3: ~10 KB)")
    add("--port", type=int, default=18080, help="port of the gateway under test")
    add("--rate", type=float, default=0.0,
        help="arrival rate of the open-loop phase in req/s (0: half the closed-loop rate)")
    add("--wrk-threads", type=int, default=2, help="wrk threads (wrk and healthz)")
    add("--wrk-duration", type=float, default=20.0, help="seconds wrk sends declarations")
    add("--wrk-drain", type=float, default=5.0,
        help="seconds wrk then waits, idle, for the last answers before it stops")
    add("--healthz-duration", type=float, default=5.0, help="seconds of each healthz run")
    add("--wait-idle", type=float, default=0.0,
        help="before each run, wait up to this many seconds for the machine's CPU to be 85 %% "
             "idle (other work on a shared machine skews every figure)")
    add("--big", type=int, default=3, help="999-item declarations sent in the big phase")
    add("--skip-stages", action="store_true", help="drop the stages phase (older flag)")
    add("--latency-only", action="store_true",
        help="only the open-loop and big phases (older flag; needs --rate)")
    args = parser.parse_args(argv)
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = set(phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phase(s) {sorted(unknown)}; known: {', '.join(PHASES)}")
    if args.wrk and "wrk" not in phases:
        phases.append("wrk")
    phases = [p for p in PHASES if p in phases]                      # the order they run in
    if args.latency_only:
        phases = ["open", "big"]
    if args.skip_stages and "stages" in phases:
        phases.remove("stages")
    if "open" in phases and "closed" not in phases and not args.rate:
        parser.error("the open-loop phase without the closed loop needs --rate")
    args.phases = phases
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if wrk.wrk_path() is None:
        print(f"note: {wrk.INSTALL_HINT} (needed for the healthz yardstick and --wrk)")
    journals = ["sqlite", "postgresql"] if args.journal == "both" else [args.journal]
    sample = build_dec(args.items, lrn="B000000-0")
    print(f"Benchmark: WCO DEC declarations of {len(sample):,} bytes ({args.items} items), "
          f"phases {', '.join(args.phases)}; journals {', '.join(journals)} x {args.repeat}; "
          f"RabbitMQ quorum queue; {machine()}")
    runs = []
    for _ in range(args.repeat):
        for journal in journals:
            runs.append((journal, Bench(args, journal).execute()))
    summary(runs)
    return 0


def _delete_names(settings: Settings, prefix: str) -> None:
    from adapters.amqp.topology import delete_prefixed
    from adapters.bootstrap import load_topology

    asyncio.run(delete_prefixed(settings.amqp_url, load_topology(settings), prefix))


if __name__ == "__main__":
    sys.exit(main())
