"""The messaging process: relay, decision consumer and pushes, apart from the HTTP workers.

``gateway serve --workers N`` runs N HTTP worker processes (the intake) and one messaging
process (``gateway messaging``). Publishing with confirms needs short, frequent turns of an
event loop; in a loop that also runs a CPU-bound intake under load it got too few and fell
seconds behind. In its own process it keeps up, without competing for a Python lock. The
process reports itself alive and connected in ``var/messaging-<instance>.json`` every second;
the HTTP workers' ``/readyz`` reads that report (their own instance's only).

``MessagingSupervisor`` is how ``serve`` keeps that process running: it restarts it when it
dies, and gives up — stopping the whole server — when it keeps dying. A supervised messaging
process stops by itself if its supervisor disappears (``supervisor_pid``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

import structlog

from adapters.bootstrap import MESSAGING, build_gateway, heartbeat_path
from gateway.settings import Settings

log = structlog.get_logger("gateway.messaging")


async def run_messaging(settings: Settings, *, sandbox: bool = False,
                        supervisor_pid: int = 0) -> None:
    """Run until SIGTERM/SIGINT (or, when supervised, until the supervisor is gone)."""
    gateway = build_gateway(settings)
    await gateway.start(sandbox=sandbox, role=MESSAGING)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    path = heartbeat_path(settings)
    log.info("messaging.started", pid=os.getpid(), sandbox=sandbox,
             instance_id=settings.instance_id)
    try:
        while not stop.is_set():
            if supervisor_pid and os.getppid() != supervisor_pid:
                log.error("messaging.orphaned", supervisor_pid=supervisor_pid,
                          hint="the `gateway serve` that started this process is gone")
                break
            _beat(path, gateway.messaging_connected())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
    finally:
        await gateway.stop()
        path.unlink(missing_ok=True)
        log.info("messaging.stopped")


def _beat(path: Path, connected: bool) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"pid": os.getpid(), "at": time.time(),
                                     "rabbitmq": connected}), "utf-8")
    temporary.replace(path)


class MessagingSupervisor:
    """Keeps the messaging process of ``serve --workers N`` running (from a thread).

    When the process dies it is started again after a back-off (``first_delay``, doubled at
    each consecutive death up to ``max_delay``; back to ``first_delay`` once a run lasted
    ``window`` seconds), with one ``messaging.restarted`` line (exit code, attempt). After
    ``max_deaths`` deaths within ``window`` seconds it is left dead: ``gave_up`` is set, one
    ``messaging.gave_up`` line is written and ``on_give_up`` is called (``serve`` then stops
    the whole server and exits non-zero, so that an init system can take over). ``stop()``
    ends it for good: the process is terminated and not restarted.

    The process runs in its own process group: a signal to ``serve``'s group (Ctrl-C, a
    ``kill`` of the group) reaches the HTTP workers and the supervisor, and the supervisor
    stops the messaging process itself — after the workers, never by a restart race.
    """

    def __init__(self, argv: Sequence[str], *, on_give_up: Callable[[], None],
                 first_delay: float = 1.0, max_delay: float = 30.0, max_deaths: int = 5,
                 window: float = 60.0, stop_timeout: float = 30.0) -> None:
        self._argv = list(argv)
        self._on_give_up = on_give_up
        self._first_delay = first_delay
        self._max_delay = max_delay
        self._max_deaths = max_deaths
        self._window = window
        self._stop_timeout = stop_timeout
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._spawned_at = 0.0
        self._thread = threading.Thread(target=self._watch, name="messaging-supervisor",
                                        daemon=True)
        self.gave_up = False
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None else None

    def start(self) -> None:
        self._process = self._spawn()
        self._thread.start()

    def stop(self) -> None:
        """Terminate the messaging process (killed after ``stop_timeout``); no restart."""
        with self._lock:
            self._stopping.set()
            process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(self._stop_timeout)
            except subprocess.TimeoutExpired:
                log.error("messaging.killed", pid=process.pid,
                          after_seconds=self._stop_timeout)
                process.kill()
                process.wait()
        if self._thread.is_alive():
            self._thread.join(5)

    def _spawn(self) -> subprocess.Popen[bytes]:
        self._spawned_at = time.monotonic()
        return subprocess.Popen(self._argv, process_group=0)

    def _watch(self) -> None:
        deaths: deque[float] = deque()
        attempt = 0
        while True:
            process = self._process
            assert process is not None
            code = process.wait()
            if self._stopping.is_set():
                return
            now = time.monotonic()
            deaths.append(now)
            while now - deaths[0] > self._window:
                deaths.popleft()
            if len(deaths) >= self._max_deaths:
                self._give_up(code, len(deaths))
                return
            attempt = 1 if now - self._spawned_at >= self._window else attempt + 1
            delay = min(self._first_delay * 2 ** (attempt - 1), self._max_delay)
            if self._stopping.wait(delay):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                self._process = self._spawn()
            self.restarts += 1
            log.warning("messaging.restarted", exit_code=code, signal=_signal_name(code),
                        attempt=attempt, after_seconds=delay, previous_pid=process.pid,
                        messaging_pid=self._process.pid)

    def _give_up(self, code: int, deaths: int) -> None:
        self.gave_up = True
        log.error("messaging.gave_up", exit_code=code, signal=_signal_name(code),
                  deaths=deaths, within_seconds=self._window,
                  hint="the messaging process keeps dying: stopping the server")
        self._on_give_up()


def _signal_name(code: int) -> str | None:
    """The name of the signal that ended a process (``Popen`` exit codes below 0)."""
    if code >= 0:
        return None
    with contextlib.suppress(ValueError):
        return signal.Signals(-code).name
    return str(-code)
