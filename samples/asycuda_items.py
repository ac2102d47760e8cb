"""The goods items of the synthetic ASYCUDA SAD exports.

Drawn from the catalogue (``asycuda_catalogue``): pseudo-random quantities and prices, freight
apportioned by weight, customs duty and VAT, and each item's ``Item`` segment with its eight
``Taxation_line`` and three ``Supplementary_unit`` slots. Shared with ``asycuda`` only.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from lxml import etree

from samples.asycuda_catalogue import (
    _CENT,
    EUR_MKD_RATE,
    SELF_CLOSING,
    _block,
    _catalogue,
    _count,
    _Goods,
    _leaf,
    _money,
)


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
    packages_text: str | None = None   # Number_of_packages as written, if not the count


def _plan_items(
    rng: random.Random, items: int, hs_codes: Sequence[str] | None, freight_eur: Decimal
) -> list[_ItemData]:
    goods_order = list(_catalogue())
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
        ("Number_of_packages", item.packages_text or _count(item.packages)),
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

