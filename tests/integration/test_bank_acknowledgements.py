"""The gateway's ACK for a bank's camt.054 reaches the bank's SOAP service, by zeep.

``bank-demo`` is registered with ``delivery = "soap"`` and its WSDL as ``callback_url``: the push
deliverer calls ``AcknowledgePayments`` (WS-Security, SHA-256, our profile) on the bank stand-in
— a real SOAP server on its own uvicorn here, or mounted on the gateway in the sandbox — with
the same retries as HTTP callbacks: a bank that is down is retried until it is back; a bank
that refuses (a SOAP fault) is not retried, the push is marked failed and logged.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from bank_soap_helpers import (
    RunningBank,
    acting_bank,
    fast_push,  # noqa: F401 - fixture
    gateway_trust,
    home_with_bank,
    post,
    signed,
)
from conftest import RunningGateway, start_gateway, wait_for
from payment_helpers import camt_paying, new_reference

from adapters.local_server import free_port
from adapters.standins.bank import BankStandIn
from adapters.standins.bank_ledger import BankAcknowledgements
from gateway.settings import Settings
from gateway.signing.keys import SigningKey, TrustStore, generate_key_pair

pytestmark = pytest.mark.integration


def _message_id() -> str:
    return f"CAMT-{uuid.uuid4().hex[:16].upper()}"


@pytest.fixture
def bank_on_port(settings: Settings) -> Iterator[Callable[..., RunningBank]]:
    """Make bank stand-ins (not started) on free ports; stop them all after the test."""
    made: list[RunningBank] = []

    def make(trust: TrustStore | None = None) -> RunningBank:
        keys = settings.keys_dir
        stand_in = BankStandIn(
            SigningKey.load(keys / "bank-demo.key", keys / "bank-demo.crt"),
            trust or gateway_trust(settings), store=BankAcknowledgements())
        made.append(RunningBank(free_port(), stand_in))
        return made[-1]

    yield make
    for bank in made:
        bank.stop()


@pytest.fixture
def start(settings: Settings, rabbitmq: str, fast_push: None, tmp_path: Path,  # noqa: F811
          bank_on_port: Any) -> Iterator[Callable[[RunningBank], RunningGateway]]:
    """Start a gateway whose bank-demo acknowledgements go to ``bank``; stop it after."""
    started: list[RunningGateway] = []

    def run(bank: RunningBank) -> RunningGateway:
        home = home_with_bank(tmp_path, settings, bank.wsdl)
        started.append(start_gateway(settings.with_(home=home, push_max_attempts=20)))
        return started[-1]

    yield run
    for gateway in started:
        gateway.stop()


def _submit_file(running: RunningGateway, tokens: dict[str, str], message_id: str) -> str:
    """A signed two-payment camt.054 over SOAP whose references nobody issued (parked)."""
    body = camt_paying(new_reference(), Decimal("10.00"), seed=401, message_id=message_id)
    response = post(running, signed(acting_bank(running.settings), body, "soap11"), "soap11",
                    tokens["bank-demo"])
    assert response.status_code == 200, response.text
    return response.headers["X-Conversation-ID"]


def _push_state(running: RunningGateway, conversation_id: str) -> tuple[str, int, str | None]:
    """(push state, attempts, last error) of the conversation's ACK, read from the journal."""
    path = running.settings.db_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        row = db.execute("SELECT push_state, push_attempts, push_last_error FROM notifications"
                         " WHERE conversation_id = ? AND kind = 'ACK'",
                         (conversation_id,)).fetchone()
    assert row is not None
    return row[0], int(row[1]), row[2]


def _push_events(running: RunningGateway, conversation_id: str) -> list[dict[str, Any]]:
    found = running.gateway.journal.conversation(conversation_id) or {"history": []}
    return [e for e in found["history"] if e["event"].startswith("push.")]


