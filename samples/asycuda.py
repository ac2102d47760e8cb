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
  that need a certificate;
* on request, what other real exports do: fractional package counts
  (``packages=["0.06"]``), a declarant reference left ``<null/>``
  (``reference=None``) or no ``Reference`` element at all
  (``with_reference=False``);
* the importer's deferment account in ``Financial/Deffered_payment_reference``
  (``deferment=None`` writes it ``<null/>``: the duties are then paid before
  the clearance stand-in releases the goods, see ``config/standins/clearance.toml``).

All data is invented. Output is deterministic for a given set of arguments
(``seed`` drives the pseudo-random quantities and prices). Only the standard
library and lxml are used. The goods catalogue and the parties are data files
(``samples/catalogues/asycuda_goods.toml``, ``asycuda_parties.toml``, read on
first use by ``samples.asycuda_catalogue``), the goods items (``Item`` segments)
come from ``samples.asycuda_items``; this module writes the document around
them: header segments, totals and scanned documents.

The builder does not police its arguments: ``items`` outside 1..999, an
``hs_codes`` entry that is not 8 digits or a ``type_of_declaration`` that is
not two letters yield a document the schema rejects, which is handy for
negative tests.

Regenerate the 120-item fixture with::

    python -m samples.asycuda --items 120 \\
        > tests/fixtures/asycuda/sad_valid_120_items.xml
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sys
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation, localcontext

from lxml import etree

from samples.asycuda_catalogue import (
    EUR_MKD_RATE,
    SELF_CLOSING,
    _block,
    _consignees,
    _count,
    _declarant,
    _exporters,
    _leaf,
    _money,
)
from samples.asycuda_items import _item, _ItemData, _plan_items

__all__ = ["build_sad", "DEFERMENT_REFERENCE", "EUR_MKD_RATE"]

DEFERMENT_REFERENCE = "7100042"  # the importer's deferment account (invented)


def build_sad(
    items: int = 3,
    *,
    reference: str | None = "REF-0001",
    with_reference: bool = True,
    office: str = "MK001005",
    type_of_declaration: str = "IM",
    hs_codes: list[str] | None = None,
    packages: Sequence[str] | None = None,
    seed: int = 0,
    deferment: str | None = DEFERMENT_REFERENCE,
) -> bytes:
    """Return a realistic ASYCUDA-style SAD export with ``items`` goods items as UTF-8 bytes.

    ``reference=None`` writes the declarant's reference as ``<null/>``; ``with_reference=False``
    leaves the ``Reference`` element out. ``packages`` gives each item's
    ``Number_of_packages`` text (cycled, written as is: ``"0.06"``, ``"-3"``, 30 digits …);
    ``Total_number_of_packages`` is then their exact sum. Everything else is unchanged.
    """
    if items < 0:
        raise ValueError("items must not be negative")
    rng = random.Random(seed)
    declaration_date = date(2024, 3, 1) + timedelta(days=rng.randint(0, 200))
    exporter_name, export_country, export_country_name = rng.choice(_exporters())
    consignee_code, consignee_name = rng.choice(_consignees())
    freight_eur = Decimal(rng.randint(600, 2400) * 5)
    plan = _plan_items(rng, items, hs_codes, freight_eur)
    if packages:
        plan = [dataclasses.replace(item, packages_text=packages[index % len(packages)])
                for index, item in enumerate(plan)]

    total_packages_text = _total_packages(plan)
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
        ("Total_number_of_packages", total_packages_text),
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

    declarant_code, declarant_name = _declarant()
    declarant = etree.SubElement(root, "Declarant")
    _leaf(declarant, "Declarant_code", declarant_code)
    _leaf(declarant, "Declarant_name", declarant_name)
    _leaf(declarant, "Declarant_representative", "Elena Petrovska")
    if with_reference:
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
    _leaf(financial, "Deffered_payment_reference", deferment)
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


def _total_packages(plan: Sequence[_ItemData]) -> str:
    """The header's package total: the count, or the exact sum of the written counts.

    A written count that is not a number (``"ten"``) leaves the total at the planned count.
    """
    planned = _count(sum(item.packages for item in plan))
    if not any(item.packages_text for item in plan):
        return planned
    texts = [(item.packages_text or str(item.packages)).replace(",", "") for item in plan]
    with localcontext() as exact:
        exact.prec = max(len(text) for text in texts) + 10
        try:
            return f"{sum((Decimal(text) for text in texts), Decimal(0)):,}"
        except InvalidOperation:
            return planned


def main(argv: Sequence[str] | None = None) -> int:
    """Write a sample export to standard output."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=3)
    parser.add_argument("--reference", default="REF-0001")
    parser.add_argument("--office", default="MK001005")
    parser.add_argument("--type-of-declaration", default="IM")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--null-reference", action="store_true",
                        help="write the declarant's reference as <null/>")
    parser.add_argument("--no-reference", action="store_true",
                        help="leave the declarant's Reference element out")
    parser.add_argument("--packages", nargs="+", metavar="TEXT",
                        help="Number_of_packages of each item, e.g. 0.06 (cycled)")
    parser.add_argument("--deferment", default=DEFERMENT_REFERENCE,
                        help="the deferment account (Deffered_payment_reference); '' for none")
    args = parser.parse_args(argv)
    sys.stdout.buffer.write(
        build_sad(
            args.items,
            reference=None if args.null_reference else args.reference,
            with_reference=not args.no_reference,
            office=args.office,
            type_of_declaration=args.type_of_declaration,
            packages=args.packages,
            seed=args.seed,
            deferment=args.deferment or None,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
