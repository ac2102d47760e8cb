"""``/healthz``, ``/readyz`` and ``/metrics`` against a real uvicorn server and the real RabbitMQ.

The probes answer as an orchestrator expects, and the Prometheus metrics count the intake
traffic by outcome after real requests.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from conftest import RunningGateway, wait_for
from http_helpers import XML_HEADERS, new_lrn
from prometheus_client.parser import text_string_to_metric_families

from samples.wco import build_dec

pytestmark = pytest.mark.integration


def metric_samples(text: str) -> list[Any]:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def metric_value(samples: list[Any], name: str, **labels: str) -> float:
    return sum(s.value for s in samples
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def test_healthz_answers_ok(gateway_server: RunningGateway) -> None:
    """``GET /healthz`` answers 200 while the process runs."""
    response = httpx.get(f"{gateway_server.base_url}/healthz", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_reports_journal_and_rabbitmq(gateway_server: RunningGateway) -> None:
    """``GET /readyz`` answers 200 with the journal and RabbitMQ both ready."""
    response = httpx.get(f"{gateway_server.base_url}/readyz", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"ready": True, "journal": True, "rabbitmq": True}


def test_metrics_count_traffic_by_outcome(
        gateway_server: RunningGateway, tokens: dict[str, str]) -> None:
    """``GET /metrics`` counts received, accepted, rejected (by code) and published messages."""
    with gateway_server.client(tokens["broker-alpha"]) as client:
        assert client.post("/v1/messages", content=build_dec(1, lrn=new_lrn()),
                           headers=XML_HEADERS).status_code == 202
        assert client.post("/v1/messages", content=b"<broken>",
                           headers=XML_HEADERS).status_code == 400
    wait_for(lambda: gateway_server.gateway.journal.outbox_counts() == {"sent": 1})

    response = httpx.get(f"{gateway_server.base_url}/metrics", timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'gateway_messages_accepted_total{message_type="wco-dec-3.6"} 1.0' in text
    samples = metric_samples(text)
    assert metric_value(samples, "gateway_messages_received_total", channel="http") == 2
    assert metric_value(samples, "gateway_messages_accepted_total",
                        message_type="wco-dec-3.6") == 1
    assert metric_value(samples, "gateway_messages_rejected_total",
                        code="GW-XML-MALFORMED") == 1
    assert metric_value(samples, "gateway_messages_published_total", kind="declaration",
                        message_type="wco-dec-3.6") == 1
    assert metric_value(samples, "gateway_intake_seconds_count", channel="http",
                        outcome="accepted") == 1
    assert metric_value(samples, "gateway_intake_seconds_count", channel="http",
                        outcome="rejected") == 1
    buckets = [s for s in samples if s.name == "gateway_intake_seconds_bucket"
               and s.labels.get("outcome") == "accepted"]
    assert buckets and buckets[-1].labels["le"] == "+Inf" and buckets[-1].value == 1
