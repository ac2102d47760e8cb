"""Builder for synthetic UN/CEFACT SPS certificates (SPSCertificate 17, as ePhyto carries them).

``build_sps_certificate()`` returns a phytosanitary certificate (``TypeCode`` 851 by default)
as a plant protection organisation sends it to customs through the gateway: the exchanged
document (name, number, type, status, issue date, issuer, notes, the signatory with a clause,
referenced documents), then the consignment (transit country, consignor, consignee, container
and seal, export and import countries, unloading port, examination, two main-carriage
movements, and one consignment item with ``lines`` trade line items: descriptions, common and
scientific names, intended use, net and gross weight in KGM, volumes, an IPPC class and an HS
classification, notes, two package levels, origin with a region, and a cold treatment). Values
are invented and deterministic for a given set of arguments.

Options:

* ``attachment_bytes``: embed a file of that many bytes (a PDF-like laboratory report,
  pseudo-random content, base64 in lines of 76 characters as mail software writes it) in a
  referenced document — ``500_000`` gives the ~500 KB certificate the size tests use;
  ``attached()`` returns the same bytes, so tests can compare the size and SHA-256;
* ``type_code`` / ``status_code``: e.g. ``"636"`` (CHED), ``"40"`` (withdrawn);
* ``hs_codes``, ``quantities`` (kilograms), ``unit``: the goods of the lines;
* ``signer``: an ``XmlSigner`` with the agency's key: the certificate is returned signed
  (enveloped XML-DSig referencing the root's ``Id``), as the gateway requires; unsigned
  without it (what ``gateway validate`` and schema tests read).

Write one to a file with::

    python -m samples.sps --attachment-bytes 500000 > /tmp/sps.xml
"""

from __future__ import annotations

import argparse
import base64
import random
import sys
from collections.abc import Sequence
from decimal import Decimal

from lxml import etree

from gateway.signing.xmldsig import XmlSigner

RSM = "urn:un:unece:uncefact:data:standard:SPSCertificate:17"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:21"
UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:21"
QDT = "urn:un:unece:uncefact:data:standard:QualifiedDataType:21"
NSMAP = {"rsm": RSM, "ram": RAM, "udt": UDT, "qdt": QDT}
ISSUED_AT = "2026-03-02T09:15:00+01:00"
_GOODS = (("Fresh apples", "Apple", "Malus domestica", "080810"),
          ("Fresh pears", "Pear", "Pyrus communis", "080830"),
          ("Fresh quinces", "Quince", "Cydonia oblonga", "080840"))


def attached(size: int, seed: int = 1) -> bytes:
    """The embedded file of ``build_sps_certificate(attachment_bytes=size, seed=seed)``."""
    head = b"%PDF-1.4\n% laboratory analysis report (synthetic)\n"
    rng = random.Random(seed)
    return head + rng.randbytes(max(0, size - len(head)))


