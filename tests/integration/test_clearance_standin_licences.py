"""The clearance stand-in against the real RabbitMQ: a release that waits for reservations (F3).

The stand-in runs alone (its own event loop in a thread) on the test's prefix, consuming the
declarations, payments and licences queues; the test plays the gateway — it publishes signed
canonical declarations and reservation events to ``customs.clearance`` with pika — and reads
the decisions the stand-in publishes from a queue of its own bound to ``customs.decisions``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import wait_for
from decision_helpers import take_parked
from lxml import etree
from test_clearance_standin_payments import StandIn

from adapters.bootstrap import load_formats, load_signing_key
from gateway.canonical.licence_reservation import ReservationEvent
from gateway.canonical.licensing_rules import LicensingRequirements
from gateway.canonical.model import to_json_bytes
from gateway.settings import Settings
from samples.licensed import build_licensed_dec

pytestmark = pytest.mark.integration


class LicenceStandIn(StandIn):
    """``test_clearance_standin_payments``'s stand-in, consuming clearance.licences too."""

    def __init__(self, settings: Settings, ledger_file: Path) -> None:
        super().__init__(settings, ledger_file, licences_queue="clearance.licences",
                         licensing=LicensingRequirements.load(
                             settings.config_dir / "licensing.toml"))


@pytest.fixture
def standin(settings: Settings, rabbitmq: str, tmp_path: Path) -> Iterator[LicenceStandIn]:
    running = LicenceStandIn(settings, tmp_path / "clearance.db")
    yield running
    running.stop()


def submit(standin: StandIn, lrn_suffix: str = "") -> str:
    """A signed canonical declaration of 2 t of steel quoting licence MK-IL-S (a deferment
    account: nothing to pay before release); its conversation."""
    registry, mappings, kinds = load_formats(standin.settings)
    root = etree.fromstring(build_licensed_dec(
        f"LRN-{uuid.uuid4().hex[:8]}{lrn_suffix}", [("72083900", "2000",
                                                      [("X", "002", "MK-IL-S")])]))
    message_type = registry.identify(root).message_type
    body = to_json_bytes(kinds.get("declaration").build(
        mappings[message_type.mapping_file].apply(root)))
    conversation_id = uuid.uuid4().hex
    standin.publish("declaration.import.MK001005", body,
                    **{"x-conversation-id": conversation_id, "x-receipt-id": "rcp-1"})
    return conversation_id


def reservation(standin: StandIn, conversation_id: str, mrn: str, event: str, *,
                key: Any = None, message_id: str | None = None) -> str:
    body = to_json_bytes(ReservationEvent(
        event_id=uuid.uuid4().hex, event=event, conversation_id=conversation_id, mrn=mrn,
        item=1, agency="agency-trade", number="MK-IL-S", code="X002", state=event,
        reason="insufficient-quantity" if event == "refused" else None, at="2026-06-01"))
    return standin.publish(f"licence.reservation.{event}", body, key=key, message_id=message_id,
                           **{"x-canonical-kind": "licence_reservation"})


def test_standin_releases_once_the_reservation_is_reserved(standin: LicenceStandIn) -> None:
    """Accepted, control, duties — no release; the reserved event releases it once, also when
    that event comes again."""
    conversation_id = submit(standin)
    decided = standin.decisions(3)
    assert [d["kind"] for d in decided] == ["accepted", "control", "duties_assessed"]
    assert standin.ledger.conditions(conversation_id) == \
        {"reservation:agency-trade:MK-IL-S:1": "waiting"}
    event_id = reservation(standin, conversation_id, decided[0]["mrn"], "reserved")
    (released,) = standin.decisions(1)
    assert (released["kind"], released["conversation_id"]) == ("released", conversation_id)
    reservation(standin, conversation_id, decided[0]["mrn"], "reserved", message_id=event_id)
    reservation(standin, conversation_id, decided[0]["mrn"], "written_off")
    standin.quiet()
    assert standin.standin.released_after_reservation == 1


def test_standin_withholds_the_release_of_a_refused_reservation(standin: LicenceStandIn
                                                                 ) -> None:
    """Refused: the condition fails and a later reserved event releases nothing."""
    conversation_id = submit(standin)
    mrn = standin.decisions(3)[0]["mrn"]
    reservation(standin, conversation_id, mrn, "refused")
    wait_for(lambda: standin.ledger.conditions(conversation_id) ==
             {"reservation:agency-trade:MK-IL-S:1": "failed"})
    reservation(standin, conversation_id, mrn, "reserved")
    standin.quiet()
    assert standin.standin.withheld == 1


def test_standin_invalidates_by_lrn_suffix_and_on_request(standin: LicenceStandIn) -> None:
    """``…-INVALIDATE``: once reserved, invalidated instead of released; ``invalidate()`` sends
    the decision invalidated for a declaration whose release waits."""
    named = submit(standin, "-INVALIDATE")
    mrn = standin.decisions(3)[0]["mrn"]
    reservation(standin, named, mrn, "reserved")
    (invalidated,) = standin.decisions(1)
    assert (invalidated["kind"], invalidated["conversation_id"]) == ("invalidated", named)
    waiting = submit(standin)
    standin.decisions(3)
    decision = asyncio.run_coroutine_threadsafe(standin.standin.invalidate(waiting),
                                                standin.loop).result(15)
    assert decision is not None and decision.kind == "invalidated"
    assert standin.decisions(1)[0]["conversation_id"] == waiting
    assert asyncio.run_coroutine_threadsafe(standin.standin.invalidate(waiting),
                                            standin.loop).result(15) is None


def test_standin_parks_a_reservation_event_it_cannot_trust(standin: LicenceStandIn) -> None:
    """Signed with another key than the gateway's: parked, nothing released."""
    conversation_id = submit(standin)
    mrn = standin.decisions(3)[0]["mrn"]
    reservation(standin, conversation_id, mrn, "reserved",
                key=load_signing_key(standin.settings, "clearance"))
    (properties, _), = take_parked(standin.channel, standin.settings)
    assert "clearance:" in str(properties.headers["x-gateway-reason"])
    standin.quiet()
