"""``gateway serve --workers 2``: HTTP worker processes plus one messaging process."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import uuid
from contextlib import closing

import httpx
import pytest
from conftest import wait_for

from adapters.bootstrap import heartbeat_path
from adapters.local_server import free_port, wait_until_ready
from adapters.observability import metrics_dir
from adapters.store.sqlite_journal import sqlite_path
from gateway.settings import PROJECT_HOME, Settings
from samples.wco import build_dec

pytestmark = pytest.mark.e2e


def _outbox_states(settings: Settings) -> dict[str, int]:
    with closing(sqlite3.connect(sqlite_path(settings.journal_url))) as conn:
        return dict(conn.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state"))


def test_serve_with_workers_publishes_through_the_messaging_process(
        settings: Settings, rabbitmq: str, tokens: dict[str, str]) -> None:
    """Two HTTP workers accept; the separate messaging process publishes; all stop on SIGTERM,
    and the instance's heartbeat and metrics directory go with it."""
    port = free_port()
    env = {**os.environ, "GATEWAY_VAR_DIR": str(settings.var_dir),
           "GATEWAY_DB_URL": settings.journal_url, "GATEWAY_AMQP_PREFIX": settings.amqp_prefix,
           "GATEWAY_AMQP_URL": settings.amqp_url, "GATEWAY_INSTANCE_ID": uuid.uuid4().hex[:8]}
    server = subprocess.Popen(
        [str(PROJECT_HOME / ".venv" / "bin" / "gateway"), "serve", "--port", str(port),
         "--workers", "2"], env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    instance = settings.with_(instance_id=env["GATEWAY_INSTANCE_ID"])
    try:
        assert wait_until_ready(f"http://127.0.0.1:{port}", timeout=60), "not ready"
        assert heartbeat_path(instance).exists(), "the messaging process reports itself"
        document = build_dec(2, lrn=f"W-{uuid.uuid4().hex[:16]}")
        response = httpx.post(
            f"http://127.0.0.1:{port}/v1/messages", content=document,
            headers={"Authorization": f"Bearer {tokens['broker-alpha']}",
                     "Content-Type": "application/xml"}, timeout=30)
        assert response.status_code == 202, response.text
        wait_for(lambda: _outbox_states(settings) == {"sent": 1}, timeout=30)
        assert any(metrics_dir(instance).glob("counter_*.db")), "the workers count there"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    assert server.returncode is not None
    wait_for(lambda: not heartbeat_path(instance).exists(), timeout=30)
    assert not metrics_dir(instance).exists()
