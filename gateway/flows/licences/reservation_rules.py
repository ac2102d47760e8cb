"""Whether a goods item may draw its quantity on a licence: the gateway's own decision.

Taken under the licence's row lock (``LicenceStore.hold``), against the licence as the gateway
mirrors it and what the reservations already made draw on each line (``reservations.drawn``),
so that two declarations racing for the last tonnes cannot both get them. The agency decides
again on its own state (its stand-in uses these same rules) and may still refuse. In order:

1. the licence is known (``unknown-licence``), not revoked (``revoked``), valid on the day
   (``not-yet-valid``, ``expired``: ``valid_to`` is the last valid day);
2. the importer holds it (``holder-mismatch``: the licence names a holder and the declaration's
   importer is another, or unnamed) and it is for this country (``destination-mismatch``);
3. a line of it covers the item's commodity code (``code-mismatch``; a line's HS code and the
   item's match when one is a prefix of the other — a certificate states 6 digits, a
   declaration 8), in a unit the declared quantity converts to (``unit-mismatch``), with
   enough left (``insufficient-quantity``): the first such line, in line order. A line that
   states no quantity limits nothing; a ``line`` asked for names the only line considered
   (``line-mismatch`` if the licence has no such line).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from gateway.canonical.licence import REVOKED as LICENCE_REVOKED
from gateway.flows.licences.quantities import convert
from gateway.flows.licences.reservations import (
    CODE_MISMATCH,
    DESTINATION_MISMATCH,
    EXPIRED,
    HOLDER_MISMATCH,
    INSUFFICIENT,
    LINE_MISMATCH,
    NOT_YET_VALID,
    REVOKED,
    UNIT_MISMATCH,
    UNKNOWN_LICENCE,
)
from gateway.flows.licences.store import LicenceLineState, LicenceState

ZERO = Decimal(0)


@dataclass(frozen=True)
class Draw:
    """What is asked of a licence: a quantity for goods of a commodity code, for a holder."""

    quantity: Decimal
    unit: str
    hs_code: str | None
    holder_id: str | None
    destination_country: str | None
    line: int | None = None              # a line asked for (the agency's call names one)


@dataclass(frozen=True)
class Decision:
    """Reservable on ``line`` for ``quantity`` (in the line's unit), or refused: ``reason``."""

    reason: str | None
    text: str
    line: int | None = None
    quantity: Decimal | None = None      # in the line's unit
    unit: str | None = None
    available: Decimal | None = None     # on the line before this draw (None: unlimited)

    @property
    def reservable(self) -> bool:
        return self.reason is None


def decide(licence: LicenceState | None, draw: Draw, drawn: dict[int, Decimal], *,
           today: str, country: str) -> Decision:
    """The decision on ``draw`` against ``licence`` (``drawn``: per line, in its unit)."""
    refusal = _standing(licence, draw, today=today, country=country)
    if refusal is not None:
        return refusal
    assert licence is not None
    lines = _lines(licence, draw)
    if isinstance(lines, Decision):
        return lines
    best: Decision | None = None
    for line in lines:
        quantity = convert(draw.quantity, draw.unit, line.unit or draw.unit)
        if quantity is None:
            continue
        if line.quantity is None:
            return Decision(None, f"line {line.line} states no quantity: nothing to count",
                            line.line, quantity, line.unit or draw.unit)
        available = line.quantity - drawn.get(line.line, ZERO)
        if quantity <= available:
            return Decision(None, f"{quantity} {line.unit} of {available} {line.unit} left on "
                                  f"line {line.line}", line.line, quantity, line.unit, available)
        if best is None or available > (best.available or ZERO):
            best = Decision(INSUFFICIENT, f"{quantity} {line.unit} asked, {max(available, ZERO)}"
                                          f" {line.unit} left on line {line.line} of licence "
                                          f"{licence.number}", line.line, quantity, line.unit,
                            max(available, ZERO))
    if best is not None:
        return best
    units = ", ".join(sorted({line.unit or "?" for line in lines}))
    return Decision(UNIT_MISMATCH, f"{draw.unit} does not convert to the unit of the lines "
                                   f"covering {draw.hs_code} ({units})")


def _standing(licence: LicenceState | None, draw: Draw, *, today: str, country: str
              ) -> Decision | None:
    """A refusal for the licence as a whole (rules 1 and 2), or ``None``."""
    if licence is None:
        return Decision(UNKNOWN_LICENCE, "the gateway has received no such licence from this "
                                         "agency")
    if licence.status == LICENCE_REVOKED:
        return Decision(REVOKED, f"licence {licence.number} was revoked"
                                 + (f" on {licence.revoked_at[:10]}" if licence.revoked_at
                                    else ""))
    if licence.valid_from and today < licence.valid_from[:10]:
        return Decision(NOT_YET_VALID, f"licence {licence.number} is valid from "
                                       f"{licence.valid_from[:10]}, not on {today}")
    if licence.valid_to and today > licence.valid_to[:10]:
        return Decision(EXPIRED, f"licence {licence.number} expired on {licence.valid_to[:10]}")
    if licence.holder_id and draw.holder_id != licence.holder_id:
        return Decision(HOLDER_MISMATCH, f"licence {licence.number} is held by "
                                         f"{licence.holder_id}, the importer is "
                                         f"{draw.holder_id or 'not identified'}")
    destination = draw.destination_country or country
    if licence.destination_country and licence.destination_country != destination:
        return Decision(DESTINATION_MISMATCH, f"licence {licence.number} is for "
                                              f"{licence.destination_country}, the goods go to "
                                              f"{destination}")
    return None


def _lines(licence: LicenceState, draw: Draw) -> list[LicenceLineState] | Decision:
    """The lines that may cover ``draw``, in line order, or the refusal (rule 3)."""
    lines = list(licence.lines)
    if draw.line is not None:
        lines = [line for line in lines if line.line == draw.line]
        if not lines:
            return Decision(LINE_MISMATCH, f"licence {licence.number} has no line {draw.line}")
    covering = [line for line in lines if covers(line.hs_code, draw.hs_code)]
    if not covering:
        codes = ", ".join(line.hs_code or "-" for line in lines) or "none"
        return Decision(CODE_MISMATCH, f"no line of licence {licence.number} covers commodity "
                                       f"code {draw.hs_code} (its lines: {codes})")
    return covering


def covers(line_code: str | None, item_code: str | None) -> bool:
    """Whether a line's HS code covers an item's commodity code (one a prefix of the other);
    a line without a code covers everything."""
    if not line_code:
        return True
    if not item_code:
        return False
    return item_code.startswith(line_code) or line_code.startswith(item_code)
