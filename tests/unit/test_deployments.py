"""Two national gateways from one code base: a deployment is a folder of data.

``GATEWAY_CONFIG_DIR`` names a country's folder whose files replace the shared ones
(``Settings.config_file``); ``administration.toml`` says who the deployment is, ``link.toml``
which administrations it delivers to (``gateway/administrations.py``); keys are set up per
deployment and demo deployments trust each other (``adapters/setup_keys.py``). Nothing here
needs RabbitMQ: gateways are built, not started.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cryptography import x509

from adapters.bootstrap import build_gateway, load_topology
from adapters.setup_keys import (
    init_keys,
    install_peer_certificate,
    link_demo_deployments,
    load_demo_tokens,
)
from gateway.administrations import Administration, LinkConfig, link_routing_key
from gateway.errors import ConfigurationError
from gateway.partners import PartnerRegistry
from gateway.settings import PROJECT_HOME, Settings

RS_CONFIG = PROJECT_HOME / "deployments" / "rs" / "config"


def _deployment(tmp_path: Path, country: str, **extra: object) -> Settings:
    var = tmp_path / country.lower()
    return Settings(var_dir=var, country=country, db_url=f"sqlite:///{var / 'journal.db'}",
                    config_overlay=RS_CONFIG if country == "RS" else None,
                    amqp_prefix=f"{country.lower()}.", **extra)   # type: ignore[arg-type]


def _none(country: str, what: str) -> str | None:
    return None


# --- the config tree -------------------------------------------------------------------------


def test_config_file_prefers_the_deployments_own_folder(tmp_path: Path) -> None:
    """A file in the deployment's folder replaces the shared one; the others stay shared."""
    rs = Settings(config_overlay=RS_CONFIG)
    assert rs.config_file("partners.toml") == RS_CONFIG / "partners.toml"
    assert rs.config_file("administration.toml") == RS_CONFIG / "administration.toml"
    assert rs.config_file("message_types.toml") == PROJECT_HOME / "config" / "message_types.toml"
    assert rs.config_file("standins/clearance.toml") == \
        PROJECT_HOME / "config" / "standins" / "clearance.toml"
    assert Settings().config_file("partners.toml") == PROJECT_HOME / "config" / "partners.toml"


def test_settings_read_the_deployment_and_link_variables() -> None:
    """GATEWAY_CONFIG_DIR is relative to GATEWAY_HOME; GATEWAY_LINK_<CC>_* are collected."""
    settings = Settings.from_env({
        "GATEWAY_CONFIG_DIR": "deployments/rs/config", "GATEWAY_COUNTRY": "RS",
        "GATEWAY_LINK_MK_AMQP_URL": "amqp://u:p@mk.example:5672/mk",
        "GATEWAY_LINK_MK_PREFIX": "mk.", "GATEWAY_LINK_MACEDONIA_PREFIX": "ignored"})
    assert settings.config_overlay == RS_CONFIG
    assert settings.country == "RS"
    assert settings.link_setting("MK", "AMQP_URL") == "amqp://u:p@mk.example:5672/mk"
    assert settings.link_setting("mk", "PREFIX") == "mk."
    assert settings.link_setting("AL", "PREFIX") is None


def test_settings_refuse_a_config_folder_that_is_not_there(tmp_path: Path) -> None:
    """A mistyped GATEWAY_CONFIG_DIR is refused at once, not silently ignored."""
    with pytest.raises(ConfigurationError, match="not a folder"):
        Settings.from_env({"GATEWAY_CONFIG_DIR": str(tmp_path / "nowhere")})


# --- administration.toml ---------------------------------------------------------------------


def test_administration_files_state_country_partner_id_and_offices() -> None:
    """MK's and RS's files: each names its own offices and the id the other knows it by."""
    mk = Administration.load(PROJECT_HOME / "config" / "administration.toml", country="MK")
    rs = Administration.load(RS_CONFIG / "administration.toml", country="RS")
    assert (mk.partner_id, mk.sender, rs.partner_id, rs.sender) == (
        "customs-mk", "NTA.MK", "customs-rs", "NTA.RS")
    assert mk.has_office("MK001005") and not mk.has_office("RS002000")
    assert rs.has_office("RS002000") and rs.has_office("RS001100")


