"""Declare the configured RabbitMQ topology (idempotently) and name things with the prefix."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection

from gateway.bus_topology import Topology


class Names:
    """Logical names from ``config/`` -> the deployment's real names."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __call__(self, logical: str) -> str:
        return self.prefix + logical


async def connect(url: str, name: str) -> AbstractConnection:
    """A plain connection: callers own reconnection (one connection at a time, no hidden
    reconnect loop that could outlive a shutdown)."""
    return await aio_pika.connect(url, client_properties={"connection_name": name}, timeout=10)


async def declare(channel: AbstractChannel, topology: Topology, names: Names) -> None:
    """Exchanges (durable topic), quorum queues with DLX and delivery limit, bindings."""
    exchanges = {}
    for spec in topology.exchanges:
        exchanges[spec.name] = await channel.declare_exchange(
            names(spec.name), aio_pika.ExchangeType(spec.type), durable=True)
    for queue_spec in topology.queues:
        queue = await channel.declare_queue(
            names(queue_spec.name), durable=True, arguments=queue_spec.arguments(names.prefix))
        for exchange, key in queue_spec.bindings:
            await queue.bind(exchanges[exchange], key)


async def delete(channel: AbstractChannel, topology: Topology, names: Names) -> None:
    """Remove the topology's queues and exchanges under ``names`` (sandboxes, tests, bench)."""
    for queue_spec in topology.queues:
        await channel.queue_delete(names(queue_spec.name))
    for spec in topology.exchanges:
        await channel.exchange_delete(names(spec.name))


async def delete_prefixed(url: str, topology: Topology, prefix: str) -> None:
    connection = await connect(url, "gateway-topology-delete")
    async with connection:
        await delete(await connection.channel(), topology, Names(prefix))


def header_text(headers: Mapping[str, Any], name: str) -> str | None:
    value = headers.get(name)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value) if value is not None else None
