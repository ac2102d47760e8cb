"""NCTS answers in NCTS form (gateway/documents/ncts_answers.py) through the real intake.

Every answer is checked the way a trader's software would: its root, its header (sender and
recipient swapped, our own message id, ``correlationIdentifier`` = the request's
``messageIdentification``, rule R0008), its error entries, its enveloped signature (verified
with the gateway's certificate) and its validity against our schema of its type — signed, as
sent. The journal is the real SQLite journal (``transit_support``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree
from support.ncts_trader import (
    MRN,
    cc007c,
    cc015c,
    fixture,
    line_of,
    new_id,
    read,
    schema_problems,
    with_goods_items,
)
from transit_support import TransitWorld, root_name

from gateway.documents.ncts_answers import (
    CL030,
    FUNCTIONAL_REJECTIONS,
    XML_REJECTIONS,
    NctsAnswers,
    cl030,
    is_nack_document,
    nack_kind,
)
from gateway.documents.receipts import GW_NS, RejectionInfo
from gateway.errors import Problem
from gateway.problem_codes import PROBLEM_CODES
from gateway.signing.xmldsig import verify_enveloped

#: CL030 values of the official XmlErrorCodes (the first twelve the reference shows)
OFFICIAL_CL030 = {"12", "13", "15", "18", "35", "39", "40", "50", "51", "52", "53", "54"}
CL180 = {"12", "13", "14", "15", "26", "50", "51", "52", "90", "92", "93"}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[TransitWorld]:
    built = TransitWorld.build(tmp_path)
    yield built
    built.close()


def signed_and_valid(world: TransitWorld, document: bytes) -> None:
    """The answer verifies with the gateway's key and is valid against our schema."""
    verified = verify_enveloped(etree.fromstring(document), world.trust, owner="gateway")
    assert verified.key_id == world.key.key_id
    assert schema_problems(document) == []


def correlated(answer: bytes, request: bytes) -> None:
    """R0008, and sender / recipient swapped."""
    got, asked = read(answer), read(request)
    assert got.header["correlationIdentifier"] == asked.header["messageIdentification"]
    assert got.header["messageSender"] == asked.header["messageRecipient"]
    assert got.header["messageRecipient"] == asked.header["messageSender"]
    assert got.header["messageIdentification"] != asked.header["messageIdentification"]


# --- positive ---------------------------------------------------------------------------------


def test_ncts_answer_valid_cc015c_gets_signed_schema_valid_cc928c(world: TransitWorld) -> None:
    """A valid CC015C: 202 with a CC928C carrying its LRN, office and holder, correlated."""
    request = cc015c(lrn="MK-LRN-928")
    answer = world.submit(request)
    assert (answer.http_status, answer.accepted) == (202, True)
    assert root_name(answer.document) == "CC928C"
    signed_and_valid(world, answer.document)
    correlated(answer.document, request)
    got = read(answer.document)
    assert got.header["TransitOperation/LRN"] == "MK-LRN-928"
    assert got.header["messageIdentification"].startswith("MK928-")
    assert got.root.findtext("CustomsOfficeOfDeparture/referenceNumber") == "MK001005"
    assert got.root.findtext("HolderOfTheTransitProcedure/identificationNumber") == \
        "MK4080012345678"


def test_ncts_answer_repeat_of_a_cc015c_is_its_cc928c_byte_for_byte(
        world: TransitWorld) -> None:
    """The same document again is a repeat: the original CC928C, nothing new stored."""
    request = cc015c()
    first = world.submit(request)
    again = world.submit(request)
    assert (again.http_status, again.duplicate) == (202, True)
    assert again.document == first.document


def test_ncts_answer_other_accepted_messages_get_our_receipt(world: TransitWorld) -> None:
    """P5 has no positive acknowledgement of a CD message: our signed gw:Receipt."""
    record = fixture("cd001c.xml").replace(b"MK001-20250314-000117", new_id("A").encode())
    answer = world.submit(record, partner="customs-test")
    assert answer.http_status == 202
    assert etree.QName(etree.fromstring(answer.document)).namespace == GW_NS
    assert root_name(answer.document) == "Receipt"


# --- XML NACKs ----------------------------------------------------------------------------------


def test_ncts_answer_office_reference_pattern_is_cc917c_with_line_column_and_code_12(
        world: TransitWorld) -> None:
    """A bad office reference: 400 CC917C, the line and column of the value, its pointer,
    CL030 12, the value and the LRN."""
    request = cc015c(lrn="MK-LRN-917").replace(b"<referenceNumber>MK001005<",
                                                b"<referenceNumber>MK00100a<", 1)
    answer = world.submit(request)
    assert answer.http_status == 400 and root_name(answer.document) == "CC917C"
    signed_and_valid(world, answer.document)
    correlated(answer.document, request)
    nack = read(answer.document)
    (error,) = nack.errors
    assert error["errorCode"] == "12"
    assert error["errorPointer"] == "/CC015C/CustomsOfficeOfDeparture/referenceNumber"
    assert int(error["errorLineNumber"]) == line_of(request, b"<referenceNumber>MK00100a<")
    assert int(error["errorColumnNumber"]) > 0
    assert error["originalAttributeValue"] == "MK00100a"
    assert nack.header["Header/LRN"] == "MK-LRN-917"


