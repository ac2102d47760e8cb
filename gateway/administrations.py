"""Who this deployment is among customs administrations, and how it reaches the others.

Each national gateway is a deployment of its own (``gateway/settings.py``: ``GATEWAY_CONFIG_DIR``
names the folder of its own files). Two of them describe it for transit (flow F4):

``administration.toml`` — this administration: its ``country`` (must equal ``GATEWAY_COUNTRY``),
``name``, the ``partner_id`` the other administrations know it by (``customs-mk``), and its
customs ``offices`` (reference numbers, e.g. ``MK001005``: departure, transit, destination).

``link.toml`` — the customs-to-customs link (``adapters/amqp/link.py``). Signed CD messages for
another administration leave through the outbox to our exchange ``customs.link``, with routing
keys ``movement.<message type>.<country>`` (``link_routing_key``: ``movement.cd001c.rs``). For
each ``[[peer]]`` the link drains a queue of ours (``link.to.<country>``, bound to that peer's
keys) into the peer's incoming exchange (``customs.incoming`` under the peer's prefix, on the
peer's broker), each message confirmed there before it is acknowledged here — at least once.
The peer gateway's AMQP intake (``adapters/amqp/intake_consumer.py``) verifies, journals,
de-duplicates by message id and answers refusals back over its own link. How to reach a peer:
``amqp_url`` and ``prefix`` in the file, overridden per deployment by
``GATEWAY_LINK_<CC>_AMQP_URL`` and ``GATEWAY_LINK_<CC>_PREFIX`` (credentials belong in the
environment, not the file); with no URL at all the link to that peer is off and what waits for
it stays in its queue. A peer is also a partner (``partners.toml``: kind ``customs``, ``identity =
"signature"``, its certificates, the CD message types it may send).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.bus_topology import QueueSpec, Topology
from gateway.errors import ConfigurationError
from gateway.partners import SIGNATURE, Partner

LINK_EXCHANGE = "customs.link"                 # ours: CD messages leaving for another country
INCOMING_EXCHANGE = "customs.incoming"         # ours: other administrations' links publish here
INCOMING_QUEUE = "gateway.customs-incoming"    # ours: read by the AMQP intake
COUNTRY = re.compile(r"[A-Z]{2}")
OFFICE = re.compile(r"[A-Z]{2}[A-Z0-9]{6}")


def link_routing_key(message_type: str, country: str) -> str:
    """The routing key on ``customs.link`` of a ``message_type`` (``CD001C``) for the
    administration of ``country`` (``RS``): ``movement.cd001c.rs``."""
    return f"movement.{message_type.lower()}.{country.lower()}"


@dataclass(frozen=True)
class Administration:
    country: str
    name: str
    partner_id: str
    offices: tuple[str, ...]

    @property
    def sender(self) -> str:
        """What its NCTS messages name as ``messageSender``: ``NTA.<country>``."""
        return f"NTA.{self.country}"

    def has_office(self, reference: str | None) -> bool:
        return reference in self.offices

    @classmethod
    def load(cls, path: Path, *, country: str) -> Administration:
        """Read ``administration.toml``; ``country`` (``GATEWAY_COUNTRY``) must agree."""
        raw = _toml(path)
        try:
            administration = cls(str(raw["country"]), str(raw["name"]), str(raw["partner_id"]),
                                 tuple(str(o) for o in raw.get("offices", [])))
        except KeyError as exc:
            raise ConfigurationError(f"{path}: missing {exc}") from exc
        if not COUNTRY.fullmatch(administration.country):
            raise ConfigurationError(f"{path}: country must be two capital letters, not "
                                     f"{administration.country!r}")
        if administration.country != country:
            raise ConfigurationError(
                f"{path} describes the administration of {administration.country}, but "
                f"GATEWAY_COUNTRY is {country}: set GATEWAY_COUNTRY={administration.country} "
                "or point GATEWAY_CONFIG_DIR at this country's folder")
        wrong = [o for o in administration.offices
                 if not OFFICE.fullmatch(o) or not o.startswith(administration.country)]
        if wrong:
            raise ConfigurationError(f"{path}: offices must be reference numbers of "
                                     f"{administration.country} (e.g. "
                                     f"{administration.country}001005), not {wrong}")
        return administration


@dataclass(frozen=True)
class Peer:
    """Another administration the link delivers to."""

    partner: str                          # its id in partners.toml
    country: str
    routing_keys: tuple[str, ...]         # what, on our customs.link, goes to it
    amqp_url: str | None                  # its broker; None: the link to it is off
    prefix: str                           # its names' prefix (GATEWAY_AMQP_PREFIX over there)
    exchange: str = INCOMING_EXCHANGE     # its incoming exchange (logical, under its prefix)
    delivery_limit: int = 100             # of our link queue (each link outage counts one)

    @property
    def queue(self) -> str:
        """Our queue holding what waits for this administration."""
        return f"link.to.{self.country.lower()}"


@dataclass(frozen=True)
class LinkConfig:
    peers: tuple[Peer, ...] = ()

    def peer(self, country: str | None) -> Peer | None:
        return next((p for p in self.peers if p.country == country), None)

    def peer_of_partner(self, partner_id: str) -> Peer | None:
        return next((p for p in self.peers if p.partner == partner_id), None)

    def check_partners(self, partners: Mapping[str, Partner]) -> None:
        """Each peer is a partner: kind ``customs``, identity ``signature``, same country."""
        for peer in self.peers:
            partner = partners.get(peer.partner)
            if partner is None or partner.kind != "customs" or partner.identity != SIGNATURE \
                    or partner.country != peer.country:
                raise ConfigurationError(
                    f"link peer {peer.country} names partner {peer.partner!r}, which must be "
                    f"in partners.toml with kind = \"customs\", identity = \"signature\" and "
                    f"country = \"{peer.country}\"")

    def queue_specs(self, parking_exchange: str) -> tuple[QueueSpec, ...]:
        """One queue per peer, bound to its keys on ``customs.link`` (declared with the rest
        of the topology, so the relay never publishes a CD message before its queue exists)."""
        return tuple(QueueSpec(peer.queue, tuple((LINK_EXCHANGE, key)
                                                 for key in peer.routing_keys),
                               dead_letter_exchange=parking_exchange,
                               delivery_limit=peer.delivery_limit,
                               single_active_consumer=True)     # one link at a time, in order
                     for peer in self.peers)

    def with_topology(self, topology: Topology) -> Topology:
        """``topology`` plus the link queues (its exchanges must name ``customs.link``)."""
        if not self.peers:
            return topology
        extended = Topology(topology.exchanges,
                            topology.queues + self.queue_specs(topology.parking_exchange),
                            topology.parking_exchange, topology.decisions_queue,
                            topology.clearance_queue)
        extended.check()
        return extended

    @classmethod
    def load(cls, path: Path, *, setting: Callable[[str, str], str | None]) -> LinkConfig:
        """Read ``link.toml`` (missing: no peers); ``setting(country, "AMQP_URL" |
        "PREFIX")`` gives the deployment's overrides (``Settings.link_setting``). A peer
        whose broker neither says is kept (its queue holds what waits for it) but not
        linked: delivering is switched on by saying where, never by a default."""
        if not path.is_file():
            return cls()
        peers = []
        for item in _toml(path).get("peer", []):
            peers.append(_peer(path, item, setting))
        countries = [p.country for p in peers]
        if len(set(countries)) != len(countries):
            raise ConfigurationError(f"{path}: a country is listed twice among the peers")
        return cls(tuple(peers))


def _peer(path: Path, item: Mapping[str, Any],
          setting: Callable[[str, str], str | None]) -> Peer:
    try:
        country = str(item["country"])
        if not COUNTRY.fullmatch(country):
            raise ConfigurationError(f"{path}: peer country must be two capital letters, not "
                                     f"{country!r}")
        keys = item.get("routing_keys", [link_routing_key("*", country)])
        if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
            raise ConfigurationError(f"{path}: peer {country}: routing_keys must be a list of "
                                     "binding keys")
        limit = int(item.get("delivery_limit", 100))
        if limit < 1:
            raise ConfigurationError(f"{path}: peer {country}: delivery_limit must be >= 1")
        return Peer(
            partner=str(item["partner"]), country=country, routing_keys=tuple(keys),
            amqp_url=setting(country, "AMQP_URL") or str(item.get("amqp_url") or "") or None,
            prefix=_first(setting(country, "PREFIX"), str(item.get("prefix", ""))),
            exchange=str(item.get("exchange", INCOMING_EXCHANGE)), delivery_limit=limit)
    except KeyError as exc:
        raise ConfigurationError(f"{path}: a peer lacks {exc}") from exc


def _first(stated: str | None, default: str) -> str:
    return stated if stated is not None else default


def _toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path} is not valid TOML: {exc}") from exc
