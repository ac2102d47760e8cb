"""Slow and oversized clients cannot block intake (real uvicorn, raw sockets).

The attacks of the security review, run against a served gateway: connections that send a
body one byte a second (without a token, and with another partner's token), a sender slower
than the body deadline, bodies and request heads over their limits, and sender keys
(``Idempotency-Key``, ``wsa:MessageID``) over their maximum. Figures of the slow-body runs are
printed (``-s`` shows them).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import RunningGateway, start_gateway, wait_for
from http_helpers import (
    NS,
    XML_HEADERS,
    assert_signed_rejection,
    fields,
    new_lrn,
    parse,
)
from lxml import etree
from soap_helpers import (
    SOAP11,
    SOAP12,
    envelope,
    fault_rejection,
    headers_for,
    post_soap,
    rejection_code,
    submit,
)

from gateway.settings import Settings
from samples.wco import build_dec

pytestmark = pytest.mark.integration

WSA = "http://www.w3.org/2005/08/addressing"
SLOW_CONNECTIONS = 100


# --- raw HTTP over a socket ----------------------------------------------------------------


def address(running: RunningGateway) -> tuple[str, int]:
    host, port = running.base_url.removeprefix("http://").split(":")
    return host, int(port)


def request_head(path: str = "/v1/messages", token: str | None = None,
                 content_type: str = "application/xml", length: int | None = 100_000,
                 extra: str = "") -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: gateway.test", f"Content-Type: {content_type}"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    lines.append(f"Content-Length: {length}" if length is not None
                 else "Transfer-Encoding: chunked")
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode()


def read_until_closed(sock: socket.socket, timeout: float, trickle: bool = False) -> bytes:
    """Everything the server sends until it closes (``trickle``: a body byte every 0.1 s)."""
    received, deadline = b"", time.monotonic() + timeout
    sock.settimeout(0.1)
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            if trickle:
                with contextlib.suppress(OSError):
                    sock.send(b"<")
            continue
        except ConnectionResetError:
            break
        if not chunk:
            return received
        received += chunk
    pytest.fail(f"the server did not close the connection within {timeout} s: {received[:300]!r}")


def split_response(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
    return int(lines[0].split(" ", 2)[1]), headers, body


class SlowSenders:
    """``count`` connections that send a request head, then one body byte a second each;
    a connection the server answers or closes is counted and opened again at the next tick."""

    def __init__(self, running: RunningGateway, count: int, head: bytes) -> None:
        self.target, self.count, self.head = address(running), count, head
        self.opened = 0
        self.statuses: Counter[int] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slow-senders", daemon=True)

    def __enter__(self) -> SlowSenders:
        self._thread.start()
        wait_for(lambda: self.opened >= self.count, timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _open(self) -> socket.socket:
        sock = socket.create_connection(self.target, timeout=5)
        sock.sendall(self.head)
        sock.setblocking(False)
        self.opened += 1
        return sock

    def _run(self) -> None:
        socks = [self._open() for _ in range(self.count)]
        try:
            while not self._stop.wait(1.0):
                for i, sock in enumerate(socks):
                    if self._answered(sock):
                        sock.close()
                        socks[i] = self._open()
                        continue
                    try:
                        sock.send(b"<")
                    except OSError:
                        sock.close()
                        socks[i] = self._open()
        finally:
            for sock in socks:
                sock.close()

    def _answered(self, sock: socket.socket) -> bool:
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return False
        except OSError:
            return True
        if data.startswith(b"HTTP/1.1 "):
            self.statuses[int(data.split(b" ", 2)[1])] += 1
        return True


def submit_rest_and_soap(running: RunningGateway, token: str, rest: int, soap: int
                         ) -> Counter[int]:
    """``rest`` REST and ``soap`` SOAP (1.1 and 1.2 in turn) declarations, distinct LRNs."""
    statuses: Counter[int] = Counter()
    with running.client(token) as client:
        for _ in range(rest):
            response = client.post("/v1/messages", content=build_dec(1, lrn=new_lrn()),
                                   headers=XML_HEADERS)
            statuses[response.status_code] += 1
    for i in range(soap):
        version, namespace = ("soap11", SOAP11) if i % 2 == 0 else ("soap12", SOAP12)
        response = post_soap(running, envelope(namespace, submit(build_dec(1, lrn=new_lrn()))),
                             headers_for(version, token))
        statuses[response.status_code] += 1
    return statuses


def admission_of(running: RunningGateway) -> Any:
    return running.server.config.app.state.admission


# --- slow bodies ---------------------------------------------------------------------------


def test_slow_bodies_without_token_do_not_block_submissions(
        gateway_server: RunningGateway, tokens: dict[str, str]) -> None:
    """A hundred tokenless connections trickling a body get 401 at once, hold no slot, and
    broker-alpha's REST and SOAP submissions are accepted meanwhile."""
    admission = admission_of(gateway_server)
    with SlowSenders(gateway_server, SLOW_CONNECTIONS, request_head()) as attack:
        time.sleep(1.5)                      # every connection has trickled a byte or two
        held = admission.in_flight
        statuses = submit_rest_and_soap(gateway_server, tokens["broker-alpha"], 8, 4)
    print(f"\nslow tokenless bodies: {attack.opened} connections opened, answers "
          f"{dict(attack.statuses)}; broker-alpha meanwhile: {dict(statuses)}")
    assert held == 0, "a tokenless connection holds an admission slot"
    assert statuses == Counter({202: 8, 200: 4}), statuses
    assert attack.statuses[401] >= SLOW_CONNECTIONS and set(attack.statuses) == {401}


