"""Push delivery of signed notifications to partners' callback URLs, with retries.

The gateway runs in sandbox mode (the clearance stand-in decides for real) from a copy of the
configuration in which broker-alpha and broker-legacy have callback URLs pointing at small
HTTP servers run by the test. The push deliverer is the gateway's own, built with a short
back-off (``base_delay`` 0.05 s) so that retries take milliseconds.
"""

from __future__ import annotations

import functools
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import RunningGateway, start_gateway, wait_for
from lxml import etree

import adapters.bootstrap as bootstrap
from adapters.bootstrap import load_signing_key
from adapters.push import PushDeliverer
from gateway.errors import SignatureInvalid
from gateway.settings import Settings
from gateway.signing.keys import TrustStore
from gateway.signing.xmldsig import verify_enveloped
from samples.asycuda import build_sad
from samples.wco import build_dec

pytestmark = pytest.mark.integration

GW = "urn:customs-gateway:v1"
KINDS = ["ACC", "CTL", "TAX", "RES"]
# (notification id, attempt number starting at 1) -> (HTTP status, seconds to wait first)
Behaviour = Callable[[str, int], tuple[int, float]]


# --- a partner's callback endpoint ---------------------------------------------------------------


@dataclass
class Push:
    at: float
    headers: dict[str, str]
    body: bytes
    status: int


@dataclass
class CallbackServer:
    """A threaded HTTP server that answers pushes as ``behaviour`` says and records them."""

    behaviour: Behaviour
    pushes: list[Push] = field(default_factory=list)

    def __post_init__(self) -> None:
        owner = self
        self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                notification_id = self.headers.get("X-Notification-ID", "")
                with owner._lock:
                    attempt = 1 + sum(1 for p in owner.pushes
                                      if p.headers.get("x-notification-id") == notification_id)
                    status, delay = owner.behaviour(notification_id, attempt)
                    owner.pushes.append(Push(time.monotonic(), {
                        k.lower(): v for k, v in self.headers.items()}, body, status))
                if delay:
                    time.sleep(delay)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/callback"

    def snapshot(self) -> list[Push]:
        with self._lock:
            return list(self.pushes)

    def delivered(self) -> dict[str, Push]:
        """Notification id -> the successful push of it."""
        return {p.headers["x-notification-id"]: p for p in self.snapshot()
                if 200 <= p.status < 300}

    def attempts(self) -> dict[str, list[int]]:
        """Notification id -> the statuses answered to each attempt, in order."""
        out: dict[str, list[int]] = {}
        for push in self.snapshot():
            out.setdefault(push.headers["x-notification-id"], []).append(push.status)
        return out

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def callbacks() -> Iterator[Callable[[Behaviour], CallbackServer]]:
    """Make callback servers; all are shut down after the test."""
    made: list[CallbackServer] = []

    def make(behaviour: Behaviour) -> CallbackServer:
        made.append(CallbackServer(behaviour))
        return made[-1]

    yield make
    for server in made:
        server.close()


def succeed(notification_id: str, attempt: int) -> tuple[int, float]:
    return 204, 0.0


def fail_twice(notification_id: str, attempt: int) -> tuple[int, float]:
    return (500, 0.0) if attempt <= 2 else (204, 0.0)


def slow_failure(notification_id: str, attempt: int) -> tuple[int, float]:
    return 500, 1.0


# --- the gateway with callbacks that the test controls -------------------------------------------


@pytest.fixture
def fast_push(monkeypatch: pytest.MonkeyPatch) -> None:
    """The gateway's push deliverer retries after 0.05 s (doubling) and polls every 0.05 s."""
    monkeypatch.setattr(bootstrap, "PushDeliverer",
                        functools.partial(PushDeliverer, base_delay=0.05, idle_poll=0.05))


def _home_with_callbacks(tmp_path: Path, settings: Settings, alpha: str,
                         legacy: str | None = None) -> Path:
    home = tmp_path / "home"
    for part in ("config", "schemas", "mappings"):
        shutil.copytree(settings.home / part, home / part)
    partners = home / "config" / "partners.toml"
    text = partners.read_text(encoding="utf-8")
    original = 'callback_url = "{gateway_url}/sandbox/callbacks/broker-alpha"'
    assert original in text
    text = text.replace(original, f'callback_url = "{alpha}"')
    if legacy is not None:
        legacy_types = 'id = "broker-legacy"'
        start = text.index(legacy_types)
        line_end = text.index("\n", text.index("allowed_message_types", start))
        text = text[:line_end] + f'\ncallback_url = "{legacy}"' + text[line_end:]
    partners.write_text(text, encoding="utf-8")
    return home


