"""Log lines as whole JSON objects on a stream that several processes share.

``gateway serve --workers N`` runs N HTTP workers and a messaging process that all write to
the same stdout. A pipe keeps one ``write`` whole only up to ``PIPE_BUF`` bytes (4096 on
Linux), so every line is written with a single ``os.write`` of at most ``PIPE_BUF`` bytes,
newline included: lines of different processes never tear or merge.

A record that renders longer than that (a long traceback, a big library message) is split
into several whole objects: the first carries the record with its longest fields taken out
and ``split_id``/``part``/``parts``; each of the others (``event: "log.continued"``) carries
one ``chunk`` of one ``field`` (``json: true`` when the field was not a string and the chunks
join into its JSON text). Joining the chunks of a ``split_id`` in ``part`` order, per field,
gives the record back; nothing is lost.
"""

from __future__ import annotations

import json
import os
import select
import uuid
from collections.abc import Mapping
from typing import Any

PIPE_BUF = getattr(select, "PIPE_BUF", 4096)
_KEEP = ("timestamp", "level", "logger", "pid")       # on every part of a split record
_EVENT_PREVIEW = 200


def dumps(value: Any) -> str:
    """One JSON text, ASCII only (so its length in characters is its length in bytes)."""
    return json.dumps(value, sort_keys=True, default=str)


def render_lines(event: Mapping[str, Any], limit: int = PIPE_BUF) -> list[str]:
    """The record as JSON lines (without newlines), each at most ``limit - 1`` characters."""
    line = dumps(event)
    if len(line) < limit:
        return [line]
    return _split(dict(event), limit)


def _split(event: dict[str, Any], limit: int) -> list[str]:
    split_id = uuid.uuid4().hex[:12]
    head = {**event, "split_id": split_id, "part": 1, "parts": 999_999}
    moved: list[tuple[str, str, bool]] = []
    movable = sorted((k for k in event if k not in _KEEP), key=lambda k: -len(dumps(event[k])))
    for key in movable:
        if len(dumps(head)) < limit:
            break
        value = event[key]
        is_text = isinstance(value, str)
        moved.append((key, value if is_text else dumps(value), not is_text))
        if key == "event":
            head["event"] = value[:_EVENT_PREVIEW] if is_text else "log.split"
        else:
            del head[key]
    if len(dumps(head)) >= limit:         # only absurdly long logger names or timestamps left
        head = {k: str(head[k])[:_EVENT_PREVIEW] for k in (*_KEEP, "event") if k in head}
        head.update(split_id=split_id, part=1, parts=999_999)
    keep = {k: event[k] for k in _KEEP if k in event and len(dumps(event[k])) < _EVENT_PREVIEW}
    tails: list[dict[str, Any]] = []
    for key, text, as_json in moved:
        template = {**keep, "event": "log.continued", "split_id": split_id, "part": 999_999,
                    "parts": 999_999, "field": key, "json": as_json, "chunk": ""}
        budget = limit - 1 - len(dumps(template))
        tails.extend({**template, "chunk": piece} for piece in _pieces(text, budget))
    parts = 1 + len(tails)
    head["parts"] = parts
    for number, tail in enumerate(tails, start=2):
        tail.update(part=number, parts=parts)
    return [dumps(head), *(dumps(t) for t in tails)]


def _pieces(text: str, budget: int) -> list[str]:
    """``text`` cut into pieces whose JSON string bodies are at most ``budget`` characters."""
    pieces, start = [], 0
    while start < len(text):
        size = min(budget, len(text) - start)
        while True:
            encoded = len(dumps(text[start:start + size])) - 2
            if encoded <= budget:
                break
            size = max(1, min(size - 1, size * budget // encoded))
        pieces.append(text[start:start + size])
        start += size
    return pieces


class LineWriter:
    """Writes rendered lines to a file descriptor, one ``os.write`` per line.

    A write that fails (stdout closed, pipe reader gone) drops the line: logging never takes
    the gateway down.
    """

    def __init__(self, fd: int = 1) -> None:
        self.fd = fd

    def write(self, text: str) -> None:
        """``text`` is one line or several joined by newlines (JSON never contains one)."""
        for line in text.split("\n"):
            data = (line + "\n").encode("utf-8", "replace")
            try:
                while data:
                    data = data[os.write(self.fd, data):]
            except OSError:
                return


class JsonLinesLogger:
    """The logger structlog hands its rendered lines to (any level method writes the line)."""

    def __init__(self, name: str | None, writer: LineWriter) -> None:
        self.name = name
        self._writer = writer

    def msg(self, message: str) -> None:
        self._writer.write(message)

    log = debug = info = warn = warning = error = err = critical = fatal = exception = msg


def joined(lines: list[str]) -> dict[str, Any]:
    """The record that ``render_lines`` split into ``lines`` (for readers and tests)."""
    head, *tails = (json.loads(line) for line in lines)
    if not tails:
        return head
    fields: dict[str, list[str]] = {}
    as_json: dict[str, bool] = {}
    for tail in sorted(tails, key=lambda t: t["part"]):
        fields.setdefault(tail["field"], []).append(tail["chunk"])
        as_json[tail["field"]] = tail["json"]
    record = {k: v for k, v in head.items() if k not in ("split_id", "part", "parts")}
    for key, chunks in fields.items():
        text = "".join(chunks)
        record[key] = json.loads(text) if as_json[key] else text
    return record
