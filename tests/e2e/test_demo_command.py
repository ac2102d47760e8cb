"""``gateway demo`` as a user runs it: a subprocess, its own var directory and AMQP prefix."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from gateway.settings import PROJECT_HOME, Settings

pytestmark = pytest.mark.e2e

GATEWAY = PROJECT_HOME / ".venv" / "bin" / "gateway"


def test_demo_command_runs_every_step_successfully(
        settings: Settings, rabbitmq: str, tmp_path: Path) -> None:
    """``gateway demo`` exits 0 and reports ``5/5 steps did what they should``."""
    var_dir = tmp_path / "var"
    env = {**os.environ, "GATEWAY_VAR_DIR": str(var_dir),
           "GATEWAY_AMQP_PREFIX": settings.amqp_prefix, "GATEWAY_AMQP_URL": rabbitmq}
    env.pop("GATEWAY_DB_URL", None)
    done = subprocess.run([str(GATEWAY), "demo"], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "5/5 steps did what they should" in done.stdout, output
    table = [line for line in done.stdout.splitlines() if line[:2].strip().isdigit()]
    assert len(table) == 5 and all(" OK (" in line for line in table), output
    assert "ACC,CTL,TAX,RES" in table[0] and "ACC,CTL,TAX,RES" in table[1]
    assert "REJ" in table[4]
    assert (var_dir / "demo" / "journal.db").exists(), "the demo journals under GATEWAY_VAR_DIR"
    assert (var_dir / "keys" / "gateway.key").exists()
