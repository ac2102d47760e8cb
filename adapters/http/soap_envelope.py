"""The SOAP envelope read strictly, as the SOAP 1.1 and 1.2 processing models say.

``read_message(envelope, version, operations, wss=…)`` turns a parsed envelope into a
``SoapMessage`` (the operation, its Body element, the header blocks addressed to this endpoint)
or raises a ``RequestError`` with a stable code and a located problem (path and line):

* ``GW-SOAP-ENVELOPE`` — the Envelope is anything but ``Header? Body``: a second Body, a
  second Header, a Header after the Body, any other element, content after the Body (SOAP 1.2
  forbids it; so does WS-I Basic Profile R1011 for 1.1), or non-whitespace text. A message
  with two Bodies is never processed, neither the first nor the last.
* ``GW-SOAP-BODY`` — the Body holds anything but exactly one element (text included).
* ``GW-SOAP-OPERATION`` — the Body's element is not one of the endpoint's ``SoapOperations``:
  a submission operation for every distinct ``soap_operation`` of the message-type registry
  (``SubmitDeclaration``, ``SubmitPaymentNotification``, …), and the queries
  (``GetNotifications``, ``LookupPaymentReference``).
* ``GW-SOAP-HEADER`` — an unqualified header block, text in the Header, or a
  ``mustUnderstand`` value the version does not define (1.1: ``0``/``1``; 1.2: xs:boolean).
* ``GW-SOAP-MUST-UNDERSTAND`` (``MustUnderstandFault``) — a block addressed to us, marked
  ``mustUnderstand``, that the operation does not understand (``SoapOperation.understands``:
  WS-Addressing; ``wsse:Security`` too when the endpoint verifies WS-Security for the caller,
  i.e. for a partner registered with ``require_wss``). Rendered as a ``MustUnderstand`` fault
  (HTTP 500), with ``NotUnderstood`` header blocks in SOAP 1.2.
* ``GW-SOAP-ADDRESSING`` — a WS-Addressing block repeated, an ``Action`` naming another
  operation, or a ``ReplyTo``/``FaultTo`` that is not the anonymous address (the answer always
  travels back on the same HTTP exchange).

A header block is addressed to us when it has no ``actor`` (1.1) / ``role`` (1.2), or names
the ``next`` role (either version) or ``ultimateReceiver`` (1.2). Blocks for any other role,
and 1.2's ``none``, are not ours: they are neither processed nor checked for mustUnderstand.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from lxml import etree

from gateway.documents.receipts import GW_NS
from gateway.errors import MalformedXml, Problem, RequestError, trim_value
from gateway.message_types import MessageType
from gateway.numbers import strip_xml_whitespace

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
ACTION_PREFIX = "urn:customs-gateway:v1:"

WSA_ANONYMOUS = f"{WSA}/anonymous"
WSA_NONE = f"{WSA}/none"
WSSE_SECURITY = f"{{{WSSE}}}Security"       # understood where WS-Security is verified
#: WS-Addressing blocks this endpoint reads (MessageID: the idempotency key; Action: checked
#: against the operation; ReplyTo/FaultTo: must be anonymous) or may safely ignore (To, From,
#: RelatesTo: the answer goes back on the same HTTP exchange whatever they say).
ADDRESSING = frozenset(f"{{{WSA}}}{name}" for name in (
    "MessageID", "Action", "To", "From", "ReplyTo", "FaultTo", "RelatesTo"))
_SINGLE_ADDRESSING = ADDRESSING - {f"{{{WSA}}}RelatesTo"}



@dataclass(frozen=True)
class SoapOperation:
    """One operation of the endpoint: its name (the Body's element), what it carries, who may
    call it and which header blocks it understands."""

    name: str
    submits: bool                    # the Body's element wraps a business document (intake)
    #: header blocks it processes (Clark names); a mandatory block for us that is not listed
    #: is a MustUnderstand fault
    understood: frozenset[str] = ADDRESSING
    partner_kinds: frozenset[str] = frozenset()      # who may call it (empty: every partner)

    @property
    def response(self) -> str:
        """The local name of its answer's wrapper element (document/literal wrapped)."""
        return f"{self.name}Response"

    def understands(self, *, wss: bool) -> frozenset[str]:
        """The blocks understood when the caller's WS-Security is (``wss``) or is not verified:
        ``wsse:Security`` is understood exactly when the endpoint verifies it."""
        return self.understood | {WSSE_SECURITY} if wss else self.understood


#: The operations that are not submissions: reading a conversation, a bank's reference look-up.
QUERIES = (SoapOperation("GetNotifications", submits=False),
           SoapOperation("LookupPaymentReference", submits=False,
                         partner_kinds=frozenset({"bank"})))


@dataclass(frozen=True)
class SoapOperations:
    """The endpoint's operations: one submission per distinct ``soap_operation`` of the
    message-type registry (in registry order), then the queries."""

    by_name: Mapping[str, SoapOperation] = field(default_factory=dict)

    @classmethod
    def from_registry(cls, message_types: Iterable[MessageType],
                      queries: Sequence[SoapOperation] = QUERIES) -> SoapOperations:
        names = dict.fromkeys(mt.soap_operation for mt in message_types if mt.soap_operation)
        operations = [SoapOperation(name, submits=True) for name in names]
        clash = {op.name for op in operations} & {q.name for q in queries}
        if clash:
            raise ValueError(f"message types name query operations as soap_operation: {clash}")
        return cls({op.name: op for op in [*operations, *queries]})

    def __getitem__(self, name: str) -> SoapOperation:
        return self.by_name[name]

    def __iter__(self) -> Iterator[SoapOperation]:
        return iter(self.by_name.values())

    def __contains__(self, name: object) -> bool:
        return name in self.by_name

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.by_name)


