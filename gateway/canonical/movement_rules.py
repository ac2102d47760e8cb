"""Rules of the NCTS P5 message structures that an XSD cannot express, on movement messages.

Each rule is stated by the DDNTA Appendix Q2 (its id in the problem) and checked on the
canonical ``MovementMessage``, whatever schema pack validated the document. A problem is a
``MovementProblem``: a ``Problem`` (gateway code, XPath pointer into the P5 message such as
``/CC015C/Guarantee[2]/GuaranteeReference/GRN``, the offending value, a sentence) that also
carries what an NCTS functional NACK needs — the CL180 ``error_code`` and the ``rule`` for
``errorReason`` — and says what goes in ``errorPointer`` (``error_pointer``: the XPath, or the
MRN itself for code 93 as the DDNTA asks).

Checked here (every movement message; a rule looks only at data the message has):

* **R0028** — an MRN's 18th character is the ISO 6346 check digit of the first 17
  (``gateway.identifiers``); error code 93 (invalid MRN). Not checked on NACKs (CC906C, CC917C,
  CD906C, CD917C), which echo the reference of the message they refuse, valid or not.
* **R0318** — a GRN has 24 characters when its guarantee is of type ``4``, else 17, and the
  GRN structure (``[0-9]{2}[A-Z]{2}[A-Z0-9]{12}[0-9]([A-Z][0-9]{6})?``); error code 14. The
  schemas check the pattern; which length goes with which guarantee type they cannot.
* **R0987** — sequence numbers of a data group are 1, 2, 3 … (guarantees, guarantee
  references, offices of transit, house consignments, packaging, departure transport means,
  authorisations, incidents); **R0988** — goods item numbers within a house consignment are
  1, 2, 3 …; **R0007** — declaration goods item numbers are unique throughout the declaration
  and numbered 1, 2, 3 …; error code 14.

Not checked here: **R0008** (``correlationIdentifier`` equals the request's
``messageIdentification``) is for the answering side, which sets it (``ANSWERING_SIDE``);
sequence against the movement's state (92), unknown MRN (90) and duplicate message ids (26)
need the journal and the movement state, not the message alone. The cap of 999 goods items in
a house consignment is the schemas' (``ConsignmentItem`` ``maxOccurs="999"`` in ours and the
official pack), so no rule repeats it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from gateway.canonical.movement import (
    NACKS,
    Arrival,
    Consignment,
    Declaration,
    GoodsItem,
    Guarantee,
    GuaranteeReference,
    HouseConsignment,
    MovementMessage,
    Offices,
    pointer_of,
)
from gateway.errors import Problem, trim_value
from gateway.identifiers import mrn_check_digit

GRN_PATTERN = re.compile(r"[0-9]{2}[A-Z]{2}[A-Z0-9]{12}[0-9]([A-Z][0-9]{6})?")
MRN_SHAPE = re.compile(r"[0-9]{2}[A-Z]{2}[A-Z0-9]{13}[0-9]")
#: Rules the answering side applies (it writes the field), listed so nobody checks them here.
ANSWERING_SIDE = {"R0008": "correlationIdentifier = the request's messageIdentification"}


@dataclass(frozen=True, slots=True)
class MovementProblem(Problem):
    """A broken P5 rule: a ``Problem`` plus what a CC906C/CD906C ``FunctionalError`` needs."""

    error_code: str = "14"          # CL180: 12 code list, 13/15 condition, 14 rule, 93 MRN …
    rule: str = "N/A"               # errorReason: Rxxxx, Cxxxx, CLxxx or N/A

    @property
    def error_pointer(self) -> str:
        """``errorPointer``: the MRN itself for 90/93, the root for 92, else the XPath."""
        if self.error_code in ("90", "93") and self.value:
            return self.value
        if self.error_code == "92" and self.pointer:
            return "/" + self.pointer.strip("/").split("/")[0]
        return self.pointer or ""


Rule = Callable[[MovementMessage], list[Problem]]


def mrn_check_digit_valid(message: MovementMessage) -> list[Problem]:
    """R0028: the MRN's check digit (not checked on NACKs, which echo what they refuse)."""
    mrn = message.mrn
    if not mrn or message.is_nack or not MRN_SHAPE.fullmatch(mrn):
        return []
    expected = mrn_check_digit(mrn[:17])
    if int(mrn[17]) == expected:
        return []
    where = "Header/MRN" if message.message_type in NACKS else "TransitOperation/MRN"
    return [MovementProblem(
        "GW-RULE-NCTS-MRN",
        f"the MRN's check digit is {mrn[17]}, but the ISO 6346 check digit of "
        f"{mrn[:17]} is {expected} (R0028)",
        pointer=f"/{message.message_type}/{where}", value=mrn, error_code="93",
        rule="R0028")]


def grn_format(message: MovementMessage) -> list[Problem]:
    """R0318: 24 characters for a guarantee of type 4, else 17, in the GRN structure."""
    declaration = message.declaration
    if declaration is None:
        return []
    problems: list[Problem] = []
    guarantees = declaration.guarantees
    for g_index, guarantee in enumerate(guarantees, 1):
        for r_index, reference in enumerate(guarantee.references, 1):
            grn = reference.grn
            if grn is None:
                continue
            length = 24 if guarantee.type == "4" else 17
            if len(grn) == length and GRN_PATTERN.fullmatch(grn):
                continue
            pointer = pointer_of(
                message.message_type,
                (Declaration, "guarantees", _index(guarantees, g_index)),
                (Guarantee, "references", _index(guarantee.references, r_index)),
                (GuaranteeReference, "grn", None))
            problems.append(MovementProblem(
                "GW-RULE-NCTS-GRN",
                f"a guarantee of type {guarantee.type!r} needs a GRN of {length} characters "
                f"in the GRN structure, not {len(grn)} (R0318)",
                pointer=pointer, value=trim_value(grn), rule="R0318"))
    return problems


