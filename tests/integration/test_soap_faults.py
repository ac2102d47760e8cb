"""SOAP 1.1 and 1.2 at ``/soap`` against a real uvicorn server and the real RabbitMQ: faults.

Raw HTTP shows what a client library hides — the exact fault shapes of each SOAP version for
schema-invalid, hostile or inconsistent envelopes, missing tokens and bad queries — and zeep
shows how a partner sees the same faults. Signed rejections inside the faults are verified
with the independent ``xmlsec1`` binary. A WS-Addressing MessageID makes a resend idempotent.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
import zeep.exceptions
from conftest import RunningGateway, wait_for, xmlsec1_verify
from http_helpers import (
    GW_NS,
    REJECTION_NODE,
    fields,
    gateway_cert,
    invalid_declaration,
    journal_snapshot,
    new_lrn,
)
from lxml import etree
from soap_helpers import (
    ACTION,
    NS,
    PORTS,
    SOAP11,
    SOAP12,
    bound,
    envelope,
    fault_rejection,
    headers_for,
    post_soap,
    rejection_code,
    submit,
)

from samples.asycuda import build_sad
from samples.wco import build_dec

pytestmark = pytest.mark.integration

WSA = "http://www.w3.org/2005/08/addressing"
XML_NS = "http://www.w3.org/XML/1998/namespace"


def test_soap11_schema_invalid_declaration_fault(
        gateway_server: RunningGateway, tokens: dict[str, str], tmp_path: Path) -> None:
    """A schema-invalid declaration in SOAP 1.1 gives HTTP 500 and a soap:Client fault."""
    body = envelope(SOAP11, b"\n" + submit(invalid_declaration()))
    error_lines = [i + 1 for i, line in enumerate(body.split(b"\n")) if b"<!-- ERROR" in line]
    response = post_soap(gateway_server, body, headers_for("soap11", tokens["broker-alpha"]))

    assert response.status_code == 500
    fault = etree.fromstring(response.content).find("s11:Body/s11:Fault", NS)
    assert fault.findtext("faultcode") == "soap:Client"
    assert "schema" in fault.findtext("faultstring")
    rejection = fault.find("detail/gw:Fault/gw:Rejection", NS)
    assert rejection is not None
    assert rejection_code(rejection) == "GW-XSD-INVALID"
    problems = rejection.find("gw:Problems", NS)
    assert problems.get("count") == "7"
    listed = [fields(p) for p in problems.findall("gw:Problem", NS)]
    assert [int(p["Line"]) for p in listed] == error_lines
    rc, err = xmlsec1_verify(response.content, gateway_cert(gateway_server), REJECTION_NODE,
                             tmp_path)
    assert rc == 0, err
    # the same precise problems as over plain HTTP: readable pointer, column and value
    by_pointer = {p.get("Pointer"): p for p in listed}
    assert "/MetaData/Declaration/FunctionCode" in by_pointer, sorted(by_pointer)
    assert by_pointer["/MetaData/Declaration/FunctionCode"]["Value"] == "10"
    assert all("Column" in p for p in listed)
    assert journal_snapshot(gateway_server) == (0, 0, {})


def test_soap12_schema_invalid_declaration_fault(
        gateway_server: RunningGateway, tokens: dict[str, str], tmp_path: Path) -> None:
    """A schema-invalid declaration in SOAP 1.2 gives HTTP 400 and a soap:Sender fault."""
    body = envelope(SOAP12, submit(invalid_declaration()))
    response = post_soap(gateway_server, body, headers_for("soap12", tokens["broker-alpha"]))

    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/soap+xml")
    fault = etree.fromstring(response.content).find("s12:Body/s12:Fault", NS)
    assert fault.findtext("s12:Code/s12:Value", namespaces=NS) == "soap:Sender"
    text = fault.find("s12:Reason/s12:Text", NS)
    assert text.get(f"{{{XML_NS}}}lang") == "en"
    assert "schema" in text.text
    rejection = fault.find("s12:Detail/gw:Fault/gw:Rejection", NS)
    assert rejection is not None
    assert rejection_code(rejection) == "GW-XSD-INVALID"
    assert len(rejection.findall("gw:Problems/gw:Problem", NS)) == 7
    rc, err = xmlsec1_verify(response.content, gateway_cert(gateway_server), REJECTION_NODE,
                             tmp_path)
    assert rc == 0, err
    assert journal_snapshot(gateway_server) == (0, 0, {})


@pytest.mark.parametrize("port", list(PORTS))
def test_zeep_raises_fault_for_invalid_declaration(
        gateway_server: RunningGateway, tokens: dict[str, str], port: str) -> None:
    """zeep raises ``Fault`` carrying the signed rejection for a schema-invalid declaration."""
    service, _, _ = bound(gateway_server, tokens["broker-alpha"], port)
    with pytest.raises(zeep.exceptions.Fault) as raised:
        service.SubmitDeclaration(_value_1=etree.fromstring(invalid_declaration()))
    fault = raised.value
    assert fault.code == ("soap:Client" if port == "soap11" else "soap:Sender")
    assert "does not conform to its schema" in fault.message
    rejection = fault.detail.find(f"{{{GW_NS}}}Fault/{{{GW_NS}}}Rejection")
    assert rejection_code(rejection) == "GW-XSD-INVALID"
    assert rejection.find("gw:Problems", NS).get("count") == "7"


@pytest.mark.parametrize(("namespace", "version"), [(SOAP12, "soap11"), (SOAP11, "soap12")],
                         ids=["1.2-envelope-as-text/xml", "1.1-envelope-as-soap+xml"])
def test_envelope_version_not_matching_content_type_faults(
        gateway_server: RunningGateway, tokens: dict[str, str], namespace: str,
        version: str) -> None:
    """An envelope whose SOAP version contradicts the content type is refused with a fault."""
    body = envelope(namespace, submit(build_dec(1, lrn=new_lrn())))
    response = post_soap(gateway_server, body, headers_for(version, tokens["broker-alpha"]))
    assert response.status_code == (500 if version == "soap11" else 400)
    assert rejection_code(fault_rejection(response, version)) == "GW-SOAP-VERSION"
    assert journal_snapshot(gateway_server) == (0, 0, {})


@pytest.mark.parametrize("version", ["soap11", "soap12"])
def test_unknown_operation_faults(
        gateway_server: RunningGateway, tokens: dict[str, str], version: str) -> None:
    """A Body element that is not one of the service's operations is refused with a fault."""
    namespace = SOAP11 if version == "soap11" else SOAP12
    body = envelope(namespace, f'<gw:CancelDeclaration xmlns:gw="{GW_NS}"><gw:ConversationID>'
                    f'x</gw:ConversationID></gw:CancelDeclaration>'.encode())
    response = post_soap(gateway_server, body, headers_for(
        version, tokens["broker-alpha"], action=ACTION + "CancelDeclaration"))
    rejection = fault_rejection(response, version)
    assert rejection_code(rejection) == "GW-SOAP-OPERATION"
    assert "CancelDeclaration" in rejection.findtext("gw:Summary", namespaces=NS)


