"""``gateway parked list|show|replay`` on a real SQLite journal (no RabbitMQ needed).

A bank file paying a reference nobody assessed yet is taken in by the gateway's own intake;
the operator lists and reads the parked payment, the assessment arrives, the operator
replays it (applied, with who and when), and a second replay is refused.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path

import pytest

from adapters import cli
from adapters.bootstrap import build_gateway
from gateway.flows.payments.ledger import Assessment
from gateway.pipeline.exchange import Exchange
from gateway.settings import Settings
from samples.camt054 import build_camt054, sample_payments


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    """The CLI's environment: the test session's keys, the test's own journal."""
    db_url = f"sqlite:///{tmp_path / 'cli-journal.db'}"
    monkeypatch.setenv("GATEWAY_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("GATEWAY_DB_URL", db_url)
    return settings.with_(db_url=db_url)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()                   # what ran before (the intake's log lines)
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_parked_cli_lists_shows_and_replays_once(
        cli_env: Settings, tokens: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    """list --json shows the parked payment and why; show gives the bank's transaction;
    replay after the assessment arrived applies it (exit 0, recorded with the operator);
    replaying it again is refused (exit 1, GW-PARKED-RESOLVED); list then shows none."""
    (sample,) = sample_payments(1, seed=77)
    gateway = build_gateway(cli_env)
    try:
        answer = asyncio.run(gateway.intake.submit(Exchange(
            body=build_camt054("08", seed=77), channel="http",
            authorization=f"Bearer {tokens['bank-demo']}")))
        assert answer.http_status == 202
    finally:
        gateway.journal.close()

    code, out, _ = _run(capsys, "parked", "list", "--json")
    (row,) = json.loads(out)
    assert code == 0 and (row["reason"], row["state"]) == ("unknown-reference", "parked")
    assert (row["reference"], row["amount"]) == (sample.reference, str(sample.amount))
    code, out, _ = _run(capsys, "parked", "show", row["id"], "--json")
    shown = json.loads(out)
    assert code == 0 and shown["transaction"]["end_to_end_id"] == sample.end_to_end_id

    gateway = build_gateway(cli_env)
    try:
        asyncio.run(gateway.journal.transaction(lambda tx: tx.flow("payments").save_assessment(
            Assessment(reference=sample.reference, conversation_id="conv-dec-77",
                       partner_id="broker-alpha", mrn="26MK00100522FACER8",
                       amount_due=sample.amount + Decimal("1.00"), currency="EUR",
                       decision_id="dec-77", assessed_at="2026-12-01T10:00:00.000Z"))))
    finally:
        gateway.journal.close()

    code, out, _ = _run(capsys, "parked", "replay", row["id"], "--operator", "desk-7")
    result = json.loads(out.strip().splitlines()[-1])      # the command's one JSON line
    assert code == 0 and (result["outcome"], result["status"], result["outstanding"]) == \
        ("partly", "partly_paid", "1.00")
    assert result["events"] == 1
    code, _, err = _run(capsys, "parked", "replay", row["id"])
    assert code == 1 and "GW-PARKED-RESOLVED" in err
    code, out, _ = _run(capsys, "parked", "list")
    assert code == 0 and "no parked payments" in out
    code, out, _ = _run(capsys, "parked", "list", "--all", "--json")
    (replayed,) = json.loads(out)
    assert (replayed["state"], replayed["resolved_by"], replayed["resolution"]) == \
        ("replayed", "desk-7", "partly")
    code, out, _ = _run(capsys, "parked", "show", row["id"])
    assert code == 0 and "desk-7" in out and "unknown-reference" in out


def test_parked_cli_show_of_an_unknown_id_fails(
        cli_env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    """show of an id no parked payment has exits 1 and says so."""
    code, _, err = _run(capsys, "parked", "show", "nope")
    assert code == 1 and "no parked payment" in err
