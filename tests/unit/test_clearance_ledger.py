"""The clearance stand-in's ledger: which declarations (by message id) it decided, on disk."""

from __future__ import annotations

import time
from pathlib import Path

from adapters.standins.clearance_ledger import DECIDE, DUPLICATE, ClearanceLedger, ledger_path


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