@dataclass(frozen=True)
class SoapVersion:
    namespace: str
    content_type: str
    client_code: str
    server_code: str
    role_attribute: str                  # "actor" (1.1) / "role" (1.2)
    our_roles: frozenset[str]            # role URIs this endpoint plays (absent = ours too)
    true_values: frozenset[str]          # lexical forms of mustUnderstand="true"
    false_values: frozenset[str]

    @property
    def is12(self) -> bool:
        return self.namespace == SOAP12


V11 = SoapVersion(SOAP11, "text/xml; charset=utf-8", "Client", "Server", "actor",
                  frozenset({"http://schemas.xmlsoap.org/soap/actor/next"}),
                  frozenset({"1"}), frozenset({"0"}))
V12 = SoapVersion(SOAP12, "application/soap+xml; charset=utf-8", "Sender", "Receiver", "role",
                  frozenset({f"{SOAP12}/role/next", f"{SOAP12}/role/ultimateReceiver"}),
                  frozenset({"1", "true"}), frozenset({"0", "false"}))


class SoapFaultError(RequestError):
    code = "GW-SOAP"


class MustUnderstandFault(RequestError):
    """Mandatory header blocks addressed to us that we do not process (a MustUnderstand fault)."""

    code = "GW-SOAP-MUST-UNDERSTAND"

    def __init__(self, blocks: Sequence[etree._Element]) -> None:
        self.not_understood = tuple(etree.QName(b) for b in blocks)
        names = ", ".join(q.text for q in self.not_understood)
        super().__init__(
            f"mandatory SOAP header block(s) not understood: {names}",
            problems=[Problem(self.code, f"the header block {etree.QName(b).text} is marked "
                              "mustUnderstand but this operation does not process it",
                              pointer=_path(b), line=b.sourceline) for b in blocks])


@dataclass(frozen=True)
class SoapMessage:
    """What this endpoint acts on: the operation, its Body element, the blocks for us."""

    version: SoapVersion
    operation: SoapOperation
    payload: etree._Element
    headers: tuple[etree._Element, ...]          # header blocks addressed to this endpoint

    def header(self, clark_name: str) -> etree._Element | None:
        return next((h for h in self.headers if h.tag == clark_name), None)

    @property
    def message_id(self) -> str | None:
        found = self.header(f"{{{WSA}}}MessageID")
        text = strip_xml_whitespace(found.text or "") if found is not None else ""
        return text or None


