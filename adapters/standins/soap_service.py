"""What a STAND-IN SOAP service with WS-Security needs, whatever its operations.

The permit agency stand-in (``agency.py``) is built on these; they are the demo bank's
(``bank.py``) shapes, written once for a service of any namespace:

* ``soap_namespace`` — the request's SOAP version (1.1 or 1.2), or ``GW-SOAP-ENVELOPE``;
* ``inline_schema`` — the WSDL's inline schema, compiled, to validate a verified Body with;
* ``socket_url`` — ``http://IP:PORT`` of the socket a request came in on (never a header);
* ``signed_envelope`` — a Body's content in an envelope signed with WS-Security;
* ``fault`` — a SOAP fault of the request's version, its code the WSS 1.0 fault code for a
  security refusal, the problem code and message in a detail element of the service's own.
"""

from __future__ import annotations

import copy
import datetime as dt

from fastapi import Request
from lxml import etree

from gateway.errors import GatewayError, MalformedXml, SignatureInvalid
from gateway.signing.wssecurity import SOAP11, SOAP12, fault_code, secure_envelope
from gateway.signing.xmldsig import XmlSigner

CONTENT_TYPES = {SOAP11: "text/xml; charset=utf-8", SOAP12: "application/soap+xml; charset=utf-8"}
_XS = "http://www.w3.org/2001/XMLSchema"


def soap_namespace(envelope: etree._Element) -> str:
    namespace = etree.QName(envelope).namespace
    if etree.QName(envelope).localname != "Envelope" or namespace not in (SOAP11, SOAP12):
        raise MalformedXml("the request is not a SOAP 1.1 or 1.2 Envelope",
                           code="GW-SOAP-ENVELOPE")
    return str(namespace)


def inline_schema(wsdl: bytes) -> etree.XMLSchema:
    schema = etree.fromstring(wsdl).find(f".//{{{_XS}}}schema")
    assert schema is not None, "the WSDL has no inline schema"
    return etree.XMLSchema(copy.deepcopy(schema))     # its own document, prefixes in scope


def socket_url(request: Request) -> str:
    host, port = request.scope.get("server") or ("127.0.0.1", None)
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}{f':{port}' if port else ''}"


def signed_envelope(namespace: str, content: etree._Element, signer: XmlSigner,
                    now: dt.datetime) -> bytes:
    envelope = etree.Element(f"{{{namespace}}}Envelope", nsmap={"s": namespace})
    etree.SubElement(envelope, f"{{{namespace}}}Body").append(content)
    secure_envelope(envelope, signer, now=now)
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


def fault(namespace: str, err: GatewayError, detail_tag: str) -> etree._Element:
    """A SOAP fault of ``namespace``'s version; ``detail_tag`` (a Clark name) holds the code."""
    wss_code = fault_code(err) if isinstance(err, SignatureInvalid) else None
    s = f"{{{namespace}}}"
    sender = "Client" if namespace == SOAP11 else "Sender"
    code = etree.QName(wss_code) if wss_code else etree.QName(namespace, sender)
    nsmap = {"s": namespace, "wsse": code.namespace} if wss_code else {"s": namespace}
    element = etree.Element(f"{s}Fault", nsmap=nsmap)
    prefix = "wsse" if wss_code else "s"
    if namespace == SOAP11:
        etree.SubElement(element, "faultcode").text = f"{prefix}:{code.localname}"
        etree.SubElement(element, "faultstring").text = err.message
        detail = etree.SubElement(element, "detail")
    else:
        value = etree.SubElement(etree.SubElement(element, f"{s}Code"), f"{s}Value")
        value.text = f"s:{sender}"
        if wss_code:
            subcode = etree.SubElement(value.getparent(), f"{s}Subcode")
            etree.SubElement(subcode, f"{s}Value").text = f"wsse:{code.localname}"
        reason = etree.SubElement(etree.SubElement(element, f"{s}Reason"), f"{s}Text")
        reason.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
        reason.text = err.message
        detail = etree.SubElement(element, f"{s}Detail")
    namespace_of_detail = etree.QName(detail_tag).namespace
    holder = etree.SubElement(detail, detail_tag, nsmap={"a": namespace_of_detail})
    etree.SubElement(holder, f"{{{namespace_of_detail}}}Code").text = err.code
    etree.SubElement(holder, f"{{{namespace_of_detail}}}Message").text = err.message
    return element
