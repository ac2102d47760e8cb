"""How the clearance STAND-IN decides (demo and tests only).

Simple, configured rules (``config/standins/clearance.toml``):

1. a declaration whose declared item count disagrees with its items is **rejected**
   (error with the WCO pointer of the count, ``42A/228``);
2. otherwise it is **accepted** with a new MRN (ISO 6346 check digit), then put on a risk
   **channel** (red/yellow for configured HS chapters, else green), its **duties assessed**
   from a small tariff table (customs duty by chapter, then VAT on value + duty) with an ISO
   11649 payment reference, and — on the green channel only — **released**:
3. at once when nothing is to be paid before release: no duties, or the duties go to a
   deferment account — the declaration names one with a declaration-level additional
   document of a type in ``[release] deferment_documents`` (WCO data element 2/6 "deferred
   payment": category ``1``, type ``DAN``, the account number as its id; the ASYCUDA mapping
   turns ``Financial/Deffered_payment_reference`` into the same document) — or
   ``pay_before_release`` is off;
4. otherwise once the duties are **paid**: the release waits (``pending_release``) until
   the gateway's payment event says the assessment is ``paid`` or ``overpaid``
   (``release_after_payment``; the stand-in consumes ``clearance.payments``);
5. and, when its goods items must draw on licences (``config/licensing.toml``: the items a
   requirement names, and the licences of it they quote — ``licences_to_reserve``) and
   ``[release] reserve_before_release`` is on, once **each of those reservations is
   reserved**: the gateway's reservation event on ``clearance.licences`` says so
   (``release_conditions`` names what the release waits for: ``payment``,
   ``reservation:<agency>:<number>:<item>``). A refused reservation, or a licence revoked
   while the release waits, withholds the release for good.

A declaration whose LRN ends with ``[invalidation] lrn_suffix`` is **invalidated** instead of
released (the decision ``invalidated``, once what the release would wait for is settled): how
the tests and the demo see the reservations of an invalidated declaration deleted.

Decision ids and the MRN are derived from the declaration's message id, so a redelivered
declaration yields the same decisions — and a release after payment the same id as a release
at once — which the gateway recognises as duplicates.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from gateway.canonical.clearance_decision import AssessedDuty, ClearanceDecision, DecisionError
from gateway.canonical.declaration import Declaration, header_pointer
from gateway.canonical.licensing_rules import LicensingRequirements, licences_to_reserve
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
    pay_before_release: bool = True
    # (category, type) of a declaration-level document naming a deferment account
    deferment_documents: frozenset[tuple[str, str]] = frozenset({("1", "DAN")})
    reserve_before_release: bool = True
    invalidate_lrn_suffix: str | None = None

    @classmethod
    def load(cls, path: Path) -> ClearanceRules:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        c, release = raw.get("clearance", {}), raw.get("release", {})
        invalidation = raw.get("invalidation", {})
        return cls(
            country=c.get("country", "MK"), currency=c.get("currency", "MKD"),
            vat_rate=Decimal(c.get("vat_rate", "18")),
            default_duty_rate=Decimal(c.get("default_duty_rate", "10")),
            red_chapters=frozenset(c.get("red_chapters", [])),
            yellow_chapters=frozenset(c.get("yellow_chapters", [])),
            procedure_letters=dict(c.get("procedure_letters", {})),
            tariff={k: Decimal(v) for k, v in raw.get("tariff", {}).items()},
            pay_before_release=bool(release.get("pay_before_release", True)),
            deferment_documents=frozenset(
                (str(d["category"]), str(d["type"]))
                for d in release.get("deferment_documents", [{"category": "1", "type": "DAN"}])),
            reserve_before_release=bool(release.get("reserve_before_release", True)),
            invalidate_lrn_suffix=invalidation.get("lrn_suffix") or None,
        )

    def final_decision(self, declaration: Declaration) -> str:
        """``released``, or ``invalidated`` for an LRN ending with the invalidation suffix."""
        lrn = declaration.header.lrn or ""
        if self.invalidate_lrn_suffix and lrn.endswith(self.invalidate_lrn_suffix):
            return "invalidated"
        return "released"


@dataclass(frozen=True)
class PendingRelease:
    """A green-channel declaration whose release waits for its duties to be paid."""

    conversation_id: str
    receipt_id: str
    message_id: str                      # the declaration's (decision ids derive from it)
    reference: str | None                # the trader's LRN
    mrn: str
    payment_reference: str
    amount_due: Decimal
    currency: str
    final: str = "released"              # the decision it waits to take (or "invalidated")


def decide(declaration: Declaration, *, message_id: str, conversation_id: str,
           receipt_id: str, rules: ClearanceRules,
           reservations: Sequence[str] = ()) -> list[ClearanceDecision]:
    """The decisions the stand-in takes on one declaration, in the order it sends them
    (``reservations``: the ``release_conditions`` of the licences its items must draw on)."""
    header = declaration.header
    base = {"conversation_id": conversation_id, "receipt_id": receipt_id,
            "reference": header.lrn}

    def decision(kind: str, **values: object) -> ClearanceDecision:
        return _decision(message_id, kind, **base, **values)

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
    waits = waits_for_payment(declaration, total, rules) or (
        rules.reserve_before_release and bool(reservations))
    if channel == "green" and not waits:
        decisions.append(decision(rules.final_decision(declaration), mrn=mrn))
    return decisions


def reservation_conditions(declaration: Declaration,
                           licensing: LicensingRequirements | None) -> list[str]:
    """``reservation:<agency>:<number>:<item>`` for each quantity the declaration's items must
    reserve on a licence before release (none without licensing requirements)."""
    if licensing is None:
        return []
    return [f"reservation:{d.licence.agency}:{d.licence.number}:{d.item.sequence}"
            for d in licences_to_reserve(declaration, licensing)]


def release_conditions(declaration: Declaration, pending: PendingRelease,
                       reservations: Sequence[str], rules: ClearanceRules) -> list[str]:
    """What ``pending``'s release waits for: ``payment`` and the reservations."""
    conditions = ["payment"] if waits_for_payment(declaration, pending.amount_due, rules) else []
    if rules.reserve_before_release:
        conditions.extend(reservations)
    return conditions


