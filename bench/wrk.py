"""Load from ``wrk`` (C, epoll): every request carries its own LRN; a /healthz yardstick.

``declaration_script`` writes a Lua script for ``wrk -s``: the declaration is split around its
``FunctionalReferenceID`` (the LRN, which is also the idempotency key), and ``request()`` puts
``<prefix><thread>-<counter>`` there, so no two requests of a run are the same declaration.
``response()`` counts statuses and answers marked ``X-Duplicate``; ``done()`` prints one JSON
line. The script sends declarations for ``send_for`` seconds; then ``delay()`` holds every
connection idle and each thread stops once its last answer is in: wrk's own stop (``-d``, a
few seconds later) cuts off no declaration, and the declarations answered ``202`` can be
matched exactly against the messages stored in the journal.

``healthz_rate`` runs wrk against ``/healthz`` with the same threads and connections: the
gateway's cheapest request, a measure of how fast this machine is at that moment, so that
``declarations/s ÷ healthz/s`` survives a VM that is twice as slow today as yesterday.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

INSTALL_HINT = "wrk is not installed: sudo apt-get install -y wrk"
PLACEHOLDER = "LRN-PLACEHOLDER-0000"
RESULT_TAG = "BENCH-RESULT "

_CLOCK = """\
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now()                          -- CLOCK_MONOTONIC, shared by all threads
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end
"""

_THREADS = """\
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_id", #threads)
end
"""

_DECLARATIONS = """\
sent, answered, accepted, duplicates = 0, 0, 0, 0
first_sent, last_answer = 0, 0
statuses = {}