def version_of(envelope: etree._Element, expected: SoapVersion) -> SoapVersion:
    """``expected`` (from the Content-Type) if the root is that version's Envelope."""
    name = etree.QName(envelope)
    if name.localname != "Envelope" or name.namespace not in (SOAP11, SOAP12):
        raise MalformedXml("the body is not a SOAP 1.1 or 1.2 Envelope", code="GW-SOAP-ENVELOPE")
    if name.namespace != expected.namespace:
        raise SoapFaultError(
            "the envelope's SOAP version does not match the Content-Type "
            "(SOAP 1.1: text/xml; SOAP 1.2: application/soap+xml)", code="GW-SOAP-VERSION")
    return expected


def read_message(envelope: etree._Element, version: SoapVersion, operations: SoapOperations,
                 *, wss: bool = False) -> SoapMessage:
    """The envelope checked (structure, mustUnderstand, addressing), as a ``SoapMessage``;
    ``wss``: the endpoint verifies the caller's WS-Security (``wsse:Security`` understood)."""
    header, body = envelope_parts(envelope, version)
    payload = body_element(body)
    operation = operations[operation_of(payload, operations)]
    blocks, mandatory = header_blocks(header, version)
    understood = operation.understands(wss=wss)
    not_understood = [b for b in mandatory if b.tag not in understood]
    if not_understood:
        raise MustUnderstandFault(not_understood)
    check_addressing(blocks, operation.name)
    return SoapMessage(version, operation, payload, blocks)


def envelope_parts(envelope: etree._Element, version: SoapVersion
                   ) -> tuple[etree._Element | None, etree._Element]:
    """The Header (if any) and the one Body: ``Envelope(Header?, Body)`` and nothing else."""
    _refuse_text(envelope, "GW-SOAP-ENVELOPE")
    header = body = None
    for position, child in enumerate(_elements(envelope), 1):
        name = _soap_name(child, version)
        if body is not None:
            raise _misplaced(child, "nothing may follow the SOAP Body (one Body, last)")
        if name == "Header" and position == 1:
            header = child
        elif name == "Body":
            body = child
        else:
            raise _misplaced(child, "a SOAP Envelope holds an optional Header, then one Body")
    if body is None:
        raise SoapFaultError("the SOAP envelope has no Body", code="GW-SOAP-ENVELOPE")
    return header, body


def body_element(body: etree._Element) -> etree._Element:
    """The Body's one element (the operation); text beside it is refused."""
    return sole_element(body, "GW-SOAP-BODY", "the SOAP Body must hold exactly one element")


def sole_element(parent: etree._Element, code: str, message: str) -> etree._Element:
    """The one element child of ``parent``: anything else, or text beside it, is refused."""
    _refuse_text(parent, code)
    children = _elements(parent)
    if len(children) != 1:
        raise SoapFaultError(message, code=code, problems=[_problem(
            code, f"{message}; found {len(children)}", parent)])
    return children[0]


def operation_of(payload: etree._Element, operations: SoapOperations) -> str:
    name = etree.QName(payload)
    if name.namespace != GW_NS or name.localname not in operations:
        raise SoapFaultError(f"unknown operation {name.localname!r}; this service offers "
                             f"{', '.join(operations.names)}", code="GW-SOAP-OPERATION")
    return name.localname


def header_blocks(header: etree._Element | None, version: SoapVersion
                  ) -> tuple[tuple[etree._Element, ...], tuple[etree._Element, ...]]:
    """The header blocks addressed to us, and those of them marked mustUnderstand."""
    if header is None:
        return (), ()
    _refuse_text(header, "GW-SOAP-HEADER")
    ours, mandatory = [], []
    for block in _elements(header):
        if etree.QName(block).namespace is None:
            raise _located("GW-SOAP-HEADER", "a SOAP header block must be namespace-qualified",
                           block)
        must = _must_understand(block, version)     # checked on every block, ours or not
        if _addressed_to_us(block, version):
            ours.append(block)
            if must:
                mandatory.append(block)
    return tuple(ours), tuple(mandatory)


