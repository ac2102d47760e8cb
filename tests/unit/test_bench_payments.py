"""The payment benchmark's command line (bench/payments.py): one command, defaults shown."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from bench import payments
from gateway.settings import PROJECT_HOME


def test_bench_payments_defaults_are_a_thousand_payments_on_both_journals() -> None:
    """Without options: 5 files of 10 x 100 payments, SQLite and PostgreSQL, 2 workers."""
    args = payments.parse_args([])
    assert (args.journal, args.files, args.entries * args.transactions, args.workers) == \
        ("both", 5, 1_000, 2)


def test_bench_payments_help_shows_every_option_with_its_default() -> None:
    """--help lists each option and its default (ArgumentDefaultsHelpFormatter)."""
    out = subprocess.run([sys.executable, str(PROJECT_HOME / "bench" / "payments.py"), "--help"],
                         capture_output=True, text=True, check=True).stdout
    options = out.split("options:", 1)[1]
    described = {m.group(1): " ".join(m.group(2).split()) for m in re.finditer(
        r"^  (--[a-z-]+)(.*?)(?=^  -|\Z)", options, re.S | re.M)}
    for option, default in (("--journal", "both"), ("--files", "5"), ("--entries", "10"),
                            ("--transactions", "100"), ("--workers", "2"),
                            ("--healthz-duration", "5.0"), ("--port", "18090")):
        assert f"(default: {default})" in described[option], described.get(option)
    assert all("(default:" in text for text in described.values()), described


@pytest.mark.parametrize("argv", [["--files", "0"], ["--transactions", "0"]])
def test_bench_payments_refuses_empty_files(argv: list[str]) -> None:
    """A run of no files or files of no payments is refused (exit 2)."""
    with pytest.raises(SystemExit) as exc:
        payments.parse_args(argv)
    assert exc.value.code == 2
