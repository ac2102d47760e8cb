"""``config/events.toml``: the consumers of internal systems' events and each event's route."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.errors import ConfigurationError
from gateway.events.service import EventRoute


@dataclass(frozen=True)
class ConsumerSpec:
    name: str
    queue: str                          # logical queue name (config/topology.toml)
    default_event_type: str | None
    routes: tuple[EventRoute, ...]


def load_consumers(path: Path) -> list[ConsumerSpec]:
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    routes: dict[str, list[EventRoute]] = {}
    for item in raw.get("event", []):
        route, consumer = _route(item)
        routes.setdefault(consumer, []).append(route)
    consumers = []
    for item in raw.get("consumer", []):
        try:
            name, queue = item["name"], item["queue"]
        except KeyError as exc:
            raise ConfigurationError(f"{path.name}: a consumer lacks {exc}") from exc
        consumers.append(ConsumerSpec(name, queue, item.get("default_event_type"),
                                      tuple(routes.pop(name, []))))
    if routes:
        raise ConfigurationError(f"{path.name}: events name unknown consumer(s) "
                                 f"{', '.join(sorted(routes))}")
    return consumers


def _route(item: dict[str, Any]) -> tuple[EventRoute, str]:
    try:
        handlers = item["handlers"]
        if not isinstance(handlers, list) or not handlers:
            raise ConfigurationError(f"event {item.get('type')!r}: handlers must be a "
                                     f"non-empty list of handler names")
        return EventRoute(item["type"], item["signer"], tuple(handlers)), item["consumer"]
    except KeyError as exc:
        raise ConfigurationError(f"event {item.get('type')!r} lacks {exc}") from exc
