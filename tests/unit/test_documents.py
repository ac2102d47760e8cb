"""The gateway's own documents: receipts, rejections and notifications (gateway.documents).

Every document is validated against the gateway schema (``schemas/gateway/gateway-v1.xsd``);
a notification's payload is also validated, on its own, against the WCO DM 3.6 MetaData
schema (which imports the RES Response schema). Expected XML is compared after exclusive
canonicalisation.
"""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # allow a bare `pytest` run without an installed package
    sys.path.insert(0, str(ROOT))

from gateway.canonical.clearance_decision import AssessedDuty, ClearanceDecision, DecisionError  # noqa: E402
from gateway.documents.notifications import (  # noqa: E402
    MD_NS,
    RES_DS_NS,
    RES_NS,
    build_notification,
    pointer_steps,
    wco_datetime,
)
from gateway.documents.receipts import GW_NS, ReceiptInfo, RejectionInfo  # noqa: E402
from gateway.errors import Problem, cap_problems  # noqa: E402
from gateway.message_types import compile_schema  # noqa: E402
from gateway.signing.keys import SigningKey, TrustStore, generate_key_pair  # noqa: E402
from gateway.signing.xmldsig import XmlSigner, verify_enveloped  # noqa: E402

SCHEMAS = ROOT / "schemas"
GW = {"gw": GW_NS}
RES = {"r": RES_NS, "rds": RES_DS_NS, "md": MD_NS, "gw": GW_NS}
MRN = "26MK00100522FACER8"
DECIDED_AT = "2026-11-28T10:15:00.000Z"


@pytest.fixture(scope="module")
def gateway_schema() -> etree.XMLSchema:
    return compile_schema(SCHEMAS / "gateway" / "gateway-v1.xsd", SCHEMAS)


@pytest.fixture(scope="module")
def metadata_schema() -> etree.XMLSchema:
    return compile_schema(SCHEMAS / "wco" / "dec-3.6" / "WCO_DocumentMetaData_DMS_2.xsd",
                          SCHEMAS)


@pytest.fixture(scope="module")
def gateway_key(tmp_path_factory: pytest.TempPathFactory) -> SigningKey:
    directory = tmp_path_factory.mktemp("keys")
    key_pem, cert_pem = generate_key_pair("gateway.test", "Gateway test")
    (directory / "gateway.key").write_bytes(key_pem)
    (directory / "gateway.crt").write_bytes(cert_pem)
    return SigningKey.load(directory / "gateway.key", directory / "gateway.crt")


@pytest.fixture(scope="module")
def signer(gateway_key: SigningKey) -> XmlSigner:
    return XmlSigner(gateway_key)


def _valid(schema: etree.XMLSchema, element: etree._Element) -> None:
    """Assert ``element`` (re-parsed from its bytes) is valid; show every error otherwise."""
    reparsed = etree.fromstring(etree.tostring(element))
    ok = schema.validate(reparsed)
    assert ok, "\n".join(f"{e.line}: {e.message}" for e in schema.error_log)


def _canonical(xml: bytes | etree._Element) -> bytes:
    """Exclusive C14N of a document given as bytes (whitespace between tags removed) or tree."""
    if isinstance(xml, bytes):
        parser = etree.XMLParser(remove_blank_text=True)
        xml = etree.fromstring(xml, parser)
    return etree.tostring(xml, method="c14n", exclusive=True)


def _receipt_info(**changes: object) -> ReceiptInfo:
    values: dict[str, object] = dict(
        receipt_id="0f1e2d3c", conversation_id="conv-42", received_at="2026-11-28T10:15:00.123Z",
        partner_id="broker-alpha", message_type="wco-dec-3.6",
        message_name="WCO DM 3.6 goods declaration (DEC)", message_version="3.6",
        message_id="doc:wco:LRN-0001", sha256="0123456789abcdef" * 4)
    values.update(changes)
    return ReceiptInfo(**values)  # type: ignore[arg-type]


def _problems(n: int) -> list[Problem]:
    return [Problem(f"GW-XSD-{i}", f"problem number {i}", pointer=f"/MetaData/X[{i}]",
                    line=i + 1, column=3, value=f"v{i}") for i in range(n)]