def test_ack_is_delivered_to_the_bank_by_zeep_and_recorded(
        start: Callable[[RunningBank], RunningGateway], bank_on_port: Any,
        tokens: dict[str, str]) -> None:
    """The bank stand-in receives AcknowledgePayments for the file (its MsgId, each
    transaction's own reference and outcome), signed with the gateway's key; the push is
    delivered once."""
    bank = bank_on_port().start()
    running = start(bank)
    message_id = _message_id()

    conversation_id = _submit_file(running, tokens, message_id)

    kept = wait_for(lambda: bank.received_for(message_id))
    assert kept["signer_key_id"] == running.gateway.bus_key.key_id
    assert kept["soap"] == "1.1" and kept["repeats"] == 0
    (line,) = kept["transactions"]
    assert line["bank_reference"] == "ASR0401000000001"          # the file's AcctSvcrRef
    assert line["outcome"] == "parked" and "reference" in line["reason"]
    wait_for(lambda: [e["event"] for e in _push_events(running, conversation_id)]
             == ["push.delivered"])


def test_ack_retried_while_the_bank_is_down_and_delivered_when_back(
        start: Callable[[RunningBank], RunningGateway], bank_on_port: Any,
        tokens: dict[str, str]) -> None:
    """Nothing listens on the bank's port: the push is retried (GW-PARTNER-UNAVAILABLE, with
    back-off); once the bank is up, the ACK is delivered and recorded there once."""
    bank = bank_on_port()
    running = start(bank)
    message_id = _message_id()

    conversation_id = _submit_file(running, tokens, message_id)
    wait_for(lambda: _push_state(running, conversation_id)[1] >= 3)
    state, attempts, error = _push_state(running, conversation_id)
    assert state == "pending" and "cannot be reached" in (error or ""), (state, error)
    bank.start()

    kept = wait_for(lambda: bank.received_for(message_id), timeout=30)
    assert kept["repeats"] == 0
    (delivered,) = wait_for(lambda: _push_events(running, conversation_id))
    assert delivered["event"] == "push.delivered" and delivered["attempts"] > attempts
    assert _push_state(running, conversation_id)[0] == "delivered"


def test_ack_refused_by_the_bank_fails_without_retry(
        start: Callable[[RunningBank], RunningGateway], bank_on_port: Any,
        tokens: dict[str, str], tmp_path: Path) -> None:
    """A bank that does not trust the gateway's key answers a signed wsse:FailedAuthentication
    fault: not retryable, the push is marked failed after one attempt; nothing is kept."""
    key_pem, cert_pem = generate_key_pair("someone-else.test", "Not the gateway")
    (tmp_path / "other.crt").write_bytes(cert_pem)
    trust = TrustStore()
    trust.add_pem_file("gateway", tmp_path / "other.crt")
    bank = bank_on_port(trust).start()
    running = start(bank)

    conversation_id = _submit_file(running, tokens, _message_id())

    (failed,) = wait_for(lambda: [e for e in _push_events(running, conversation_id)
                                  if e["event"] == "push.failed"])
    assert failed["attempts"] == 1 and "FailedAuthentication" in failed["error"], failed
    assert [e["event"] for e in _push_events(running, conversation_id)] == ["push.failed"]
    assert bank.received() == []


def test_sandbox_mounts_the_bank_standin_which_receives_the_ack(
        sandbox_server: RunningGateway, tokens: dict[str, str]) -> None:
    """In sandbox mode the demo bank is served by the gateway itself under /bank/: its WSDL
    names the gateway's address, and the ACK of a file reaches it there."""
    base = sandbox_server.base_url
    wsdl = httpx.get(f"{base}/bank/soap?wsdl", timeout=10)
    assert wsdl.status_code == 200 and f'location="{base}/bank/soap"'.encode() in wsdl.content
    message_id = _message_id()

    _submit_file(sandbox_server, tokens, message_id)

    def received() -> Any:
        listed = httpx.get(f"{base}/bank/acknowledgements", timeout=10).json()
        return next((r for r in listed if r["message_id"] == message_id), None)
    kept = wait_for(received, timeout=20)
    assert kept["transactions"][0]["outcome"] == "parked"
