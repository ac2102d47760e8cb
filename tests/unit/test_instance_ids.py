"""One instance, one id: settings, metrics directory, lease owners, and the messaging supervisor.

The supervisor is exercised with real child processes (short Python one-liners that exit at
once or sleep) and short back-offs, so its restart and give-up rules run as in ``serve``.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from adapters.messaging_process import MessagingSupervisor
from adapters.observability import fresh_metrics_dir, metrics_dir, remove_metrics_dir
from adapters.store.sqlite_journal import SqliteJournal
from gateway.errors import ConfigurationError
from gateway.ports import AcceptedMessage, OutboundMessage
from gateway.settings import Settings


def test_instance_id_from_environment_is_kept_when_safe() -> None:
    """A safe ``GATEWAY_INSTANCE_ID`` is the instance id as given."""
    assert Settings.from_env({"GATEWAY_INSTANCE_ID": "gw-b.2_x"}).instance_id == "gw-b.2_x"


@pytest.mark.parametrize("value", ["../etc", "a/b", "a:b", "-lead", "x" * 49, "sp ace", "é"])
def test_instance_id_from_environment_refused_when_unsafe(value: str) -> None:
    """An instance id that is not a short safe name is refused at start-up."""
    with pytest.raises(ConfigurationError, match="GATEWAY_INSTANCE_ID"):
        Settings.from_env({"GATEWAY_INSTANCE_ID": value})


def test_instance_id_generated_differs_per_start_and_is_safe() -> None:
    """Without ``GATEWAY_INSTANCE_ID`` every start gets a new, safe id (host-pid-random)."""
    ids = {Settings.from_env({}).instance_id for _ in range(20)}
    assert len(ids) == 20
    for value in ids:
        assert Settings.from_env({"GATEWAY_INSTANCE_ID": value}).instance_id == value
        assert f"-{os.getpid()}-" in value


def test_metrics_dir_is_per_instance_and_cleaned_only_for_its_own(tmp_path: Path) -> None:
    """Each instance starts and stops with its own metrics directory; others' files stay."""
    one = Settings(var_dir=tmp_path, instance_id="one")
    two = Settings(var_dir=tmp_path, instance_id="two")
    assert metrics_dir(one) != metrics_dir(two)
    fresh_metrics_dir(two)
    (metrics_dir(two) / "counter_1.db").write_bytes(b"two's")
    (metrics_dir(one)).mkdir(parents=True)
    (metrics_dir(one) / "counter_9.db").write_bytes(b"stale")
    assert list(fresh_metrics_dir(one).iterdir()) == []          # its own stale files go
    (metrics_dir(one) / "counter_2.db").write_bytes(b"one's")
    remove_metrics_dir(one)
    assert not metrics_dir(one).exists()
    assert (metrics_dir(two) / "counter_1.db").read_bytes() == b"two's"


def test_claim_reports_the_owner_whose_lease_ran_out(tmp_path: Path) -> None:
    """A claim of rows another owner's expired lease held names that owner; free rows none."""
    journal = SqliteJournal(tmp_path / "journal.db").open()
    try:
        conversation = uuid.uuid4().hex
        asyncio.run(journal.record(AcceptedMessage(
            receipt_id=uuid.uuid4().hex, conversation_id=conversation, partner_id="p",
            idempotency_key=uuid.uuid4().hex, message_type="wco-dec-3.6", channel="rest",
            received_at="2026-01-02T03:04:05.000Z", sha256=uuid.uuid4().hex, body=b"x",
            canonical_json=b"{}", receipt_xml=b"<R/>", receipt={}, reference=None,
            outbox=tuple(OutboundMessage(id=uuid.uuid4().hex, conversation_id=conversation,
                                         kind="declaration", exchange="e", routing_key="k",
                                         body=b"{}", headers={}) for _ in range(2)))))
        first = asyncio.run(journal.claim("a:1", 10, 0.2))
        assert [r.previous_owner for r in first] == [None, None]
        time.sleep(0.3)
        taken = asyncio.run(journal.claim("b:2", 10, 30))
        assert [(r.seq, r.previous_owner, r.attempts) for r in taken] == [
            (r.seq, "a:1", 2) for r in first]
        asyncio.run(journal.settle([], {taken[0].seq: "boom"}, {}))   # released, not expired
        again = asyncio.run(journal.claim("c:3", 10, 30))
        assert [(r.seq, r.previous_owner) for r in again] == [(taken[0].seq, None)]
    finally:
        journal.close()


def _child(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_supervisor_restarts_a_dead_process_with_backoff_and_logs_each_restart() -> None:
    """A process that dies is started again after 1x, 2x … the first delay, one line each."""
    gave_up = threading.Event()
    supervisor = MessagingSupervisor(_child("import sys; sys.exit(3)"), on_give_up=gave_up.set,
                                     first_delay=0.1, max_deaths=4, window=60)
    with capture_logs() as logs:
        started = time.monotonic()
        supervisor.start()
        assert gave_up.wait(20), "it should give up after the fourth death"
        elapsed = time.monotonic() - started
        supervisor.stop()
    restarts = [e for e in logs if e["event"] == "messaging.restarted"]
    assert [(e["exit_code"], e["attempt"], e["after_seconds"]) for e in restarts] == [
        (3, 1, 0.1), (3, 2, 0.2), (3, 3, 0.4)]
    assert elapsed >= 0.7
    (final,) = [e for e in logs if e["event"] == "messaging.gave_up"]
    assert final["log_level"] == "error" and final["deaths"] == 4
    assert supervisor.gave_up and supervisor.restarts == 3


def test_supervisor_reports_the_signal_that_killed_the_process() -> None:
    """A process killed by a signal is restarted; the line names the signal."""
    supervisor = MessagingSupervisor(
        _child("import os, signal; os.kill(os.getpid(), signal.SIGKILL)"),
        on_give_up=lambda: None, first_delay=0.05, max_deaths=2, window=60)
    with capture_logs() as logs:
        supervisor.start()
        deadline = time.monotonic() + 10
        while not supervisor.gave_up and time.monotonic() < deadline:
            time.sleep(0.02)
        supervisor.stop()
    (restart,) = [e for e in logs if e["event"] == "messaging.restarted"]
    assert restart["exit_code"] == -9 and restart["signal"] == "SIGKILL"


def test_supervisor_stop_terminates_and_never_restarts() -> None:
    """``stop()`` terminates a running process; no restart follows and it does not give up."""
    gave_up = threading.Event()
    supervisor = MessagingSupervisor(_child("import time; time.sleep(60)"),
                                     on_give_up=gave_up.set, first_delay=0.01, max_deaths=1)
    with capture_logs() as logs:
        supervisor.start()
        pid = supervisor.pid
        time.sleep(0.2)
        started = time.monotonic()
        supervisor.stop()
        assert time.monotonic() - started < 5
        time.sleep(0.2)
    assert supervisor.pid == pid, "no new process was started"
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)                                   # terminated and reaped
    assert not gave_up.is_set() and supervisor.restarts == 0
    assert not [e for e in logs if e["event"].startswith("messaging.")]
