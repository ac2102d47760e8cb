"""The canonical licence: one licence or certificate an agency issued, amended or revoked.

Two sources map to it (``mappings/``):

* a UN/CEFACT ``SPSCertificate`` (phytosanitary, veterinary, CHED — as exchanged through the
  ePhyto hub), ``source = "sps-certificate"``: the certificate number, its type code (``851``
  phytosanitary …; ``type`` is the name ``config/codelists/sps_certificate_types.toml`` gives
  it), its status (``70`` issued, ``40`` withdrawn: revoked), the issuer, the consignee as the
  holder, the import country as the destination, one line per trade line item (its net
  weight, else net volume, else gross weight, else gross volume as the quantity; its HS or CN
  classification as the goods code) and a summary of every embedded attachment. An SPS
  certificate has no versions (a replacement is a new certificate): it is version 1, and its
  validity starts on its issue date;
* the gateway's own licence document (``schemas/licence/licence-1.xsd``),
  ``source = "licence-document"``: number, version, status, type (``import``, ``export``,
  ``dual-use`` …), validity, holder, agency, goods lines with HS code, quantity and unit.

Attachments are summarised — file name, MIME type, size, SHA-256 — never carried: the bytes
stay in the journal with the document as received. Quantities are ``Decimal`` with their UN/ECE
Recommendation 20 unit. ``CANONICAL_VERSION`` changes whenever a field is added, renamed or
re-typed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

CANONICAL_VERSION = "1.0"

SPS_CERTIFICATE, LICENCE_DOCUMENT = "sps-certificate", "licence-document"
ISSUED, AMENDED, REVOKED = "issued", "amended", "revoked"
STATUSES = (ISSUED, AMENDED, REVOKED)

#: Where each source states the licence's type (pointers of refusals about it).
TYPE_POINTERS = {SPS_CERTIFICATE: "/SPSCertificate/SPSExchangedDocument/TypeCode",
                 LICENCE_DOCUMENT: "/Licence/Type"}
#: Where each source states its goods lines, one element per ``LicenceLine``.
LINE_POINTERS = {
    SPS_CERTIFICATE: "/SPSCertificate/SPSConsignment/IncludedSPSConsignmentItem/"
                     "IncludedSPSTradeLineItem",
    LICENCE_DOCUMENT: "/Licence/GoodsLine"}


@dataclass
class LicenceParty:
    """An agency or a holder: its identifier where the source states one, its name."""

    id: str | None = None
    name: str | None = None
    country: str | None = None


@dataclass
class LicenceLine:
    """One goods line: what may be drawn against the licence, and how much."""

    line: int = 0                           # LineNumber / SequenceNumeric
    hs_code: str | None = None              # 4 to 10 digits
    description: str | None = None
    quantity: Decimal | None = None         # the quantity licensed (net, for SPS lines)
    unit: str | None = None                 # UN/ECE Rec 20 code of ``quantity``
    quantity_kind: str | None = None        # SPS: net-weight | net-volume | gross-weight …
    origin_country: str | None = None
    scientific_name: str | None = None      # SPS: the plant's or animal's botanical name


@dataclass
class Attachment:
    """A file embedded in the document, summarised (its bytes are not carried)."""

    filename: str | None = None
    mime_code: str | None = None
    size: int | None = None                 # bytes, decoded
    sha256: str | None = None               # hex, of the decoded bytes
    document_id: str | None = None          # the referenced document it belongs to


@dataclass
class Licence:
    """One licence or certificate at one version, as the gateway hands it on."""

    source_format: str = ""                 # registry id of the format it came from
    canonical_version: str = CANONICAL_VERSION
    source: str = ""                        # SPS_CERTIFICATE | LICENCE_DOCUMENT
    number: str = ""
    version: int = 1
    status: str = ISSUED
    type: str = ""                          # import, export, dual-use …, phytosanitary …
    certificate_type_code: str | None = None   # SPS TypeCode: 851, 657, 636 …
    status_code: str | None = None          # SPS StatusCode as stated (70, 40)
    issued_at: str | None = None
    issuing_agency: LicenceParty | None = None
    holder: LicenceParty | None = None
    valid_from: str | None = None           # ISO 8601 date
    valid_to: str | None = None
    destination_country: str | None = None
    export_country: str | None = None
    revoked_at: str | None = None
    revocation_reason: str | None = None
    lines: list[LicenceLine] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.valid_from is None and self.source == SPS_CERTIFICATE and self.issued_at:
            self.valid_from = self.issued_at[:10]

    def document_type(self) -> str:
        """What the issuing agency must be authorised for: the SPS certificate type code, or
        the licence type."""
        return self.certificate_type_code or self.type

    def summary(self) -> str:
        """One line, e.g. ``licence MK-IL-2026-7 v2 amended (import): 3 line(s)``."""
        kind = "certificate" if self.source == SPS_CERTIFICATE else "licence"
        files = f", {len(self.attachments)} attachment(s)" if self.attachments else ""
        return (f"{kind} {self.number} v{self.version} {self.status} ({self.type}): "
                f"{len(self.lines)} line(s){files}")


def line_pointer(licence: Licence, index: int, leaf: str | None = None) -> str:
    """The pointer of the ``index``-th goods line (1-based) in the licence's source document."""
    base = f"{LINE_POINTERS.get(licence.source, '/lines')}[{index}]"
    return f"{base}/{leaf}" if leaf else base
