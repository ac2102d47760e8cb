"""The SOAP contract (WSDL) and the registry's operations must agree, checked at start-up."""

from __future__ import annotations

import pytest

from adapters.http.soap import check_contract, served_wsdl
from adapters.http.soap_envelope import SoapOperations
from gateway.errors import ConfigurationError
from gateway.message_types import MessageTypeRegistry
from gateway.settings import Settings

SETTINGS = Settings()
WSDL = served_wsdl(SETTINGS.schemas_dir / "gateway" / "gateway.wsdl",
                   (SETTINGS.schemas_dir / "gateway" / "gateway-v1.xsd").read_bytes())
REGISTRY = list(MessageTypeRegistry.load(SETTINGS.config_dir / "message_types.toml",
                                         SETTINGS.schemas_dir))


def test_shipped_wsdl_offers_exactly_the_registry_operations() -> None:
    """Every soap_operation of config/message_types.toml and every query is in the WSDL, in
    both bindings, with its wrappers in the schema, and the WSDL offers nothing else."""
    check_contract(WSDL, SoapOperations.from_registry(REGISTRY))


def test_registry_operation_missing_from_the_wsdl_stops_start_up() -> None:
    """A message type naming an operation the contract lacks is a ConfigurationError."""
    from dataclasses import replace

    extra = replace(REGISTRY[0], id="x", soap_operation="SubmitSomethingNew")
    with pytest.raises(ConfigurationError, match="SubmitSomethingNew is not in the WSDL"):
        check_contract(WSDL, SoapOperations.from_registry([*REGISTRY, extra]))


def test_wsdl_operation_no_message_type_names_stops_start_up() -> None:
    """An operation the WSDL offers but no registry entry carries is refused too."""
    without_payments = [mt for mt in REGISTRY
                        if mt.soap_operation != "SubmitPaymentNotification"]
    with pytest.raises(ConfigurationError, match="offers SubmitPaymentNotification"):
        check_contract(WSDL, SoapOperations.from_registry(without_payments))


def test_binding_without_an_operation_is_refused() -> None:
    """Both ports must bind every operation (SOAP 1.1 and 1.2 clients see the same service)."""
    one_less = WSDL.replace('<wsdl:operation name="LookupPaymentReference">\n      <soap12:',
                            '<wsdl:operation name="LookupPaymentReferenceGone">\n      <soap12:')
    assert one_less != WSDL
    with pytest.raises(ConfigurationError, match="CustomsGatewaySoap12 lacks "
                                                 "LookupPaymentReference"):
        check_contract(one_less, SoapOperations.from_registry(REGISTRY))
