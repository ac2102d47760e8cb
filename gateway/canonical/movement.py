"""The canonical movement message: every NCTS phase 5 message of a transit movement, one kind.

Trader messages (``CC…C``) and customs-to-customs ones (``CD…C``) become one
``MovementMessage`` (canonical kind ``movement_message``, ``gateway/canonical/kinds.py``):

* what every message has — the header (sender, recipient, preparation time, message id,
  message type, correlation id, phase), the movement's references (MRN once allocated, else
  the trader's LRN), the customs offices it names (departure, destination declared and actual,
  transit declared and actual, exit for transit, presentation), the holder of the transit
  procedure, the direction (trader to customs, customs to trader, customs to customs);
* and the message's own data, in one section named by ``payload`` (``MESSAGES`` says which
  message carries which): ``declaration`` (CC015C, CD001C, CD050C; CC029C beside ``release``),
  ``acceptance`` (CC028C: the MRN allocated), ``arrival`` (CC007C, CD006C, CD018C with the
  control results), ``crossing`` (CD118C), ``release`` (CC029C, CC025C), ``write_off``
  (CC045C), ``errors`` (CC056C, CC906C, CC917C, CD906C, CD917C). CC928C (positive
  acknowledgement) needs no section.

Every field names where it sits in the P5 message below its container (``p5`` metadata, e.g.
``Commodity/GoodsMeasure/grossMass`` for a goods item's gross mass), so that a rule on the
canonical form can point at the element in NCTS terms — an XPath such as
``/CC015C/Consignment/HouseConsignment[1]/ConsignmentItem[2]/Commodity/GoodsMeasure/grossMass``
— ready for a ``CC906C`` ``errorPointer`` (``pointer_of``). Lists keep the document's order.
``CANONICAL_VERSION`` changes whenever a field is added, renamed or re-typed; every message of
the kind carries it, whatever its payload.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

CANONICAL_VERSION = "1.0"

TRADER_TO_CUSTOMS = "trader-to-customs"
CUSTOMS_TO_TRADER = "customs-to-trader"
CUSTOMS_TO_CUSTOMS = "customs-to-customs"


@dataclass(frozen=True)
class MessageKind:
    """What one P5 message type is: its payload section, direction and name."""

    payload: str
    direction: str
    title: str


#: Every movement message the gateway registers (``config/message_types.toml``).
MESSAGES: dict[str, MessageKind] = {
    "CC015C": MessageKind("declaration", TRADER_TO_CUSTOMS, "declaration data"),
    "CC928C": MessageKind("acknowledgement", CUSTOMS_TO_TRADER, "positive acknowledgement"),
    "CC028C": MessageKind("acceptance", CUSTOMS_TO_TRADER, "LRN and MRN allocated"),
    "CC029C": MessageKind("release", CUSTOMS_TO_TRADER, "release for transit"),
    "CC056C": MessageKind("errors", CUSTOMS_TO_TRADER, "rejection from office of departure"),
    "CC007C": MessageKind("arrival", TRADER_TO_CUSTOMS, "arrival notification"),
    "CC025C": MessageKind("release", CUSTOMS_TO_TRADER, "goods release notification"),
    "CC045C": MessageKind("write_off", CUSTOMS_TO_TRADER, "write-off notification"),
    "CC906C": MessageKind("errors", CUSTOMS_TO_TRADER, "functional NACK"),
    "CC917C": MessageKind("errors", CUSTOMS_TO_TRADER, "XML NACK"),
    "CD001C": MessageKind("declaration", CUSTOMS_TO_CUSTOMS, "anticipated arrival record"),
    "CD050C": MessageKind("declaration", CUSTOMS_TO_CUSTOMS, "anticipated transit record"),
    "CD006C": MessageKind("arrival", CUSTOMS_TO_CUSTOMS, "arrival advice"),
    "CD018C": MessageKind("arrival", CUSTOMS_TO_CUSTOMS, "destination control results"),
    "CD118C": MessageKind("crossing", CUSTOMS_TO_CUSTOMS, "notification crossing frontier"),
    "CD906C": MessageKind("errors", CUSTOMS_TO_CUSTOMS, "functional NACK"),
    "CD917C": MessageKind("errors", CUSTOMS_TO_CUSTOMS, "XML NACK"),
}
#: The negative acknowledgements: never answered by another NACK (rules G0085/G0086).
NACKS = frozenset({"CC906C", "CC917C", "CD906C", "CD917C"})


def p5(path: str, *, default: Any = None, many: bool = False) -> Any:
    """A canonical field that knows its P5 path below its container."""
    metadata = {"p5": path}
    if many:
        return dataclasses.field(default_factory=list, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def p5_path(cls: type, name: str) -> str:
    """The P5 path of a field below its container, e.g. ``Commodity/descriptionOfGoods``."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            return str(f.metadata["p5"])
    raise KeyError(f"{cls.__name__} has no field {name!r}")