def test_ncts_answer_grn_pattern_is_an_xml_nack(world: TransitWorld) -> None:
    """A GRN that breaks its pattern is refused by the schema: CC917C 12 at the GRN."""
    request = cc015c().replace(b"<GRN>25MK0000000001235<", b"<GRN>25MK000000000123A<")
    answer = world.submit(request)
    nack = read(answer.document)
    assert (nack.message_type, nack.codes) == ("CC917C", ["12"])
    assert nack.errors[0]["errorPointer"].endswith("/GuaranteeReference/GRN")
    assert int(nack.errors[0]["errorLineNumber"]) == line_of(request, b"25MK000000000123A")


def test_ncts_answer_1000_goods_items_in_a_house_consignment_is_cl030_35(
        world: TransitWorld) -> None:
    """A house consignment holds at most 999 items: the 1000th is too many repetitions."""
    request = with_goods_items(cc015c(), 1000)
    answer = world.submit(request)
    nack = read(answer.document)
    assert nack.message_type == "CC917C" and "35" in nack.codes
    error = nack.errors[nack.codes.index("35")]
    assert error["errorPointer"].endswith("ConsignmentItem[1000]")
    assert int(error["errorLineNumber"]) > line_of(request, b"<ConsignmentItem>")
    signed_and_valid(world, answer.document)


def test_ncts_answer_missing_element_is_cl030_13_and_a_stray_one_15(
        world: TransitWorld) -> None:
    """A required element left out at the end of its group: 13 (missing); an element the
    message has no place for: 15 (not supported in this position)."""
    missing = cc015c().replace(b"<country>MK</country>", b"", 1)      # the holder's address
    nack = read(world.submit(missing).document)
    assert (nack.message_type, nack.codes) == ("CC917C", ["13"])
    assert nack.errors[0]["errorPointer"] == "/CC015C/HolderOfTheTransitProcedure/Address"
    stray = cc015c().replace(b"<security>", b"<colour>red</colour><security>")
    assert read(world.submit(stray).document).codes == ["15"]


def test_ncts_answer_cd_message_schema_error_is_cd917c_with_the_mrn(
        world: TransitWorld) -> None:
    """A CD message gets the CD form: CD917C with the MRN in its header."""
    request = fixture("cd118c.xml").replace(b"<passageDate>2025-03-14<",
                                            b"<passageDate>14.03.2025<")
    answer = world.submit(request, partner="customs-test")
    nack = read(answer.document)
    assert (answer.http_status, nack.message_type, nack.codes) == (400, "CD917C", ["12"])
    assert nack.header["Header/MRN"] == MRN
    signed_and_valid(world, answer.document)
    correlated(answer.document, request)


# --- functional NACKs -----------------------------------------------------------------------------


def test_ncts_answer_schema_valid_rule_violation_is_cc906c_not_cc917c(
        world: TransitWorld) -> None:
    """A GRN of 17 characters for a guarantee of type 4 passes the schema and breaks R0318:
    a functional NACK, code 14, reason R0318, at the GRN."""
    request = cc015c().replace(b"<guaranteeType>1<", b"<guaranteeType>4<")
    answer = world.submit(request)
    assert answer.http_status == 400
    nack = read(answer.document)
    assert (nack.message_type, nack.codes) == ("CC906C", ["14"])
    assert nack.errors[0]["errorReason"] == "R0318"
    assert nack.errors[0]["errorPointer"] == "/CC015C/Guarantee/GuaranteeReference/GRN"
    assert nack.errors[0]["originalAttributeValue"] == "25MK0000000001235"
    signed_and_valid(world, answer.document)
    correlated(answer.document, request)


def test_ncts_answer_bad_mrn_check_digit_is_93_pointing_at_the_mrn(
        world: TransitWorld) -> None:
    """An MRN whose check digit is wrong (R0028): 93, the MRN as errorPointer and header."""
    bad = MRN[:17] + "7"
    answer = world.submit(cc007c(bad))
    nack = read(answer.document)
    assert (nack.message_type, nack.codes) == ("CC906C", ["93"])
    assert nack.errors[0]["errorPointer"] == bad
    assert (nack.errors[0]["errorReason"], nack.header["Header/MRN"]) == ("R0028", bad)
    signed_and_valid(world, answer.document)


