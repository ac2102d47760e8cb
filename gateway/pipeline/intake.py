"""The intake service: a message in, a signed receipt or a signed rejection out.

This is where the story of a submission is told in one place::

    front pipeline -> duplicate? -> the kind's back pipeline -> sign the answer -> journal
    (one transaction, with the outbox) -> answer

The front pipeline (authenticate, parse, identify, authorise, idempotency key) is the same for
every message; the back pipeline (validate, map, route, sign the bus messages) is the one of
the message's canonical kind; the answer is built in the message type's answer format (our
receipt, or a format's own acknowledgement).

Nothing is answered "accepted" before the journal has committed the message and the
messages to publish; a repeat gets the stored answer back byte for byte and publishes
nothing; any problem becomes a signed rejection listing every problem (capped).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog

from gateway import metrics as m
from gateway.documents.answers import AnswerFormats
from gateway.documents.receipts import ReceiptInfo, RejectionInfo
from gateway.errors import (
    DuplicateConflict,
    GatewayError,
    ServiceUnavailable,
    cap_problems,
)
from gateway.metrics import Metrics
from gateway.pipeline.exchange import Exchange, new_id, utc_now_iso
from gateway.pipeline.pipeline import Pipeline
from gateway.ports import AcceptedMessage, JournalTransaction, MessageJournal, StoredReceipt
from gateway.signing.xmldsig import XmlSigner

log = structlog.get_logger("gateway.intake")


IntakeEffect = Callable[[Exchange], Callable[[JournalTransaction], Any]]
"""Given an accepted message, the work to run in the same transaction as its journal rows."""


@dataclass(frozen=True)
class Answer:
    """What goes back to the sender, in every representation an adapter may need."""

    http_status: int
    accepted: bool
    document: bytes                       # signed XML (receipt or rejection)
    content: dict[str, Any]               # the same content for JSON clients
    conversation_id: str | None = None
    duplicate: bool = False
    error: GatewayError | None = None


@dataclass
class IntakeService:
    front: Pipeline
    back: Mapping[str, Pipeline]                     # canonical kind -> its back pipeline
    journal: MessageJournal
    signer: XmlSigner
    metrics: Metrics
    problem_cap: int = 25
    after_commit: Callable[[], None] | None = None   # e.g. wake the outbox relay
    answers: AnswerFormats = field(default_factory=AnswerFormats)
    # canonical kind -> what else an accepted message of that kind does in the journal's
    # transaction (a payment file is matched to assessments, say): given the exchange, the work
    effects: Mapping[str, IntakeEffect] = field(default_factory=dict)

    async def submit(self, ex: Exchange) -> Answer:
        started = time.perf_counter()
        structlog.contextvars.bind_contextvars(message_id=ex.id, conversation_id=ex.conversation_id)
        self.metrics.count(m.RECEIVED, channel=ex.channel)
        try:
            answer = await self._process(ex)
        except GatewayError as err:
            answer = self.reject(ex, err)
        except Exception as exc:  # noqa: BLE001 - last line of defence: answer, log, carry on
            log.exception("intake.internal_error")
            answer = self.reject(ex, GatewayError(f"internal error: {type(exc).__name__}",
                                                   code="GW-INTERNAL"))
        finally:
            structlog.contextvars.unbind_contextvars("message_id", "conversation_id")
        outcome = "accepted" if answer.accepted else "rejected"
        self.metrics.observe(m.LATENCY, time.perf_counter() - started,
                             channel=ex.channel, outcome=outcome)
        return answer

    async def _process(self, ex: Exchange) -> Answer:
        ex = self.front.run(ex)
        assert ex.partner is not None and ex.message_type is not None
        stored = self.journal.find(ex.partner.id, ex.idempotency_key)
        if stored is not None:
            return self._repeat(ex, stored)
        ex = self.back[ex.message_type.canonical_kind].run(ex)
        assert ex.partner is not None and ex.message_type is not None
        receipt = self._receipt(ex)
        answer_format = self.answers.get(ex.message_type.answer)
        document = self.signer.sign_to_bytes(answer_format.receipt(receipt))
        accepted = AcceptedMessage(
            receipt_id=ex.id, conversation_id=ex.conversation_id, partner_id=ex.partner.id,
            idempotency_key=ex.idempotency_key, message_type=ex.message_type.id,
            channel=ex.channel, received_at=ex.received_at, sha256=ex.sha256, body=ex.body,
            document_digest=ex.document_digest,
            canonical_json=ex.canonical_json, receipt_xml=document, receipt=receipt.as_dict(),
            reference=ex.business_reference,
            outbox=tuple(ex.outbox),
            status="parked" if ex.parked_reason else "submitted",
            event_detail={"parked": ex.parked_reason} if ex.parked_reason else {},
        )
        effect = self.effects.get(ex.message_type.canonical_kind)
        stored, created = await self.journal.record(
            accepted, effect(ex) if effect is not None else None)
        if not created:
            return self._repeat(ex, stored)
        if self.after_commit is not None:
            self.after_commit()
        self.metrics.count(m.ACCEPTED, message_type=ex.message_type.id)
        if ex.parked_reason:
            self.metrics.count(m.PARKED, reason="no-route")
            log.error("message.parked_no_route", reason=ex.parked_reason, **ex.log_context)
        log.info("message.accepted", sha256=ex.sha256, idempotency_key=ex.idempotency_key,
                 outbox=len(ex.outbox), **ex.log_context)
        return Answer(202, True, document, receipt.as_dict(), ex.conversation_id)

    def _receipt(self, ex: Exchange) -> ReceiptInfo:
        assert ex.partner is not None and ex.message_type is not None
        return ReceiptInfo(
            receipt_id=ex.id, conversation_id=ex.conversation_id, received_at=ex.received_at,
            partner_id=ex.partner.id, message_type=ex.message_type.id,
            message_name=ex.message_type.name, message_version=ex.message_type.version,
            message_id=ex.idempotency_key, sha256=ex.sha256, document_digest=ex.document_digest,
            status="parked" if ex.parked_reason else "accepted",
            stated_version=ex.stated_version, request=ex.document, canonical=ex.canonical,
        )

    def _repeat(self, ex: Exchange, stored: StoredReceipt) -> Answer:
        assert ex.message_type is not None
        # the same document is the same message, whatever the channel or envelope it came in
        if (stored.document_digest or stored.sha256) != (ex.document_digest or ex.sha256):
            raise DuplicateConflict(
                f"message id {ex.idempotency_key.split(':', 2)[-1]!r} was already used for a "
                f"different document (receipt {stored.receipt_id}); use a new reference",
                context={"original_receipt_id": stored.receipt_id})
        self.metrics.count(m.DUPLICATES, message_type=ex.message_type.id)
        log.info("message.duplicate", original_receipt_id=stored.receipt_id,
                 **{**ex.log_context, "conversation_id": stored.conversation_id})
        return Answer(202, True, stored.receipt_xml, stored.receipt, stored.conversation_id,
                      duplicate=True)

    def reject(self, ex: Exchange, err: GatewayError) -> Answer:
        """A signed rejection for ``err`` (also used by adapters for 413/415/406)."""
        problems, more = cap_problems(err.problems, self.problem_cap)
        rejection = RejectionInfo(
            rejection_id=new_id(), received_at=ex.received_at or utc_now_iso(), code=err.code,
            summary=err.message, http_status=err.http_status, problems=problems,
            more=more, sha256=ex.sha256 if ex.body else None,   # no body read: no hash
            message_type=ex.message_type.id if ex.message_type else None,
            partner_id=ex.partner.id if ex.partner else None,
            original_receipt_id=err.context.get("original_receipt_id"),
            request=ex.document, canonical=ex.canonical,
        )
        label = ex.message_type.id if ex.message_type else "unknown"
        self.metrics.count(m.REJECTED, message_type=label, code=err.code)
        level = log.error if isinstance(err, ServiceUnavailable) else log.info
        level("message.rejected", code=err.code, problems=len(err.problems),
              http_status=err.http_status, **ex.log_context)
        answer_format = self.answers.get(ex.message_type.answer if ex.message_type else None)
        document = self.signer.sign_to_bytes(answer_format.rejection(rejection))
        return Answer(err.http_status, False, document, rejection.as_dict(), error=err)

