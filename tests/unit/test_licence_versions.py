"""What a licence version received does to the licence the gateway keeps (flow F3 state).

``versions.decide`` and ``intake_effect.record_version`` over the in-memory fake store
(``tests/fake_licence_store.py``): the first version creates the licence, a newer one replaces
it (an amendment's lines replace the lines, a revocation keeps them and marks the licence
revoked), an older or repeated one is recorded and not applied, and nothing is applied over a
revocation. The SQL store shows the same behaviour on SQLite and PostgreSQL in
``tests/integration/test_licence_store.py``.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from gateway.canonical.licence import Licence, LicenceLine, LicenceParty
from gateway.flows.licences.intake_effect import (
    LicenceIntake,
    LicenceOutcome,
    licence_state,
    record_version,
)
from gateway.flows.licences.store import LicenceLineState, LicenceState
from gateway.flows.licences.versions import (
    AFTER_REVOCATION,
    APPLIED,
    CREATED,
    DUPLICATE,
    STALE,
    decide,
    order_key,
)
from gateway.partners import Partner
from gateway.pipeline.exchange import Exchange
from tests.fake_licence_store import FakeLicenceStore
from tests.fakes import FakeJournal, FakeTransaction

STEEL = (LicenceLineState(1, "72083900", "Coils", Decimal("6.000"), "TNE"),
         LicenceLineState(2, "72142000", "Rebar", Decimal("4.000"), "TNE"))


def state(version: int = 1, status: str = "issued", lines: tuple[LicenceLineState, ...] = STEEL,
          receipt: str = "r1") -> LicenceState:
    return LicenceState(agency="agency-trade", number="MK-IL-2026-0042", source="licence-document",
                        type="import", status=status, version=version, receipt_id=receipt,
                        conversation_id=f"c-{receipt}", updated_at=f"2026-01-1{version}T00:00:00Z",
                        lines=lines)


def apply(store: FakeLicenceStore, incoming: LicenceState) -> LicenceOutcome:
    """One transaction: record ``incoming``, then commit."""
    bound = store.bind(_Tx())
    result = record_version(bound, incoming)
    bound.commit()
    return result


class _Tx:
    def later(self, write: object) -> None:
        """The test commits the bound store itself."""


def kept(store: FakeLicenceStore) -> LicenceState:
    return store.licences[("agency-trade", "MK-IL-2026-0042")]


def test_licence_versions_order_by_number_then_revocation_last() -> None:
    """v1 < v2; at one number (an SPS certificate issued and withdrawn) revoked comes after."""
    assert order_key(1, "issued") < order_key(2, "amended") < order_key(2, "revoked")
    assert order_key(1, "issued") < order_key(1, "revoked")


def test_licence_first_version_creates_the_licence_with_its_lines() -> None:
    """The first version received is kept with its lines, and recorded as created."""
    store = FakeLicenceStore()
    result = apply(store, state())
    assert result.outcome == CREATED and kept(store).lines == STEEL
    assert [(v.version, v.outcome) for v in store.versions] == [(1, CREATED)]


def test_licence_amendment_replaces_the_lines_and_bumps_the_version() -> None:
    """v2 amended with one line of 12 TNE replaces both lines of v1."""
    store = FakeLicenceStore()
    apply(store, state())
    amended = (LicenceLineState(1, "72083900", "Coils", Decimal("12"), "TNE"),)
    result = apply(store, state(2, "amended", amended, receipt="r2"))
    assert result.outcome == APPLIED
    assert (kept(store).version, kept(store).status, kept(store).lines) == (2, "amended", amended)
    assert kept(store).receipt_id == "r2"


def test_licence_revocation_marks_it_revoked_and_keeps_its_lines() -> None:
    """v3 revoked without lines: status revoked, version 3, the v2 lines still there."""
    store = FakeLicenceStore()
    apply(store, state())
    apply(store, state(2, "amended", receipt="r2"))
    result = apply(store, state(3, "revoked", (), receipt="r3"))
    assert result.outcome == APPLIED
    assert (kept(store).status, kept(store).version, kept(store).lines) == ("revoked", 3, STEEL)


def test_licence_older_version_after_a_newer_one_is_recorded_not_applied() -> None:
    """v2 arrives first, then v1: v1 is recorded as stale and v2 stays."""
    store = FakeLicenceStore()
    newer = (LicenceLineState(1, "72083900", None, Decimal("12"), "TNE"),)
    assert apply(store, state(2, "amended", newer, receipt="r2")).outcome == CREATED
    result = apply(store, state(1, "issued", receipt="r1"))
    assert result.outcome == STALE and result.licence.version == 2
    assert (kept(store).version, kept(store).lines) == (2, newer)
    assert [(v.version, v.outcome) for v in store.versions] == [(2, CREATED), (1, STALE)]


def test_licence_same_version_again_is_a_duplicate() -> None:
    """The same version and status under another receipt changes nothing."""
    store = FakeLicenceStore()
    apply(store, state())
    result = apply(store, state(receipt="r9"))
    assert result.outcome == DUPLICATE and kept(store).receipt_id == "r1"
    assert len(store.versions) == 1


def test_licence_nothing_is_applied_over_a_revocation() -> None:
    """A newer amendment after a revocation is recorded as after-revocation, not applied."""
    store = FakeLicenceStore()
    apply(store, state())
    apply(store, state(2, "revoked", receipt="r2"))
    result = apply(store, state(3, "amended", receipt="r3"))
    assert result.outcome == AFTER_REVOCATION
    assert (kept(store).status, kept(store).version) == ("revoked", 2)
    assert decide(kept(store), state(1)) == STALE


def test_licence_created_meanwhile_elsewhere_is_decided_on_again() -> None:
    """Another transaction created v2 between our hold and insert: our v1 is then stale."""
    store = FakeLicenceStore()
    store.created_elsewhere[("agency-trade", "MK-IL-2026-0042")] = state(2, "amended",
                                                                        receipt="r2")
    result = apply(store, state())
    assert result.outcome == STALE and kept(store).version == 2


def test_licence_intake_effect_records_and_tells_the_conversation() -> None:
    """The effect keys the licence by the sending agency and writes the outcome's history."""
    journal = FakeJournal()
    store = FakeLicenceStore()
    journal.flows["licences"] = store
    licence = Licence(source="licence-document", number="MK-IL-9", version=1, status="issued",
                      type="import", holder=LicenceParty("MK1", "Holder"),
                      lines=[LicenceLine(1, "7208", None, Decimal("5"), "TNE")])
    ex = Exchange(body=b"<x/>", channel="http", canonical=licence,
                  partner=Partner("agency-trade", "Trade", "agency"))
    journal.conversations[ex.conversation_id] = {"id": ex.conversation_id, "history": []}
    tx = FakeTransaction(journal)
    result = LicenceIntake(clock=lambda: "2026-01-15T10:00:00Z")(ex)(tx)
    tx.commit()
    assert result.outcome == CREATED
    stored = journal.flow("licences").licence("agency-trade", "MK-IL-9")
    assert stored is not None and stored.holder_id == "MK1"
    assert stored.lines == (LicenceLineState(1, "7208", None, Decimal("5"), "TNE"),)
    assert stored.receipt_id == ex.id and stored.conversation_id == ex.conversation_id
    (event,) = journal.conversations[ex.conversation_id]["history"]
    assert (event["event"], event["number"], event["kept_version"]) == (
        "licence.created", "MK-IL-9", 1)


