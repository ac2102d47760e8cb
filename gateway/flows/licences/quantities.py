"""Quantities drawn against a licence line: exact decimals in UN/ECE Recommendation 20 units.

A goods item declares its net mass in kilograms (WCO data element 128); a licence line states
its quantity in its own unit (tonnes for the steel licence, kilograms for a phytosanitary
certificate). ``convert`` turns a quantity into another unit when both measure the same thing
(mass units into each other, exactly: ``Decimal`` never rounds a factor of ten), else says it
cannot (``None``): a unit mismatch, a refusal reason of its own. The same unit always converts,
whatever it measures.
"""

from __future__ import annotations

from decimal import Decimal

#: Mass units of Rec 20, in kilograms.
MASS = {"GRM": Decimal("0.001"), "KGM": Decimal(1), "DTN": Decimal(100), "TNE": Decimal(1000)}
#: Volume units of Rec 20, in litres.
VOLUME = {"MLT": Decimal("0.001"), "LTR": Decimal(1), "HLT": Decimal(100),
          "MTQ": Decimal(1000)}
_DIMENSIONS = (MASS, VOLUME)


def convert(quantity: Decimal, unit: str, to_unit: str) -> Decimal | None:
    """``quantity`` of ``unit`` in ``to_unit``; ``None`` if the units measure different things."""
    if unit == to_unit:
        return quantity
    for dimension in _DIMENSIONS:
        if unit in dimension and to_unit in dimension:
            return _plain(quantity * dimension[unit] / dimension[to_unit])
    return None


def _plain(value: Decimal) -> Decimal:
    """``1.000E+3`` -> ``1000``; ``0.5000`` -> ``0.5`` (no exponent, no trailing zeros)."""
    normal = value.normalize()
    exponent = normal.as_tuple().exponent
    return normal.quantize(Decimal(1)) if isinstance(exponent, int) and exponent > 0 else normal
