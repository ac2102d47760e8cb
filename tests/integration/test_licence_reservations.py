"""Quantity reservations with the issuing agency, on SQLite and PostgreSQL (flow F3).

The real gateway core (``build_gateway``: intake, event service, licences store in the real
journal) with the real agency stand-in (a SOAP server with WS-Security and its own register),
called by the real agency caller: a declaration accepted by clearance is reserved, written off
on release, deleted on invalidation; the gateway's own refusals (unknown licence, expired,
revoked, unit, code and holder mismatches) never reach the agency, the agency's refusal (a
quantity drawn elsewhere) is mirrored; duplicate and late answers change nothing; a
revocation after the reservation is told for each MRN; a crashed caller's call is made again
and reserves once. The race — 50 declarations of 1 t against a 10 t licence, across two
instances on one PostgreSQL and on SQLite — never over-draws, and its figures are printed.
The same over HTTP and RabbitMQ with the clearance stand-in: ``tests/e2e/test_licence_flow.py``.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from reservation_support import (
    Agencies,
    Instance,
    instances,
    percentile,
    quantity_sum,
    start_agencies,
)

from gateway.flows.licences.agency import AgencyCall
from gateway.flows.licences.reservations import (
    DELETED,
    REFUSED,
    RESERVE,
    RESERVED,
    WRITE_OFF,
    WRITTEN_OFF,
    AgencyAnswer,
)
from gateway.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def agencies(settings: Settings, tmp_path: Path) -> Iterator[Agencies]:
    running = start_agencies(settings, tmp_path / "agencies.db")
    yield running
    running.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def journal_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    if request.param == "postgresql":
        return settings.with_(db_url=request.getfixturevalue("postgres_url"))
    return settings


@pytest.fixture
def gateway(journal_settings: Settings, tokens: dict[str, str],
            agencies: Agencies) -> Iterator[Instance]:
    with instances(journal_settings, tokens, agencies) as (one,):
        yield one


def run(coro: object, timeout: float = 90.0) -> object:
    """Run a story on a loop of its own; one that has not ended after ``timeout`` s fails,
    printing where every task waits, without waiting for them (a run of the whole suite once
    hung in the crashed-caller story, never reproduced alone: a hang must say where it was)."""
    loop = asyncio.new_event_loop()
    try:
        story = loop.create_task(coro)  # type: ignore[arg-type]
        loop.run_until_complete(asyncio.wait({story}, timeout=timeout))
        if not story.done():
            for task in asyncio.all_tasks(loop):
                task.print_stack(file=sys.stderr)
            raise AssertionError(f"the story did not end within {timeout} s (stacks above)")
        return story.result()
    finally:
        if story.done():                    # as asyncio.run ends: the rest cancelled (bounded)
            rest = asyncio.all_tasks(loop)
            for task in rest:
                task.cancel()
            if rest:
                loop.run_until_complete(asyncio.wait(rest, timeout=10))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()


def test_reserved_on_acceptance_and_written_off_on_release(gateway: Instance,
                                                           agencies: Agencies) -> None:
    """Accepted: reserved with the agency (its balance mirrored, clearance told, signed);
    released: written off at the agency, clearance told."""
    async def story() -> tuple[object, object, list[dict[str, object]]]:
        await gateway.submit("agency-trade", gateway.issue("MK-IL-I1"))
        conversation = await gateway.declare("MK-IL-I1", "2500")
        gateway.start_caller()
        mrn = await gateway.decide(conversation, "accepted")
        reserved = await gateway.settled(conversation, RESERVED)
        await gateway.decide(conversation, "released", mrn)
        written = await gateway.settled(conversation, WRITTEN_OFF)
        await gateway.stop_caller()
        return reserved, written, await gateway.published()

    reserved, written, events = run(story())
    assert (reserved.quantity, reserved.unit, reserved.available, reserved.consumed) == \
        (Decimal("2.5"), "TNE", Decimal("7.500"), Decimal("2.5"))
    assert reserved.agency_reference and written.state == WRITTEN_OFF
    assert [(e["event"], e["routing_key"]) for e in events] == [
        ("reserved", "licence.reservation.reserved"),
        ("written_off", "licence.reservation.written_off")]
    (kept,) = agencies.register.reservations("agency-trade")
    assert (kept["number"], kept["state"], kept["quantity"]) == ("MK-IL-I1", "written_off", "2.5")
    balance = gateway.gateway.journal.flow("licences").balance("agency-trade", "MK-IL-I1", 1)
    assert balance is not None and balance.available == Decimal("7.500")
    assert [u.state for u in balance.usage] == ["written_off"]


def test_deleted_at_the_agency_on_invalidation(gateway: Instance, agencies: Agencies) -> None:
    """Invalidated after acceptance: the reservation is deleted at the agency, the quantity
    available again, clearance told."""
    async def story() -> tuple[object, list[dict[str, object]]]:
        await gateway.submit("agency-trade", gateway.issue("MK-IL-I2"))
        conversation = await gateway.declare("MK-IL-I2", "4000")
        gateway.start_caller()
        mrn = await gateway.decide(conversation, "accepted")
        await gateway.settled(conversation, RESERVED)
        await gateway.decide(conversation, "invalidated", mrn)
        deleted = await gateway.settled(conversation, DELETED)
        await gateway.stop_caller()
        return deleted, await gateway.published()

    deleted, events = run(story())
    assert deleted.available == Decimal("10.000")
    assert [e["event"] for e in events] == ["reserved", "deleted"]
    assert [r["state"] for r in agencies.register.reservations("agency-trade")] == ["deleted"]


@pytest.mark.parametrize(("issue", "declare", "reason"), [
    ({"number": "MK-IL-R1"}, {"number": "MK-IL-NOT-SENT"}, "unknown-licence"),
    ({"number": "MK-IL-R2", "valid_from": "2020-01-01", "valid_to": "2020-12-31"},
     {"number": "MK-IL-R2"}, "expired"),
    ({"number": "MK-IL-R3", "lines": (("72083900", "Coils", "10", "LTR"),)},
     {"number": "MK-IL-R3"}, "unit-mismatch"),
    ({"number": "MK-IL-R4", "lines": (("72101100", "Tinned", "10", "TNE"),)},
     {"number": "MK-IL-R4"}, "code-mismatch"),
    ({"number": "MK-IL-R5", "holder": ("MK4030998123456", "Celik Trade")},
     {"number": "MK-IL-R5"}, "holder-mismatch"),
    ({"number": "MK-IL-R6"}, {"number": "MK-IL-R6", "importer_id": "MK4030998000001"},
     "holder-mismatch"),
])
def test_gateway_refuses_before_calling_the_agency(gateway: Instance, agencies: Agencies,
                                                   issue: dict[str, object],
                                                   declare: dict[str, object],
                                                   reason: str) -> None:
    """Refused by the gateway's own check: the reason, clearance and the broker told at once,
    nothing asked of the agency."""
    licence, declared = dict(issue), dict(declare)

    async def story() -> tuple[object, list[dict[str, object]]]:
        number = str(licence.pop("number"))
        await gateway.submit("agency-trade", gateway.issue(number, **licence))
        conversation = await gateway.declare(str(declared.pop("number")), "1000", **declared)
        await gateway.decide(conversation, "accepted")
        (refused,) = gateway.reservations(conversation)
        return refused, await gateway.published()

    refused, events = run(story())
    assert (refused.state, refused.reason, refused.refused_by) == (REFUSED, reason, "gateway")
    assert [(e["event"], e["reason"]) for e in events] == [("refused", reason)]
    notices = gateway.gateway.journal.notifications(refused.conversation_id)
    assert [n.kind for n in notices] == ["ACC", "LIC"]
    assert agencies.register.reservations("agency-trade") == []


def test_revoked_licence_is_refused(gateway: Instance) -> None:
    """A licence revoked before the declaration: refused, revoked."""
    async def story() -> object:
        await gateway.submit("agency-trade", gateway.issue("MK-IL-RV"))
        await gateway.submit("agency-trade", gateway.issue(
            "MK-IL-RV", version=2, status="revoked", revoked_at="2026-06-01T00:00:00Z"))
        conversation = await gateway.declare("MK-IL-RV")
        await gateway.decide(conversation, "accepted")
        return gateway.reservations(conversation)[0]

    refused = run(story())
    assert (refused.state, refused.reason) == (REFUSED, "revoked")


def test_agencys_refusal_is_mirrored(gateway: Instance, agencies: Agencies) -> None:
    """Another office drew 9.5 t at the agency: the gateway's mirror allows 1 t, the agency
    refuses it — refused by the agency, what it says is available kept, the broker told."""
    async def story() -> object:
        await gateway.submit("agency-trade", gateway.issue("MK-IL-AR"))
        agencies.register.consume_elsewhere("agency-trade", "MK-IL-AR", 1, Decimal("9.5"),
                                            "26MK00200500000777")
        conversation = await gateway.declare("MK-IL-AR", "1000")
        gateway.start_caller()
        await gateway.decide(conversation, "accepted")
        refused = await gateway.settled(conversation, REFUSED)
        await gateway.stop_caller()
        return refused

    refused = run(story())
    assert (refused.reason, refused.refused_by, refused.available) == \
        ("insufficient-quantity", "agency", Decimal("0.500"))
    assert [n.kind for n in gateway.gateway.journal.notifications(refused.conversation_id)] == \
        ["ACC", "LIC"]


def test_duplicate_and_late_answers_change_nothing(gateway: Instance) -> None:
    """A second reserved answer and a write-off answer after the deletion are stale: the state,
    the events and the agency's figures kept stay as they were."""
    async def story() -> tuple[object, object, object, list[dict[str, object]]]:
        await gateway.submit("agency-trade", gateway.issue("MK-IL-DU"))
        conversation = await gateway.declare("MK-IL-DU")
        gateway.start_caller()
        mrn = await gateway.decide(conversation, "accepted")
        reserved = await gateway.settled(conversation, RESERVED)
        recorder = gateway.gateway.licences.answers   # type: ignore[union-attr]
        journal = gateway.gateway.journal
        duplicate = await journal.transaction(lambda tx: recorder.record(
            tx, AgencyCall(reserved, RESERVE, "other"), AgencyAnswer(
                RESERVE, "reserved", "2026-06-01T10:00:00.000Z", available=Decimal("1"),
                repeated=True)))
        await gateway.decide(conversation, "invalidated", mrn)
        deleted = await gateway.settled(conversation, DELETED)
        late = await journal.transaction(lambda tx: recorder.record(
            tx, AgencyCall(reserved, WRITE_OFF, "other"), AgencyAnswer(
                WRITE_OFF, "written_off", "2026-06-01T10:00:01.000Z")))
        await gateway.stop_caller()
        return duplicate, late, deleted, await gateway.published()

    duplicate, late, deleted, events = run(story())
    assert (duplicate.outcome, late.outcome) == ("stale", "stale")   # type: ignore[attr-defined]
    (now,) = gateway.reservations(deleted.conversation_id)           # type: ignore[attr-defined]
    assert now == deleted and now.available == Decimal("10.000")
    assert [e["event"] for e in events] == ["reserved", "deleted"]
    assert gateway.history(now.conversation_id).count("licence.reservation.stale_answer") == 2


