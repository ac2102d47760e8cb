"""Limits on the request head that uvicorn's httptools protocol does not enforce itself.

uvicorn offers ``h11_max_incomplete_event_size`` for its h11 protocol only. Its httptools
protocol — the one ``gateway serve`` runs — buffers a request line and headers of any size
(httptools even grows a long header value by concatenation, chunk after chunk), takes any
number of headers and waits for ever for a head that never ends (its keep-alive timer runs
only between requests). ``HeadLimitedHttpToolsProtocol`` adds the three limits, counted on the
bytes as they arrive, before the application sees anything:

* a head (request line and headers) over ``max_bytes``: ``431``, connection closed — measured
  on the parsed URL and fields when the head arrives in one read, on the bytes received while
  it does not: at most one read past the limit is ever buffered;
* more than ``max_headers`` header fields: ``431``, connection closed;
* a head not complete ``timeout_s`` after its first byte (or a connection that sends nothing
  for ``timeout_s`` after opening): ``408`` (closed silently if nothing was sent).

An answer given while the request's body is still arriving (``401``, ``413``, ``429``…,
``Connection: close``) is not followed by an abrupt close, which would make the kernel reset
the connection and a client still sending its body lose the answer: the protocol sends the
answer and a FIN, then reads and throws away what still arrives — never parsed, never kept —
for at most ``LINGER_S`` seconds and ``LINGER_BYTES`` bytes, and closes (a lingering close, as
Apache and nginx do). A head refused (``431``/``408``) is closed at once.

The body is the application's business (``adapters/http/rest.py`` ``read_body``: size limit
and deadline). ``protocol_for(settings)`` is what ``uvicorn.Config(http=…)`` takes in
``serve_in_thread``; ``gateway serve`` names ``protocol_from_env``, which each worker process
imports and which reads the settings from the environment, as the worker's ``app_factory`` does.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from typing import Any

import structlog
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.settings import Settings

log = structlog.get_logger("gateway.http")

LINGER_S = 2.0
LINGER_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class HeadLimits:
    max_bytes: int = 32 * 1024
    max_headers: int = 100
    timeout_s: float = 10.0

    @classmethod
    def of(cls, settings: Settings) -> HeadLimits:
        return cls(settings.max_header_bytes, settings.max_headers, settings.header_timeout_s)


def protocol_for(settings: Settings) -> Any:
    """The protocol factory for ``uvicorn.Config(http=…)`` with the settings' head limits."""
    return functools.partial(HeadLimitedHttpToolsProtocol, head_limits=HeadLimits.of(settings))


def protocol_from_env(**uvicorn_kwargs: Any) -> HeadLimitedHttpToolsProtocol:
    """One connection's protocol with the limits of ``Settings.from_env()``: what
    ``gateway serve`` names to uvicorn (``http="adapters.http.server_limits:protocol_from_env"``),
    so that every worker process reads the same environment its ``app_factory`` reads."""
    return HeadLimitedHttpToolsProtocol(head_limits=_limits_from_env(), **uvicorn_kwargs)


@functools.cache
def _limits_from_env() -> HeadLimits:
    return HeadLimits.of(Settings.from_env())


class _HeadRefused(Exception):
    """Raised from a parser callback to stop parsing; answered in ``send_400_response``."""


class HeadLimitedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, head_limits: HeadLimits = HeadLimits(),
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_limits = head_limits
        self._head_bytes: int | None = 0       # None while a body (not a head) is arriving
        self._head_size = 0                    # the parsed head: URL, names and values
        self._header_count = 0
        self._refusal: str | None = None
        self._head_begun = False
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_LingeringClose(transport, self))  # type: ignore[arg-type]
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        if isinstance(self.transport, _LingeringClose):
            self.transport.connection_lost()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if isinstance(self.transport, _LingeringClose) and self.transport.lingering:
            self.transport.discard(len(data))
            return
        if self._head_bytes is not None:
            self._head_bytes += len(data)
        super().data_received(data)
        if (self._head_bytes is not None and self._head_bytes > self.head_limits.max_bytes
                and not self.transport.is_closing()):
            self._refuse(431, self._too_large())

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_count, self._head_size, self._head_begun = 0, 0, True
        self._arm_head_timer()

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.head_limits.max_headers:
            self._stop_parsing(f"more than {self.head_limits.max_headers} header fields")
        self._count_head(len(name) + len(value) + 4)          # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._cancel_head_timer()
        self._head_bytes, self._head_begun = None, False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._head_bytes = 0
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        if self._refusal is not None:
            self._refuse(431, self._refusal)
        else:
            super().send_400_response(msg)

    def _count_head(self, size: int) -> None:
        # a head that arrived in one read is measured here (data_received sees it complete)
        self._head_size += size
        if self._head_size > self.head_limits.max_bytes:
            self._stop_parsing(self._too_large())

    def _stop_parsing(self, reason: str) -> None:
        self._refusal = reason
        raise _HeadRefused(reason)

    def _too_large(self) -> str:
        return f"the request line and headers exceed {self.head_limits.max_bytes} bytes"

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.head_limits.timeout_s, self._head_timeout)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self._head_begun:
            self._refuse(408, f"the request headers did not arrive within "
                              f"{self.head_limits.timeout_s:g} s")
        elif self.cycle is None:       # opened, nothing sent: nobody to answer
            self.transport.close()

    def body_unfinished(self) -> bool:
        """Whether a request body is still arriving (its head is complete, its end is not)."""
        return self._head_bytes is None and self.cycle is not None and self.cycle.more_body

    def _refuse(self, status: int, message: str) -> None:
        """A plain-text answer and the connection closed (the application never saw it)."""
        self._cancel_head_timer()
        log.info("http.request_head_refused", peer=self.client[0] if self.client else "-",
                 status=status, reason=message)
        phrase = {408: "Request Timeout", 431: "Request Header Fields Too Large"}[status]
        body = message.encode("ascii")
        self.transport.write(
            f"HTTP/1.1 {status} {phrase}\r\ncontent-type: text/plain; charset=utf-8\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode("ascii") + body)
        self.transport.close()


class _LingeringClose:
    """The connection's transport, whose ``close`` lingers while a request body is arriving."""

    def __init__(self, transport: asyncio.Transport,
                 protocol: HeadLimitedHttpToolsProtocol) -> None:
        self._transport, self._protocol = transport, protocol
        self.lingering, self._discarded = False, 0
        self._timer: asyncio.TimerHandle | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def is_closing(self) -> bool:
        return self.lingering or self._transport.is_closing()

    def close(self) -> None:
        if self.lingering or self._transport.is_closing():
            return
        if not (self._protocol.body_unfinished() and self._transport.can_write_eof()):
            self._transport.close()
            return
        self.lingering = True
        self._transport.write_eof()             # the answer goes out, then a FIN
        self._transport.resume_reading()
        self._timer = self._protocol.loop.call_later(LINGER_S, self._transport.close)

    def discard(self, size: int) -> None:
        self._discarded += size
        if self._discarded > LINGER_BYTES:
            self._transport.close()

    def connection_lost(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
