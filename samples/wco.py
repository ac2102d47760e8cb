"""Builder for synthetic WCO Data Model 3.6 DEC declarations (MetaData + Declaration).

``build_dec()`` returns a complete ``md:MetaData`` document wrapping a ``Declaration`` as a
national customs service receives it from a broker: an import declaration (``IMA``, procedure
40 00) of goods coming by road, with agent, declarant, exporter, importer, buyer and seller,
border transport means, container and seal, goods location, customs valuation,
trade terms, invoice, a previous document (CMR), the importer's deferment account and, per
goods item, customs and statistical value, a licence (and a phytosanitary certificate for plant
products), the 8-digit commodity code, customs duty (A00) and VAT (B00) lines, gross and net
mass, origin and packaging.

The deferment account is data element 2/6 "deferred payment" as real declarations carry it: a
declaration-level ``AdditionalDocument`` with ``CategoryCode`` 1, ``TypeCode`` DAN and the
account number as ``ID``. Duties on a deferment account are paid later, so the clearance
stand-in releases such a declaration at once (``config/standins/clearance.toml``);
``deferment=None`` leaves it out, and the release then waits until the duties are paid
(flow F2: the broker's TAX notification carries the payment reference, the bank's camt.054
pays it).

The document is valid against ``schemas/wco/dec-3.6/WCO_DocumentMetaData_DMS_2.xsd`` and its
elements follow schema order. Everything is invented; the output is deterministic for a
given set of arguments (``seed`` picks the goods and drives quantities and prices). The goods,
the parties and the national currencies are data files (``samples/catalogues/wco_goods.toml``,
``wco_parties.toml``, ``wco_currencies.toml``), read on first use. Only the standard library
(and the gateway's ISO 6346 check digit) is used: the text is built directly as strings
(values escaped), which keeps a 999-item declaration (~2 MB) well under a second.

The builder does not police its arguments: ``items`` above 999 yields a document that the
schema rejects, which negative tests use; an ``hs_codes`` entry that is not 6-10 digits passes
the schema (``Classification/ID`` is an18) but is refused by the mapping step.
``declared_item_count`` sets ``GoodsItemQuantity`` independently of the items built.

Regenerate the fixtures with::

    python -m samples.wco --items 3 > tests/fixtures/wco/dec_valid_3_items.xml
    python -m samples.wco --items 3 --lrn LRN-MISMATCH-0001 \\
        --declared-item-count 5 > tests/fixtures/wco/dec_item_count_mismatch.xml
"""

from __future__ import annotations

import argparse
import functools
import random
import sys
from decimal import Decimal
from typing import NamedTuple
from xml.sax.saxutils import escape, quoteattr

from gateway import identifiers
from samples import catalogues

MD_NS = "urn:wco:datamodel:WCO:DocumentMetaData-DMS:2"
DEC_NS = "urn:wco:datamodel:WCO:DEC-DMS:2"
# The data-set namespace: the official DMS schema declares every DateTimeString leaf there
# (its parent, e.g. IssueDateTime, stays in DEC-DMS); real broker software writes it so.
DS_NS = "urn:wco:datamodel:WCO:Declaration_DS:DMS:2"

ISSUE_DATE_TIME = "20261128101500+01"  # formatCode 304: CCYYMMDDHHMMSSZZZ
DEFERMENT_ACCOUNT = "7100042"  # the importer's deferment account number (invented)
INVOICE_DATE = "20261120"  # formatCode 102: CCYYMMDD


class Goods(NamedTuple):
    """A kind of goods of ``catalogues/wco_goods.toml``."""

    hs: str
    description: str
    origin: str
    unit_price_eur_cents: int
    net_grams_per_unit: int
    units_per_package: int
    package_tare_grams: int
    duty_rate: int                 # %
    plant_product: bool            # -> a phytosanitary certificate


class Party(NamedTuple):
    """A party of ``catalogues/wco_parties.toml``."""

    name: str
    id: str
    city: str
    country: str
    line: str
    postcode: str


_GOODS_FIELDS = Goods._fields[1:]


@functools.cache
def catalogue() -> tuple[Goods, ...]:
    """The kinds of goods, in file order (read on first use, once)."""
    return tuple(Goods(row["hs"], *(row[f] for f in _GOODS_FIELDS))
                 for row in catalogues.read("wco_goods")["goods"])


@functools.cache
def _goods_by_hs() -> dict[str, Goods]:
    return {goods.hs: goods for goods in catalogue()}


