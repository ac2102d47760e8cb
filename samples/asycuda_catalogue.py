"""Goods catalogue, parties and goods items of the synthetic ASYCUDA SAD exports.

The data and value conventions behind ``samples.asycuda.build_sad``:

* the invented reference data — ten kinds of goods with their HS code, origin, packaging,
  price, weight, duty and VAT rates, preference, supplementary unit, licence and certificate;
  the exporters, consignees and the declarant;
* how values are written in a broker export — amounts with thousands separators and two
  decimals, empty values as ``<null/>``, ``<X></X>`` or ``<X/>``;
* (the goods items drawn from it are built in ``asycuda_items``).

The underscored names are shared with ``asycuda_samples`` only; they are no public API. Only
the standard library and lxml are used.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from lxml import etree

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
