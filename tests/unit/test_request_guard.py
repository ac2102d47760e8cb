"""RequestGuard: an aborted upload is one info line, a crash one error line and a 500.

The ASGI app is driven directly, so a client can disconnect at an exact point.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import structlog
from fastapi import FastAPI, Request
from fastapi.responses import Response

from adapters.http import request_guard
from adapters.http.request_guard import RequestGuard
from adapters.http.rest import read_body
from gateway.settings import Settings


class RecordingLog:
    """Stands in for the guard's structlog logger: keeps (level, event, fields)."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict[str, Any]]] = []

    def info(self, event: str, **fields: Any) -> None:
        self.lines.append(("info", event, {**structlog.contextvars.get_contextvars(),
                                           **fields}))

    def error(self, event: str, **fields: Any) -> None:
        self.lines.append(("error", event, {**structlog.contextvars.get_contextvars(),
                                            **fields}))


@pytest.fixture
def lines(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, dict[str, Any]]]:
    recording = RecordingLog()
    monkeypatch.setattr(request_guard, "log", recording)
    return recording.lines


def app() -> FastAPI:
    api = FastAPI()
    api.add_middleware(RequestGuard)

    @api.post("/upload")
    async def upload(request: Request) -> Response:
        body = await read_body(request, Settings(max_body_bytes=1_000_000))
        return Response(str(len(body)))

    @api.get("/broken")
    async def broken() -> Response:
        raise RuntimeError("the journal exploded " + "x" * 1000)

    return api


def call(path: str, method: str, incoming: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run one request through the app; ``incoming`` is what ``receive`` returns in turn."""
    sent: list[dict[str, Any]] = []
    queue = list(incoming)

    async def receive() -> dict[str, Any]:
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "path": path, "raw_path": path.encode(), "query_string": b"",
             "headers": [(b"content-length", b"1000000"), (b"content-type", b"application/xml")],
             "client": ("203.0.113.9", 40123), "server": ("127.0.0.1", 8080),
             "scheme": "http", "root_path": ""}
    asyncio.run(app()(scope, receive, send))
    return sent


def test_request_guard_client_disconnect_mid_body_is_one_info_line(
        lines: list[tuple[str, str, dict[str, Any]]]) -> None:
    """A client that sends 3 of 1 000 000 bytes and goes away: one info line with method,
    path, peer and bytes read; no answer sent, nothing at error level."""
    sent = call("/upload", "POST", [{"type": "http.request", "body": b"<a>", "more_body": True},
                                    {"type": "http.disconnect"}])
    assert sent == []
    assert lines == [("info", "http.client_disconnected",
                      {"peer": "203.0.113.9", "method": "POST", "path": "/upload",
                       "bytes_read": 3})]


def test_request_guard_unexpected_exception_is_one_error_line_and_a_500(
        lines: list[tuple[str, str, dict[str, Any]]]) -> None:
    """An exception escaping a handler: one error line (type, short message, id, the
    exception for the once-per-site traceback) and a 500 carrying the same id."""
    sent = call("/broken", "GET", [])
    assert sent[0]["status"] == 500
    answer = json.loads(sent[1]["body"])
    assert answer["code"] == "GW-INTERNAL"
    [(level, event, fields)] = lines
    assert (level, event) == ("error", "http.internal_error")
    assert fields["error_id"] == answer["error_id"]
    assert fields["error_type"] == "RuntimeError" and len(fields["error"]) < 240
    assert fields["peer"] == "203.0.113.9" and fields["path"] == "/broken"
    assert isinstance(fields["exc_info"], RuntimeError)
