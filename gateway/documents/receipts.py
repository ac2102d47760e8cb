"""Receipts and rejections: the gateway's synchronous answers, as XML (signed) and as JSON.

Both documents live in the gateway namespace (``schemas/gateway/gateway-v1.xsd``). A JSON
answer carries the same content; the signed XML is what a partner can keep as proof.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from gateway.errors import Problem

GW_NS = "urn:customs-gateway:v1"
_NSMAP = {"gw": GW_NS}


def _gw(tag: str) -> str:
    return f"{{{GW_NS}}}{tag}"


def _leaf(parent: etree._Element, tag: str, text: object | None) -> None:
    if text is not None:
        etree.SubElement(parent, _gw(tag)).text = str(text)


@dataclass(frozen=True)
class ReceiptInfo:
    """What a receipt states: the message is durable and will be processed."""

    receipt_id: str
    conversation_id: str
    received_at: str
    partner_id: str
    message_type: str
    message_name: str
    message_version: str
    message_id: str
    sha256: str
    status: str = "accepted"
    document_digest: str = ""
    duplicate: bool = False
    stated_version: str | None = None   # the version the document stated (e.g. 3.7), if any
    # what an answer format may read besides (a format's own acknowledgement, such as NCTS
    # CC928C, echoes the request's header): not part of the receipt's content
    request: Any = field(default=None, repr=False, compare=False)      # the parsed document
    canonical: Any = field(default=None, repr=False, compare=False)    # its canonical form

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "receipt_id": self.receipt_id, "conversation_id": self.conversation_id,
            "received_at": self.received_at, "partner": self.partner_id,
            "message_type": self.message_type, "message_name": self.message_name,
            "message_version": self.message_version, "message_id": self.message_id,
            "sha256": self.sha256, "status": self.status,
        }
        if self.document_digest:
            out["document_digest"] = self.document_digest
        if self.stated_version is not None:
            out["stated_version"] = self.stated_version
        return out

    def to_xml(self) -> etree._Element:
        root = etree.Element(_gw("Receipt"), nsmap=_NSMAP, Id=f"RCP-{self.receipt_id}")
        _leaf(root, "ReceiptID", self.receipt_id)
        _leaf(root, "ConversationID", self.conversation_id)
        _leaf(root, "ReceivedAt", self.received_at)
        _leaf(root, "Partner", self.partner_id)
        _leaf(root, "MessageType", self.message_type)
        _leaf(root, "MessageName", self.message_name)
        _leaf(root, "MessageVersion", self.message_version)
        _leaf(root, "StatedVersion", self.stated_version)
        _leaf(root, "MessageID", self.message_id)
        _leaf(root, "SHA256", self.sha256)
        _leaf(root, "DocumentDigest", self.document_digest or None)
        _leaf(root, "Status", self.status)
        return root


@dataclass(frozen=True)
class RejectionInfo:
    """What a rejection states: nothing was accepted, and every problem found."""

    rejection_id: str
    received_at: str
    code: str
    summary: str
    http_status: int
    problems: list[Problem] = field(default_factory=list)
    more: int = 0
    sha256: str | None = None
    message_type: str | None = None
    partner_id: str | None = None
    original_receipt_id: str | None = None
    # as for ReceiptInfo: what a format's own NACK (NCTS CC906C/CC917C) reads, not content
    request: Any = field(default=None, repr=False, compare=False)      # the parsed document
    canonical: Any = field(default=None, repr=False, compare=False)    # if it was mapped

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rejection_id": self.rejection_id, "received_at": self.received_at,
            "status": "rejected", "code": self.code, "summary": self.summary,
            "problem_count": len(self.problems) + self.more,
            "problems": [p.as_dict() for p in self.problems],
            "more_problems": self.more,
        }
        for key, value in (("sha256", self.sha256), ("message_type", self.message_type),
                           ("partner", self.partner_id),
                           ("original_receipt_id", self.original_receipt_id)):
            if value is not None:
                out[key] = value
        return out

    def to_xml(self) -> etree._Element:
        root = etree.Element(_gw("Rejection"), nsmap=_NSMAP, Id=f"REJ-{self.rejection_id}")
        _leaf(root, "RejectionID", self.rejection_id)
        _leaf(root, "ReceivedAt", self.received_at)
        _leaf(root, "Partner", self.partner_id)
        _leaf(root, "MessageType", self.message_type)
        _leaf(root, "SHA256", self.sha256)
        _leaf(root, "Status", "rejected")
        _leaf(root, "Code", self.code)
        _leaf(root, "Summary", self.summary)
        _leaf(root, "OriginalReceiptID", self.original_receipt_id)
        problems = etree.SubElement(root, _gw("Problems"),
                                    count=str(len(self.problems) + self.more),
                                    shown=str(len(self.problems)))
        for problem in self.problems:
            problem_to_xml(problems, problem)
        return root


def problem_to_xml(parent: etree._Element, problem: Problem) -> etree._Element:
    element = etree.SubElement(parent, _gw("Problem"))
    _leaf(element, "Code", problem.code)
    _leaf(element, "Pointer", problem.pointer)
    _leaf(element, "Line", problem.line)
    _leaf(element, "Column", problem.column)
    _leaf(element, "Value", problem.value)
    _leaf(element, "Message", problem.message)
    return element
