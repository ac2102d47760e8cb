"""At least once, handled: a relay dies between the broker's confirm and the settle.

A declaration is accepted over HTTP (no relay runs yet). A first relay — the *casualty*,
owner ``casualty:4242`` with a short lease — claims it and publishes it; the broker confirms;
then the relay dies before it marks the row sent (its outbox's ``settle`` never returns, and
its task is cancelled: exactly what a SIGKILL at that point leaves in the journal — a pending
row leased to a dead owner). The clearance stand-in decides that first copy and is restarted.
Then the surviving instance starts: its relay takes the row over once the lease ran out
(``relay.takeover`` with the previous owner), publishes it again — same ``message_id`` — and
marks it sent. The restarted stand-in finds the message id in its ledger on disk and decides
nothing the second time: one set of decisions on the bus, one ACC notification in the journal.

Taps (exclusive queues bound like the clearance and decisions queues) show what was really
published. Run on the SQLite journal and on the PostgreSQL journal (the shared one).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from aio_pika.abc import AbstractQueue
from structlog.testing import capture_logs

from adapters.amqp.relay import OutboxRelay
from adapters.amqp.topology import connect
from adapters.bootstrap import Gateway, build_gateway
from adapters.http.app import create_app
from adapters.local_server import free_port, wait_until_ready
from adapters.standins.clearance import ClearanceStandIn
from adapters.standins.clearance_ledger import ledger_path
from gateway.ports import OutboxRow
from gateway.settings import Settings
from samples.wco import build_dec

pytestmark = pytest.mark.integration

CASUALTY = "casualty:4242"
LEASE = 1.0          # the casualty's lease: the survivor may take its rows after this


class DiesAfterConfirms:
    """The outbox as a relay sees it when its process dies after the broker confirmed the
    batch and before the rows are marked sent: ``settle`` is reached and never returns."""

    def __init__(self, journal: Any) -> None:
        self._journal = journal
        self.confirmed: list[int] = []
        self.reached = asyncio.Event()

    async def claim(self, owner: str, limit: int, lease_seconds: float) -> list[OutboxRow]:
        return list(await self._journal.claim(owner, limit, lease_seconds))

    async def settle(self, sent: list[int], failed: dict[int, str],
                     parked: dict[int, str]) -> None:
        self.confirmed = list(sent)
        self.reached.set()
        await asyncio.get_running_loop().create_future()      # dead: nothing more is written


@pytest.fixture(params=["sqlite", "postgresql"])
def journal_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """The test's settings on the SQLite journal, or on a PostgreSQL schema of its own."""
    survivor = settings.with_(instance_id=f"survivor-{uuid.uuid4().hex[:6]}")
    if request.param == "postgresql":
        return survivor.with_(db_url=request.getfixturevalue("postgres_url"))
    return survivor


