"""The exchange: one object carrying a message through every step of the intake pipeline."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from gateway.message_types import MessageType
from gateway.partners import Partner
from gateway.ports import OutboundMessage


def utc_now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass
class Exchange:
    """A message on its way in: what arrived, what we learnt, what we will answer."""

    body: bytes                                      # the bytes received (SOAP: the envelope)
    channel: str                                     # "http", "soap11", "soap12", "amqp"
    authorization: str | None = None
    # how the channel proves the sender: "token" (the Authorization header) or "signature"
    # (the document's enveloped XML-DSig: customs administrations over AMQP)
    identity: str = "token"
    signer_key_id: str | None = None                 # the certificate that verified it, if so
    idempotency_header: str | None = None            # Idempotency-Key or WS-Addressing MessageID
    id: str = field(default_factory=new_id)          # becomes the receipt id
    received_at: str = field(default_factory=utc_now_iso)
    sha256: str = ""                                 # SHA-256 of ``body``, the bytes received
    document_digest: str = ""                        # SHA-256 of the document's exc-C14N form
    document: etree._Element | None = None           # the business document (SOAP: Body child)
    partner: Partner | None = None
    message_type: MessageType | None = None
    document_message_id: str | None = None
    stated_version: str | None = None                # the version the document states, if any
    idempotency_key: str = ""
    operation: str | None = None                     # the operation it came through (SOAP)
    canonical: Any = None
    canonical_json: bytes = b""
    canonical_version: str = ""                      # the canonical kind's version
    business_reference: str | None = None            # the sender's own reference (LRN, MsgId…)
    summary: str = ""                                # one line, from the canonical kind
    routing_attributes: dict[str, str] = field(default_factory=dict)
    outbox: list[OutboundMessage] = field(default_factory=list)
    conversation_id: str = field(default_factory=new_id)
    parked_reason: str | None = None

    def __post_init__(self) -> None:
        if not self.sha256:
            self.sha256 = hashlib.sha256(self.body).hexdigest()

    @property
    def log_context(self) -> dict[str, str]:
        ctx = {"message_id": self.id, "conversation_id": self.conversation_id}
        if self.partner is not None:
            ctx["partner"] = self.partner.id
        if self.message_type is not None:
            ctx["message_type"] = self.message_type.id
        return ctx
