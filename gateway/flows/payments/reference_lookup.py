"""A bank's look-up of a payment reference, from the gateway's own state (flow F2).

Before it accepts a payment, a bank asks what a reference stands for. The answer comes from
the payments ledger (``journal.flow("payments").look_up``), never from clearance:

* ``invalid`` — not an ISO 11649 creditor reference: wrong check digits, wrong length or
  characters. Nothing is looked up: a mistyped reference never reaches the ledger;
* ``unknown`` — a well-formed reference that no assessment has (not issued, or not by us);
* ``valid`` — the assessment: its status (``open``, ``partly_paid``, ``paid``, ``overpaid``,
  ``cancelled``), the amount due, what was paid, what is outstanding, the currency, the
  declaration's MRN, and for a cancelled one the reference that replaced it.

The reference is compared in its electronic form (spaces removed, upper case), the form the
ledger keeps; a printed one (``RF18 5390 0754 7034``) is the same reference.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.flows.payments.ledger import Assessment, PaymentLedgerReader
from gateway.identifiers import is_valid_creditor_reference

VALID, UNKNOWN, INVALID = "valid", "unknown", "invalid"
MAX_REFERENCE = 35          # what the request may carry (ISO 11649: 25 in electronic form)


@dataclass(frozen=True)
class ReferenceInfo:
    """What the gateway knows about one payment reference."""

    reference: str                        # compact upper case if ISO 11649, else as asked
    validity: str                         # VALID, UNKNOWN or INVALID
    assessment: Assessment | None = None  # VALID only


def compact_reference(reference: str) -> str:
    """The electronic form: no whitespace, upper case."""
    return "".join(reference.split()).upper()


def look_up_reference(ledger: PaymentLedgerReader, reference: str) -> ReferenceInfo:
    """The ledger's answer for ``reference`` (see the module docstring)."""
    compact = compact_reference(reference)
    if not compact or len(compact) > MAX_REFERENCE or not is_valid_creditor_reference(compact):
        return ReferenceInfo(reference.strip(), INVALID)
    found = ledger.look_up(compact)
    if found is None:
        return ReferenceInfo(compact, UNKNOWN)
    return ReferenceInfo(compact, VALID, found)
