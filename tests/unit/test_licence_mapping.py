"""SPS certificates and licence documents map to the canonical licence with their real values.

Mapped the way the intake maps them (``gateway validate``'s pipeline: set the signature
aside, validate, map, the kind's rules): the real-shaped fixture, the builders' certificates
and licences, and the values that must be refused with a located problem (an unknown unit, an
unknown certificate type, a malformed date).
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from adapters.bootstrap import document_checker, load_formats
from gateway.canonical.licence import LICENCE_DOCUMENT, SPS_CERTIFICATE, Licence
from gateway.canonical.model import from_plain
from gateway.checking import DocumentChecker
from gateway.mapping.engine import Mapping
from gateway.settings import PROJECT_HOME, Settings
from samples.licence import build_licence
from samples.sps import attached, build_sps_certificate

SETTINGS = Settings()
FIXTURE = PROJECT_HOME / "tests" / "fixtures" / "sps" / "ephyto-apples-full.xml"


@pytest.fixture(scope="module")
def checker() -> DocumentChecker:
    return document_checker(SETTINGS)


@pytest.fixture(scope="module")
def mappings() -> dict[str, Mapping]:
    return load_formats(SETTINGS)[1]


def canonical(mappings: dict[str, Mapping], body: bytes, mapping: str) -> Licence:
    root = etree.fromstring(body)
    return from_plain(Licence, mappings[mapping].apply(root, body))


def sps(mappings: dict[str, Mapping], body: bytes) -> Licence:
    return canonical(mappings, body, "sps-certificate-17.toml")


def fixture_with(find: str, replace: str) -> bytes:
    text = FIXTURE.read_text(encoding="utf-8")
    assert find in text, find
    return text.replace(find, replace, 1).encode("utf-8")


# --- SPS certificates -------------------------------------------------------------------------


def test_sps_fixture_maps_to_its_certificate_values(mappings: dict[str, Mapping]) -> None:
    """Number, type, status, dates, issuer, holder, countries, both lines and the attachment."""
    licence = sps(mappings, FIXTURE.read_bytes())
    assert (licence.source, licence.number, licence.version) == (
        SPS_CERTIFICATE, "RS-PC-2026-004711", 1)
    assert (licence.type, licence.certificate_type_code, licence.status, licence.status_code) == (
        "phytosanitary", "851", "issued", "70")
    assert licence.issued_at == "2026-03-02T09:15:00+01:00" and licence.valid_from == "2026-03-02"
    assert licence.issuing_agency is not None and \
        licence.issuing_agency.name == "Plant Protection Directorate"
    assert licence.holder is not None and licence.holder.name == "Fruit Import DOOEL"
    assert (licence.destination_country, licence.export_country) == ("MK", "RS")
    apples, pears = licence.lines
    assert (apples.line, apples.hs_code, apples.description, apples.quantity, apples.unit,
            apples.quantity_kind, apples.origin_country, apples.scientific_name) == (
        1, "080810", "Fresh apples", Decimal("18000"), "KGM", "net-weight", "RS",
        "Malus domestica")
    assert (pears.hs_code, pears.quantity) == ("080830", Decimal("4500.5"))   # "0808.30"
    (attachment,) = licence.attachments
    assert (attachment.filename, attachment.mime_code, attachment.size, attachment.document_id) \
        == ("lab-report-0912.pdf", "application/pdf", 97, "LAB-2026-0912")
    assert len(attachment.sha256 or "") == 64


def test_sps_large_attachment_is_summarised_not_carried(checker: DocumentChecker,
                                                        mappings: dict[str, Mapping]) -> None:
    """A 500 KB attachment becomes its size and SHA-256; the canonical JSON stays small."""
    from gateway.canonical.model import to_json_bytes

    body = build_sps_certificate(attachment_bytes=500_000, seed=7)
    assert checker.check(body).valid
    licence = sps(mappings, body)
    (attachment,) = licence.attachments
    content = attached(500_000, seed=7)
    assert attachment.size == 500_000
    assert attachment.sha256 == hashlib.sha256(content).hexdigest()
    assert len(to_json_bytes(licence)) < 3_000


def test_sps_withdrawn_certificate_is_revoked(mappings: dict[str, Mapping]) -> None:
    """StatusCode 40 (withdrawn) is the status revoked; no status code is issued."""
    assert sps(mappings, build_sps_certificate(status_code="40")).status == "revoked"
    assert sps(mappings, build_sps_certificate(status_code=None)).status == "issued"


def test_sps_quantity_falls_back_to_the_next_measure_with_its_own_unit(
        mappings: dict[str, Mapping]) -> None:
    """Without a net weight the line's quantity is its net volume, in the volume's unit."""
    body = fixture_with('<ram:NetWeightMeasure unitCode="KGM">18000</ram:NetWeightMeasure>', "")
    line = sps(mappings, body).lines[0]
    assert (line.quantity, line.unit, line.quantity_kind) == (Decimal("52.5"), "MTQ",
                                                              "net-volume")


def test_sps_hs_classification_is_found_by_system_id_in_any_case(
        mappings: dict[str, Mapping]) -> None:
    """A classification whose SystemID is 'cn' gives the goods code; an IPPC class does not."""
    body = fixture_with("<ram:SystemName>HS</ram:SystemName>\n          <ram:ClassCode>080810",
                        "<ram:SystemID>cn</ram:SystemID>\n          <ram:ClassCode>08081080")
    assert sps(mappings, body).lines[0].hs_code == "08081080"
    body = fixture_with("<ram:SystemName>HS</ram:SystemName>\n          <ram:ClassCode>080810",
                        "<ram:SystemName>EPPO</ram:SystemName>\n          <ram:ClassCode>MABSD")
    assert sps(mappings, body).lines[0].hs_code is None


@pytest.mark.parametrize(("stamp", "expected"), [
    ('<udt:DateTimeString format="102">20260302</udt:DateTimeString>', "2026-03-02"),
    ('<udt:DateTimeString format="205">20260302091500+0100</udt:DateTimeString>',
     "2026-03-02T09:15:00+01:00"),
    ('<udt:DateTimeString format="304">20260302091500+01</udt:DateTimeString>',
     "2026-03-02T09:15:00+01:00"),
    ('<udt:DateTimeString format="ISO8601">2026-03-02T09:15:00Z</udt:DateTimeString>',
     "2026-03-02T09:15:00Z"),
    ("<udt:DateTime>2026-03-02T09:15:00Z</udt:DateTime>", "2026-03-02T09:15:00Z"),
])
def test_sps_issue_date_is_read_by_its_format(mappings: dict[str, Mapping], stamp: str,
                                              expected: str) -> None:
    """UN/EDIFACT 2379 formats 102, 205 and 304, an ISO text under a format code the gateway
    does not know, and an XSD dateTime, become ISO 8601."""
    body = fixture_with("<udt:DateTimeString>2026-03-02T09:15:00+01:00</udt:DateTimeString>",
                        stamp)
    assert sps(mappings, body).issued_at == expected


@pytest.mark.parametrize(("find", "replace", "code", "pointer"), [
    ('<ram:NetWeightMeasure unitCode="KGM">18000', '<ram:NetWeightMeasure unitCode="XYZ">18000',
     "GW-MAP-UNIT", "/SPSCertificate/SPSConsignment/IncludedSPSConsignmentItem/"
     "IncludedSPSTradeLineItem[1]/NetWeightMeasure/@unitCode"),
    ("<ram:TypeCode>851</ram:TypeCode>", "<ram:TypeCode>999</ram:TypeCode>", "GW-MAP-CODE",
     "/SPSCertificate/SPSExchangedDocument/TypeCode"),
    ("<ram:StatusCode>70</ram:StatusCode>", "<ram:StatusCode>99</ram:StatusCode>", "GW-MAP-CODE",
     "/SPSCertificate/SPSExchangedDocument/StatusCode"),
    ("<udt:DateTimeString>2026-03-02T09:15:00+01:00</udt:DateTimeString>",
     '<udt:DateTimeString format="102">2026-02-30</udt:DateTimeString>', "GW-MAP-DATETIME",
     "/SPSCertificate/SPSExchangedDocument/IssueDateTime/DateTimeString"),
    ("<ram:ClassCode>080810</ram:ClassCode>", "<ram:ClassCode>08</ram:ClassCode>",
     "GW-MAP-HS-CODE", None),
])
def test_sps_values_that_mean_nothing_are_refused_where_they_are(
        checker: DocumentChecker, find: str, replace: str, code: str,
        pointer: str | None) -> None:
    """Schema-valid but meaningless values: refused with the code, pointer, line and value."""
    result = checker.check(fixture_with(find, replace))
    assert not result.valid
    (problem,) = result.problems
    assert problem.code == code and problem.line and problem.value
    if pointer is not None:
        assert problem.pointer == pointer


# --- licence documents ------------------------------------------------------------------------


def test_licence_document_maps_to_its_values(mappings: dict[str, Mapping]) -> None:
    """The builder's steel import licence: every field, both lines with TNE quantities."""
    licence = canonical(mappings, build_licence(), "licence-1.toml")
    assert (licence.source, licence.number, licence.version, licence.status, licence.type) == (
        LICENCE_DOCUMENT, "MK-IL-2026-0042", 1, "issued", "import")
    assert licence.issuing_agency is not None and licence.issuing_agency.id == "agency-trade"
    assert licence.holder is not None and licence.holder.id == "MK4030998123456"
    assert (licence.valid_from, licence.valid_to, licence.destination_country) == (
        "2026-01-15", "2026-12-31", "MK")
    assert [(line.line, line.hs_code, line.quantity, line.unit) for line in licence.lines] == [
        (1, "72083900", Decimal("6.000"), "TNE"), (2, "72142000", Decimal("4.000"), "TNE")]
    assert licence.certificate_type_code is None and licence.document_type() == "import"