def test_call_of_a_crashed_caller_is_made_again_and_reserves_once(gateway: Instance,
                                                                  agencies: Agencies) -> None:
    """A caller that called the agency and died before recording: once its lease runs out,
    another caller makes the same call, the agency answers it as a repeat — one reservation."""
    async def story() -> object:
        await gateway.submit("agency-trade", gateway.issue("MK-IL-CR"))
        conversation = await gateway.declare("MK-IL-CR", "3000")
        await gateway.decide(conversation, "accepted")
        g = gateway.gateway
        (call,) = await g.journal.transaction(
            lambda tx: g.licences.answers.claim(tx, "dead", 5, 0.3))  # type: ignore[union-attr]
        from adapters.soap_client.agency_client import AgencyClients
        answer = await asyncio.to_thread(AgencyClients(g.partners, g.bus_key, g.trust).call,
                                         call.operation, call.reservation)
        assert answer.result == "reserved" and not answer.repeated
        await asyncio.sleep(0.4)                      # the dead caller's lease runs out
        gateway.start_caller()
        reserved = await gateway.settled(conversation, RESERVED)
        await gateway.stop_caller()
        return reserved

    reserved = run(story())
    assert reserved.quantity == Decimal("3")           # type: ignore[attr-defined]
    assert [call.reservation.lease_owner for call, _, _, _ in gateway.answered] == \
        [f"{gateway.settings.instance_id}:test"]
    (kept,) = agencies.register.reservations("agency-trade")
    assert (kept["state"], kept["calls"]) == ("reserved", 2)