def pointer_of(message_type: str, *steps: tuple[type, str, int | None]) -> str:
    """An XPath from the root through fields: ``(Class, field, index-or-None)`` per step,
    the index 1-based for an element of a list (``/CC015C/Guarantee[2]/guaranteeType``)."""
    parts = [message_type]
    for cls, name, index in steps:
        path = p5_path(cls, name)
        parts.append(f"{path}[{index}]" if index is not None else path)
    return "/" + "/".join(parts)


# --- common parts ---------------------------------------------------------------------------


@dataclass
class Address:
    street_and_number: str | None = p5("streetAndNumber")
    postcode: str | None = p5("postcode")
    city: str | None = p5("city")
    country: str | None = p5("country")


@dataclass
class ContactPerson:
    name: str | None = p5("name")
    phone_number: str | None = p5("phoneNumber")
    email: str | None = p5("eMailAddress")


@dataclass
class Party:
    """A holder, representative, consignor, consignee, carrier, trader at destination …"""

    identification_number: str | None = p5("identificationNumber")
    tir_holder_identification_number: str | None = p5("TIRHolderIdentificationNumber")
    name: str | None = p5("name")
    address: Address | None = p5("Address")
    contact_person: ContactPerson | None = p5("ContactPerson")
    status: str | None = p5("status")                       # a representative's status


@dataclass
class MessageHeader:
    sender: str | None = p5("messageSender")
    recipient: str | None = p5("messageRecipient")
    prepared_at: str | None = p5("preparationDateAndTime")
    message_id: str | None = p5("messageIdentification")
    message_type: str | None = p5("messageType")
    correlation_id: str | None = p5("correlationIdentifier")
    phase: str | None = p5("@PhaseID")


@dataclass
class TransitOffice:
    sequence: int | None = p5("sequenceNumber")
    reference: str | None = p5("referenceNumber")
    arrival_estimated: str | None = p5("arrivalDateAndTimeEstimated")


@dataclass
class ExitOffice:
    sequence: int | None = p5("sequenceNumber")
    reference: str | None = p5("referenceNumber")


@dataclass
class Offices:
    departure: str | None = p5("CustomsOfficeOfDeparture/referenceNumber")
    destination: str | None = p5("CustomsOfficeOfDestinationDeclared/referenceNumber")
    destination_actual: str | None = p5("CustomsOfficeOfDestinationActual/referenceNumber")
    transit: list[TransitOffice] = p5("CustomsOfficeOfTransitDeclared", many=True)
    transit_actual: str | None = p5("CustomsOfficeOfTransitActual/referenceNumber")
    exit: list[ExitOffice] = p5("CustomsOfficeOfExitForTransitDeclared", many=True)
    presentation: str | None = p5("CustomsOfficeOfPresentation/referenceNumber")

    @property
    def transit_countries(self) -> list[str]:
        """Country codes of the offices of transit, in order, each once."""
        out: list[str] = []
        for office in self.transit:
            country = (office.reference or "")[:2]
            if country and country not in out:
                out.append(country)
        return out


# --- declaration data (CC015C, CD001C, CD050C, CC029C) -------------------------------------


@dataclass
class GuaranteeReference:
    sequence: int | None = p5("sequenceNumber")
    grn: str | None = p5("GRN")
    access_code: str | None = p5("accessCode")
    amount_to_be_covered: Decimal | None = p5("amountToBeCovered")
    currency: str | None = p5("currency")


