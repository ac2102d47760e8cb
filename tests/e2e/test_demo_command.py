"""``gateway demo`` as a user runs it: a subprocess, its own var directory and AMQP prefix."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import delete_prefixed

from adapters.deployments import neighbour
from gateway.settings import PROJECT_HOME, Settings

pytestmark = pytest.mark.e2e

GATEWAY = PROJECT_HOME / ".venv" / "bin" / "gateway"


@pytest.fixture
def neighbour_names_deleted(settings: Settings, tmp_path: Path) -> Iterator[None]:
    """After the demo, Serbia's gateway's names too (``<prefix>rs.``, as the demo derives
    them; the ``rabbitmq`` fixture deletes the demo's own)."""
    yield
    delete_prefixed(neighbour(settings, "RS", var_dir=tmp_path / "rs-names"))


def test_demo_command_runs_every_step_successfully(
        settings: Settings, rabbitmq: str, tmp_path: Path, neighbour_names_deleted: None) -> None:
    """``gateway demo`` exits 0 and reports ``18/18 steps did what they should``: the declaration
    flow, then flow F2 (duties, the bank's look-up and camt.054 over SOAP with WS-Security, the
    broker's PAY, the ACK at the bank, the release), then flow F3 (apples on a phytosanitary
    certificate and 6 t of steel on a 10 t licence reserved with the agencies, released and
    written off; 5 t more refused, insufficient quantity), then flow F4 (a transit movement MK -> RS
    across two gateways: CC015C, the AAR and ATR over the link, the crossing, the arrival, the
    arrival advice and control results back, the write-off)."""
    var_dir = tmp_path / "var"
    env = {**os.environ, "GATEWAY_VAR_DIR": str(var_dir),
           "GATEWAY_AMQP_PREFIX": settings.amqp_prefix, "GATEWAY_AMQP_URL": rabbitmq}
    env.pop("GATEWAY_DB_URL", None)
    done = subprocess.run([str(GATEWAY), "demo"], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "18/18 steps did what they should" in done.stdout, output
    table = [line for line in done.stdout.splitlines() if re.match(r"\d+ +\S", line)]
    assert len(table) == 18 and all(" OK (" in line for line in table), output
    assert "ACC,CTL,TAX,RES" in table[0] and "ACC,CTL,TAX,RES" in table[1]
    assert "REJ" in table[4]
    duties, look_up, camt, ack, release = table[5:10]
    reference = duties.split("; ")[-1].split()[0]
    assert reference.startswith("RF") and " MKD due" in duties, duties
    assert "valid, open," in look_up and "both signatures verified" in look_up
    assert "partly, matched; broker's PAY: paid" in camt and " soap12 " in camt
    assert "bank-demo received partly, matched" in ack
    assert release.rstrip().endswith(")") and "ACC,CTL,TAX,PAY" in release
    apples, steel, more = table[10:13]
    assert "ACC,CTL,TAX,RES" in apples and "agency-phyto" in apples and "written off" in apples
    assert "4.000 TNE left" in steel and "ACC,LIC,CTL,TAX" in more
    assert "insufficient-quantity: 4.000 t left" in more and "RES" not in more
    declared, records, crossing, arrival, written_off = table[13:]
    assert "CC928C,CC028C,CC029C" in declared and "CD001C,CD050C" in records
    assert "RS transit crossing_notified" in crossing and "CC025C" in arrival
    assert "MK departure written_off" in written_off and "CC045C" in written_off
    assert (var_dir / "demo" / "journal.db").exists(), "the demo journals under GATEWAY_VAR_DIR"
    assert (var_dir / "demo" / "rs" / "journal.db").exists(), "Serbia's deployment beside it"
    assert (var_dir / "keys" / "gateway.key").exists()
