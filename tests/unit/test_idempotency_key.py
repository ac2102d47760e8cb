"""The sender's idempotency key: at most 200 printable ASCII characters, refused, never cut."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from gateway.errors import RequestError
from gateway.idempotency import MAX_SENDER_KEY, sender_key
from gateway.pipeline.exchange import Exchange
from gateway.pipeline.steps import idempotency_key


def keyed(header: str | None, channel: str = "http", document_id: str | None = None) -> str:
    ex = Exchange(body=b"<x/>", channel=channel, idempotency_header=header)
    ex.message_type = SimpleNamespace(family="wco")      # type: ignore[assignment]
    ex.document_message_id, ex.document_digest = document_id, "d" * 64
    return idempotency_key(ex).idempotency_key


def test_sender_key_absent_or_blank_is_no_key() -> None:
    """No header, or only whitespace, leaves the key to the document digest."""
    assert sender_key(None, "http") is None and sender_key("  ", "http") is None
    assert keyed(None) == keyed(" ") == "digest:" + "d" * 64


def test_sender_key_of_200_characters_is_kept_whole() -> None:
    """Two 200-character keys differing in their last character stay two keys."""
    first, second = "k" * 199 + "a", "k" * 199 + "b"
    assert len(first) == MAX_SENDER_KEY
    assert keyed(f" {first} ") == f"hdr:{first}" != keyed(second)


@pytest.mark.parametrize("channel,pointer", [("http", "Idempotency-Key"),
                                             ("soap11", "/Envelope/Header/MessageID"),
                                             ("soap12", "/Envelope/Header/MessageID")])
def test_sender_key_over_200_characters_is_refused_where_it_was_read(
        channel: str, pointer: str) -> None:
    """A 201-character key is GW-IDEMPOTENCY-KEY, located at the header or the SOAP block."""
    with pytest.raises(RequestError) as refused:
        sender_key("k" * 201, channel)
    problem = refused.value.problems[0]
    assert (refused.value.code, refused.value.http_status) == ("GW-IDEMPOTENCY-KEY", 400)
    assert (problem.code, problem.pointer) == ("GW-IDEMPOTENCY-KEY", pointer)
    assert "201" in problem.message and problem.value and "201 characters" in problem.value


@pytest.mark.parametrize("key", ["a\tb", "a\x00b", "a\x7fb", "caf\u00e9", "\u0661"])
def test_sender_key_outside_printable_ascii_is_refused(key: str) -> None:
    """Control characters and characters outside ASCII are refused, shown escaped."""
    with pytest.raises(RequestError) as refused:
        sender_key(key, "http")
    assert refused.value.code == "GW-IDEMPOTENCY-KEY"
    assert refused.value.problems[0].value == repr(key)[1:-1]


def test_idempotency_step_refuses_a_bad_key_even_with_a_document_id() -> None:
    """A bad key is a bad request whether or not the document carries its own reference."""
    assert keyed("ok", document_id="LRN-1") == "doc:wco:LRN-1"
    with pytest.raises(RequestError):
        keyed("k" * 201, document_id="LRN-1")
