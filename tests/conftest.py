"""Shared fixtures.

Tiers: ``tests/unit`` (no network, fakes allowed), ``tests/integration`` (the real RabbitMQ at
``GATEWAY_AMQP_URL``, the real PostgreSQL at ``GATEWAY_TEST_PG_URL`` for the PostgreSQL journal,
and a real uvicorn server), ``tests/e2e`` (the whole gateway with the stand-in partners). A test
that needs a service **fails** when it is unreachable — it never skips. Every test uses its own
exchange/queue prefix and database schema and deletes what it created.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.local_server import (
    free_port,
    rabbitmq_reachable,
    serve_in_thread,
    wait_until_ready,
)
from gateway.settings import DEFAULT_AMQP_URL, PROJECT_HOME, Settings

ROOT = PROJECT_HOME
FIXTURES = ROOT / "tests" / "fixtures"

# The helper modules beside the tests assert too: have pytest rewrite their asserts like a test
# module's, so that a failing check in a helper shows the values it compared.
pytest.register_assert_rewrite("http_helpers", "soap_helpers", "decision_helpers",
                               "payment_helpers", "signing_helpers", "support")


def _formats_digest(settings: Settings) -> str:
    """SHA-256 of every file ``load_formats`` reads: the registry and licensing files, the
    schemas, the mappings and the code lists they name (``config/codelists``)."""
    import hashlib

    digest = hashlib.sha256()
    for name in ("message_types.toml", "licensing.toml"):
        digest.update(name.encode() + b"\0" + settings.config_file(name).read_bytes())
    for folder in (settings.schemas_dir, settings.mappings_dir, settings.config_dir / "codelists"):
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="session", autouse=True)
def formats_compiled_once() -> Iterator[None]:
    """Every gateway a test builds from the same registry, schemas and mappings — the shipped
    ones, or a test's copy of them — shares one compilation (about 0.4 s a build, some 450
    builds a run). The key is the content of every file compiled, so a test that changes one
    gets its own; a deployment pointing at an official schema pack is compiled as before.
    Sharing is safe across threads: mappings hold lxml XPath objects (locked per evaluation)
    and each schema validator its own lock."""
    import adapters.bootstrap as bootstrap

    original = bootstrap.load_formats
    compiled: dict[str, Any] = {}

    def load_formats(settings: Settings) -> Any:
        if settings.xsd_dirs:
            return original(settings)
        try:
            key = _formats_digest(settings)
        except OSError:
            return original(settings)          # let the real loader report what is missing
        if key not in compiled:
            compiled[key] = original(settings)
        return compiled[key]

    bootstrap.load_formats = load_formats
    yield
    bootstrap.load_formats = original


@pytest.fixture(scope="session")
def session_var(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A var directory with freshly generated keys and demo tokens for this test session."""
    from adapters.setup_keys import init_keys

    var_dir = tmp_path_factory.mktemp("var")
    init_keys(Settings(var_dir=var_dir))
    return var_dir


@pytest.fixture
def settings(session_var: Path, tmp_path: Path) -> Settings:
    """Settings for one test: session keys, a fresh journal, a unique AMQP prefix."""
    import os

    return Settings(
        var_dir=session_var,
        db_url=f"sqlite:///{tmp_path / 'journal.db'}",
        amqp_url=os.environ.get("GATEWAY_AMQP_URL", DEFAULT_AMQP_URL),
        amqp_prefix=f"t{uuid.uuid4().hex[:10]}.",
    )


@pytest.fixture(scope="session")
def tokens(session_var: Path) -> dict[str, str]:
    """Bearer tokens of the demo partners (broker-alpha, broker-legacy, bank-demo, clearance)."""
    return json.loads((session_var / "demo-tokens.json").read_text())


@pytest.fixture
def rabbitmq(settings: Settings) -> Iterator[str]:
    """The real RabbitMQ: fails the test if it is missing; deletes the test's names after."""
    if not rabbitmq_reachable(settings.amqp_url):
        pytest.fail(f"RabbitMQ is required at {settings.amqp_url} and is not reachable")
    yield settings.amqp_url
    delete_prefixed(settings)


def delete_prefixed(settings: Settings) -> None:
    """Delete the exchanges and queues of the configured topology under the test prefix (the
    deployment's link queues included)."""
    from adapters.amqp.topology import delete_prefixed as delete
    from adapters.bootstrap import load_topology

    asyncio.run(delete(settings.amqp_url, load_topology(settings), settings.amqp_prefix))


DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL of the real PostgreSQL (``GATEWAY_TEST_PG_URL``) with a schema of the test's own:
    fails the test if PostgreSQL is unreachable; drops the schema after."""
    import os

    import psycopg

    base = os.environ.get("GATEWAY_TEST_PG_URL", DEFAULT_POSTGRES_URL)
    try:
        psycopg.connect(base, connect_timeout=5).close()
    except psycopg.Error as exc:
        pytest.fail(f"PostgreSQL is required at {base} and is not reachable: {exc}")
    schema = f"t{uuid.uuid4().hex[:12]}"
    yield f"{base}{'&' if '?' in base else '?'}schema={schema}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute("SET lock_timeout = '10s'")     # fail, not hang, if a test left a lock
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@dataclass
class RunningGateway:
    """A real uvicorn server running the gateway in a background thread."""

    base_url: str
    gateway: Any
    settings: Settings
    server: Any
    thread: threading.Thread

    def client(self, token: str | None = None, **headers: str) -> httpx.Client:
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def start_gateway(settings: Settings, *, sandbox: bool = False,
                  wait_ready: bool = True) -> RunningGateway:
    """Build and serve a gateway on a free port; wait until it is ready (RabbitMQ connected)."""
    from adapters.bootstrap import build_gateway
    from adapters.http.app import create_app

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    gateway = build_gateway(settings, gateway_url=base)
    server, thread = serve_in_thread(create_app(gateway, sandbox=sandbox), port)
    running = RunningGateway(base, gateway, settings, server, thread)
    if wait_until_ready(base, path="/readyz" if wait_ready else "/healthz"):
        return running
    running.stop()
    raise RuntimeError(f"gateway at {base} did not become ready")


def module_gateway(session_var: Path, directory: Path, *, sandbox: bool = False
                   ) -> Iterator[RunningGateway]:
    """A gateway for a whole test module (its own journal in ``directory`` and its own AMQP
    names, deleted after): for modules whose tests change no configuration and look only at
    what they sent themselves. Use it from a module-scoped fixture."""
    import os

    module_settings = Settings(
        var_dir=session_var, db_url=f"sqlite:///{directory / 'journal.db'}",
        amqp_url=os.environ.get("GATEWAY_AMQP_URL", DEFAULT_AMQP_URL),
        amqp_prefix=f"t{uuid.uuid4().hex[:10]}.")
    if not rabbitmq_reachable(module_settings.amqp_url):
        pytest.fail(f"RabbitMQ is required at {module_settings.amqp_url} and is not reachable")
    running = start_gateway(module_settings, sandbox=sandbox)
    try:
        yield running
    finally:
        running.stop()
        delete_prefixed(module_settings)


@pytest.fixture
def gateway_server(settings: Settings, rabbitmq: str) -> Iterator[RunningGateway]:
    """The gateway alone (no stand-ins), served by uvicorn, connected to RabbitMQ."""
    running = start_gateway(settings)
    yield running
    running.stop()


@pytest.fixture
def sandbox_server(settings: Settings, rabbitmq: str) -> Iterator[RunningGateway]:
    """The gateway with the stand-in partners (clearance, broker callback receiver)."""
    running = start_gateway(settings, sandbox=True)
    yield running
    running.stop()


def wait_for(predicate: Any, timeout: float = 15.0, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout} s")


def xmlsec1_verify(document: bytes, cert_pem: Path, id_node: str, tmp_path: Path) -> tuple[
        int, str]:
    """Verify a signed document with the independent ``xmlsec1`` binary (must be installed)."""
    import subprocess

    binary = shutil.which("xmlsec1")
    if binary is None:
        pytest.fail("xmlsec1 is required (Debian package xmlsec1) and is not installed")
    path = tmp_path / f"signed-{uuid.uuid4().hex}.xml"
    path.write_bytes(document)
    done = subprocess.run(
        [binary, "--verify", "--trusted-pem", str(cert_pem), "--id-attr:Id", id_node,
         str(path)], capture_output=True, text=True, timeout=30)
    return done.returncode, done.stderr


def run(coro: Any) -> Any:
    return asyncio.run(coro)
