"""What the SOAP endpoint answers: envelopes, operation wrappers and faults, per SOAP version.

``SoapAnswer`` is an answer before it becomes an HTTP response, so that the answers to a
partner registered with ``require_wss`` can be signed with WS-Security first
(``adapters/http/soap_security.py``).

Faults follow each version: 1.1 ``faultcode`` ``soap:Client`` / ``soap:Server`` /
``soap:MustUnderstand`` with HTTP 500; 1.2 ``Code/Value`` ``soap:Sender`` (400) /
``soap:Receiver`` (500) / ``soap:MustUnderstand`` (500, with a ``NotUnderstood`` header block
per block) — except 401/403/408/413/415/429/503, which keep their HTTP status. A WS-Security
refusal (a ``SignatureInvalid``: ``GW-WSS-*``, ``GW-SIGNATURE-*``) carries the WSS 1.0 fault
code (``gateway.signing.wssecurity.fault_code``): as the 1.1 ``faultcode``
(``wsse:FailedCheck``), as the 1.2 ``Subcode`` under ``soap:Sender``. Every fault carries the
signed ``gw:Rejection`` with the structured problems: in the ``detail``, or — for a 1.1
MustUnderstand fault, which concerns headers, not the Body (SOAP 1.1 §4.4) — in a ``gw:Fault``
header entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi.responses import Response
from lxml import etree

from adapters.http.rest import retry_after
from adapters.http.soap_envelope import SOAP12, MustUnderstandFault, SoapVersion
from gateway.documents.receipts import GW_NS
from gateway.errors import GatewayError, SignatureInvalid
from gateway.pipeline.intake import Answer
from gateway.signing.wssecurity import fault_code

KEPT_STATUSES = (401, 403, 408, 413, 415, 429, 503)


@dataclass(frozen=True)
class SoapAnswer:
    """A SOAP answer: the envelope's bytes, the HTTP status and headers."""

    version: SoapVersion
    envelope: bytes
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)

    def response(self, envelope: bytes | None = None) -> Response:
        return Response(self.envelope if envelope is None else envelope,
                        status_code=self.status, media_type=self.version.content_type,
                        headers=self.headers)


def wrap(operation: str, signed_document: bytes) -> bytes:
    """``<gw:operation>`` around a signed document (its XML declaration removed)."""
    inner = signed_document.split(b"?>", 1)[1].lstrip() if signed_document.startswith(b"<?xml") \
        else signed_document
    return (f'<gw:{operation} xmlns:gw="{GW_NS}">').encode() + inner + \
        f"</gw:{operation}>".encode()


def envelope_bytes(version: SoapVersion, body: bytes, header: bytes = b"") -> bytes:
    head = b"<soap:Header>" + header + b"</soap:Header>" if header else b""
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<soap:Envelope xmlns:soap="'
            f'{version.namespace}">').encode() + head + b"<soap:Body>" + body + \
        b"</soap:Body></soap:Envelope>"


def fault(version: SoapVersion, answer: Answer) -> SoapAnswer:
    """A SOAP fault of the right version carrying the signed rejection (see the docstring)."""
    err = answer.error
    code, status = _fault_code(version, err)
    wss = fault_code(err) if isinstance(err, SignatureInvalid) else None
    reason = _escape(answer.content.get("summary", "rejected"))
    detail, header = wrap("Fault", answer.document), b""
    if isinstance(err, MustUnderstandFault):
        # 1.2: one NotUnderstood block per block; 1.1 §4.4: errors about header entries travel
        # in header entries, and a detail would say the Body was processed
        header, detail = (_not_understood(err), detail) if version.is12 else (detail, b"")
    declare = f' xmlns:wsse="{etree.QName(wss).namespace}"' if wss else ""
    if version.is12:
        subcode = (f"<soap:Subcode><soap:Value>wsse:{etree.QName(wss).localname}</soap:Value>"
                   f"</soap:Subcode>") if wss else ""
        body = (f"<soap:Fault{declare}><soap:Code><soap:Value>soap:{code}</soap:Value>{subcode}"
                f'</soap:Code><soap:Reason><soap:Text xml:lang="en">{reason}</soap:Text>'
                f"</soap:Reason>").encode() + (b"<soap:Detail>" + detail + b"</soap:Detail>"
                                                if detail else b"")
    else:
        faultcode = f"wsse:{etree.QName(wss).localname}" if wss else f"soap:{code}"
        body = (f"<soap:Fault{declare}><faultcode>{faultcode}</faultcode><faultstring>{reason}"
                f"</faultstring>").encode() + (b"<detail>" + detail + b"</detail>"
                                                 if detail else b"")
    headers = {}
    if err is not None and err.http_status in KEPT_STATUSES:
        status = err.http_status
    if err is not None and err.retryable:
        headers["Retry-After"] = retry_after(err)
    return SoapAnswer(version, envelope_bytes(version, body + b"</soap:Fault>", header), status,
                      headers)


def _fault_code(version: SoapVersion, err: GatewayError | None) -> tuple[str, int]:
    """The fault code and HTTP status (SOAP 1.2 HTTP binding: 400 for Sender, else 500)."""
    if isinstance(err, MustUnderstandFault):
        return "MustUnderstand", 500
    if err is None or 400 <= err.http_status < 500:
        return version.client_code, 400 if version.is12 else 500
    return version.server_code, 500


def _not_understood(err: MustUnderstandFault) -> bytes:
    """SOAP 1.2 ``NotUnderstood`` header blocks, one per block not understood (§5.4.8)."""
    blocks = []
    for name in err.not_understood:
        block = etree.Element(f"{{{SOAP12}}}NotUnderstood",
                              nsmap={"soap": SOAP12, "nu": name.namespace})
        block.set("qname", f"nu:{name.localname}")
        blocks.append(etree.tostring(block))
    return b"".join(blocks)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
