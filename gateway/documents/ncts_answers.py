"""NCTS answers in NCTS form: the answer format ``ncts`` of the P5 message types.

Registered as ``answer = "ncts"`` on the ``ncts-p5-*`` entries of ``config/message_types.toml``;
the intake signs what this builds exactly as it signs our receipts (enveloped XML-DSig on the
root's ``Id``; our P5 schemas leave room for it, ``tools/ncts_xsd.py``), so every answer is a
signed P5 message valid against our schema of its type.

Positive answer (the message is durable):

* a ``CC015C`` gets a **CC928C** (positive acknowledgement): sender and recipient of the
  request swapped, our own ``messageIdentification`` (from the receipt id), the request's
  ``messageIdentification`` as ``correlationIdentifier`` (rule R0008), the LRN, the office of
  departure and the holder of the declaration;
* any other message (a CC007C, a CD message from a neighbouring administration …) gets our
  signed ``gw:Receipt``: P5 has no positive acknowledgement for them.

Negative answer (nothing was accepted):

* schema problems (the rejection ``GW-XSD-INVALID``) are an XML NACK — **CC917C** for a CC
  message, **CD917C** for a CD message — one ``XMLError`` per problem (line, column,
  pointer, text, the value) with its CL030 code (``CL030``, the table below);
* everything found once the document is valid (``FUNCTIONAL_REJECTIONS``) — business rules
  (``GW-RULE-INVALID``), mapping (``GW-MAP-INVALID``), the movement's state (unknown MRN
  ``GW-NCTS-UNKNOWN-MRN``: 90, ``GW-NCTS-OUT-OF-SEQUENCE``: 92, ``GW-NCTS-LRN-TAKEN``: 14), a
  ``messageIdentification`` used before for another document (``GW-DUPLICATE-CONFLICT``:
  26) — is a functional NACK, **CC906C** / **CD906C**, one
  ``FunctionalError`` per problem with its CL180 code, the XPath ``errorPointer`` (the MRN
  itself for 90 and 93, the root for 92), the rule or condition in ``errorReason`` (``R0028``,
  ``BR20006`` … or ``N/A``) and the ``originalAttributeValue``. A schema-valid message that
  breaks a rule therefore never gets an XML NACK;
* **never a NACK in answer to a NACK** (G0085, G0086): a CC906C, CC917C, CD906C or CD917C that
  is malformed, invalid or refused is answered with our plain signed ``gw:Rejection`` (over
  HTTP and SOAP the sender still learns why; an AMQP intake publishes nothing back for it);
* what is not about the document's content — credentials (401), permission (403), size (413),
  media type (415), load (429), the journal unavailable (503), an operation mismatch — is our
  ``gw:Rejection`` too: P5 has no code for it, and the sender must act on the transport.

The HTTP status stays the intake's: 202 with the CC928C (or receipt); a NACK is the body of the
4xx the rejection carries (400 for XML and rule problems and an unknown MRN, 409 for a message
id used before and a message out of sequence). JSON clients (``Accept: application/json``) get
the same content as our JSON rejection. Header values of the request that a P5 schema would
refuse (a ``messageSender`` of 36 characters, say — the reason the request got a CC917C) are not
echoed: our NTA name (``NTA.MK``) and the partner id stand in, so the NACK stays valid.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from lxml import etree

from gateway.canonical.movement import MESSAGES, NACKS, MovementMessage
from gateway.canonical.movement_rules import MRN_SHAPE, MovementProblem
from gateway.documents.ncts_messages import (
    NCTS_NS,
    PHASE,
    PHASES,
    FunctionalError,
    Header,
    functional_errors,
    header_value,
    holder,
    leaf,
    new_message_id,
    nta,
    office,
    p5_datetime,
    root,
    sub,
)
from gateway.documents.receipts import ReceiptInfo, RejectionInfo
from gateway.errors import Problem

NCTS_ANSWER = "ncts"
NA = "N/A"
MAX_TEXT = 512

#: CL030 (XML error codes, the EDIFACT syntax error codes NCTS uses) for our schema problems.
#: Content and attribute problems are split by what the validator said (``content_code``;
#: missing or not allowed), a length problem by which side of the length it is.
CL030: Mapping[str, str] = {
    "GW-XSD-ENUMERATION": "12",        # invalid value (not in the code list)
    "GW-XSD-PATTERN": "12",            # invalid value (pattern)
    "GW-XSD-DATATYPE": "12",           # invalid value (not a date, a number …)
    "GW-XSD-RANGE": "12",              # invalid value (out of range)
    "GW-XSD-FRACTION-DIGITS": "12",    # invalid value (too many decimals)
    "GW-XSD-TOTAL-DIGITS": "39",       # data element too long
    "GW-XSD-TOO-LONG": "39",           # data element too long
    "GW-XSD-TOO-SHORT": "40",          # data element too short
    "GW-XSD-LENGTH": "39",             # (or 40: ``length_code``)
    "GW-XSD-CONTENT": "15",            # (or 13, 35: ``content_code``)
    "GW-XSD-ATTRIBUTE": "15",          # (or 13: ``attribute_code``)
    "GW-XSD-ROOT": "15",               # not supported in this position
    "GW-XSD-INVALID": "18",            # unspecified error
}
CL030_MISSING, CL030_NOT_HERE, CL030_REPETITIONS, CL030_UNSPECIFIED = "13", "15", "35", "18"

#: CL180 (functional error codes) for the problems that are not ``MovementProblem``s.
CL180: Mapping[str, str] = {
    "GW-DUPLICATE-CONFLICT": "26",     # duplicate message id
    "GW-MAP-CODE": "12",               # code list violation
    "GW-MAP-COUNTRY": "12",
    "GW-MAP-CURRENCY": "12",
    "GW-MAP-UNIT": "12",
    "GW-MAP-HS-CODE": "12",
}
CL180_RULE = "14"
#: the rejections answered with an XML NACK (the schema's), and with a functional one
XML_REJECTIONS = frozenset({"GW-XSD-INVALID"})
FUNCTIONAL_REJECTIONS = frozenset({
    "GW-RULE-INVALID", "GW-MAP-INVALID", "GW-MAP-FAILED", "GW-DUPLICATE-CONFLICT",
    "GW-NCTS-UNKNOWN-MRN", "GW-NCTS-OUT-OF-SEQUENCE", "GW-NCTS-LRN-TAKEN"})
_LENGTH = re.compile(r"length of '(\d+)'.*allowed length of '(\d+)'")
_ELEMENT = re.compile(r"Element '([^']+)'")


def nack_kind(code: str) -> str | None:
    """``xml``, ``functional`` or ``None`` (our gw:Rejection) for a rejection code."""
    if code in XML_REJECTIONS:
        return "xml"
    if code in FUNCTIONAL_REJECTIONS:
        return "functional"
    return None


def cl030(problem: Problem, document: etree._Element | None = None) -> str:
    """The CL030 code of one schema problem."""
    if problem.code == "GW-XSD-CONTENT":
        return content_code(problem, document)
    if problem.code == "GW-XSD-ATTRIBUTE":
        return CL030_MISSING if "required but missing" in problem.message else CL030_NOT_HERE
    if problem.code == "GW-XSD-LENGTH":
        found = _LENGTH.search(problem.message)
        if found and int(found.group(1)) < int(found.group(2)):
            return "40"
        return "39"
    return CL030.get(problem.code, CL030_UNSPECIFIED)


def content_code(problem: Problem, document: etree._Element | None) -> str:
    """13 (missing), 35 (too many repetitions: an element not expected after its own twin) or
    15 (not supported in this position).

    The validator names a missing element only where its parent's content ends ("Missing
    child element(s)"); a required element missing *before* another is reported at that other
    one as "not expected", which reads 15 here: the pointer and the text still name both."""
    if "Missing child" in problem.message or "incomplete" in problem.message:
        return CL030_MISSING
    if "not expected" in problem.message and _repeats(problem, document):
        return CL030_REPETITIONS
    return CL030_NOT_HERE


def _repeats(problem: Problem, document: etree._Element | None) -> bool:
    """Whether the element the problem names follows a sibling of its own name."""
    pointer = problem.pointer or ""
    last = pointer.rsplit("/", 1)[-1]
    index = re.fullmatch(r"([A-Za-z_][\w.-]*)\[(\d+)\]", last)
    if index is not None:
        return int(index.group(2)) > 1
    named = _ELEMENT.search(problem.message)
    if document is None or named is None or problem.line is None:
        return False
    name = named.group(1).split(":")[-1]
    for element in document.iter(name):
        if element.sourceline == problem.line:
            previous = element.getprevious()
            return previous is not None and previous.tag == element.tag
    return False


class NctsAnswers:
    """The ``ncts`` answer format (``gateway.documents.answers.AnswerFormat``)."""

    name = NCTS_ANSWER

    def __init__(self, country: str = "MK") -> None:
        self.country = country.upper()
        self.identity = nta(country)

    # --- AnswerFormat ---------------------------------------------------------------------------

    def receipt(self, info: ReceiptInfo) -> etree._Element:
        message = info.canonical
        if isinstance(message, MovementMessage) and message.message_type == "CC015C":
            return self.positive_acknowledgement(message, info.receipt_id, info.received_at)
        return info.to_xml()

    def rejection(self, info: RejectionInfo) -> etree._Element:
        request_type = request_type_of(info.request)
        kind = nack_kind(info.code)
        if request_type is None or request_type in NACKS or kind is None:
            return info.to_xml()                      # never a NACK to a NACK (G0085/G0086)
        prefix = "CD" if request_type.startswith("CD") else "CC"
        if kind == "xml":
            return self.xml_nack(prefix, info, request_type)
        return self.functional_nack(prefix, info, request_type)

    # --- the documents --------------------------------------------------------------------------

    def positive_acknowledgement(self, message: MovementMessage, receipt_id: str,
                                 received_at: str) -> etree._Element:
        """``CC928C`` for an accepted CC015C (its canonical form)."""
        header = message.header
        element = root("CC928C", Header(
            sender=header_value(header.recipient) or self.identity,
            recipient=header_value(header.sender) or self.identity,
            prepared_at=p5_datetime(received_at),
            message_id=new_message_id(self.country, "CC928C", receipt_id),
            correlation_id=header_value(header.message_id), phase=header.phase or PHASE))
        leaf(sub(element, "TransitOperation"), "LRN", message.lrn)
        office(element, "CustomsOfficeOfDeparture", message.offices.departure)
        holder(element, message.holder)
        return element

    def xml_nack(self, prefix: str, info: RejectionInfo, request_type: str) -> etree._Element:
        """``CC917C`` / ``CD917C``: one ``XMLError`` per schema problem."""
        element = root(f"{prefix}917C", self._header(prefix, "917C", info))
        lrn, mrn = _references(info)
        if prefix == "CC" and (lrn or mrn):
            head = sub(element, "Header")
            leaf(head, "LRN", _limited(lrn, 35))
            leaf(head, "MRN", _limited(mrn, 35))
        elif prefix == "CD" and _limited(mrn, 35):
            leaf(sub(element, "Header"), "MRN", _limited(mrn, 35))
        for problem in info.problems or [Problem(info.code, info.summary)]:
            error = sub(element, "XMLError")
            leaf(error, "errorLineNumber", _bounded(problem.line))
            leaf(error, "errorColumnNumber", _bounded(problem.column))
            leaf(error, "errorPointer", _text(problem.pointer))
            leaf(error, "errorCode", cl030(problem, info.request))
            leaf(error, "errorText", _text(problem.message) or info.code)
            leaf(error, "originalAttributeValue", _text(problem.value))
        return element

    def functional_nack(self, prefix: str, info: RejectionInfo, request_type: str
                        ) -> etree._Element:
        """``CC906C`` / ``CD906C``: one ``FunctionalError`` per problem, CL180-coded."""
        element = root(f"{prefix}906C", self._header(prefix, "906C", info))
        lrn, mrn = _references(info)
        mrn = mrn if mrn and MRN_SHAPE.fullmatch(mrn) else None
        if prefix == "CC":
            head = sub(element, "Header")
            leaf(head, "LRN", _limited(lrn, 22))
            leaf(head, "MRN", mrn)
        elif mrn:
            leaf(sub(element, "Header"), "MRN", mrn)
        errors = [self._functional_error(p, info, request_type)
                  for p in info.problems or [Problem(info.code, info.summary)]]
        functional_errors(element, errors, reason_required=prefix == "CC")
        return element

    def _functional_error(self, problem: Problem, info: RejectionInfo, request_type: str
                          ) -> FunctionalError:
        rooted = f"/{request_type}"
        if isinstance(problem, MovementProblem):
            return FunctionalError(_text(problem.error_pointer) or rooted, problem.error_code,
                                   _limited(problem.rule, 7) or NA, _text(problem.value))
        if problem.code == "GW-DUPLICATE-CONFLICT":
            return FunctionalError(f"{rooted}/messageIdentification", CL180[problem.code], NA,
                                   _text(_request_text(info.request, "messageIdentification")))
        return FunctionalError(_text(problem.pointer) or rooted,
                               CL180.get(problem.code, CL180_RULE), NA, _text(problem.value))

    def _header(self, prefix: str, number: str, info: RejectionInfo) -> Header:
        """Our header for a NACK of ``info``'s request: sender and recipient swapped where the
        request's are valid P5 values (else our NTA name and the partner id)."""
        request = info.request
        sender = header_value(_request_text(request, "messageRecipient"))
        recipient = header_value(_request_text(request, "messageSender"))
        phase = request.get("PhaseID") if request is not None else None
        return Header(
            sender=sender or self.identity,
            recipient=recipient or header_value(info.partner_id) or self.identity,
            prepared_at=p5_datetime(info.received_at),
            message_id=new_message_id(self.country, f"{prefix}{number}", info.rejection_id),
            correlation_id=header_value(_request_text(request, "messageIdentification")),
            phase=phase if phase in PHASES else PHASE)


