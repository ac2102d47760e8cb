"""NCTS phase 5 messages the gateway writes, built from canonical movement data.

The trader notifications (``CC028C`` MRN allocated, ``CC029C`` released for transit, ``CC045C``
written off, ``CC056C`` rejected, ``CC025C`` goods released at destination) and the
customs-to-customs messages (``CD001C`` anticipated arrival record, ``CD050C`` anticipated
transit record, ``CD006C`` arrival advice, ``CD018C`` control results, ``CD118C`` notification
crossing frontier) are written here from the canonical ``MovementMessage`` the gateway kept of
the declaration (its CC015C, or the CD001C/CD050C received) and the facts of a decision (the
MRN, dates, control result). The acknowledgements (``CC928C``, ``CC906C``, ``CC917C``,
``CD906C``, ``CD917C``) are the answer format's (``gateway/documents/ncts_answers.py``), built
with the same header.

Every builder writes the elements in the order of the message's schema (``schemas/ncts/p5/``):
the root qualified in ``http://ncts.dgtaxud.ec`` with ``PhaseID``, the children unqualified,
the ``MESSAGE`` header first. What the canonical model does not carry (transport equipment,
seals, places of loading, documents …) is not written: every such data group is optional in
these messages. A data group the schema requires but the canonical data lacks is left out
too, and the document fails its schema — callers validate what they built before they sign
and send it (``gateway/flows/transit/outbound.py``), so an incomplete record is refused with
its problems instead of being sent. Values are written as the schemas want them: flags ``0`` /
``1``, decimals without exponent, dates ``YYYY-MM-DD``, date-times ``YYYY-MM-DDThh:mm:ss``
(UTC wall time, no zone: the P5 format has none).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from lxml import etree

from gateway.canonical.movement import (
    Consignment,
    ControlResult,
    Declaration,
    GoodsItem,
    HouseConsignment,
    MovementMessage,
    Party,
)

NCTS_NS = "http://ncts.dgtaxud.ec"
PHASE = "NCTS5.1"
PHASES = ("NCTS5.0", "NCTS5.1")
_TOKEN35 = re.compile(r"^\S(.{0,33}\S)?$")


def nta(country: str) -> str:
    """The NCTS name of a national transit application: ``NTA.MK``."""
    return f"NTA.{country.upper()}"


def p5_datetime(iso: str | None = None) -> str:
    """``YYYY-MM-DDThh:mm:ss`` (UTC wall time) of an ISO 8601 instant (now if none)."""
    moment = dt.datetime.now(dt.UTC) if not iso else \
        dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def p5_date(iso: str | None = None) -> str:
    """``YYYY-MM-DD`` of an ISO 8601 date or instant (today, UTC, if none)."""
    if iso and len(iso) == 10:
        return iso
    return p5_datetime(iso)[:10]


def new_message_id(country: str, message_type: str, seed: str | None = None) -> str:
    """A ``messageIdentification`` of ours: ``MK928-<26 hex>`` (at most 35 characters); the same
    ``seed`` (a receipt or event id) gives the same id."""
    tail = re.sub(r"[^0-9A-Za-z]", "", seed or uuid.uuid4().hex)[:26] or uuid.uuid4().hex[:26]
    return f"{country.upper()[:2]}{message_type[2:5]}-{tail}"


def header_value(value: str | None) -> str | None:
    """A header value a P5 schema accepts (1 to 35 characters, no outer space), else None."""
    if value is None:
        return None
    value = " ".join(value.split())
    return value if _TOKEN35.match(value) else None


@dataclass(frozen=True)
class Header:
    """The ``MESSAGE`` group of a message we write."""

    sender: str
    recipient: str
    prepared_at: str                        # P5 form, YYYY-MM-DDThh:mm:ss
    message_id: str
    correlation_id: str | None = None
    phase: str = PHASE


def root(message_type: str, header: Header) -> etree._Element:
    """The root of ``message_type`` with its ``MESSAGE`` header written."""
    element = etree.Element(f"{{{NCTS_NS}}}{message_type}", nsmap={"ncts": NCTS_NS},
                            PhaseID=header.phase if header.phase in PHASES else PHASE)
    leaf(element, "messageSender", header.sender)
    leaf(element, "messageRecipient", header.recipient)
    leaf(element, "preparationDateAndTime", header.prepared_at)
    leaf(element, "messageIdentification", header.message_id)
    leaf(element, "messageType", message_type)
    leaf(element, "correlationIdentifier", header.correlation_id)
    return element


def text_of(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def leaf(parent: etree._Element, name: str, value: Any) -> etree._Element | None:
    """``<name>value</name>`` under ``parent``, unless ``value`` is None or empty."""
    if value is None or value == "":
        return None
    element = etree.SubElement(parent, name)
    element.text = text_of(value)
    return element


def sub(parent: etree._Element, name: str) -> etree._Element:
    return etree.SubElement(parent, name)


def office(parent: etree._Element, name: str, reference: str | None) -> None:
    if reference:
        leaf(sub(parent, name), "referenceNumber", reference)


# --- parties ------------------------------------------------------------------------------------


def _address(parent: etree._Element, party: Party) -> None:
    address = party.address
    if address is None or not (address.street_and_number and address.city and address.country):
        return
    element = sub(parent, "Address")
    leaf(element, "streetAndNumber", address.street_and_number)
    leaf(element, "postcode", address.postcode)
    leaf(element, "city", address.city)
    leaf(element, "country", address.country)


def _contact(parent: etree._Element, party: Party) -> None:
    contact = party.contact_person
    if contact is None or not (contact.name and contact.phone_number):
        return
    element = sub(parent, "ContactPerson")
    leaf(element, "name", contact.name)
    leaf(element, "phoneNumber", contact.phone_number)
    leaf(element, "eMailAddress", contact.email)


def holder(parent: etree._Element, party: Party | None, *, tir: bool = True,
           contact: bool = False) -> None:
    """``HolderOfTheTransitProcedure`` (always written: every message requires it)."""
    element = sub(parent, "HolderOfTheTransitProcedure")
    if party is None:
        return
    leaf(element, "identificationNumber", party.identification_number)
    if tir:
        leaf(element, "TIRHolderIdentificationNumber", party.tir_holder_identification_number)
    leaf(element, "name", party.name)
    _address(element, party)
    if contact:
        _contact(element, party)


def _trader(parent: etree._Element, name: str, party: Party | None, *, full: bool,
            contact: bool = False) -> None:
    """A consignor or consignee: ``full`` (the CD records) needs its name and address, else the
    party is left out (optional there); the CC messages take what there is."""
    if party is None:
        return
    if full and not (party.name and party.address):
        return
    if not (party.identification_number or party.name or party.address):
        return
    element = sub(parent, name)
    leaf(element, "identificationNumber", party.identification_number)
    leaf(element, "name", party.name)
    _address(element, party)
    if contact:
        _contact(element, party)


# --- the declaration ------------------------------------------------------------------------------


def _offices(parent: etree._Element, message: MovementMessage) -> None:
    offices = message.offices
    office(parent, "CustomsOfficeOfDeparture", offices.departure)
    office(parent, "CustomsOfficeOfDestinationDeclared", offices.destination)
    for transit in offices.transit:
        element = sub(parent, "CustomsOfficeOfTransitDeclared")
        leaf(element, "sequenceNumber", transit.sequence)
        leaf(element, "referenceNumber", transit.reference)
        leaf(element, "arrivalDateAndTimeEstimated", transit.arrival_estimated)
    for exit_office in offices.exit:
        element = sub(parent, "CustomsOfficeOfExitForTransitDeclared")
        leaf(element, "sequenceNumber", exit_office.sequence)
        leaf(element, "referenceNumber", exit_office.reference)


def _control_result(parent: etree._Element, result: ControlResult | None, *,
                    controlled_by: bool) -> None:
    if result is None or not (result.code and result.date):
        return
    element = sub(parent, "ControlResult")
    leaf(element, "code", result.code)
    leaf(element, "date", result.date)
    if controlled_by:
        leaf(element, "controlledBy", result.controlled_by)
    leaf(element, "text", result.text)


def _guarantees(parent: etree._Element, declaration: Declaration) -> None:
    for guarantee in declaration.guarantees:
        element = sub(parent, "Guarantee")
        leaf(element, "sequenceNumber", guarantee.sequence)
        leaf(element, "guaranteeType", guarantee.type)
        leaf(element, "otherGuaranteeReference", guarantee.other_reference)
        for reference in guarantee.references:
            ref = sub(element, "GuaranteeReference")
            leaf(ref, "sequenceNumber", reference.sequence)
            leaf(ref, "GRN", reference.grn)
            leaf(ref, "accessCode", reference.access_code)
            leaf(ref, "amountToBeCovered", reference.amount_to_be_covered)
            leaf(ref, "currency", reference.currency)


def _consignment(parent: etree._Element, consignment: Consignment | None, *,
                 record: bool) -> None:
    """``Consignment`` of a CC029C (``record=False``) or of a CD001C/CD050C (``record=True``)."""
    element = sub(parent, "Consignment")
    if consignment is None:
        return
    leaf(element, "countryOfDispatch", consignment.country_of_dispatch)
    leaf(element, "countryOfDestination", consignment.country_of_destination)
    leaf(element, "containerIndicator", bool(consignment.container_indicator))
    leaf(element, "inlandModeOfTransport", consignment.inland_mode_of_transport)
    leaf(element, "modeOfTransportAtTheBorder", consignment.mode_of_transport_at_the_border)
    leaf(element, "grossMass", consignment.gross_mass)
    leaf(element, "referenceNumberUCR", consignment.reference_number_ucr)
    carrier = consignment.carrier
    if carrier is not None and carrier.identification_number:
        element_carrier = sub(element, "Carrier")
        leaf(element_carrier, "identificationNumber", carrier.identification_number)
        if not record:
            _contact(element_carrier, carrier)
    _trader(element, "Consignor", consignment.consignor, full=record, contact=not record)
    _trader(element, "Consignee", consignment.consignee, full=record)
    for means in consignment.departure_transport_means:
        complete = means.type_of_identification and means.identification_number and \
            means.nationality
        if not record and not complete:        # all three are required in a CC029C
            continue
        dtm = sub(element, "DepartureTransportMeans")
        leaf(dtm, "sequenceNumber", means.sequence)
        leaf(dtm, "typeOfIdentification", means.type_of_identification)
        leaf(dtm, "identificationNumber", means.identification_number)
        leaf(dtm, "nationality", means.nationality)
    for routing in consignment.countries_of_routing:
        country = sub(element, "CountryOfRoutingOfConsignment")
        leaf(country, "sequenceNumber", routing.sequence)
        leaf(country, "country", routing.country)
    for house in consignment.house_consignments:
        _house(element, house, record=record)


def _house(parent: etree._Element, house: HouseConsignment, *, record: bool) -> None:
    element = sub(parent, "HouseConsignment")
    leaf(element, "sequenceNumber", house.sequence)
    leaf(element, "countryOfDispatch", house.country_of_dispatch)
    leaf(element, "countryOfDestination", house.country_of_destination)
    leaf(element, "grossMass", house.gross_mass)
    leaf(element, "referenceNumberUCR", house.reference_number_ucr)
    _trader(element, "Consignor", house.consignor, full=record, contact=not record)
    _trader(element, "Consignee", house.consignee, full=record)
    for item in house.goods_items:
        _item(element, item, record=record)


def _item(parent: etree._Element, item: GoodsItem, *, record: bool) -> None:
    element = sub(parent, "ConsignmentItem")
    leaf(element, "goodsItemNumber", item.goods_item_number)
    leaf(element, "declarationGoodsItemNumber", item.declaration_goods_item_number)
    leaf(element, "declarationType", item.declaration_type)
    leaf(element, "countryOfDispatch", item.country_of_dispatch)
    leaf(element, "countryOfDestination", item.country_of_destination)
    _trader(element, "Consignee", item.consignee, full=record)
    commodity = sub(element, "Commodity")
    leaf(commodity, "descriptionOfGoods", item.description)
    leaf(commodity, "cusCode", item.cus_code)
    if item.hs_code:
        code = sub(commodity, "CommodityCode")
        leaf(code, "harmonizedSystemSubHeadingCode", item.hs_code)
        leaf(code, "combinedNomenclatureCode", item.combined_nomenclature_code)
    for goods in item.dangerous_goods:
        dangerous = sub(commodity, "DangerousGoods")
        leaf(dangerous, "sequenceNumber", goods.sequence)
        leaf(dangerous, "UNNumber", goods.un_number)
    if item.gross_mass is not None or (record and item.net_mass is not None):
        measure = sub(commodity, "GoodsMeasure")
        leaf(measure, "grossMass", item.gross_mass)
        leaf(measure, "netMass", item.net_mass)
    for package in item.packages:
        packaging = sub(element, "Packaging")
        leaf(packaging, "sequenceNumber", package.sequence)
        leaf(packaging, "typeOfPackages", package.type)
        leaf(packaging, "numberOfPackages", package.number)
        leaf(packaging, "shippingMarks", package.shipping_marks)


@dataclass(frozen=True)
class Release:
    """What the office of departure decided when it released the movement."""

    mrn: str
    acceptance_date: str                    # YYYY-MM-DD
    release_date: str                       # YYYY-MM-DD
    control_result: ControlResult | None = None


def _declaration_of(message: MovementMessage) -> Declaration:
    if message.declaration is None:
        raise ValueError(f"a {message.message_type or 'message'} without declaration data "
                         f"cannot be released")
    return message.declaration


def release_for_transit(declaration: MovementMessage, release: Release, header: Header
                        ) -> etree._Element:
    """``CC029C`` for the holder: the declaration as released, with the MRN and dates."""
    data = _declaration_of(declaration)
    element = root("CC029C", header)
    operation = sub(element, "TransitOperation")
    leaf(operation, "LRN", declaration.lrn)
    leaf(operation, "MRN", release.mrn)
    leaf(operation, "declarationType", data.declaration_type)
    leaf(operation, "additionalDeclarationType", data.additional_declaration_type)
    leaf(operation, "TIRCarnetNumber", data.tir_carnet_number)
    leaf(operation, "declarationAcceptanceDate", release.acceptance_date)
    leaf(operation, "releaseDate", release.release_date)
    leaf(operation, "security", data.security)
    leaf(operation, "reducedDatasetIndicator", bool(data.reduced_dataset))
    leaf(operation, "specificCircumstanceIndicator", data.specific_circumstance)
    leaf(operation, "bindingItinerary", bool(data.binding_itinerary))
    for authorisation in data.authorisations:
        auth = sub(element, "Authorisation")
        leaf(auth, "sequenceNumber", authorisation.sequence)
        leaf(auth, "type", authorisation.type)
        leaf(auth, "referenceNumber", authorisation.reference)
    _offices(element, declaration)
    holder(element, declaration.holder, contact=True)
    representative = data.representative
    if representative is not None and representative.identification_number and \
            representative.status:
        rep = sub(element, "Representative")
        leaf(rep, "identificationNumber", representative.identification_number)
        leaf(rep, "status", representative.status)
        _contact(rep, representative)
    _control_result(element, release.control_result, controlled_by=True)
    _guarantees(element, data)
    _consignment(element, data.consignment, record=False)
    return element


def arrival_record(declaration: MovementMessage, release: Release, header: Header, *,
                   message_type: str = "CD001C") -> etree._Element:
    """``CD001C`` (anticipated arrival record, to the office of destination's administration)
    or ``CD050C`` (anticipated transit record, to an office of transit's): the declaration as
    released, in the customs-to-customs form."""
    if message_type not in ("CD001C", "CD050C"):
        raise ValueError(f"{message_type} is not an anticipated arrival or transit record")
    data = _declaration_of(declaration)
    element = root(message_type, header)
    operation = sub(element, "TransitOperation")
    leaf(operation, "MRN", release.mrn)
    leaf(operation, "declarationType", data.declaration_type)
    if message_type == "CD001C":
        leaf(operation, "TIRCarnetNumber", data.tir_carnet_number)
    leaf(operation, "declarationAcceptanceDate", release.acceptance_date)
    leaf(operation, "releaseDate", release.release_date)
    leaf(operation, "security", data.security)
    leaf(operation, "reducedDatasetIndicator", bool(data.reduced_dataset))
    leaf(operation, "specificCircumstanceIndicator", data.specific_circumstance)
    leaf(operation, "bindingItinerary", bool(data.binding_itinerary))
    _offices(element, declaration)
    holder(element, declaration.holder, tir=message_type == "CD001C")
    _control_result(element, release.control_result, controlled_by=False)
    _consignment(element, data.consignment, record=True)
    return element


# --- the small messages ---------------------------------------------------------------------------


def mrn_allocated(declaration: MovementMessage, mrn: str, acceptance_date: str,
                  header: Header) -> etree._Element:
    """``CC028C``: the declaration is accepted, its MRN allocated."""
    element = root("CC028C", header)
    operation = sub(element, "TransitOperation")
    leaf(operation, "LRN", declaration.lrn)
    leaf(operation, "MRN", mrn)
    leaf(operation, "declarationAcceptanceDate", acceptance_date)
    office(element, "CustomsOfficeOfDeparture", declaration.offices.departure)
    holder(element, declaration.holder)
    return element


def written_off(declaration: MovementMessage, mrn: str, write_off_date: str, header: Header
                ) -> etree._Element:
    """``CC045C``: the movement is written off at departure."""
    element = root("CC045C", header)
    operation = sub(element, "TransitOperation")
    leaf(operation, "MRN", mrn)
    leaf(operation, "writeOffDate", write_off_date)
    office(element, "CustomsOfficeOfDeparture", declaration.offices.departure)
    holder(element, declaration.holder)
    return element


@dataclass(frozen=True)
class FunctionalError:
    """One ``FunctionalError`` of a CC056C, CC906C or CD906C."""

    pointer: str
    code: str                               # CL180
    reason: str = "N/A"
    original_value: str | None = None


def functional_errors(parent: etree._Element, errors: Sequence[FunctionalError], *,
                      reason_required: bool = True) -> None:
    for error in errors:
        element = sub(parent, "FunctionalError")
        leaf(element, "errorPointer", error.pointer)
        leaf(element, "errorCode", error.code)
        if reason_required or error.reason != "N/A":
            leaf(element, "errorReason", error.reason)
        leaf(element, "originalAttributeValue", error.original_value)


def rejected(declaration: MovementMessage, rejected_at: str, errors: Sequence[FunctionalError],
             header: Header, *, rejection_code: str = "12", reason: str | None = None
             ) -> etree._Element:
    """``CC056C``: the office of departure rejects the declaration (business rejection type
    ``015``, the message rejected; rejection code CL047, ``12`` = not acceptable)."""
    element = root("CC056C", header)
    operation = sub(element, "TransitOperation")
    leaf(operation, "LRN", declaration.lrn)
    leaf(operation, "MRN", declaration.mrn)
    leaf(operation, "businessRejectionType", (declaration.message_type or "CC015C")[2:5])
    leaf(operation, "rejectionDateAndTime", rejected_at)
    leaf(operation, "rejectionCode", rejection_code)
    leaf(operation, "rejectionReason", reason)
    office(element, "CustomsOfficeOfDeparture", declaration.offices.departure)
    holder(element, declaration.holder)
    functional_errors(element, errors)
    return element


def goods_released(mrn: str, office_of_destination: str, trader_id: str, release_date: str,
                   header: Header) -> etree._Element:
    """``CC025C``: the goods are released at destination (release indicator 1: as declared)."""
    element = root("CC025C", header)
    operation = sub(element, "TransitOperation")
    leaf(operation, "MRN", mrn)
    leaf(operation, "releaseDate", release_date)
    leaf(operation, "releaseIndicator", "1")
    office(element, "CustomsOfficeOfDestinationActual", office_of_destination)
    leaf(sub(element, "TraderAtDestination"), "identificationNumber", trader_id)
    return element


def arrival_advice(mrn: str, office_of_departure: str, office_of_destination: str,
                   arrived_at: str, header: Header) -> etree._Element:
    """``CD006C``: the office of destination tells departure the goods arrived."""
    element = root("CD006C", header)
    operation = sub(element, "TransitOperation")
    leaf(operation, "MRN", mrn)
    leaf(operation, "arrivalDateAndTimeActual", arrived_at)
    office(element, "CustomsOfficeOfDeparture", office_of_departure)
    office(element, "CustomsOfficeOfDestinationActual", office_of_destination)
    return element


def control_results(mrn: str, office_of_departure: str, office_of_destination: str,
                    result: ControlResult, header: Header, *, binding_itinerary: bool = False
                    ) -> etree._Element:
    """``CD018C``: the destination's control results (they let departure write off)."""
    element = root("CD018C", header)
    operation = sub(element, "TransitOperation")
    leaf(operation, "MRN", mrn)
    leaf(operation, "bindingItinerary", binding_itinerary)
    office(element, "CustomsOfficeOfDeparture", office_of_departure)
    office(element, "CustomsOfficeOfDestinationActual", office_of_destination)
    control = sub(element, "ControlResult")
    leaf(control, "code", result.code)
    leaf(control, "date", result.date)
    leaf(control, "stateOfSeals", result.state_of_seals)
    leaf(control, "text", result.text)
    return element


def crossing_notified(mrn: str, office_of_departure: str, office_of_transit: str,
                      passage_date: str, header: Header) -> etree._Element:
    """``CD118C``: the movement crossed the frontier at an office of transit."""
    element = root("CD118C", header)
    operation = sub(element, "TransitOperation")
    leaf(operation, "MRN", mrn)
    leaf(operation, "passageDate", passage_date)
    office(element, "CustomsOfficeOfDeparture", office_of_departure)
    office(element, "CustomsOfficeOfTransitActual", office_of_transit)
    return element
