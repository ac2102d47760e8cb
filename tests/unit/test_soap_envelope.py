"""The strict SOAP envelope reader on its own: structure, roles, the understood-headers table."""

from __future__ import annotations

from dataclasses import replace

import pytest
from lxml import etree

from adapters.http import soap_envelope
from adapters.http.soap_envelope import (
    SOAP11,
    SOAP12,
    V11,
    V12,
    WSSE,
    WSSE_SECURITY,
    MustUnderstandFault,
    SoapFaultError,
    SoapOperations,
    read_message,
)
from gateway.message_types import MessageTypeRegistry
from gateway.settings import Settings

GW_NS = "urn:customs-gateway:v1"
REGISTRY = list(MessageTypeRegistry.load(Settings().config_dir / "message_types.toml",
                                         Settings().schemas_dir))
OPERATIONS = SoapOperations.from_registry(REGISTRY)
QUERY = f'<gw:GetNotifications xmlns:gw="{GW_NS}"><gw:ConversationID>c1</gw:ConversationID>' \
        f'</gw:GetNotifications>'


def parsed(namespace: str, header: str = "", body: str = QUERY, after: str = "") -> etree._Element:
    head = f"<s:Header>{header}</s:Header>" if header else ""
    return etree.fromstring(f'<s:Envelope xmlns:s="{namespace}">{head}<s:Body>{body}</s:Body>'
                            f"{after}</s:Envelope>")


def security(namespace: str, must: str) -> str:
    return f'<wsse:Security xmlns:wsse="{WSSE}" xmlns:s="{namespace}" s:mustUnderstand="{must}"/>'


def test_read_message_gives_operation_payload_and_our_blocks() -> None:
    """A well-formed envelope yields its operation, Body element and the blocks for us."""
    header = ('<a:MessageID xmlns:a="http://www.w3.org/2005/08/addressing"> urn:x </a:MessageID>'
              '<o:Other xmlns:o="urn:o" s:actor="urn:someone-else"/>')
    message = read_message(parsed(SOAP11, header), V11, OPERATIONS)
    assert message.operation.name == "GetNotifications" and not message.operation.submits
    assert etree.QName(message.payload).localname == "GetNotifications"
    assert [etree.QName(h).localname for h in message.headers] == ["MessageID"]
    assert message.message_id == "urn:x"


@pytest.mark.parametrize(("namespace", "version", "must"), [(SOAP11, V11, "1"),
                                                            (SOAP12, V12, "true")])
def test_ws_security_is_understood_only_where_the_endpoint_verifies_it(
        namespace: str, version: soap_envelope.SoapVersion, must: str) -> None:
    """wsse:Security marked mustUnderstand is a MustUnderstand fault for a caller whose
    WS-Security the endpoint does not verify, and understood for one whose it does."""
    envelope = parsed(namespace, security(namespace, must))
    with pytest.raises(MustUnderstandFault) as raised:
        read_message(envelope, version, OPERATIONS)
    assert [q.text for q in raised.value.not_understood] == [WSSE_SECURITY]
    assert read_message(envelope, version, OPERATIONS, wss=True).header(WSSE_SECURITY) \
        is not None


def test_operations_come_from_the_registry_with_their_response_wrappers() -> None:
    """Every distinct soap_operation of the registry is a submission operation (registry
    order, once each), followed by the queries; each answers with <Op>Response."""
    operations = SoapOperations.from_registry(REGISTRY)
    named = list(dict.fromkeys(mt.soap_operation for mt in REGISTRY if mt.soap_operation))
    assert named[:2] == ["SubmitDeclaration", "SubmitPaymentNotification"]
    assert operations.names == (*named, "GetNotifications", "LookupPaymentReference")
    assert [op.submits for op in operations] == [True] * len(named) + [False, False]
    assert operations["SubmitPaymentNotification"].response == \
        "SubmitPaymentNotificationResponse"
    assert operations["LookupPaymentReference"].partner_kinds == {"bank"}
    envelope = parsed(SOAP11, body=f'<gw:SubmitPaymentNotification xmlns:gw="{GW_NS}"><x/>'
                                   "</gw:SubmitPaymentNotification>")
    assert read_message(envelope, V11, operations).operation.name == \
        "SubmitPaymentNotification"
    only_declarations = SoapOperations.from_registry(
        [mt for mt in REGISTRY if mt.soap_operation == "SubmitDeclaration"])
    with pytest.raises(SoapFaultError) as raised:
        read_message(envelope, V11, only_declarations)
    assert raised.value.code == "GW-SOAP-OPERATION"


def test_operation_named_like_a_query_is_refused() -> None:
    """A message type whose soap_operation is a query's name cannot be registered."""
    (declaration,) = [mt for mt in REGISTRY if mt.id == "wco-dec-3.6"]
    with pytest.raises(ValueError, match="GetNotifications"):
        SoapOperations.from_registry([replace(declaration, soap_operation="GetNotifications")])


def test_body_element_of_other_version_is_not_a_body() -> None:
    """A SOAP 1.2 Body inside a SOAP 1.1 Envelope is a stray element, not the Body."""
    envelope = etree.fromstring(f'<s:Envelope xmlns:s="{SOAP11}" xmlns:t="{SOAP12}">'
                                f"<t:Body>{QUERY}</t:Body></s:Envelope>")
    with pytest.raises(SoapFaultError) as raised:
        read_message(envelope, V11, OPERATIONS)
    assert raised.value.code == "GW-SOAP-ENVELOPE"
    assert raised.value.problems[0].pointer == "/Envelope/Body"


def test_cdata_text_after_body_is_refused() -> None:
    """Text hidden in a CDATA section after the Body is text all the same."""
    with pytest.raises(SoapFaultError) as raised:
        read_message(parsed(SOAP12, after="<![CDATA[<s:Body/>]]>"), V12, OPERATIONS)
    assert raised.value.code == "GW-SOAP-ENVELOPE"


def test_unqualified_header_block_is_refused() -> None:
    """Header blocks must be namespace-qualified (SOAP 1.1 §4.2, 1.2 §5.2.1)."""
    with pytest.raises(SoapFaultError) as raised:
        read_message(parsed(SOAP12, "<Plain>1</Plain>"), V12, OPERATIONS)
    assert raised.value.code == "GW-SOAP-HEADER"