def test_revocation_after_reservation_is_told_for_each_mrn(gateway: Instance,
                                                          agencies: Agencies) -> None:
    """Two declarations reserved; the agency revokes the licence (a new version): a signed
    licence_revoked event for each MRN, a LIC notification for each broker's conversation."""
    async def story() -> tuple[list[str], list[dict[str, object]]]:
        await gateway.submit("agency-trade", gateway.issue("MK-IL-RR"))
        conversations = [await gateway.declare("MK-IL-RR", "1000") for _ in range(2)]
        gateway.start_caller()
        for conversation in conversations:
            await gateway.decide(conversation, "accepted")
            await gateway.settled(conversation, RESERVED)
        await gateway.stop_caller()
        revoked = gateway.issue("MK-IL-RR", version=2, status="revoked",
                                revoked_at="2026-06-01T00:00:00Z")
        await gateway.submit("agency-trade", revoked)
        return conversations, await gateway.published()

    conversations, events = run(story())
    revocations = [e for e in events if e["event"] == "licence_revoked"]
    assert sorted(e["conversation_id"] for e in revocations) == sorted(conversations)
    assert len({e["mrn"] for e in revocations}) == 2
    for conversation in conversations:
        (r,) = gateway.reservations(conversation)
        assert r.revoked_at == "2026-06-01T00:00:00Z" and r.state == RESERVED
        kinds = [n.kind for n in gateway.gateway.journal.notifications(conversation)]
        assert kinds == ["ACC", "LIC"]
    assert agencies.register.status("agency-trade", "MK-IL-RR")["status"] == "revoked"


