"""Typed, frozen settings built once from the environment.

Nothing else in the code reads ``os.environ``; the command line and the tests build one
``Settings`` and pass it down. Deployment-specific values come from ``GATEWAY_*`` variables;
everything that varies by partner or format lives in files under ``config/``.

**The instance id** names one running gateway instance — ``gateway serve`` and every process
it starts (HTTP workers, the messaging process) — among the instances that may share a var
directory and a journal. It keys what an instance keeps for itself: its messaging heartbeat
(``var/messaging-<id>.json``, read by its own ``/readyz``), its metrics directory
(``var/prometheus/<id>/``, aggregated by its own ``/metrics``) and its lease owners in the
journal (``<id>:<pid>``). ``GATEWAY_INSTANCE_ID`` sets it (a short safe name: letters,
digits, ``.``, ``_``, ``-``; at most 48); otherwise every start gets a new one
(``<host>-<pid>-<random>``), which ``gateway serve`` hands to the processes it starts. Set it
yourself when you run ``gateway messaging`` apart from HTTP-only workers (both must agree),
and never give two running instances the same id.

**The deployment**: each national gateway is a deployment of its own (country, offices, keys,
partners, routes). The config tree ``config/`` (under ``GATEWAY_HOME``) holds everything; a
deployment's own files sit in a folder that ``GATEWAY_CONFIG_DIR`` names (e.g.
``deployments/rs/config``, relative to ``GATEWAY_HOME``), and each file found there replaces
the shared one of the same name (``Settings.config_file``): a second country is a folder of
data — its ``administration.toml``, ``partners.toml``, ``link.toml`` — and its own
``GATEWAY_COUNTRY``, ``GATEWAY_VAR_DIR`` and ``GATEWAY_AMQP_PREFIX``. Schemas, mappings and the
message-type registry stay shared. ``GATEWAY_LINK_<CC>_AMQP_URL`` and
``GATEWAY_LINK_<CC>_PREFIX`` say how to reach the administration of country ``CC`` (its broker
and its names; ``config/link.toml``).
"""

from __future__ import annotations

import os
import re
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from gateway.errors import ConfigurationError

PROJECT_HOME = Path(__file__).resolve().parents[1]
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
INSTANCE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,47}")
XSD_DIR_VARIABLE = re.compile(r"GATEWAY_[A-Z0-9_]+_XSD_DIR")
LINK_VARIABLE = re.compile(r"GATEWAY_LINK_[A-Z]{2}_(AMQP_URL|PREFIX)")


def checked_instance_id(value: str) -> str:
    """``value`` if it is a usable instance id, else ``ConfigurationError``."""
    if not INSTANCE_ID.fullmatch(value):
        raise ConfigurationError(
            f"GATEWAY_INSTANCE_ID must be 1-48 letters, digits, '.', '_' or '-' (starting with "
            f"a letter or digit), not {value!r}")
    return value


