"""Admission control: a global limit and a share per partner, slots given back."""

from __future__ import annotations

import pytest

from adapters.http.admission import Admission
from gateway.errors import TooBusy
from gateway.settings import Settings


def test_admission_partner_beyond_its_share_is_refused_while_others_get_in() -> None:
    """A partner holding its share gets TooBusy; another partner still gets a slot."""
    admission = Admission(4, per_partner=2)
    with admission.slot("broker-alpha"), admission.slot("broker-alpha"):
        with pytest.raises(TooBusy) as refused, admission.slot("broker-alpha"):
            pass
        assert "broker-alpha" in refused.value.message and refused.value.http_status == 429
        with admission.slot("broker-legacy"):
            assert admission.by_partner == {"broker-alpha": 2, "broker-legacy": 1}
            assert admission.in_flight == 3


def test_admission_global_limit_refuses_every_partner() -> None:
    """Once the process-wide limit is taken, a partner below its share is refused too."""
    admission = Admission(2, per_partner=2)
    with admission.slot("a"), admission.slot("b"), pytest.raises(TooBusy), \
            admission.slot("c"):
        pass


def test_admission_slot_is_given_back_when_the_block_fails() -> None:
    """A slot is released even when the work inside it raises, and no partner count is left."""
    admission = Admission(2, per_partner=1)
    with pytest.raises(RuntimeError), admission.slot("broker-alpha"):
        raise RuntimeError("boom")
    assert (admission.in_flight, admission.by_partner) == (0, {})
    with admission.slot("broker-alpha"):
        assert admission.in_flight == 1


def test_admission_share_never_exceeds_the_limit() -> None:
    """A per-partner share above the global limit (or none) is the global limit."""
    assert Admission(8, per_partner=16).per_partner == 8
    assert Admission(8).per_partner == 8


def test_settings_read_the_client_limits_from_the_environment() -> None:
    """The admission share, body deadline and head limits come from GATEWAY_* variables."""
    settings = Settings.from_env({
        "GATEWAY_MAX_IN_FLIGHT_PER_PARTNER": "4", "GATEWAY_BODY_TIMEOUT_S": "2.5",
        "GATEWAY_BODY_MIN_BYTES_PER_S": "1000", "GATEWAY_MAX_HEADER_BYTES": "8192",
        "GATEWAY_MAX_HEADERS": "20", "GATEWAY_HEADER_TIMEOUT_S": "3"})
    assert (settings.max_in_flight_per_partner, settings.body_timeout_s,
            settings.body_min_bytes_per_s, settings.max_header_bytes, settings.max_headers,
            settings.header_timeout_s) == (4, 2.5, 1000, 8192, 20, 3.0)
    defaults = Settings.from_env({})
    assert (defaults.max_in_flight, defaults.max_in_flight_per_partner) == (64, 16)
