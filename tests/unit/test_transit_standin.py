"""The transit stand-in's decisions (adapters/standins/transit.py), without RabbitMQ.

What a movement message makes it decide, the MRN it allocates (18 characters, ISO 6346 check
digit, the same for the same declaration) and that every decision is an event the gateway's
handler accepts (``MovementEvent.check``).
"""

from __future__ import annotations

import re

import pytest
from transit_support import canonical

from adapters.standins.transit import allocated_mrn, decide
from gateway.identifiers import is_valid_mrn

NOW = "2026-12-01T10:00:00Z"
MRN_PATTERN = re.compile(r"([2][4-9]|[3-9][0-9])[A-Z]{2}[A-Z0-9]{12}[J-M][0-9]")


def test_transit_standin_mrn_is_valid_p5_and_the_same_for_the_same_declaration() -> None:
    """18 characters of the P5 MRN pattern with a valid check digit; J without security data,
    M with; deterministic per conversation, different across conversations."""
    mrn = allocated_mrn("conversation-1", "MK", security=False, year=2026)
    assert len(mrn) == 18 and MRN_PATTERN.fullmatch(mrn) and is_valid_mrn(mrn)
    assert mrn[:4] == "26MK" and mrn[16] == "J"
    assert allocated_mrn("conversation-1", "MK", security=False, year=2026) == mrn
    assert allocated_mrn("conversation-2", "MK", security=False, year=2026) != mrn
    assert allocated_mrn("conversation-1", "MK", security=True, year=2026)[16] == "M"
    assert all(is_valid_mrn(allocated_mrn(f"c{n}", "RS", security=False)) for n in range(200))


def test_transit_standin_declaration_is_allocated_then_released() -> None:
    """A CC015C: mrn_allocated then released with the same MRN, the conversation named."""
    events = decide(canonical("CC015C"), message_id="m1", conversation_id="c1", country="MK",
                    now=NOW)
    assert [e.kind for e in events] == ["mrn_allocated", "released"]
    assert events[0].mrn == events[1].mrn and events[0].conversation_id == "c1"
    assert events[1].control_result is not None and events[1].control_result.code == "A1"
    for event in events:
        event.check()
    again = decide(canonical("CC015C"), message_id="m1", conversation_id="c1", country="MK",
                   now=NOW)
    assert [e.event_id for e in again] == [e.event_id for e in events]


def test_transit_standin_lrn_ending_with_reject_is_rejected() -> None:
    """The sandbox's CC056C: a declaration whose LRN ends with -REJECT."""
    message = canonical("CC015C")
    message.lrn = "MK-2026-REJECT"
    (event,) = decide(message, message_id="m2", conversation_id="c2", country="MK", now=NOW)
    event.check()
    assert event.kind == "rejected" and event.errors[0].pointer.endswith("/LRN")


@pytest.mark.parametrize(("message_type", "country", "kinds"), [
    ("CD050C", "RS", ["crossing"]), ("CD050C", "BG", []),
    ("CC007C", "RS", ["arrival_accepted", "control_results"]),
    ("CD018C", "MK", ["written_off"]), ("CD001C", "RS", []), ("CD118C", "MK", []),
    ("CD006C", "MK", [])])
def test_transit_standin_decides_at_each_office(message_type: str, country: str,
                                                kinds: list[str]) -> None:
    """Transit: the crossing at our office of transit (none if none is ours); destination:
    arrival accepted and control results; departure: the write-off after the CD018C."""
    events = decide(canonical(message_type), message_id="m3", conversation_id="c3",
                    country=country, now=NOW)
    assert [e.kind for e in events] == kinds
    for event in events:
        event.check()
    if kinds == ["crossing"]:
        assert events[0].office == "RS001100"
