"""Quantity reservations against licences: the state table, the agency's answers, the rules.

``gateway/flows/licences/reservations.py`` (what call is due, what an answer does — duplicates,
late and out-of-order answers change nothing), ``reservation_rules.py`` (the gateway's own
decision: every refusal reason, the line chosen, the balance) and ``quantities.py`` (exact unit
conversion). No store, no network.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from gateway.flows.licences.quantities import convert
from gateway.flows.licences.reservation_rules import Draw, covers, decide
from gateway.flows.licences.reservations import (
    AGENCY,
    APPLIED,
    CODE_MISMATCH,
    DELETE,
    DELETED,
    DESTINATION_MISMATCH,
    EV_DELETED,
    EV_REFUSED,
    EV_RESERVED,
    EV_WRITE_OFF_REFUSED,
    EV_WRITTEN_OFF,
    EXPIRED,
    HOLDER_MISMATCH,
    INSUFFICIENT,
    LINE_MISMATCH,
    NOT_YET_VALID,
    PENDING,
    REFUSED,
    RESERVE,
    RESERVED,
    REVOKED,
    STALE,
    UNIT_MISMATCH,
    UNKNOWN_LICENCE,
    WRITE_OFF,
    WRITTEN_OFF,
    AgencyAnswer,
    Reservation,
    apply_answer,
    drawn,
    next_operation,
    retry_later,
    with_target,
)
from gateway.flows.licences.store import LicenceLineState, LicenceState

AT, NOW = "2026-06-01T10:00:00.000Z", 1_000.0
HOLDER = "MK4030998765432"


def reservation(state: str = PENDING, target: str = RESERVED, **values: object) -> Reservation:
    base: dict[str, object] = dict(
        agency="agency-trade", number="MK-IL-1", mrn="26MK00100500000001", item=1,
        conversation_id="conv-1", partner_id="broker-alpha", code="X002", state=state,
        target=target, declared_quantity=Decimal("1000"), declared_unit="KGM", created_at=AT,
        updated_at=AT, line=1, hs_code="72083900", quantity=Decimal("1"), unit="TNE",
        next_at=NOW)
    base.update(values)
    return Reservation(**base)  # type: ignore[arg-type]


def answer(operation: str, result: str, **values: object) -> AgencyAnswer:
    return AgencyAnswer(operation, result, AT, **values)  # type: ignore[arg-type]


def licence(**values: object) -> LicenceState:
    base: dict[str, object] = dict(
        agency="agency-trade", number="MK-IL-1", source="licence-document", type="import",
        status="issued", version=1, receipt_id="r", conversation_id="c", updated_at=AT,
        holder_id=HOLDER, destination_country="MK", valid_from="2026-01-15",
        valid_to="2026-12-31", lines=(LicenceLineState(1, "72083900", None, Decimal("6"), "TNE"),
                                      LicenceLineState(2, "72142000", None, Decimal("4"), "TNE")))
    base.update(values)
    return LicenceState(**base)  # type: ignore[arg-type]


def draw(quantity: str = "1000", hs: str = "72083900", **values: object) -> Draw:
    base: dict[str, object] = dict(quantity=Decimal(quantity), unit="KGM", hs_code=hs,
                                   holder_id=HOLDER, destination_country="MK")
    base.update(values)
    return Draw(**base)  # type: ignore[arg-type]


# --- the state table ----------------------------------------------------------------------------


@pytest.mark.parametrize(("state", "target", "due"), [
    (PENDING, RESERVED, RESERVE), (PENDING, WRITTEN_OFF, RESERVE), (PENDING, DELETED, DELETE),
    (RESERVED, RESERVED, None), (RESERVED, WRITTEN_OFF, WRITE_OFF), (RESERVED, DELETED, DELETE),
    (REFUSED, REFUSED, None), (WRITTEN_OFF, WRITTEN_OFF, None), (DELETED, DELETED, None)])
def test_next_operation_follows_the_state_table(state: str, target: str, due: str | None) -> None:
    """The call due is the one the table names for (confirmed state, wanted target)."""
    assert next_operation(reservation(state, target)) == due


def test_reserved_answer_confirms_a_pending_reservation_and_mirrors_the_agency() -> None:
    """A reserved answer makes it reserved, keeps the agency's figures and settles the call."""
    outcome = apply_answer(reservation(lease_owner="me", attempts=2), RESERVE, answer(
        RESERVE, "reserved", available=Decimal("5"), consumed=Decimal("1"),
        reference="RSV-1"), at=AT, now=NOW)
    r = outcome.reservation
    assert (outcome.outcome, outcome.event) == (APPLIED, EV_RESERVED)
    assert (r.state, r.target, r.available, r.consumed, r.agency_reference) == \
        (RESERVED, RESERVED, Decimal("5"), Decimal("1"), "RSV-1")
    assert (r.next_at, r.lease_owner, r.attempts) == (None, None, 0)


