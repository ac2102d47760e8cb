"""One error hierarchy with stable codes.

Every error the gateway raises about a message or a request is a ``GatewayError``. Each one
carries a stable ``code`` (the same string shows in logs, HTTP bodies, SOAP faults and
dead-letter headers), whether retrying can help (``retryable``), the HTTP status it maps to,
and the structured ``problems`` a partner can act on. What every code means and how to fix it
is in one table, ``gateway/problem_codes.py`` (``docs/problem-codes.md`` is generated from
it); a raise site may name a more precise code than its class's (``code=…``)::

    class                            HTTP  default code (more precise codes at raise sites)
    GatewayError                     500  GW-ERROR
    ├── RequestError                 400  GW-REQUEST      the sender's fault; resending cannot help
    │   ├── PayloadTooLarge          413  GW-SIZE-LIMIT   body over the limit (before parsing)
    │   ├── BodyTimeout              408  GW-BODY-TIMEOUT body not all received by its deadline
    │   ├── UnsupportedMediaType     415  GW-MEDIA-TYPE
    │   ├── NotAcceptable            406  GW-NOT-ACCEPTABLE
    │   ├── UnsafeXml                400  GW-XML-UNSAFE   raised as GW-XML-DTD, GW-XML-DEPTH…
    │   ├── MalformedXml             400  GW-XML-MALFORMED  (also GW-XML-EMPTY, GW-SOAP-ENVELOPE)
    │   ├── UnknownMessageType       400  GW-MSG-UNKNOWN-TYPE  (GW-MSG-UNSUPPORTED-VERSION)
    │   ├── InvalidMessage           400  GW-MSG-INVALID  raised as GW-XSD-INVALID, GW-MAP-INVALID…
    │   ├── Unauthenticated          401  GW-AUTH-UNAUTHENTICATED
    │   ├── Forbidden                403  GW-AUTH-FORBIDDEN
    │   ├── DuplicateConflict        409  GW-DUPLICATE-CONFLICT  same id, different document
    │   ├── MovementConflict         409  GW-NCTS-OUT-OF-SEQUENCE  (GW-NCTS-LRN-TAKEN;
    │   │                                  gateway/flows/transit/refusals.py)
    │   ├── NotFound                 404  GW-NOT-FOUND
    │   ├── InvalidNumber            400  GW-NUMBER-INVALID   (gateway/numbers.py)
    │   ├── SoapFaultError           400  GW-SOAP  raised as GW-SOAP-BODY… (adapters/http/)
    │   └── MustUnderstandFault      400  GW-SOAP-MUST-UNDERSTAND  answered as HTTP 500
    ├── SignatureInvalid             400  GW-SIGNATURE-INVALID  (and GW-SIGNATURE-DIGEST…)
    │   ├── WsSecurityMissing        401  GW-WSS-MISSING   (gateway/signing/wssecurity.py)
    │   ├── WsSecurityInvalid        400  GW-WSS-HEADER    (also GW-WSS-COVERAGE)
    │   ├── TimestampRefused         401  GW-WSS-TIMESTAMP
    │   └── SignatureWrapping        400  GW-WSS-WRAPPING
    ├── PartnerFault                 -    GW-PARTNER-FAULT  a partner refused (adapters/soap_client)
    ├── NoRoute                      -    GW-ROUTE-NONE   matched no route: parked, not refused
    ├── MappingFailed                400  GW-MAP-FAILED   a mapping specification cannot apply
    ├── ConfigurationError           -    GW-CONFIG       bad configuration found at start-up
    ├── InvalidDecision              -    GW-DECISION-INVALID   (gateway/decision_notifications.py)
    ├── UnknownConversation          -    GW-DECISION-UNKNOWN-CONVERSATION     (same module)
    ├── InvalidMovementEvent         -    GW-NCTS-EVENT-INVALID  (gateway/flows/transit/events.py)
    ├── MovementEventRefused         -    GW-NCTS-EVENT-REFUSED  (same module)
    ├── MovementChanged              -    GW-NCTS-MOVEMENT-CHANGED  (same module; retryable)
    ├── MessageNotBuilt              -    GW-NCTS-NOT-BUILT  (gateway/flows/transit/outbound.py)
    ├── TooBusy                      429  GW-BUSY         too many requests in flight (retryable)
    └── ServiceUnavailable           503  GW-UNAVAILABLE  the journal cannot take it (retryable)

(``-``: never the answer to a request; the class keeps the base's 500.)
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


class BodyTimeout(RequestError):
    code = "GW-BODY-TIMEOUT"
    http_status = 408


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