@dataclass
class Guarantee:
    sequence: int | None = p5("sequenceNumber")
    type: str | None = p5("guaranteeType")
    other_reference: str | None = p5("otherGuaranteeReference")
    references: list[GuaranteeReference] = p5("GuaranteeReference", many=True)


@dataclass
class Package:
    sequence: int | None = p5("sequenceNumber")
    type: str | None = p5("typeOfPackages")
    number: int | None = p5("numberOfPackages")
    shipping_marks: str | None = p5("shippingMarks")


@dataclass
class DangerousGoods:
    sequence: int | None = p5("sequenceNumber")
    un_number: str | None = p5("UNNumber")


@dataclass
class GoodsItem:
    goods_item_number: int | None = p5("goodsItemNumber")
    declaration_goods_item_number: int | None = p5("declarationGoodsItemNumber")
    declaration_type: str | None = p5("declarationType")
    country_of_dispatch: str | None = p5("countryOfDispatch")
    country_of_destination: str | None = p5("countryOfDestination")
    description: str | None = p5("Commodity/descriptionOfGoods")
    cus_code: str | None = p5("Commodity/cusCode")
    hs_code: str | None = p5("Commodity/CommodityCode/harmonizedSystemSubHeadingCode")
    combined_nomenclature_code: str | None = p5("Commodity/CommodityCode/"
                                                "combinedNomenclatureCode")
    gross_mass: Decimal | None = p5("Commodity/GoodsMeasure/grossMass")
    net_mass: Decimal | None = p5("Commodity/GoodsMeasure/netMass")
    dangerous_goods: list[DangerousGoods] = p5("Commodity/DangerousGoods", many=True)
    packages: list[Package] = p5("Packaging", many=True)
    consignee: Party | None = p5("Consignee")
    release_type: str | None = p5("releaseType")             # CC025C


@dataclass
class HouseConsignment:
    sequence: int | None = p5("sequenceNumber")
    country_of_dispatch: str | None = p5("countryOfDispatch")
    country_of_destination: str | None = p5("countryOfDestination")
    gross_mass: Decimal | None = p5("grossMass")
    reference_number_ucr: str | None = p5("referenceNumberUCR")
    consignor: Party | None = p5("Consignor")
    consignee: Party | None = p5("Consignee")
    release_type: str | None = p5("releaseType")             # CC025C
    goods_items: list[GoodsItem] = p5("ConsignmentItem", many=True)


@dataclass
class TransportMeans:
    sequence: int | None = p5("sequenceNumber")
    type_of_identification: str | None = p5("typeOfIdentification")
    identification_number: str | None = p5("identificationNumber")
    nationality: str | None = p5("nationality")


@dataclass
class RoutingCountry:
    sequence: int | None = p5("sequenceNumber")
    country: str | None = p5("country")


@dataclass
class Consignment:
    country_of_dispatch: str | None = p5("countryOfDispatch")
    country_of_destination: str | None = p5("countryOfDestination")
    container_indicator: bool | None = p5("containerIndicator")
    inland_mode_of_transport: str | None = p5("inlandModeOfTransport")
    mode_of_transport_at_the_border: str | None = p5("modeOfTransportAtTheBorder")
    gross_mass: Decimal | None = p5("grossMass")
    reference_number_ucr: str | None = p5("referenceNumberUCR")
    carrier: Party | None = p5("Carrier")
    consignor: Party | None = p5("Consignor")
    consignee: Party | None = p5("Consignee")
    departure_transport_means: list[TransportMeans] = p5("DepartureTransportMeans", many=True)
    countries_of_routing: list[RoutingCountry] = p5("CountryOfRoutingOfConsignment", many=True)
    house_consignments: list[HouseConsignment] = p5("HouseConsignment", many=True)

    @property
    def goods_item_count(self) -> int:
        return sum(len(house.goods_items) for house in self.house_consignments)