def _goods_for(hs: str) -> Goods:
    """The catalogue's goods with commodity code ``hs``, else the file's ``other_goods``."""
    found = _goods_by_hs().get(hs)
    if found is not None:
        return found
    other = catalogues.read("wco_goods")["other_goods"]
    return Goods(hs, other["description"].replace("{hs}", hs),
                 *(other[f] for f in _GOODS_FIELDS[1:]))


def vat_rate() -> int:
    """The VAT rate (%) of every goods item."""
    return int(catalogues.read("wco_goods")["vat_rate"])


@functools.cache
def parties() -> dict[str, Party]:
    """``importer`` (also declarant and buyer), ``exporter`` (also seller), ``agent``."""
    return {role: Party(**fields) for role, fields in catalogues.read("wco_parties").items()}


def national_currency(country: str) -> tuple[str, str]:
    """(currency, EUR rate) of the declaration office's country; EUR for any other."""
    found = catalogues.read("wco_currencies")["national_currency"].get(country)
    return (found["currency"], found["eur_rate"]) if found else ("EUR", "1.00000")


def iso6346_check_digit(code: str) -> str:
    """Check digit of a container number (or MRN), as one character."""
    return str(identifiers.iso6346_check_digit(code))


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _kg(grams: int) -> str:
    return f"{grams // 1000}.{grams % 1000:03d}"


class _Writer:
    """Tiny XML writer over a list of strings: one element a line, indented by one space
    per level (keeps a 3-item declaration near 10 KB), values escaped."""

    __slots__ = ("parts", "depth")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.depth = 0

    def open(self, name: str, attrs: str = "") -> None:
        self.parts.append(f"{' ' * self.depth}<{name}{attrs}>\n")
        self.depth += 1

    def close(self, name: str) -> None:
        self.depth -= 1
        self.parts.append(f"{' ' * self.depth}</{name}>\n")

    def leaf(self, name: str, value: object, **attrs: str) -> None:
        a = "".join(f" {k}={quoteattr(v)}" for k, v in attrs.items())
        self.parts.append(f"{' ' * self.depth}<{name}{a}>{escape(str(value))}</{name}>\n")

    def address(self, city: str, country: str, line: str, postcode: str) -> None:
        self.open("Address")
        self.leaf("CityName", city)
        self.leaf("CountryCode", country)
        self.leaf("Line", line)
        self.leaf("PostcodeID", postcode)
        self.close("Address")



def _party(w: _Writer, tag: str, party: Party, *, address: bool = True,
           email: str | None = None, function_code: str | None = None) -> None:
    name, ident, city, country, line, postcode = party
    w.open(tag)
    w.leaf("Name", name)
    w.leaf("ID", ident)
    if function_code:
        w.leaf("FunctionCode", function_code)
    if address:
        w.address(city, country, line, postcode)
    if email:
        w.open("Communication")
        w.leaf("ID", email)
        w.leaf("TypeCode", "EM")
        w.close("Communication")
    w.close(tag)