def test_licence_state_of_a_canonical_licence_keeps_its_values() -> None:
    """Holder, validity, destination and sorted lines are carried into the store's record."""
    licence = Licence(source="sps-certificate", number="RS-PC-1", certificate_type_code="851",
                      type="phytosanitary", holder=LicenceParty(None, "Fruit Import DOOEL"),
                      valid_from="2026-03-02", destination_country="MK",
                      lines=[LicenceLine(2, "080830"), LicenceLine(1, "080810")])
    record = licence_state(licence, agency="agency-phyto", receipt_id="r", conversation_id="c",
                           at="t")
    assert (record.agency, record.certificate_type_code, record.holder_name,
            record.valid_from, record.destination_country) == (
        "agency-phyto", "851", "Fruit Import DOOEL", "2026-03-02", "MK")
    assert [line.line for line in record.lines] == [1, 2]
    assert replace(record, lines=()).line(1) is None and record.line(2) is not None


def test_fake_store_sees_nothing_of_an_uncommitted_transaction() -> None:
    """The fake mirrors the SQL store: a transaction's writes are not seen before commit."""
    store = FakeLicenceStore()
    bound = store.bind(_Tx())
    record_version(bound, state())
    assert store.reader().licence("agency-trade", "MK-IL-2026-0042") is None
    bound.commit()
    assert store.reader().licence("agency-trade", "MK-IL-2026-0042") is not None