@dataclass
class ControlResult:
    code: str | None = p5("code")
    date: str | None = p5("date")
    controlled_by: str | None = p5("controlledBy")
    state_of_seals: bool | None = p5("stateOfSeals")
    text: str | None = p5("text")


@dataclass
class Authorisation:
    sequence: int | None = p5("sequenceNumber")
    type: str | None = p5("type")
    reference: str | None = p5("referenceNumber")


@dataclass
class Declaration:
    """The transit declaration's own data (the holder is the message's)."""

    declaration_type: str | None = p5("TransitOperation/declarationType")
    additional_declaration_type: str | None = p5("TransitOperation/additionalDeclarationType")
    tir_carnet_number: str | None = p5("TransitOperation/TIRCarnetNumber")
    security: str | None = p5("TransitOperation/security")
    reduced_dataset: bool | None = p5("TransitOperation/reducedDatasetIndicator")
    specific_circumstance: str | None = p5("TransitOperation/specificCircumstanceIndicator")
    binding_itinerary: bool | None = p5("TransitOperation/bindingItinerary")
    limit_date: str | None = p5("TransitOperation/limitDate")
    acceptance_date: str | None = p5("TransitOperation/declarationAcceptanceDate")
    release_date: str | None = p5("TransitOperation/releaseDate")
    authorisations: list[Authorisation] = p5("Authorisation", many=True)
    representative: Party | None = p5("Representative")
    control_result: ControlResult | None = p5("ControlResult")
    guarantees: list[Guarantee] = p5("Guarantee", many=True)
    consignment: Consignment | None = p5("Consignment")


# --- the other payloads ---------------------------------------------------------------------


@dataclass
class Acceptance:
    """CC028C: the declaration accepted, its MRN allocated."""

    acceptance_date: str | None = p5("TransitOperation/declarationAcceptanceDate")


@dataclass
class LocationOfGoods:
    type_of_location: str | None = p5("typeOfLocation")
    qualifier_of_identification: str | None = p5("qualifierOfIdentification")
    authorisation_number: str | None = p5("authorisationNumber")
    additional_identifier: str | None = p5("additionalIdentifier")
    unlocode: str | None = p5("UNLocode")
    customs_office: str | None = p5("CustomsOffice/referenceNumber")
    economic_operator: str | None = p5("EconomicOperator/identificationNumber")


@dataclass
class Incident:
    sequence: int | None = p5("sequenceNumber")
    code: str | None = p5("code")
    text: str | None = p5("text")


@dataclass
class Arrival:
    """Arrival at destination: notification (CC007C), advice (CD006C), control (CD018C)."""

    arrived_at: str | None = p5("TransitOperation/arrivalNotificationDateAndTime | "
                                "TransitOperation/arrivalDateAndTimeActual")
    simplified_procedure: bool | None = p5("TransitOperation/simplifiedProcedure")
    incident_flag: bool | None = p5("TransitOperation/incidentFlag")
    location_of_goods: LocationOfGoods | None = p5("Consignment/LocationOfGoods")
    incidents: list[Incident] = p5("Consignment/Incident", many=True)
    control_result: ControlResult | None = p5("ControlResult")
    other_things_to_report: str | None = p5("TransitOperation/otherThingsToReport")


@dataclass
class Crossing:
    """CD118C: the movement crossed the frontier at an office of transit."""

    passage_date: str | None = p5("TransitOperation/passageDate")


@dataclass
class Release:
    """Release for transit at departure (CC029C) or of the goods at destination (CC025C)."""

    release_date: str | None = p5("TransitOperation/releaseDate")
    release_indicator: str | None = p5("TransitOperation/releaseIndicator")
    acceptance_date: str | None = p5("TransitOperation/declarationAcceptanceDate")
    house_consignments: list[HouseConsignment] = p5("Consignment/HouseConsignment", many=True)


@dataclass
class WriteOff:
    """CC045C: the movement written off at departure."""

    write_off_date: str | None = p5("TransitOperation/writeOffDate")
    guarantor: Party | None = p5("Guarantor")