def waits_for_payment(declaration: Declaration, total: Decimal, rules: ClearanceRules) -> bool:
    """Whether the release waits until the duties are paid (rules 3 and 4 above)."""
    return rules.pay_before_release and total > 0 and not deferred(declaration, rules)


def deferred(declaration: Declaration, rules: ClearanceRules) -> bool:
    """Whether the declaration names a deferment account (a declaration-level document)."""
    return any(d.kind == "additional" and d.id
               and ((d.category or ""), (d.type or "")) in rules.deferment_documents
               for d in declaration.documents)


def pending_release(decisions: Sequence[ClearanceDecision], message_id: str,
                    final: str = "released") -> PendingRelease | None:
    """The release (or invalidation: ``final``) ``decisions`` leave waiting: a green channel,
    duties assessed and no release among them; ``None`` when nothing waits."""
    kinds = {d.kind: d for d in decisions}
    control, duties = kinds.get("control"), kinds.get("duties_assessed")
    if control is None or control.channel != "green" or duties is None or "released" in kinds \
            or "invalidated" in kinds:
        return None
    assert duties.mrn and duties.payment_reference and duties.total_duties is not None
    return PendingRelease(
        conversation_id=duties.conversation_id, receipt_id=duties.receipt_id,
        message_id=message_id, reference=duties.reference, mrn=duties.mrn,
        payment_reference=duties.payment_reference, amount_due=duties.total_duties,
        currency=duties.currency or "", final=final)


def release_after_payment(pending: PendingRelease) -> ClearanceDecision:
    """The release (or invalidation) of a declaration whose duties are paid and quantities
    reserved: the id a release at once has."""
    return _decision(pending.message_id, pending.final, conversation_id=pending.conversation_id,
                     receipt_id=pending.receipt_id, reference=pending.reference,
                     mrn=pending.mrn)


def _decision(message_id: str, kind: str, **values: object) -> ClearanceDecision:
    decision_id = hashlib.sha256(f"{message_id}:{kind}".encode()).hexdigest()[:32]
    return ClearanceDecision(decision_id=decision_id, kind=kind, decided_at=utc_now_iso(),
                             **values)  # type: ignore[arg-type]


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
