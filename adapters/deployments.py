"""Two national gateways on one machine: the demo's and the tests' second deployment.

A deployment is data (``gateway/settings.py``): its config folder, its country, its var
directory (keys, credentials, journal) and its RabbitMQ prefix. ``neighbour`` derives the
Serbian deployment shipped in ``deployments/rs/config`` from the North Macedonian one's settings
(same broker, same code, its own everything else); ``linked`` tells each of a pair where the
other's gateway is (``GATEWAY_LINK_<CC>_AMQP_URL`` / ``_PREFIX``: the other's broker — or a
proxy in front of it — and prefix), after ``link_demo_deployments`` made each trust the other's
gateway certificate. The same, by hand, for ``gateway serve``::

    GATEWAY_COUNTRY=RS GATEWAY_CONFIG_DIR=deployments/rs/config GATEWAY_VAR_DIR=var/rs \\
    GATEWAY_AMQP_PREFIX=rs. GATEWAY_LINK_MK_AMQP_URL=amqp://… GATEWAY_LINK_MK_PREFIX=mk. \\
    gateway serve --port 8081
"""

from __future__ import annotations

from pathlib import Path

from adapters.setup_keys import init_keys, link_demo_deployments
from gateway.settings import Settings

NEIGHBOUR_FOLDERS = {"RS": Path("deployments") / "rs" / "config"}


def neighbour(settings: Settings, country: str = "RS", *, var_dir: Path | None = None,
              prefix: str | None = None) -> Settings:
    """The deployment of ``country`` beside ``settings``'s: the same home and broker, its own
    config folder, var directory (``<var>/<cc>`` by default), journal and prefix."""
    code = country.lower()
    own_var = var_dir or settings.var_dir / code
    return settings.with_(
        country=country, config_overlay=(settings.home / NEIGHBOUR_FOLDERS[country]).resolve(),
        var_dir=own_var, db_url=f"sqlite:///{own_var / 'journal.db'}",
        amqp_prefix=prefix if prefix is not None else f"{settings.amqp_prefix}{code}.",
        instance_id=f"{settings.instance_id}-{code}"[:48], links=())


def linked(a: Settings, b: Settings, *, a_reaches_b: str | None = None,
           b_reaches_a: str | None = None) -> tuple[Settings, Settings]:
    """``a`` and ``b`` with keys set up, trusting each other, each knowing where the other is
    (its broker URL, or the URL given — a proxy, say — and its prefix)."""
    for deployment in (a, b):
        init_keys(deployment)
    link_demo_deployments([a, b])

    def reaching(own: Settings, other: Settings, url: str | None) -> Settings:
        code = other.country.upper()
        return own.with_(links=(*own.links, (f"GATEWAY_LINK_{code}_AMQP_URL",
                                             url or other.amqp_url),
                                (f"GATEWAY_LINK_{code}_PREFIX", other.amqp_prefix)))

    return reaching(a, b, a_reaches_b), reaching(b, a, b_reaches_a)