@pytest.fixture
def start_sandbox(settings: Settings, rabbitmq: str, fast_push: None, tmp_path: Path,
                  callbacks: Any) -> Iterator[Callable[..., RunningGateway]]:
    """Start the sandbox gateway on a config copy with the given callback URLs; stop it after.

    (It depends on ``callbacks`` so that the gateway stops before the callback servers do.)
    """
    started: list[RunningGateway] = []

    def start(alpha: str, legacy: str | None = None, max_attempts: int = 5) -> RunningGateway:
        home = _home_with_callbacks(tmp_path, settings, alpha, legacy)
        started.append(start_gateway(settings.with_(home=home, push_max_attempts=max_attempts),
                                     sandbox=True))
        return started[-1]

    yield start
    for running in started:
        running.stop()


def _submit(running: RunningGateway, token: str, document: bytes) -> str:
    with running.client(token) as client:
        response = client.post("/v1/messages", content=document,
                               headers={"Content-Type": "application/xml"})
    assert response.status_code == 202, response.text
    return response.headers["X-Conversation-ID"]


def _wco() -> bytes:
    return build_dec(2, lrn=f"LRN-{uuid.uuid4().hex[:12].upper()}")


def _events(running: RunningGateway, conversation_id: str, kind: str) -> list[dict[str, Any]]:
    history = running.gateway.journal.conversation(conversation_id)["history"]
    return [e for e in history if e["event"] == kind]


# --- tests ---------------------------------------------------------------------------------------


def test_push_retries_failing_callback_until_delivered_exactly_once(
        start_sandbox: Callable[..., RunningGateway], callbacks: Any,
        tokens: dict[str, str]) -> None:
    """A callback failing twice (HTTP 500) gets each notification once successfully, 3rd try."""
    alpha = callbacks(fail_twice)
    running = start_sandbox(alpha.url)
    conversation_id = _submit(running, tokens["broker-alpha"], _wco())

    wait_for(lambda: len(alpha.delivered()) == 4, timeout=20)
    wait_for(lambda: len(_events(running, conversation_id, "push.delivered")) == 4)
    time.sleep(0.3)                                  # nothing more may arrive
    attempts = alpha.attempts()
    assert len(attempts) == 4
    assert all(statuses == [500, 500, 204] for statuses in attempts.values()), attempts
    notifications = running.gateway.journal.notifications(conversation_id)
    assert set(attempts) == {n.id for n in notifications}
    assert sorted(p.headers["x-notification-kind"] for p in alpha.delivered().values()) == \
        sorted(KINDS)
    assert {p.headers["x-conversation-id"] for p in alpha.snapshot()} == {conversation_id}
    delivered = _events(running, conversation_id, "push.delivered")
    assert sorted(e["seq"] for e in delivered) == [1, 2, 3, 4]
    assert all(e["attempts"] == 3 for e in delivered)
    assert _events(running, conversation_id, "push.failed") == []


