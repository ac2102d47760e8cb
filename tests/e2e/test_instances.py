"""``gateway serve --workers 2`` as an operator runs it: instances, and the messaging process.

Each test runs real ``gateway serve`` processes on a var directory of its own (``gateway keys
init``), its own AMQP prefix (deleted after) and free ports. It shows that

* a messaging process killed with SIGKILL is restarted (one ``messaging.restarted`` line) and
  the outbox drains again — also of what was accepted while it was dead;
* a messaging process that dies at once every time (here: the sandbox clearance key is
  missing, which only the messaging process needs) makes ``serve`` stop and exit non-zero;
* two instances sharing ONE var directory and ONE journal each have their own id, heartbeat
  and metrics: one's ``/readyz`` follows its own messaging process only, one's ``/metrics``
  counts its own submissions only, and one's stop leaves the other's files.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import wait_for
from prometheus_client.parser import text_string_to_metric_families

from adapters.bootstrap import heartbeat_path
from adapters.local_server import free_port, wait_until_ready
from adapters.observability import metrics_dir
from adapters.setup_keys import load_demo_tokens
from gateway.settings import PROJECT_HOME, Settings
from samples.wco import build_dec

pytestmark = pytest.mark.e2e

GATEWAY = PROJECT_HOME / ".venv" / "bin" / "gateway"


@dataclass
class Served:
    """One running ``gateway serve --workers 2`` and what a test reads from it."""

    process: subprocess.Popen[bytes]
    url: str
    env: dict[str, str]
    log: Path
    settings: Settings
    tokens: dict[str, str]
    instance_id: str = ""
    stopped: bool = field(default=False)

    def events(self) -> list[dict[str, Any]]:
        lines = self.log.read_text(errors="replace").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def own(self) -> Settings:
        return self.settings.with_(instance_id=self.instance_id)

    def messaging_pid(self) -> int:
        return int(json.loads(heartbeat_path(self.own()).read_text("utf-8"))["pid"])

    def ready(self) -> int:
        return httpx.get(f"{self.url}/readyz", timeout=5).status_code

    def submit(self, count: int) -> None:
        for _ in range(count):
            response = httpx.post(
                f"{self.url}/v1/messages",
                content=build_dec(1, lrn=f"INST-{uuid.uuid4().hex[:16]}"),
                headers={"Authorization": f"Bearer {self.tokens['broker-alpha']}",
                         "Content-Type": "application/xml"}, timeout=30)
            assert response.status_code == 202, response.text

    def accepted(self) -> float:
        """The instance's ``gateway_messages_accepted_total`` as its ``/metrics`` says."""
        text = httpx.get(f"{self.url}/metrics", timeout=5).text
        return sum(sample.value for family in text_string_to_metric_families(text)
                   for sample in family.samples
                   if sample.name == "gateway_messages_accepted_total")

    def outbox(self) -> dict[str, int]:
        done = subprocess.run([str(GATEWAY), "outbox", "status"], env=self.env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return dict(json.loads(done.stdout))

    def stop(self) -> int:
        if not self.stopped:
            self.stopped = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=60)
        return int(self.process.returncode)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@pytest.fixture
