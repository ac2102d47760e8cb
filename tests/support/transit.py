"""NCTS CD messages for the customs-link tests: our fixtures, changed where a test needs it,
signed as an administration signs them (enveloped XML-DSig on the root's Id)."""

from __future__ import annotations

import copy
import uuid
from functools import cache

from lxml import etree

from gateway.identifiers import mrn_check_digit
from gateway.settings import PROJECT_HOME
from gateway.signing.keys import SigningKey
from gateway.signing.xmldsig import XmlSigner

FIXTURES = PROJECT_HOME / "tests" / "fixtures" / "ncts"
NCTS = "http://ncts.dgtaxud.ec"


@cache
def _fixture(name: str) -> bytes:
    return (FIXTURES / f"{name.lower()}.xml").read_bytes()


def new_mrn(country: str = "MK") -> str:
    """A fresh MRN of ``country`` (procedure letter J, transit) with a valid check digit (rule
    R0028)."""
    body = f"25{country}{uuid.uuid4().hex[:12].upper()}J"
    return body + str(mrn_check_digit(body))


def message(name: str, *, message_id: str | None = None, mrn: str | None = None,
            lrn: str | None = None, sender: str | None = None, recipient: str | None = None,
            offices: dict[str, str] | None = None) -> etree._Element:
    """The fixture ``name`` (``cd001c``) with a fresh (or the given) ``messageIdentification``
    and, where given, another MRN, LRN, sender, recipient and office references (by container:
    ``{"CustomsOfficeOfDestinationDeclared": "MK001005"}``)."""
    root = etree.fromstring(_fixture(name))
    _set(root, "messageIdentification", message_id or f"T{uuid.uuid4().hex[:20].upper()}")
    if lrn is not None:
        for element in root.iter("LRN"):
            element.text = lrn
    if sender is not None:
        _set(root, "messageSender", sender)
    if recipient is not None:
        _set(root, "messageRecipient", recipient)
    if mrn is not None:
        for element in root.iter("MRN"):
            element.text = mrn
    for container, reference in (offices or {}).items():
        for found in root.iter(container):
            _set(found, "referenceNumber", reference)
    return root


def signed(root: etree._Element, key: SigningKey) -> bytes:
    """``root`` signed with ``key`` (enveloped, the shape the gateway emits)."""
    return XmlSigner(key).sign_to_bytes(copy.deepcopy(root))


def text(root: etree._Element, path: str) -> str | None:
    return root.findtext(path)


def _set(parent: etree._Element, name: str, value: str) -> None:
    found = parent.find(name)
    assert found is not None, f"{etree.QName(parent).localname} has no {name}"
    found.text = value
