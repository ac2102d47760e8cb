"""The movements store in SQL, on SQLite and on PostgreSQL (flow F4 state).

The real journal (``adapters.bootstrap.open_journal``, with every flow store) applies received
messages (``apply_message``) in its own transactions: a movement created, moved, its steps in
order, every column round-tripping; the unique keys refuse a second record for an MRN and an
LRN used twice. On PostgreSQL, two journals on one schema (two gateway instances) receiving
messages for one movement at the same moment apply them one after the other on the held row:
of two CC007C for one AAR exactly one moves it and the other is out of sequence (92); of two
CC015C with one LRN exactly one creates the movement.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from adapters.bootstrap import open_journal
from gateway.canonical.movement import MessageHeader, MovementMessage, Party
from gateway.flows.transit.intake_effect import MovementOutcome, apply_message
from gateway.flows.transit.refusals import MovementConflict
from gateway.flows.transit.states import DEPARTURE, DESTINATION
from gateway.flows.transit.store import FLOW
from gateway.identifiers import make_mrn
from gateway.settings import Settings


@pytest.fixture(params=["sqlite", "postgresql"])
def journal(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Any]:
    if request.param == "postgresql":
        settings = settings.with_(db_url=request.getfixturevalue("postgres_url"))
    opened = open_journal(settings)
    yield opened
    opened.close()


def message(message_type: str, *, mrn: str | None = None, lrn: str | None = None
            ) -> MovementMessage:
    return MovementMessage(
        header=MessageHeader(message_type=message_type, message_id=uuid.uuid4().hex[:20],
                             sender="MK4080012345678"),
        mrn=mrn, lrn=lrn, trader_at_destination=Party(identification_number="RS101234567"))


def apply(journal: Any, incoming: MovementMessage, partner: str = "trader-haulier"
          ) -> MovementOutcome:
    return asyncio.run(journal.transaction(lambda tx: apply_message(
        tx.flow(FLOW), incoming, partner_id=partner, conversation_id=uuid.uuid4().hex,
        receipt_id=uuid.uuid4().hex, at="2026-12-01T10:00:00Z")))


def new_mrn() -> str:
    return make_mrn(2026, "MK", uuid.uuid4().hex[:12].upper(), "J")


def test_movement_store_creates_moves_and_logs(journal: Any) -> None:
    """A CD001C creates the destination movement, a CC007C moves it; both are steps; the
    movement round-trips (facts included); a second CD001C is 92; an LRN is used once."""
    mrn = new_mrn()
    assert apply(journal, message("CD001C", mrn=mrn), "customs-rs").state_after == \
        "aar_received"
    assert apply(journal, message("CC007C", mrn=mrn)).state_after == "arrival_notified"
    with pytest.raises(MovementConflict):
        apply(journal, message("CD001C", mrn=mrn), "customs-rs")
    reader = journal.flow(FLOW)
    kept = reader.movement(DESTINATION, mrn)
    assert (kept.state, kept.version, kept.partner_id) == ("arrival_notified", 2, "customs-rs")
    assert kept.facts["arrival_trader_id"] == "RS101234567"
    assert [(s.seq, s.message_type, s.state_before, s.state_after)
            for s in reader.steps(kept.movement_id)] == [
        (1, "CD001C", None, "aar_received"), (2, "CC007C", "aar_received", "arrival_notified")]
    assert [m.role for m in reader.movements(mrn)] == [DESTINATION]
    lrn = f"MK-{uuid.uuid4().hex[:10]}"
    created = apply(journal, message("CC015C", lrn=lrn))
    assert reader.for_conversation(reader.movements(mrn)[0].conversation_id,
                                   DESTINATION) is not None
    with pytest.raises(MovementConflict, match="BR20006"):
        apply(journal, message("CC015C", lrn=lrn))
    assert created.role == DEPARTURE


def test_movement_store_concurrent_messages_of_two_instances_apply_one_after_the_other(
        postgres_url: str, settings: Settings) -> None:
    """Two PostgreSQL journals, 10 rounds: two CC007C for one AAR — one moves it, the other
    is 92 —, two CC015C with one LRN — one creates, the other is refused."""
    pg = settings.with_(db_url=postgres_url)
    first, second = open_journal(pg), open_journal(pg)
    try:
        for _ in range(10):
            mrn = new_mrn()
            apply(first, message("CD001C", mrn=mrn), "customs-rs")

            async def race(incoming: list[MovementMessage]) -> list[Any]:
                return list(await asyncio.gather(*(
                    journal.transaction(lambda tx, m=m: apply_message(
                        tx.flow(FLOW), m, partner_id="trader-haulier",
                        conversation_id=uuid.uuid4().hex, receipt_id="r",
                        at="2026-12-01T10:00:00Z"))
                    for journal, m in zip((first, second), incoming, strict=True)),
                    return_exceptions=True))

            arrivals = asyncio.run(race([message("CC007C", mrn=mrn)] * 2))
            moved = [a for a in arrivals if isinstance(a, MovementOutcome)]
            refused = [a for a in arrivals if isinstance(a, MovementConflict)]
            assert (len(moved), len(refused)) == (1, 1), arrivals
            assert first.flow(FLOW).movement(DESTINATION, mrn).version == 2
            lrn = f"MK-{uuid.uuid4().hex[:10]}"
            declarations = asyncio.run(race([message("CC015C", lrn=lrn),
                                             message("CC015C", lrn=lrn)]))
            assert sorted(type(d).__name__ for d in declarations) == ["MovementConflict",
                                                                       "MovementOutcome"]
    finally:
        first.close()
        second.close()