def test_slow_bodies_of_one_partner_hold_only_its_share(
        gateway_server: RunningGateway, tokens: dict[str, str]) -> None:
    """A hundred slow uploads with broker-legacy's token hold its 16 slots, no more; the rest
    get 429 and broker-alpha's submissions are accepted meanwhile."""
    admission = admission_of(gateway_server)
    share = gateway_server.settings.max_in_flight_per_partner
    head = request_head(token=tokens["broker-legacy"])
    with SlowSenders(gateway_server, SLOW_CONNECTIONS, head) as attack:
        wait_for(lambda: admission.by_partner.get("broker-legacy") == share)
        time.sleep(1.5)
        held = dict(admission.by_partner)
        statuses = submit_rest_and_soap(gateway_server, tokens["broker-alpha"], 8, 4)
    print(f"\nslow bodies of broker-legacy: {attack.opened} connections opened, answers "
          f"{dict(attack.statuses)}, slots held {held}; broker-alpha meanwhile: "
          f"{dict(statuses)}")
    assert held == {"broker-legacy": share}
    assert statuses == Counter({202: 8, 200: 4}), statuses
    assert attack.statuses[429] >= SLOW_CONNECTIONS - share
    wait_for(lambda: admission.in_flight == 0)      # the uploads went away: slots are free


@pytest.fixture
def short_deadline_gateway(settings: Settings, rabbitmq: str) -> Iterator[RunningGateway]:
    """A gateway whose bodies must arrive within one second."""
    running = start_gateway(settings.with_(body_timeout_s=1.0))
    yield running
    running.stop()


@pytest.mark.parametrize("channel", ["rest", "soap11"])
def test_slow_authenticated_sender_gets_408_and_is_disconnected(
        short_deadline_gateway: RunningGateway, tokens: dict[str, str], channel: str) -> None:
    """A partner trickling its body past the deadline gets a signed 408 and the connection is
    closed; its slot is free again."""
    token = tokens["broker-alpha"]
    head = request_head(token=token, length=5000) if channel == "rest" else request_head(
        "/soap", token, "text/xml; charset=utf-8", 5000,
        extra='SOAPAction: "urn:customs-gateway:v1:SubmitDeclaration"\r\n')
    started = time.monotonic()
    with socket.create_connection(address(short_deadline_gateway), timeout=5) as sock:
        sock.sendall(head + b"<")
        raw = read_until_closed(sock, timeout=6, trickle=True)
    elapsed = time.monotonic() - started
    status, headers, body = split_response(raw)
    assert status == 408, raw[:500]
    assert headers["connection"] == "close"
    assert 0.9 <= elapsed < 3.0, elapsed
    document = parse(body)
    rejection = document if channel == "rest" else document.find(
        f".//{{{NS['gw']}}}Rejection")
    assert rejection.findtext("gw:Code", namespaces=NS) == "GW-BODY-TIMEOUT"
    assert admission_of(short_deadline_gateway).in_flight == 0


