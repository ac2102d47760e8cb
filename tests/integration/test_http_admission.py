"""Admission control: beyond the configured number of submissions in flight, ``429``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from conftest import RunningGateway, start_gateway, xmlsec1_verify
from http_helpers import REJECTION_NODE, XML_HEADERS, fields, gateway_cert, new_lrn, parse

from adapters.http.admission import Admission
from gateway.errors import TooBusy
from gateway.settings import Settings
from samples.wco import build_dec

pytestmark = pytest.mark.integration


def test_admission_refuses_beyond_limit_and_frees_its_slot() -> None:
    """A slot is refused with TooBusy while the limit is taken, and free again afterwards."""
    admission = Admission(1)
    with admission.slot("broker-alpha"):
        with pytest.raises(TooBusy) as refused, admission.slot("broker-beta"):
            pass
        assert refused.value.http_status == 429 and refused.value.retryable
    with admission.slot("broker-alpha"):
        assert admission.in_flight == 1
    assert admission.in_flight == 0


def test_submissions_beyond_the_limit_get_429_and_change_nothing(
        settings: Settings, rabbitmq: str, tokens: dict[str, str], tmp_path: Path) -> None:
    """With one submission allowed in flight, concurrent ones are answered 429 + Retry-After."""
    running: RunningGateway = start_gateway(settings.with_(max_in_flight=1))
    try:
        bodies = [build_dec(999, lrn=new_lrn()) for _ in range(4)]     # ~0.4 s of work each

        async def submit_all() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=running.base_url, timeout=60, headers={
                    "Authorization": f"Bearer {tokens['broker-alpha']}", **XML_HEADERS}) as c:
                return await asyncio.gather(*(c.post("/v1/messages", content=b)
                                              for b in bodies))

        responses = asyncio.run(submit_all())
        statuses = sorted(r.status_code for r in responses)
        assert 202 in statuses and 429 in statuses, statuses
        busy = next(r for r in responses if r.status_code == 429)
        assert busy.headers["Retry-After"] == "1"
        assert fields(parse(busy.content))["Code"] == "GW-BUSY"
        code, error = xmlsec1_verify(busy.content, gateway_cert(running), REJECTION_NODE,
                                     tmp_path)
        assert code == 0, error
        accepted = sum(r.status_code == 202 for r in responses)
        outbox = running.gateway.journal.outbox_counts()
        assert sum(outbox.values()) == accepted, "a 429 stores nothing"
    finally:
        running.stop()
