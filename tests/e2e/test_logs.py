"""``gateway serve --workers 2 --sandbox``: every line the processes write is a whole JSON object.

The server runs as operators run it, its stdout and stderr on pipes shared by the supervisor,
two HTTP workers and the messaging process. Traffic: aborted uploads on raw sockets, valid and
invalid submissions, an unknown conversation, a decision of the clearance stand-in and its
push. Then the server is stopped by a signal and every line of both streams is parsed.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import uuid
from typing import IO, Any

import httpx
import pytest
from conftest import wait_for

from adapters.local_server import free_port, wait_until_ready
from adapters.observability import REPEAT_LIMIT
from gateway.settings import PROJECT_HOME, Settings
from samples.wco import build_dec

pytestmark = pytest.mark.e2e
ABORTED = 200


class Captured:
    """Drains one stream of the server into a list of lines as they come."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._drain, args=(stream,), daemon=True)
        self._thread.start()

    def _drain(self, stream: IO[bytes]) -> None:
        for raw in stream:
            self.lines.append(raw.decode("utf-8", "replace"))

    def join(self) -> None:
        self._thread.join(timeout=30)

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in list(self.lines)]


def whole_objects(name: str, lines: list[str]) -> list[dict[str, Any]]:
    """Every line parsed; fails on the first line that is not one whole JSON object."""
    records = []
    for number, line in enumerate(lines, 1):
        assert line.endswith("\n"), f"{name} line {number} is unterminated: {line[:300]!r}"
        try:
            record = json.loads(line)
        except ValueError:
            pytest.fail(f"{name} line {number} is not a JSON object: {line[:300]!r}")
        assert isinstance(record, dict), f"{name} line {number}: {line[:300]!r}"
        records.append(record)
    return records


def abort_uploads(port: int, count: int, token: str) -> None:
    """Announce a 1 MB body, send 3 bytes, hang up (with a token: a request without one is
    answered 401 before its body is read)."""
    for _ in range(count):
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"POST /v1/messages HTTP/1.1\r\nHost: gateway\r\n"
                      b"Authorization: Bearer " + token.encode() + b"\r\n"
                      b"Content-Type: application/xml\r\nContent-Length: 1000000\r\n\r\n<a>")


def start(settings: Settings, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "GATEWAY_VAR_DIR": str(settings.var_dir),
           "GATEWAY_DB_URL": settings.journal_url, "GATEWAY_AMQP_PREFIX": settings.amqp_prefix,
           "GATEWAY_AMQP_URL": settings.amqp_url, "GATEWAY_INSTANCE_ID": uuid.uuid4().hex[:8],
           "GATEWAY_LOG_LEVEL": "info"}
    return subprocess.Popen(
        [str(PROJECT_HOME / ".venv" / "bin" / "gateway"), "serve", "--port", str(port),
         "--workers", "2", "--sandbox"], env=env, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def drive(base: str, port: int, token: str, out: Captured) -> str:
    """The traffic; returns the conversation id of the accepted declaration."""
    abort_uploads(port, ABORTED, token)
    wait_for(lambda: sum(r["event"] == "http.client_disconnected" for r in out.records())
             >= REPEAT_LIMIT, timeout=30)
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/xml"}
    with httpx.Client(base_url=base, timeout=30) as client:
        accepted = client.post("/v1/messages", headers=auth,
                               content=build_dec(2, lrn=f"L-{uuid.uuid4().hex[:16]}"))
        assert accepted.status_code == 202, accepted.text
        assert client.post("/v1/messages", headers=auth, content=b"<broken").status_code == 400
        assert client.post("/v1/messages", headers={"Content-Type": "application/xml"},
                           content=build_dec(1)).status_code == 401
        assert client.get("/v1/conversations/no-such-conversation",
                          headers=auth).status_code == 404
    conversation = accepted.headers["x-conversation-id"]
    wait_for(lambda: any(r["event"] == "push.delivered" and r.get("conversation_id")
                         == conversation for r in out.records()), timeout=60)
    return conversation


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM],
                         ids=["SIGINT-group", "SIGTERM-supervisor"])
