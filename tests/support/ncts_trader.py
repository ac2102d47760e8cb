"""NCTS P5 trader messages and answers for the transit tests (flow F4): our fixtures with fresh
ids, the mutations a bad-input test needs, and readers of the answers by element name."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from functools import cache
from typing import Any

from lxml import etree

from gateway.message_types import MessageTypeRegistry
from gateway.settings import PROJECT_HOME, Settings

FIXTURES = PROJECT_HOME / "tests" / "fixtures" / "ncts"
NCTS = "http://ncts.dgtaxud.ec"
DS = "http://www.w3.org/2000/09/xmldsig#"
MRN = "25MK000001234567J0"                # the fixtures' MRN (check digit 0)


@cache
def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def new_id(prefix: str = "T", length: int = 22) -> str:
    """A fresh id of ``length`` characters (an LRN has at most 22, a message id 35)."""
    return f"{prefix}{uuid.uuid4().hex.upper()}"[:length]


def cc015c(*, message_id: str | None = None, lrn: str | None = None) -> bytes:
    """Our CC015C (MK001005 -> RS002000 via RS001100) with a fresh message id and LRN."""
    body = fixture("cc015c_mk_rs.xml")
    body = body.replace(b"VL-015-20250314-0001", (message_id or new_id("VL")).encode())
    return body.replace(b"MK-2025-TR-000117", (lrn or new_id("MK-")).encode())


def cc007c(mrn: str, *, message_id: str | None = None) -> bytes:
    """Our CC007C (arrival at RS002000) for ``mrn`` with a fresh message id."""
    body = fixture("cc007c.xml").replace(MRN.encode(), mrn.encode())
    return body.replace(b"BDC-007-20250315-0003", (message_id or new_id("BDC")).encode())


def with_goods_items(body: bytes, count: int) -> bytes:
    """``body`` (a CC015C) with ``count`` goods items in its (first) house consignment."""
    start = body.index(b"<ConsignmentItem>")
    end = body.rindex(b"</ConsignmentItem>") + len(b"</ConsignmentItem>")
    first_end = body.index(b"</ConsignmentItem>") + len(b"</ConsignmentItem>")
    one = body[start:first_end]
    items = b"".join(one.replace(b"<goodsItemNumber>1<", f"<goodsItemNumber>{n}<".encode())
                     .replace(b"<declarationGoodsItemNumber>1<",
                              f"<declarationGoodsItemNumber>{n}<".encode())
                     for n in range(1, count + 1))
    return body[:start] + items + body[end:]


def line_of(body: bytes, needle: bytes) -> int:
    """The 1-based line of the first ``needle`` in ``body``."""
    return body[:body.index(needle)].count(b"\n") + 1


@cache
def registry() -> MessageTypeRegistry:
    settings = Settings()
    return MessageTypeRegistry.load(settings.config_dir / "message_types.toml",
                                    settings.schemas_dir)


def schema_problems(document: bytes) -> list[Any]:
    """What our schema of the document's P5 type says of it (signed, as emitted)."""
    root = etree.fromstring(document)
    found = registry().identify(root)
    return registry().validate(found.message_type, root, document)


@dataclass(frozen=True)
class Nack:
    """An NCTS answer read by element name."""

    message_type: str
    header: dict[str, str]
    errors: list[dict[str, str]]
    root: etree._Element

    @property
    def codes(self) -> list[str]:
        return [e["errorCode"] for e in self.errors]


def read(document: bytes) -> Nack:
    root = etree.fromstring(document)
    header = {child.tag: child.text or "" for child in root
              if isinstance(child.tag, str) and len(child) == 0 and child.tag[0] != "{"}
    for section in ("Header", "TransitOperation"):
        found = root.find(section)
        if found is not None:
            header.update({f"{section}/{c.tag}": c.text or "" for c in found})
    errors = [{c.tag: c.text or "" for c in error}
              for error in root if error.tag in ("FunctionalError", "XMLError")]
    return Nack(etree.QName(root).localname, header, errors, root)


def local_name(document: bytes) -> str:
    match = re.match(rb"\s*(?:<\?xml[^>]*\?>\s*)?<(?:[\w.-]+:)?([\w.-]+)", document)
    assert match is not None
    return match.group(1).decode()
