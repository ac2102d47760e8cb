"""Plain HTTP: ``POST /v1/messages`` and the conversation and notification resources.

``POST /v1/messages`` takes one XML document (``Content-Type: application/xml`` or
``text/xml``) and answers in the same exchange: ``202`` with a signed receipt, or a ``4xx``
with a signed rejection listing every problem. ``Accept: application/json`` gives the same
content as JSON.

What a submission goes through before the intake, cheapest first, so that a client without a
token never holds anything: the ``Accept`` header (``406``), the token (``401``), the content
type (``415``), the ``Idempotency-Key`` (``400``, ``gateway/idempotency.py``) and a declared
``Content-Length`` over the limit (``413``) are all answered before a byte of the body is
read; then an admission slot of the partner's share (``429``, ``admission.py``); then the body,
under its size limit (``413``) and its deadline (``408``, ``read_body``). An answer given
before the whole body was read closes the connection (``Connection: close``): the rest of the
body is never read into the application (the server only throws away, for a moment, what is
still arriving, so that the client sees the answer: ``server_limits.py``, lingering close).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from adapters.bootstrap import Gateway
from adapters.http.admission import Admission
from gateway.errors import (
    BodyTimeout,
    GatewayError,
    NotAcceptable,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from gateway.idempotency import sender_key
from gateway.numbers import parse_ascii_uint
from gateway.partners import Partner
from gateway.pipeline.exchange import Exchange
from gateway.pipeline.intake import Answer
from gateway.settings import Settings

XML = "application/xml; charset=utf-8"
JSON = "application/json"
XML_TYPES = ("application/xml", "text/xml")


def router(gateway: Gateway, admission: Admission) -> APIRouter:
    api = APIRouter()

    @api.post("/v1/messages")
    async def submit(request: Request) -> Response:
        ex = Exchange(body=b"", channel="http",
                      authorization=request.headers.get("authorization"),
                      idempotency_header=request.headers.get("idempotency-key"))
        as_json, body_read = False, False
        try:
            as_json = wants_json(request.headers.get("accept"))
            partner = ex.partner = authenticated(gateway, request)
            check_media_type(request.headers.get("content-type"), XML_TYPES)
            sender_key(ex.idempotency_header, ex.channel)
            declared_length(request, gateway.settings.max_body_bytes)
            with admission.slot(partner.id):
                body = await read_body(request, gateway.settings)
                body_read = True
                answer = await gateway.intake.submit(Exchange(
                    body=body, channel="http", id=ex.id, received_at=ex.received_at,
                    authorization=ex.authorization, idempotency_header=ex.idempotency_header))
        except GatewayError as err:
            return closing(render(gateway.intake.reject(ex, err), as_json), not body_read)
        return render(answer, as_json)

    @api.get("/v1/conversations/{conversation_id}")
    async def conversation(conversation_id: str, request: Request) -> Response:
        try:
            found, notifications = _owned_conversation(gateway, request, conversation_id)
        except GatewayError as err:
            return _error_json(err)
        found["notifications"] = [_notification_json(n, with_document=False)
                                  for n in notifications]
        return Response(json.dumps(found, indent=1), media_type=JSON)

    @api.get("/v1/conversations/{conversation_id}/notifications")
    async def notifications(conversation_id: str, request: Request,
                            after: str = "0") -> Response:
        try:
            as_json = wants_json(request.headers.get("accept"))
            after_seq = parse_ascii_uint(after, 9, name="after", pointer="?after")
            found, listed = _owned_conversation(gateway, request, conversation_id)
        except GatewayError as err:
            return _error_json(err)
        items = [n for n in listed if n.seq > after_seq]
        if as_json:
            return Response(json.dumps({
                "conversation_id": conversation_id, "status": found["status"],
                "customs_reference": found.get("customs_reference"),
                "mrn": found.get("mrn"),
                "notifications": [_notification_json(n) for n in items]}, indent=1),
                media_type=JSON)
        return Response(notifications_xml(conversation_id, found["status"], items),
                        media_type=XML, headers={"X-Conversation-ID": conversation_id})

    @api.get("/v1/conversations/{conversation_id}/notifications/{seq}")
    async def notification(conversation_id: str, seq: str, request: Request) -> Response:
        try:
            number = parse_ascii_uint(seq, 9, name="the notification number", pointer="{seq}")
            _, listed = _owned_conversation(gateway, request, conversation_id)
            for n in listed:
                if n.seq == number:
                    return Response(n.document, media_type=XML,
                                    headers={"X-Conversation-ID": conversation_id})
            raise NotFound(f"conversation {conversation_id} has no notification {seq}")
        except GatewayError as err:
            return _error_json(err)

    return api


def render(answer: Answer, as_json: bool) -> Response:
    headers = {}
    if answer.conversation_id:
        headers["X-Conversation-ID"] = answer.conversation_id
    if answer.duplicate:
        headers["X-Duplicate"] = "true"
    if answer.error is not None and answer.error.retryable:
        headers["Retry-After"] = retry_after(answer.error)
    if as_json:
        return Response(json.dumps(answer.content), status_code=answer.http_status,
                        media_type=JSON, headers=headers)
    return Response(answer.document, status_code=answer.http_status, media_type=XML,
                    headers=headers)


def retry_after(err: GatewayError) -> str:
    """Seconds a partner should wait: short when merely busy, longer when a store is down."""
    return "1" if err.http_status == 429 else "5"


def wants_json(accept: str | None) -> bool:
    """XML unless the client prefers JSON (by quality, then order); ``406`` if neither."""
    if not accept:
        return False
    best: dict[str, tuple[float, int]] = {}
    for position, part in enumerate(accept.split(",")):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        kind = _representation(media.lower())
        if kind and quality > 0 and (kind not in best or best[kind][0] < quality):
            best[kind] = (quality, -position)
    if not best:
        raise NotAcceptable(f"answers are application/xml or application/json, not {accept!r}")
    return max(best, key=lambda kind: (best[kind], kind == "xml")) == "json"


def _representation(media: str) -> str | None:
    if media == JSON:
        return "json"
    if media in (*XML_TYPES, "*/*", "application/*", "text/*"):
        return "xml"
    return None


def check_media_type(content_type: str | None, allowed: tuple[str, ...]) -> str:
    media = (content_type or "").split(";")[0].strip().lower()
    if media not in allowed:
        raise UnsupportedMediaType(
            f"Content-Type must be {' or '.join(allowed)}, not {content_type or 'missing'!r}")
    return media


def declared_length(request: Request, limit: int) -> int | None:
    """The ``Content-Length`` (ASCII digits only), ``PayloadTooLarge`` if over ``limit``."""
    declared = request.headers.get("content-length")
    if declared is None:
        return None
    length = parse_ascii_uint(declared, 19, maximum=2**63 - 1, name="Content-Length",
                              pointer="Content-Length")
    if length > limit:
        raise PayloadTooLarge(f"body of {length} bytes exceeds the limit of {limit} bytes")
    return length


async def read_body(request: Request, settings: Settings) -> bytes:
    """The request body, refused past ``max_body_bytes`` or past its deadline.

    Over the limit (declared, or counted as it arrives): ``PayloadTooLarge`` at once, the rest
    left unread. The deadline is ``body_timeout_s`` from the first read, plus one second per
    ``body_min_bytes_per_s`` received: a sender slower than that gets ``BodyTimeout`` (408).
    A client that goes away mid-body raises ``ClientDisconnected`` (with the bytes read), which
    ``RequestGuard`` logs as one info line: no traceback, and no answer (nobody is listening).
    """
    from adapters.http.request_guard import ClientDisconnected

    limit = settings.max_body_bytes
    declared_length(request, limit)
    loop = asyncio.get_running_loop()
    started, chunks, size = loop.time(), [], 0

    def deadline() -> float:
        rate = settings.body_min_bytes_per_s
        return started + settings.body_timeout_s + (size / rate if rate > 0 else 0.0)

    try:
        async with asyncio.timeout_at(deadline()) as timer:
            while True:
                message = await request.receive()
                if message["type"] == "http.disconnect":
                    raise ClientDisconnected(size)
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"body exceeds the limit of {limit} bytes")
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)
                timer.reschedule(deadline())
    except TimeoutError as exc:
        raise BodyTimeout(
            f"the body did not arrive in time: {size} bytes in {loop.time() - started:.1f} s "
            f"(a body may take {settings.body_timeout_s:g} s plus one second per "
            f"{settings.body_min_bytes_per_s} bytes)") from exc


def closing(response: Response, close: bool = True) -> Response:
    """``response`` with ``Connection: close`` (when ``close``): an answer given before the
    whole body was read ends the connection instead of reading the rest of the body."""
    if close:
        response.headers["Connection"] = "close"
    return response


def authenticated(gateway: Gateway, request: Request) -> Partner:
    return gateway.partners.authenticate(request.headers.get("authorization"))


def _owned_conversation(gateway: Gateway, request: Request, conversation_id: str
                        ) -> tuple[dict[str, Any], list[Any]]:
    """The partner's own conversation and its notifications, read as of one moment."""
    partner = authenticated(gateway, request)
    found, notifications = gateway.journal.conversation_view(conversation_id)
    if found is None or not partner.may_read(found["partner_id"]):
        raise NotFound(f"no conversation {conversation_id} for partner {partner.id}")
    return with_mrn(found), notifications


