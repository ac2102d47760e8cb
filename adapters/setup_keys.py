"""Key and credential set-up for demo and test deployments (``gateway keys init``).

Generates the gateway's signing key and the keys of the clearance and bank stand-ins and of
the demo permit agencies (ECDSA P-256, self-signed certificates) under ``var/keys/``, and —
with ``demo_tokens`` — a bearer token for every partner in the registry, written to
``var/demo-tokens.json`` (mode 600) for the demo and the tests while only their hashes go to
the credentials file. Nothing here is ever committed.
Production deployments bring their own keys and issue tokens with ``gateway partners token``.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from gateway.partners import hash_token, new_token, update_credentials, write_atomically
from gateway.settings import Settings
from gateway.signing.keys import generate_key_pair

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
    tokens_file = demo_tokens_path(settings)
    if demo_tokens and (force or not tokens_file.exists()):
        issue_demo_tokens(settings)
        created.append(str(tokens_file))
    return created


def issue_demo_tokens(settings: Settings) -> dict[str, str]:
    partners = tomllib.loads((settings.config_dir / "partners.toml").read_text("utf-8"))
    tokens = {p["id"]: new_token() for p in partners.get("partner", [])}

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
