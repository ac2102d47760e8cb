"""Plain HTTP: ``POST /v1/messages`` and the conversation and notification resources.

``POST /v1/messages`` takes one XML document (``Content-Type: application/xml`` or
``text/xml``) and answers in the same exchange: ``202`` with a signed receipt, or a ``4xx``
with a signed rejection listing every problem. ``Accept: application/json`` gives the same
content as JSON. The body size is checked before anything is parsed (``413``).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from adapters.bootstrap import Gateway
from adapters.http.admission import Admission
from gateway.errors import (
    GatewayError,
    NotAcceptable,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from gateway.numbers import parse_ascii_uint
from gateway.partners import Partner
from gateway.pipeline.exchange import Exchange
from gateway.pipeline.intake import Answer

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
        try:
            as_json = wants_json(request.headers.get("accept"))
        except NotAcceptable as err:
            return render(gateway.intake.reject(ex, err), as_json=False)
        try:
            with admission.slot():
                check_media_type(request.headers.get("content-type"), XML_TYPES)
                body = await read_body(request, gateway.settings.max_body_bytes)
                answer = await gateway.intake.submit(Exchange(
                    body=body, channel="http", id=ex.id, received_at=ex.received_at,
                    authorization=ex.authorization, idempotency_header=ex.idempotency_header))
        except GatewayError as err:
            return render(gateway.intake.reject(ex, err), as_json)
        return render(answer, as_json)

    @api.get("/v1/conversations/{conversation_id}")
    async def conversation(conversation_id: str, request: Request) -> Response:
        try:
            found = _owned_conversation(gateway, request, conversation_id)
        except GatewayError as err:
            return _error_json(err)
        notifications = gateway.journal.notifications(conversation_id)
        found["notifications"] = [_notification_json(n, with_document=False)
                                  for n in notifications]
        return Response(json.dumps(found, indent=1), media_type=JSON)

    @api.get("/v1/conversations/{conversation_id}/notifications")
    async def notifications(conversation_id: str, request: Request,
                            after: str = "0") -> Response:
        try:
            as_json = wants_json(request.headers.get("accept"))
            found = _owned_conversation(gateway, request, conversation_id)
            after_seq = parse_ascii_uint(after, 9, name="after", pointer="?after")
        except GatewayError as err:
            return _error_json(err)
        items = [n for n in gateway.journal.notifications(conversation_id) if n.seq > after_seq]
        if as_json:
            return Response(json.dumps({
                "conversation_id": conversation_id, "status": found["status"],
                "mrn": found.get("mrn"),
                "notifications": [_notification_json(n) for n in items]}, indent=1),
                media_type=JSON)
        return Response(notifications_xml(conversation_id, found["status"], items),
                        media_type=XML, headers={"X-Conversation-ID": conversation_id})

    @api.get("/v1/conversations/{conversation_id}/notifications/{seq}")
    async def notification(conversation_id: str, seq: str, request: Request) -> Response:
        try:
            _owned_conversation(gateway, request, conversation_id)
            number = parse_ascii_uint(seq, 9, name="the notification number", pointer="{seq}")
            for n in gateway.journal.notifications(conversation_id):
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


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing anything over ``limit`` before it is parsed.

    A client that goes away mid-body raises ``ClientDisconnected`` (with the bytes read), which
    ``RequestGuard`` logs as one info line: no traceback, and no answer (nobody is listening).
    """
    from starlette.requests import ClientDisconnect

    from adapters.http.request_guard import ClientDisconnected

    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body of {declared} bytes exceeds the limit of {limit} bytes")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"body exceeds the limit of {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect as exc:
        raise ClientDisconnected(size) from exc
    return b"".join(chunks)


def authenticated(gateway: Gateway, request: Request) -> Partner:
    return gateway.partners.authenticate(request.headers.get("authorization"))


def _owned_conversation(gateway: Gateway, request: Request, conversation_id: str) -> dict[str, Any]:
    partner = authenticated(gateway, request)
    found = gateway.journal.conversation(conversation_id)
    if found is None or not partner.may_read(found["partner_id"]):
        raise NotFound(f"no conversation {conversation_id} for partner {partner.id}")
    return found


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