def build_dec(
    items: int = 3,
    lrn: str = "LRN-0001",
    *,
    office: str = "MK001005",
    type_code: str = "IMA",
    declared_item_count: int | None = None,
    hs_codes: list[str] | None = None,
    seed: int = 0,
    deferment: str | None = DEFERMENT_ACCOUNT,
) -> bytes:
    """Return a MetaData+Declaration document (UTF-8 bytes with XML declaration); with
    ``deferment=None`` it declares no deferment account (the duties are paid before release)."""
    rng = random.Random(seed)
    country = office[:2].upper()
    currency, rate = national_currency(country)
    goods_list, vat, people = catalogue(), vat_rate(), parties()
    importer, exporter = people["importer"], people["exporter"]
    rate_milli = int(Decimal(rate) * 1000)  # national units per 1000 EUR
    container = "MSKU" + f"{(seed * 7919 + 123456) % 1000000:06d}"
    container += iso6346_check_digit(container)

    # ---- goods items first: the header carries their totals
    body = _Writer()
    body.depth = 3
    total_invoice = total_gross = total_packages = 0
    for i in range(items):
        seq = i + 1
        if hs_codes:
            hs = hs_codes[i % len(hs_codes)]
            row = _goods_for(hs)
        else:
            row = goods_list[(seed + i) % len(goods_list)]
            hs = row.hs
        _, description, origin, price, net_unit, per_pack, tare, duty_rate, plant = row
        packages = rng.randint(2, 40)
        units = packages * per_pack
        invoice_cents = units * price * rng.randint(95, 105) // 100
        net_g = units * net_unit
        gross_g = net_g + packages * tare
        value = invoice_cents * rate_milli // 1000  # national currency cents
        customs_value = value + value * 3 // 100  # + freight to the border (3 %)
        duty = customs_value * duty_rate // 100
        vat_amount = (customs_value + duty) * vat // 100
        total_invoice += invoice_cents
        total_gross += gross_g
        total_packages += packages

        w = body
        w.open("GovernmentAgencyGoodsItem")
        w.leaf("CustomsValueAmount", _money(customs_value), currencyID=currency)
        w.leaf("SequenceNumeric", seq)
        w.leaf("StatisticalValueAmount", _money(customs_value), currencyID=currency)
        w.open("AdditionalDocument")
        w.leaf("CategoryCode", "L")
        w.leaf("ID", "LIC-2026-0042")
        w.leaf("TypeCode", "100")
        w.close("AdditionalDocument")
        if plant:
            w.open("AdditionalDocument")
            w.leaf("CategoryCode", "N")
            w.leaf("ID", f"PHYTO-{origin}-2026-{(seed * 1000 + seq) % 1000000:06d}")
            w.leaf("Name", "Phytosanitary certificate")
            w.leaf("TypeCode", "851")
            w.close("AdditionalDocument")
        w.open("Commodity")
        w.leaf("Description", description)
        w.open("Classification")
        w.leaf("ID", hs)
        w.leaf("IdentificationTypeCode", "TSP")
        w.close("Classification")
        for code, base, rate_pct, amount in (
            ("A00", customs_value, duty_rate, duty),
            ("B00", customs_value + duty, vat, vat_amount),
        ):
            w.open("DutyTaxFee")
            w.leaf("AdValoremTaxBaseAmount", _money(base), currencyID=currency)
            w.leaf("TaxRateNumeric", rate_pct)
            w.leaf("TypeCode", code)
            w.open("Payment")
            w.leaf("MethodCode", "A")
            w.leaf("TaxAssessedAmount", _money(amount), currencyID=currency)
            w.close("Payment")
            w.close("DutyTaxFee")
        w.open("GoodsMeasure")
        w.leaf("GrossMassMeasure", _kg(gross_g), unitCode="KGM")
        w.leaf("NetNetWeightMeasure", _kg(net_g), unitCode="KGM")
        w.close("GoodsMeasure")
        w.close("Commodity")
        w.open("GovernmentProcedure")
        w.leaf("CurrentCode", "40")
        w.leaf("PreviousCode", "00")
        w.close("GovernmentProcedure")
        w.open("Origin")
        w.leaf("CountryCode", origin)
        w.close("Origin")
        w.open("Packaging")
        w.leaf("SequenceNumeric", 1)
        w.leaf("MarksNumbersID", f"{container} SWH/{seq:03d} 1-{packages}")
        w.leaf("QuantityQuantity", packages)
        w.leaf("TypeCode", "PK")
        w.close("Packaging")
        w.close("GovernmentAgencyGoodsItem")

    # ---- header
    h = _Writer()
    h.parts.append('<?xml version="1.0" encoding="UTF-8"?>\n')
    h.open("md:MetaData", f' xmlns:md="{MD_NS}"')
    h.leaf("md:WCODataModelVersionCode", "3.6")
    h.leaf("md:WCOTypeName", "DEC")
    h.leaf("md:ResponsibleCountryCode", country)
    h.leaf("md:ResponsibleAgencyName", "Customs Administration")
    h.leaf("md:AgencyAssignedCustomizationVersionCode", "1")
    h.open("Declaration", f' xmlns="{DEC_NS}" xmlns:ds="{DS_NS}"')
    h.leaf("FunctionCode", 9)
    h.leaf("FunctionalReferenceID", lrn)
    h.open("IssueDateTime")
    h.leaf("ds:DateTimeString", ISSUE_DATE_TIME, formatCode="304")
    h.close("IssueDateTime")
    h.leaf("TypeCode", type_code)
    h.leaf("GoodsItemQuantity", items if declared_item_count is None else declared_item_count)
    h.leaf("DeclarationOfficeID", office)
    h.leaf("InvoiceAmount", _money(total_invoice), currencyID="EUR")
    h.leaf("TotalGrossMassMeasure", _kg(total_gross), unitCode="KGM")
    h.leaf("TotalPackageQuantity", total_packages)
    if deferment is not None:
        h.open("AdditionalDocument")
        h.leaf("CategoryCode", "1")
        h.leaf("ID", deferment)
        h.leaf("TypeCode", "DAN")
        h.close("AdditionalDocument")
    _party(h, "Agent", people["agent"], address=False, function_code="2")
    h.open("BorderTransportMeans")
    h.leaf("ID", "SK-4127-AB")
    h.leaf("IdentificationTypeCode", "30")
    h.leaf("TypeCode", "31")
    h.leaf("RegistrationNationalityCode", "MK")
    h.leaf("ModeCode", "3")
    h.close("BorderTransportMeans")
    h.open("CurrencyExchange")
    h.leaf("CurrencyTypeCode", "EUR")
    h.leaf("RateNumeric", rate)
    h.close("CurrencyExchange")
    _party(h, "Declarant", importer, email="customs@vardartrade.mk")
    _party(h, "Exporter", exporter)
    h.open("GoodsShipment")
    h.leaf("TransactionNatureCode", "11")
    _party(h, "Buyer", importer, address=False)
    h.open("Consignment")
    h.leaf("ContainerCode", "1")
    h.open("ArrivalTransportMeans")
    h.leaf("ID", "SK-4127-AB")
    h.leaf("IdentificationTypeCode", "30")
    h.leaf("ModeCode", "3")
    h.close("ArrivalTransportMeans")
    h.open("GoodsLocation")
    h.leaf("Name", "Customs terminal Skopje - Bunardzik")
    h.leaf("ID", f"{office}-T01")
    h.leaf("TypeCode", "B")
    h.open("Address")
    h.leaf("CityName", "Ilinden")
    h.leaf("CountryCode", country)
    h.leaf("Line", "Industriska zona Bunardzik bb")
    h.leaf("PostcodeID", "1041")
    h.close("Address")
    h.close("GoodsLocation")
    h.open("TransportEquipment")
    h.leaf("SequenceNumeric", 1)
    h.leaf("ID", container)
    h.open("Seal")
    h.leaf("SequenceNumeric", 1)
    h.leaf("ID", f"SL{7000000 + seed % 1000000}")
    h.close("Seal")
    h.close("TransportEquipment")
    h.close("Consignment")
    h.open("CustomsValuation")
    h.leaf("FreightChargeAmount", _money(total_invoice * 3 // 100), currencyID="EUR")
    h.close("CustomsValuation")
    h.open("Destination")
    h.leaf("CountryCode", country)
    h.close("Destination")
    h.open("ExportCountry")
    h.leaf("ID", "DE")
    h.close("ExportCountry")
    head = "".join(h.parts)

    t = _Writer()
    t.depth = 3
    _party(t, "Importer", importer)
    t.open("Invoice")
    t.leaf("ID", f"INV-2026-{4711 + seed:05d}")
    t.open("IssueDateTime")
    t.leaf("ds:DateTimeString", INVOICE_DATE, formatCode="102")
    t.close("IssueDateTime")
    t.close("Invoice")
    t.open("PreviousDocument")
    t.leaf("CategoryCode", "Z")
    t.leaf("ID", f"CMR-DE-2026-{88120 + seed:06d}")
    t.leaf("TypeCode", "730")
    t.leaf("LineNumeric", 1)
    t.close("PreviousDocument")
    _party(t, "Seller", exporter, address=False)
    t.open("TradeTerms")
    t.leaf("ConditionCode", "FCA")
    t.leaf("LocationName", "Stuttgart")
    t.close("TradeTerms")
    t.depth = 2
    t.close("GoodsShipment")
    t.close("Declaration")
    t.close("md:MetaData")
    return (head + "".join(body.parts) + "".join(t.parts)).encode("utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Write a sample WCO DEC declaration to stdout.")
    ap.add_argument("--items", type=int, default=3)
    ap.add_argument("--lrn", default="LRN-0001")
    ap.add_argument("--office", default="MK001005")
    ap.add_argument("--type-code", default="IMA")
    ap.add_argument("--declared-item-count", type=int)
    ap.add_argument("--hs-code", action="append", dest="hs_codes")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--deferment", default=DEFERMENT_ACCOUNT,
                    help="the deferment account (DAN) declared; '' declares none")
    a = ap.parse_args(argv)
    sys.stdout.buffer.write(
        build_dec(a.items, a.lrn, office=a.office, type_code=a.type_code,
                  declared_item_count=a.declared_item_count, hs_codes=a.hs_codes, seed=a.seed,
                  deferment=a.deferment or None)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