def test_administration_must_agree_with_gateway_country() -> None:
    """RS's folder with GATEWAY_COUNTRY=MK would sign as the wrong country: refused."""
    with pytest.raises(ConfigurationError, match="GATEWAY_COUNTRY is MK"):
        Administration.load(RS_CONFIG / "administration.toml", country="MK")


def test_administration_offices_must_be_its_countrys(tmp_path: Path) -> None:
    """An office of another country (or no reference number at all) is refused."""
    path = tmp_path / "administration.toml"
    path.write_text('country = "MK"\nname = "x"\npartner_id = "customs-mk"\n'
                    'offices = ["MK001005", "RS002000", "nowhere"]\n', encoding="utf-8")
    with pytest.raises(ConfigurationError, match="RS002000"):
        Administration.load(path, country="MK")


# --- link.toml -------------------------------------------------------------------------------


def test_link_peer_gets_a_queue_bound_to_its_keys(tmp_path: Path) -> None:
    """One queue per peer (link.to.<cc>) on customs.link, dead-lettering to the parking, one
    consumer at a time (several instances' links keep the order)."""
    link = LinkConfig.load(PROJECT_HOME / "config" / "link.toml", setting=_none)
    (spec,) = link.queue_specs("gateway.parking")
    assert (spec.name, spec.bindings, spec.dead_letter_exchange, spec.delivery_limit) == (
        "link.to.rs", (("customs.link", "movement.*.rs"),), "gateway.parking", 100)
    assert spec.arguments("t.")["x-single-active-consumer"] is True
    incoming = next(q for q in load_topology(Settings()).queues
                    if q.name == "gateway.customs-incoming")
    assert incoming.arguments("t.")["x-single-active-consumer"] is True
    assert link_routing_key("CD001C", "RS") == "movement.cd001c.rs"


def test_link_peer_is_reached_where_the_deployment_says(tmp_path: Path) -> None:
    """The variables override the file; with no URL at all the link to the peer is off."""
    path = PROJECT_HOME / "config" / "link.toml"
    off = LinkConfig.load(path, setting=_none).peer("RS")
    assert off is not None and off.amqp_url is None and off.prefix == "rs."
    settings = Settings(links=(("GATEWAY_LINK_RS_AMQP_URL", "amqp://g:g@127.0.0.1:5673/"),
                               ("GATEWAY_LINK_RS_PREFIX", "t1.rs.")))
    on = LinkConfig.load(path, setting=settings.link_setting).peer("RS")
    assert on is not None and (on.amqp_url, on.prefix) == ("amqp://g:g@127.0.0.1:5673/",
                                                           "t1.rs.")


def test_link_peer_must_be_a_customs_partner_known_by_its_signature(tmp_path: Path) -> None:
    """A peer whose partner entry is missing, a token partner or another country: refused."""
    link = LinkConfig.load(PROJECT_HOME / "config" / "link.toml", setting=_none)
    partners = PartnerRegistry.load(PROJECT_HOME / "config" / "partners.toml", None).partners
    link.check_partners(partners)
    path = tmp_path / "partners.toml"
    path.write_text('[[partner]]\nid = "customs-rs"\nkind = "customs"\nidentity = "signature"\n'
                    'country = "AL"\ncertificates = ["x.crt"]\n', encoding="utf-8")
    with pytest.raises(ConfigurationError, match='country = "RS"'):
        link.check_partners(PartnerRegistry.load(path, None).partners)
    with pytest.raises(ConfigurationError, match="customs-rs"):
        link.check_partners({})


def test_link_file_lists_a_country_once(tmp_path: Path) -> None:
    """Two peers for one country would split its messages: refused."""
    path = tmp_path / "link.toml"
    path.write_text('[[peer]]\npartner = "a"\ncountry = "RS"\n[[peer]]\npartner = "b"\n'
                    'country = "RS"\n', encoding="utf-8")
    with pytest.raises(ConfigurationError, match="listed twice"):
        LinkConfig.load(path, setting=_none)


# --- two deployments -------------------------------------------------------------------------