@pytest.mark.parametrize("version", ["soap11", "soap12"])
def test_soap_action_naming_other_operation_faults(
        gateway_server: RunningGateway, tokens: dict[str, str], version: str) -> None:
    """A SOAPAction (1.1) or action parameter (1.2) naming another operation is a fault."""
    namespace = SOAP11 if version == "soap11" else SOAP12
    body = envelope(namespace, submit(build_dec(1, lrn=new_lrn())))
    response = post_soap(gateway_server, body,
                         headers_for(version, tokens["broker-alpha"], "GetNotifications"))
    assert response.status_code == (500 if version == "soap11" else 400)
    assert rejection_code(fault_rejection(response, version)) == "GW-SOAP-ACTION"
    assert journal_snapshot(gateway_server) == (0, 0, {})


@pytest.mark.parametrize("version", ["soap11", "soap12"])
def test_doctype_in_soap_message_faults_and_journals_nothing(
        gateway_server: RunningGateway, tokens: dict[str, str], tmp_path: Path,
        version: str) -> None:
    """A SOAP message with a DOCTYPE (external entity) is refused and nothing is journaled."""
    namespace = SOAP11 if version == "soap11" else SOAP12
    lrn = new_lrn()
    inner = submit(build_dec(1, lrn=lrn)).replace(f">{lrn}<".encode(), b">&xxe;<")
    body = envelope(namespace, inner).replace(
        b"?>\n", b'?>\n<!DOCTYPE soap:Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n',
        1)
    response = post_soap(gateway_server, body, headers_for(version, tokens["broker-alpha"]))
    rejection = fault_rejection(response, version)
    assert rejection_code(rejection) == "GW-XML-DTD"
    assert "root:" not in response.text
    rc, err = xmlsec1_verify(response.content, gateway_cert(gateway_server), REJECTION_NODE,
                             tmp_path)
    assert rc == 0, err
    assert journal_snapshot(gateway_server) == (0, 0, {})