def test_licence_revocation_maps_its_revocation(mappings: dict[str, Mapping]) -> None:
    """A revocation states when; it may carry no goods lines."""
    licence = canonical(mappings, build_licence(version=3, status="revoked", lines=(),
                                                revoked_at="2026-06-01T12:00:00Z"),
                        "licence-1.toml")
    assert (licence.status, licence.revoked_at, licence.lines) == (
        "revoked", "2026-06-01T12:00:00Z", [])


def test_licence_goods_line_in_an_unknown_unit_is_refused_at_its_unit(
        checker: DocumentChecker) -> None:
    """A second line in 'XYZ' is GW-MAP-UNIT at that line's unitCode, with its line number."""
    body = build_licence(lines=[("72083900", "Coils", "6", "TNE"), ("72142000", "Rebar", "4",
                                                                    "XYZ")])
    result = checker.check(body)
    (problem,) = result.problems
    assert (problem.code, problem.pointer, problem.value) == (
        "GW-MAP-UNIT", "/Licence/GoodsLine[2]/Quantity/@unitCode", "XYZ")
    assert problem.line == 2 and problem.column          # line 1 is the XML declaration


@pytest.mark.parametrize(("find", "replace", "code"), [
    (b"<lic:Status>issued</lic:Status>", b"<lic:Status>cancelled</lic:Status>",
     "GW-XSD-ENUMERATION"),
    (b"<lic:HSCode>72083900</lic:HSCode>", b"<lic:HSCode>7208A</lic:HSCode>", "GW-XSD-PATTERN"),
    (b' unitCode="TNE">6.000', b">6.000", "GW-XSD-ATTRIBUTE"),
    (b">6.000<", b">6.0000001<", "GW-XSD-FRACTION-DIGITS"),
    (b"</lic:Licence>", b"<lic:Colour>red</lic:Colour></lic:Licence>", "GW-XSD-CONTENT"),
    (b"<lic:Version>1</lic:Version>", b"<lic:Version>0</lic:Version>", "GW-XSD-DATATYPE"),
])
def test_licence_schema_refuses_a_broken_document(checker: DocumentChecker, find: bytes,
                                                  replace: bytes, code: str) -> None:
    """One broken part of a valid licence is refused by its schema, located."""
    body = build_licence()
    assert checker.check(body).valid and find in body
    result = checker.check(body.replace(find, replace, 1))
    assert not result.valid and result.problems[0].code == code
    assert result.problems[0].pointer and result.problems[0].pointer.startswith("/Licence")


def test_gateway_validate_checks_a_signed_certificate_as_what_was_signed(
        checker: DocumentChecker, tmp_path: Path) -> None:
    """``gateway validate`` has no partner key: it sets the signature aside and checks the
    rest, so a signed certificate is valid and a signed one with a broken unit is not."""
    from gateway.signing.keys import SigningKey, generate_key_pair
    from gateway.signing.xmldsig import XmlSigner

    key_pem, cert_pem = generate_key_pair("agency.test", "Agency")
    directory = tmp_path
    (directory / "a.key").write_bytes(key_pem)
    (directory / "a.crt").write_bytes(cert_pem)
    signer = XmlSigner(SigningKey.load(directory / "a.key", directory / "a.crt"))
    signed = build_sps_certificate(signer=signer)
    assert b"<ds:Signature" in signed and checker.check(signed).valid
    broken = build_sps_certificate(unit="XYZ", signer=signer)
    assert [p.code for p in checker.check(broken).problems] == ["GW-MAP-UNIT"] * 2
