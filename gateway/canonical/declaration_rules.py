"""Business rules on canonical declarations: the ones every dialect meets, and named ones.

``DECLARATION_RULES`` hold for any declaration, whatever format it came in: an original
needs goods items, sequence numbers are unique, masses are positive and quantities and
amounts are not negative (the sanity rules). ``NAMED_DECLARATION_RULES`` are rules of one
format or another, chosen per message type by name in ``config/message_types.toml``
(``rules = ["lrn-required"]``): WCO requires the trader's reference (LRN) on an original
declaration, ASYCUDA does not (a SAD is known by office, year and registration once
registered). Each rule returns its problems, located by WCO pointer, with the value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from gateway.canonical.declaration import (
    Amount,
    Declaration,
    GoodsItem,
    Measure,
    document_pointer,
    header_pointer,
    item_part_pointer,
    item_pointer,
    valuation_pointer,
)
from gateway.errors import Problem

DeclarationRule = Callable[[Declaration], list[Problem]]

MASS = "GW-RULE-MASS"
NEGATIVE = "GW-RULE-NEGATIVE"

# (field, what it is) per container; masses must be > 0, the rest >= 0
_HEADER_QUANTITIES = (("goods_item_count", "the number of goods items"),
                      ("total_packages", "the total number of packages"))
_VALUATION_AMOUNTS = (("invoice_amount", "the invoice amount"), ("freight", "the freight"),
                      ("exchange_rate", "the exchange rate"))
_ITEM_MASSES = (("gross_mass", "the gross mass"), ("net_mass", "the net mass"))
_ITEM_AMOUNTS = (("supplementary_quantity", "the supplementary quantity"),
                 ("customs_value", "the customs value"),
                 ("statistical_value", "the statistical value"))
_DUTY_AMOUNTS = (("rate", "the duty rate"), ("base_amount", "the tax base"),
                 ("base_quantity", "the tax base quantity"),
                 ("assessed", "the assessed duty"), ("payable", "the duty payable"))


def items_present(declaration: Declaration) -> list[Problem]:
    if declaration.header.function_code == "9" and not declaration.goods_items:
        return [Problem("GW-RULE-NO-ITEMS",
                        "an original declaration (function code 9) needs goods items",
                        pointer="42A/67A/68A")]
    return []


def unique_item_sequence(declaration: Declaration) -> list[Problem]:
    problems, seen = [], set()
    for item in declaration.goods_items:
        if item.sequence in seen:
            problems.append(Problem("GW-RULE-DUPLICATE-ITEM",
                                    f"goods item sequence number {item.sequence} is used twice",
                                    pointer=item_pointer(item.sequence, "sequence"),
                                    value=str(item.sequence)))
        seen.add(item.sequence)
    return problems


def positive_masses(declaration: Declaration) -> list[Problem]:
    """Gross and net masses, of the declaration and of each item, are greater than zero."""
    masses: list[_Located] = [(_number(declaration.header.total_gross_mass),
                               ("header", "total_gross_mass"), "the total gross mass")]
    masses += [(getattr(item, name), ("item", item.sequence, name), what)
               for item in declaration.goods_items for name, what in _ITEM_MASSES]
    return [_problem(MASS, "must be greater than zero", found)
            for found in masses if found[0] is not None and found[0] <= 0]


def no_negative_quantities(declaration: Declaration) -> list[Problem]:
    """Counts, quantities, amounts and rates are never below zero."""
    return [_problem(NEGATIVE, "must not be negative", found)
            for found in _quantities(declaration) if found[0] is not None and found[0] < 0]


def lrn_required(declaration: Declaration) -> list[Problem]:
    """An original declaration states the trader's reference (WCO FunctionalReferenceID)."""
    if declaration.header.function_code == "9" and not declaration.header.lrn:
        return [Problem("GW-RULE-NO-LRN",
                        "an original declaration needs the trader's reference (LRN)",
                        pointer=header_pointer("lrn"))]
    return []


DECLARATION_RULES: tuple[DeclarationRule, ...] = (
    items_present, unique_item_sequence, positive_masses, no_negative_quantities)

NAMED_DECLARATION_RULES: dict[str, DeclarationRule] = {
    "lrn-required": lrn_required,
}


# (value, where it sits, what it is); the pointer is built only for an offending value
_Located = tuple[Decimal | int | None, tuple[Any, ...], str]


def _quantities(declaration: Declaration) -> Iterator[_Located]:
    header = declaration.header
    for name, what in _HEADER_QUANTITIES:
        yield getattr(header, name), ("header", name), what
    if declaration.valuation is not None:
        for name, what in _VALUATION_AMOUNTS:
            yield _number(getattr(declaration.valuation, name)), ("valuation", name), what
    for index, document in enumerate(declaration.documents, start=1):
        yield document.quantity, ("document", index, "quantity"), "the quantity of a document"
    for item in declaration.goods_items:
        yield from _item_quantities(item)


def _item_quantities(item: GoodsItem) -> Iterator[_Located]:
    n = item.sequence
    for name, what in _ITEM_AMOUNTS:
        yield _number(getattr(item, name)), ("item", n, name), what
    for index, package in enumerate(item.packages, start=1):
        yield package.quantity, ("part", n, "packages", index, "quantity"), \
            "the number of packages"
    for index, duty in enumerate(item.duties, start=1):
        for name, what in _DUTY_AMOUNTS:
            yield getattr(duty, name), ("part", n, "duties", index, name), what
    for index, document in enumerate(item.documents, start=1):
        yield document.quantity, ("part", n, "documents", index, "quantity"), \
            "the quantity of a document"


def _problem(code: str, rule: str, found: _Located) -> Problem:
    value, (container, *where), what = found
    assert value is not None
    if container == "header":
        pointer = header_pointer(*where)
    elif container == "valuation":
        pointer = valuation_pointer(*where)
    elif container == "document":
        pointer = document_pointer(*where)
    else:
        pointer = item_pointer(*where) if container == "item" else item_part_pointer(*where)
        what = f"{what} of goods item {where[0]}"
    return Problem(code, f"{what} {rule}", pointer=pointer, value=_shown(value))


def _number(value: Amount | Measure | Decimal | None) -> Decimal | None:
    return value.value if isinstance(value, Amount | Measure) else value


def _shown(value: Decimal | int) -> str:
    return format(value, "f") if isinstance(value, Decimal) else str(value)