def new_instance_id() -> str:
    """A fresh id for one start of an instance: ``<host>-<pid>-<random>``."""
    host = re.sub(r"[^A-Za-z0-9-]+", "-", socket.gethostname().split(".")[0]).strip("-")
    return f"{(host or 'gw')[:24]}-{os.getpid()}-{secrets.token_hex(3)}"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the gateway needs to know about its deployment.

    ``instance_id`` names this running instance among those sharing a var directory and a
    journal (heartbeat, metrics directory, lease owners): see the module docstring.

    What one client may hold of a process (``adapters/http/``; a request past a limit is
    refused, the others carry on):

    * ``max_in_flight`` (``GATEWAY_MAX_IN_FLIGHT``, 64): submissions read and processed at
      once; ``max_in_flight_per_partner`` (``GATEWAY_MAX_IN_FLIGHT_PER_PARTNER``, 16) of them
      for one partner — beyond either, ``429`` + ``Retry-After``. A slot is taken only after
      the token and the content type were checked, and held while the body is read.
    * ``body_timeout_s`` (``GATEWAY_BODY_TIMEOUT_S``, 10) plus one second per
      ``body_min_bytes_per_s`` (``GATEWAY_BODY_MIN_BYTES_PER_S``, 64 KiB) received: the time
      a body may take to arrive; a slower sender gets ``408`` and the connection is closed.
    * ``max_header_bytes`` (``GATEWAY_MAX_HEADER_BYTES``, 32 KiB: request line and headers),
      ``max_headers`` (``GATEWAY_MAX_HEADERS``, 100) and ``header_timeout_s``
      (``GATEWAY_HEADER_TIMEOUT_S``, 10: from the request's first byte, or from the
      connection's opening, to the end of its headers): past them the server answers ``431``
      or ``408`` and closes the connection, before the application sees the request.
    """

    home: Path = PROJECT_HOME
    var_dir: Path = PROJECT_HOME / "var"
    amqp_url: str = DEFAULT_AMQP_URL
    db_url: str = ""
    amqp_prefix: str = ""
    instance_id: str = "gw-1"        # from_env: GATEWAY_INSTANCE_ID or a new one (see above)
    max_body_bytes: int = 16 * 1024 * 1024
    max_depth: int = 48
    max_elements: int = 250_000
    max_in_flight: int = 64          # submissions being processed per process; more get 429
    max_in_flight_per_partner: int = 16   # of those, for one partner (see above)
    body_timeout_s: float = 10.0
    body_min_bytes_per_s: int = 64 * 1024
    max_header_bytes: int = 32 * 1024
    max_headers: int = 100
    header_timeout_s: float = 10.0
    problem_cap: int = 25
    log_level: str = "info"
    push_max_attempts: int = 8
    public_url: str = ""
    country: str = "MK"
    agency: str = "Customs Administration"
    #: ``GATEWAY_<NAME>_XSD_DIR`` variables (e.g. ``GATEWAY_NCTS_XSD_DIR``): folders of schema
    #: packs the message-type registry may name (``directory_env``), as (variable, folder)
    xsd_dirs: tuple[tuple[str, str], ...] = ()
    #: the deployment's own config folder (``GATEWAY_CONFIG_DIR``): its files replace the
    #: shared ones of the same name (``config_file``); ``None``: the shared tree alone
    config_overlay: Path | None = None
    #: ``GATEWAY_LINK_<CC>_AMQP_URL`` / ``GATEWAY_LINK_<CC>_PREFIX`` variables, as (variable,
    #: value): how the customs link reaches the administration of country CC
    links: tuple[tuple[str, str], ...] = ()

    @property
    def config_dir(self) -> Path:
        """The shared config tree (message types, code lists …): see ``config_file``."""
        return self.home / "config"

    def config_file(self, name: str) -> Path:
        """The deployment's ``name`` (a path below ``config/``, e.g. ``partners.toml``): the
        one in ``config_overlay`` if it has it, else the shared one."""
        if self.config_overlay is not None and (self.config_overlay / name).is_file():
            return self.config_overlay / name
        return self.config_dir / name

    def link_setting(self, country: str, what: str) -> str | None:
        """``GATEWAY_LINK_<country>_<what>`` (``AMQP_URL`` or ``PREFIX``), if set."""
        return dict(self.links).get(f"GATEWAY_LINK_{country.upper()}_{what}")

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
        overlay = env.get("GATEWAY_CONFIG_DIR")
        base = cls(home=home, var_dir=var_dir,
                   config_overlay=(home / overlay).resolve() if overlay else None)
        if base.config_overlay is not None and not base.config_overlay.is_dir():
            raise ConfigurationError(f"GATEWAY_CONFIG_DIR names {base.config_overlay}, which is "
                                     "not a folder")
        return replace(
            base,
            amqp_url=env.get("GATEWAY_AMQP_URL", DEFAULT_AMQP_URL),
            db_url=env.get("GATEWAY_DB_URL", ""),
            amqp_prefix=env.get("GATEWAY_AMQP_PREFIX", ""),
            instance_id=checked_instance_id(stated) if (stated := env.get("GATEWAY_INSTANCE_ID"))
            else new_instance_id(),
            max_body_bytes=int(env.get("GATEWAY_MAX_BODY_BYTES", base.max_body_bytes)),
            max_depth=int(env.get("GATEWAY_MAX_DEPTH", base.max_depth)),
            max_elements=int(env.get("GATEWAY_MAX_ELEMENTS", base.max_elements)),
            max_in_flight=int(env.get("GATEWAY_MAX_IN_FLIGHT", base.max_in_flight)),
            max_in_flight_per_partner=int(env.get("GATEWAY_MAX_IN_FLIGHT_PER_PARTNER",
                                                  base.max_in_flight_per_partner)),
            body_timeout_s=float(env.get("GATEWAY_BODY_TIMEOUT_S", base.body_timeout_s)),
            body_min_bytes_per_s=int(env.get("GATEWAY_BODY_MIN_BYTES_PER_S",
                                             base.body_min_bytes_per_s)),
            max_header_bytes=int(env.get("GATEWAY_MAX_HEADER_BYTES", base.max_header_bytes)),
            max_headers=int(env.get("GATEWAY_MAX_HEADERS", base.max_headers)),
            header_timeout_s=float(env.get("GATEWAY_HEADER_TIMEOUT_S", base.header_timeout_s)),
            problem_cap=int(env.get("GATEWAY_PROBLEM_CAP", base.problem_cap)),
            log_level=env.get("GATEWAY_LOG_LEVEL", base.log_level),
            public_url=env.get("GATEWAY_PUBLIC_URL", ""),
            country=env.get("GATEWAY_COUNTRY", base.country),
            agency=env.get("GATEWAY_AGENCY", base.agency),
            xsd_dirs=tuple(sorted((k, v) for k, v in env.items()
                                  if XSD_DIR_VARIABLE.fullmatch(k) and v)),
            links=tuple(sorted((k, v) for k, v in env.items()
                               if LINK_VARIABLE.fullmatch(k) and v)),
        )
