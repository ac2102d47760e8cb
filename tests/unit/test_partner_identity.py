"""How a partner proves who it is (``require_wss``) and how pushes reach it (``delivery``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.errors import ConfigurationError
from gateway.partners import PartnerRegistry
from gateway.settings import Settings


def _load(tmp_path: Path, entry: str) -> PartnerRegistry:
    path = tmp_path / "partners.toml"
    path.write_text(f'[[partner]]\nid = "bank-x"\nkind = "bank"\n{entry}\n', encoding="utf-8")
    return PartnerRegistry.load(path, None, gateway_url="http://gw.test")


def test_partner_defaults_to_token_only_and_http_delivery(tmp_path: Path) -> None:
    """Without the keys: no WS-Security required, pushes POSTed to the callback."""
    partner = _load(tmp_path, 'callback_url = "{gateway_url}/cb"').get("bank-x")
    assert (partner.require_wss, partner.delivery, partner.callback_url) == (
        False, "http", "http://gw.test/cb")


def test_repository_bank_requires_wss_and_takes_soap_pushes() -> None:
    """bank-demo signs its SOAP requests and receives its ACKs on its SOAP service."""
    settings = Settings()
    partners = PartnerRegistry.load(settings.config_dir / "partners.toml", None,
                                    gateway_url="http://gw.test")
    bank = partners.get("bank-demo")
    assert bank.require_wss and bank.certificates
    assert (bank.delivery, bank.callback_url) == ("soap", "http://gw.test/bank/soap?wsdl")
    assert not partners.get("broker-alpha").require_wss


@pytest.mark.parametrize(("entry", "says"), [
    ("require_wss = true", "certificates"),
    ('require_wss = "yes"\ncertificates = ["keys/x.crt"]', "true or false"),
    ('delivery = "soap"', "callback_url"),
    ('delivery = "ftp"\ncallback_url = "http://x"', "delivery must be one of http, soap"),
])
def test_identity_and_delivery_entries_are_checked(tmp_path: Path, entry: str,
                                                   says: str) -> None:
    """A WS-Security requirement without certificates, a non-boolean, a SOAP delivery without
    its WSDL address, an unknown delivery: the registry is refused, saying why."""
    with pytest.raises(ConfigurationError, match=says):
        _load(tmp_path, entry)