# --- the race -----------------------------------------------------------------------------


def race(group: list[Instance], agencies: Agencies, *, declarations: int = 50,
         kg: str = "1000", licence_tonnes: str = "10") -> dict[str, object]:
    """``declarations`` × ``kg`` against one ``licence_tonnes`` t licence, the acceptances
    fired at once across ``group``; the figures."""
    first = group[0]
    number = f"MK-IL-RACE-{len(group)}"

    async def story() -> dict[str, object]:
        await first.submit("agency-trade", first.issue(
            number, lines=(("72083900", "Coils", licence_tonnes, "TNE"),)))
        conversations = [await group[n % len(group)].declare(number, kg)
                         for n in range(declarations)]
        for instance in group:
            instance.start_caller()
        fired: dict[str, float] = {}

        async def accept(n: int, conversation: str) -> float:
            fired[conversation] = time.perf_counter()
            await group[n % len(group)].decide(conversation, "accepted")
            return time.perf_counter() - fired[conversation]

        started = time.perf_counter()
        local = await asyncio.gather(*(accept(n, c) for n, c in enumerate(conversations)))
        rows = [await group[n % len(group)].settled(c, timeout=60)
                for n, c in enumerate(conversations)]
        elapsed = time.perf_counter() - started
        for instance in group:
            await instance.stop_caller()
        recorded = {call.reservation.conversation_id: at for instance in group
                    for call, _, _, at in instance.answered if call.operation == RESERVE}
        round_trips = [recorded[c] - fired[c] for c in conversations if c in recorded]
        return {"rows": rows, "local": list(local), "round_trips": round_trips,
                "elapsed": elapsed}

    figures = run(story())
    rows = figures["rows"]                           # type: ignore[assignment]
    status = agencies.register.status("agency-trade", number)
    assert status is not None
    line = status["lines"][0]
    reserved = quantity_sum(rows, (RESERVED,))       # type: ignore[arg-type]
    refused = [r for r in rows if r.state == REFUSED]   # type: ignore[union-attr]
    figures.update(fired=declarations, reserved=sum(r.state == RESERVED for r in rows),
                   refused=len(refused), reserved_tonnes=reserved,
                   licence_tonnes=Decimal(licence_tonnes),
                   agency_available=Decimal(line["available"]),
                   agency_reservations=len(line["usage"]),
                   refused_by={r.refused_by for r in refused},
                   local_p99=percentile(figures["local"], 0.99),   # type: ignore[arg-type]
                   reservation_p99=percentile(figures["round_trips"], 0.99),  # type: ignore
                   reservation_p50=percentile(figures["round_trips"], 0.5))  # type: ignore
    print(f"\nrace on {group[0].settings.journal_url.split(':')[0]} with {len(group)} "
          f"instance(s): fired {declarations}, reserved {figures['reserved']}, refused "
          f"{figures['refused']} ({', '.join(sorted(map(str, figures['refused_by'])))}), "
          f"{reserved} t reserved of {licence_tonnes} t, agency available "
          f"{figures['agency_available']} t; local decision p99 "
          f"{figures['local_p99'] * 1000:.0f} ms, reservation (decision + agency round trip) "
          f"p50 {figures['reservation_p50'] * 1000:.0f} ms p99 "
          f"{figures['reservation_p99'] * 1000:.0f} ms; all settled in "
          f"{figures['elapsed']:.2f} s")
    return figures