def test_serve_workers_every_line_of_stdout_and_stderr_is_one_json_object(
        settings: Settings, rabbitmq: str, tokens: dict[str, str],
        stop_signal: signal.Signals) -> None:
    """Supervisor, workers and messaging process write only whole JSON objects, through
    start-up, traffic (aborted uploads included), decisions, pushes and shutdown (Ctrl-C to
    the process group, or SIGTERM to the supervisor alone)."""
    port = free_port()
    server = start(settings, port)
    assert server.stdout is not None and server.stderr is not None
    out, err = Captured(server.stdout), Captured(server.stderr)
    try:
        assert wait_until_ready(f"http://127.0.0.1:{port}", timeout=60), "not ready"
        conversation = drive(f"http://127.0.0.1:{port}", port, tokens["broker-alpha"], out)
    finally:
        if stop_signal == signal.SIGINT:
            os.killpg(server.pid, signal.SIGINT)        # what Ctrl-C in a terminal does
        else:
            server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        out.join()
        err.join()
    records = whole_objects("stdout", out.lines)
    whole_objects("stderr", err.lines)
    assert err.lines == []
    check_disconnects(records)
    check_ids(records, conversation)
    check_clean(records)


def check_disconnects(records: list[dict[str, Any]]) -> None:
    """Aborted uploads: info lines, bounded in number, the rest counted in summaries."""
    lines = [r for r in records if r["event"] == "http.client_disconnected"]
    assert {r["level"] for r in lines} == {"info"}
    assert {(r["method"], r["path"], r["peer"]) for r in lines} == {
        ("POST", "/v1/messages", "127.0.0.1")}
    assert all(r["bytes_read"] == 3 for r in lines)
    workers = {r["pid"] for r in lines}
    assert len(lines) <= REPEAT_LIMIT * len(workers) <= REPEAT_LIMIT * 2
    suppressed = sum(r["suppressed"] for r in records if r["event"] == "log.suppressed"
                     and r["suppressed_event"] == "http.client_disconnected")
    assert len(lines) + suppressed == ABORTED
    assert len(records) < 150, "the aborted uploads must not flood the log"


def check_ids(records: list[dict[str, Any]], conversation: str) -> None:
    """Intake, decision and push lines carry the message, notification and conversation ids."""
    accepted = [r for r in records if r["event"] == "message.accepted"]
    assert accepted[0]["conversation_id"] == conversation and accepted[0]["message_id"]
    applied = [r for r in records if r["event"] == "event.applied"
               and r["conversation_id"] == conversation and r["handler"] == "clearance-decision"]
    assert applied, "the clearance decision was applied"
    for line in applied:
        assert line["message_id"] == line["decision_id"] and line["notification_id"]
    other = [r for r in records if r["event"] == "event.applied"
             and r["conversation_id"] == conversation and r["handler"] != "clearance-decision"]
    assert all(r["message_id"] and r["event_type"] for r in other)
    pushed = [r for r in records if r["event"] == "push.delivered"
              and r["conversation_id"] == conversation]
    assert {p["notification_id"] for p in pushed} <= {a["notification_id"] for a in applied}
    assert pushed and all(p["source_id"] for p in pushed)


def check_clean(records: list[dict[str, Any]]) -> None:
    """No traceback anywhere, nothing at error level, and uvicorn's own lines are JSON too."""
    assert not [r for r in records if "Traceback" in json.dumps(r)]
    assert not [r for r in records if r["level"] in ("error", "critical")]
    loggers = {r.get("logger") for r in records}
    assert {"uvicorn.error", "gateway.messaging", "gateway.http"} <= loggers
    started = [r for r in records if str(r["event"]).startswith("Started server process")]
    assert len({r["pid"] for r in started}) == 2, "both workers' start-up lines"