def test_push_failing_callback_gives_up_without_blocking_other_partners(
        start_sandbox: Callable[..., RunningGateway], callbacks: Any,
        tokens: dict[str, str]) -> None:
    """A slow, always-failing callback ends push.failed; another partner is served meanwhile."""
    alpha = callbacks(slow_failure)
    legacy = callbacks(succeed)
    running = start_sandbox(alpha.url, legacy.url, max_attempts=3)

    alpha_conversation = _submit(running, tokens["broker-alpha"], _wco())
    wait_for(lambda: len(alpha.snapshot()) >= 1, timeout=20)       # alpha is being tried now
    started = time.monotonic()
    legacy_conversation = _submit(
        running, tokens["broker-legacy"],
        build_sad(2, reference=f"REF-{uuid.uuid4().hex[:10].upper()}"))
    wait_for(lambda: len(legacy.delivered()) == 4, timeout=20)
    legacy_seconds = time.monotonic() - started
    alpha_failed_meanwhile = len(_events(running, alpha_conversation, "push.failed"))

    assert legacy_seconds < 2.5, f"legacy's pushes took {legacy_seconds:.2f} s"
    assert alpha_failed_meanwhile < 4, "alpha's retries were still going on"
    assert {p.headers["x-conversation-id"] for p in legacy.snapshot()} == {legacy_conversation}
    assert all(statuses == [204] for statuses in legacy.attempts().values())

    wait_for(lambda: len(_events(running, alpha_conversation, "push.failed")) == 4, timeout=30)
    failed = _events(running, alpha_conversation, "push.failed")
    assert sorted(e["seq"] for e in failed) == [1, 2, 3, 4]
    assert all(e["attempts"] == 3 and e["error"] == "HTTP 500" for e in failed)
    assert _events(running, alpha_conversation, "push.delivered") == []
    time.sleep(0.3)
    attempts = alpha.attempts()
    assert len(attempts) == 4 and all(len(s) == 3 for s in attempts.values()), attempts
    # pull still works whatever happened to the pushes
    with running.client(tokens["broker-alpha"], Accept="application/json") as client:
        pulled = client.get(f"/v1/conversations/{alpha_conversation}/notifications").json()
    assert [n["kind"] for n in pulled["notifications"]] == KINDS


def test_push_bodies_are_the_signed_notification_documents(
        settings: Settings, start_sandbox: Callable[..., RunningGateway], callbacks: Any,
        tokens: dict[str, str]) -> None:
    """Every pushed body is the journal's notification, signed by the gateway, verifiable."""
    alpha = callbacks(succeed)
    running = start_sandbox(alpha.url)
    conversation_id = _submit(running, tokens["broker-alpha"], _wco())
    wait_for(lambda: len(alpha.delivered()) == 4, timeout=20)

    trust = TrustStore()
    trust.add("gateway", load_signing_key(settings, "gateway").certificate)
    documents = {n.id: n.document for n in running.gateway.journal.notifications(conversation_id)}
    for notification_id, push in alpha.delivered().items():
        assert push.body == documents[notification_id]
        assert push.headers["content-type"].startswith("application/xml")
        verified = verify_enveloped(etree.fromstring(push.body), trust, owner="gateway")
        assert verified.owner == "gateway"
        root = verified.element
        assert root.findtext(f"{{{GW}}}NotificationID") == notification_id
        assert root.findtext(f"{{{GW}}}ConversationID") == conversation_id
        assert root.findtext(f"{{{GW}}}Kind") == push.headers["x-notification-kind"]

    some = next(iter(alpha.delivered().values())).body
    tampered = etree.fromstring(some)
    tampered.find(f"{{{GW}}}ConversationID").text = uuid.uuid4().hex
    with pytest.raises(SignatureInvalid):
        verify_enveloped(tampered, trust, owner="gateway")


def test_push_partner_with_many_slow_pushes_does_not_starve_other_partners(
        start_sandbox: Callable[..., RunningGateway], callbacks: Any,
        tokens: dict[str, str]) -> None:
    """More slow pushes for one partner than the deliverer runs at once never delay another's."""
    def very_slow_failure(notification_id: str, attempt: int) -> tuple[int, float]:
        return 500, 2.5

    alpha = callbacks(very_slow_failure)
    legacy = callbacks(succeed)
    running = start_sandbox(alpha.url, legacy.url, max_attempts=2)
    for _ in range(9):                                  # 36 notifications for broker-alpha
        _submit(running, tokens["broker-alpha"], _wco())
    wait_for(lambda: len(alpha.snapshot()) >= 32, timeout=20)   # all of them hanging now

    started = time.monotonic()
    _submit(running, tokens["broker-legacy"],
            build_sad(2, reference=f"REF-{uuid.uuid4().hex[:10].upper()}"))
    wait_for(lambda: len(legacy.delivered()) == 4, timeout=20)
    legacy_seconds = time.monotonic() - started
    assert legacy_seconds < 1.5, \
        f"broker-legacy's pushes waited {legacy_seconds:.2f} s behind broker-alpha's slow callback"
