"""NCTS P5 messages mapped to the canonical movement message, and its rules.

Each sample of ``tests/fixtures/ncts/`` (one movement, Skopje to Belgrade through RS001100)
goes through its registry entry's mapping (``mappings/ncts-p5-<message>.toml``) into a
``MovementMessage``; the values checked are those written in the files. The rules
(``gateway/canonical/movement_rules.py``) are checked on the same samples broken by one value.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from ncts_support import MESSAGES, fixture, fixture_of, parse

from gateway.canonical.kinds import default_kinds
from gateway.canonical.model import from_plain, to_json_bytes
from gateway.canonical.movement import (
    CANONICAL_VERSION,
    MovementMessage,
)
from gateway.canonical.movement import (
    MESSAGES as MOVEMENT_MESSAGES,
)
from gateway.canonical.movement_rules import MovementProblem, rule_ids
from gateway.errors import InvalidMessage
from gateway.mapping.engine import load_mapping
from gateway.message_types import MessageTypeRegistry
from gateway.settings import Settings

SETTINGS = Settings()
REGISTRY = MessageTypeRegistry.load(SETTINGS.config_dir / "message_types.toml",
                                    SETTINGS.schemas_dir)
KIND = default_kinds().get("movement_message")
MRN = "25MK000001234567J0"


def canonical(body: bytes) -> MovementMessage:
    """The document mapped by its registry entry's mapping, built, not yet checked."""
    root = parse(body)
    entry = REGISTRY.identify(root).message_type
    assert REGISTRY.validate(entry, root, body) == [], entry.id
    plain = load_mapping(SETTINGS.mappings_dir / entry.mapping_file).apply(root, body)
    message = KIND.build(plain)
    assert isinstance(message, MovementMessage)
    return message


def rule_problems(body: bytes) -> list[MovementProblem]:
    """What the movement kind's rules say of the document (empty when it meets them)."""
    try:
        KIND.check(canonical(body))
    except InvalidMessage as refused:
        assert refused.code == "GW-RULE-INVALID"
        assert all(isinstance(p, MovementProblem) for p in refused.problems)
        return list(refused.problems)  # type: ignore[arg-type]
    return []


# --- every sample ----------------------------------------------------------------------------


@pytest.mark.parametrize("message", MESSAGES)
def test_sample_maps_to_its_payload_with_header_and_reference(message: str) -> None:
    """Every sample maps with its header, its payload and direction, its movement reference,
    and meets the rules; the canonical JSON is deterministic and reads back the same."""
    body = fixture_of(message)
    moved = canonical(body)
    root = parse(body)
    assert moved.header.message_type == message
    assert moved.header.message_id == root.findtext("messageIdentification")
    assert moved.header.sender == root.findtext("messageSender")
    assert moved.header.prepared_at == root.findtext("preparationDateAndTime")
    assert moved.header.correlation_id == root.findtext("correlationIdentifier")
    assert moved.header.phase == "NCTS5.1"
    assert (moved.payload, moved.direction) == (MOVEMENT_MESSAGES[message].payload,
                                                MOVEMENT_MESSAGES[message].direction)
    assert moved.source_format == f"ncts-p5-{message.lower()}"
    assert moved.canonical_version == CANONICAL_VERSION
    assert KIND.business_reference(moved) in (MRN, "MK-2025-TR-000117", "MK-2025-TR-000118",
                                              "MK-2025-TR-000119")
    assert rule_problems(body) == []
    data = to_json_bytes(moved)
    assert data == to_json_bytes(canonical(body))
    assert to_json_bytes(from_plain(MovementMessage, json.loads(data))) == data


