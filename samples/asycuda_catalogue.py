"""Goods catalogue, parties and goods items of the synthetic ASYCUDA SAD exports.

The data and value conventions behind ``samples.asycuda.build_sad``:

* the invented reference data, read from ``samples/catalogues/`` on first use: ten kinds of
  goods with their HS code, origin, packaging, price, weight, duty and VAT rates, preference,
  supplementary unit, licence and certificate (``asycuda_goods.toml``); the exporters,
  consignees and the declarant (``asycuda_parties.toml``);
* how values are written in a broker export — amounts with thousands separators and two
  decimals, empty values as ``<null/>``, ``<X></X>`` or ``<X/>``;
* (the goods items drawn from it are built in ``asycuda_items``).

The underscored names are shared with ``asycuda`` and ``asycuda_items`` only; they are no
public API. Only the standard library and lxml are used.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from lxml import etree

from samples import catalogues

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


@functools.cache
def _catalogue() -> tuple[_Goods, ...]:
    """The kinds of goods of ``catalogues/asycuda_goods.toml``, in file order (read once)."""
    return tuple(_goods(row) for row in catalogues.read("asycuda_goods")["goods"])


def _goods(row: dict[str, Any]) -> _Goods:
    unit, certificate = row.get("supplementary_unit"), row.get("certificate")
    return _Goods(
        row["hs"], row["description"], row["commercial"], row["origin"],
        row["package"]["code"], row["package"]["name"],
        Decimal(row["unit_price_eur"]), Decimal(row["kg_per_package"]),
        Decimal(row["cd_rate"]), Decimal(row["vat_rate"]),
        preference=row.get("preference"),
        supp_unit=(unit["code"], unit["name"]) if unit else None,
        supp_per_package=unit["per_package"] if unit else 1,
        licence=row.get("licence", False),
        certificate=(certificate["type_code"], certificate["name"]) if certificate else None,
    )


@functools.cache
def _exporters() -> tuple[tuple[str, str, str], ...]:
    """(name, country code, country name) of each exporter, in file order."""
    return tuple((e["name"], e["country"], e["country_name"])
                 for e in catalogues.read("asycuda_parties")["exporter"])


@functools.cache
def _consignees() -> tuple[tuple[str, str], ...]:
    """(code, name) of each consignee, in file order."""
    return tuple((c["code"], c["name"]) for c in catalogues.read("asycuda_parties")["consignee"])


@functools.cache
def _declarant() -> tuple[str, str]:
    """(code, name) of the declarant."""
    declarant = catalogues.read("asycuda_parties")["declarant"]
    return declarant["code"], declarant["name"]


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