def test_reserved_answer_while_released_makes_the_write_off_due() -> None:
    """Released while the reservation was in flight: once reserved, the write-off is due."""
    outcome = apply_answer(reservation(target=WRITTEN_OFF), RESERVE,
                           answer(RESERVE, "reserved"), at=AT, now=NOW)
    assert outcome.reservation.state == RESERVED
    assert next_operation(outcome.reservation) == WRITE_OFF
    assert outcome.reservation.next_at == NOW


def test_refused_answer_settles_the_reservation_with_the_agencys_reason() -> None:
    """The agency's refusal: refused for good, its reason, refused by the agency."""
    outcome = apply_answer(reservation(), RESERVE, answer(
        RESERVE, "refused", reason=INSUFFICIENT, reason_text="0.5 TNE left"), at=AT, now=NOW)
    r = outcome.reservation
    assert outcome.event == EV_REFUSED
    assert (r.state, r.target, r.reason, r.reason_text, r.refused_by, r.next_at) == \
        (REFUSED, REFUSED, INSUFFICIENT, "0.5 TNE left", AGENCY, None)
    assert not r.counts


def test_duplicate_reserved_answer_changes_nothing() -> None:
    """A second reserved answer (another worker's retry) finds nothing due: stale."""
    first = apply_answer(reservation(), RESERVE, answer(RESERVE, "reserved"), at=AT,
                         now=NOW).reservation
    again = apply_answer(first, RESERVE, answer(RESERVE, "reserved", repeated=True,
                                                available=Decimal("0")), at=AT, now=NOW + 5)
    assert (again.outcome, again.event) == (STALE, None)
    assert again.reservation == first


def test_late_write_off_answer_after_deletion_changes_nothing() -> None:
    """A write-off answer arriving once the reservation is deleted is stale."""
    deleted = reservation(DELETED, DELETED, next_at=None)
    outcome = apply_answer(deleted, WRITE_OFF, answer(WRITE_OFF, "written_off"), at=AT, now=NOW)
    assert outcome.outcome == STALE and outcome.reservation == deleted


def test_late_reserve_answer_after_the_deletion_was_asked_changes_nothing() -> None:
    """Invalidated while the reservation was in flight: its late answer does not count, the
    deletion stays due."""
    going = reservation(PENDING, DELETED)
    outcome = apply_answer(going, RESERVE, answer(RESERVE, "reserved"), at=AT, now=NOW)
    assert outcome.outcome == STALE
    assert next_operation(outcome.reservation) == DELETE


def test_answer_for_another_operation_is_stale() -> None:
    """An answer that names another operation than the call is never applied."""
    outcome = apply_answer(reservation(RESERVED, WRITTEN_OFF), WRITE_OFF,
                           answer(DELETE, "deleted"), at=AT, now=NOW)
    assert outcome.outcome == STALE