def request_type_of(request: Any) -> str | None:
    """The P5 message type of a request document (``CC015C``), if it is one we register."""
    if not isinstance(request, etree._Element):
        return None
    name = etree.QName(request)
    if name.namespace != NCTS_NS or name.localname not in MESSAGES:
        return None
    return name.localname


_ROOT_NAME = re.compile(rb"\s*(?:<\?xml[^>]*\?>\s*)?<(?:[A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)")


def is_nack_document(document: bytes) -> bool:
    """Whether an answer (signed bytes the gateway built) is an NCTS NACK: an AMQP intake sends
    those back to the sending administration and nothing else."""
    found = _ROOT_NAME.match(document)
    return found is not None and found.group(1).decode("ascii") in NACKS


def _request_text(request: Any, name: str) -> str | None:
    if not isinstance(request, etree._Element):
        return None
    found = request.find(name)
    return found.text if found is not None and len(found) == 0 else None


def _references(info: RejectionInfo) -> tuple[str | None, str | None]:
    """(LRN, MRN) of the request: from its canonical form if mapped, else from the document."""
    message = info.canonical
    if isinstance(message, MovementMessage):
        return message.lrn, message.mrn
    request = info.request
    if not isinstance(request, etree._Element):
        return None, None
    lrn = request.findtext("TransitOperation/LRN")
    mrn = request.findtext("TransitOperation/MRN") or request.findtext("Header/MRN")
    return (" ".join(lrn.split()) or None) if lrn else None, \
        (" ".join(mrn.split()) or None) if mrn else None


def _text(value: str | None, limit: int = MAX_TEXT) -> str | None:
    """A value for a P5 text of at most ``limit`` characters (whitespace collapsed)."""
    if value is None:
        return None
    value = " ".join(value.split())
    if not value:
        return None
    return value if len(value) <= limit else value[:limit - 1] + "…"


def _limited(value: str | None, limit: int) -> str | None:
    """``value`` if it fits ``limit`` characters as it is (whitespace collapsed), else None:
    an identifier is never cut."""
    if value is None:
        return None
    value = " ".join(value.split())
    return value if 0 < len(value) <= limit else None


def _bounded(number: int | None) -> int:
    return number if number is not None and 0 <= number <= 999_999_999 else 0
