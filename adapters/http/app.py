"""The HTTP application: REST intake, SOAP, conversations, health, metrics, sandbox stand-ins.

Messages enter the gateway here (``rest.py`` for plain XML, ``soap.py`` for SOAP 1.1/1.2);
everything after the HTTP framing happens in ``gateway.pipeline``. In sandbox mode the app also
serves the stand-in partners that answer the gateway over HTTP: a broker's callback receiver
(``/sandbox/callbacks/…``), the demo bank's SOAP service (``/bank/…``) and the permit
agencies' quantity services (``/agency/<id>/…``).
"""

from __future__ import annotations

import gc
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response

from adapters.bootstrap import ALL, Gateway, build_gateway
from adapters.http import rest, soap
from adapters.http.admission import Admission
from adapters.http.request_guard import RequestGuard
from adapters.observability import configure_logging, flush_log_summaries
from gateway.settings import Settings


def create_app(gateway: Gateway, *, sandbox: bool = False,
               start_background: bool = True, role: str = ALL) -> FastAPI:
    """The app for one built gateway; background work starts with the server."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Everything built at start-up (schemas, mappings, keys) lives as long as the process:
        # keep it out of the cyclic garbage collector's full scans (shorter pauses).
        gc.freeze()
        if start_background:
            await gateway.start(sandbox=sandbox, role=role)
        try:
            yield
        finally:
            await gateway.stop()
            flush_log_summaries()      # a worker stopped by a signal never runs atexit

    app = FastAPI(title="Customs single-window gateway", lifespan=lifespan,
                  docs_url="/docs", redoc_url=None)
    app.state.gateway = gateway
    app.add_middleware(RequestGuard)       # one line per disconnect or failure, no tracebacks

    @app.get("/healthz")
    async def healthz() -> Response:
        return Response(json.dumps({"status": "ok"}), media_type="application/json")

    @app.get("/readyz")
    async def readyz() -> Response:
        state = gateway.readiness()
        return Response(json.dumps(state), status_code=200 if state["ready"] else 503,
                        media_type="application/json")

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(gateway.metrics.exposition(),
                        media_type="text/plain; version=0.0.4; charset=utf-8")

    _mount(app, gateway, sandbox)
    return app


def app_factory() -> FastAPI:
    """Entry point for ``uvicorn --factory`` (one call per worker process)."""
    settings = Settings.from_env()
    configure_logging(settings.log_level, capture_stderr=True)
    sandbox = os.environ.get("GATEWAY_SANDBOX") == "1"
    role = os.environ.get("GATEWAY_ROLE", ALL)
    return create_app(build_gateway(settings), sandbox=sandbox, role=role)


def _bank_standin(gateway: Gateway) -> Any:
    """The demo bank (a real SOAP server with WS-Security), its acknowledgements kept in a file
    of this sandbox, so that every worker lists what any of them received."""
    from adapters.standins.bank import BankStandIn
    from adapters.standins.bank_ledger import BankAcknowledgements, bank_ledger_path

    settings = gateway.settings
    return BankStandIn.from_settings(settings, settings.public_url, store=BankAcknowledgements(
        bank_ledger_path(settings.var_dir, settings.amqp_prefix)))


def _agency_standins(gateway: Gateway) -> Any:
    """The demo permit agencies (real SOAP servers with WS-Security), their register a file of
    this sandbox, shared by every worker (the quantities they are authoritative for)."""
    from adapters.standins.agency import AgencyStandIns
    from adapters.standins.agency_register import AgencyRegister, agency_register_path

    settings = gateway.settings
    register = AgencyRegister(agency_register_path(settings.var_dir, settings.amqp_prefix),
                              country=settings.country)
    agencies = [p.id for p in gateway.partners.partners.values() if p.kind == "agency"
                and (settings.keys_dir / f"{p.id}.key").is_file()]
    return AgencyStandIns.from_settings(settings, register, settings.public_url,
                                        agencies=agencies)


def _mount(app: FastAPI, gateway: Gateway, sandbox: bool) -> None:
    admission = Admission(gateway.settings.max_in_flight,      # shared by HTTP and SOAP
                          gateway.settings.max_in_flight_per_partner)
    app.state.admission = admission       # for operators' probes and the tests
    app.include_router(rest.router(gateway, admission))
    app.include_router(soap.router(gateway, admission))
    if sandbox:       # a broker's callback endpoint, the stand-in the sandbox partners use
        from adapters.standins import broker_callbacks

        app.include_router(broker_callbacks.router(
            gateway.partners, gateway.bus_key.certificate, gateway.limits))
        app.include_router(_bank_standin(gateway).router())    # the demo bank, under /bank/
        app.include_router(_agency_standins(gateway).router())  # the agencies, /agency/<id>/