def check_addressing(blocks: Sequence[etree._Element], operation: str) -> None:
    """WS-Addressing blocks we act on: each at most once, Action and ReplyTo/FaultTo agree."""
    seen: set[str] = set()
    for block in blocks:
        if block.tag in _SINGLE_ADDRESSING:
            if block.tag in seen:
                raise _located("GW-SOAP-ADDRESSING", f"the WS-Addressing header "
                               f"{etree.QName(block).localname} appears more than once", block)
            seen.add(block.tag)
    for block in blocks:
        local = etree.QName(block).localname if block.tag in ADDRESSING else ""
        if local == "Action":
            action = strip_xml_whitespace(block.text or "")
            if not action_names(action, operation):
                raise _located("GW-SOAP-ACTION", f"the wsa:Action {action!r} does not match "
                               f"the Body's operation {operation!r}", block)
        elif local in ("ReplyTo", "FaultTo"):
            address = strip_xml_whitespace(block.findtext(f"{{{WSA}}}Address") or "")
            if address not in (WSA_ANONYMOUS, WSA_NONE):
                raise _located("GW-SOAP-ADDRESSING", f"wsa:{local} must be the anonymous "
                               "address: answers travel back on the same HTTP exchange", block)


def action_names(action: str, operation: str) -> bool:
    """Whether a declared action (SOAPAction, action parameter, wsa:Action) names ``operation``."""
    return action.removeprefix(ACTION_PREFIX) == operation


def _must_understand(block: etree._Element, version: SoapVersion) -> bool:
    raw = block.get(f"{{{version.namespace}}}mustUnderstand")
    if raw is None:
        return False
    value = strip_xml_whitespace(raw)
    if value in version.true_values:
        return True
    if value in version.false_values:
        return False
    allowed = sorted(version.true_values | version.false_values)
    raise _located("GW-SOAP-HEADER", f"mustUnderstand must be one of {', '.join(allowed)} in "
                   f"SOAP {'1.2' if version.is12 else '1.1'}, not {raw!r}", block, value=raw)


def _addressed_to_us(block: etree._Element, version: SoapVersion) -> bool:
    role = block.get(f"{{{version.namespace}}}{version.role_attribute}")
    return role is None or strip_xml_whitespace(role) in version.our_roles


def _elements(parent: etree._Element) -> list[etree._Element]:
    """Element children; comments and processing instructions are skipped (SOAP 1.2 §5)."""
    return [c for c in parent if isinstance(c.tag, str)]


def _soap_name(element: etree._Element, version: SoapVersion) -> str | None:
    name = etree.QName(element)
    return name.localname if name.namespace == version.namespace else None


def _refuse_text(parent: etree._Element, code: str) -> None:
    """Only whitespace may stand between the children of ``parent`` (CDATA included)."""
    texts = [parent.text] + [child.tail for child in parent]
    for text in texts:
        if text and strip_xml_whitespace(text):
            raise _located(code, f"text is not allowed directly inside the SOAP "
                           f"{etree.QName(parent).localname}", parent, value=text)


def _misplaced(child: etree._Element, rule: str) -> SoapFaultError:
    name = etree.QName(child)
    where = f"{{{name.namespace}}}{name.localname}" if name.namespace else name.localname
    return _located("GW-SOAP-ENVELOPE", f"{rule}: found {where} at line {child.sourceline}",
                    child)


def _located(code: str, message: str, element: etree._Element,
             value: str | None = None) -> SoapFaultError:
    return SoapFaultError(message, code=code, problems=[_problem(code, message, element, value)])


def _problem(code: str, message: str, element: etree._Element,
             value: str | None = None) -> Problem:
    return Problem(code, message, pointer=_path(element), line=element.sourceline,
                   value=trim_value(value) if value is not None else None)


def _path(element: etree._Element) -> str:
    """``/Envelope/Body[2]``: local names, with the position among same-named siblings."""
    steps = []
    node: etree._Element | None = element
    while node is not None:
        name = etree.QName(node).localname
        parent = node.getparent()
        same = [c for c in parent if c.tag == node.tag] if parent is not None else [node]
        steps.append(f"{name}[{same.index(node) + 1}]" if len(same) > 1 else name)
        node = parent
    return "/" + "/".join(reversed(steps))
