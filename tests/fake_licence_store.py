"""An in-memory fake of the licences store (``gateway.flows.licences.store``) — unit tests only.

``FakeLicenceStore`` plays the ``licences`` flow store for ``tests.fakes.FakeJournal``
(``journal.flows["licences"] = FakeLicenceStore()``): ``bind(tx)`` gives the store inside a
``FakeTransaction`` and ``reader()`` the read-only side. Rules mirrored from
``adapters/store/licence_store.py``:

* one licence per ``(agency, number)``: ``insert`` of a known one writes nothing and returns
  ``False``;
* one version record per ``(agency, number, version, status)``: ``add_version`` of a recorded
  one writes nothing and returns ``False``;
* lines come back in line-number order; writes are seen by the same transaction at once and by
  everybody else only when it commits (``tx.later``).

* reservations (``gateway/flows/licences/reservations.py``): one request per (conversation,
  item, agency, number) and one reservation per (agency, number, mrn, item) — a known key
  writes nothing (``False``, or not counted); requests and reservations come back in
  (agency, number, item) order; ``claim_calls`` leases what is due at ``now`` and not leased;
  a line's balance is replaced only by a newer revision.

Nothing is held or locked: unit tests run one transaction at a time. ``created_elsewhere``
plays a concurrent transaction that creates a licence between this one's ``hold`` and its
``insert`` (what ``INSERT … ON CONFLICT DO NOTHING`` guards against on PostgreSQL);
``reserved_elsewhere`` one that adds a reservation between this one's look and its insert.
``held`` lists the licences held, in order (the lock order the decisions keep).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from gateway.flows.licences.reservations import LineBalance, Reservation, ReservationRequest
from gateway.flows.licences.store import LicenceState, LicenceVersion, lines_of

Key = tuple[str, str]
RKey = tuple[str, str, str, int]


@dataclass
class FakeLicenceStore:
    name: str = "licences"
    licences: dict[Key, LicenceState] = field(default_factory=dict)
    versions: list[LicenceVersion] = field(default_factory=list)
    created_elsewhere: dict[Key, LicenceState] = field(default_factory=dict)
    requests: dict[tuple[str, int, str, str], ReservationRequest] = field(default_factory=dict)
    reservations: dict[RKey, Reservation] = field(default_factory=dict)
    balances: dict[tuple[str, str, int], LineBalance] = field(default_factory=dict)
    reserved_elsewhere: dict[RKey, Reservation] = field(default_factory=dict)
    held: list[Key] = field(default_factory=list)

    def bind(self, tx: Any) -> FakeBoundLicenceStore:
        bound = FakeBoundLicenceStore(self)
        tx.later(bound.commit)
        return bound

    def reader(self) -> FakeLicenceReader:
        return FakeLicenceReader(self)


class FakeBoundLicenceStore:
    """The store inside one fake transaction: own writes first, then the committed state."""

    def __init__(self, store: FakeLicenceStore) -> None:
        self.store = store
        self.licences: dict[Key, LicenceState] = {}
        self.versions: list[LicenceVersion] = []
        self.requests_: dict[tuple[str, int, str, str], ReservationRequest] = {}
        self.reservations: dict[RKey, Reservation] = {}
        self.balances: dict[tuple[str, str, int], LineBalance] = {}

    def commit(self) -> None:
        self.store.licences.update(self.licences)
        self.store.versions.extend(self.versions)
        self.store.requests.update(self.requests_)
        self.store.reservations.update(self.reservations)
        self.store.balances.update(self.balances)

    def _known(self, key: Key) -> LicenceState | None:
        return self.licences.get(key) or self.store.licences.get(key)

    def hold(self, agency: str, number: str) -> LicenceState | None:
        self.store.held.append((agency, number))
        return self._known((agency, number))

    def insert(self, licence: LicenceState) -> bool:
        key = (licence.agency, licence.number)
        twin = self.store.created_elsewhere.pop(key, None)
        if twin is not None:                       # the other transaction committed first
            self.store.licences[key] = twin
            return False
        if self._known(key) is not None:
            return False
        self.licences[key] = replace(licence, lines=lines_of(licence.lines))
        return True

    def replace(self, licence: LicenceState) -> None:
        self.licences[(licence.agency, licence.number)] = replace(
            licence, lines=lines_of(licence.lines))

    def add_version(self, version: LicenceVersion) -> bool:
        key = (version.agency, version.number, version.version, version.status)
        if any((v.agency, v.number, v.version, v.status) == key
               for v in (*self.store.versions, *self.versions)):
            return False
        self.versions.append(version)
        return True

    def find(self, number: str) -> list[LicenceState]:
        merged = {**self.store.licences, **self.licences}
        return [merged[key] for key in sorted(merged) if key[1] == number]


    # --- reservations ---------------------------------------------------------------------------

    def add_requests(self, requests: Any) -> int:
        written = 0
        for r in requests:
            key = (r.conversation_id, r.item, r.agency, r.number)
            if key not in self.store.requests and key not in self.requests_:
                self.requests_[key] = r
                written += 1
        return written

    def requests(self, conversation_id: str) -> list[ReservationRequest]:
        merged = {**self.store.requests, **self.requests_}
        return sorted((r for r in merged.values() if r.conversation_id == conversation_id),
                      key=lambda r: (r.agency, r.number, r.item))

    def _reservations(self) -> dict[RKey, Reservation]:
        return {**self.store.reservations, **self.reservations}

    def reservation(self, agency: str, number: str, mrn: str, item: int) -> Reservation | None:
        return self._reservations().get((agency, number, mrn, item))

    def reservations_on(self, agency: str, number: str) -> list[Reservation]:
        return sorted((r for r in self._reservations().values()
                       if (r.agency, r.number) == (agency, number)),
                      key=lambda r: (r.mrn, r.item))

    def reservations_of(self, conversation_id: str) -> list[Reservation]:
        return sorted((r for r in self._reservations().values()
                       if r.conversation_id == conversation_id),
                      key=lambda r: (r.agency, r.number, r.item))

    def add_reservation(self, reservation: Reservation) -> bool:
        twin = self.store.reserved_elsewhere.pop(reservation.key, None)
        if twin is not None:                       # the other transaction committed first
            self.store.reservations[reservation.key] = twin
            return False
        if reservation.key in self._reservations():
            return False
        self.reservations[reservation.key] = reservation
        return True

    def save_reservation(self, reservation: Reservation) -> None:
        self.reservations[reservation.key] = reservation

    def claim_calls(self, owner: str, limit: int, lease_seconds: float, now: float
                    ) -> list[Reservation]:
        due = sorted((r for r in self._reservations().values()
                      if r.next_at is not None and r.next_at <= now
                      and (r.lease_until is None or r.lease_until < now)),
                     key=lambda r: r.next_at or 0.0)[:limit]
        claimed = [replace(r, lease_owner=owner, lease_until=now + lease_seconds) for r in due]
        for r in claimed:
            self.reservations[r.key] = r
        return claimed

    def save_balance(self, balance: LineBalance) -> bool:
        key = (balance.agency, balance.number, balance.line)
        kept = self.balances.get(key) or self.store.balances.get(key)
        if kept is not None and kept.revision >= balance.revision:
            return False
        self.balances[key] = balance
        return True

    def balance(self, agency: str, number: str, line: int) -> LineBalance | None:
        key = (agency, number, line)
        return self.balances.get(key) or self.store.balances.get(key)


class FakeLicenceReader:
    def __init__(self, store: FakeLicenceStore) -> None:
        self.store = store

    def licence(self, agency: str, number: str) -> LicenceState | None:
        return self.store.licences.get((agency, number))

    def versions(self, agency: str, number: str) -> list[LicenceVersion]:
        return [v for v in self.store.versions if (v.agency, v.number) == (agency, number)]

    def find(self, number: str) -> list[LicenceState]:
        return [self.store.licences[key] for key in sorted(self.store.licences)
                if key[1] == number]

    def requests(self, conversation_id: str) -> list[ReservationRequest]:
        return sorted((r for r in self.store.requests.values()
                       if r.conversation_id == conversation_id),
                      key=lambda r: (r.agency, r.number, r.item))

    def reservations_of(self, conversation_id: str) -> list[Reservation]:
        return sorted((r for r in self.store.reservations.values()
                       if r.conversation_id == conversation_id),
                      key=lambda r: (r.agency, r.number, r.item))

    def reservations_on(self, agency: str, number: str) -> list[Reservation]:
        return sorted((r for r in self.store.reservations.values()
                       if (r.agency, r.number) == (agency, number)),
                      key=lambda r: (r.mrn, r.item))

    def balance(self, agency: str, number: str, line: int) -> LineBalance | None:
        return self.store.balances.get((agency, number, line))
