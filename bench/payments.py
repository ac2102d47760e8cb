"""Benchmark: a bank's 1,000-payment camt.054 through a real server, beside its /healthz rate.

    .venv/bin/python bench/payments.py [--journal sqlite|postgresql|both] [--files 5] …
    .venv/bin/python bench/payments.py --help           (every option with its default)

Per run (``--repeat`` runs, alternating journals with ``--journal both``):

1. Starts ``gateway serve --workers N`` (as ``bench/run.py`` does: its own var dir, RabbitMQ
   names and a fresh journal — SQLite ``synchronous=FULL`` or a new PostgreSQL schema
   ``bench_<random>``, dropped afterwards).
2. Measures ``GET /healthz`` with wrk (the machine's speed right now).
3. For each of ``--files`` files: writes the duty assessments the file will pay into the
   server's journal (not timed: in the sandbox they come from clearance's decisions), then
   POSTs one camt.054.001.08 (``--entries`` × ``--transactions`` payments, each paying one
   assessment in full) as ``bank-demo`` over plain HTTP and times
   * **receipt**: until the ``202`` and the signed receipt are back — authenticate, parse,
     identify, validate (XSD), map every ``TxDtls``, check the servicer, route, then in one
     journal transaction match every payment, sign and queue one payment event each, sign and
     store a ``PAY`` notice each and the bank's ``ACK``, commit;
   * **drained**: until the outbox has nothing pending — every event and the file itself
     published to ``clearance.payments`` with a broker confirm by the messaging process.
   It checks what the server did (assessments paid, outbox rows sent).
4. Measures ``GET /healthz`` again, and in-process (the bench's own process, the same code
   and config) the share of the receipt time spent before the journal: the front and back
   pipelines (parse, validate, map …) alone on the same file.

Figures are printed, not asserted: they depend on the machine (see ``docs/benchmarks.md``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.setup_keys import init_keys, load_demo_tokens  # noqa: E402
from bench import wrk  # noqa: E402
from bench.journal_probe import (  # noqa: E402
    DEFAULT_PG_URL,
    JournalProbe,
    drop_schema,
    postgres_url_with_schema,
    sqlite_url,
)
from bench.run import machine, start_server, wait_for_idle  # noqa: E402
from gateway.flows.payments.ledger import Assessment  # noqa: E402
from gateway.pipeline.exchange import Exchange  # noqa: E402
from gateway.settings import Settings  # noqa: E402
from samples.camt054 import build_camt054, sample_payments  # noqa: E402

BANK = "bank-demo"
BROKER = "broker-legacy"             # no callback: the PAY notices are stored, not pushed


@dataclass
class Run:
    """One server with one journal, and the files timed against it."""

    args: argparse.Namespace
    journal: str
    figures: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.var_dir = Path(tempfile.mkdtemp(prefix="gateway-bench-payments-"))
        self.settings = Settings(var_dir=self.var_dir)
        init_keys(self.settings)
        self.token = load_demo_tokens(self.settings)[BANK]
        self.prefix = f"benchpay{uuid.uuid4().hex[:6]}."
        self.schema: str | None = None
        if self.journal == "sqlite":
            self.db_url = sqlite_url(self.var_dir)
        else:
            self.db_url, self.schema = postgres_url_with_schema(self.args.pg_url, "pay")
        self.settings = self.settings.with_(db_url=self.db_url, amqp_prefix=self.prefix)
        self.base = f"http://127.0.0.1:{self.args.port}"
        self.count = self.args.entries * self.args.transactions

    def execute(self) -> dict[str, Any]:
        env = {**os.environ, "GATEWAY_VAR_DIR": str(self.var_dir),
               "GATEWAY_AMQP_PREFIX": self.prefix, "GATEWAY_DB_URL": self.db_url,
               "GATEWAY_LOG_LEVEL": "warning"}
        label = ("SQLite synchronous=FULL" if self.journal == "sqlite"
                 else f"PostgreSQL schema {self.schema}")
        idle = wait_for_idle(self.args.wait_idle)
        self.figures["idle"] = 100 * idle
        print(f"\n=== journal {label}; {self.args.workers} worker process(es); {machine()}; "
              f"CPU idle over 2 s before the run {100 * idle:.0f} %; var dir {self.var_dir}")
        server = start_server(env, self.args.port, self.args.workers)
        from adapters.bootstrap import build_gateway

        gateway = build_gateway(self.settings)       # the bench's own view of the journal
        try:
            self.healthz("before", "healthz_before")
            self.send(gateway, "W", warm_up=True)
            for i in range(self.args.files):
                self.send(gateway, str(i))
            self.healthz("after", "healthz_after")
            self.pipelines(gateway)
        finally:
            gateway.journal.close()
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
            _delete_names(self.settings)
            if self.schema is not None:
                drop_schema(self.args.pg_url, self.schema)
        self.summarise()
        return self.figures

    def healthz(self, when: str, key: str) -> None:
        if wrk.wrk_path() is None or self.args.healthz_duration <= 0:
            print(f"  healthz {when}: not measured"
                  f"{f' ({wrk.INSTALL_HINT})' if wrk.wrk_path() is None else ''}")
            return
        rate, _ = wrk.healthz_rate(self.base, self.var_dir, threads=self.args.wrk_threads,
                                   connections=self.args.concurrency,
                                   duration=self.args.healthz_duration)
        print(f"  healthz {when}: {rate:,.0f} req/s ({self.args.wrk_threads} threads, "
              f"{self.args.concurrency} connections, {self.args.healthz_duration:g} s)")
        self.figures[key] = rate

    def assess(self, gateway: Any, seed: int) -> list[Any]:
        """The assessments file ``seed`` pays, written to the server's journal."""
        payments = sample_payments(self.count, seed=seed)
        asyncio.run(gateway.journal.transaction(lambda tx: [
            tx.flow("payments").save_assessment(Assessment(
                reference=p.reference, conversation_id=f"bench-{seed}-{i}", partner_id=BROKER,
                mrn=None, amount_due=p.amount, currency=p.currency, decision_id=f"d-{seed}-{i}",
                assessed_at="2026-12-01T10:00:00.000Z")) for i, p in enumerate(payments)]))
        return payments

    def send(self, gateway: Any, tag: str, *, warm_up: bool = False) -> None:
        self.files_sent = seed = getattr(self, "files_sent", 0) + 1     # its own references
        payments = self.assess(gateway, seed)
        body = build_camt054("08", entries=self.args.entries,
                             transactions=self.args.transactions, seed=seed,
                             message_id=f"BENCH-{self.prefix}{tag}")
        probe = JournalProbe(self.db_url)
        sent_before = probe.outbox_states().get("sent", 0)
        started = time.perf_counter()
        response = httpx.post(f"{self.base}/v1/messages", content=body, timeout=120,
                              headers={"Authorization": f"Bearer {self.token}",
                                       "Content-Type": "application/xml"})
        receipt = time.perf_counter() - started
        if response.status_code != 202:
            raise RuntimeError(f"the file was answered {response.status_code}: "
                               f"{response.text[:500]}")
        probe.wait_drained()
        drained = time.perf_counter() - started
        reader = gateway.journal.flow("payments")
        unpaid = [p.reference for p in payments[::max(1, self.count // 50)]
                  if reader.look_up(p.reference).status != "paid"]
        sent = probe.outbox_states().get("sent", 0) - sent_before
        verdict = "ok" if not unpaid and sent == self.count + 1 else \
            f"MISMATCH (unpaid {unpaid[:3]}, {sent} sent)"
        what = "warm-up file" if warm_up else f"file {tag}"
        print(f"  {what}: {self.count} payments, {len(body):,} bytes: receipt "
              f"{receipt * 1000:.0f} ms, outbox drained {drained * 1000:.0f} ms "
              f"({sent} messages published); {verdict}")
        if not warm_up:
            self.figures.setdefault("receipts", []).append(receipt)
            self.figures.setdefault("drained", []).append(drained)

    def pipelines(self, gateway: Any) -> None:
        """Front and back pipelines alone, in the bench's process, on a file of this size."""
        body = build_camt054("08", entries=self.args.entries,
                             transactions=self.args.transactions, seed=1)
        authorization = f"Bearer {self.token}"
        times = []
        for _ in range(3):
            started = time.perf_counter()
            ex = gateway.intake.front.run(Exchange(body=body, channel="http",
                                                   authorization=authorization))
            gateway.intake.back["payment_notification"].run(ex)
            times.append(time.perf_counter() - started)
        self.figures["pipelines"] = min(times)

    def summarise(self) -> None:
        receipts, drained = self.figures.get("receipts", []), self.figures.get("drained", [])
        if not receipts:
            return
        self.figures["receipt_median"] = statistics.median(receipts)
        self.figures["receipt_min"] = min(receipts)
        self.figures["drained_median"] = statistics.median(drained)
        rates = [self.figures[k] for k in ("healthz_before", "healthz_after")
                 if k in self.figures]
        healthz = f"; healthz {statistics.fmean(rates):,.0f} req/s" if rates else ""
        print(f"  {len(receipts)} file(s): receipt median {self.figures['receipt_median']:.3f} s "
              f"(min {self.figures['receipt_min']:.3f}), outbox drained median "
              f"{self.figures['drained_median']:.3f} s; of the receipt, pipelines "
              f"(parse, validate, map …) {self.figures['pipelines']:.3f} s in-process{healthz}")


def summary(runs: list[tuple[str, dict[str, Any]]], count: int) -> None:
    print(f"\n=== Summary ({count} payments per file; times in seconds, median of the files "
          f"of a run)\n")
    print("| journal | CPU idle before % | receipt | receipt min | outbox drained | "
          "pipelines alone | healthz/s before | healthz/s after |")
    print("|---|---|---|---|---|---|---|---|")
    for journal, f in runs:
        cells = [f"{f['idle']:.0f}", *(f"{f[k]:.3f}" if k in f else "" for k in (
            "receipt_median", "receipt_min", "drained_median", "pipelines")),
            *(f"{f[k]:,.0f}" if k in f else "" for k in ("healthz_before", "healthz_after"))]
        print(f"| {journal} | " + " | ".join(cells) + " |")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add = parser.add_argument
    add("--journal", choices=("sqlite", "postgresql", "both"), default="both",
        help="journal of the server under test; 'both' alternates them run by run")
    add("--pg-url", default=os.environ.get("GATEWAY_TEST_PG_URL", DEFAULT_PG_URL),
        help="PostgreSQL database for --journal postgresql (a schema bench_pay<random> is "
             "created in it and dropped after the run); env GATEWAY_TEST_PG_URL")
    add("--repeat", type=int, default=1, help="runs per journal (a fresh server each)")
    add("--files", type=int, default=5, help="files timed per run (after one warm-up file)")
    add("--entries", type=int, default=10, help="entries (Ntry) per file")
    add("--transactions", type=int, default=100, help="payments (TxDtls) per entry")
    add("--workers", type=int, default=2, help="gateway serve --workers")
    add("--port", type=int, default=18090, help="port of the gateway under test")
    add("--concurrency", type=int, default=64, help="connections of the healthz measurement")
    add("--wrk-threads", type=int, default=2, help="wrk threads of the healthz measurement")
    add("--healthz-duration", type=float, default=5.0,
        help="seconds of each healthz measurement (0: none)")
    add("--wait-idle", type=float, default=0.0,
        help="before each run, wait up to this many seconds for the machine's CPU to be 85 %% "
             "idle (other work on a shared machine skews every figure)")
    args = parser.parse_args(argv)
    if args.files < 1 or args.entries < 1 or args.transactions < 1:
        parser.error("--files, --entries and --transactions must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    journals = ["sqlite", "postgresql"] if args.journal == "both" else [args.journal]
    count = args.entries * args.transactions
    print(f"Benchmark: camt.054.001.08 files of {count:,} payments ({args.entries} entries x "
          f"{args.transactions}), {args.files} per run; journals {', '.join(journals)} x "
          f"{args.repeat}; {machine()}")
    runs = []
    for _ in range(args.repeat):
        for journal in journals:
            runs.append((journal, Run(args, journal).execute()))
    summary(runs, count)
    return 0


def _delete_names(settings: Settings) -> None:
    from adapters.amqp.topology import delete_prefixed
    from adapters.bootstrap import load_topology

    asyncio.run(delete_prefixed(settings.amqp_url, load_topology(settings),
                                settings.amqp_prefix))


if __name__ == "__main__":
    sys.exit(main())