def numbering(message: MovementMessage) -> list[Problem]:
    """R0987 sequence numbers, R0988 goods item numbers, R0007 declaration item numbers."""
    problems: list[Problem] = []
    root = message.message_type
    problems += _sequential(root, [(Offices, "transit", None)], message.offices.transit,
                            "sequence", "R0987")
    declaration = message.declaration
    if declaration is not None:
        problems += _declaration_numbering(root, declaration)
    if message.arrival is not None:
        problems += _sequential(root, [(Arrival, "incidents", None)],
                                message.arrival.incidents, "sequence", "R0987")
    return problems


def _declaration_numbering(root: str, declaration: Declaration) -> list[Problem]:
    problems = _sequential(root, [(Declaration, "guarantees", None)], declaration.guarantees,
                           "sequence", "R0987")
    problems += _sequential(root, [(Declaration, "authorisations", None)],
                            declaration.authorisations, "sequence", "R0987")
    for index, guarantee in enumerate(declaration.guarantees, 1):
        at = [(Declaration, "guarantees", _index(declaration.guarantees, index)),
              (Guarantee, "references", None)]
        problems += _sequential(root, at, guarantee.references, "sequence", "R0987")
    consignment = declaration.consignment
    if consignment is None:
        return problems
    top = [(Declaration, "consignment", None)]
    houses = consignment.house_consignments
    problems += _sequential(root, [*top, (Consignment, "house_consignments", None)], houses,
                            "sequence", "R0987")
    problems += _sequential(root, [*top, (Consignment, "departure_transport_means", None)],
                            consignment.departure_transport_means, "sequence", "R0987")
    for h_index, house in enumerate(houses, 1):
        at = [*top, (Consignment, "house_consignments", _index(houses, h_index))]
        problems += _sequential(root, [*at, (HouseConsignment, "goods_items", None)],
                                house.goods_items, "goods_item_number", "R0988")
        for i_index, item in enumerate(house.goods_items, 1):
            item_at = [*at, (HouseConsignment, "goods_items", _index(house.goods_items,
                                                                     i_index))]
            problems += _sequential(root, [*item_at, (GoodsItem, "packages", None)],
                                    item.packages, "sequence", "R0987")
    problems += _declaration_item_numbers(root, top, houses)
    return problems


def _declaration_item_numbers(root: str, top: list, houses: Sequence[HouseConsignment]
                              ) -> list[Problem]:  # type: ignore[type-arg]
    """R0007: unique throughout the declaration, 1 … n."""
    seen: set[int] = set()
    numbered = [(h, i, item) for h, house in enumerate(houses, 1)
                for i, item in enumerate(house.goods_items, 1)]
    for h, i, item in numbered:
        number = item.declaration_goods_item_number
        if number is None:
            continue
        if number in seen or not 1 <= number <= len(numbered):
            house = houses[h - 1]
            pointer = pointer_of(root, *top,
                                 (Consignment, "house_consignments", _index(houses, h)),
                                 (HouseConsignment, "goods_items",
                                  _index(house.goods_items, i)),
                                 (GoodsItem, "declaration_goods_item_number", None))
            why = "repeats a number" if number in seen else \
                f"is outside 1 … {len(numbered)} (the declaration's goods items)"
            return [MovementProblem(
                "GW-RULE-NCTS-NUMBERING",
                f"declaration goods item number {number} {why}: number the goods items of "
                f"the declaration 1, 2, 3 … (R0007)", pointer=pointer, value=str(number),
                rule="R0007")]
        seen.add(number)
    return []


def _sequential(root: str, at: list, entries: Sequence[object], field: str,
                rule: str) -> list[Problem]:  # type: ignore[type-arg]
    """The first entry of a data group whose number breaks 1, 2, 3 … (one problem per group)."""
    for position, entry in enumerate(entries, 1):
        number = getattr(entry, field)
        if number is None or number == position:
            continue
        cls = type(entry)
        steps = [*at[:-1], (*at[-1][:2], _index(entries, position)), (cls, field, None)]
        return [MovementProblem(
            "GW-RULE-NCTS-NUMBERING",
            f"{_group_name(at)} number {position} is numbered {number}: number the "
            f"iterations of a data group 1, 2, 3 … ({rule})",
            pointer=pointer_of(root, *steps), value=str(number), rule=rule)]
    return []


def _group_name(at: list) -> str:  # type: ignore[type-arg]
    cls, name, _ = at[-1]
    return name.replace("_", " ").rstrip("s")


def _index(entries: Sequence[object], position: int) -> int | None:
    """The XPath index of an iteration: only when the group repeats (as ``local_pointer``)."""
    return position if len(entries) > 1 else None


MOVEMENT_RULES: tuple[Rule, ...] = (mrn_check_digit_valid, grn_format, numbering)


def rule_ids(problems: Iterable[Problem]) -> list[str]:
    """The DDNTA rule ids of movement problems, in order (for tests and logs)."""
    return [p.rule for p in problems if isinstance(p, MovementProblem)]
