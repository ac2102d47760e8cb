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

Nothing is held or locked: unit tests run one transaction at a time. ``created_elsewhere``
plays a concurrent transaction that creates a licence between this one's ``hold`` and its
``insert`` (what ``INSERT … ON CONFLICT DO NOTHING`` guards against on PostgreSQL).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from gateway.flows.licences.store import LicenceState, LicenceVersion, lines_of

Key = tuple[str, str]


@dataclass
class FakeLicenceStore:
    name: str = "licences"
    licences: dict[Key, LicenceState] = field(default_factory=dict)
    versions: list[LicenceVersion] = field(default_factory=list)
    created_elsewhere: dict[Key, LicenceState] = field(default_factory=dict)

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

    def commit(self) -> None:
        self.store.licences.update(self.licences)
        self.store.versions.extend(self.versions)

    def _known(self, key: Key) -> LicenceState | None:
        return self.licences.get(key) or self.store.licences.get(key)

    def hold(self, agency: str, number: str) -> LicenceState | None:
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