-- wrk calls delay() before every request of the running phase, the first one included;
-- request() is also called once before, in one thread, to check the request: not counted.
-- Past the deadline no connection sends again; once the last answer is in, the thread stops
-- (before the server's keep-alive timeout could close its idle connections).
function delay()
  local t = now()
  if deadline == nil then deadline = t + SEND_FOR end
  if t < deadline then return 0 end
  if answered == sent then wrk.thread:stop() end
  return 86400000
end

function request()
  if deadline == nil then return wrk.format("POST", PATH, HEADERS, HEAD .. "CHECK" .. TAIL) end
  sent = sent + 1
  if first_sent == 0 then first_sent = now() end
  return wrk.format("POST", PATH, HEADERS, HEAD .. PREFIX .. thread_id .. "-" .. sent .. TAIL)
end

function response(status, headers, body)
  answered = answered + 1
  last_answer = now()
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
  if status == 202 then accepted = accepted + 1 end
  for name, value in pairs(headers) do
    if string.lower(name) == "x-duplicate" and value == "true" then
      duplicates = duplicates + 1
    end
  end
end

function done(summary, latency, requests)
  local parts, codes = {}, {}
  local first, last = math.huge, 0
  local totals = { sent = 0, answered = 0, accepted = 0, duplicates = 0 }
  for _, t in ipairs(threads) do
    for name, _ in pairs(totals) do totals[name] = totals[name] + t:get(name) end
    local f, l = t:get("first_sent"), t:get("last_answer")
    if f > 0 and f < first then first = f end
    if l > last then last = l end
    for code, n in pairs(t:get("statuses")) do codes[code] = (codes[code] or 0) + n end
  end
  for code, n in pairs(codes) do table.insert(parts, string.format('"%s": %d', code, n)) end
  local e = summary.errors
  io.write(string.format(
    'RESULT_TAG{"sent": %d, "answered": %d, "accepted": %d, "duplicates": %d, ' ..
    '"elapsed": %.6f, "statuses": {%s}, "errors": {"connect": %d, "read": %d, ' ..
    '"write": %d, "status": %d, "timeout": %d}, "latency_ms": {"p50": %.3f, ' ..
    '"p90": %.3f, "p99": %.3f, "max": %.3f}}\\n',
    totals.sent, totals.answered, totals.accepted, totals.duplicates,
    math.max(0, last - first), table.concat(parts, ", "), e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
"""

_HEALTHZ = """\
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT_TAG{"requests": %d, "elapsed": %.6f, "errors": {"connect": %d, "read": %d, ' ..
    '"write": %d, "status": %d, "timeout": %d}}\\n', summary.requests,
    summary.duration / 1e6, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def wrk_path() -> str | None:
    """The wrk executable, or None (then say ``INSTALL_HINT``)."""
    return shutil.which("wrk")


def lua_string(text: str) -> str:
    """``text`` as a Lua long-bracket literal whose level does not occur inside it."""
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    eq = "=" * level
    # A long bracket drops a newline right after its opening: add one so the text survives.
    return f"[{eq}[\n{text}]{eq}]"


def split_template(body: bytes) -> tuple[str, str]:
    """The declaration before and after its LRN (``body`` built with ``PLACEHOLDER``)."""
    text = body.decode("utf-8")
    if text.count(PLACEHOLDER) != 1:
        raise ValueError(f"the template must contain {PLACEHOLDER!r} exactly once")
    head, tail = text.split(PLACEHOLDER)
    return head, tail


def declaration_script(body: bytes, *, lrn_prefix: str, token: str, send_for: float,
                       path: str = "/v1/messages") -> str:
    """The Lua script: ``body`` (with ``PLACEHOLDER`` as LRN) sent with a new LRN each time."""
    if not re.fullmatch(r"[A-Za-z0-9-]{1,20}", lrn_prefix):
        raise ValueError("lrn_prefix: up to 20 letters, digits and '-' (the LRN is an..35)")
    head, tail = split_template(body)
    headers = (f'{{ ["Authorization"] = {lua_string("Bearer " + token)}, '
               f'["Content-Type"] = "application/xml" }}')
    constants = (f"local HEAD = {lua_string(head)}\nlocal TAIL = {lua_string(tail)}\n"
                 f"local PREFIX = {lua_string(lrn_prefix)}\nlocal PATH = {lua_string(path)}\n"
                 f"local HEADERS = {headers}\nlocal SEND_FOR = {send_for:.3f}\n")
    return ("-- generated by bench/wrk.py: one declaration per request, each with its own LRN\n"
            + constants + _CLOCK + _THREADS + _DECLARATIONS.replace("RESULT_TAG", RESULT_TAG))


def healthz_script() -> str:
    return "-- generated by bench/wrk.py: GET /healthz\n" + _HEALTHZ.replace(
        "RESULT_TAG", RESULT_TAG)


@dataclass(frozen=True)
class WrkRun:
    """What one wrk run reported (from the script's ``done()``) and its raw output."""

    result: dict[str, Any]
    command: str
    output: str = field(repr=False)

    @property
    def errors(self) -> dict[str, int]:
        return dict(self.result["errors"])


def run_wrk(url: str, script: Path, *, threads: int, connections: int, duration: float,
            timeout: float = 10.0) -> WrkRun:
    """Run wrk with ``script``; the parsed JSON line the script printed."""
    exe = wrk_path()
    if exe is None:
        raise RuntimeError(INSTALL_HINT)
    command = [exe, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s",
               f"--timeout={max(1, round(timeout))}s", "-s", str(script), url]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_TAG):
            return WrkRun(json.loads(line[len(RESULT_TAG):]), " ".join(command),
                          done.stdout + done.stderr)
    raise RuntimeError(f"wrk printed no result (exit {done.returncode}):\n"
                       f"{done.stdout}{done.stderr}")


def healthz_rate(base_url: str, run_dir: Path, *, threads: int, connections: int,
                 duration: float) -> tuple[float, WrkRun]:
    """Requests/s of ``GET /healthz`` with these threads and connections."""
    script = run_dir / "healthz.lua"
    if not script.exists():
        script.write_text(healthz_script())
    run = run_wrk(f"{base_url}/healthz", script, threads=threads, connections=connections,
                  duration=duration)
    return run.result["requests"] / run.result["elapsed"], run
