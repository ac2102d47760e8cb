"""Detached body signatures (``gateway.signing.detached``) as carried in AMQP headers.

The signature and key id headers verify for the exact body and name the signer; a changed
byte, a missing header, an unknown or untrusted key, the wrong owner or a signature that is
not base64 are refused.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from signing_helpers import make_key, reason

from gateway.errors import SignatureInvalid
from gateway.signing.detached import KEY_ID, SIGNATURE, sign_body, verify_body
from gateway.signing.keys import SigningKey, TrustStore

pytest_plugins = ["signing_helpers"]     # fixtures: gateway_key, trust, signed

BODY = b'{"canonical_version":"1.0","header":{"lrn":"LRN-0001"},"source_format":"wco-dec-3.6"}'


@pytest.mark.parametrize("algorithm", ["ecdsa", "rsa"])
def test_detached_signature_verifies(algorithm: str, tmp_path: Path) -> None:
    """sign_body headers verify for the exact body and name the signer."""
    key, _ = make_key(tmp_path, f"bus-{algorithm}", algorithm)
    store = TrustStore()
    store.add("gateway", key.certificate)

    headers = sign_body(key, BODY)

    assert headers[KEY_ID] == key.key_id
    assert verify_body(store, BODY, headers, owner="gateway").key_id == key.key_id


def test_detached_signature_verifies_with_bytes_header_values(
        gateway_key: tuple[SigningKey, Path], trust: TrustStore) -> None:
    """Header values delivered as bytes (as AMQP clients may do) still verify."""
    headers = {k: v.encode() for k, v in sign_body(gateway_key[0], BODY).items()}

    assert verify_body(trust, BODY, headers).owner == "gateway"


@pytest.mark.parametrize("position", [0, len(BODY) // 2, len(BODY) - 1])
def test_detached_signature_changed_byte_is_refused(
        position: int, gateway_key: tuple[SigningKey, Path], trust: TrustStore) -> None:
    """Changing any single byte of the body makes verification fail."""
    headers = sign_body(gateway_key[0], BODY)
    changed = bytearray(BODY)
    changed[position] ^= 0x01

    with pytest.raises(SignatureInvalid) as exc_info:
        verify_body(trust, bytes(changed), headers)
    assert reason(exc_info) == "GW-SIGNATURE-INVALID"


@pytest.mark.parametrize("header", [SIGNATURE, KEY_ID])
def test_detached_signature_missing_header_is_refused(
        header: str, gateway_key: tuple[SigningKey, Path], trust: TrustStore) -> None:
    """A message without the signature or without the key id header counts as unsigned."""
    headers = sign_body(gateway_key[0], BODY)
    del headers[header]

    with pytest.raises(SignatureInvalid) as exc_info:
        verify_body(trust, BODY, headers)
    assert reason(exc_info) == "GW-SIGNATURE-MISSING"


def test_detached_signature_unknown_key_id_is_refused(
        gateway_key: tuple[SigningKey, Path], trust: TrustStore) -> None:
    """A key id that is not in the trust store is refused as an unknown key."""
    headers = {**sign_body(gateway_key[0], BODY), KEY_ID: "0123456789abcdef"}

    with pytest.raises(SignatureInvalid) as exc_info:
        verify_body(trust, BODY, headers)
    assert reason(exc_info) == "GW-SIGNATURE-UNKNOWN-KEY"


def test_detached_signature_by_untrusted_key_is_refused(trust: TrustStore,
                                                        tmp_path: Path) -> None:
    """A body signed by a key outside the trust store is refused as an unknown key."""
    intruder, _ = make_key(tmp_path, "intruder")

    with pytest.raises(SignatureInvalid) as exc_info:
        verify_body(trust, BODY, sign_body(intruder, BODY))
    assert reason(exc_info) == "GW-SIGNATURE-UNKNOWN-KEY"


def test_detached_signature_wrong_owner_is_refused(gateway_key: tuple[SigningKey, Path],
                                                   trust: TrustStore) -> None:
    """A body signed by the gateway is refused where the clearance system must have signed."""
    with pytest.raises(SignatureInvalid) as exc_info:
        verify_body(trust, BODY, sign_body(gateway_key[0], BODY), owner="clearance")
    assert reason(exc_info) == "GW-SIGNATURE-WRONG-SIGNER"


def test_detached_signature_not_base64_is_refused(gateway_key: tuple[SigningKey, Path],
                                                  trust: TrustStore) -> None:
    """A signature header that is not base64 is refused, not decoded leniently."""
    headers = {**sign_body(gateway_key[0], BODY), SIGNATURE: "***not base64***"}

    with pytest.raises(SignatureInvalid):
        verify_body(trust, BODY, headers)