def build_sps_certificate(*, number: str = "RS-PC-2026-004711", type_code: str = "851",
                          status_code: str | None = "70", lines: int = 2,
                          hs_codes: Sequence[str] | None = None,
                          quantities: Sequence[Decimal | str] | None = None, unit: str = "KGM",
                          attachment_bytes: int = 0, seed: int = 1,
                          signer: XmlSigner | None = None) -> bytes:
    """A certificate as bytes (UTF-8, signed with ``signer`` if given)."""
    root = etree.Element(f"{{{RSM}}}SPSCertificate", nsmap=NSMAP)
    _exchanged_document(root, number, type_code, status_code, attachment_bytes, seed)
    consignment = etree.SubElement(root, f"{{{RSM}}}SPSConsignment")
    _consignment(consignment)
    item = _ram(consignment, "IncludedSPSConsignmentItem")
    for index in range(1, lines + 1):
        description, common, scientific, hs = _GOODS[(index - 1) % len(_GOODS)]
        if hs_codes:
            hs = hs_codes[(index - 1) % len(hs_codes)]
        quantity = Decimal(str(quantities[(index - 1) % len(quantities)])) if quantities \
            else Decimal(18000 - 500 * index)
        _trade_line(item, index, description, common, scientific, hs, quantity, unit)
    if signer is not None:
        return signer.sign_to_bytes(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


# --- the exchanged document -----------------------------------------------------------------


def _exchanged_document(root: etree._Element, number: str, type_code: str,
                        status_code: str | None, attachment_bytes: int, seed: int) -> None:
    doc = etree.SubElement(root, f"{{{RSM}}}SPSExchangedDocument")
    _ram(doc, "Name", "Phytosanitary Certificate")
    _ram(doc, "ID", number)
    _ram(doc, "TypeCode", type_code)
    if status_code is not None:
        _ram(doc, "StatusCode", status_code)
    _datetime(_ram(doc, "IssueDateTime"), ISSUED_AT)
    _ram(_ram(doc, "IssuerSPSParty"), "Name", "Plant Protection Directorate")
    for subject, content in (("SPSFL", "Additional declaration: the consignment was inspected "
                                       "and found free from Erwinia amylovora."),
                             ("SPSND", "Distinguishing marks: RS-0401-EXP")):
        note = _ram(doc, "IncludedSPSNote")
        _ram(note, "Subject", subject)
        _ram(note, "Content", content)
    _signatory(doc)
    if attachment_bytes:
        reference = _ram(doc, "ReferenceSPSReferencedDocument")
        _datetime(_ram(reference, "IssueDateTime"), "2026-02-27T00:00:00+01:00")
        _ram(reference, "RelationshipTypeCode", "AAJ")
        _ram(reference, "ID", "LAB-2026-0912")
        _ram(reference, "Information", "Laboratory analysis report", languageID="en")
        encoded = base64.encodebytes(attached(attachment_bytes, seed)).decode("ascii")
        _ram(reference, "AttachmentBinaryObject", "\n" + encoded, mimeCode="application/pdf",
             filename="lab-report-0912.pdf")
    reference = _ram(doc, "ReferenceSPSReferencedDocument")
    _ram(reference, "RelationshipTypeCode", "ZZZ")
    _ram(reference, "ID", "INV-2026-118")
    _ram(reference, "Information", "Commercial invoice", languageID="en")


def _signatory(doc: etree._Element) -> None:
    signatory = _ram(doc, "SignatorySPSAuthentication")
    _datetime(_ram(signatory, "ActualDateTime"), "2026-03-02T09:10:00+01:00")
    location = _ram(signatory, "IssueSPSLocation")
    _ram(location, "ID", "RSBEG")
    _ram(location, "Name", "Belgrade")
    provider = _ram(signatory, "ProviderSPSParty")
    _ram(provider, "Name", "Plant Protection Directorate, Border Phytosanitary Inspection")
    _ram(_ram(provider, "SpecifiedSPSPerson"), "Name", "Jelena Petrović")
    clause = _ram(signatory, "IncludedSPSClause")
    _ram(clause, "ID", "1")
    _ram(clause, "Content", "This is to certify that the plants, plant products or other "
                            "regulated articles described herein have been inspected.")


# --- the consignment --------------------------------------------------------------------------


def _consignment(consignment: etree._Element) -> None:
    _country(consignment, "TransitSPSCountry", "RS", "Serbia")
    for role, name, line, city, type_code in (
            ("ConsignorSPSParty", "Voće Export d.o.o.", "Industrijska zona bb", "Smederevo",
             "CZ"),
            ("ConsigneeSPSParty", "Fruit Import DOOEL", "Bulevar Partizanski Odredi 14",
             "Skopje", "CN")):
        party = _ram(consignment, role)
        _ram(party, "Name", name)
        _ram(party, "TypeCode", type_code, listName="party type")
        address = _ram(party, "SpecifiedSPSAddress")
        _ram(address, "LineOne", line)
        _ram(address, "CityName", city)
    equipment = _ram(consignment, "UtilizedSPSTransportEquipment")
    _ram(equipment, "ID", "MSKU7723019")
    _ram(_ram(equipment, "AffixedSPSSeal"), "ID", "SEAL-448812")
    _country(consignment, "ExportSPSCountry", "RS", "Serbia")
    _country(consignment, "ImportSPSCountry", "MK", "North Macedonia")
    port = _ram(consignment, "UnloadingBaseportSPSLocation")
    _ram(port, "ID", "MKSKP", schemeID="UN/LOCODE")
    _ram(port, "Name", "Skopje")
    event = _ram(consignment, "ExaminationSPSEvent")
    _ram(_ram(event, "OccurrenceSPSLocation"), "Name", "Smederevo packing house")
    for plate in ("BG-4471-AK", "SK-2210-BB"):
        movement = _ram(consignment, "MainCarriageSPSTransportMovement")
        _ram(movement, "ID", plate)
        _ram(movement, "ModeCode", "3", name="Road transport")
        _ram(_ram(movement, "UsedSPSTransportMeans"), "Name", "Refrigerated truck",
             languageID="en")


def _trade_line(item: etree._Element, index: int, description: str, common: str,
                scientific: str, hs: str, quantity: Decimal, unit: str) -> None:
    line = _ram(item, "IncludedSPSTradeLineItem")
    _ram(line, "SequenceNumeric", str(index))
    _ram(line, "Description", description, languageID="en")
    _ram(line, "CommonName", common)
    _ram(line, "ScientificName", scientific)
    _ram(line, "IntendedUse", "Consumption", languageID="en")
    _ram(line, "NetWeightMeasure", format(quantity, "f"), unitCode=unit)
    _ram(line, "GrossWeightMeasure", format(quantity * Decimal("1.08"), "f"), unitCode="KGM")
    for system, code, name in (("IPPC commodity class", "FRUIT", "Fruit"),
                               ("HS", hs, description)):
        classification = _ram(line, "ApplicableSPSClassification")
        _ram(classification, "SystemName", system)
        _ram(classification, "ClassCode", code)
        _ram(classification, "ClassName", name)
    note = _ram(line, "AdditionalInformationSPSNote")
    _ram(note, "Subject", "Packaging")
    _ram(note, "Content", "Cardboard cartons on pallets")
    for level, type_code, count in (("1", "CT", "1000"), ("2", "PX", "20")):
        package = _ram(line, "PhysicalSPSPackage")
        _ram(package, "LevelCode", level)
        _ram(package, "TypeCode", type_code)
        _ram(package, "ItemQuantity", count)
    origin = _country(line, "OriginSPSCountry", "RS", "Serbia")
    region = _ram(origin, "SubordinateSPSCountrySubDivision")
    _ram(region, "Name", "Podunavlje")
    _ram(region, "HierarchicalLevelCode", "1")
    process = _ram(line, "AppliedSPSProcess")
    _ram(process, "TypeCode", "CT")
    characteristic = _ram(process, "ApplicableSPSProcessCharacteristic")
    _ram(characteristic, "Description", "Cold treatment")
    _ram(characteristic, "ValueMeasure", "1.5", unitCode="CEL")
    period = _ram(process, "CompletionSPSPeriod")
    _datetime(_ram(period, "StartDateTime"), "2026-02-10T00:00:00+01:00")
    _datetime(_ram(period, "EndDateTime"), "2026-02-24T00:00:00+01:00")
    _ram(period, "DurationMeasure", "14", unitCode="DAY")


# --- small writers ---------------------------------------------------------------------------


def _ram(parent: etree._Element, tag: str, text: str | None = None,
         **attributes: str) -> etree._Element:
    element = etree.SubElement(parent, f"{{{RAM}}}{tag}", attributes)
    if text is not None:
        element.text = text
    return element


def _datetime(parent: etree._Element, value: str) -> None:
    etree.SubElement(parent, f"{{{UDT}}}DateTimeString").text = value


def _country(parent: etree._Element, name: str, code: str, label: str) -> etree._Element:
    country = _ram(parent, name)
    _ram(country, "ID", code)
    _ram(country, "Name", label)
    return country


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--number", default="RS-PC-2026-004711", help="certificate number")
    ap.add_argument("--type-code", default="851", help="SPS TypeCode (851, 657, 636 …)")
    ap.add_argument("--lines", type=int, default=2, help="trade line items")
    ap.add_argument("--attachment-bytes", type=int, default=0,
                    help="size of the embedded laboratory report (0: none)")
    a = ap.parse_args(argv)
    sys.stdout.buffer.write(build_sps_certificate(
        number=a.number, type_code=a.type_code, lines=a.lines,
        attachment_bytes=a.attachment_bytes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