def var_dir(tmp_path: Path, settings: Settings) -> Settings:
    """A var directory of the test's own, with keys and demo tokens from ``gateway keys
    init``; the journal in it (SQLite) and the test's AMQP prefix."""
    own = settings.with_(var_dir=tmp_path / "var", db_url="")
    done = subprocess.run([str(GATEWAY), "keys", "init"], env=_env(own), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return own


def _env(own: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("GATEWAY_INSTANCE_ID", "GATEWAY_DB_URL", "PROMETHEUS_MULTIPROC_DIR")}
    env.update({"GATEWAY_VAR_DIR": str(own.var_dir), "GATEWAY_AMQP_PREFIX": own.amqp_prefix,
                "GATEWAY_AMQP_URL": own.amqp_url})
    return env


@pytest.fixture
def serve(var_dir: Settings, rabbitmq: str, tmp_path: Path) -> Iterator[Any]:
    """Start ``gateway serve --workers 2 [args]`` on the test's var directory; stopped after."""
    started: list[Served] = []

    def start(*args: str, wait_ready: bool = True) -> Served:
        port = free_port()
        log = tmp_path / f"serve-{len(started)}.log"
        env = _env(var_dir)
        with log.open("wb") as out:
            process = subprocess.Popen(
                [str(GATEWAY), "serve", "--port", str(port), "--workers", "2", *args],
                env=env, start_new_session=True, stdout=out, stderr=subprocess.STDOUT)
        served = Served(process, f"http://127.0.0.1:{port}", env, log, var_dir,
                        load_demo_tokens(var_dir))
        started.append(served)
        starting = wait_for(lambda: [e for e in served.events()
                                     if e.get("event") == "serve.starting"], timeout=30)
        served.instance_id = starting[0]["instance_id"]
        if wait_ready:
            assert wait_until_ready(served.url, timeout=60), served.tail()
        return served

    yield start
    for served in started:
        served.stop()


def test_serve_restarts_killed_messaging_process_and_the_outbox_drains(serve: Any) -> None:
    """SIGKILL of the messaging process: accepted declarations wait in the outbox, the process
    is restarted (one ``messaging.restarted`` line), the outbox drains, ``/readyz`` is 200."""
    served = serve()
    served.submit(2)
    wait_for(lambda: served.outbox() == {"sent": 2}, timeout=30)
    dead = served.messaging_pid()

    os.kill(dead, signal.SIGKILL)
    served.submit(3)                                   # still 202 while it is dead …
    restarted = wait_for(lambda: [e for e in served.events()
                                  if e.get("event") == "messaging.restarted"], timeout=30)
    wait_for(lambda: served.messaging_pid() != dead, timeout=30)
    served.submit(2)
    wait_for(lambda: served.outbox() == {"sent": 7}, timeout=60)    # … and all are published
    wait_for(lambda: served.ready() == 200, timeout=30)

    (line,) = restarted
    assert line["exit_code"] == -9 and line["signal"] == "SIGKILL" and line["attempt"] == 1
    assert line["previous_pid"] == dead and line["messaging_pid"] == served.messaging_pid()
    assert line["level"] == "warning"
    assert served.stop() == 0
    assert not heartbeat_path(served.own()).exists()
    assert not metrics_dir(served.own()).exists()


def test_serve_exits_non_zero_when_messaging_process_keeps_dying(
        serve: Any, var_dir: Settings) -> None:
    """A messaging process that dies at start every time is restarted with back-off, then
    ``serve`` gives up: ``messaging.gave_up``, the server stops, the exit status is 1."""
    (var_dir.keys_dir / "clearance.key").unlink()       # only the sandbox stand-in needs it
    started = time.monotonic()
    served = serve("--sandbox", wait_ready=False)
    returncode = served.process.wait(timeout=120)
    elapsed = time.monotonic() - started
    served.stopped = True

    assert returncode == 1, served.tail()
    events = served.events()
    restarts = [e for e in events if e.get("event") == "messaging.restarted"]
    assert [(e["attempt"], e["after_seconds"]) for e in restarts] == [
        (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0)]
    assert all(e["exit_code"] == 1 for e in restarts)
    (gave_up,) = [e for e in events if e.get("event") == "messaging.gave_up"]
    assert gave_up["deaths"] == 5 and gave_up["level"] == "error"
    assert 15 <= elapsed < 90
    with pytest.raises(httpx.HTTPError):             # the HTTP workers are gone too
        httpx.get(f"{served.url}/healthz", timeout=2)


def test_two_instances_sharing_a_var_dir_report_only_their_own_processes(
        serve: Any, var_dir: Settings) -> None:
    """Two instances on one var directory and one journal: each has its own id, heartbeat and
    metrics; a frozen messaging process turns only its own instance's ``/readyz`` 503; each
    ``/metrics`` counts its own submissions; one's stop leaves the other's files."""
    one, two = serve(), serve()
    assert one.instance_id != two.instance_id
    assert heartbeat_path(one.own()) != heartbeat_path(two.own())
    assert one.messaging_pid() != two.messaging_pid()
    one.submit(3)
    two.submit(5)
    wait_for(lambda: one.outbox() == {"sent": 8}, timeout=30)      # one shared journal
    assert (one.accepted(), two.accepted()) == (3, 5)

    frozen = one.messaging_pid()
    os.kill(frozen, signal.SIGSTOP)      # alive for its supervisor, silent for /readyz
    try:
        readiness: list[tuple[int, int]] = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and (not readiness or readiness[-1][0] != 503):
            readiness.append((one.ready(), two.ready()))
            time.sleep(0.2)
        for _ in range(10):                                        # and it stays that way
            readiness.append((one.ready(), two.ready()))
            time.sleep(0.2)
    finally:
        os.kill(frozen, signal.SIGCONT)
    assert readiness[-1] == (503, 200), readiness
    assert all(theirs == 200 for _, theirs in readiness), readiness
    wait_for(lambda: one.ready() == 200, timeout=15)               # thawed: ready again

    assert one.stop() == 0
    assert not heartbeat_path(one.own()).exists() and not metrics_dir(one.own()).exists()
    assert heartbeat_path(two.own()).exists() and any(metrics_dir(two.own()).glob("*.db"))
    assert two.ready() == 200 and two.accepted() == 5
    two.submit(1)
    assert two.accepted() == 6
    print(f"\ntwo instances: readiness samples (one, two) while one's messaging was frozen: "
          f"{readiness}")


def test_messaging_process_stops_when_its_serve_is_killed(serve: Any) -> None:
    """A SIGKILL of ``serve`` itself leaves no messaging process behind: it sees its
    supervisor gone (``messaging.orphaned``) and stops within seconds."""
    served = serve()
    messaging = served.messaging_pid()
    os.kill(served.process.pid, signal.SIGKILL)          # the supervisor only, not its group
    served.process.wait(timeout=30)

    def gone() -> bool:
        try:
            os.kill(messaging, 0)
        except ProcessLookupError:
            return True
        return False

    wait_for(gone, timeout=15)
    orphaned = [e for e in served.events() if e.get("event") == "messaging.orphaned"]
    assert [e["pid"] for e in orphaned] == [messaging]
