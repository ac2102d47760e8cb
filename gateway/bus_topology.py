"""The RabbitMQ topology as data (``config/topology.toml``), independent of any client library.

Logical names in the file are prefixed with the deployment's ``GATEWAY_AMQP_PREFIX`` at run
time, so tests and parallel environments never share an exchange or a queue.

Every work queue is a durable **quorum** queue with a dead-letter exchange and an explicit
``x-delivery-limit`` (RabbitMQ 3.10 sets none by default, so a poison message would be
redelivered forever); the dead-letter exchange feeds a parking queue that keeps the original
body and the reason.

A queue whose messages must be taken in order whatever the number of gateway instances (the
AMQP intake of CD messages, the links to other administrations: a CD018C must not overtake its
CD006C) says ``single_active_consumer = true``: RabbitMQ delivers to one consumer at a time and
hands the queue to another when that one goes.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.errors import ConfigurationError


@dataclass(frozen=True)
class ExchangeSpec:
    name: str
    type: str = "topic"


@dataclass(frozen=True)
class QueueSpec:
    name: str
    bindings: tuple[tuple[str, str], ...]       # (exchange, binding key)
    dead_letter_exchange: str | None = None
    delivery_limit: int | None = None
    parking: bool = False
    single_active_consumer: bool = False      # one consumer at a time: order across instances

    def arguments(self, prefix: str) -> dict[str, Any]:
        args: dict[str, Any] = {"x-queue-type": "quorum"}
        if self.single_active_consumer:
            args["x-single-active-consumer"] = True
        if self.dead_letter_exchange:
            args["x-dead-letter-exchange"] = prefix + self.dead_letter_exchange
            args["x-dead-letter-routing-key"] = self.name
        if self.delivery_limit is not None:
            args["x-delivery-limit"] = self.delivery_limit
        return args


@dataclass(frozen=True)
class Topology:
    exchanges: tuple[ExchangeSpec, ...]
    queues: tuple[QueueSpec, ...]
    parking_exchange: str
    decisions_queue: str
    clearance_queue: str

    @classmethod
    def load(cls, config_file: Path) -> Topology:
        raw = tomllib.loads(config_file.read_text(encoding="utf-8"))
        try:
            exchanges = tuple(ExchangeSpec(e["name"], e.get("type", "topic"))
                              for e in raw["exchange"])
            queues = tuple(QueueSpec(
                name=q["name"],
                bindings=tuple((b["exchange"], b["key"]) for b in q.get("binding", [])),
                dead_letter_exchange=q.get("dead_letter_exchange"),
                delivery_limit=q.get("delivery_limit"),
                parking=bool(q.get("parking", False)),
                single_active_consumer=bool(q.get("single_active_consumer", False)),
            ) for q in raw["queue"])
            roles = raw["roles"]
            topology = cls(exchanges, queues, roles["parking_exchange"],
                           roles["decisions_queue"], roles["clearance_queue"])
        except KeyError as exc:
            raise ConfigurationError(f"{config_file}: missing {exc}") from exc
        topology.check()
        return topology

    def check(self) -> None:
        names = {e.name for e in self.exchanges}
        for queue in self.queues:
            for exchange, _ in queue.bindings:
                if exchange not in names:
                    raise ConfigurationError(f"queue {queue.name} binds to unknown {exchange}")
            if not queue.parking and queue.delivery_limit is None:
                raise ConfigurationError(f"queue {queue.name} needs an explicit delivery_limit")
        if self.parking_exchange not in names:
            raise ConfigurationError(f"parking exchange {self.parking_exchange} is not declared")
