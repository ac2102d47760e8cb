"""Turn libxml2 schema errors into ``Problem`` objects a sender can act on.

libxml2 reports an XPath with the document's own prefixes (or ``/*/*[2]`` for default
namespaces), a line, and no column. We translate that into a readable local-name pointer
(``/MetaData/Declaration/GoodsShipment/GovernmentAgencyGoodsItem[3]/Origin/CountryCode``),
the column of the element's start tag in the submitted bytes, the offending value (trimmed)
and a sentence without namespace URIs. libxml2 quotes the whole offending value in its
sentence (``The value '999…' has more digits than are allowed``): quoted values are trimmed
like the value itself, and the sentence is capped at ``MESSAGE_LIMIT`` characters.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from lxml import etree

from gateway.errors import Problem, trim_value

# libxml2 error type -> stable gateway code
_CODES: dict[str, str] = {
    "SCHEMAV_CVC_ENUMERATION_VALID": "GW-XSD-ENUMERATION",
    "SCHEMAV_CVC_PATTERN_VALID": "GW-XSD-PATTERN",
    "SCHEMAV_CVC_LENGTH_VALID": "GW-XSD-LENGTH",
    "SCHEMAV_CVC_MINLENGTH_VALID": "GW-XSD-TOO-SHORT",
    "SCHEMAV_CVC_MAXLENGTH_VALID": "GW-XSD-TOO-LONG",
    "SCHEMAV_CVC_TOTALDIGITS_VALID": "GW-XSD-TOTAL-DIGITS",
    "SCHEMAV_CVC_FRACTIONDIGITS_VALID": "GW-XSD-FRACTION-DIGITS",
    "SCHEMAV_CVC_MININCLUSIVE_VALID": "GW-XSD-RANGE",
    "SCHEMAV_CVC_MAXINCLUSIVE_VALID": "GW-XSD-RANGE",
    "SCHEMAV_CVC_MINEXCLUSIVE_VALID": "GW-XSD-RANGE",
    "SCHEMAV_CVC_MAXEXCLUSIVE_VALID": "GW-XSD-RANGE",
    "SCHEMAV_ELEMENT_CONTENT": "GW-XSD-CONTENT",
    "SCHEMAV_CVC_COMPLEX_TYPE_2_4": "GW-XSD-CONTENT",
    "SCHEMAV_CVC_COMPLEX_TYPE_2_3": "GW-XSD-CONTENT",
    "SCHEMAV_CVC_COMPLEX_TYPE_2_1": "GW-XSD-CONTENT",
    "SCHEMAV_CVC_COMPLEX_TYPE_3_2_1": "GW-XSD-ATTRIBUTE",
    "SCHEMAV_CVC_COMPLEX_TYPE_3_2_2": "GW-XSD-ATTRIBUTE",
    "SCHEMAV_CVC_COMPLEX_TYPE_4": "GW-XSD-ATTRIBUTE",
    "SCHEMAV_CVC_DATATYPE_VALID_1_2_1": "GW-XSD-DATATYPE",
    "SCHEMAV_CVC_DATATYPE_VALID_1_2_2": "GW-XSD-DATATYPE",
    "SCHEMAV_CVC_DATATYPE_VALID_1_2_3": "GW-XSD-DATATYPE",
    "SCHEMAV_CVC_ELT_1": "GW-XSD-ROOT",
    "SCHEMAV_CVC_TYPE_3_1_2": "GW-XSD-CONTENT",
}
MESSAGE_LIMIT = 300
_NS_IN_MESSAGE = re.compile(r"\{[^{}]*\}(?=[A-Za-z_])")
_QUOTED = re.compile(r"'([^']{81,})'")
_ATTRIBUTE = re.compile(r"attribute '([^']+)'")


def problems_from_log(
    error_log: Iterable[etree._LogEntry],
    validated: etree._Element,
    body: bytes | None,
) -> list[Problem]:
    """Build one ``Problem`` per schema error, in document order."""
    lines = body.split(b"\n") if body is not None else None
    namespaces = _prefixes(validated)
    problems = []
    for entry in error_log:
        node = _node_at(validated, entry.path, namespaces)
        attribute = _ATTRIBUTE.search(entry.message)
        pointer = _pointer(node, validated, attribute.group(1) if attribute else None) \
            if node is not None else entry.path
        value = None
        if node is not None:
            value = node.get(attribute.group(1)) if attribute else _text_value(node, entry)
        problems.append(Problem(
            code=_CODES.get(entry.type_name, "GW-XSD-INVALID"),
            message=_sentence(entry.message),
            pointer=pointer,
            line=entry.line or (node.sourceline if node is not None else None),
            column=column_of(lines, entry.line, node) if lines is not None else None,
            value=trim_value(value),
        ))
    return problems


def _sentence(message: str) -> str:
    """libxml2's message without namespace URIs, long quoted values and the final dot."""
    message = _NS_IN_MESSAGE.sub("", message).strip().rstrip(".")
    message = _QUOTED.sub(lambda m: f"'{trim_value(m.group(1))}'", message)
    return trim_value(message, MESSAGE_LIMIT) or ""


def local_pointer(node: etree._Element, top: etree._Element | None = None) -> str:
    """A readable XPath of local names, indexed only where a name repeats among siblings.

    The path starts at ``top`` (the business document, e.g. inside a SOAP Body) if given.
    """
    steps = []
    while node is not None:
        name = etree.QName(node).localname
        parent = node.getparent()
        if parent is not None:
            same = [c for c in parent if isinstance(c.tag, str) and c.tag == node.tag]
            if len(same) > 1:
                name = f"{name}[{same.index(node) + 1}]"
        steps.append(name)
        if node is top:
            break
        node = parent
    return "/" + "/".join(reversed(steps))


def _pointer(node: etree._Element, top: etree._Element, attribute: str | None) -> str:
    pointer = local_pointer(node, top)
    return f"{pointer}/@{attribute}" if attribute else pointer


def _text_value(node: etree._Element, entry: etree._LogEntry) -> str | None:
    if entry.type_name in ("SCHEMAV_ELEMENT_CONTENT", "SCHEMAV_CVC_COMPLEX_TYPE_2_4"):
        return None
    return node.text


def _prefixes(root: etree._Element) -> dict[str, str]:
    namespaces = {k: v for k, v in root.nsmap.items() if k}
    for node in root.iter("{*}*"):
        for prefix, uri in node.nsmap.items():
            if prefix and prefix not in namespaces:
                namespaces[prefix] = uri
    return namespaces


def _node_at(
    root: etree._Element, path: str | None, namespaces: dict[str, str]
) -> etree._Element | None:
    if not path:
        return None
    if path.startswith("/"):
        # libxml2's path starts at the validated element, which may sit inside a SOAP Body
        path = "self::" + path[1:]
    try:
        found = root.xpath(path, namespaces=namespaces)
    except etree.XPathError:
        return None
    return found[0] if found and isinstance(found[0], etree._Element) else None


def column_of(lines: list[bytes], line: int | None, node: etree._Element | None) -> int | None:
    """1-based column of ``node``'s start tag: the n-th tag of its name on its line."""
    if not line or node is None or line > len(lines):
        return None
    qname = (node.prefix + ":" if node.prefix else "") + etree.QName(node).localname
    same_line = [e for e in node.getroottree().iter(node.tag) if e.sourceline == line]
    nth = same_line.index(node) if node in same_line else 0
    starts = [m.start() for m in re.finditer(b"<" + re.escape(qname.encode()) + rb"[\s/>]",
                                             lines[line - 1])]
    return starts[nth] + 1 if nth < len(starts) else None