def test_ncts_answer_unknown_mrn_is_90(world: TransitWorld) -> None:
    """A CC007C for an MRN no movement here has: 90, the MRN as pointer."""
    request = cc007c(MRN)
    answer = world.submit(request)
    nack = read(answer.document)
    assert (answer.http_status, nack.message_type, nack.codes) == (400, "CC906C", ["90"])
    assert nack.errors[0]["errorPointer"] == MRN
    signed_and_valid(world, answer.document)
    correlated(answer.document, request)


def test_ncts_answer_duplicate_message_identification_is_26(world: TransitWorld) -> None:
    """The same messageIdentification for another document: 409 CC906C 26 at the id."""
    message_id = new_id("DUP")
    assert world.submit(cc015c(message_id=message_id)).http_status == 202
    answer = world.submit(cc015c(message_id=message_id))
    nack = read(answer.document)
    assert (answer.http_status, nack.message_type, nack.codes) == (409, "CC906C", ["26"])
    assert nack.errors[0]["errorPointer"] == "/CC015C/messageIdentification"
    assert nack.errors[0]["originalAttributeValue"] == message_id
    signed_and_valid(world, answer.document)


def test_ncts_answer_lrn_used_twice_is_14_br20006(world: TransitWorld) -> None:
    """A second declaration (new message id) with an LRN already used: 409, 14, BR20006."""
    assert world.submit(cc015c(lrn="MK-LRN-TWICE")).http_status == 202
    answer = world.submit(cc015c(lrn="MK-LRN-TWICE"))
    nack = read(answer.document)
    assert (answer.http_status, nack.codes) == (409, ["14"])
    assert nack.errors[0]["errorReason"] == "BR20006"
    assert nack.errors[0]["errorPointer"] == "/CC015C/TransitOperation/LRN"


def test_ncts_answer_cd_message_functional_error_is_cd906c(world: TransitWorld) -> None:
    """A CD018C for an unknown MRN: CD906C 90 (errorReason left out, optional in CD906C)."""
    request = fixture("cd018c.xml").replace(b"RS018-20250315-000052", new_id("C").encode())
    answer = world.submit(request, partner="customs-test")
    nack = read(answer.document)
    assert (nack.message_type, nack.codes) == ("CD906C", ["90"])
    assert "errorReason" not in nack.errors[0] and nack.header["Header/MRN"] == MRN
    signed_and_valid(world, answer.document)


# --- never a NACK to a NACK, nor for what P5 has no code for ------------------------------------


@pytest.mark.parametrize(("name", "partner"), [
    ("cc906c.xml", "trader-all"), ("cc917c.xml", "trader-all"),
    ("cd906c.xml", "customs-test"), ("cd917c.xml", "customs-test")])
def test_ncts_answer_never_a_nack_to_a_nack(world: TransitWorld, name: str,
                                            partner: str) -> None:
    """An invalid NACK, a NACK reusing a message id: our gw:Rejection, never a NACK; a valid
    NACK is received (receipt)."""
    nack = fixture(name)
    invalid = nack.replace(b"<errorCode>", b"<errorCode>x", 1)
    refused = world.submit(invalid, partner=partner)
    assert refused.http_status == 400
    assert root_name(refused.document) == "Rejection" and not is_nack_document(refused.document)
    accepted = world.submit(nack, partner=partner)
    assert (accepted.http_status, root_name(accepted.document)) == (202, "Receipt")
    other = nack.replace(b"<preparationDateAndTime>2025", b"<preparationDateAndTime>2024")
    conflict = world.submit(other, partner=partner)       # its message id, another document
    assert (conflict.http_status, root_name(conflict.document)) == (409, "Rejection")


def test_ncts_answer_a_nack_from_a_trader_not_allowed_gets_a_rejection(
        world: TransitWorld) -> None:
    """A trader who may not send CC906C: 403 with our rejection, no NACK produced."""
    answer = world.submit(fixture("cc906c.xml"))
    assert (answer.http_status, root_name(answer.document)) == (403, "Rejection")


def test_ncts_answer_problems_p5_has_no_code_for_get_our_rejection(world: TransitWorld) -> None:
    """A broker sending a CC015C (403) and an XInclude in a CC015C or a CC906C: gw:Rejection."""
    assert root_name(world.submit(cc015c(), partner="broker-alpha").document) == "Rejection"
    xinclude = b'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="/etc/passwd"/>'
    for body, partner in ((cc015c(), "trader-haulier"), (fixture("cc906c.xml"), "trader-all")):
        answer = world.submit(body.replace(b"<messageType>", xinclude + b"<messageType>"),
                              partner=partner)
        assert answer.http_status == 400 and root_name(answer.document) == "Rejection"
        assert b"GW-XML-XINCLUDE" in answer.document


# --- the tables ---------------------------------------------------------------------------------