def _decision(kind: str, **values: object) -> ClearanceDecision:
    base: dict[str, object] = dict(decision_id=f"dec-{kind}", kind=kind,
                                   conversation_id="conv-42", receipt_id="0f1e2d3c",
                                   reference="LRN-0001", decided_at=DECIDED_AT)
    base.update(values)
    return ClearanceDecision(**base)  # type: ignore[arg-type]


def _notification(decision: ClearanceDecision) -> etree._Element:
    return build_notification(decision, notification_id="n-0001", partner_id="broker-alpha",
                              created_at="2026-11-28T10:15:01.000Z", country="MK",
                              agency="Customs Administration")


def _response(notification: etree._Element) -> etree._Element:
    response = notification.find("gw:Payload/md:MetaData/r:Response", namespaces=RES)
    assert response is not None
    return response


# --- receipts --------------------------------------------------------------------------------


def test_receipt_to_xml_states_every_field_in_schema_order(
        gateway_schema: etree.XMLSchema) -> None:
    """A receipt's XML carries its fields in the schema's order and is schema-valid."""
    info = _receipt_info()
    expected = f"""
        <gw:Receipt xmlns:gw="{GW_NS}" Id="RCP-0f1e2d3c">
          <gw:ReceiptID>0f1e2d3c</gw:ReceiptID>
          <gw:ConversationID>conv-42</gw:ConversationID>
          <gw:ReceivedAt>2026-11-28T10:15:00.123Z</gw:ReceivedAt>
          <gw:Partner>broker-alpha</gw:Partner>
          <gw:MessageType>wco-dec-3.6</gw:MessageType>
          <gw:MessageName>WCO DM 3.6 goods declaration (DEC)</gw:MessageName>
          <gw:MessageVersion>3.6</gw:MessageVersion>
          <gw:MessageID>doc:wco:LRN-0001</gw:MessageID>
          <gw:SHA256>{info.sha256}</gw:SHA256>
          <gw:Status>accepted</gw:Status>
        </gw:Receipt>""".encode()

    element = info.to_xml()

    assert _canonical(element) == _canonical(expected)
    _valid(gateway_schema, element)


def test_receipt_as_dict_matches_xml(gateway_schema: etree.XMLSchema) -> None:
    """The JSON form of a receipt states the same values as its XML form."""
    info = _receipt_info(status="parked")
    content = info.as_dict()
    element = info.to_xml()

    assert content == {
        "receipt_id": "0f1e2d3c", "conversation_id": "conv-42",
        "received_at": "2026-11-28T10:15:00.123Z", "partner": "broker-alpha",
        "message_type": "wco-dec-3.6", "message_name": "WCO DM 3.6 goods declaration (DEC)",
        "message_version": "3.6", "message_id": "doc:wco:LRN-0001", "sha256": info.sha256,
        "status": "parked"}
    assert element.findtext("gw:Status", namespaces=GW) == "parked"
    assert element.findtext("gw:MessageID", namespaces=GW) == content["message_id"]


def test_receipt_states_the_version_the_document_stated(
        gateway_schema: etree.XMLSchema) -> None:
    """A stated version (3.7) follows MessageVersion in the XML and is in the JSON form."""
    info = _receipt_info(stated_version="3.7")
    element = info.to_xml()

    names = [etree.QName(child).localname for child in element]
    assert names[names.index("MessageVersion") + 1] == "StatedVersion"
    assert element.findtext("gw:MessageVersion", namespaces=GW) == "3.6"
    assert element.findtext("gw:StatedVersion", namespaces=GW) == "3.7"
    assert info.as_dict()["stated_version"] == "3.7"
    _valid(gateway_schema, element)
    assert _receipt_info().to_xml().find("gw:StatedVersion", namespaces=GW) is None
    assert "stated_version" not in _receipt_info().as_dict()


def test_receipt_signed_is_still_schema_valid(gateway_schema: etree.XMLSchema,
                                              gateway_key: SigningKey,
                                              signer: XmlSigner) -> None:
    """The enveloped ds:Signature sits where the schema allows it; the receipt verifies."""
    signed = etree.fromstring(signer.sign_to_bytes(_receipt_info().to_xml()))

    _valid(gateway_schema, signed)
    trust = TrustStore()
    trust.add("gateway", gateway_key.certificate)
    assert verify_enveloped(signed, trust).owner == "gateway"


# --- rejections ------------------------------------------------------------------------------


