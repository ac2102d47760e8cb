"""The licences store in SQL, on SQLite and on PostgreSQL (flow F3 state).

The real journal (``adapters.bootstrap.open_journal``, with every flow store) runs
``record_version`` in its own transactions: licences and lines created, replaced by newer
versions, kept when an older or repeated one comes, revoked with their lines; every version
recorded once. On PostgreSQL, two journals on one schema (two gateway instances) creating the
same licence at the same moment — one with version 1, one with version 2 — always end with
version 2 kept and both versions recorded, whichever commits first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from adapters.bootstrap import open_journal
from gateway.flows.licences.intake_effect import LicenceOutcome, record_version
from gateway.flows.licences.store import FLOW, LicenceLineState, LicenceState
from gateway.settings import Settings

STEEL = (LicenceLineState(1, "72083900", "Coils", Decimal("6.000"), "TNE"),
         LicenceLineState(2, "72142000", "Rebar", Decimal("4.000"), "TNE"))


def state(version: int = 1, status: str = "issued", lines: tuple[LicenceLineState, ...] = STEEL,
          number: str = "MK-IL-2026-0042", receipt: str = "r1") -> LicenceState:
    return LicenceState(agency="agency-trade", number=number, source="licence-document",
                        type="import", status=status, version=version, receipt_id=receipt,
                        conversation_id=f"c-{receipt}",
                        updated_at=f"2026-01-15T10:00:0{version}Z", holder_id="MK4030998123456",
                        valid_from="2026-01-15", valid_to="2026-12-31", lines=lines)


@pytest.fixture(params=["sqlite", "postgresql"])
def journal(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Any]:
    """The real journal with its flow stores, on SQLite and then on PostgreSQL."""
    if request.param == "postgresql":
        settings = settings.with_(db_url=request.getfixturevalue("postgres_url"))
    opened = open_journal(settings)
    yield opened
    opened.close()


def record(journal: Any, incoming: LicenceState) -> LicenceOutcome:
    return asyncio.run(journal.transaction(lambda tx: record_version(tx.flow(FLOW), incoming)))


def test_licence_store_creates_replaces_and_keeps_versions(journal: Any) -> None:
    """Created with two lines; v2 amended replaces them; v1 late is stale; v3 revokes."""
    assert record(journal, state()).outcome == "created"
    reader = journal.flow(FLOW)
    kept = reader.licence("agency-trade", "MK-IL-2026-0042")
    assert kept == state()                                   # every column and line round-trips
    amended = (LicenceLineState(1, "72083900", "Coils", Decimal("12.5"), "TNE"),)
    assert record(journal, state(2, "amended", amended, receipt="r2")).outcome == "applied"
    assert reader.licence("agency-trade", "MK-IL-2026-0042").lines == amended
    assert record(journal, state(1, receipt="r1-late")).outcome == "duplicate"
    assert record(journal, state(3, "revoked", (), receipt="r3")).outcome == "applied"
    kept = reader.licence("agency-trade", "MK-IL-2026-0042")
    assert (kept.status, kept.version, kept.lines, kept.receipt_id) == ("revoked", 3, amended,
                                                                        "r3")
    assert [(v.version, v.status, v.outcome) for v in reader.versions(
        "agency-trade", "MK-IL-2026-0042")] == [
        (1, "issued", "created"), (2, "amended", "applied"), (3, "revoked", "applied")]


def test_licence_store_older_version_first_then_newer(journal: Any) -> None:
    """v2 first (created), v1 after it (stale, recorded, not applied)."""
    assert record(journal, state(2, "amended", receipt="r2")).outcome == "created"
    assert record(journal, state(1, receipt="r1")).outcome == "stale"
    reader = journal.flow(FLOW)
    assert reader.licence("agency-trade", "MK-IL-2026-0042").version == 2
    assert {(v.version, v.outcome) for v in reader.versions(
        "agency-trade", "MK-IL-2026-0042")} == {(2, "created"), (1, "stale")}


def test_licence_store_finds_a_number_across_agencies(journal: Any) -> None:
    """``find`` returns each agency's licence of that number, with its lines."""
    record(journal, state())
    other = state(number="MK-IL-2026-0042", receipt="r5")
    other = LicenceState(**{**other.__dict__, "agency": "agency-vet"})
    record(journal, other)
    found = journal.flow(FLOW).find("MK-IL-2026-0042")
    assert [(f.agency, len(f.lines)) for f in found] == [("agency-trade", 2), ("agency-vet", 2)]
    assert asyncio.run(journal.transaction(
        lambda tx: [f.agency for f in tx.flow(FLOW).find("MK-IL-2026-0042")])) == [
        "agency-trade", "agency-vet"]


def test_licence_store_concurrent_creation_by_two_instances_keeps_the_newest(
        postgres_url: str, settings: Settings) -> None:
    """Two PostgreSQL journals create one licence at once (v1 and v2), 10 times: v2 is kept
    every time and both versions are recorded, whichever transaction commits first."""
    pg = settings.with_(db_url=postgres_url)
    first, second = open_journal(pg), open_journal(pg)
    try:
        for round_ in range(10):
            number = f"MK-IL-RACE-{round_}"

            async def race(number: str = number) -> list[LicenceOutcome]:
                return list(await asyncio.gather(
                    first.transaction(lambda tx: record_version(
                        tx.flow(FLOW), state(1, number=number, receipt=f"a{number}"))),
                    second.transaction(lambda tx: record_version(
                        tx.flow(FLOW), state(2, "amended", number=number,
                                             receipt=f"b{number}")))))

            outcomes = sorted(o.outcome for o in asyncio.run(race()))
            assert outcomes in (["applied", "created"], ["created", "stale"])
            kept = first.flow(FLOW).licence("agency-trade", number)
            assert (kept.version, kept.status) == (2, "amended")
            assert len(first.flow(FLOW).versions("agency-trade", number)) == 2
    finally:
        first.close()
        second.close()