def test_cc015c_maps_the_declaration_values() -> None:
    """The declaration's own data, its holder, guarantee, consignment, house consignment and
    goods items carry the values of the file, typed (masses and amounts as Decimals)."""
    moved = canonical(fixture("cc015c_mk_rs.xml"))
    assert (moved.lrn, moved.mrn) == ("MK-2025-TR-000117", None)
    assert (moved.offices.departure, moved.offices.destination) == ("MK001005", "RS002000")
    assert [(o.sequence, o.reference, o.arrival_estimated) for o in moved.offices.transit] == [
        (1, "RS001100", "2025-03-14T14:00:00")]
    holder = moved.holder
    assert holder is not None and holder.address is not None and holder.contact_person
    assert (holder.identification_number, holder.name) == ("MK4080012345678",
                                                           "Vardar Logistika DOOEL")
    assert (holder.address.city, holder.address.country) == ("Skopje", "MK")
    assert holder.contact_person.email == "customs@vardar-logistika.mk"
    declaration = moved.declaration
    assert declaration is not None and declaration.consignment is not None
    assert (declaration.declaration_type, declaration.security,
            declaration.reduced_dataset, declaration.binding_itinerary,
            declaration.limit_date) == ("T1", "0", False, False, "2025-03-21")
    assert declaration.representative and declaration.representative.status == "2"
    (guarantee,) = declaration.guarantees
    (reference,) = guarantee.references
    assert (guarantee.type, reference.grn, reference.access_code) == (
        "1", "25MK0000000001235", "4821")
    assert (reference.amount_to_be_covered, reference.currency) == (Decimal("12500.00"), "EUR")
    consignment = declaration.consignment
    assert consignment.gross_mass == Decimal("2310.5")
    assert consignment.container_indicator is False
    assert consignment.carrier and consignment.carrier.identification_number == \
        "MK4080055500011"
    assert consignment.consignee and consignment.consignee.name == \
        "Beogradski Distributivni Centar DOO"
    assert [c.country for c in consignment.countries_of_routing] == ["MK", "RS"]
    assert [(m.type_of_identification, m.identification_number, m.nationality)
            for m in consignment.departure_transport_means] == [("30", "SK1234AB", "MK")]
    (house,) = consignment.house_consignments
    assert (house.sequence, house.gross_mass) == (1, Decimal("2310.5"))
    first, second = house.goods_items
    assert (first.goods_item_number, first.declaration_goods_item_number, first.hs_code,
            first.combined_nomenclature_code, first.description) == (
        1, 1, "847130", "00", "Portable computers, 14 inch")
    assert (first.gross_mass, first.net_mass) == (Decimal("1450.25"), Decimal("1210"))
    assert [(p.type, p.number, p.shipping_marks) for p in first.packages] == [
        ("CT", 120, "ME-2025-117 1/120")]
    assert (second.hs_code, second.net_mass, second.packages[0].number) == (
        "940130", Decimal("742.5"), 60)
    assert moved.summary() == ("CC015C declaration data MK-2025-TR-000117: 1 house "
                               "consignment(s), 2 goods item(s)")


@pytest.mark.parametrize("message", ["CD001C", "CD050C", "CC029C"])
def test_records_of_the_released_declaration_carry_mrn_dates_and_control(message: str) -> None:
    """The AAR, the ATR and the release for transit carry the MRN, the acceptance and release
    dates, the control result and the goods as declared."""
    moved = canonical(fixture_of(message))
    declaration = moved.declaration
    assert moved.mrn == MRN and declaration is not None and declaration.consignment
    assert (declaration.acceptance_date, declaration.release_date) == ("2025-03-14",
                                                                       "2025-03-14")
    assert declaration.control_result and declaration.control_result.code == "A1"
    assert [o.reference for o in moved.offices.transit] == ["RS001100"]
    assert declaration.consignment.goods_item_count == 2
    items = declaration.consignment.house_consignments[0].goods_items
    assert [i.hs_code for i in items] == ["847130", "940130"]


def test_cc029c_fills_release_and_declaration() -> None:
    """CC029C is a release (its payload) with the declaration as released beside it."""
    moved = canonical(fixture("cc029c.xml"))
    assert moved.payload == "release" and moved.release is not None
    assert (moved.release.release_date, moved.release.acceptance_date) == ("2025-03-14",
                                                                           "2025-03-14")
    assert moved.lrn == "MK-2025-TR-000117"
    assert moved.declaration and moved.declaration.control_result
    assert moved.declaration.control_result.controlled_by == "MK001005-INSP-07"
    assert moved.declaration.guarantees[0].references[0].amount_to_be_covered == \
        Decimal("12500.00")


def test_arrival_notification_advice_and_control_results() -> None:
    """CC007C: arrival time, trader, location of goods; CD006C: actual arrival and offices;
    CD018C: control result with the state of the seals."""
    notified = canonical(fixture("cc007c.xml"))
    assert notified.arrival is not None and notified.arrival.location_of_goods
    assert (notified.arrival.arrived_at, notified.arrival.simplified_procedure,
            notified.arrival.incident_flag) == ("2025-03-15T07:25:00", False, False)
    assert notified.trader_at_destination and \
        notified.trader_at_destination.identification_number == "RS101234567"
    assert notified.arrival.location_of_goods.customs_office == "RS002000"
    assert notified.offices.destination_actual == "RS002000"
    advised = canonical(fixture("cd006c.xml"))
    assert advised.arrival and advised.arrival.arrived_at == "2025-03-15T07:25:00"
    assert (advised.offices.departure, advised.offices.destination_actual) == ("MK001005",
                                                                              "RS002000")
    controlled = canonical(fixture("cd018c.xml"))
    control = controlled.arrival.control_result if controlled.arrival else None
    assert control is not None
    assert (control.code, control.date, control.state_of_seals, control.text) == (
        "A1", "2025-03-15", True, "Seals intact, goods as declared")