def _never_overdrawn(figures: dict[str, object]) -> None:
    assert figures["reserved"] == 10 and figures["refused"] == 40
    assert figures["reserved_tonnes"] == figures["licence_tonnes"] == Decimal(10)
    assert figures["agency_available"] == Decimal(0) and figures["agency_reservations"] == 10
    assert figures["refused_by"] == {"gateway"}     # the mirror refused; the agency never had to
    assert len(figures["round_trips"]) == 10         # type: ignore[arg-type]


def test_race_of_fifty_declarations_on_sqlite_never_overdraws(settings: Settings,
                                                              tokens: dict[str, str],
                                                              agencies: Agencies) -> None:
    """50 × 1 t against 10 t, fired at once on one SQLite instance: 10 reserved, 40 refused."""
    with instances(settings, tokens, agencies) as group:
        _never_overdrawn(race(group, agencies))


def test_race_of_fifty_declarations_across_two_postgres_instances_never_overdraws(
        settings: Settings, tokens: dict[str, str], agencies: Agencies,
        postgres_url: str) -> None:
    """50 × 1 t against 10 t, fired at once across two instances sharing one PostgreSQL
    (each with its own journal writer and agency caller): 10 reserved, 40 refused."""
    with instances(settings.with_(db_url=postgres_url), tokens, agencies, count=2) as group:
        figures = race(group, agencies)
    _never_overdrawn(figures)
    assert float(figures["reservation_p99"]) < 5.0   # type: ignore[arg-type]