def test_written_off_and_deleted_answers_settle() -> None:
    """Write-off and deletion confirmed: written_off, deleted; nothing more due."""
    written = apply_answer(reservation(RESERVED, WRITTEN_OFF), WRITE_OFF,
                           answer(WRITE_OFF, "written_off"), at=AT, now=NOW)
    deleted = apply_answer(reservation(RESERVED, DELETED), DELETE, answer(DELETE, "deleted"),
                           at=AT, now=NOW)
    assert (written.event, written.reservation.state) == (EV_WRITTEN_OFF, WRITTEN_OFF)
    assert (deleted.event, deleted.reservation.state) == (EV_DELETED, DELETED)
    assert next_operation(written.reservation) is None
    assert next_operation(deleted.reservation) is None
    assert written.reservation.counts and not deleted.reservation.counts


def test_refused_write_off_keeps_the_reservation_and_settles_the_call() -> None:
    """A write-off the agency refuses: still reserved, the reason kept, no call due."""
    outcome = apply_answer(reservation(RESERVED, WRITTEN_OFF), WRITE_OFF, answer(
        WRITE_OFF, "refused", reason=REVOKED), at=AT, now=NOW)
    assert outcome.event == EV_WRITE_OFF_REFUSED
    assert (outcome.reservation.state, outcome.reservation.target) == (RESERVED, RESERVED)
    assert next_operation(outcome.reservation) is None


def test_unexpected_result_is_refused_as_an_error() -> None:
    """A reserve answered with 'deleted' is not an answer to reserve: ValueError."""
    with pytest.raises(ValueError, match="deleted"):
        apply_answer(reservation(), RESERVE, answer(RESERVE, "deleted"), at=AT, now=NOW)


def test_with_target_moves_only_what_can_move() -> None:
    """Release and invalidation move standing reservations; settled ones and a deletion under
    way stay."""
    assert with_target(reservation(RESERVED), WRITTEN_OFF, at=AT, now=NOW).target == WRITTEN_OFF
    assert with_target(reservation(RESERVED), DELETED, at=AT, now=NOW).next_at == NOW
    for settled in (REFUSED, WRITTEN_OFF, DELETED):
        assert with_target(reservation(settled, settled), DELETED, at=AT, now=NOW) is None
    assert with_target(reservation(RESERVED, DELETED), WRITTEN_OFF, at=AT, now=NOW) is None
    assert with_target(reservation(RESERVED, WRITTEN_OFF), WRITTEN_OFF, at=AT, now=NOW) is None


def test_retry_later_keeps_the_call_due_later() -> None:
    """A call that got no answer: the same call later, attempts counted, lease released."""
    later = retry_later(reservation(lease_owner="me", lease_until=NOW + 60), "down", at=AT,
                        retry_at=NOW + 2)
    assert (later.attempts, later.next_at, later.lease_owner, later.last_error) == \
        (1, NOW + 2, None, "down")
    assert next_operation(later) == RESERVE


def test_drawn_counts_pending_reserved_and_written_off_per_line() -> None:
    """Pending, reserved and written-off quantities count; refused and deleted do not."""
    rows = [reservation(PENDING, mrn="A"), reservation(RESERVED, mrn="B"),
            reservation(WRITTEN_OFF, WRITTEN_OFF, mrn="C", quantity=Decimal("0.5")),
            reservation(REFUSED, REFUSED, mrn="D"), reservation(DELETED, DELETED, mrn="E"),
            reservation(RESERVED, mrn="F", line=2, quantity=Decimal("2"))]
    assert drawn(rows) == {1: Decimal("2.5"), 2: Decimal("2")}


# --- the gateway's own decision -------------------------------------------------------------------


def test_decide_reserves_on_the_line_covering_the_commodity_in_its_unit() -> None:
    """1,000 kg of coils: 1 TNE on line 1, with 6 TNE left before."""
    decision = decide(licence(), draw(), {}, today="2026-06-01", country="MK")
    assert decision.reservable
    assert (decision.line, decision.quantity, decision.unit, decision.available) == \
        (1, Decimal("1"), "TNE", Decimal("6"))