def with_mrn(conversation: dict[str, Any]) -> dict[str, Any]:
    """The conversation as partners read it: ``mrn`` names the customs reference of a
    declaration or movement (the journal's generic ``customs_reference``)."""
    return {**conversation, "mrn": conversation.get("customs_reference")}


def _error_json(err: GatewayError) -> Response:
    return Response(json.dumps({"status": "error", "code": err.code, "summary": err.message,
                                "problems": [p.as_dict() for p in err.problems]}),
                    status_code=err.http_status, media_type=JSON)


def _notification_json(n: Any, with_document: bool = True) -> dict[str, Any]:
    out = {"seq": n.seq, "notification_id": n.id, "kind": n.kind, "created_at": n.created_at,
           **n.summary}
    if with_document:
        out["document"] = n.document.decode("utf-8")
    return out


def notifications_xml(conversation_id: str, status: str, items: list[Any]) -> bytes:
    """The signed notifications, verbatim, inside a ``gw:Notifications`` list."""
    head = (f'<?xml version="1.0" encoding="UTF-8"?>\n<gw:Notifications xmlns:gw='
            f'"urn:customs-gateway:v1" ConversationID="{conversation_id}" Status="{status}"'
            f' count="{len(items)}">').encode()
    body = b"".join(_strip_declaration(n.document) for n in items)
    return head + body + b"</gw:Notifications>"


def _strip_declaration(document: bytes) -> bytes:
    if document.startswith(b"<?xml"):
        return document[document.index(b"?>") + 2:].lstrip()
    return document
