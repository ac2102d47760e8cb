"""A small threaded TCP proxy used to simulate RabbitMQ outages without touching the broker.

``TcpProxy()`` picks a free local port and forwards every connection made to it to the
upstream address (RabbitMQ at 127.0.0.1:5672 by default). ``stop()`` closes the listener and
every open connection in both directions, so clients see the broker vanish; ``start()`` listens
on the *same* port again, so clients configured with the proxy's URL reconnect by themselves.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from types import TracebackType


class TcpProxy:
    """Forward ``127.0.0.1:<port>`` to ``upstream``; stoppable and restartable on one port."""

    def __init__(self, upstream: tuple[str, int] = ("127.0.0.1", 5672), *, port: int = 0,
                 host: str = "127.0.0.1") -> None:
        self.upstream = upstream
        self.host = host
        self.port = port or _free_port(host)
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._running = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self.connections = 0           # accepted since creation (all runs)

    # --- public --------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._running.is_set()

    def url(self, user: str = "guest", password: str = "guest", vhost: str = "/") -> str:
        """An AMQP URL that reaches the upstream broker through this proxy."""
        vhost_part = "" if vhost == "/" else vhost
        return f"amqp://{user}:{password}@{self.host}:{self.port}/{vhost_part}"

    def start(self) -> TcpProxy:
        """Listen on the proxy's port (the same one after every ``stop()``)."""
        if self.running:
            return self
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(64)
        self._listener = listener
        self._running.set()
        self._accept_thread = threading.Thread(target=self._accept_loop, args=(listener,),
                                               name=f"tcp-proxy-{self.port}", daemon=True)
        self._accept_thread.start()
        return self

    def stop(self) -> None:
        """Close the listener and every open connection; new connections are refused."""
        self._running.clear()
        listener, self._listener = self._listener, None
        if listener is not None:
            _close(listener)
        if self._accept_thread is not None:
            self._accept_thread.join(timeout=5)
            self._accept_thread = None
        with self._lock:
            sockets, self._sockets = list(self._sockets), set()
            threads, self._threads = list(self._threads), set()
        for sock in sockets:
            _close(sock)
        for thread in threads:
            thread.join(timeout=5)

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._sockets) // 2

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # --- internals -----------------------------------------------------------------------------

    def _accept_loop(self, listener: socket.socket) -> None:
        while self._running.is_set():
            try:
                readable, _, _ = select.select([listener], [], [], 0.1)
            except (OSError, ValueError):       # listener closed by stop()
                return
            if not readable:
                continue
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:
                _close(client)
                continue
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                if not self._running.is_set():
                    _close(client)
                    _close(server)
                    return
                self.connections += 1
                self._sockets.update((client, server))
                pumps = [threading.Thread(target=self._pump, args=(a, b), daemon=True,
                                          name=f"tcp-proxy-{self.port}-pump")
                         for a, b in ((client, server), (server, client))]
                self._threads.update(pumps)
            for pump in pumps:
                pump.start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                target.sendall(data)
        except OSError:
            pass
        finally:
            # one side gone: tear the pair down so the other side notices too
            _close(source)
            _close(target)
            with self._lock:
                self._sockets.discard(source)
                self._sockets.discard(target)
                self._threads.discard(threading.current_thread())


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]