# --- bodies over the limit -----------------------------------------------------------------


@pytest.fixture
def small_limit_gateway(settings: Settings, rabbitmq: str) -> Iterator[RunningGateway]:
    """A gateway that takes bodies of at most 2000 bytes."""
    running = start_gateway(settings.with_(max_body_bytes=2000))
    yield running
    running.stop()


@pytest.mark.parametrize("path,content_type", [("/v1/messages", "application/xml"),
                                               ("/soap", "text/xml")])
def test_declared_length_over_limit_is_refused_before_the_body(
        small_limit_gateway: RunningGateway, tokens: dict[str, str], path: str,
        content_type: str) -> None:
    """A Content-Length over the limit gets 413 with Connection: close before any body byte
    is sent."""
    head = request_head(path, tokens["broker-alpha"], content_type, 10_000_000)
    started = time.monotonic()
    with socket.create_connection(address(small_limit_gateway), timeout=5) as sock:
        sock.sendall(head)                         # no body at all
        raw = read_until_closed(sock, timeout=3)
    status, headers, body = split_response(raw)
    assert (status, headers["connection"]) == (413, "close"), raw[:500]
    assert time.monotonic() - started < 2
    assert b"GW-SIZE-LIMIT" in body


def test_chunked_body_over_limit_is_refused_without_waiting_for_the_rest(
        small_limit_gateway: RunningGateway, tokens: dict[str, str]) -> None:
    """A chunked body that passes the limit gets 413 with Connection: close at once, while
    the rest of its (announced 10 MB) body has not been sent."""
    head = request_head(token=tokens["broker-alpha"], length=None)
    chunk = b"<" * 3000
    started = time.monotonic()
    with socket.create_connection(address(small_limit_gateway), timeout=5) as sock:
        sock.sendall(head + b"%x\r\n" % len(chunk) + chunk + b"\r\n")    # never finished
        raw = read_until_closed(sock, timeout=3)
    status, headers, body = split_response(raw)
    assert (status, headers["connection"]) == (413, "close"), raw[:500]
    assert time.monotonic() - started < 2
    assert b"GW-SIZE-LIMIT" in body


def test_early_answer_reaches_a_client_still_sending_its_body(
        small_limit_gateway: RunningGateway, tokens: dict[str, str]) -> None:
    """A 401, 413 or 429 given before a 3 MB body was read reaches the client that is still
    sending it (lingering close), instead of a connection reset."""
    body = b"<" * (3 * 1024 * 1024)

    async def post_all() -> list[int | str]:
        async with httpx.AsyncClient(base_url=small_limit_gateway.base_url, timeout=30) as c:
            answers = await asyncio.gather(*(c.post(
                "/v1/messages", content=body,
                headers={**XML_HEADERS, **({"Authorization": f"Bearer {tokens['broker-alpha']}"}
                                           if i % 2 else {})}) for i in range(16)),
                return_exceptions=True)
        return [a.status_code if isinstance(a, httpx.Response) else type(a).__name__
                for a in answers]

    statuses = asyncio.run(post_all())
    assert statuses == [401, 413] * 8, statuses


def test_invalid_content_length_is_refused(gateway_server: RunningGateway,
                                           tokens: dict[str, str]) -> None:
    """A Content-Length that is not plain ASCII digits never reaches the body reader."""
    head = request_head(token=tokens["broker-alpha"], length=None).replace(
        b"Transfer-Encoding: chunked", "Content-Length: \u0661\u0662".encode())
    with socket.create_connection(address(gateway_server), timeout=5) as sock:
        sock.sendall(head)
        raw = read_until_closed(sock, timeout=3)
    assert split_response(raw)[0] == 400, raw[:300]


# --- request heads -------------------------------------------------------------------------


