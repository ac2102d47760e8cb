"""One error hierarchy with stable codes.

Every error the gateway raises about a message or a request is a ``GatewayError``. Each one
carries a stable ``code`` (the same string shows in logs, HTTP bodies, SOAP faults and
dead-letter headers), whether retrying can help (``retryable``), the HTTP status it maps to,
and the structured ``problems`` a partner can act on::

    GatewayError
    ├── RequestError                 the sender's fault; retrying the same bytes cannot help
    │   ├── PayloadTooLarge          413  body over the configured size (checked before parsing)
    │   ├── UnsupportedMediaType     415  wrong or missing content type
    │   ├── NotAcceptable            406  no representation the client accepts
    │   ├── UnsafeXml                400  DOCTYPE, entities, XInclude, too deep, too many elements
    │   ├── MalformedXml             400  not well-formed
    │   ├── UnknownMessageType       400  root element not in the message-type registry
    │   ├── InvalidMessage           400  schema, mapping or business-rule problems (all of them)
    │   ├── Unauthenticated          401  missing, unknown or wrong credentials
    │   ├── Forbidden                403  partner may not send this message type
    │   ├── DuplicateConflict        409  message id reused for a different document
    │   └── NotFound                 404
    ├── SignatureInvalid             a signed message (bus or XML) failed verification
    ├── NoRoute                      a valid message matched no route (operator's problem)
    ├── MappingFailed                a mapping specification could not be applied (names the path)
    ├── ConfigurationError           bad configuration found at start-up
    ├── TooBusy                 429  more requests in flight than the gateway takes (retryable)
    └── ServiceUnavailable      503  the journal cannot take the message (retryable)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a message, precise enough for the sender to fix it."""

    code: str
    message: str
    pointer: str | None = None
    line: int | None = None
    column: int | None = None
    value: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in (
            ("code", self.code), ("message", self.message), ("pointer", self.pointer),
            ("line", self.line), ("column", self.column), ("value", self.value),
        ) if v is not None}


def trim_value(value: str | None, limit: int = 80) -> str | None:
    """Shorten an offending value for reports and logs (never echo whole payloads)."""
    if value is None:
        return None
    value = value.strip()
    return value if len(value) <= limit else value[: limit - 1] + "…"


class GatewayError(Exception):
    """Base of every error the gateway reports with a stable code."""

    code = "GW-ERROR"
    http_status = 500
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        problems: Sequence[Problem] = (),
        context: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.problems: tuple[Problem, ...] = tuple(problems) or (Problem(self.code, message),)
        self.context: dict[str, Any] = context or {}


class RequestError(GatewayError):
    """The request itself is wrong; sending it again unchanged cannot help."""

    code = "GW-REQUEST"
    http_status = 400


class PayloadTooLarge(RequestError):
    code = "GW-SIZE-LIMIT"
    http_status = 413


class UnsupportedMediaType(RequestError):
    code = "GW-MEDIA-TYPE"
    http_status = 415


class NotAcceptable(RequestError):
    code = "GW-NOT-ACCEPTABLE"
    http_status = 406


class UnsafeXml(RequestError):
    code = "GW-XML-UNSAFE"


class MalformedXml(RequestError):
    code = "GW-XML-MALFORMED"


class UnknownMessageType(RequestError):
    code = "GW-MSG-UNKNOWN-TYPE"


class InvalidMessage(RequestError):
    code = "GW-MSG-INVALID"


class Unauthenticated(RequestError):
    code = "GW-AUTH-UNAUTHENTICATED"
    http_status = 401


class Forbidden(RequestError):
    code = "GW-AUTH-FORBIDDEN"
    http_status = 403


class DuplicateConflict(RequestError):
    code = "GW-DUPLICATE-CONFLICT"
    http_status = 409


class NotFound(RequestError):
    code = "GW-NOT-FOUND"
    http_status = 404


class SignatureInvalid(GatewayError):
    code = "GW-SIGNATURE-INVALID"
    http_status = 400


class NoRoute(GatewayError):
    code = "GW-ROUTE-NONE"


class MappingFailed(GatewayError):
    code = "GW-MAP-FAILED"
    http_status = 400


class ConfigurationError(GatewayError):
    code = "GW-CONFIG"


class TooBusy(GatewayError):
    code = "GW-BUSY"
    http_status = 429
    retryable = True


class ServiceUnavailable(GatewayError):
    code = "GW-UNAVAILABLE"
    http_status = 503
    retryable = True


def cap_problems(problems: Iterable[Problem], limit: int) -> tuple[list[Problem], int]:
    """Return at most ``limit`` problems and how many more there were."""
    listed = list(problems)
    return listed[:limit], max(0, len(listed) - limit)