@pytest.fixture
def intake_only(journal_settings: Settings, rabbitmq: str) -> Iterator[tuple[Gateway, str]]:
    """The survivor's gateway built, serving HTTP, with no background work started yet (and
    no lifespan: the scenario starts and stops the gateway on its own event loop)."""
    gateway = build_gateway(journal_settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(
        create_app(gateway, start_background=False), host="127.0.0.1", port=port,
        log_level="warning", loop="asyncio", lifespan="off", log_config=None))
    thread = threading.Thread(target=server.run, name=f"intake-{port}", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    assert wait_until_ready(base, path="/healthz")
    yield gateway, base
    server.should_exit = True
    thread.join(timeout=15)


async def _until(predicate: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        await asyncio.sleep(0.05)
    pytest.fail(f"condition not met within {timeout} s")


async def _take_all(queue: AbstractQueue, quiet: float = 1.0) -> list[Any]:
    """Every message on a tap until it stayed empty for ``quiet`` seconds."""
    got: list[Any] = []
    quiet_until = time.monotonic() + quiet
    while time.monotonic() < quiet_until:
        message = await queue.get(no_ack=True, fail=False)
        if message is None:
            await asyncio.sleep(0.05)
            continue
        got.append(message)
        quiet_until = time.monotonic() + quiet
    return got


async def _kill_relay_after_confirms(gateway: Gateway) -> list[int]:
    dying = DiesAfterConfirms(gateway.journal)
    casualty = OutboxRelay(dying, amqp_url=gateway.settings.amqp_url, names=gateway.names,
                           parking_exchange=gateway.topology.parking_exchange,
                           owner=CASUALTY, metrics=gateway.metrics, lease_seconds=LEASE)
    task = asyncio.create_task(casualty.run())
    await asyncio.wait_for(dying.reached.wait(), 20)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await casualty.stop()
    return dying.confirmed


async def _decide_first_copy_then_restart(gateway: Gateway) -> None:
    (standin,) = [s for s in gateway._standins()   # wired as in the gateway: the ledger on disk
                  if isinstance(s, ClearanceStandIn)]
    task = asyncio.create_task(standin.run())
    await _until(lambda: standin.decided == 1)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await standin.stop()


async def _scenario(gateway: Gateway, conversation_id: str) -> dict[str, Any]:
    names = gateway.names
    connection = await connect(gateway.settings.amqp_url, "test-taps")
    async with connection:
        channel = await connection.channel()
        assert await gateway.declare_topology()
        declarations = await channel.declare_queue(exclusive=True)
        await declarations.bind(names("customs.clearance"), "declaration.#")
        decisions = await channel.declare_queue(exclusive=True)
        await decisions.bind(names("customs.decisions"), "decision.#")

        confirmed = await _kill_relay_after_confirms(gateway)
        pending_after_death = gateway.journal.outbox_counts()
        await _decide_first_copy_then_restart(gateway)

        with capture_logs() as logs:
            await gateway.start(sandbox=True)          # the survivor, stand-in restarted
            (standin,) = [p for p in gateway.background if isinstance(p, ClearanceStandIn)]
            await _until(lambda: gateway.journal.outbox_counts() == {"sent": 1})
            await _until(lambda: standin.duplicates == 1)
            published = await _take_all(declarations)
            decided = await _take_all(decisions)
            await _until(lambda: len(gateway.journal.notifications(conversation_id))
                         == len(decided))
            await asyncio.sleep(0.5)
            notifications = gateway.journal.notifications(conversation_id)
        await gateway.stop()
    return {"confirmed": confirmed, "pending_after_death": pending_after_death,
            "logs": logs, "published": published, "decided": decided,
            "notifications": notifications, "standin": standin,
            "ledger": ledger_path(gateway.settings.var_dir)}


def test_relay_killed_between_confirm_and_settle_republishes_and_clearance_decides_once(
        intake_only: tuple[Gateway, str], tokens: dict[str, str]) -> None:
    """A relay dying after the confirm and before the settle gets its rows published again by
    the survivor (same message_id, ``relay.takeover`` logged); clearance decides them once."""
    gateway, base = intake_only
    response = httpx.post(f"{base}/v1/messages",
                          content=build_dec(2, lrn=f"TAKE-{uuid.uuid4().hex[:12].upper()}"),
                          headers={"Authorization": f"Bearer {tokens['broker-alpha']}",
                                   "Content-Type": "application/xml"}, timeout=30)
    assert response.status_code == 202, response.text
    conversation_id = response.headers["X-Conversation-ID"]

    seen = asyncio.run(_scenario(gateway, conversation_id))

    assert len(seen["confirmed"]) == 1, "the broker confirmed the casualty's publish"
    assert seen["pending_after_death"] == {"pending": 1}, "… and the row was never marked sent"
    copies = seen["published"]
    assert len(copies) == 2, "published twice: at least once"
    assert copies[0].message_id == copies[1].message_id and copies[0].body == copies[1].body
    takeovers = [e for e in seen["logs"] if e["event"] == "relay.takeover"]
    assert len(takeovers) == 1
    assert takeovers[0]["log_level"] == "info" and takeovers[0]["rows"] == 1
    assert takeovers[0]["previous_owner"] == CASUALTY
    assert takeovers[0]["owner"].startswith(f"{gateway.settings.instance_id}:")

    decision_ids = [m.message_id for m in seen["decided"]]
    assert decision_ids, "clearance decided the first copy"
    assert len(decision_ids) == len(set(decision_ids)), "one set of decisions, not two"
    assert seen["standin"].decided == 0 and seen["standin"].duplicates == 1
    notification_kinds = [n.kind for n in seen["notifications"]]
    assert notification_kinds.count("ACC") == 1
    assert len(notification_kinds) == len(decision_ids)
    assert seen["ledger"].exists()
