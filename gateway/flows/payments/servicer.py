"""The intake step that keeps a bank to its own accounts (kind ``payment_notification``).

A bank partner names its BIC in ``config/partners.toml``; every account notification of its
files that names the account's servicer (``Ntfctn/Acct/Svcr/FinInstnId/BICFI``, ``BIC`` in
001.02/04) must name that bank. BICs are compared on their first eight characters
(institution, country, location): a branch code (``…XXX``, ``…80A``) does not make another
bank. A notification that names no servicer (the Swiss corpus file) cannot be checked and is
taken as the sender's. A mismatch is refused ``403 GW-AUTH-SERVICER`` with a located problem
(pointer, line, value): a bank may not report payments into accounts another bank keeps. A
bank partner with no BIC in the registry is refused the same way.
"""

from __future__ import annotations

from lxml import etree

from gateway.errors import Forbidden, Problem
from gateway.pipeline.exchange import Exchange
from gateway.xml.schema_problems import local_pointer

CODE = "GW-AUTH-SERVICER"
_SERVICER_BICS = etree.XPath(
    "//*[local-name() = 'Ntfctn']/*[local-name() = 'Acct']/*[local-name() = 'Svcr']"
    "/*[local-name() = 'FinInstnId']/*[local-name() = 'BICFI' or local-name() = 'BIC']")


def same_bank(bic: str, other: str) -> bool:
    """Whether two BICs name the same institution at the same location (first 8 characters)."""
    return bic.strip().upper()[:8] == other.strip().upper()[:8]


def account_servicer_is_sender(ex: Exchange) -> Exchange:
    """Refuse a file reporting an account that the sending bank does not service."""
    assert ex.partner is not None and ex.document is not None
    named = [node for node in _SERVICER_BICS(ex.document) if isinstance(node, etree._Element)]
    if not named:
        return ex
    bic = ex.partner.bic
    if bic is None:
        raise Forbidden(f"partner {ex.partner.id!r} has no BIC in the partner registry, so the "
                        f"accounts it may report cannot be checked", code=CODE)
    problems = [Problem(CODE, f"the account is serviced by {(node.text or '').strip()!r}, not "
                              f"by the sending bank {bic!r}",
                        pointer=local_pointer(node), line=node.sourceline,
                        value=(node.text or "").strip())
                for node in named if not same_bank(bic, node.text or "")]
    if problems:
        raise Forbidden(f"partner {ex.partner.id!r} ({bic}) may not report accounts another "
                        f"bank services", code=CODE, problems=problems)
    return ex