def test_rejection_to_xml_counts_all_problems_and_shows_the_capped_ones(
        gateway_schema: etree.XMLSchema) -> None:
    """Problems count= is every problem, shown= those listed; the rest are only counted."""
    shown, more = cap_problems(_problems(7), 3)
    rejection = RejectionInfo(
        rejection_id="rej-1", received_at="2026-11-28T10:15:00.000Z", code="GW-XSD-INVALID",
        summary="the declaration does not conform to its schema (7 problem(s))",
        http_status=400, problems=shown, more=more, sha256="ab" * 32,
        message_type="wco-dec-3.6", partner_id="broker-alpha")

    element = rejection.to_xml()

    assert (len(shown), more) == (3, 4)
    problems = element.find("gw:Problems", namespaces=GW)
    assert (problems.get("count"), problems.get("shown")) == ("7", "3")
    listed = problems.findall("gw:Problem", namespaces=GW)
    assert [p.findtext("gw:Code", namespaces=GW) for p in listed] == \
        ["GW-XSD-0", "GW-XSD-1", "GW-XSD-2"]
    assert listed[2].findtext("gw:Pointer", namespaces=GW) == "/MetaData/X[2]"
    assert listed[2].findtext("gw:Line", namespaces=GW) == "3"
    assert listed[2].findtext("gw:Value", namespaces=GW) == "v2"
    content = rejection.as_dict()
    assert (content["problem_count"], len(content["problems"]), content["more_problems"]) == \
        (7, 3, 4)
    assert content["status"] == "rejected" and content["code"] == "GW-XSD-INVALID"
    _valid(gateway_schema, element)


def test_rejection_to_xml_minimal_expected_form(gateway_schema: etree.XMLSchema) -> None:
    """A rejection without partner or type (e.g. 401) has exactly the mandatory elements."""
    rejection = RejectionInfo(
        rejection_id="rej-2", received_at="2026-11-28T10:15:00.000Z",
        code="GW-AUTH-UNAUTHENTICATED", summary="credentials are missing", http_status=401,
        problems=[Problem("GW-AUTH-UNAUTHENTICATED", "credentials are missing")])
    expected = f"""
        <gw:Rejection xmlns:gw="{GW_NS}" Id="REJ-rej-2">
          <gw:RejectionID>rej-2</gw:RejectionID>
          <gw:ReceivedAt>2026-11-28T10:15:00.000Z</gw:ReceivedAt>
          <gw:Status>rejected</gw:Status>
          <gw:Code>GW-AUTH-UNAUTHENTICATED</gw:Code>
          <gw:Summary>credentials are missing</gw:Summary>
          <gw:Problems count="1" shown="1">
            <gw:Problem>
              <gw:Code>GW-AUTH-UNAUTHENTICATED</gw:Code>
              <gw:Message>credentials are missing</gw:Message>
            </gw:Problem>
          </gw:Problems>
        </gw:Rejection>""".encode()

    element = rejection.to_xml()

    assert _canonical(element) == _canonical(expected)
    _valid(gateway_schema, element)
    assert "partner" not in rejection.as_dict()


def test_rejection_conflict_names_original_receipt(gateway_schema: etree.XMLSchema) -> None:
    """A duplicate-conflict rejection carries the original receipt id in XML and JSON."""
    rejection = RejectionInfo(
        rejection_id="rej-3", received_at="2026-11-28T10:15:00.000Z",
        code="GW-DUPLICATE-CONFLICT", summary="message id reused", http_status=409,
        problems=[Problem("GW-DUPLICATE-CONFLICT", "message id reused")],
        partner_id="broker-alpha", original_receipt_id="first-receipt")

    element = rejection.to_xml()

    assert element.findtext("gw:OriginalReceiptID", namespaces=GW) == "first-receipt"
    assert rejection.as_dict()["original_receipt_id"] == "first-receipt"
    _valid(gateway_schema, element)


# --- notifications ---------------------------------------------------------------------------