def test_crossing_release_write_off_acceptance_and_acknowledgement() -> None:
    """CD118C passage at the office of transit; CC025C release at destination; CC045C
    write-off; CC028C the MRN allocated with its date; CC928C the LRN acknowledged."""
    crossed = canonical(fixture("cd118c.xml"))
    assert crossed.crossing and crossed.crossing.passage_date == "2025-03-14"
    assert crossed.offices.transit_actual == "RS001100"
    released = canonical(fixture("cc025c.xml"))
    assert released.release and (released.release.release_date,
                                 released.release.release_indicator) == ("2025-03-15", "1")
    written_off = canonical(fixture("cc045c.xml"))
    assert written_off.write_off and written_off.write_off.write_off_date == "2025-03-15"
    accepted = canonical(fixture("cc028c.xml"))
    assert accepted.acceptance and accepted.acceptance.acceptance_date == "2025-03-14"
    assert (accepted.lrn, accepted.mrn) == ("MK-2025-TR-000117", MRN)
    acknowledged = canonical(fixture("cc928c.xml"))
    assert acknowledged.lrn == "MK-2025-TR-000117"
    assert acknowledged.header.correlation_id == "VL-015-20250314-0001"


def test_nacks_and_rejections_map_their_errors() -> None:
    """Functional errors (pointer, CL180 code, reason, value), XML errors (line and column as
    numbers, CL030 code, text) and a rejection's own fields."""
    functional = canonical(fixture("cc906c.xml")).errors
    assert functional is not None and functional.kind == "functional"
    assert [(e.pointer, e.code, e.reason, e.original_value) for e in functional.entries] == [
        ("/CC007C/TransitOperation/MRN", "90", "N/A", MRN)]
    xml = canonical(fixture("cc917c.xml")).errors
    assert xml is not None and xml.kind == "xml"
    (error,) = xml.entries
    assert (error.line, error.column, error.code, error.original_value) == (17, 5, "12",
                                                                           "MK00100")
    assert canonical(fixture("cd906c.xml")).errors.entries[0].code == "92"  # type: ignore[union-attr]
    assert canonical(fixture("cd917c.xml")).errors.entries[0].line == 12  # type: ignore[union-attr]
    rejection = canonical(fixture("cc056c.xml")).errors
    assert rejection is not None and rejection.kind == "rejection"
    assert (rejection.business_rejection_type, rejection.rejection_code) == ("015", "12")
    assert rejection.entries[0].reason == "BR20004"


def test_routing_attributes_name_the_offices_their_countries_and_the_recipient() -> None:
    """The AAR routes by destination country and recipient; the crossing by transit office."""
    aar = KIND.routing_attributes(canonical(fixture("cd001c.xml")))
    assert {k: aar[k] for k in ("message_type", "direction", "office_of_departure",
                                "destination_country", "transit_countries", "recipient")} == {
        "message_type": "CD001C", "direction": "customs-to-customs",
        "office_of_departure": "MK001005", "destination_country": "RS",
        "transit_countries": "RS", "recipient": "NTA.RS"}
    crossing = KIND.routing_attributes(canonical(fixture("cd118c.xml")))
    assert (crossing["office_of_transit"], crossing["payload"]) == ("RS001100", "crossing")
    assert all(isinstance(v, str) for v in aar.values())


# --- the rules --------------------------------------------------------------------------------


def test_mrn_with_a_wrong_check_digit_is_r0028_code_93() -> None:
    """A CD118C whose MRN ends in 1 instead of 0: one problem, code 93, rule R0028, pointing
    at the MRN element; its errorPointer for a CD906C is the MRN itself."""
    bad = MRN[:17] + "1"
    (problem,) = rule_problems(fixture("cd118c.xml").replace(MRN.encode(), bad.encode()))
    assert (problem.code, problem.error_code, problem.rule) == ("GW-RULE-NCTS-MRN", "93",
                                                                "R0028")
    assert (problem.pointer, problem.value, problem.error_pointer) == (
        "/CD118C/TransitOperation/MRN", bad, bad)
    assert "check digit is 1" in problem.message and "is 0" in problem.message