@dataclass
class ErrorEntry:
    """One error of a NACK or a rejection (FunctionalError or XMLError)."""

    pointer: str | None = p5("errorPointer")
    code: str | None = p5("errorCode")
    reason: str | None = p5("errorReason")
    text: str | None = p5("errorText")
    line: int | None = p5("errorLineNumber")
    column: int | None = p5("errorColumnNumber")
    original_value: str | None = p5("originalAttributeValue")


@dataclass
class Errors:
    """What a NACK (CC906C, CC917C, CD906C, CD917C) or a rejection (CC056C) reports."""

    kind: str | None = None                    # functional | xml | rejection
    business_rejection_type: str | None = p5("TransitOperation/businessRejectionType")
    rejected_at: str | None = p5("TransitOperation/rejectionDateAndTime")
    rejection_code: str | None = p5("TransitOperation/rejectionCode")
    rejection_reason: str | None = p5("TransitOperation/rejectionReason")
    entries: list[ErrorEntry] = p5("FunctionalError | XMLError", many=True)


# --- the message ----------------------------------------------------------------------------


@dataclass
class MovementMessage:
    """One P5 message of a transit movement, canonical."""

    source_format: str = ""                    # registry id of the format it came from
    canonical_version: str = CANONICAL_VERSION
    payload: str = ""                          # which section below holds its own data
    direction: str = ""                        # trader-to-customs | customs-to-trader | …
    header: MessageHeader = dataclasses.field(default_factory=MessageHeader)
    mrn: str | None = p5("TransitOperation/MRN | Header/MRN")
    lrn: str | None = p5("TransitOperation/LRN | Header/LRN")
    offices: Offices = dataclasses.field(default_factory=Offices)
    holder: Party | None = p5("HolderOfTheTransitProcedure")
    trader_at_destination: Party | None = p5("TraderAtDestination")
    declaration: Declaration | None = None
    acceptance: Acceptance | None = None
    arrival: Arrival | None = None
    crossing: Crossing | None = None
    release: Release | None = None
    write_off: WriteOff | None = None
    errors: Errors | None = None

    def __post_init__(self) -> None:
        kind = MESSAGES.get(self.header.message_type or "")
        if kind is not None:
            self.payload = self.payload or kind.payload
            self.direction = self.direction or kind.direction

    @property
    def message_type(self) -> str:
        return self.header.message_type or ""

    @property
    def reference(self) -> str | None:
        """The movement's reference: the MRN once allocated, else the trader's LRN."""
        return self.mrn or self.lrn

    @property
    def is_nack(self) -> bool:
        return self.message_type in NACKS

    def summary(self) -> str:
        """One line, e.g. ``CC015C declaration data LRN-1: 2 house consignment(s), 3 item(s)``."""
        kind = MESSAGES.get(self.message_type)
        head = f"{self.message_type} {kind.title if kind else 'movement message'}"
        ref = f" {self.reference}" if self.reference else ""
        consignment = self.declaration.consignment if self.declaration else None
        if consignment is not None:
            return (f"{head}{ref}: {len(consignment.house_consignments)} house "
                    f"consignment(s), {consignment.goods_item_count} goods item(s)")
        if self.errors is not None:
            return f"{head}{ref}: {len(self.errors.entries)} error(s)"
        return head + ref


def movement_attributes(message: MovementMessage) -> dict[str, str]:
    """What routes may match on (``config/routes.toml``): the message type (and in lower case,
    ``message``, for routing keys), its direction and
    payload, the offices — departure, destination (declared, else actual), the office of
    transit a CD118C comes from — and their countries, the countries of transit in order
    (``RS,BG``), the recipient (``NTA.RS``)."""
    offices = message.offices
    destination = offices.destination or offices.destination_actual or ""
    return {
        "message_type": message.message_type,
        "message": message.message_type.lower(),           # for routing keys: cc015c
        "direction": message.direction,
        "payload": message.payload,
        "office_of_departure": offices.departure or "",
        "departure_country": (offices.departure or "")[:2],
        "office_of_destination": destination,
        "destination_country": destination[:2],
        "office_of_transit": offices.transit_actual or "",
        "transit_countries": ",".join(offices.transit_countries),
        "recipient": message.header.recipient or "",
    }
