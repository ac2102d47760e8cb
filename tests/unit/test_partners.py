"""The partner registry: bearer tokens (hashed, rotatable), permissions, reading, kinds."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from gateway.errors import ConfigurationError, Forbidden, Unauthenticated
from gateway.partners import (
    PartnerRegistry,
    hash_token,
    new_token,
    read_credentials,
    write_credentials,
)
from gateway.settings import Settings

SETTINGS = Settings()
PARTNERS_TOML = SETTINGS.config_dir / "partners.toml"


@pytest.fixture
def tokens() -> dict[str, list[str]]:
    """Fresh tokens: two for broker-alpha (rotation), one each for the others."""
    return {"broker-alpha": [new_token(), new_token()], "broker-legacy": [new_token()],
            "bank-demo": [new_token()]}


@pytest.fixture
def registry(tmp_path: Path, tokens: dict[str, list[str]]) -> PartnerRegistry:
    credentials = tmp_path / "credentials.toml"
    write_credentials(credentials, {p: [hash_token(t) for t in ts] for p, ts in tokens.items()})
    return PartnerRegistry.load(PARTNERS_TOML, credentials, gateway_url="http://gw.test:8080")


def test_authenticate_right_token_gives_partner(
        registry: PartnerRegistry, tokens: dict[str, list[str]]) -> None:
    """Each partner's own token authenticates as that partner."""
    assert registry.authenticate(f"Bearer {tokens['broker-legacy'][0]}").id == "broker-legacy"
    assert registry.authenticate(f"Bearer {tokens['bank-demo'][0]}").id == "bank-demo"


def test_authenticate_every_rotated_token_works(
        registry: PartnerRegistry, tokens: dict[str, list[str]]) -> None:
    """Both active tokens of a partner authenticate (rotation without downtime)."""
    old, new = tokens["broker-alpha"]
    assert registry.authenticate(f"Bearer {old}").id == "broker-alpha"
    assert registry.authenticate(f"Bearer {new}").id == "broker-alpha"


def test_authenticate_scheme_case_and_spacing_tolerated(
        registry: PartnerRegistry, tokens: dict[str, list[str]]) -> None:
    """'bearer' in lower case and surrounding spaces around the token are accepted."""
    token = tokens["broker-legacy"][0]
    assert registry.authenticate(f"bearer {token}").id == "broker-legacy"
    assert registry.authenticate(f"Bearer  {token} ").id == "broker-legacy"


@pytest.mark.parametrize("header", [
    None, "", "Bearer", "Bearer ", "Bearer gwt_wrong-token", "Basic dXNlcjpwYXNz",
    "Token abc", "gwt_no_scheme",
])
def test_authenticate_wrong_missing_or_non_bearer_is_unauthenticated(
        registry: PartnerRegistry, header: str | None) -> None:
    """Missing, unknown or non-bearer credentials raise Unauthenticated (401)."""
    with pytest.raises(Unauthenticated) as caught:
        registry.authenticate(header)
    assert caught.value.http_status == 401
    assert caught.value.code == "GW-AUTH-UNAUTHENTICATED"


def test_authenticate_hash_itself_is_not_a_token(
        registry: PartnerRegistry, tokens: dict[str, list[str]]) -> None:
    """Presenting the stored SHA-256 instead of the token does not authenticate."""
    with pytest.raises(Unauthenticated):
        registry.authenticate(f"Bearer {hash_token(tokens['broker-legacy'][0])}")


def test_authenticate_token_of_unconfigured_partner_refused(tmp_path: Path) -> None:
    """A token whose hash belongs to a partner absent from partners.toml is refused."""
    token = new_token()
    credentials = tmp_path / "credentials.toml"
    write_credentials(credentials, {"ghost-partner": [hash_token(token)]})
    registry = PartnerRegistry.load(PARTNERS_TOML, credentials)
    with pytest.raises(Unauthenticated):
        registry.authenticate(f"Bearer {token}")


def test_authenticate_without_credentials_file_refuses_all(tmp_path: Path) -> None:
    """With no credentials file nobody authenticates."""
    registry = PartnerRegistry.load(PARTNERS_TOML, tmp_path / "missing.toml")
    assert registry.token_hashes == {}
    with pytest.raises(Unauthenticated):
        registry.authenticate(f"Bearer {new_token()}")


def test_authorise_forbids_bank_to_send_declarations(registry: PartnerRegistry) -> None:
    """bank-demo may not send wco-dec-3.6: Forbidden (403) naming partner and type."""
    with pytest.raises(Forbidden) as caught:
        registry.authorise(registry.get("bank-demo"), "wco-dec-3.6")
    assert caught.value.http_status == 403
    assert "bank-demo" in caught.value.message and "wco-dec-3.6" in caught.value.message


def test_authorise_follows_allowed_message_types(registry: PartnerRegistry) -> None:
    """broker-alpha may send WCO and ASYCUDA; broker-legacy only ASYCUDA."""
    alpha, legacy = registry.get("broker-alpha"), registry.get("broker-legacy")
    for type_id in ("wco-dec-3.6", "wco-dec-3.6-bare", "asycuda-sad-1"):
        registry.authorise(alpha, type_id)
    registry.authorise(legacy, "asycuda-sad-1")
    with pytest.raises(Forbidden):
        registry.authorise(legacy, "wco-dec-3.6")


