"""Builder for synthetic ASYCUDA-style SAD XML exports (legacy broker format).

The output follows the conventions of real broker exports so the schema
(``schemas/asycuda/sad-1/ASYCUDA_SAD.xsd``) and the mapping step can be
exercised with realistic input:

* empty values as ``<null/>`` children, self-closing ``<X/>`` and ``<X></X>``;
* eight ``Taxation_line`` slots per item (line 1 customs duty ``CD`` unless a
  preference applies, line 2 ``VAT``, the rest null placeholders);
* three ``Supplementary_unit`` slots per item (only the first ever filled);
* amounts and weights with thousands separators (``12,345.50``), a composite
  ``Displayed_item_taxes_amount`` (``25,336.35+94,787.53``), multi-line
  trader names, a licence on licensable goods and ``SW_scans_items`` for goods
  that need a certificate.

All data is invented. Output is deterministic for a given set of arguments
(``seed`` drives the pseudo-random quantities and prices). Only the standard
library and lxml are used.

The builder does not police its arguments: ``items`` outside 1..999, an
``hs_codes`` entry that is not 8 digits or a ``type_of_declaration`` that is
not two letters yield a document the schema rejects, which is handy for
negative tests.

Regenerate the 120-item fixture with::

    python -m adapters.standins.asycuda_samples --items 120 \\
        > tests/fixtures/asycuda/sad_valid_120_items.xml
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from lxml import etree

__all__ = ["build_sad", "EUR_MKD_RATE"]

#: Exchange rate used for all samples (national currency MKD per EUR).
EUR_MKD_RATE = Decimal("61.50")

_CENT = Decimal("0.01")


class _SelfClosing:
    """Marker for an empty element serialised as ``<X/>``."""


#: Leaf value markers: ``None`` -> ``<X><null/></X>``, ``""`` -> ``<X></X>``,
#: ``SELF_CLOSING`` -> ``<X/>``; any other value is written as text.
SELF_CLOSING = _SelfClosing()
LeafValue = str | _SelfClosing | None


@dataclass(frozen=True)
class _Goods:
    hs: str
    description: str
    commercial: str
    origin: str
    package_code: str
    package_name: str
    unit_price_eur: Decimal  # per package
    kg_per_package: Decimal
    cd_rate: Decimal  # customs duty %, 0 when a preference applies
    vat_rate: Decimal
    preference: str | None = None
    supp_unit: tuple[str, str] | None = None  # (code, name); qty = packages * per_pkg
    supp_per_package: int = 1
    licence: bool = False
    certificate: tuple[str, str] | None = None  # (document type code, name)


_CATALOGUE: tuple[_Goods, ...] = (
    _Goods(
        "08051020",
        "Fresh sweet oranges",
        "Oranges Valencia cal. 6, 15 kg cartons",
        "TR",
        "CT",
        "Carton",
        Decimal("12.80"),
        Decimal("15.60"),
        Decimal("0"),
        Decimal("5"),
        preference="300",
        certificate=("N851", "Phytosanitary certificate"),
    ),
    _Goods(
        "84151010",
        "Air conditioning machines, wall type, split system",
        "Split AC 12000 BTU inverter, R32",
        "CN",
        "PK",
        "Package",
        Decimal("163.45"),
        Decimal("32.00"),
        Decimal("5"),
        Decimal("18"),
        supp_unit=("NAR", "Number of articles"),
        licence=True,
    ),
    _Goods(
        "39241000",
        "Tableware and kitchenware of plastics",
        "PP food containers set 5 pcs",
        "CN",
        "CT",
        "Carton",
        Decimal("20.97"),
        Decimal("6.65"),
        Decimal("10"),
        Decimal("18"),
        supp_unit=("NAR", "Number of articles"),
        supp_per_package=24,
    ),
    _Goods(
        "85094000",
        "Food grinders and mixers; fruit or vegetable juice extractors",
        "Kitchen blender 600W",
        "CN",
        "CT",
        "Carton",
        Decimal("84.00"),
        Decimal("9.40"),
        Decimal("10"),
        Decimal("18"),
        supp_unit=("NAR", "Number of articles"),
        supp_per_package=4,
    ),
    _Goods(
        "61091000",
        "T-shirts, singlets and other vests, of cotton, knitted",
        "Men's T-shirt 100% cotton, assorted sizes",
        "TR",
        "CT",
        "Carton",
        Decimal("96.00"),
        Decimal("8.20"),
        Decimal("0"),
        Decimal("18"),
        preference="300",
        supp_unit=("NAR", "Number of articles"),
        supp_per_package=48,
    ),
    _Goods(
        "87089997",
        "Parts and accessories for motor vehicles, n.e.s.",
        "Brake calipers, remanufactured",
        "DE",
        "PX",
        "Pallet",
        Decimal("1240.00"),
        Decimal("410.00"),
        Decimal("0"),
        Decimal("18"),
        preference="200",
    ),
    _Goods(
        "30049000",
        "Medicaments put up in measured doses, n.e.s.",
        "Ibuprofen 400 mg film-coated tablets",
        "DE",
        "CT",
        "Carton",
        Decimal("310.00"),
        Decimal("4.80"),
        Decimal("0"),
        Decimal("5"),
        preference="200",
        supp_unit=("NAR", "Number of articles"),
        supp_per_package=60,
        licence=True,
    ),
    _Goods(
        "72142000",
        "Bars and rods of iron, with indentations (rebar)",
        "Rebar B500B d12 mm, 12 m",
        "RS",
        "BE",
        "Bundle",
        Decimal("1190.00"),
        Decimal("2000.00"),
        Decimal("0"),
        Decimal("18"),
        preference="400",
    ),
    _Goods(
        "06029050",
        "Live outdoor plants, n.e.s.",
        "Thuja occidentalis Smaragd 80-100 cm, potted",
        "RS",
        "PX",
        "Pallet",
        Decimal("455.00"),
        Decimal("320.00"),
        Decimal("0"),
        Decimal("18"),
        preference="400",
        certificate=("N851", "Phytosanitary certificate"),
    ),
    _Goods(
        "94036010",
        "Wooden furniture for dining rooms and living rooms",
        "Oak coffee table, flat-packed",
        "CN",
        "PK",
        "Package",
        Decimal("58.00"),
        Decimal("21.50"),
        Decimal("10"),
        Decimal("18"),
    ),
)

_EXPORTERS = (
    (
        "NINGBO HUAXIN ELECTRIC APPLIANCE CO., LTD\n"
        "NO. 88 JIANGNAN RD, BEILUN DISTRICT\nNINGBO, ZHEJIANG 315800, CN",
        "CN",
        "China",
    ),
    (
        "EGE TARIM URUNLERI IC VE DIS TIC. A.S.\n"
        "IZMIR SERBEST BOLGESI, AKCAY CAD. NO 144\nGAZIEMIR / IZMIR, TR",
        "TR",
        "Turkey",
    ),
    ("BALKAN HANDELS GMBH\nHAFENSTRASSE 12\n20457 HAMBURG, DE", "DE", "Germany"),
)

_CONSIGNEES = (
    ("4030999123456", "ТЕХНОМАРКЕТ ДООЕЛ Скопје\nул. Никола Тесла бр. 9, 1000 Скопје"),
    ("4057012345678", "VARDAR TRADE DOO\nBUL. PARTIZANSKI ODREDI 17A\n1000 SKOPJE, MK"),
)

_DECLARANT = ("4030008765432", "ШПЕДИЦИЈА БАЛКАН ДООЕЛ\nСкопје")


def _money(value: Decimal) -> str:
    """Format an amount with thousands separators and two decimals."""
    return f"{value.quantize(_CENT, rounding=ROUND_HALF_UP):,.2f}"


def _count(value: int) -> str:
    """Format a whole number with thousands separators."""
    return f"{value:,}"


def _leaf(parent: etree._Element, name: str, value: LeafValue) -> etree._Element:
    element = etree.SubElement(parent, name)
    if value is None:
        etree.SubElement(element, "null")
    elif isinstance(value, _SelfClosing):
        pass
    else:
        element.text = value
    return element


def _block(parent: etree._Element, name: str, *leaves: tuple[str, LeafValue]) -> etree._Element:
    element = etree.SubElement(parent, name)
    for leaf_name, value in leaves:
        _leaf(element, leaf_name, value)
    return element


@dataclass
class _ItemData:
    number: int
    goods: _Goods
    hs: str
    packages: int
    gross: Decimal
    net: Decimal
    invoice_eur: Decimal
    invoice_mkd: Decimal
    freight_mkd: Decimal
    insurance_mkd: Decimal
    cif_mkd: Decimal
    cd_amount: Decimal
    vat_base: Decimal
    vat_amount: Decimal


def _plan_items(
    rng: random.Random, items: int, hs_codes: Sequence[str] | None, freight_eur: Decimal
) -> list[_ItemData]:
    goods_order = list(_CATALOGUE)
    rng.shuffle(goods_order)
    planned: list[tuple[_Goods, str, int, Decimal, Decimal, Decimal]] = []
    for index in range(items):
        goods = goods_order[index % len(goods_order)]
        hs = hs_codes[index % len(hs_codes)] if hs_codes else goods.hs
        packages = rng.randint(1, 40) if goods.kg_per_package >= 300 else rng.randint(5, 1500)
        price = goods.unit_price_eur * Decimal(rng.randint(90, 110)) / 100
        invoice_eur = (price * packages).quantize(_CENT, rounding=ROUND_HALF_UP)
        net = (goods.kg_per_package * packages).quantize(_CENT)
        gross = (net * Decimal("1.06") + Decimal(rng.randint(0, 90))).quantize(_CENT)
        planned.append((goods, hs, packages, invoice_eur, gross, net))

    total_gross = sum((p[4] for p in planned), Decimal(0)) or Decimal(1)
    result: list[_ItemData] = []
    for number, (goods, hs, packages, invoice_eur, gross, net) in enumerate(planned, start=1):
        invoice_mkd = (invoice_eur * EUR_MKD_RATE).quantize(_CENT, rounding=ROUND_HALF_UP)
        # Freight apportioned by gross weight, insurance at 0.3 % of the invoice.
        freight_mkd = (freight_eur * EUR_MKD_RATE * gross / total_gross).quantize(
            _CENT, rounding=ROUND_HALF_UP
        )
        insurance_mkd = (invoice_mkd * Decimal("0.003")).quantize(_CENT, rounding=ROUND_HALF_UP)
        cif_mkd = invoice_mkd + freight_mkd + insurance_mkd
        cd_amount = (cif_mkd * goods.cd_rate / 100).quantize(_CENT, rounding=ROUND_HALF_UP)
        vat_base = cif_mkd + cd_amount
        vat_amount = (vat_base * goods.vat_rate / 100).quantize(_CENT, rounding=ROUND_HALF_UP)
        result.append(
            _ItemData(
                number,
                goods,
                hs,
                packages,
                gross,
                net,
                invoice_eur,
                invoice_mkd,
                freight_mkd,
                insurance_mkd,
                cif_mkd,
                cd_amount,
                vat_base,
                vat_amount,
            )
        )
    return result


def _taxation(parent: etree._Element, item: _ItemData) -> None:
    lines: list[tuple[str, Decimal, Decimal, Decimal]] = []
    if item.goods.cd_rate > 0:
        lines.append(("CD", item.cif_mkd, item.goods.cd_rate, item.cd_amount))
    lines.append(("VAT", item.vat_base, item.goods.vat_rate, item.vat_amount))
    total = sum((line[3] for line in lines), Decimal(0))

    taxation = etree.SubElement(parent, "Taxation")
    _leaf(taxation, "Item_taxes_amount", _money(total))
    _leaf(taxation, "Item_taxes_guaranted_amount", "0.00")
    _leaf(taxation, "Item_taxes_mode_of_payment", "1")
    _leaf(taxation, "Counter_of_normal_mode_of_payment", None)
    _leaf(taxation, "Displayed_item_taxes_amount", "+".join(_money(line[3]) for line in lines))
    for slot in range(8):
        if slot < len(lines):
            code, base, rate, amount = lines[slot]
            _block(
                taxation,
                "Taxation_line",
                ("Duty_tax_code", code),
                ("Duty_tax_Base", _money(base)),
                ("Duty_tax_rate", _money(rate)),
                ("Duty_tax_amount", _money(amount)),
                ("Duty_tax_MP", "1"),
                ("Duty_tax_Type_of_calculation", None),
            )
        else:
            _block(
                taxation,
                "Taxation_line",
                ("Duty_tax_code", None),
                ("Duty_tax_Base", None),
                ("Duty_tax_rate", None),
                ("Duty_tax_amount", None),
                ("Duty_tax_MP", None),
                ("Duty_tax_Type_of_calculation", None),
            )


def _item(root: etree._Element, item: _ItemData, declaration_date: date) -> None:
    goods = item.goods
    element = etree.SubElement(root, "Item")
    _block(
        element,
        "Packages",
        ("Number_of_packages", _count(item.packages)),
        ("Marks1_of_packages", f"AS ADDRESSED / ITEM {item.number}"),
        ("Marks2_of_packages", None),
        ("Kind_of_packages_code", goods.package_code),
        ("Kind_of_packages_name", goods.package_name),
    )
    _block(element, "IncoTerms", ("Code", "FCA"), ("Place", None))

    tarification = etree.SubElement(element, "Tarification")
    _leaf(tarification, "Tarification_data", None)
    _block(
        tarification,
        "HScode",
        ("Commodity_code", item.hs),
        ("Precision_1", "00"),
        ("Precision_2", None),
        ("Precision_3", None),
        ("Precision_4", None),
    )
    _leaf(tarification, "Preference_code", goods.preference)
    _leaf(tarification, "Extended_customs_procedure", "4000")
    _leaf(tarification, "National_customs_procedure", "000")
    _leaf(tarification, "Quota_code", None)
    quota = etree.SubElement(tarification, "Quota")
    _leaf(quota, "QuotaCode", None)
    _leaf(quota, "QuotaId", None)
    _block(quota, "QuotaItem", ("ItmNbr", None))
    for slot in range(3):
        if slot == 0 and goods.supp_unit is not None:
            code, name = goods.supp_unit
            quantity = item.packages * goods.supp_per_package
            _block(
                tarification,
                "Supplementary_unit",
                ("Suppplementary_unit_code", code),
                ("Suppplementary_unit_name", name),
                ("Suppplementary_unit_quantity", _money(Decimal(quantity))),
            )
        else:
            _block(
                tarification,
                "Supplementary_unit",
                ("Suppplementary_unit_code", None),
                ("Suppplementary_unit_name", None),
                ("Suppplementary_unit_quantity", None),
            )
    _leaf(tarification, "Item_price", _money(item.invoice_eur))
    _leaf(tarification, "Valuation_method_code", "1")
    _leaf(tarification, "Value_item", SELF_CLOSING)
    _leaf(tarification, "A.I._code", None)

    _block(element, "write_off_unit", ("write_off_unit_code", None), ("write_off_unit_qty", None))
    _block(
        element,
        "Goods_description",
        ("Country_of_origin_code", goods.origin),
        ("Country_of_origin_region", None),
        ("Description_of_goods", goods.description),
        ("Commercial_Description", goods.commercial),
    )
    _block(
        element,
        "Previous_doc",
        ("Summary_declaration", None),
        ("Summary_declaration_sl", None),
        ("Previous_document_reference", None),
        ("Previous_warehouse_code", None),
    )
    if goods.licence:
        _leaf(element, "Licence_number", f"MK-LIC-{declaration_date.year}/{1000 + item.number:04d}")
        _leaf(element, "Amount_deducted_from_licence", _money(item.invoice_eur))
        _leaf(
            element,
            "Quantity_deducted_from_licence",
            _money(Decimal(item.packages * goods.supp_per_package)),
        )
    else:
        _leaf(element, "Licence_number", None)
        _leaf(element, "Amount_deducted_from_licence", None)
        _leaf(element, "Quantity_deducted_from_licence", None)
    _leaf(element, "Free_text_1", "")
    _leaf(element, "Free_text_2", None)

    _taxation(element, item)

    valuation = etree.SubElement(element, "Valuation_item")
    _block(
        valuation,
        "Weight_itm",
        ("Gross_weight_itm", _money(item.gross)),
        ("Net_weight_itm", _money(item.net)),
    )
    _leaf(valuation, "Total_cost_itm", _money(item.freight_mkd + item.insurance_mkd))
    _leaf(valuation, "Total_CIF_itm", _money(item.cif_mkd))
    _leaf(valuation, "Rate_of_adjustement", "1")
    _leaf(valuation, "Statistical_value", _money(item.cif_mkd))
    _leaf(valuation, "Alpha_coeficient_of_apportionment", None)
    _block(
        valuation,
        "Item_Invoice",
        ("Amount_national_currency", _money(item.invoice_mkd)),
        ("Amount_foreign_currency", _money(item.invoice_eur)),
    )
    _block(
        valuation,
        "item_external_freight",
        ("Amount_national_currency", _money(item.freight_mkd)),
        ("Amount_foreign_currency", "0.00"),
    )
    _block(
        valuation,
        "item_internal_freight",
        ("Amount_national_currency", "0.00"),
        ("Amount_foreign_currency", "0.00"),
    )
    _block(
        valuation,
        "item_insurance",
        ("Amount_national_currency", _money(item.insurance_mkd)),
        ("Amount_foreign_currency", "0.00"),
    )
    _block(
        valuation,
        "item_other_cost",
        ("Amount_national_currency", "0.00"),
        ("Amount_foreign_currency", "0.00"),
    )
    _block(
        valuation,
        "item_deduction",
        ("Amount_national_currency", "0.00"),
        ("Amount_foreign_currency", "0.00"),
    )
    _block(
        valuation,
        "Market_valuer",
        ("Currency_amount", None),
        ("Basis_description", None),
        ("Basis_amount", None),
    )


def build_sad(
    items: int = 3,
    *,
    reference: str = "REF-0001",
    office: str = "MK001005",
    type_of_declaration: str = "IM",
    hs_codes: list[str] | None = None,
    seed: int = 0,
) -> bytes:
    """Return a realistic ASYCUDA-style SAD export with ``items`` goods items as UTF-8 bytes."""
    if items < 0:
        raise ValueError("items must not be negative")
    rng = random.Random(seed)
    declaration_date = date(2024, 3, 1) + timedelta(days=rng.randint(0, 200))
    exporter_name, export_country, export_country_name = rng.choice(_EXPORTERS)
    consignee_code, consignee_name = rng.choice(_CONSIGNEES)
    freight_eur = Decimal(rng.randint(600, 2400) * 5)
    plan = _plan_items(rng, items, hs_codes, freight_eur)

    total_packages = sum(i.packages for i in plan)
    total_gross = sum((i.gross for i in plan), Decimal(0))
    invoice_eur = sum((i.invoice_eur for i in plan), Decimal(0))
    invoice_mkd = sum((i.invoice_mkd for i in plan), Decimal(0))
    freight_mkd = sum((i.freight_mkd for i in plan), Decimal(0))
    insurance_mkd = sum((i.insurance_mkd for i in plan), Decimal(0))
    cif_mkd = sum((i.cif_mkd for i in plan), Decimal(0))
    total_cd = sum((i.cd_amount for i in plan), Decimal(0))
    total_vat = sum((i.vat_amount for i in plan), Decimal(0))
    iso_date = declaration_date.isoformat()

    root = etree.Element("ASYCUDA")

    _block(
        root,
        "Export_release",
        ("Date_of_exit", None),
        ("Time_of_exit", None),
        ("Actual_office_of_exit_code", None),
        ("Actual_office_of_exit_name", None),
        ("Exit_reference", None),
        ("Comments", None),
    )
    notice = etree.SubElement(root, "Assessment_notice")
    for _ in range(2):
        _leaf(notice, "Item_tax_total", None)
    _block(root, "Global_taxes", ("Global_tax_item", None))

    prop = etree.SubElement(root, "Property")
    _leaf(prop, "Sad_flow", "I" if type_of_declaration == "IM" else "E")
    _block(
        prop,
        "Forms",
        ("Number_of_the_form", "1"),
        ("Total_number_of_forms", _count(max(1, (items + 2) // 3))),
    )
    _block(
        prop,
        "Nbers",
        ("Number_of_loading_lists", None),
        ("Total_number_of_items", _count(items)),
        ("Total_number_of_packages", _count(total_packages)),
    )
    _leaf(prop, "Place_of_declaration", "Skopje")
    _leaf(prop, "Date_of_declaration", iso_date)
    _leaf(prop, "Selected_page", "1")

    ident = etree.SubElement(root, "Identification")
    _block(
        ident,
        "Office_segment",
        ("Customs_clearance_office_code", office),
        ("Customs_Clearance_office_name", "Customs House Skopje - Terminal"),
    )
    _block(
        ident,
        "Type",
        ("Type_of_declaration", type_of_declaration),
        ("Declaration_gen_procedure_code", "4"),
        ("Type_of_transit_document", None),
    )
    _leaf(ident, "Manifest_reference_number", None)
    for name in ("Registration", "Assessment", "receipt"):
        _block(ident, name, ("Serial_number", None), ("Number", None), ("Date", None))

    traders = etree.SubElement(root, "Traders")
    _block(traders, "Exporter", ("Exporter_code", None), ("Exporter_name", exporter_name))
    _block(
        traders, "Consignee", ("Consignee_code", consignee_code), ("Consignee_name", consignee_name)
    )
    _block(traders, "Financial", ("Financial_code", consignee_code), ("Financial_name", None))

    declarant_code, declarant_name = _DECLARANT
    declarant = etree.SubElement(root, "Declarant")
    _leaf(declarant, "Declarant_code", declarant_code)
    _leaf(declarant, "Declarant_name", declarant_name)
    _leaf(declarant, "Declarant_representative", "Elena Petrovska")
    _block(declarant, "Reference", ("Number", reference))

    general = etree.SubElement(root, "General_information")
    country = etree.SubElement(general, "Country")
    _leaf(country, "Country_first_destination", export_country)
    _leaf(country, "Trading_country", export_country)
    _block(
        country,
        "Export",
        ("Export_country_code", export_country),
        ("Export_country_name", export_country_name),
        ("Export_country_region", None),
    )
    _block(
        country,
        "Destination",
        ("Destination_country_code", "MK"),
        ("Destination_country_name", "North Macedonia"),
        ("Destination_country_region", None),
    )
    origins = {i.goods.origin for i in plan}
    _leaf(country, "Country_of_origin_name", "Many" if len(origins) > 1 else export_country_name)
    _leaf(general, "Value_details", SELF_CLOSING)
    _leaf(general, "CAP", None)
    _leaf(general, "Additional_information", None)
    _leaf(general, "Comments_free_text", "")

    transport = etree.SubElement(root, "Transport")
    means = etree.SubElement(transport, "Means_of_transport")
    _block(
        means,
        "Departure_arrival_information",
        ("Identity", "SK 4821 AB / SK 112 CD"),
        ("Nationality", "MK"),
    )
    _block(
        means,
        "Border_information",
        ("Identity", "SK 4821 AB"),
        ("Nationality", "MK"),
        ("Mode", "3"),
    )
    _leaf(means, "Inland_mode_of_transport", None)
    _leaf(transport, "Container_flag", "false")
    _block(transport, "Delivery_terms", ("Code", "FCA"), ("Place", None), ("Situation", None))
    _block(transport, "Border_office", ("Code", "MK001021"), ("Name", "Tabanovce"))
    _block(transport, "Place_of_loading", ("Code", None), ("Name", None), ("Country", None))
    _leaf(transport, "Location_of_goods", "MK001005-T1")

    financial = etree.SubElement(root, "Financial")
    _block(financial, "Financial_transaction", ("code1", "1"), ("code2", "1"))
    _block(financial, "Bank", ("Code", None), ("Name", None), ("Branch", None), ("Reference", None))
    _block(financial, "Terms", ("Code", None), ("Description", None))
    _leaf(financial, "Total_invoice", _money(invoice_eur))
    _leaf(financial, "Deffered_payment_reference", None)
    _leaf(financial, "Mode_of_payment", "CASH")
    _block(
        financial,
        "Amounts",
        ("Total_manual_taxes", "0.00+0.00"),
        ("Global_taxes", "0.00"),
        ("Totals_taxes", _money(total_cd + total_vat)),
    )
    guarantee = etree.SubElement(financial, "Guarantee")
    _leaf(guarantee, "Name", None)
    _leaf(guarantee, "Amount", "0.00")
    _leaf(guarantee, "Date", None)
    _block(guarantee, "Excluded_country", ("Code", None), ("Name", None))

    _block(root, "Warehouse", ("Identification", None), ("Delay", SELF_CLOSING))
    transit = etree.SubElement(root, "Transit")
    _block(transit, "Principal", ("Code", None), ("Name", None))
    _block(transit, "Signature", ("Place", None), ("Date", None))
    _block(transit, "Destination", ("Office", None), ("Country", None))
    _block(transit, "Seals", ("Number", None), ("Identity", None))
    _leaf(transit, "Result_of_control", None)
    _leaf(transit, "Time_limit", None)
    _leaf(transit, "Officer_name", None)

    valuation = etree.SubElement(root, "Valuation")
    _leaf(valuation, "Calculation_working_mode", "2")
    _block(valuation, "Weight", ("Gross_weight", _money(total_gross)))
    _leaf(valuation, "Total_cost", _money(freight_mkd + insurance_mkd))
    _leaf(valuation, "Total_CIF", _money(cif_mkd))
    _block(
        valuation,
        "Gs_Invoice",
        ("Amount_national_currency", _money(invoice_mkd)),
        ("Amount_foreign_currency", _money(invoice_eur)),
    )
    _block(
        valuation,
        "Gs_external_freight",
        ("Amount_national_currency", _money(freight_mkd)),
        ("Amount_foreign_currency", _money(freight_eur)),
    )
    _block(
        valuation,
        "Gs_internal_freight",
        ("Amount_national_currency", "0.00"),
        ("Amount_foreign_currency", "0.00"),
    )
    _block(
        valuation,
        "Gs_insurance",
        ("Amount_national_currency", _money(insurance_mkd)),
        ("Amount_foreign_currency", "0.00"),
    )
    _block(
        valuation,
        "Gs_other_cost",
        ("Amount_national_currency", "0.00"),
        ("Amount_foreign_currency", "0.00"),
    )
    _block(
        valuation,
        "Gs_deduction",
        ("Amount_national_currency", "0.00"),
        ("Amount_foreign_currency", "0.00"),
    )
    _block(
        valuation,
        "Total",
        ("Total_invoice", _money(invoice_eur)),
        ("Total_weight", _money(total_gross)),
    )

    for item in plan:
        _item(root, item, declaration_date)

    _block(
        root,
        "SW_scans_general_segment",
        ("Document_reference_date", iso_date),
        ("Document_reference", f"INV-{declaration_date.year}-{rng.randint(1000, 9999)}"),
        ("Document_type_code", "N380"),
        ("Document_type_name", "Commercial invoice"),
        ("Document_id", str(rng.randint(100000, 999999))),
    )
    for item in plan:
        if item.goods.certificate is None:
            continue
        code, name = item.goods.certificate
        _block(
            root,
            "SW_scans_items",
            ("Item_number", str(item.number)),
            ("Document_reference_date", iso_date),
            (
                "Document_reference",
                f"{item.goods.origin}-PC-{declaration_date.year}-{rng.randint(10000, 99999)}",
            ),
            ("Document_type_code", code),
            ("Document_type_name", name),
            ("Document_id", str(rng.randint(100000, 999999))),
        )

    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Write a sample export to standard output."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=3)
    parser.add_argument("--reference", default="REF-0001")
    parser.add_argument("--office", default="MK001005")
    parser.add_argument("--type-of-declaration", default="IM")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    sys.stdout.buffer.write(
        build_sad(
            args.items,
            reference=args.reference,
            office=args.office,
            type_of_declaration=args.type_of_declaration,
            seed=args.seed,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
