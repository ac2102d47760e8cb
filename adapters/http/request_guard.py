"""What a request may write to the log, whatever the client does.

``RequestGuard`` is the outermost middleware of our own (inside Starlette's last-resort
``ServerErrorMiddleware``, which would log a whole traceback per request):

* every line logged while handling a request carries the client's address (``peer``), so the
  repeat limiter (``adapters/log_limits.py``) can cap what one unauthenticated client causes;
* a client that goes away before its body is read (``ClientDisconnect``) is one ``info``
  line, ``http.client_disconnected`` with method, path, peer and the bytes read — an aborted
  upload is the client's business, not an error;
* any other exception is one ``error`` line, ``http.internal_error`` with the exception type,
  a short message and an ``error_id`` that the ``500`` answer also carries; its traceback is
  rendered once per exception site (``TracebackOncePerSite``).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import structlog
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.log_limits import short_error

log = structlog.get_logger("gateway.http")
_SHORT = 200


class ClientDisconnected(ClientDisconnect):
    """The client went away while its body was read (``bytes_read`` of it had arrived)."""

    def __init__(self, bytes_read: int) -> None:
        super().__init__(f"client disconnected after {bytes_read} bytes")
        self.bytes_read = bytes_read


class RequestGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        client = scope.get("client")
        with structlog.contextvars.bound_contextvars(peer=client[0] if client else "-"):
            try:
                await self.app(scope, receive, watched_send)
            except Exception as exc:  # noqa: BLE001 - the last line of defence of a request
                if _is_disconnect(exc):
                    log.info("http.client_disconnected", **_request(scope),
                             bytes_read=getattr(exc, "bytes_read", None))
                    return
                error_id = uuid.uuid4().hex[:16]
                log.error("http.internal_error", **_request(scope), error_id=error_id,
                          error_type=type(exc).__name__, error=short_error(exc), exc_info=exc)
                if not started:
                    await _internal_error(send, error_id)


def _is_disconnect(exc: BaseException) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        return exc.split(ClientDisconnect)[1] is None
    return isinstance(exc, ClientDisconnect)


def _request(scope: Scope) -> dict[str, Any]:
    return {"method": str(scope.get("method", ""))[:16],
            "path": str(scope.get("path", ""))[:_SHORT]}


async def _internal_error(send: Send, error_id: str) -> None:
    body = json.dumps({"code": "GW-INTERNAL", "message": "internal error",
                       "error_id": error_id}).encode()
    await send({"type": "http.response.start", "status": 500,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