def test_serbian_deployment_is_built_from_its_folder(tmp_path: Path) -> None:
    """RS: its own partners (MK known by signature), administration, link to MK and the link
    queue in its topology; the shared registry of message types."""
    rs = _deployment(tmp_path, "RS")
    init_keys(rs)
    gateway = build_gateway(rs)
    try:
        assert gateway.administration is not None and gateway.administration.country == "RS"
        mk = gateway.partners.get("customs-mk")
        assert (mk.identity, mk.country) == ("signature", "MK")
        assert "broker-alpha" not in gateway.partners.partners
        assert [p.country for p in gateway.link.peers] == ["MK"]
        queues = {q.name: q for q in gateway.topology.queues}
        assert queues["link.to.mk"].bindings == (("customs.link", "movement.*.mk"),)
        assert "gateway.customs-incoming" in queues
        assert gateway.registry.get("ncts-p5-cd001c") is not None
        assert load_topology(rs) == gateway.topology
    finally:
        gateway.journal.close()


def test_a_gateway_with_another_countrys_folder_does_not_start(tmp_path: Path) -> None:
    """GATEWAY_COUNTRY=MK with the Serbian folder: refused at build time, saying so."""
    wrong = _deployment(tmp_path, "RS").with_(country="MK")
    init_keys(wrong)
    with pytest.raises(ConfigurationError, match="GATEWAY_COUNTRY is MK"):
        build_gateway(wrong)


def test_keys_init_gives_no_token_to_an_administration_and_a_stand_in_certificate(
        tmp_path: Path) -> None:
    """Tokens for token partners only; the neighbour's certificate is a stand-in with its key
    until the real one is installed."""
    mk = _deployment(tmp_path, "MK")
    init_keys(mk)
    tokens = load_demo_tokens(mk)
    assert "broker-alpha" in tokens and "customs-rs" not in tokens
    assert (mk.keys_dir / "customs-rs.key").is_file()
    assert (mk.var_dir / "peers" / "customs-rs.crt").is_file()


def test_linked_demo_deployments_trust_each_others_gateway_keys(tmp_path: Path) -> None:
    """After linking, MK trusts RS's gateway certificate as customs-rs and RS trusts MK's as
    customs-mk; the stand-in keys are gone, and keys init leaves installed ones alone."""
    mk, rs = _deployment(tmp_path, "MK"), _deployment(tmp_path, "RS")
    init_keys(mk)
    init_keys(rs)
    link_demo_deployments([mk, rs])
    assert (mk.var_dir / "peers" / "customs-rs.crt").read_bytes() == \
        (rs.keys_dir / "gateway.crt").read_bytes()
    assert (rs.var_dir / "peers" / "customs-mk.crt").read_bytes() == \
        (mk.keys_dir / "gateway.crt").read_bytes()
    assert not (mk.keys_dir / "customs-rs.key").exists()
    init_keys(mk, force=True)
    assert (mk.var_dir / "peers" / "customs-rs.crt").read_bytes() == \
        (rs.keys_dir / "gateway.crt").read_bytes()
    gateway = build_gateway(mk)
    try:
        trusted = {t.owner: t.certificate for t in gateway.trust.by_key_id.values()}
        expected = x509.load_pem_x509_certificate((rs.keys_dir / "gateway.crt").read_bytes())
        assert trusted["customs-rs"] == expected
    finally:
        gateway.journal.close()


def test_install_peer_certificate_checks_the_partner_and_the_file(tmp_path: Path) -> None:
    """An unknown partner, a slot it does not list, a file that is not a certificate."""
    mk = _deployment(tmp_path, "MK")
    init_keys(mk)
    cert = mk.keys_dir / "gateway.crt"
    with pytest.raises(ConfigurationError, match="not in"):
        install_peer_certificate(mk, "customs-xx", cert)
    with pytest.raises(ConfigurationError, match="no slot 1"):
        install_peer_certificate(mk, "customs-rs", cert, slot=1)
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(ConfigurationError, match="not a PEM certificate"):
        install_peer_certificate(mk, "customs-rs", junk)
    shutil.copyfile(cert, tmp_path / "rs.crt")
    assert install_peer_certificate(mk, "customs-rs", tmp_path / "rs.crt") == \
        mk.var_dir / "peers" / "customs-rs.crt"
    assert json.loads((mk.var_dir / "demo-tokens.json").read_text())
