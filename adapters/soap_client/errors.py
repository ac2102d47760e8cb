"""Errors of calls to partners, translated at the boundary from zeep and requests.

``PartnerFault`` (``GW-PARTNER-FAULT``: the partner refused; ``GW-PARTNER-ANSWER``: its answer
could not be used) is not retryable as it is; a partner that cannot be reached is a
``ServiceUnavailable`` (``GW-PARTNER-UNAVAILABLE``, retryable). Signature failures of an answer
stay what ``gateway.signing`` raised (``SignatureInvalid`` and its ``GW-WSS-*`` subclasses).
"""

from __future__ import annotations

from gateway.errors import GatewayError


class PartnerFault(GatewayError):
    """A partner refused a call (or answered something unusable); retrying as is cannot help."""

    code = "GW-PARTNER-FAULT"
