"""The messaging process: relay, decision consumer and pushes, apart from the HTTP workers.

``gateway serve --workers N`` runs N HTTP worker processes (the intake) and one messaging
process (``gateway messaging``). Publishing with confirms needs short, frequent turns of an
event loop; in a loop that also runs a CPU-bound intake under load it got too few and fell
seconds behind. In its own process it keeps up, without competing for a Python lock. The
process reports itself alive and connected in ``var/messaging-<instance>.json`` every second;
the HTTP workers' ``/readyz`` reads that report.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from pathlib import Path

import structlog

from adapters.bootstrap import MESSAGING, build_gateway, heartbeat_path
from gateway.settings import Settings

log = structlog.get_logger("gateway.messaging")


async def run_messaging(settings: Settings, *, sandbox: bool = False) -> None:
    gateway = build_gateway(settings)
    await gateway.start(sandbox=sandbox, role=MESSAGING)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    path = heartbeat_path(settings)
    log.info("messaging.started", pid=os.getpid(), sandbox=sandbox)
    try:
        while not stop.is_set():
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
