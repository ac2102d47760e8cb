"""Key and credential set-up for demo and test deployments (``gateway keys init``).

Generates the gateway's signing key and the keys of the clearance and bank stand-ins and of
the demo permit agencies (ECDSA P-256, self-signed certificates) under ``var/keys/``, and —
with ``demo_tokens`` — a bearer token for every partner in the registry whose identity is a
token, written to ``var/demo-tokens.json`` (mode 600) for the demo and the tests while only
their hashes go to the credentials file. Nothing here is ever committed.
Production deployments bring their own keys and issue tokens with ``gateway partners token``.

The deployment is the one ``settings`` names (its var directory, its config folder: a second
country's deployment has its own keys). A neighbouring administration (a partner of kind
``customs``) signs with its own key, which this deployment never holds: its certificate is
installed with ``install_peer_certificate`` (``gateway keys peer ID CERT``). Until then
``init_keys`` writes a *stand-in* — a demo key ``keys/<id>.key`` and its certificate where
the registry expects the administration's — so that tests can sign as that administration;
installing the real certificate removes the stand-in key. ``link_demo_deployments`` does that
for demo deployments on one machine: each trusts the others' gateway certificates (the key a
gateway signs its CD messages with).
"""

from __future__ import annotations

import json
import shutil
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography import x509

from gateway.administrations import Administration
from gateway.errors import ConfigurationError
from gateway.partners import (
    SIGNATURE,
    hash_token,
    new_token,
    update_credentials,
    write_atomically,
)
from gateway.settings import Settings
from gateway.signing.keys import SigningKey, generate_key_pair

KEY_OWNERS = {"gateway": "Customs single-window gateway", "clearance": "Clearance (stand-in)",
              "bank-demo": "Demo Commercial Bank (stand-in)",
              "agency-phyto": "Phytosanitary Directorate (demo agency)",
              "agency-vet": "Food and Veterinary Agency (demo agency)",
              "agency-trade": "Ministry of Economy, licensing (demo agency)"}


def demo_tokens_path(settings: Settings) -> Path:
    return settings.var_dir / "demo-tokens.json"


def init_keys(settings: Settings, *, force: bool = False, demo_tokens: bool = True) -> list[str]:
    """Create what is missing (or everything with ``force``); return what was created."""
    created = []
    settings.keys_dir.mkdir(parents=True, exist_ok=True)
    settings.keys_dir.chmod(0o700)
    for name, organisation in KEY_OWNERS.items():
        key_path = settings.keys_dir / f"{name}.key"
        cert_path = settings.keys_dir / f"{name}.crt"
        if force or not (key_path.exists() and cert_path.exists()):
            key_pem, cert_pem = generate_key_pair(f"{name}.demo.customs", organisation)
            key_path.write_bytes(key_pem)
            key_path.chmod(0o600)
            cert_path.write_bytes(cert_pem)
            created.append(str(key_path))
    created.extend(_peer_stand_ins(settings, force=force))
    tokens_file = demo_tokens_path(settings)
    if demo_tokens and (force or not tokens_file.exists()):
        issue_demo_tokens(settings)
        created.append(str(tokens_file))
    return created


def issue_demo_tokens(settings: Settings) -> dict[str, str]:
    tokens = {p["id"]: new_token() for p in _partners(settings)
              if p.get("identity", "token") != SIGNATURE}     # those sign: no token

    def replace_all(hashes: dict[str, list[str]]) -> None:
        for partner_id, token in tokens.items():
            hashes[partner_id] = [hash_token(token)]

    update_credentials(settings.credentials_path, replace_all)
    write_atomically(demo_tokens_path(settings), json.dumps(tokens, indent=1), 0o600)
    return tokens


def load_demo_tokens(settings: Settings) -> dict[str, str]:
    return json.loads(demo_tokens_path(settings).read_text("utf-8"))


