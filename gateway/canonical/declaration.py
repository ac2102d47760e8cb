"""The canonical goods declaration, aligned with the WCO Data Model 3.6.

Whatever dialect a broker speaks (WCO ``DEC``, ASYCUDA SAD XML, …), the mapping engine turns
it into this one ``Declaration``. Field names are the gateway's; each field carries its WCO
data element id and its WCO path below its container (see ``canonical.model.wco``).
``CANONICAL_VERSION`` changes whenever a field is added, renamed or re-typed.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from gateway.canonical.model import field_wco, wco

CANONICAL_VERSION = "1.1"   # 1.1: package quantities (header and item) are decimals, not ints

@dataclass
class Amount:
    value: Decimal
    currency: str | None = None


@dataclass
class Measure:
    value: Decimal
    unit: str | None = None


@dataclass
class Address:
    line: str | None = wco("239")
    city: str | None = wco("241")
    postcode: str | None = wco("245")
    country: str | None = wco("242")


@dataclass
class Party:
    """A party in a role; its WCO ids depend on the role (see ``PARTY_ROLES``)."""

    role: str
    name: str | None = wco("R124", "Name")      # the declarant's ids; other roles: PARTY_ROLES
    id: str | None = wco("R123", "ID")
    address: Address | None = wco("04A")


# role -> (WCO class id, path of the class below the Declaration, name id, identifier id)
PARTY_ROLES: dict[str, tuple[str, str, str, str]] = {
    "agent": ("05A", "05A", "R003", "R004"),
    "declarant": ("57B", "57B", "R124", "R123"),
    "exporter": ("57A", "57A", "R031", "R032"),
    "submitter": ("17B", "17B", "R058", "R059"),
    "importer": ("74A", "67A/74A", "R037", "R038"),
    "consignee": ("27A", "67A/27A", "R014", "R015"),
    "consignor": ("30A", "67A/30A", "R020", "R021"),
    "buyer": ("16A", "67A/16A", "R009", "R010"),
    "seller": ("09B", "67A/09B", "R050", "R051"),
    "payer": ("56B", "67A/56B", "R120", "R121"),
    "financial": ("56B", "67A/56B", "R120", "R121"),   # ASYCUDA's financial party pays
}


def party_pointer(role: str, field_name: str | None = None) -> str:
    """WCO pointer of a party (or its name/id), e.g. ``42A/67A/74A/R038`` for the importer's id."""
    _, path, name_id, id_id = PARTY_ROLES[role]
    leaf = {"name": name_id, "id": id_id, None: None}[field_name]
    return f"42A/{path}" + (f"/{leaf}" if leaf else "")


@dataclass
class Header:
    function_code: str | None = wco("017")
    lrn: str | None = wco("D026")
    mrn: str | None = wco("D014")
    type_code: str | None = wco("D013")
    issued_at: str | None = wco("D011")
    issue_place: str | None = wco("D012")
    goods_item_count: int | None = wco("228")
    total_packages: Decimal | None = wco("146")    # ASYCUDA exports send 0.06 packages
    total_gross_mass: Measure | None = wco("131")
    specific_circumstances: str | None = wco("504")


@dataclass
class Offices:
    declaration: str | None = wco("065")
    exit: str | None = wco("G005", "56A/G005")
    presentation: str | None = wco("G015", "15C/G015")
    supervising: str | None = wco("G012", "97B/G012")
    border: str | None = wco("G005", "56A/G005")
    destination: str | None = wco("G005")


@dataclass
class Procedure:
    category: str | None = wco("D013")           # IM / EX / CO: first letters of the type code
    general_code: str | None = wco("D013")       # ASYCUDA's general procedure code
    requested: str | None = wco("166", "67A/68A/70A/166")
    previous: str | None = wco("161", "67A/68A/70A/161")


@dataclass
class Transport:
    border_mode: str | None = wco("T022", "15A/T022")
    border_means_id: str | None = wco("T006", "15A/T006")
    border_means_nationality: str | None = wco("T014", "15A/T014")
    inland_mode: str | None = wco("T020", "67A/28A/10A/T020")
    arrival_means_id: str | None = wco("T002", "67A/28A/10A/T002")
    departure_means_id: str | None = wco("T004", "67A/28A/46A/T004")
    container: str | None = wco("096", "67A/28A/096")
    loading_location: str | None = wco("L010", "67A/28A/83A/L010")
    goods_location: str | None = wco("L017", "67A/28A/64A/L017")
    export_country: str | None = wco("062", "67A/95B/062")
    destination_country: str | None = wco("465", "67A/99B/465")
    trading_country: str | None = wco("106", "67A/22B/106")