def test_32_mib_header_is_refused_and_the_server_keeps_serving(
        gateway_server: RunningGateway) -> None:
    """A 32 MiB header is answered 431 (or the connection closed) long before it is all sent,
    and the server answers the next request."""
    total, sent, answer = 32 * 1024 * 1024, 0, b""
    piece = b"a" * (256 * 1024)
    with socket.create_connection(address(gateway_server), timeout=5) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway.test\r\nX-Big: ")
        try:
            while sent < total:
                sock.sendall(piece)
                sent += len(piece)
        except OSError:
            pass                                # the server closed: what we expect
        with contextlib.suppress(OSError):
            answer = read_until_closed(sock, timeout=5)
    print(f"\n32 MiB header: refused after {sent:,} bytes were handed to the socket; "
          f"answer {answer[:40]!r}")
    assert sent < total, "the server read a 32 MiB header to the end"
    assert answer == b"" or split_response(answer)[0] == 431
    assert httpx.get(f"{gateway_server.base_url}/healthz", timeout=5).status_code == 200


def test_head_over_the_limit_in_one_write_is_refused_with_431(
        gateway_server: RunningGateway) -> None:
    """A head just over ``max_header_bytes``, arriving at once, gets 431; one under it passes."""
    limit = gateway_server.settings.max_header_bytes
    with socket.create_connection(address(gateway_server), timeout=5) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway.test\r\nX-Big: "
                     + b"a" * limit + b"\r\n\r\n")
        raw = read_until_closed(sock, timeout=3)
    assert split_response(raw)[0] == 431, raw[:300]
    under = httpx.get(f"{gateway_server.base_url}/healthz", headers={"X-Big": "a" * (limit - 500)})
    assert under.status_code == 200


def test_too_many_headers_are_refused_with_431(gateway_server: RunningGateway) -> None:
    """More header fields than ``max_headers`` get 431 and a closed connection."""
    many = "".join(f"X-Field-{i}: {i}\r\n" for i in range(gateway_server.settings.max_headers + 1))
    with socket.create_connection(address(gateway_server), timeout=5) as sock:
        sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: gateway.test\r\n{many}\r\n".encode())
        raw = read_until_closed(sock, timeout=3)
    assert split_response(raw)[0] == 431, raw[:300]
    fewer = {f"X-Field-{i}": str(i) for i in range(50)}
    assert httpx.get(f"{gateway_server.base_url}/healthz", headers=fewer).status_code == 200


def test_slow_request_head_and_silent_connection_are_closed(
        settings: Settings, rabbitmq: str) -> None:
    """A head not complete within header_timeout_s gets 408; a connection that sends nothing
    is closed after the same time."""
    running = start_gateway(settings.with_(header_timeout_s=0.5))
    try:
        with socket.create_connection(address(running), timeout=5) as slow, \
                socket.create_connection(address(running), timeout=5) as silent:
            started = time.monotonic()
            slow.sendall(b"POST /v1/messages HTTP/1.1\r\nHost: gateway.test\r\n")
            slow_answer = read_until_closed(slow, timeout=3)
            silent_answer = read_until_closed(silent, timeout=3)
            elapsed = time.monotonic() - started
    finally:
        running.stop()
    assert split_response(slow_answer)[0] == 408, slow_answer[:300]
    assert silent_answer == b""
    assert elapsed < 2.0, elapsed


# --- what is checked before a slot ---------------------------------------------------------


