"""Credentials and partner edits take effect live in ``gateway serve --workers 2``.

A real ``gateway serve --workers 2`` runs on a copy of the configuration (its own home, var
directory, keys, demo tokens, journal and AMQP prefix). Tokens are issued and revoked with the
real CLI (``gateway partners token``) and ``partners.toml`` is edited the way an operator would
(replaced in one step); submissions probe the effect. Which worker process served each probe
is read from the per-process Prometheus files the workers write (``var/prometheus/<instance>/
counter_<pid>.db``), so the test shows the change in *every* worker, not only in whichever one
happened to answer.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from adapters.local_server import free_port, wait_until_ready
from adapters.observability import metrics_dir
from adapters.setup_keys import init_keys, load_demo_tokens
from gateway.partners import write_atomically
from gateway.settings import PROJECT_HOME, Settings
from samples.wco import build_dec

pytestmark = pytest.mark.e2e

GATEWAY = PROJECT_HOME / ".venv" / "bin" / "gateway"
WORKERS = 2
PER_WORKER = 3          # probes each worker must answer in the expected way
STEADY = 10             # consecutive probes (all workers) that must agree at the end
LIVE_WITHIN = 5.0       # seconds; the registry looks at its files every second


@dataclass
class Probe:
    at: float           # seconds after the change
    pid: int
    status: int


@dataclass
class Served:
    """A running ``gateway serve --workers 2`` and what the test needs to drive it."""

    url: str
    settings: Settings
    env: dict[str, str]
    log: Path
    tokens: dict[str, str]
    figures: dict[str, float] = field(default_factory=dict)

    def cli(self, *argv: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(GATEWAY), *argv], env=self.env, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done

    def counts(self) -> dict[int, Counter[str]]:
        """Per worker pid: submissions accepted, and rejected by error code."""
        out: dict[int, Counter[str]] = {}
        own = self.settings.with_(instance_id=self.env["GATEWAY_INSTANCE_ID"])
        for path in metrics_dir(own).glob("counter_*.db"):
            pid = int(path.stem.split("_")[1])
            tally: Counter[str] = Counter()
            for metric in MultiProcessCollector.merge([str(path)]):
                for sample in metric.samples:
                    if sample.name == "gateway_messages_accepted_total":
                        tally["accepted"] += int(sample.value)
                    elif sample.name == "gateway_messages_rejected_total":
                        tally[sample.labels["code"]] += int(sample.value)
            out[pid] = tally
        return out

    def submit(self, token: str) -> tuple[int, int]:
        """One submission on a new connection: (worker pid that answered, HTTP status)."""
        before = self.counts()
        response = httpx.post(
            f"{self.url}/v1/messages", content=build_dec(1, lrn=f"LIVE-{uuid.uuid4().hex[:16]}"),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/xml"},
            timeout=30)
        after = self.counts()
        moved = [pid for pid, tally in after.items() if tally != before.get(pid, Counter())]
        assert len(moved) == 1, f"cannot tell which worker answered: {moved}"
        return moved[0], response.status_code

    def until_every_worker(self, token: str, expected: int, since: float) -> list[Probe]:
        """Probe until each worker answered ``expected`` PER_WORKER times and the last STEADY
        probes all did; fail after LIVE_WITHIN seconds plus the probing itself."""
        probes: list[Probe] = []
        deadline = since + LIVE_WITHIN + 10
        while time.monotonic() < deadline:
            pid, status = self.submit(token)
            probes.append(Probe(time.monotonic() - since, pid, status))
            good = Counter(p.pid for p in probes if p.status == expected)
            tail = probes[-STEADY:]
            if len(good) >= WORKERS and min(good.values()) >= PER_WORKER \
                    and len(tail) == STEADY and all(p.status == expected for p in tail):
                return probes
        pytest.fail(f"not every worker answered {expected}: "
                    f"{[(round(p.at, 2), p.pid, p.status) for p in probes[-30:]]}")

    def edit_partners(self, old: str, new: str) -> None:
        path = self.settings.config_dir / "partners.toml"
        text = path.read_text(encoding="utf-8")
        assert old in text
        write_atomically(path, text.replace(old, new, 1), 0o644)


def became_live(probes: list[Probe], expected: int) -> float:
    """Seconds after the change from which every probe answered ``expected``."""
    stale = [p.at for p in probes if p.status != expected]
    return max(stale) if stale else 0.0


@pytest.fixture
def served(settings: Settings, rabbitmq: str, tmp_path: Path) -> Iterator[Served]:
    """``gateway serve --workers 2`` on its own copy of config/, schemas/, mappings/ and var/."""
    home = tmp_path / "home"
    for part in ("config", "schemas", "mappings"):
        shutil.copytree(PROJECT_HOME / part, home / part)
    own = settings.with_(home=home, var_dir=tmp_path / "var")
    init_keys(own)
    port = free_port()
    env = {**os.environ, "GATEWAY_HOME": str(home), "GATEWAY_VAR_DIR": str(own.var_dir),
           "GATEWAY_DB_URL": own.journal_url, "GATEWAY_AMQP_PREFIX": own.amqp_prefix,
           "GATEWAY_AMQP_URL": own.amqp_url, "GATEWAY_INSTANCE_ID": uuid.uuid4().hex[:8]}
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(GATEWAY), "serve", "--port", str(port), "--workers", str(WORKERS)],
            env=env, start_new_session=True, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_until_ready(url, timeout=60), log.read_text(errors="replace")[-3000:]
        yield Served(url, own, env, log, load_demo_tokens(own))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def test_live_token_issued_then_revoked_in_every_worker(served: Served) -> None:
    """A CLI-issued token works in both workers within seconds; ``--replace`` revokes it."""
    issued = served.cli("partners", "token", "broker-alpha")
    since = time.monotonic()
    token = issued.stdout.strip()
    assert token.startswith("gwt_") and "no restart" in issued.stderr
    accepted = served.until_every_worker(token, 202, since)
    served.figures["token_live_s"] = became_live(accepted, 202)

    replaced = served.cli("partners", "token", "broker-alpha", "--replace")
    since = time.monotonic()
    refused = served.until_every_worker(token, 401, since)
    served.figures["revoked_s"] = became_live(refused, 401)
    new = replaced.stdout.strip()
    served.until_every_worker(new, 202, time.monotonic())
    assert served.submit(served.tokens["broker-alpha"])[1] == 401   # the demo token too
    assert served.figures["token_live_s"] < LIVE_WITHIN
    assert served.figures["revoked_s"] < LIVE_WITHIN
    print(f"\nlive: token accepted everywhere after {served.figures['token_live_s']:.2f} s, "
          f"revoked everywhere after {served.figures['revoked_s']:.2f} s")


def test_live_permission_edit_and_broken_edit_in_every_worker(served: Served) -> None:
    """A permission added in partners.toml applies in both workers; a broken edit is refused
    by each worker, which keeps its last good registry (nobody is locked out)."""
    legacy = served.tokens["broker-legacy"]
    served.until_every_worker(legacy, 403, time.monotonic())       # may not send WCO yet
    served.edit_partners('allowed_message_types = ["asycuda-sad-1"]\n',
                         'allowed_message_types = ["asycuda-sad-1", "wco-dec-3.6"]\n')
    since = time.monotonic()
    allowed = served.until_every_worker(legacy, 202, since)
    permission_s = became_live(allowed, 202)
    assert permission_s < LIVE_WITHIN

    served.edit_partners("[[partner]]", "[[partner]")               # no longer TOML
    since = time.monotonic()
    while time.monotonic() - since < 2.5:                           # every worker looked
        served.submit(legacy)
    served.until_every_worker(legacy, 202, since)                  # still the last good one

    def refusing_pids() -> set[int]:
        lines = served.log.read_text(errors="replace").splitlines()
        events = [json.loads(line) for line in lines if line.startswith("{")]
        return {e["pid"] for e in events if e.get("event") == "partners.reload_failed"}

    assert len(refusing_pids()) >= WORKERS, served.log.read_text(errors="replace")[-3000:]
    print(f"\nlive: permission edit applied everywhere after {permission_s:.2f} s; "
          f"broken edit refused by {len(refusing_pids())} processes")
