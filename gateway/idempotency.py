"""The sender's own idempotency key: HTTP ``Idempotency-Key``, SOAP ``wsa:MessageID``.

A message is keyed by the document's own id when it has one; otherwise by the key the sender
gave, else by the document digest (``gateway/pipeline/steps.py`` ``idempotency_key``). A key
the sender gives is used exactly as given, so it must fit what is stored: 1 to
``MAX_SENDER_KEY`` (200) printable ASCII characters (space to ``~``), after the whitespace
around it is removed. A longer key, or one with a control character or a character outside
ASCII, is refused (``GW-IDEMPOTENCY-KEY``, 400, the pointer naming where it was read) — never
cut, since two keys that differ only after the cut would name the same message. An absent or
blank key is no key.
"""

from __future__ import annotations

from typing import NoReturn

from gateway.errors import Problem, RequestError

MAX_SENDER_KEY = 200
CODE = "GW-IDEMPOTENCY-KEY"
_PRINTABLE_ASCII = frozenset(chr(c) for c in range(0x20, 0x7F))
_WHERE = {"http": "Idempotency-Key"}          # the HTTP header; SOAP: the WS-Addressing block
SOAP_POINTER = "/Envelope/Header/MessageID"


def sender_key(value: str | None, channel: str) -> str | None:
    """The sender's key from ``value`` (``None`` if absent or blank), or ``RequestError``."""
    key = (value or "").strip()
    if not key:
        return None
    if len(key) > MAX_SENDER_KEY:
        _refuse(key, channel, f"has {len(key)} characters; at most {MAX_SENDER_KEY} are "
                              "accepted (it is never cut)")
    if not _PRINTABLE_ASCII.issuperset(key):
        _refuse(key, channel, "may contain printable ASCII characters only (no control "
                              "characters, no characters outside ASCII)")
    return key


def key_pointer(channel: str) -> str:
    """Where the sender's key of a channel is read: a header name or an envelope path."""
    return _WHERE.get(channel, SOAP_POINTER)


def _refuse(key: str, channel: str, rule: str) -> NoReturn:
    where = key_pointer(channel)
    name = "the Idempotency-Key header" if channel == "http" else "the wsa:MessageID"
    message = f"{name} {rule}"
    shown = repr(key[:40])[1:-1] + (f"… ({len(key)} characters)" if len(key) > 40 else "")
    raise RequestError(message, code=CODE, problems=[Problem(CODE, message, pointer=where,
                                                             value=shown)])