def test_refusals_before_the_body_never_ask_admission(
        gateway_server: RunningGateway, tokens: dict[str, str]) -> None:
    """No token, a wrong content type or a bad Idempotency-Key is answered (REST and SOAP)
    without asking for a slot — a 401 even before the body is sent; a valid one asks once."""
    admission = admission_of(gateway_server)
    asked: list[str] = []
    original = admission.slot

    def recording(partner_id: str) -> Any:
        asked.append(partner_id)
        return original(partner_id)

    admission.slot = recording
    token, body = tokens["broker-alpha"], build_dec(1, lrn=new_lrn())
    soap = envelope(SOAP11, submit(body))
    refused = [
        httpx.post(f"{gateway_server.base_url}/v1/messages", content=body, headers=XML_HEADERS),
        httpx.post(f"{gateway_server.base_url}/v1/messages", content=body, headers={
            "Authorization": f"Bearer {token}", "Content-Type": "text/plain"}),
        httpx.post(f"{gateway_server.base_url}/v1/messages", content=body, headers={
            "Authorization": f"Bearer {token}", **XML_HEADERS, "Idempotency-Key": "k" * 201}),
        post_soap(gateway_server, soap, headers_for("soap11", None)),
        post_soap(gateway_server, soap, {**headers_for("soap11", token),
                                         "Content-Type": "text/plain"}),
    ]
    with socket.create_connection(address(gateway_server), timeout=5) as sock:
        sock.sendall(request_head(length=1000))    # a body is announced, never sent
        early = read_until_closed(sock, timeout=3)
    assert [r.status_code for r in refused] == [401, 415, 400, 401, 415]
    assert all(r.headers["connection"] == "close" for r in refused)
    assert split_response(early)[0] == 401
    assert asked == []
    with gateway_server.client(token) as client:
        assert client.post("/v1/messages", content=body, headers=XML_HEADERS).status_code == 202
    assert asked == ["broker-alpha"]


# --- sender keys ---------------------------------------------------------------------------


@pytest.mark.parametrize("key,why", [("k" * 201, "201 characters"),
                                     ("abc\tdef", "a control character")])
def test_bad_idempotency_key_is_refused_with_its_location(
        gateway_server: RunningGateway, tokens: dict[str, str], tmp_path: Any, key: str,
        why: str) -> None:
    """An Idempotency-Key over 200 characters or with a control character gets a signed 400
    pointing at the header, and nothing is stored."""
    with gateway_server.client(tokens["broker-alpha"]) as client:
        response = client.post("/v1/messages", content=build_dec(1, lrn=new_lrn()),
                               headers={**XML_HEADERS, "Idempotency-Key": key})
    root = assert_signed_rejection(response, gateway_server, tmp_path, 400,
                                   "GW-IDEMPOTENCY-KEY")
    problem = fields(root.find("gw:Problems/gw:Problem", NS))
    assert (problem["Code"], problem["Pointer"]) == ("GW-IDEMPOTENCY-KEY", "Idempotency-Key")
    assert gateway_server.gateway.journal.outbox_counts() == {}


def test_idempotency_key_of_200_characters_is_used_whole(
        gateway_server: RunningGateway, tokens: dict[str, str]) -> None:
    """A key of exactly 200 printable characters is accepted and kept whole, not cut."""
    key = "K" * 199 + "~"
    with gateway_server.client(tokens["broker-alpha"]) as client:
        response = client.post("/v1/messages", content=build_dec(1, lrn=new_lrn()),
                               headers={**XML_HEADERS, "Idempotency-Key": key})
    assert response.status_code == 202, response.text


@pytest.mark.parametrize("message_id", ["urn:uuid:" + "1" * 192, "urn:caf\u00e9"])
@pytest.mark.parametrize("version", ["soap11", "soap12"])
def test_bad_ws_addressing_message_id_is_refused_with_its_location(
        gateway_server: RunningGateway, tokens: dict[str, str], version: str,
        message_id: str) -> None:
    """A wsa:MessageID over 200 characters or outside printable ASCII is a fault carrying
    GW-IDEMPOTENCY-KEY located at the header block."""
    namespace = SOAP11 if version == "soap11" else SOAP12
    header = f'<wsa:MessageID xmlns:wsa="{WSA}">{message_id}</wsa:MessageID>'.encode()
    response = post_soap(gateway_server, envelope(namespace, submit(build_dec(
        1, lrn=new_lrn())), header), headers_for(version, tokens["broker-alpha"]))
    assert response.status_code == (500 if version == "soap11" else 400), response.text
    rejection = fault_rejection(response, version)
    assert rejection_code(rejection) == "GW-IDEMPOTENCY-KEY"
    problem = rejection.find("gw:Problems/gw:Problem", NS)
    assert problem.findtext("gw:Pointer", namespaces=NS) == "/Envelope/Header/MessageID"
    assert etree.QName(rejection).localname == "Rejection"