@pytest.mark.parametrize("version", ["soap11", "soap12"])
def test_missing_token_answers_401_with_soap_fault(
        gateway_server: RunningGateway, version: str) -> None:
    """Without a token SOAP answers HTTP 401 with a SOAP fault body carrying the rejection."""
    namespace = SOAP11 if version == "soap11" else SOAP12
    body = envelope(namespace, submit(build_dec(1, lrn=new_lrn())))
    response = post_soap(gateway_server, body, headers_for(version, None))
    assert response.status_code == 401
    rejection = fault_rejection(response, version)
    assert rejection_code(rejection) == "GW-AUTH-UNAUTHENTICATED"
    fault = etree.fromstring(response.content)
    code = fault.findtext("s11:Body/s11:Fault/faultcode", namespaces=NS) if version == "soap11" \
        else fault.findtext("s12:Body/s12:Fault/s12:Code/s12:Value", namespaces=NS)
    assert code == ("soap:Client" if version == "soap11" else "soap:Sender")
    assert journal_snapshot(gateway_server) == (0, 0, {})

    query = envelope(namespace, f'<gw:GetNotifications xmlns:gw="{GW_NS}"><gw:ConversationID>'
                     f'{uuid.uuid4().hex}</gw:ConversationID></gw:GetNotifications>'.encode())
    response = post_soap(gateway_server, query, headers_for(version, None, "GetNotifications"))
    assert response.status_code == 401
    assert rejection_code(fault_rejection(response, version)) == "GW-AUTH-UNAUTHENTICATED"


@pytest.mark.parametrize("version", ["soap11", "soap12"])
def test_get_notifications_with_non_numeric_after_sequence_faults(
        gateway_server: RunningGateway, tokens: dict[str, str], version: str) -> None:
    """A non-numeric AfterSequence is the sender's error, answered with a SOAP fault."""
    conversation_id = post_soap(gateway_server, envelope(
        SOAP11, submit(build_dec(1, lrn=new_lrn()))), headers_for(
        "soap11", tokens["broker-alpha"])).headers["X-Conversation-ID"]
    namespace = SOAP11 if version == "soap11" else SOAP12
    query = envelope(namespace, f'<gw:GetNotifications xmlns:gw="{GW_NS}"><gw:ConversationID>'
                     f'{conversation_id}</gw:ConversationID><gw:AfterSequence>two'
                     f'</gw:AfterSequence></gw:GetNotifications>'.encode())
    response = post_soap(gateway_server, query,
                         headers_for(version, tokens["broker-alpha"], "GetNotifications"))
    assert response.status_code == (500 if version == "soap11" else 400), response.text
    rejection = fault_rejection(response, version)
    assert rejection_code(rejection).startswith("GW-")