def test_a_nack_echoing_a_bad_mrn_is_not_refused_for_it() -> None:
    """A CD906C repeats the MRN of the message it refuses, valid or not: no R0028 on NACKs."""
    bad = MRN[:17] + "1"
    assert rule_problems(fixture("cd906c.xml").replace(MRN.encode(), bad.encode())) == []


def _with_guarantee_type(body: bytes, kind: str, grn: str) -> bytes:
    return (body.replace(b"<guaranteeType>1</guaranteeType>",
                         f"<guaranteeType>{kind}</guaranteeType>".encode())
            .replace(b"<GRN>25MK0000000001235</GRN>", f"<GRN>{grn}</GRN>".encode()))


def test_grn_length_goes_with_the_guarantee_type_r0318() -> None:
    """A type 4 guarantee needs a 24-character GRN, any other 17: both schema-valid
    mismatches are R0318 at the GRN; the right lengths pass."""
    body = fixture("cc015c_mk_rs.xml")
    long_grn = "25MK0000000001235A000001"
    for kind, grn in (("4", "25MK0000000001235"), ("1", long_grn)):
        (problem,) = rule_problems(_with_guarantee_type(body, kind, grn))
        assert (problem.code, problem.rule, problem.error_code) == ("GW-RULE-NCTS-GRN",
                                                                    "R0318", "14")
        assert problem.pointer == "/CC015C/Guarantee/GuaranteeReference/GRN"
        assert problem.value == grn
    assert rule_problems(_with_guarantee_type(body, "4", long_grn)) == []


def test_sequence_numbers_of_a_data_group_are_r0987() -> None:
    """Two guarantees numbered 1 and 3: R0987 points at the second one's sequence number."""
    body = fixture("cc015c_mk_rs.xml")
    start = body.index(b"<Guarantee>")
    end = body.index(b"</Guarantee>") + len(b"</Guarantee>")
    second = body[start:end].replace(b"<sequenceNumber>1</sequenceNumber>\n    <guaranteeType>",
                                     b"<sequenceNumber>3</sequenceNumber>\n    <guaranteeType>")
    (problem,) = rule_problems(body[:end] + b"\n  " + second + body[end:])
    assert (problem.rule, problem.pointer, problem.value) == (
        "R0987", "/CC015C/Guarantee[2]/sequenceNumber", "3")


def test_goods_item_numbers_are_r0988_and_declaration_item_numbers_r0007() -> None:
    """Goods item numbers 1, 1 in a house consignment break R0988; declaration goods item
    numbers 1, 1 break R0007 (unique throughout the declaration)."""
    body = fixture("cc015c_mk_rs.xml")
    twice = body.replace(b"<goodsItemNumber>2</goodsItemNumber>",
                         b"<goodsItemNumber>1</goodsItemNumber>")
    (problem,) = rule_problems(twice)
    assert (problem.rule, problem.pointer) == (
        "R0988", "/CC015C/Consignment/HouseConsignment/ConsignmentItem[2]/goodsItemNumber")
    same = body.replace(b"<declarationGoodsItemNumber>2</declarationGoodsItemNumber>",
                        b"<declarationGoodsItemNumber>1</declarationGoodsItemNumber>")
    (problem,) = rule_problems(same)
    assert problem.rule == "R0007" and "repeats" in problem.message
    assert problem.pointer == ("/CC015C/Consignment/HouseConsignment/ConsignmentItem[2]/"
                               "declarationGoodsItemNumber")


def test_rule_ids_lists_the_rules_of_movement_problems() -> None:
    """rule_ids names each movement problem's rule, in order."""
    bad = MRN[:17] + "1"
    problems = rule_problems(fixture("cc028c.xml").replace(MRN.encode(), bad.encode()))
    assert rule_ids(problems) == ["R0028"]


# --- the mapping engine's dotted list targets ------------------------------------------------


def test_mapping_list_target_may_sit_inside_a_record(tmp_path: Path) -> None:
    """A [[lists]] target "a.b" fills the list b of the record a (what the movement mappings
    use for declaration.guarantees)."""
    mapping = tmp_path / "dotted.toml"
    mapping.write_text('[mapping]\nid = "dotted"\ncontext = "/r"\n\n[fields]\n'
                       '"a.name" = "n"\n\n[[lists]]\ntarget = "a.items"\neach = "i"\n'
                       '[lists.fields]\nvalue = { path = ".", as = "int" }\n',
                       encoding="utf-8")
    body = b"<r><n>x</n><i>1</i><i>2</i></r>"
    assert load_mapping(mapping).apply(parse(body), body) == {
        "a": {"name": "x", "items": [{"value": 1}, {"value": 2}]}}
