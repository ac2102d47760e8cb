"""Running the gateway locally: for the demo, the sandbox, the tests and the benchmark.

Small helpers shared by everything that starts a gateway on this machine: is RabbitMQ
reachable, a free port, serve a built gateway from a background thread, wait until ready.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any
from urllib.parse import urlparse

import httpx

from gateway.settings import Settings


def rabbitmq_reachable(url: str, timeout: float = 2.0) -> bool:
    """Whether something listens at the AMQP URL's host and port."""
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 5672),
                                      timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_ready(base_url: str, timeout: float = 20.0, path: str = "/readyz") -> bool:
    """Poll ``path`` until it answers 200; ``False`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}{path}", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    return False


def serve_in_thread(app: Any, port: int, name: str = "gateway",
                    settings: Settings | None = None) -> tuple[Any, threading.Thread]:
    """Serve an ASGI app with uvicorn from a daemon thread; stop with ``server.should_exit``.

    The server enforces the same request-head limits as ``gateway serve``
    (``adapters/http/server_limits.py``): those of ``settings``, else of the gateway the app
    serves (``app.state.gateway``), else the defaults.
    """
    import uvicorn

    from adapters.http.server_limits import protocol_for

    gateway = getattr(getattr(app, "state", None), "gateway", None)
    settings = settings or getattr(gateway, "settings", None) or Settings()
    # log_config=None: uvicorn's loggers propagate to the root logger (JSON lines once
    # ``configure_logging`` ran) instead of getting uvicorn's own text handlers
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           loop="asyncio", lifespan="on", log_config=None,
                                           http=protocol_for(settings)))
    thread = threading.Thread(target=server.run, name=f"{name}-{port}", daemon=True)
    thread.start()
    return server, thread
