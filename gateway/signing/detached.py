"""Detached signatures over the exact body bytes of every canonical message on RabbitMQ.

The signature travels in message headers next to the signer's key id, so a consumer can
verify before it parses anything. The same functions serve the gateway (signing what it
publishes, verifying clearance's decisions) and the stand-in partners.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping

from gateway.errors import SignatureInvalid
from gateway.signing.keys import SigningKey, TrustedCertificate, TrustStore, verify_raw

SIGNATURE = "x-signature"
KEY_ID = "x-signature-key-id"
ALGORITHM = "x-signature-alg"


def sign_body(key: SigningKey, body: bytes) -> dict[str, str]:
    """Headers carrying a signature of ``body``."""
    return {
        SIGNATURE: base64.b64encode(key.sign(body)).decode("ascii"),
        KEY_ID: key.key_id,
        ALGORITHM: key.algorithm,
    }


def verify_body(trust: TrustStore, body: bytes, headers: Mapping[str, object],
                *, owner: str | None = None) -> TrustedCertificate:
    """Check the detached signature of ``body``; return the trusted signer."""
    signature, key_id = headers.get(SIGNATURE), headers.get(KEY_ID)
    if not isinstance(signature, str | bytes) or not isinstance(key_id, str | bytes):
        raise SignatureInvalid("the message carries no signature", code="GW-SIGNATURE-MISSING")
    key_id = key_id.decode() if isinstance(key_id, bytes) else key_id
    trusted = trust.lookup(key_id, owner=owner)
    try:
        raw = base64.b64decode(signature, validate=True)
    except ValueError as exc:
        raise SignatureInvalid("the signature is not base64") from exc
    verify_raw(trusted.public_key, raw, body)
    return trusted
