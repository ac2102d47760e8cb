"""Typed, frozen settings built once from the environment.

Nothing else in the code reads ``os.environ``; the command line and the tests build one
``Settings`` and pass it down. Deployment-specific values come from ``GATEWAY_*`` variables;
everything that varies by partner or format lives in files under ``config/``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

PROJECT_HOME = Path(__file__).resolve().parents[1]
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the gateway needs to know about its deployment."""

    home: Path = PROJECT_HOME
    var_dir: Path = PROJECT_HOME / "var"
    amqp_url: str = DEFAULT_AMQP_URL
    db_url: str = ""
    amqp_prefix: str = ""
    instance_id: str = "gw-1"
    max_body_bytes: int = 16 * 1024 * 1024
    max_depth: int = 48
    max_elements: int = 250_000
    max_in_flight: int = 64          # submissions being processed per process; more get 429
    problem_cap: int = 25
    log_level: str = "info"
    push_max_attempts: int = 8
    public_url: str = ""
    country: str = "MK"
    agency: str = "Customs Administration"

    @property
    def config_dir(self) -> Path:
        return self.home / "config"

    @property
    def schemas_dir(self) -> Path:
        return self.home / "schemas"

    @property
    def mappings_dir(self) -> Path:
        return self.home / "mappings"

    @property
    def keys_dir(self) -> Path:
        return self.var_dir / "keys"

    @property
    def credentials_path(self) -> Path:
        return self.var_dir / "credentials.toml"

    @property
    def journal_url(self) -> str:
        return self.db_url or f"sqlite:///{self.var_dir / 'journal.db'}"

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        home = Path(env.get("GATEWAY_HOME", str(PROJECT_HOME))).resolve()
        var_dir = Path(env.get("GATEWAY_VAR_DIR", str(home / "var"))).resolve()
        base = cls(home=home, var_dir=var_dir)
        return replace(
            base,
            amqp_url=env.get("GATEWAY_AMQP_URL", DEFAULT_AMQP_URL),
            db_url=env.get("GATEWAY_DB_URL", ""),
            amqp_prefix=env.get("GATEWAY_AMQP_PREFIX", ""),
            instance_id=env.get("GATEWAY_INSTANCE_ID", base.instance_id),
            max_body_bytes=int(env.get("GATEWAY_MAX_BODY_BYTES", base.max_body_bytes)),
            max_depth=int(env.get("GATEWAY_MAX_DEPTH", base.max_depth)),
            max_elements=int(env.get("GATEWAY_MAX_ELEMENTS", base.max_elements)),
            max_in_flight=int(env.get("GATEWAY_MAX_IN_FLIGHT", base.max_in_flight)),
            problem_cap=int(env.get("GATEWAY_PROBLEM_CAP", base.problem_cap)),
            log_level=env.get("GATEWAY_LOG_LEVEL", base.log_level),
            public_url=env.get("GATEWAY_PUBLIC_URL", ""),
            country=env.get("GATEWAY_COUNTRY", base.country),
            agency=env.get("GATEWAY_AGENCY", base.agency),
        )