def test_authorise_star_allows_everything(tmp_path: Path) -> None:
    """A partner allowed "*" may send any message type."""
    config = tmp_path / "partners.toml"
    config.write_text('[[partner]]\nid = "ops"\nkind = "internal"\n'
                      'allowed_message_types = ["*"]\n', encoding="utf-8")
    registry = PartnerRegistry.load(config, None)
    registry.authorise(registry.get("ops"), "anything-1.0")
    assert registry.get("ops").name == "ops"


def test_partner_callback_gateway_url_substituted(registry: PartnerRegistry) -> None:
    """{gateway_url} in a callback is replaced by the gateway's base URL."""
    assert (registry.get("broker-alpha").callback_url
            == "http://gw.test:8080/sandbox/callbacks/broker-alpha")
    assert registry.get("broker-legacy").callback_url is None


def test_partner_kind_validated(tmp_path: Path) -> None:
    """A partner kind outside broker/bank/agency/customs/internal/operator is refused."""
    config = tmp_path / "partners.toml"
    config.write_text('[[partner]]\nid = "x"\nkind = "robot"\n', encoding="utf-8")
    with pytest.raises(ConfigurationError) as caught:
        PartnerRegistry.load(config, None)
    assert "'x'" in caught.value.message and "broker" in caught.value.message


def test_partner_entry_without_id_is_configuration_error(tmp_path: Path) -> None:
    """A partner entry lacking its id is a ConfigurationError."""
    config = tmp_path / "partners.toml"
    config.write_text('[[partner]]\nkind = "broker"\n', encoding="utf-8")
    with pytest.raises(ConfigurationError):
        PartnerRegistry.load(config, None)


def test_repository_partners_load_with_kinds_and_certificates() -> None:
    """config/partners.toml loads its partners, the demo operator and agencies among them."""
    registry = PartnerRegistry.load(PARTNERS_TOML, None)
    kinds = {p.id: p.kind for p in registry.partners.values()}
    assert kinds == {"broker-alpha": "broker", "broker-legacy": "broker", "bank-demo": "bank",
                     "clearance": "internal", "operator-demo": "operator",
                     "agency-phyto": "agency", "agency-vet": "agency", "agency-trade": "agency",
                     "customs-rs": "customs", "trader-haulier": "trader"}
    assert registry.get("clearance").certificates == ("keys/clearance.crt",)
    bank = registry.get("bank-demo")
    assert bank.bic == "CUSTMK22XXX" and not bank.may_send("wco-dec-3.6")
    assert bank.allowed_message_types == {f"camt054-001.{v}{e}" for v in ("02", "04", "08")
                                          for e in ("", "-bizmsg")}
    assert registry.get("operator-demo").allowed_message_types == frozenset()


def test_partner_reads_only_its_own_conversations(registry: PartnerRegistry) -> None:
    """A broker reads its own conversations and no other partner's."""
    alpha = registry.get("broker-alpha")
    assert alpha.may_read("broker-alpha")
    assert not alpha.may_read("broker-legacy")
    assert not registry.get("bank-demo").may_read("broker-alpha")


def test_internal_identity_does_not_read_broker_conversations(registry: PartnerRegistry) -> None:
    """The clearance system's identity (kind internal) reads no broker's conversation."""
    clearance = registry.get("clearance")
    assert clearance.kind == "internal"
    assert not clearance.may_read("broker-alpha")
    assert not clearance.may_read("broker-legacy")


def test_operator_reads_every_conversation(registry: PartnerRegistry) -> None:
    """A partner of kind operator may read any partner's conversation."""
    operator = registry.get("operator-demo")
    assert all(operator.may_read(p) for p in ("broker-alpha", "broker-legacy", "bank-demo"))


def test_duplicate_partner_id_is_configuration_error(tmp_path: Path) -> None:
    """The same partner id listed twice is refused (which one would win is not obvious)."""
    config = tmp_path / "partners.toml"
    config.write_text('[[partner]]\nid = "x"\nkind = "broker"\n' * 2, encoding="utf-8")
    with pytest.raises(ConfigurationError) as caught:
        PartnerRegistry.load(config, None)
    assert "'x'" in caught.value.message


def test_invalid_toml_is_configuration_error(tmp_path: Path) -> None:
    """A partners.toml that is not TOML is a ConfigurationError (not a raw TOML error)."""
    config = tmp_path / "partners.toml"
    config.write_text('[[partner]\nid = "x"\n', encoding="utf-8")
    with pytest.raises(ConfigurationError) as caught:
        PartnerRegistry.load(config, None)
    assert "TOML" in caught.value.message


def test_hash_token_is_sha256_hex() -> None:
    """hash_token gives the 64-hex-digit SHA-256 of the token's UTF-8 bytes."""
    assert hash_token("abc") == ("ba7816bf8f01cfea414140de5dae2223"
                                 "b00361a396177a9cb410ff61f20015ad")


def test_new_token_is_random_and_prefixed() -> None:
    """Tokens carry the gwt_ prefix, at least 256 bits of randomness, and never repeat."""
    made = {new_token() for _ in range(50)}
    assert len(made) == 50
    assert all(t.startswith("gwt_") and len(t) >= 4 + 43 for t in made)


def test_write_credentials_stores_hashes_only_owner_readable(
        tmp_path: Path, tokens: dict[str, list[str]]) -> None:
    """The credentials file holds hashes (never tokens), is 0600 and reads back the same."""
    path = tmp_path / "var" / "credentials.toml"
    hashes = {p: [hash_token(t) for t in ts] for p, ts in tokens.items()}
    write_credentials(path, hashes)
    text = path.read_text()
    for partner_tokens in tokens.values():
        for token in partner_tokens:
            assert token not in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_credentials(path) == hashes
