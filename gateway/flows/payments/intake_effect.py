"""What an accepted payment notification does, in the same transaction as its journal rows.

``PaymentIntake`` is the intake effect of the canonical kind ``payment_notification``
(``IntakeService.effects``). For the bank's file it:

1. holds every assessment the file's references name (sorted: two files paying the same
   assessments lock them in one order), then matches each transaction in file order
   (``matching.Matcher``) — duplicates, parked payments, payments and reversals applied;
2. for each applied payment puts a signed canonical ``PaymentEvent`` in the outbox, routed by
   ``config/routes.toml`` (kind ``payment``; no route: the parking exchange, with the reason);
3. for each assessment that has nothing outstanding since this file, stores a signed ``PAY``
   notification in the declaration's conversation for its broker (pushed where the broker has
   a callback);
4. stores a signed ``ACK`` for the bank in the file's own conversation: every transaction and
   its outcome (pulled through the conversations API; pushed where the bank has a callback —
   delivery to a bank over WS-Security SOAP plugs in at the push, by kind ``ACK``).

Everything is one transaction: a file is matched entirely or not at all, and a payment is
applied exactly once even when files race (the ledger's unique ``(bank, bank_reference)`` and
the held assessment rows). The documents are built and **signed inside the transaction**,
because what they say (status, outstanding) is known only once the held rows were read: the
cost is one detached signature per applied payment, one XML signature per ``PAY`` and one for
the ``ACK`` — measured in ``tests/integration/test_payments_bench.py`` and ``bench/payments.py``
(a 1,000-payment file). The writes go in batches: the events in one ``add_outbox``, the ``PAY``
notices and the ``ACK`` in one ``add_notifications``, the ledger's rows when the work ends.

``replay`` re-runs matching for one parked payment (``gateway parked replay``) in a plain
transaction, with the same events and notifications.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from gateway.canonical.model import from_plain, to_json_bytes
from gateway.canonical.payment import PaymentConfirmation, PaymentNotification
from gateway.canonical.payment_event import CONFIRMED, REVERSED, PaymentEvent
from gateway.documents.payments import (
    ACK,
    PAY,
    build_payment_acknowledgement,
    build_payment_notice,
)
from gateway.errors import GatewayError, NoRoute, NotFound
from gateway.flows.payments.ledger import FLOW, ParkedPayment, PaymentLedger
from gateway.flows.payments.matching import (
    REVERSED as REVERSED_OUTCOME,
)
from gateway.flows.payments.matching import (
    Matcher,
    Outcome,
    Source,
    bank_references,
    payment_reference,
)
from gateway.partners import PartnerRegistry
from gateway.pipeline.exchange import Exchange, new_id, utc_now_iso
from gateway.ports import JournalTransaction, Notification, OutboundMessage
from gateway.routing import RoutingTable
from gateway.signing.detached import sign_body
from gateway.signing.keys import SigningKey
from gateway.signing.xmldsig import XmlSigner

EVENT_KIND = "payment"


class ReplayRefused(GatewayError):
    """A parked payment that was resolved already is not replayed again."""

    code = "GW-PARKED-RESOLVED"


@dataclass(frozen=True)
class FileResult:
    """What one bank file (or one replay) did."""

    outcomes: tuple[Outcome, ...]
    events: int
    paid_notices: int
    acknowledgement_id: str | None

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for o in self.outcomes:
            out[o.outcome] = out.get(o.outcome, 0) + 1
        return out


@dataclass
class PaymentIntake:
    signer: XmlSigner                 # the gateway's documents (PAY, ACK)
    bus_key: SigningKey               # detached signatures of the events to clearance
    routing: RoutingTable
    parking_exchange: str
    partners: PartnerRegistry
    matcher: Matcher = field(default_factory=Matcher)
    clock: Callable[[], str] = utc_now_iso

    # --- the intake effect --------------------------------------------------------------------

    def __call__(self, ex: Exchange) -> Callable[[JournalTransaction], FileResult]:
        """The work for ``ex``'s file, to run in the journal's transaction."""
        notification: PaymentNotification = ex.canonical
        assert ex.partner is not None
        source = Source(bank=ex.partner.id, receipt_id=ex.id, conversation_id=ex.conversation_id,
                        message_id=notification.message_id, bank_bic=ex.partner.bic)
        transactions = list(notification.transactions)
        keys = bank_references(transactions)

        def work(tx: JournalTransaction) -> FileResult:
            return self.apply_file(tx, source, transactions, keys)
        return work

    def apply_file(self, tx: JournalTransaction, source: Source,
                   transactions: Sequence[PaymentConfirmation], keys: Sequence[str]
                   ) -> FileResult:
        ledger: PaymentLedger = tx.flow(FLOW)
        ledger.hold(sorted({ref for t in transactions
                            if (ref := payment_reference(t)[0]) is not None}))
        ledger.preload_payments(source.bank, keys)
        outcomes = tuple(self.matcher.apply(ledger, t, source, index=i, bank_reference=key)
                         for i, (t, key) in enumerate(zip(transactions, keys, strict=True), 1))
        ack = self._acknowledgement(source, outcomes)
        events, notices = self._tell(tx, source, outcomes, also=[ack])
        return FileResult(outcomes, events, notices, ack[0].id)

    # --- replaying a parked payment -----------------------------------------------------------

    def replay(self, tx: JournalTransaction, parked_id: str, *, operator: str,
               reference: str | None = None) -> FileResult:
        """Match a parked payment again (with an operator's ``reference`` if given)."""
        ledger: PaymentLedger = tx.flow(FLOW)
        parked = ledger.parked_payment(parked_id)
        if parked is None:
            raise NotFound(f"no parked payment {parked_id!r}")
        if parked.state != "parked":
            raise ReplayRefused(f"parked payment {parked_id} was {parked.state} already "
                                f"({parked.resolution}, by {parked.resolved_by} at "
                                f"{parked.resolved_at}): nothing to replay")
        confirmation = from_plain(PaymentConfirmation, _json(parked.confirmation))
        source = Source(bank=parked.bank, receipt_id=parked.receipt_id,
                        conversation_id=parked.conversation_id,
                        message_id=confirmation.message_id)
        if reference is None:
            ledger.hold([ref] if (ref := payment_reference(confirmation)[0]) else [])
        else:
            ledger.hold([payment_reference(confirmation, reference)[0] or ""])
        payment_key = self._payment_key(tx, parked)
        outcome = self.matcher.apply(ledger, confirmation, source, index=1,
                                     bank_reference=payment_key, replay=parked,
                                     reference=reference)
        at = self.clock()
        resolution = outcome.outcome + (f":{outcome.reason}" if outcome.reason else "")
        ledger.resolve(replace(parked, state="replayed", resolved_at=at, resolved_by=operator,
                               resolution=resolution))
        tx.add_history(parked.conversation_id, at, "payment.replayed", {
            "parked_id": parked.id, "operator": operator, "outcome": outcome.outcome,
            "reason": outcome.reason, "reference": reference, "new_parked_id": outcome.parked_id})
        events, notices = self._tell(tx, source, (outcome,))
        return FileResult((outcome,), events, notices, None)

    @staticmethod
    def _payment_key(tx: JournalTransaction, parked: ParkedPayment) -> str:
        payment = tx.flow(FLOW).payment(parked.payment_id)
        return payment.bank_reference if payment is not None else parked.payment_id

    # --- telling clearance, the broker and the bank -------------------------------------------

    def _tell(self, tx: JournalTransaction, source: Source, outcomes: Sequence[Outcome],
              also: Sequence[tuple[Notification, str | None]] = ()) -> tuple[int, int]:
        """Events for the applied payments, ``PAY`` notices for the assessments they paid,
        and the notifications ``also`` given (the bank's ``ACK``) — stored in one batch."""
        events: list[OutboundMessage] = []
        notices: list[tuple[Notification, str | None]] = []
        for outcome in outcomes:
            if not outcome.applied or outcome.payment is None or outcome.assessment is None:
                continue
            events.append(self._event(source, outcome))
            if outcome.became_paid:
                notices.append(self._paid_notice(outcome))
        tx.add_outbox(events)
        seqs = tx.add_notifications([*notices, *also])
        return len(events), sum(seq is not None for seq in seqs[:len(notices)])

    def _event(self, source: Source, outcome: Outcome) -> OutboundMessage:
        payment, assessment = outcome.payment, outcome.assessment
        assert payment is not None and assessment is not None
        event = PaymentEvent(
            event_id=new_id(), event=REVERSED if outcome.outcome == REVERSED_OUTCOME
            else CONFIRMED, payment_id=payment.id, reference=assessment.reference,
            mrn=assessment.mrn, conversation_id=assessment.conversation_id,
            amount=payment.amount, currency=payment.currency, status=assessment.status,
            amount_due=assessment.amount_due, paid=assessment.paid,
            outstanding=assessment.outstanding, excess=assessment.excess or None,
            bank=payment.bank, bank_bic=source.bank_bic, bank_reference=payment.bank_reference,
            end_to_end_id=payment.end_to_end_id, uetr=payment.uetr,
            booking_date=payment.booking_date, value_date=payment.value_date,
            reverses=payment.reverses, notification_conversation_id=source.conversation_id,
            notification_receipt_id=source.receipt_id, applied_at=payment.recorded_at)
        body = to_json_bytes(event)
        attributes = {"event": event.event, "status": event.status, "mrn": event.mrn or "",
                      "currency": event.currency, "bank": event.bank}
        headers: dict[str, str] = {
            "x-conversation-id": assessment.conversation_id, "x-canonical-kind": EVENT_KIND,
            "x-canonical-version": event.canonical_version, "x-partner": payment.bank,
            "x-payment-id": payment.id, "x-reference": assessment.reference,
            "x-notification-conversation-id": source.conversation_id}
        try:
            destination = self.routing.route_for(EVENT_KIND, attributes)
            exchange, key = destination.exchange, destination.routing_key
            headers["x-route"] = destination.route
        except NoRoute as exc:
            exchange, key = self.parking_exchange, f"unrouted.{EVENT_KIND}"
            headers["x-gateway-reason"] = f"{exc.code}: {exc.message}"
        return OutboundMessage(id=event.event_id, conversation_id=assessment.conversation_id,
                               kind=EVENT_KIND, exchange=exchange, routing_key=key, body=body,
                               headers={**headers, **sign_body(self.bus_key, body)})

    def _paid_notice(self, outcome: Outcome) -> tuple[Notification, str | None]:
        payment, assessment = outcome.payment, outcome.assessment
        assert payment is not None and assessment is not None
        broker = self.partners.find(assessment.partner_id)
        notification_id, at = new_id(), self.clock()
        source_id = f"pay:{assessment.reference}:{payment.id}"
        document = self.signer.sign_to_bytes(build_payment_notice(
            assessment, payment, notification_id=notification_id, source_id=source_id,
            created_at=at))
        callback = broker.callback_url if broker is not None else None
        return Notification(
            id=notification_id, conversation_id=assessment.conversation_id,
            partner_id=assessment.partner_id, kind=PAY, created_at=at, document=document,
            source_id=source_id, summary={
                "reference": assessment.reference, "mrn": assessment.mrn,
                "status": assessment.status, "paid": format(assessment.paid, "f"),
                "currency": assessment.currency}, push=callback is not None), callback

    def _acknowledgement(self, source: Source, outcomes: Sequence[Outcome]
                         ) -> tuple[Notification, str | None]:
        bank = self.partners.find(source.bank)
        notification_id, at = new_id(), self.clock()
        source_id = f"ack:{source.receipt_id}"
        document = self.signer.sign_to_bytes(build_payment_acknowledgement(
            outcomes, notification_id=notification_id, conversation_id=source.conversation_id,
            source_id=source_id, created_at=at, partner_id=source.bank,
            message_id=source.message_id, receipt_id=source.receipt_id))
        counts: dict[str, Any] = {}
        for o in outcomes:
            counts[o.outcome] = counts.get(o.outcome, 0) + 1
        callback = bank.callback_url if bank is not None else None
        return Notification(
            id=notification_id, conversation_id=source.conversation_id, partner_id=source.bank,
            kind=ACK, created_at=at, document=document, source_id=source_id,
            summary={"message_id": source.message_id, "transactions": len(outcomes),
                     "outcomes": counts}, push=callback is not None), callback


def _json(body: bytes) -> Any:
    return json.loads(body)