DECISIONS = {
    "accepted": _decision("accepted", mrn=MRN),
    "rejected": _decision("rejected", errors=[
        DecisionError(code="R0228", pointer="42A/228",
                      description="declared total number of items (5) differs from 3"),
        DecisionError(code="R0128", pointer="42A/67A/68A[2]/23A/65A/128",
                      description="net mass of item 2 exceeds its gross mass")]),
    "control": _decision("control", mrn=MRN, channel="yellow"),
    "duties_assessed": _decision(
        "duties_assessed", mrn=MRN, currency="MKD", total_duties=Decimal("440.73"),
        payment_reference="RF6326MK00100522FACER8",
        duties=[AssessedDuty(1, "A00", Decimal("1234.56"), Decimal("15"), Decimal("185.18")),
                AssessedDuty(1, "B00", Decimal("1419.74"), Decimal("18"), Decimal("255.55"))]),
    "released": _decision("released", mrn=MRN),
}
FUNCTION = {"accepted": ("01", "ACC"), "rejected": ("03", "REJ"), "control": ("05", "CTL"),
            "duties_assessed": ("13", "TAX"), "released": ("07", "RES")}


@pytest.mark.parametrize("kind", list(DECISIONS))
def test_notification_for_each_kind_is_valid_against_both_schemas(
        kind: str, gateway_schema: etree.XMLSchema, metadata_schema: etree.XMLSchema,
        signer: XmlSigner) -> None:
    """gw:Notification validates against gateway-v1.xsd, its md:MetaData against WCO's schema."""
    notification = _notification(DECISIONS[kind])

    _valid(gateway_schema, notification)
    metadata = notification.find("gw:Payload/md:MetaData", namespaces=RES)
    assert metadata is not None
    _valid(metadata_schema, metadata)
    assert metadata.findtext("md:WCOTypeName", namespaces=RES) == "RES"
    signed = etree.fromstring(signer.sign_to_bytes(notification))
    _valid(gateway_schema, signed)


@pytest.mark.parametrize("kind", list(DECISIONS))
def test_notification_header_and_function_code_follow_decision_kind(kind: str) -> None:
    """Notification metadata and the RES FunctionCode/IssueDateTime follow the decision."""
    decision = DECISIONS[kind]
    notification = _notification(decision)
    response = _response(notification)

    assert notification.get("Id") == "NTF-n-0001"
    assert notification.findtext("gw:ConversationID", namespaces=GW) == "conv-42"
    assert notification.findtext("gw:DecisionID", namespaces=GW) == decision.decision_id
    assert notification.findtext("gw:Kind", namespaces=GW) == FUNCTION[kind][1]
    assert notification.findtext("gw:Partner", namespaces=GW) == "broker-alpha"
    assert response.findtext("r:FunctionCode", namespaces=RES) == FUNCTION[kind][0]
    assert response.findtext("r:FunctionalReferenceID", namespaces=RES) == "LRN-0001"
    issued = response.find("r:IssueDateTime/rds:DateTimeString", namespaces=RES)
    assert (issued.text, issued.get("formatCode")) == ("20261128101500Z", "304")


@pytest.mark.parametrize("kind", list(DECISIONS))
def test_notification_date_times_are_in_the_res_data_set_namespace(kind: str) -> None:
    """Every DateTimeString is in Response_DS (as the official RES has it), none in RES-DMS."""
    response = _response(_notification(DECISIONS[kind]))

    leaves = response.findall(".//rds:DateTimeString", namespaces=RES)
    assert len(leaves) >= 2                          # IssueDateTime and EffectiveDateTime
    assert all(etree.QName(leaf.getparent()).namespace == RES_NS for leaf in leaves)
    assert response.findall(".//r:DateTimeString", namespaces=RES) == []


def test_notification_accepted_carries_mrn_and_acceptance_time() -> None:
    """An acceptance states the MRN and the acceptance date-time of the declaration."""
    response = _response(_notification(DECISIONS["accepted"]))

    assert response.findtext("r:Declaration/r:ID", namespaces=RES) == MRN
    assert response.findtext("r:Declaration/r:AcceptanceDateTime/rds:DateTimeString",
                             namespaces=RES) == "20261128101500Z"
    assert response.findtext("r:Status/r:NameCode", namespaces=RES) == "01"


