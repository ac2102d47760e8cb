"""The clearance stand-in's ledger on disk: which messages it decided (by message id), and
which releases wait for payment (by conversation)."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

from adapters.standins.clearance_ledger import (
    AWAITING,
    DECIDE,
    DUPLICATE,
    RELEASED,
    ClearanceLedger,
    ledger_path,
)
from adapters.standins.clearance_rules import PendingRelease


def test_ledger_decides_a_message_once_also_after_a_restart(tmp_path: Path) -> None:
    """A decided message id is a duplicate for the same ledger and for a reopened one."""
    ledger = ClearanceLedger(ledger_path(tmp_path))
    assert ledger.begin("m-1") == DECIDE
    ledger.decided("m-1")
    assert ledger.begin("m-1") == DUPLICATE
    assert ledger.begin("m-1", redelivered=True) == DUPLICATE
    ledger.close()
    reopened = ClearanceLedger(ledger_path(tmp_path))
    assert reopened.state("m-1") == "decided"
    assert reopened.begin("m-1") == DUPLICATE
    assert reopened.begin("m-2") == DECIDE
    reopened.close()


def test_ledger_copy_while_deciding_is_a_duplicate_unless_redelivered(tmp_path: Path) -> None:
    """A second copy while the first is being decided is a duplicate; a redelivery (the first
    attempt's consumer went away) decides again."""
    ledger = ClearanceLedger(tmp_path / "ledger.db")
    assert ledger.begin("m-1") == DECIDE
    assert ledger.begin("m-1") == DUPLICATE
    assert ledger.begin("m-1", redelivered=True) == DECIDE
    assert ledger.state("m-1") == "deciding"
    ledger.close()


def test_ledger_stale_deciding_mark_is_decided_again(tmp_path: Path) -> None:
    """A ``deciding`` mark older than ``stale_seconds`` no longer blocks a copy."""
    ledger = ClearanceLedger(tmp_path / "ledger.db", stale_seconds=0.1)
    assert ledger.begin("m-1") == DECIDE
    time.sleep(0.2)
    assert ledger.begin("m-1") == DECIDE
    assert ledger.begin("m-1") == DUPLICATE          # and the mark is fresh again
    ledger.close()


def test_ledgers_sharing_a_file_decide_a_message_once(tmp_path: Path) -> None:
    """Two stand-ins sharing one var directory agree on which one decides."""
    one, two = ClearanceLedger(tmp_path / "l.db"), ClearanceLedger(tmp_path / "l.db")
    assert [one.begin("m-1"), two.begin("m-1")] == [DECIDE, DUPLICATE]
    one.decided("m-1")
    assert two.state("m-1") == "decided"
    one.close()
    two.close()


def _pending(conversation_id: str = "conv-1") -> PendingRelease:
    return PendingRelease(conversation_id=conversation_id, receipt_id="rcp-1",
                          message_id="m-1", reference="LRN-1", mrn="26MK00100512345ER6",
                          payment_reference="RF18539007547034", amount_due=Decimal("440.73"),
                          currency="MKD")


def test_ledger_keeps_a_release_waiting_for_payment_until_released_also_after_a_restart(
        tmp_path: Path) -> None:
    """A pending release is kept (amount exact) across a reopen, a repeat of it changes
    nothing, and once released it no longer waits — not even when kept again."""
    ledger = ClearanceLedger(ledger_path(tmp_path))
    ledger.await_payment(_pending())
    ledger.await_payment(_pending())
    ledger.close()
    reopened = ClearanceLedger(ledger_path(tmp_path))
    assert reopened.pending("conv-1") == _pending()
    assert reopened.release_state("conv-1") == AWAITING
    assert reopened.pending("conv-2") is None
    reopened.released("conv-1")
    reopened.await_payment(_pending())              # a redelivered declaration, decided again
    assert reopened.pending("conv-1") is None
    assert reopened.release_state("conv-1") == RELEASED
    reopened.close()