def test_decide_refuses_what_is_left_short_exactly() -> None:
    """5.5 TNE drawn of 6: 0.5 TNE more fits, 0.501 TNE does not (exact decimals)."""
    drawn_ = {1: Decimal("5.5")}
    assert decide(licence(), draw("500"), drawn_, today="2026-06-01", country="MK").reservable
    refused = decide(licence(), draw("501"), drawn_, today="2026-06-01", country="MK")
    assert (refused.reason, refused.available, refused.line) == \
        (INSUFFICIENT, Decimal("0.5"), 1)
    assert "0.501 TNE asked, 0.5 TNE left" in refused.text


@pytest.mark.parametrize(("held", "asked", "reason"), [
    (None, draw(), UNKNOWN_LICENCE),
    (licence(status="revoked", revoked_at="2026-05-01T00:00:00Z"), draw(), REVOKED),
    (licence(valid_to="2026-05-31"), draw(), EXPIRED),
    (licence(valid_from="2026-06-02"), draw(), NOT_YET_VALID),
    (licence(), draw(holder_id="MK4030998123456"), HOLDER_MISMATCH),
    (licence(), draw(holder_id=None), HOLDER_MISMATCH),
    (licence(destination_country="RS"), draw(), DESTINATION_MISMATCH),
    (licence(), draw(hs="72101100"), CODE_MISMATCH),
    (licence(), draw(unit="LTR"), UNIT_MISMATCH),
    (licence(), draw(line=3), LINE_MISMATCH),
])
def test_decide_refuses_with_the_certex_reason(held: LicenceState | None, asked: Draw,
                                               reason: str) -> None:
    """Each refusal has its reason (the text says why)."""
    decision = decide(held, asked, {}, today="2026-06-01", country="MK")
    assert decision.reason == reason and not decision.reservable and decision.text


def test_decide_takes_the_last_valid_day_and_no_holder_as_valid() -> None:
    """``valid_to`` is the last valid day; a licence naming no holder suits any importer."""
    assert decide(licence(valid_to="2026-06-01"), draw(), {}, today="2026-06-01",
                  country="MK").reservable
    assert decide(licence(holder_id=None), draw(holder_id="someone"), {}, today="2026-06-01",
                  country="MK").reservable


def test_decide_draws_on_a_later_line_when_the_first_is_used_up() -> None:
    """Two lines covering the goods: the first with room is drawn on."""
    two = licence(lines=(LicenceLineState(1, "7208", None, Decimal("1"), "TNE"),
                         LicenceLineState(2, "720839", None, Decimal("3"), "TNE")))
    decision = decide(two, draw("2000"), {1: Decimal("0.5")}, today="2026-06-01", country="MK")
    assert (decision.line, decision.quantity) == (2, Decimal("2"))


def test_decide_counts_nothing_on_a_line_without_quantity() -> None:
    """A certificate line stating no quantity limits nothing."""
    open_line = licence(lines=(LicenceLineState(1, "080810", None, None, None),))
    decision = decide(open_line, draw("18000", hs="08081080"), {}, today="2026-06-01",
                      country="MK")
    assert decision.reservable and decision.quantity == Decimal("18000")


def test_hs_codes_cover_each_other_by_prefix() -> None:
    """A 6-digit line covers an 8-digit item and the other way round; no code covers all."""
    assert covers("080810", "08081080") and covers("08081080", "080810")
    assert covers(None, "99") and not covers("0808", "0809") and not covers("0808", None)


def test_convert_is_exact_between_mass_units_and_refuses_across_dimensions() -> None:
    """kg ↔ t ↔ g exactly; a mass in litres is no conversion."""
    assert convert(Decimal("1000"), "KGM", "TNE") == Decimal("1")
    assert convert(Decimal("0.001"), "TNE", "GRM") == Decimal("1000")
    assert str(convert(Decimal("1"), "TNE", "KGM")) == "1000"
    assert convert(Decimal("3"), "NAR", "NAR") == Decimal("3")
    assert convert(Decimal("1"), "KGM", "LTR") is None
    assert convert(Decimal("2.5"), "HLT", "LTR") == Decimal("250")


def test_reservation_counts_only_with_a_line() -> None:
    """A reservation refused before a line was chosen draws on nothing."""
    assert not replace(reservation(), line=None).counts