def test_notification_rejected_lists_errors_with_wco_pointers() -> None:
    """A rejection lists every error with its code, description and WCO pointer steps."""
    response = _response(_notification(DECISIONS["rejected"]))

    errors = response.findall("r:Error", namespaces=RES)
    assert [e.findtext("r:ValidationCode", namespaces=RES) for e in errors] == \
        ["R0228", "R0128"]
    assert errors[0].findtext("r:Description", namespaces=RES).startswith(
        "declared total number of items (5)")
    first = [(p.findtext("r:DocumentSectionCode", namespaces=RES),
              p.findtext("r:TagID", namespaces=RES))
             for p in errors[0].findall("r:Pointer", namespaces=RES)]
    assert [s for s, _ in first if s] == ["42A"]
    assert [t for _, t in first if t] == ["228"]
    second_tags = [p.findtext("r:TagID", namespaces=RES)
                   for p in errors[1].findall("r:Pointer", namespaces=RES)]
    assert [t for t in second_tags if t] == ["128"]
    assert response.find("r:Declaration/r:RejectionDateTime", namespaces=RES) is not None
    assert response.find("r:Declaration/r:ID", namespaces=RES) is None


@pytest.mark.parametrize(("channel", "status"), [("green", "G"), ("yellow", "Y"), ("red", "R")])
def test_notification_control_states_channel(channel: str, status: str) -> None:
    """A control notification names the risk channel and sets the matching status code."""
    response = _response(_notification(_decision("control", mrn=MRN, channel=channel)))

    info = response.find("r:AdditionalInformation", namespaces=RES)
    assert info is not None
    assert info.findtext("r:StatementCode", namespaces=RES) == channel.upper()
    assert info.findtext("r:StatementTypeCode", namespaces=RES) == "CTL"
    assert response.findtext("r:Status/r:NameCode", namespaces=RES) == status
    assert response.findtext("r:Declaration/r:ID", namespaces=RES) == MRN


def test_notification_duties_state_total_currency_and_payment_reference() -> None:
    """A duties notification states the total with its currency and the payment reference."""
    response = _response(_notification(DECISIONS["duties_assessed"]))

    amount = response.find("r:Declaration/r:DutyTaxFee/r:Payment/r:TaxAssessedAmount",
                           namespaces=RES)
    assert amount is not None
    assert (amount.text, amount.get("currencyID")) == ("440.73", "MKD")
    assert response.findtext("r:Declaration/r:DutyTaxFee/r:Payment/r:ReferenceID",
                             namespaces=RES) == "RF6326MK00100522FACER8"
    assert response.findtext("r:Bank/r:ReferenceID", namespaces=RES) == \
        "RF6326MK00100522FACER8"


def test_notification_released_states_release_time() -> None:
    """A release notification carries the release date-time and status code 07."""
    response = _response(_notification(DECISIONS["released"]))

    assert response.findtext("r:Status/r:ReleaseDateTime/rds:DateTimeString",
                             namespaces=RES) == "20261128101500Z"
    assert response.findtext("r:Status/r:NameCode", namespaces=RES) == "07"
    assert response.findtext("r:Declaration/r:ID", namespaces=RES) == MRN


def test_wco_datetime_converts_offsets_to_utc() -> None:
    """ISO 8601 times with an offset become WCO format 304 in UTC."""
    assert wco_datetime("2026-11-28T11:15:00+01:00") == "20261128101500Z"
    assert wco_datetime("2026-11-28T10:15:00.999Z") == "20261128101500Z"


def test_pointer_steps_turns_wco_path_into_pointer_elements() -> None:
    """42A/67A/68A[2]/23A/65A/128 -> section codes in order, item 2's sequence, final TagID."""
    steps = pointer_steps("42A/67A/68A[2]/23A/65A/128")

    assert all(p.tag == f"{{{RES_NS}}}Pointer" for p in steps)
    sections = [p.findtext("r:DocumentSectionCode", namespaces=RES) for p in steps]
    assert [s for s in sections if s] == ["42A", "67A", "68A", "23A", "65A"]
    sequences = {p.findtext("r:DocumentSectionCode", namespaces=RES):
                 p.findtext("r:SequenceNumeric", namespaces=RES) for p in steps}
    assert sequences["68A"] == "2"
    assert [k for k, v in sequences.items() if v is not None] == ["68A"]
    tags = [p.findtext("r:TagID", namespaces=RES) for p in steps]
    assert [t for t in tags if t] == ["128"]
    assert tags[-1] == "128"
    for pointer in steps:       # schema order inside each Pointer: SequenceNumeric, Section, Tag
        names = [etree.QName(child).localname for child in pointer]
        order = ["SequenceNumeric", "DocumentSectionCode", "TagID"]
        assert names == sorted(names, key=order.index)


def test_pointer_steps_empty_pointer_gives_no_elements() -> None:
    """An error without a pointer produces no Pointer elements."""
    assert pointer_steps("") == []
