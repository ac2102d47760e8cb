"""WS-Security at the SOAP endpoint, for partners registered with ``require_wss`` (banks).

For such a partner every request, whatever the operation, must carry one valid ``wsse:Security``
header (``gateway/signing/wssecurity.py``). ``PartnerSecurity.verified_operation``:

1. verifies it with ``verify_envelope(envelope, trust, owner=<partner id>)``: the signature is
   by a certificate the trust store holds **for that partner** (``config/partners.toml``
   ``certificates``), over the envelope's own Body and the header's Timestamp; the Timestamp is
   fresh (``Created`` at most ``max_skew_seconds`` ahead and at most ``max_age_seconds`` old,
   ``Expires`` not past);
2. refuses a signature accepted before (``GW-WSS-REPLAY``): the signature's ``replay_key`` is
   recorded in the journal (``adapters/store/wss_replays.py``) until the message would no
   longer verify, so a replay is refused by every worker and after a restart;
3. returns the operation element **from the verified Body** (re-parsed from the bytes the
   signature digested): the endpoint acts on that and on nothing else of the envelope, so a
   forged Body next to a signed one moved elsewhere (signature wrapping) is never read.

The signature covers the Body and the Timestamp only: header blocks beside them (WS-Addressing)
are not signed. The only one the gateway reads, ``wsa:MessageID``, is a fallback idempotency
key — a camt.054 is keyed by its own (signed) ``GrpHdr/MsgId`` — and a copy of a signed message
under another ``MessageID`` is still the same signature, refused as a replay.

``sign`` puts the gateway's own WS-Security signature on an answer (``secure_envelope`` with the
gateway's key: Timestamp, certificate token, signature over Body and Timestamp) — receipts,
look-up answers and faults alike, on top of the enveloped signature the documents inside carry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from lxml import etree

from adapters.http.soap_envelope import SoapMessage
from adapters.store.wss_replays import NAME as REPLAYS
from gateway.errors import MalformedXml
from gateway.partners import Partner
from gateway.ports import JournalTransaction, Transactions
from gateway.signing.keys import TrustStore
from gateway.signing.wssecurity import (
    MessageReplayed,
    SignatureWrapping,
    VerifiedSoap,
    secure_envelope,
    verify_envelope,
)
from gateway.signing.xmldsig import XmlSigner
from gateway.xml.safe_parser import XmlLimits


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class PartnerSecurity:
    """Verify partners' WS-Security (with replay refusal); sign the answers to them."""

    def __init__(self, *, trust: TrustStore, signer: XmlSigner, journal: Transactions,
                 limits: XmlLimits, max_skew_seconds: int = 300, max_age_seconds: int = 300,
                 answer_ttl_seconds: int = 300,
                 clock: Callable[[], dt.datetime] = utc_now) -> None:
        self._trust = trust
        self._signer = signer
        self._journal = journal
        self._limits = limits
        self._skew = max_skew_seconds
        self._max_age = max_age_seconds
        self._ttl = answer_ttl_seconds
        self._clock = clock

    async def verified_operation(self, envelope: etree._Element, message: SoapMessage,
                                 partner: Partner) -> etree._Element:
        """The operation element of the verified Body, once the signature is new (above)."""
        verified = verify_envelope(envelope, self._trust, owner=partner.id, now=self._clock(),
                                   max_skew_seconds=self._skew,
                                   max_age_seconds=self._max_age, limits=self._limits)
        operation = verified.document
        if operation.tag != message.payload.tag:          # defensive: the Body IS the Body
            raise SignatureWrapping("the signed Body holds another operation than the "
                                    "envelope's Body")
        if not await self._first_use(partner.id, verified):
            raise MessageReplayed(
                f"this message (signature {verified.replay_key[:16]}…) was accepted before: "
                "a signed message is used once; sign it again to resend it",
                context={"partner": partner.id})
        return operation

    async def _first_use(self, partner_id: str, verified: VerifiedSoap) -> bool:
        now = self._clock()
        until = verified.replayable_until(self._max_age) + dt.timedelta(seconds=self._skew)

        def record(tx: JournalTransaction) -> Any:
            return tx.flow(REPLAYS).first_use(
                partner_id, verified.replay_key, keep_until=until.timestamp(),
                now=now.timestamp(), seen_at=now.isoformat(timespec="milliseconds"))
        return bool(await self._journal.transaction(record))

    def sign(self, envelope: bytes) -> bytes:
        """``envelope`` (our own answer) with the gateway's WS-Security header added."""
        root = etree.fromstring(envelope)
        if etree.QName(root).localname != "Envelope":
            raise MalformedXml("only a SOAP envelope can be signed with WS-Security")
        secure_envelope(root, self._signer, ttl_seconds=self._ttl, now=self._clock())
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