def issue_token(settings: Settings, partner_id: str, *, replace: bool = False) -> str:
    """A new bearer token for one partner; only its hash is stored. With ``replace`` the
    partner's other tokens are revoked. Running gateways follow the file within about a second."""
    token = new_token()

    def add(hashes: dict[str, list[str]]) -> None:
        kept = [] if replace else hashes.get(partner_id, [])
        hashes[partner_id] = [*kept, hash_token(token)]

    update_credentials(settings.credentials_path, add)
    return token


def _partners(settings: Settings) -> list[dict[str, Any]]:
    """The deployment's partner entries, as written (``partners.toml``)."""
    text = settings.config_file("partners.toml").read_text("utf-8")
    return list(tomllib.loads(text).get("partner", []))


def _peer_stand_ins(settings: Settings, *, force: bool) -> list[str]:
    """A demo key and certificate for each customs administration whose certificate is not
    installed (never over an installed one, ``force`` or not: it is not ours to replace)."""
    created = []
    for partner in _partners(settings):
        certificates = partner.get("certificates") or []
        if partner.get("kind") != "customs" or not certificates:
            continue
        key_path = settings.keys_dir / f"{partner['id']}.key"
        cert_path = settings.var_dir / certificates[0]
        if cert_path.exists() and not (force and key_path.exists()):
            continue
        key_pem, cert_pem = generate_key_pair(f"{partner['id']}.stand-in.customs",
                                              f"{partner.get('name', partner['id'])} (stand-in)")
        key_path.write_bytes(key_pem)
        key_path.chmod(0o600)
        cert_path.parent.mkdir(parents=True, exist_ok=True)
        cert_path.write_bytes(cert_pem)
        created.append(str(key_path))
    return created


def install_peer_certificate(settings: Settings, partner_id: str, certificate: Path, *,
                             slot: int = 0) -> Path:
    """Install an administration's certificate where this deployment's registry expects it
    (its ``slot``-th listed certificate: list the next one beside the current to rotate);
    the stand-in key, if any, goes. Running gateways need a restart to use it."""
    entry = next((p for p in _partners(settings) if p.get("id") == partner_id), None)
    if entry is None:
        raise ConfigurationError(
            f"{partner_id!r} is not in {settings.config_file('partners.toml')}")
    listed = entry.get("certificates") or []
    if not 0 <= slot < len(listed):
        raise ConfigurationError(f"partner {partner_id!r} lists {len(listed)} certificate(s); "
                                 f"there is no slot {slot}")
    try:
        x509.load_pem_x509_certificate(certificate.read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"{certificate} is not a PEM certificate: {exc}") from exc
    target = settings.var_dir / listed[slot]
    target.parent.mkdir(parents=True, exist_ok=True)
    if certificate.resolve() != target.resolve():
        shutil.copyfile(certificate, target)
    (settings.keys_dir / f"{partner_id}.key").unlink(missing_ok=True)
    return target


def link_demo_deployments(deployments: Sequence[Settings]) -> list[Path]:
    """Each demo deployment trusts the others: the certificate of a deployment's gateway key
    (what it signs its CD messages with) is installed in every other one, for the partner id
    its ``administration.toml`` states."""
    installed = []
    for own in deployments:
        administration = Administration.load(own.config_file("administration.toml"),
                                             country=own.country)
        for other in deployments:
            if other is not own:
                installed.append(install_peer_certificate(
                    other, administration.partner_id, own.keys_dir / "gateway.crt"))
    return installed


def load_stand_in_key(settings: Settings, partner_id: str) -> SigningKey:
    """The demo key ``init_keys`` wrote for an administration whose certificate is not
    installed (tests sign as that administration with it)."""
    entry = next((p for p in _partners(settings) if p.get("id") == partner_id), None)
    if entry is None or not entry.get("certificates"):
        raise ConfigurationError(f"{partner_id!r} lists no certificate in "
                                 f"{settings.config_file('partners.toml')}")
    return SigningKey.load(settings.keys_dir / f"{partner_id}.key",
                           settings.var_dir / entry["certificates"][0])