@dataclass
class DocumentRef:
    kind: str                                      # "additional" | "previous"
    category: str | None = wco("D031")
    type: str | None = wco("D006")
    id: str | None = wco("D005")
    name: str | None = wco("D028")
    line: int | None = wco("171")
    quantity: Decimal | None = wco("502", "22C/502")


@dataclass
class Valuation:
    invoice_amount: Amount | None = wco("109")
    invoice_number: str | None = wco("D016", "67A/78A/D016")
    currency: str | None = wco("135", "40A/135")
    exchange_rate: Decimal | None = wco("118", "40A/118")
    incoterm: str | None = wco("090", "67A/22B/090")
    incoterm_place: str | None = wco("L001", "67A/22B/L001")
    freight: Amount | None = wco("117", "67A/41A/117")
    transaction_nature: str | None = wco("103", "67A/103")


@dataclass
class Package:
    quantity: Decimal | None = wco("144")         # fractional in real ASYCUDA exports
    type: str | None = wco("141")
    marks: str | None = wco("142")


@dataclass
class DutyLine:
    type: str | None = wco("113")
    rate: Decimal | None = wco("115")
    base_amount: Decimal | None = wco("116")
    base_quantity: Decimal | None = wco("129")
    assessed: Decimal | None = wco("120", "94A/120")
    payable: Decimal | None = wco("378", "94A/378")
    method: str | None = wco("107", "94A/107")


@dataclass
class GoodsItem:
    sequence: int = wco("006", default=0)
    commodity_code: str | None = wco("145", "23A/21A/145")
    description: str | None = wco("137", "23A/137")
    origin: str | None = wco("063", "92A/063")
    gross_mass: Decimal | None = wco("126", "23A/65A/126")
    net_mass: Decimal | None = wco("128", "23A/65A/128")
    supplementary_quantity: Decimal | None = wco("130", "23A/65A/130")
    customs_value: Amount | None = wco("108")
    statistical_value: Amount | None = wco("114")
    procedure: str | None = wco("166", "70A/166")
    previous_procedure: str | None = wco("161", "70A/161")
    national_procedure: str | None = wco("166", "70A/166")
    valuation_method: str | None = wco("122", "41A/122")
    packages: list[Package] = wco("93A", many=True)
    documents: list[DocumentRef] = wco("02A", many=True)
    duties: list[DutyLine] = wco("50A", "23A/50A", many=True)


@dataclass
class Declaration:
    """One goods declaration in the gateway's canonical form."""

    source_format: str = ""                        # registry id of the dialect it came from
    canonical_version: str = CANONICAL_VERSION
    header: Header = wco("42A", "", default=None)
    offices: Offices | None = wco("065", "", default=None)
    procedure: Procedure | None = wco("70A", "67A/68A/70A", default=None)
    parties: list[Party] = wco("", many=True)
    transport: Transport | None = wco("", "", default=None)
    valuation: Valuation | None = wco("", "", default=None)
    documents: list[DocumentRef] = wco("02A", many=True)
    goods_items: list[GoodsItem] = wco("68A", "67A/68A", many=True)

    def __post_init__(self) -> None:
        if self.header is None:
            self.header = Header()


def item_pointer(sequence: int, field_name: str | None = None) -> str:
    """WCO pointer of a goods item (or one of its fields), e.g. ``42A/67A/68A[2]/23A/65A/128``."""
    base = f"42A/67A/68A[{sequence}]"
    if field_name is None:
        return base
    return f"{base}/{field_wco(GoodsItem, field_name)[1]}"


def header_pointer(field_name: str) -> str:
    """WCO pointer of a header field, e.g. ``42A/228`` for the declared item count."""
    return f"42A/{field_wco(Header, field_name)[1]}"


def valuation_pointer(field_name: str) -> str:
    """WCO pointer of a valuation field, e.g. ``42A/67A/41A/117`` for the freight."""
    return f"42A/{field_wco(Valuation, field_name)[1]}"


_ITEM_PARTS: dict[str, type] = {"packages": Package, "duties": DutyLine, "documents": DocumentRef}


def item_part_pointer(sequence: int, part: str, index: int, field_name: str) -> str:
    """WCO pointer of a field of a goods item's package, duty line or document.

    ``item_part_pointer(2, "duties", 1, "assessed")`` is ``42A/67A/68A[2]/23A/50A[1]/94A/120``.
    """
    leaf = field_wco(_ITEM_PARTS[part], field_name)[1]
    return f"{item_pointer(sequence, part)}[{index}]/{leaf}"


def document_pointer(index: int, field_name: str) -> str:
    """WCO pointer of a field of a document attached to the whole declaration (``42A/02A[1]/…``)."""
    return f"42A/02A[{index}]/{field_wco(DocumentRef, field_name)[1]}"
