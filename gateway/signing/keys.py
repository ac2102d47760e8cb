"""Key material: loading, generating for demo/test set-up, and the per-partner trust store.

Keys are loaded once at start-up into ``SigningKey`` objects (parsing a PEM per signature
costs more than the signature itself). A key id is the first 16 hex digits of the SHA-256 of
the certificate (DER), so the same id names the same certificate everywhere.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.x509.oid import NameOID

from gateway.errors import ConfigurationError, SignatureInvalid

ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey


def key_id_of(cert: x509.Certificate) -> str:
    return key_id_of_der(cert.public_bytes(serialization.Encoding.DER))


def key_id_of_der(cert_der: bytes) -> str:
    """The key id of a DER certificate, without parsing it (same value as ``key_id_of``)."""
    return hashlib.sha256(cert_der).hexdigest()[:16]


@dataclass(frozen=True)
class SigningKey:
    """A private key with its certificate, ready to sign many times."""

    private_key: PrivateKey
    certificate: x509.Certificate
    key_id: str = ""
    cert_der: bytes = b""

    @classmethod
    def load(cls, key_path: Path, cert_path: Path) -> SigningKey:
        try:
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        except (OSError, ValueError) as exc:
            raise ConfigurationError(
                f"cannot load signing key {key_path} / {cert_path}: {exc}. "
                "Run `gateway keys init` to generate demo and test keys."
            ) from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise ConfigurationError(f"{key_path}: only ECDSA P-256 and RSA keys are supported")
        return cls(key, cert, key_id_of(cert), cert.public_bytes(serialization.Encoding.DER))

    @property
    def algorithm(self) -> str:
        return ECDSA_SHA256 if isinstance(self.private_key, ec.EllipticCurvePrivateKey) \
            else RSA_SHA256

    def sign(self, data: bytes) -> bytes:
        """Signature value as XML-DSig wants it (raw r||s for ECDSA, PKCS#1 v1.5 for RSA)."""
        if isinstance(self.private_key, ec.EllipticCurvePrivateKey):
            der = self.private_key.sign(data, ec.ECDSA(hashes.SHA256()))
            r, s = decode_dss_signature(der)
            size = (self.private_key.curve.key_size + 7) // 8
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")
        return self.private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def verify_raw(public_key: PublicKey, signature: bytes, data: bytes) -> None:
    """Check a signature made by ``SigningKey.sign``; raise ``SignatureInvalid`` if wrong."""
    from cryptography.exceptions import InvalidSignature

    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            size = (public_key.curve.key_size + 7) // 8
            if len(signature) != 2 * size:
                raise SignatureInvalid("signature has the wrong length for the key")
            r = int.from_bytes(signature[:size], "big")
            s = int.from_bytes(signature[size:], "big")
            public_key.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))
        else:
            public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature as exc:
        raise SignatureInvalid("signature does not match the signed bytes") from exc


@dataclass(frozen=True)
class TrustedCertificate:
    owner: str
    key_id: str
    certificate: x509.Certificate

    @functools.cached_property
    def public_key(self) -> PublicKey:
        """The certificate's public key, loaded once (verifying must not re-read it)."""
        return self.certificate.public_key()  # type: ignore[return-value]

    @functools.cached_property
    def der(self) -> bytes:
        """The certificate's DER bytes (compared byte for byte with a signature's KeyInfo)."""
        return self.certificate.public_bytes(serialization.Encoding.DER)


@dataclass
class TrustStore:
    """Certificates the gateway accepts, per partner; several per partner for rotation."""

    by_key_id: dict[str, TrustedCertificate] = field(default_factory=dict)

    def add(self, owner: str, cert: x509.Certificate) -> TrustedCertificate:
        trusted = TrustedCertificate(owner, key_id_of(cert), cert)
        self.by_key_id[trusted.key_id] = trusted
        return trusted

    def add_pem_file(self, owner: str, path: Path) -> TrustedCertificate:
        try:
            return self.add(owner, x509.load_pem_x509_certificate(path.read_bytes()))
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"cannot load certificate {path} for {owner}: {exc}") from exc

    def lookup(self, key_id: str, *, owner: str | None = None,
               at: dt.datetime | None = None) -> TrustedCertificate:
        """The trusted certificate for ``key_id``, checked for owner and validity."""
        trusted = self.by_key_id.get(key_id)
        if trusted is None:
            raise SignatureInvalid(f"key id {key_id!r} is not in the trust store",
                                   code="GW-SIGNATURE-UNKNOWN-KEY")
        if owner is not None and trusted.owner != owner:
            raise SignatureInvalid(f"key {key_id!r} belongs to {trusted.owner!r}, not {owner!r}",
                                   code="GW-SIGNATURE-WRONG-SIGNER")
        now = at or dt.datetime.now(dt.UTC)
        cert = trusted.certificate
        if not (cert.not_valid_before_utc <= now <= cert.not_valid_after_utc):
            raise SignatureInvalid(f"certificate {key_id!r} is not valid at {now.isoformat()}",
                                   code="GW-SIGNATURE-EXPIRED")
        return trusted


def generate_key_pair(common_name: str, organisation: str, *, days: int = 825,
                      algorithm: str = "ecdsa") -> tuple[bytes, bytes]:
    """A new private key and self-signed certificate, PEM-encoded (demo and test set-up)."""
    key: PrivateKey = (ec.generate_private_key(ec.SECP256R1()) if algorithm == "ecdsa"
                       else rsa.generate_private_key(public_exponent=65537, key_size=2048))
    name = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
    ])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))   # room for clocks a day apart
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=True, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=False,
            crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)
