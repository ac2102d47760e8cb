"""The wrk load script of the benchmark: the closed-loop declaration, a new LRN each time."""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bench import wrk
from samples.wco import build_dec

LRN = re.compile(rb"<FunctionalReferenceID>([^<]*)</FunctionalReferenceID>")


class RecordingServer(ThreadingHTTPServer):
    """Answers every POST with 202 (every third with ``X-Duplicate``) and keeps the bodies."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.bodies: list[bytes] = []
        self.lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: RecordingServer

    def do_POST(self) -> None:  # noqa: N802 - the http.server naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with self.server.lock:
            self.server.bodies.append(body)
            duplicate = len(self.server.bodies) % 3 == 0
        self.send_response(202)
        if duplicate:
            self.send_header("X-Duplicate", "true")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def template() -> bytes:
    return build_dec(3, lrn=wrk.PLACEHOLDER)


def test_wrk_template_rebuilds_the_closed_loop_declaration() -> None:
    """Head + LRN + tail of the split template is byte for byte build_dec with that LRN."""
    head, tail = wrk.split_template(template())
    assert (head + "WABC123-2-17" + tail).encode() == build_dec(3, lrn="WABC123-2-17")


def test_wrk_lua_string_survives_closing_brackets_and_leading_newline() -> None:
    """A text holding ']]' and ']=]' gets a bracket level it does not contain, newline kept."""
    literal = wrk.lua_string("\nx]]y]=]z")
    assert literal.startswith("[==[\n\nx]]y]=]z") and literal.endswith("]==]")


def test_wrk_script_refuses_a_prefix_that_could_overflow_the_lrn() -> None:
    """The LRN is an..35: a long or odd prefix is refused before any load is sent."""
    with pytest.raises(ValueError):
        wrk.declaration_script(template(), lrn_prefix="X" * 21, token="t", send_for=1)


def test_wrk_script_gives_every_request_its_own_lrn(tmp_path: Path) -> None:
    """Under wrk, every body is the template with a distinct LRN, and done() counts the rest."""
    assert wrk.wrk_path() is not None, wrk.INSTALL_HINT
    server = RecordingServer()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    script = tmp_path / "declarations.lua"
    script.write_text(wrk.declaration_script(template(), lrn_prefix="WTEST-", token="tok",
                                             send_for=1.0))
    try:
        run = wrk.run_wrk(f"http://127.0.0.1:{server.server_port}/v1/messages", script,
                          threads=2, connections=4, duration=2)
    finally:
        server.shutdown()
    lrns = [LRN.search(body).group(1) for body in server.bodies]  # type: ignore[union-attr]
    head, tail = wrk.split_template(template())
    assert len(lrns) > 50 and len(set(lrns)) == len(lrns)
    assert {lrn.split(b"-")[1] for lrn in lrns} == {b"1", b"2"}       # thread ids
    assert all(body == (head + lrn.decode() + tail).encode()
               for body, lrn in zip(server.bodies, lrns, strict=True))
    result = run.result
    assert result["sent"] == result["answered"] == result["accepted"] == len(lrns)
    assert result["duplicates"] == len(lrns) // 3 and result["statuses"] == {"202": len(lrns)}
    assert 0.5 < result["elapsed"] < 2.0                               # declarations: ~1 s