def test_ncts_answer_every_schema_problem_code_has_its_cl030_value() -> None:
    """Every GW-XSD problem code the table lists maps to a CL030 value the official code list
    has; only the catch-all is 'unspecified' (18)."""
    schema_codes = {p.code for p in PROBLEM_CODES if p.within == "GW-XSD-INVALID"} | \
        {"GW-XSD-INVALID"}
    assert schema_codes <= set(CL030)
    assert set(CL030.values()) <= OFFICIAL_CL030
    assert [c for c, v in CL030.items() if v == "18"] == ["GW-XSD-INVALID"]


@pytest.mark.parametrize(("problem", "expected"), [
    (Problem("GW-XSD-CONTENT", "Element 'TransitOperation': Missing child element(s). "
             "Expected is ( security )", pointer="/CC015C/TransitOperation"), "13"),
    (Problem("GW-XSD-CONTENT", "Element 'Stray': This element is not expected",
             pointer="/CC015C/Stray"), "15"),
    (Problem("GW-XSD-CONTENT", "Element 'ConsignmentItem': This element is not expected",
             pointer="/CC015C/Consignment/HouseConsignment/ConsignmentItem[1000]"), "35"),
    (Problem("GW-XSD-ATTRIBUTE", "The attribute 'x' is not allowed"), "15"),
    (Problem("GW-XSD-ATTRIBUTE", "The attribute 'PhaseID' is required but missing"), "13"),
    (Problem("GW-XSD-LENGTH", "[facet 'length'] The value has a length of '7'; this differs "
             "from the allowed length of '8'"), "40"),
    (Problem("GW-XSD-LENGTH", "[facet 'length'] The value has a length of '9'; this differs "
             "from the allowed length of '8'"), "39"),
    (Problem("GW-XSD-TOO-LONG", "too long"), "39"),
    (Problem("GW-XSD-TOO-SHORT", "too short"), "40"),
    (Problem("GW-XSD-PATTERN", "pattern"), "12"),
    (Problem("GW-XSD-SOMETHING-NEW", "?"), "18"),
])
def test_ncts_answer_cl030_code_of_each_kind_of_schema_problem(problem: Problem,
                                                               expected: str) -> None:
    """Missing 13, not here 15, a repetition too many 35, too long 39, too short 40, a bad
    value 12, anything else 18."""
    assert cl030(problem) == expected


def test_ncts_answer_rejection_codes_split_into_xml_functional_and_ours() -> None:
    """Schema -> XML NACK; rules, mapping, movement state, duplicate id -> functional; the
    rest (access, size, load, XML safety) -> our rejection."""
    assert {nack_kind(c) for c in XML_REJECTIONS} == {"xml"}
    assert {nack_kind(c) for c in FUNCTIONAL_REJECTIONS} == {"functional"}
    assert {nack_kind(c) for c in ("GW-AUTH-FORBIDDEN", "GW-SIZE-LIMIT", "GW-BUSY",
                                   "GW-XML-XINCLUDE", "GW-UNAVAILABLE")} == {None}
    codes = {p.code for p in PROBLEM_CODES}
    assert codes >= XML_REJECTIONS | FUNCTIONAL_REJECTIONS


def test_ncts_answer_header_values_p5_would_refuse_are_not_echoed() -> None:
    """A request whose sender is too long (why it got a CC917C) still gets a valid CC917C:
    our NTA name and the partner id stand in."""
    request = etree.fromstring(cc015c().replace(b"<messageSender>MK4080012345678<",
                                                b"<messageSender>" + b"S" * 40 + b"<"))
    info = RejectionInfo("r1", "2026-12-01T10:00:00.000Z", "GW-XSD-INVALID", "invalid", 400,
                         [Problem("GW-XSD-PATTERN", "pattern", pointer="/CC015C/messageSender",
                                  line=3, column=3, value="S" * 40)],
                         partner_id="trader-haulier", request=request)
    document = etree.tostring(NctsAnswers("MK").rejection(info))
    nack = read(document)
    assert nack.header["messageRecipient"] == "trader-haulier"
    assert nack.header["messageSender"] == "NTA.MK"
    assert schema_problems(document) == []
    assert set(nack.codes) <= OFFICIAL_CL030


def test_ncts_answer_nack_document_is_recognised_by_its_root() -> None:
    """``is_nack_document``: the four NACKs, not a CC928C or our rejection."""
    assert all(is_nack_document(fixture(f"{n}.xml"))
               for n in ("cc906c", "cc917c", "cd906c", "cd917c"))
    assert not is_nack_document(fixture("cc928c.xml"))
    assert not is_nack_document(b'<gw:Rejection xmlns:gw="urn:customs-gateway:v1"/>')
    assert set(read(fixture("cc906c.xml")).codes) <= CL180
