"""zeep's WS-Security interface, implemented with our profile (``gateway.signing.wssecurity``).

zeep calls ``apply(envelope, headers)`` on every request just before sending it and
``verify(envelope)`` on every answer before reading it (``zeep/wsdl/bindings/soap.py``). Its own
``zeep.wsse.Signature`` signs with RSA-SHA1 and SHA-1 digests unless told otherwise, adds no
Timestamp, needs python-xmlsec and verifies without checking what was signed; this plugin
signs with ``secure_envelope`` (Timestamp, BinarySecurityToken, exclusive C14N, SHA-256,
ECDSA-P256 or RSA) and verifies answers with ``verify_envelope`` for the one partner expected.

After verifying, the answer's Body is **replaced by the verified Body** (re-parsed from the
bytes the signature digested) before zeep reads it: zeep then deserialises exactly what was
signed, and a namespace prefix the signed bytes do not declare (exclusive C14N leaves out a
declaration used only inside text, such as an ``xsi:type`` value) fails instead of taking the
meaning an unsigned ancestor gives it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from lxml import etree

from adapters.soap_client.errors import PartnerFault
from gateway.errors import SignatureInvalid, trim_value
from gateway.signing.keys import SigningKey, TrustStore
from gateway.signing.wssecurity import SOAP11, SOAP12, secure_envelope, verify_envelope
from gateway.signing.xmldsig import XmlSigner
from gateway.xml.safe_parser import XmlLimits


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class WsSecuritySignature:
    """Sign every request with ``key``; accept only answers signed by ``partner`` in ``trust``."""

    def __init__(self, key: SigningKey, trust: TrustStore, partner: str, *,
                 ttl_seconds: int = 300, max_skew_seconds: int = 300,
                 clock: Callable[[], dt.datetime] = utc_now,
                 limits: XmlLimits | None = None) -> None:
        self._signer = XmlSigner(key)
        self._trust = trust
        self._partner = partner
        self._ttl = ttl_seconds
        self._skew = max_skew_seconds
        self._clock = clock
        self._limits = limits or XmlLimits()

    def apply(self, envelope: etree._Element, headers: dict[str, Any]
              ) -> tuple[etree._Element, dict[str, Any]]:
        """zeep's egress hook: add the signed Security header."""
        return secure_envelope(envelope, self._signer, ttl_seconds=self._ttl,
                               now=self._clock()), headers

    def verify(self, envelope: etree._Element) -> etree._Element:
        """zeep's ingress hook: verify, then swap the Body for the verified one (in place).

        An answer that does not verify raises ``SignatureInvalid`` (its ``GW-WSS-*`` or
        ``GW-SIGNATURE-*`` code); an unsigned SOAP fault is reported as the partner's refusal
        (``PartnerFault``), its text marked unverified.
        """
        try:
            verified = verify_envelope(envelope, self._trust, owner=self._partner,
                                       now=self._clock(), max_skew_seconds=self._skew,
                                       limits=self._limits)
        except SignatureInvalid as err:
            fault = _unsigned_fault(envelope)
            if fault is not None:
                raise PartnerFault(f"{self._partner} answered a SOAP fault that does not "
                                   f"verify ({err.code}); its unverified text: {fault}",
                                   context={"partner": self._partner}) from err
            raise
        body = envelope.find(f"{{{verified.soap_namespace}}}Body")
        envelope.replace(body, verified.body)
        return envelope


def _unsigned_fault(envelope: etree._Element) -> str | None:
    """The fault text of an answer whose Body holds a SOAP Fault, else ``None``."""
    for namespace in (SOAP11, SOAP12):
        fault = envelope.find(f"{{{namespace}}}Body/{{{namespace}}}Fault")
        if fault is not None:
            text = fault.findtext("faultstring") or fault.findtext(
                f"{{{namespace}}}Reason/{{{namespace}}}Text") or ""
            return trim_value(text) or "(none)"
    return None