# --- WS-Addressing MessageID as the idempotency key ---------------------------------------


def wsa_header(message_id: str, extra: str = "") -> bytes:
    return (f'<wsa:MessageID xmlns:wsa="{WSA}">{message_id}</wsa:MessageID>{extra}').encode()


def test_ws_addressing_message_id_makes_resend_idempotent(
        gateway_server: RunningGateway, tokens: dict[str, str]) -> None:
    """An ASYCUDA declaration resent in a new envelope with its MessageID gets its receipt."""
    message_id = f"urn:uuid:{uuid.uuid4()}"
    declaration = build_sad(2, reference=new_lrn())
    first = post_soap(gateway_server, envelope(SOAP11, submit(declaration),
                                               wsa_header(message_id)),
                      headers_for("soap11", tokens["broker-alpha"]))
    assert first.status_code == 200, first.text
    receipt = etree.fromstring(first.content).find(
        "s11:Body/gw:SubmitDeclarationResponse/gw:Receipt", NS)
    assert receipt.findtext("gw:MessageID", namespaces=NS) == f"hdr:{message_id}"
    wait_for(lambda: gateway_server.gateway.journal.outbox_counts() == {"sent": 1})

    other_envelope = envelope(
        SOAP11, b"\n  " + submit(declaration).replace(b"gw:", b"g:").replace(b"xmlns:gw=",
                                                                             b"xmlns:g=")
        + b"\n", wsa_header(message_id, f'<wsa:Action xmlns:wsa="{WSA}">{ACTION}Submit'
                                        f'Declaration</wsa:Action>'), prefix="env")
    again = post_soap(gateway_server, other_envelope, headers_for("soap11",
                                                                  tokens["broker-alpha"]))
    assert again.status_code == 200, again.text
    assert again.headers["X-Duplicate"] == "true"
    assert again.headers["X-Conversation-ID"] == first.headers["X-Conversation-ID"]
    repeated = etree.fromstring(again.content).find(
        "s11:Body/gw:SubmitDeclarationResponse/gw:Receipt", NS)
    assert fields(repeated) == fields(receipt)
    time.sleep(0.2)
    assert journal_snapshot(gateway_server) == (1, 1, {"sent": 1})


def test_ws_addressing_message_id_reused_for_other_declaration_faults_409(
        gateway_server: RunningGateway, tokens: dict[str, str], tmp_path: Path) -> None:
    """A MessageID reused for a different declaration is a conflict fault naming the receipt."""
    message_id = f"urn:uuid:{uuid.uuid4()}"
    first = post_soap(gateway_server, envelope(SOAP11, submit(build_sad(2, reference=new_lrn())),
                                               wsa_header(message_id)),
                      headers_for("soap11", tokens["broker-alpha"]))
    assert first.status_code == 200, first.text
    original = etree.fromstring(first.content).findtext(
        "s11:Body/gw:SubmitDeclarationResponse/gw:Receipt/gw:ReceiptID", namespaces=NS)

    for version, namespace in (("soap11", SOAP11), ("soap12", SOAP12)):
        other = post_soap(gateway_server,
                          envelope(namespace, submit(build_sad(3, reference=new_lrn())),
                                   wsa_header(message_id)),
                          headers_for(version, tokens["broker-alpha"]))
        assert other.status_code == (500 if version == "soap11" else 400)
        rejection = fault_rejection(other, version)
        assert rejection_code(rejection) == "GW-DUPLICATE-CONFLICT"
        assert rejection.findtext("gw:OriginalReceiptID", namespaces=NS) == original
        rc, err = xmlsec1_verify(other.content, gateway_cert(gateway_server), REJECTION_NODE,
                                 tmp_path)
        assert rc == 0, err
    assert journal_snapshot(gateway_server)[:2] == (1, 1)
