"""The registry's ``validate_xpath`` (a schema applied to a child of the root) and the payment
notification's own intake step (the sending bank services the accounts it reports)."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from adapters.bootstrap import load_formats
from gateway.errors import Forbidden, UnknownMessageType
from gateway.flows.payments.servicer import account_servicer_is_sender, same_bank
from gateway.message_types import MessageTypeRegistry
from gateway.partners import Partner
from gateway.pipeline.exchange import Exchange
from gateway.settings import Settings
from samples.camt054 import CUSTOMS_BANK, build_camt054

SETTINGS = Settings()


@pytest.fixture(scope="module")
def registry() -> MessageTypeRegistry:
    return load_formats(SETTINGS)[0]


@pytest.mark.parametrize("version", ["02", "04", "08"])
def test_registry_envelope_validates_the_document_inside(registry: MessageTypeRegistry,
                                                         version: str) -> None:
    """A camt.054 in the BizMsg envelope is its version's -bizmsg type, valid, keyed by MsgId."""
    body = build_camt054(version, envelope=True, transactions=2)
    root = etree.fromstring(body)
    found = registry.identify(root)
    assert found.message_type.id == f"camt054-001.{version}-bizmsg"
    assert found.message_id == "CAMT054-0000-1x2"
    assert registry.validate(found.message_type, root, body) == []


def test_registry_envelope_problems_point_into_the_document_from_the_root(
        registry: MessageTypeRegistry) -> None:
    """A schema problem inside the enveloped Document is located from the BizMsg root, with
    its line, column and value."""
    body = build_camt054("08", envelope=True).replace(b"<Ccy>EUR</Ccy>", b"<Ccy>EURO</Ccy>")
    root = etree.fromstring(body)
    (problem,) = registry.validate(registry.identify(root).message_type, root, body)
    assert problem.pointer == "/BizMsg/Document/BkToCstmrDbtCdtNtfctn/Ntfctn/Acct/Ccy"
    assert (problem.code, problem.value, problem.line) == ("GW-XSD-PATTERN", "EURO", 2)
    assert problem.column == body.split(b"\n")[1].index(b"<Ccy>EURO") + 1


@pytest.mark.parametrize("mutate", [
    lambda b: b.replace(b"camt.054.001.08", b"camt.054.001.99"),
    lambda b: b.replace(b"</AppHdr>", b"</AppHdr><AppHdr xmlns=\"urn:iso:std:iso:20022:tech:"
                                      b"xsd:head.001.001.02\"/>"),
], ids=["unknown-version", "two-headers"])
def test_registry_envelope_of_another_shape_is_unknown(registry: MessageTypeRegistry,
                                                       mutate: object) -> None:
    """An envelope around an unknown camt version, or of another shape, is no known type."""
    body = mutate(build_camt054("08", envelope=True))   # type: ignore[operator]
    with pytest.raises(UnknownMessageType) as caught:
        registry.identify(etree.fromstring(body))
    assert caught.value.code == "GW-MSG-UNKNOWN-TYPE"


def test_registry_bare_unknown_camt_version_is_unknown(registry: MessageTypeRegistry) -> None:
    """A camt.054.001.99 Document matches no entry: GW-MSG-UNKNOWN-TYPE."""
    body = build_camt054("08").replace(b"camt.054.001.08", b"camt.054.001.99")
    with pytest.raises(UnknownMessageType) as caught:
        registry.identify(etree.fromstring(body))
    assert caught.value.code == "GW-MSG-UNKNOWN-TYPE"


def test_registry_validate_xpath_selecting_no_element_is_a_located_problem(
        tmp_path: Path) -> None:
    """An entry whose validate_xpath selects no element reports that, at the root."""
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "inner.xsd").write_text(
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:i" '
        'elementFormDefault="qualified"><xs:element name="Inner" type="xs:string"/></xs:schema>')
    config = tmp_path / "types.toml"
    config.write_text('[[message_type]]\nid = "wrapped"\nname = "wrapped"\nfamily = "t"\n'
                      'root = "{urn:o}Outer"\nversion = "1"\nschema = "s/inner.xsd"\n'
                      'mapping = "m.toml"\ncanonical_kind = "declaration"\n'
                      'routing_class = "x"\nvalidate_xpath = "i:Inner"\n'
                      'namespaces = { i = "urn:i" }\n')
    registry = MessageTypeRegistry.load(config, tmp_path)
    mt = registry.get("wrapped")
    good = b'<Outer xmlns="urn:o"><Inner xmlns="urn:i">x</Inner></Outer>'
    assert registry.validate(mt, etree.fromstring(good), good) == []
    empty = b'<Outer xmlns="urn:o"/>'
    (problem,) = registry.validate(mt, etree.fromstring(empty), empty)
    assert (problem.code, problem.pointer, problem.line) == ("GW-XSD-CONTENT", "/Outer", 1)


# --- the sending bank services the accounts --------------------------------------------------


def _exchange(body: bytes, bic: str | None) -> Exchange:
    ex = Exchange(body=body, channel="http")
    ex.document = etree.fromstring(body)
    ex.partner = Partner(id="bank-x", name="Bank X", kind="bank", bic=bic)
    return ex


def test_servicer_check_accepts_the_banks_own_accounts_whatever_the_branch() -> None:
    """The account's servicer is the sender (the same 8-character BIC; branch codes aside)."""
    body = build_camt054("08")
    assert account_servicer_is_sender(_exchange(body, CUSTOMS_BANK)) is not None
    assert account_servicer_is_sender(_exchange(body, CUSTOMS_BANK[:8])) is not None
    assert same_bank("UBSWCHZH80A", "UBSWCHZHXXX") and not same_bank("UBSWCHZH", "POFICHBE")


@pytest.mark.parametrize("version", ["02", "08"])
def test_servicer_check_refuses_another_banks_account_with_its_location(version: str) -> None:
    """An account serviced by another BIC is refused 403 GW-AUTH-SERVICER, located."""
    body = build_camt054(version)
    with pytest.raises(Forbidden) as caught:
        account_servicer_is_sender(_exchange(body, "POFICHBEXXX"))
    err = caught.value
    assert (err.code, err.http_status) == ("GW-AUTH-SERVICER", 403)
    (problem,) = err.problems
    tag = "BIC" if version == "02" else "BICFI"
    assert problem.pointer == f"/Document/BkToCstmrDbtCdtNtfctn/Ntfctn/Acct/Svcr/FinInstnId/{tag}"
    assert problem.value == CUSTOMS_BANK and problem.line == 2


def test_servicer_check_refuses_a_bank_without_a_bic_and_skips_files_naming_none() -> None:
    """A bank with no BIC registered is refused; a file that names no servicer passes."""
    with pytest.raises(Forbidden):
        account_servicer_is_sender(_exchange(build_camt054("08"), None))
    no_servicer = build_camt054("08").replace(
        f"<Svcr><FinInstnId><BICFI>{CUSTOMS_BANK}</BICFI></FinInstnId></Svcr>".encode(), b"")
    assert account_servicer_is_sender(_exchange(no_servicer, None)) is not None
