"""Content-based routing as data (``config/routes.toml``).

A route names a canonical kind and conditions on the message's routing attributes
(declaration type, procedure category, requested procedure, office, function code, source
format, partner); the first route whose conditions all hold gives the exchange and the routing
key (a template over the same attributes). A message that matches no route raises
``NoRoute`` — the intake parks it visibly instead of dropping it.

    [[route]]
    name = "import declarations to clearance"
    kind = "declaration"
    when = { procedure_category = ["IM"] }
    exchange = "customs.clearance"
    routing_key = "declaration.{procedure_category}.{office}"
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.errors import ConfigurationError, NoRoute

_FORMATTER = string.Formatter()


@dataclass(frozen=True)
class Destination:
    route: str
    exchange: str
    routing_key: str


@dataclass(frozen=True)
class Route:
    name: str
    kind: str
    when: Mapping[str, tuple[str, ...]]
    exchange: str
    routing_key: str

    def matches(self, kind: str, attributes: Mapping[str, str]) -> bool:
        if kind != self.kind:
            return False
        return all(_holds(attributes.get(key, ""), allowed) for key, allowed in self.when.items())

    def destination(self, attributes: Mapping[str, str]) -> Destination:
        key = self.routing_key.format_map(_Defaulting({k: v for k, v in attributes.items() if v}))
        return Destination(self.name, self.exchange, key)


class _Defaulting(dict[str, str]):
    def __missing__(self, key: str) -> str:   # missing or empty attribute
        return "none"


def _holds(value: str, allowed: tuple[str, ...]) -> bool:
    for pattern in allowed:
        if pattern == "*" or value == pattern:
            return True
        if pattern.endswith("*") and value.startswith(pattern[:-1]):
            return True
    return False


class RoutingTable:
    def __init__(self, routes: list[Route]) -> None:
        self.routes = routes

    @classmethod
    def load(cls, config_file: Path) -> RoutingTable:
        raw = tomllib.loads(config_file.read_text(encoding="utf-8"))
        return cls([_route(item) for item in raw.get("route", [])])

    def route_for(self, kind: str, attributes: Mapping[str, str]) -> Destination:
        for route in self.routes:
            if route.matches(kind, attributes):
                return route.destination(attributes)
        described = ", ".join(f"{k}={v}" for k, v in sorted(attributes.items()))
        raise NoRoute(f"no route for a {kind} with {described}",
                      context={"kind": kind, **attributes})


def _route(item: dict[str, Any]) -> Route:
    try:
        when = {k: tuple(v) if isinstance(v, list) else (str(v),)
                for k, v in item.get("when", {}).items()}
        for _, name, _, _ in _FORMATTER.parse(item["routing_key"]):
            if name is not None and not name.isidentifier():
                raise ConfigurationError(f"route {item['name']!r}: bad placeholder {name!r}")
        return Route(item["name"], item["kind"], when, item["exchange"], item["routing_key"])
    except KeyError as exc:
        raise ConfigurationError(f"route entry lacks {exc}") from exc
