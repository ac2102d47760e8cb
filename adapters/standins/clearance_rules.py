"""How the clearance STAND-IN decides (demo and tests only).

Simple, configured rules (``config/standins/clearance.toml``):

1. a declaration whose declared item count disagrees with its items is **rejected**
   (error with the WCO pointer of the count, ``42A/228``);
2. otherwise it is **accepted** with a new MRN (ISO 6346 check digit), then put on a risk
   **channel** (red/yellow for configured HS chapters, else green), its **duties assessed**
   from a small tariff table (customs duty by chapter, then VAT on value + duty) with an ISO
   11649 payment reference, and — on the green channel only — **released**.

Decision ids and the MRN are derived from the declaration's message id, so a redelivered
declaration yields the same decisions, which the gateway recognises as duplicates.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from gateway.canonical.clearance_decision import AssessedDuty, ClearanceDecision, DecisionError
from gateway.canonical.declaration import Declaration, header_pointer
from gateway.identifiers import creditor_reference, make_mrn
from gateway.pipeline.exchange import utc_now_iso

CENT = Decimal("0.01")


@dataclass(frozen=True)
class ClearanceRules:
    country: str = "MK"
    currency: str = "MKD"
    vat_rate: Decimal = Decimal("18")
    default_duty_rate: Decimal = Decimal("10")
    red_chapters: frozenset[str] = frozenset()
    yellow_chapters: frozenset[str] = frozenset()
    procedure_letters: dict[str, str] = field(default_factory=dict)
    tariff: dict[str, Decimal] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> ClearanceRules:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        c = raw.get("clearance", {})
        return cls(
            country=c.get("country", "MK"), currency=c.get("currency", "MKD"),
            vat_rate=Decimal(c.get("vat_rate", "18")),
            default_duty_rate=Decimal(c.get("default_duty_rate", "10")),
            red_chapters=frozenset(c.get("red_chapters", [])),
            yellow_chapters=frozenset(c.get("yellow_chapters", [])),
            procedure_letters=dict(c.get("procedure_letters", {})),
            tariff={k: Decimal(v) for k, v in raw.get("tariff", {}).items()},
        )


def decide(declaration: Declaration, *, message_id: str, conversation_id: str,
           receipt_id: str, rules: ClearanceRules) -> list[ClearanceDecision]:
    """The decisions the stand-in takes on one declaration, in the order it sends them."""
    header = declaration.header
    base = {"conversation_id": conversation_id, "receipt_id": receipt_id,
            "reference": header.lrn}

    def decision(kind: str, **values: object) -> ClearanceDecision:
        decision_id = hashlib.sha256(f"{message_id}:{kind}".encode()).hexdigest()[:32]
        return ClearanceDecision(decision_id=decision_id, kind=kind, decided_at=utc_now_iso(),
                                 **base, **values)  # type: ignore[arg-type]

    declared, actual = header.goods_item_count, len(declaration.goods_items)
    if declared is not None and declared != actual:
        return [decision("rejected", errors=[DecisionError(
            code="R0228", pointer=header_pointer("goods_item_count"),
            description=f"declared total number of items ({declared}) differs from the "
                        f"number of goods items ({actual})")])]
    mrn = _mrn(declaration, message_id, rules)
    duties, total = assess(declaration, rules)
    channel = _channel(declaration, rules)
    decisions = [
        decision("accepted", mrn=mrn),
        decision("control", mrn=mrn, channel=channel),
        decision("duties_assessed", mrn=mrn, duties=duties, total_duties=total,
                 currency=rules.currency, payment_reference=creditor_reference(mrn)),
    ]
    if channel == "green":
        decisions.append(decision("released", mrn=mrn))
    return decisions


def assess(declaration: Declaration, rules: ClearanceRules) -> tuple[list[AssessedDuty], Decimal]:
    duties: list[AssessedDuty] = []
    for item in declaration.goods_items:
        value = item.customs_value.value if item.customs_value else Decimal(0)
        chapter = (item.commodity_code or "")[:2]
        rate = rules.tariff.get(chapter, rules.default_duty_rate)
        duty = (value * rate / 100).quantize(CENT, ROUND_HALF_UP)
        vat_base = value + duty
        vat = (vat_base * rules.vat_rate / 100).quantize(CENT, ROUND_HALF_UP)
        duties.append(AssessedDuty(item.sequence, "A00", value, rate, duty))
        duties.append(AssessedDuty(item.sequence, "B00", vat_base, rules.vat_rate, vat))
    return duties, sum((d.amount or Decimal(0) for d in duties), Decimal("0.00"))


def _channel(declaration: Declaration, rules: ClearanceRules) -> str:
    chapters = {(i.commodity_code or "")[:2] for i in declaration.goods_items}
    if chapters & rules.red_chapters:
        return "red"
    if chapters & rules.yellow_chapters:
        return "yellow"
    return "green"


def _mrn(declaration: Declaration, message_id: str, rules: ClearanceRules) -> str:
    category = declaration.procedure.category if declaration.procedure else None
    letter = rules.procedure_letters.get(category or "", "R")
    office = (declaration.offices.declaration if declaration.offices else None) or "000000"
    digits = "".join(c for c in office if c.isdigit())[-6:].rjust(6, "0")
    serial = digits + hashlib.sha256(message_id.encode()).hexdigest()[:6].upper()
    return make_mrn(int(utc_now_iso()[:4]), rules.country, serial, letter)
