"""What the movement state refuses, as errors the NCTS answer format turns into NACKs.

Each carries one ``MovementProblem`` with its CL180 code, so that a trader (or a neighbouring
administration) gets a CC906C (CD906C) saying exactly that:

* ``unknown_mrn`` — the MRN is not known here in any role: code **90**, ``errorPointer`` the
  MRN (400, ``GW-NCTS-UNKNOWN-MRN``);
* ``out_of_sequence`` — the MRN is known, but the movement's state does not take this message
  (``states.TRANSITIONS``): code **92**, ``errorPointer`` the message's root (409,
  ``GW-NCTS-OUT-OF-SEQUENCE``: it may fit later, e.g. a CD018C overtaking its CD006C);
* ``lrn_taken`` — the trader's LRN is already the reference of another declaration: code
  **14**, rule **BR20006** (409, ``GW-NCTS-LRN-TAKEN``).
"""

from __future__ import annotations

from gateway.canonical.movement_rules import MovementProblem
from gateway.errors import InvalidMessage, RequestError
from gateway.flows.transit.states import NotAllowed


class MovementConflict(RequestError):
    """The message conflicts with what the gateway knows of the movement (409)."""

    code = "GW-NCTS-OUT-OF-SEQUENCE"
    http_status = 409


def unknown_mrn(message_type: str, mrn: str | None) -> InvalidMessage:
    message = (f"no movement with MRN {mrn} is known at this office: a {message_type} needs "
               f"one (NCTS error 90)")
    return InvalidMessage(message, code="GW-NCTS-UNKNOWN-MRN", problems=[MovementProblem(
        "GW-NCTS-UNKNOWN-MRN", message, pointer=f"/{message_type}/TransitOperation/MRN",
        value=mrn, error_code="90", rule="N/A")])


def out_of_sequence(refused: NotAllowed, mrn: str | None) -> MovementConflict:
    message = f"{refused} (MRN {mrn}, NCTS error 92)"
    return MovementConflict(message, code="GW-NCTS-OUT-OF-SEQUENCE", problems=[MovementProblem(
        "GW-NCTS-OUT-OF-SEQUENCE", message, pointer=f"/{refused.message_type}",
        value=refused.state, error_code="92", rule="N/A")])


def lrn_taken(message_type: str, lrn: str | None) -> MovementConflict:
    message = (f"the LRN {lrn} is the reference of another declaration of yours: give a new "
               f"declaration a new LRN (rule BR20006, NCTS error 14)")
    return MovementConflict(message, code="GW-NCTS-LRN-TAKEN", problems=[MovementProblem(
        "GW-NCTS-LRN-TAKEN", message, pointer=f"/{message_type}/TransitOperation/LRN",
        value=lrn, error_code="14", rule="BR20006")])
