"""What a version of a licence received does to the licence the gateway keeps.

Versions order by number, and within one number a revocation comes after the licence it revokes
(an SPS certificate is version 1 both when issued and when withdrawn). A version received:

* ``created`` — the first one the gateway hears of (whatever its number: versions may arrive
  out of order, and the first to arrive is the state until a newer one does);
* ``applied`` — newer than the licence kept: it replaces it (an amendment's goods lines replace
  the previous lines; a revocation marks it revoked);
* ``stale`` — older than the licence kept (it arrived late): recorded, not applied;
* ``duplicate`` — the same version and status as the licence kept: recorded once, not applied;
* ``after-revocation`` — newer than a revoked licence: a revocation is final, so it is recorded
  and not applied.
"""

from __future__ import annotations

from gateway.canonical.licence import REVOKED
from gateway.flows.licences.store import LicenceState

CREATED, APPLIED, STALE, DUPLICATE, AFTER_REVOCATION = (
    "created", "applied", "stale", "duplicate", "after-revocation")
OUTCOMES = (CREATED, APPLIED, STALE, DUPLICATE, AFTER_REVOCATION)
CHANGES = (CREATED, APPLIED)              # outcomes that change the licence kept


def order_key(version: int, status: str) -> tuple[int, int]:
    """Versions compare by number, then a revocation after what it revokes."""
    return version, 1 if status == REVOKED else 0


def decide(current: LicenceState | None, incoming: LicenceState) -> str:
    """The outcome of ``incoming`` given the licence kept (``None``: not known yet)."""
    if current is None:
        return CREATED
    new, kept = order_key(incoming.version, incoming.status), \
        order_key(current.version, current.status)
    if new == kept:
        return DUPLICATE
    if new < kept:
        return STALE
    return AFTER_REVOCATION if current.status == REVOKED else APPLIED
