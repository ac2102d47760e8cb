"""Business rules on canonical licences (SPS certificates and licence documents alike).

What a licence must state for the gateway to keep it and hand it on — the rules its schema
cannot say. Each rule returns its problems, located in the document the licence came from
(``/Licence/GoodsLine[2]/Quantity``, ``/SPSCertificate/…/IncludedSPSTradeLineItem[1]/…``), with
the value:

* ``validity_ordered`` — the validity starts on or before it ends (``GW-RULE-LICENCE-VALIDITY``);
* ``quantities_positive`` — a line's quantity is greater than zero (``GW-RULE-LICENCE-QUANTITY``);
* ``units_stated`` — a line with a quantity states its unit (``GW-RULE-LICENCE-UNIT``); that the
  unit is a known UN/ECE Recommendation 20 code the mapping checks already, against
  ``config/codelists/unece_rec20_units.toml`` (``GW-MAP-UNIT``), where it can point at the
  ``unitCode`` itself;
* ``unique_lines`` — line numbers are not used twice (``GW-RULE-LICENCE-DUPLICATE-LINE``);
* ``status_consistent`` — ``issued`` is version 1 and ``amended`` a later one; a licence
  document's revocation states when (``Revocation``), and only a revocation does; issued and
  amended licences state their goods lines (``GW-RULE-LICENCE-STATUS``).
"""

from __future__ import annotations

from collections.abc import Callable

from gateway.canonical.licence import (
    AMENDED,
    ISSUED,
    LICENCE_DOCUMENT,
    REVOKED,
    Licence,
    LicenceLine,
    line_pointer,
)
from gateway.errors import Problem

LicenceRule = Callable[[Licence], list[Problem]]

#: The element of an SPS trade line item that each kind of quantity comes from.
_SPS_QUANTITY_ELEMENTS = {"net-weight": "NetWeightMeasure", "net-volume": "NetVolumeMeasure",
                          "gross-weight": "GrossWeightMeasure",
                          "gross-volume": "GrossVolumeMeasure"}


def _quantity_pointer(licence: Licence, index: int, line: LicenceLine) -> str:
    if licence.source == LICENCE_DOCUMENT:
        return line_pointer(licence, index, "Quantity")
    return line_pointer(licence, index, _SPS_QUANTITY_ELEMENTS.get(line.quantity_kind or "",
                                                                   "NetWeightMeasure"))


def _pointer(licence: Licence, licence_path: str) -> str | None:
    return f"/Licence/{licence_path}" if licence.source == LICENCE_DOCUMENT else None


def validity_ordered(licence: Licence) -> list[Problem]:
    """``valid_from`` is on or before ``valid_to`` (ISO dates compare as text)."""
    if licence.valid_from and licence.valid_to and licence.valid_from[:10] > licence.valid_to[:10]:
        return [Problem("GW-RULE-LICENCE-VALIDITY",
                        f"the licence ends ({licence.valid_to}) before it starts "
                        f"({licence.valid_from})", pointer=_pointer(licence, "Validity/To"),
                        value=licence.valid_to)]
    return []


def quantities_positive(licence: Licence) -> list[Problem]:
    """Every stated quantity is greater than zero: nothing can be drawn against zero."""
    return [Problem("GW-RULE-LICENCE-QUANTITY",
                    f"the quantity of goods line {line.line} must be greater than zero",
                    pointer=_quantity_pointer(licence, index, line),
                    value=format(line.quantity, "f"))
            for index, line in enumerate(licence.lines, 1)
            if line.quantity is not None and line.quantity <= 0]


def units_stated(licence: Licence) -> list[Problem]:
    """A quantity without a unit cannot be compared with what a declaration draws."""
    return [Problem("GW-RULE-LICENCE-UNIT",
                    f"the quantity of goods line {line.line} states no unit (unitCode)",
                    pointer=_quantity_pointer(licence, index, line),
                    value=format(line.quantity, "f"))
            for index, line in enumerate(licence.lines, 1)
            if line.quantity is not None and not line.unit]


def unique_lines(licence: Licence) -> list[Problem]:
    """Each line number names one line (declarations draw against a line by its number)."""
    seen: set[int] = set()
    problems = []
    for index, line in enumerate(licence.lines, 1):
        if line.line in seen:
            leaf = "LineNumber" if licence.source == LICENCE_DOCUMENT else "SequenceNumeric"
            problems.append(Problem("GW-RULE-LICENCE-DUPLICATE-LINE",
                                    f"goods line number {line.line} is used twice",
                                    pointer=line_pointer(licence, index, leaf),
                                    value=str(line.line)))
        seen.add(line.line)
    return problems


def status_consistent(licence: Licence) -> list[Problem]:
    """Version, status, revocation and goods lines tell one story."""
    code = "GW-RULE-LICENCE-STATUS"
    problems = []
    if licence.status == ISSUED and licence.version != 1:
        problems.append(Problem(code, f"an issued licence is version 1, not "
                                      f"{licence.version}: a later version is amended or revoked",
                                pointer=_pointer(licence, "Version"), value=str(licence.version)))
    if licence.status == AMENDED and licence.version < 2:
        problems.append(Problem(code, "an amendment is version 2 or later (version 1 is the "
                                      "licence as issued)",
                                pointer=_pointer(licence, "Version"), value=str(licence.version)))
    if licence.source == LICENCE_DOCUMENT and (licence.status == REVOKED) != bool(
            licence.revoked_at):
        problems.append(Problem(code, "a revoked licence states its Revocation (RevokedAt), and "
                                      "only a revoked one does",
                                pointer=_pointer(licence, "Revocation" if licence.revoked_at
                                                 else "Status"), value=licence.status))
    if licence.status in (ISSUED, AMENDED) and not licence.lines:
        problems.append(Problem(code, f"an {licence.status} licence states its goods lines",
                                pointer=_pointer(licence, "GoodsLine") or
                                line_pointer(licence, 1), value=licence.status))
    return problems


LICENCE_RULES: tuple[LicenceRule, ...] = (
    validity_ordered, quantities_positive, units_stated, unique_lines, status_consistent)
