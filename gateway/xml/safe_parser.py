"""The one hardened XML parser configuration, used for every untrusted document.

Rules (see ``docs`` and the security notes): reject any ``<!DOCTYPE`` outright, never resolve
entities, never touch the network or the file system, never process XInclude, cap the size
before parsing and the depth and element count after. Only ASCII-compatible encodings are
accepted, so the DOCTYPE check on raw bytes cannot be dodged with UTF-16.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from lxml import etree

from gateway.errors import MalformedXml, PayloadTooLarge, Problem, UnsafeXml, trim_value

XINCLUDE_NS = "http://www.w3.org/2001/XInclude"

_COUNT_ELEMENTS = etree.XPath("count(//*)")
_WIDE_BOMS = (b"\xfe\xff", b"\xff\xfe", b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00")


@dataclass(frozen=True, slots=True)
class XmlLimits:
    """Bounds applied to every untrusted document."""

    max_bytes: int = 16 * 1024 * 1024
    max_depth: int = 48
    max_elements: int = 250_000


def _new_parser() -> etree.XMLParser:
    # A fresh parser per document: lxml parsers are not shareable across threads, and a
    # parser's error log would otherwise carry one sender's errors into the next answer.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_pis=False,
        collect_ids=False,
    )


def parse_untrusted(body: bytes, limits: XmlLimits) -> etree._ElementTree:
    """Parse bytes from outside, or raise a ``RequestError`` saying exactly what is wrong."""
    if len(body) > limits.max_bytes:
        raise PayloadTooLarge(
            f"body of {len(body)} bytes exceeds the limit of {limits.max_bytes} bytes"
        )
    _refuse_before_parsing(body)
    try:
        parser = _new_parser()
        tree = etree.ElementTree(etree.fromstring(body, parser))
    except etree.XMLSyntaxError as exc:
        raise _malformed(exc, parser.error_log) from exc
    _refuse_after_parsing(tree, limits)
    return tree


def _refuse_before_parsing(body: bytes) -> None:
    if not body.strip():
        raise MalformedXml("the body is empty", code="GW-XML-EMPTY")
    if body.startswith(_WIDE_BOMS) or b"\x00" in body[:4]:
        raise UnsafeXml(
            "only UTF-8 or another ASCII-compatible encoding is accepted",
            code="GW-XML-ENCODING",
        )
    if _prolog_has_doctype(body):
        raise UnsafeXml(
            "document type declarations (<!DOCTYPE>) and entity declarations are not accepted",
            code="GW-XML-DTD",
        )


def _prolog_has_doctype(body: bytes) -> bool:
    """Scan only the prolog (XML declaration, PIs, comments) for ``<!DOCTYPE``."""
    pos = 3 if body.startswith(b"\xef\xbb\xbf") else 0
    end = len(body)
    while pos < end:
        while pos < end and body[pos] in b" \t\r\n":
            pos += 1
        if body.startswith(b"<?", pos):
            close = body.find(b"?>", pos + 2)
        elif body.startswith(b"<!--", pos):
            close = body.find(b"-->", pos + 4)
        else:
            return body.startswith(b"<!DOCTYPE", pos)
        if close < 0:
            return False
        pos = close + 2
    return False


def _refuse_after_parsing(tree: etree._ElementTree, limits: XmlLimits) -> None:
    docinfo = tree.docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise UnsafeXml("document type declarations are not accepted", code="GW-XML-DTD")
    root = tree.getroot()
    if _too_deep(limits.max_depth)(root):
        raise UnsafeXml(
            f"the document nests deeper than {limits.max_depth} levels", code="GW-XML-DEPTH"
        )
    count = int(_COUNT_ELEMENTS(root))
    if count > limits.max_elements:
        raise UnsafeXml(
            f"the document has {count} elements; the limit is {limits.max_elements}",
            code="GW-XML-ELEMENTS",
        )
    for node in root.iter(f"{{{XINCLUDE_NS}}}*"):
        raise UnsafeXml(
            "XInclude is not processed and not accepted",
            code="GW-XML-XINCLUDE",
            problems=[Problem("GW-XML-XINCLUDE", "XInclude element found",
                              pointer=tree.getpath(node), line=node.sourceline)],
        )


@functools.cache
def _too_deep(max_depth: int) -> etree.XPath:
    return etree.XPath("boolean(" + "/*" * (max_depth + 1) + ")")


def _malformed(exc: etree.XMLSyntaxError, log: etree._ListErrorLog) -> MalformedXml | UnsafeXml:
    line, column = (exc.position if exc.position else (None, None))
    if "Excessive depth" in str(exc):      # libxml2's own hard limit, below ours or not
        return UnsafeXml("the document nests too deeply", code="GW-XML-DEPTH")
    entries = [e for e in log if e.level_name in ("ERROR", "FATAL")]
    problems = [
        Problem("GW-XML-MALFORMED", e.message, line=e.line, column=e.column)
        for e in entries[:25]
    ] or [Problem("GW-XML-MALFORMED", str(exc), line=line, column=column)]
    return MalformedXml(
        f"the body is not well-formed XML: {trim_value(str(exc), 200)}", problems=problems
    )
