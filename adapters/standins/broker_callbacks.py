"""A broker's callback endpoint: the STAND-IN that the sandbox mounts at ``/sandbox/callbacks``.

``POST /sandbox/callbacks/{partner_id}`` takes a push as a broker's endpoint should: only a
``gw:Notification`` whose enveloped XML signature verifies against the gateway's certificate
(proof that the gateway sent it, and that nobody changed it on the way), addressed to that
partner (its signed ``Partner`` element). Anything else is refused — 400 for what is not a
notification, 403 for what the gateway did not sign or signed for someone else — and kept out
of the list. The signature is the proof because every notification is signed already: no
shared secret to hand out or rotate, and it covers the content, not only the sender. What the
list shows (conversation, notification id, kind) comes from the signed document, not headers;
a notification pushed twice (a retry) is listed once.

``GET /sandbox/callbacks/{partner_id}`` lists what was received, to that partner only
(its bearer token; 401 without or with a wrong one, 403 with another partner's).
"""

from __future__ import annotations

import json
from collections import defaultdict

from cryptography import x509
from fastapi import APIRouter, Request
from fastapi.responses import Response
from lxml import etree

from gateway.documents.receipts import GW_NS
from gateway.errors import Forbidden, GatewayError, MalformedXml, SignatureInvalid
from gateway.partners import PartnerRegistry
from gateway.signing.keys import TrustStore
from gateway.signing.xmldsig import verify_enveloped
from gateway.xml.safe_parser import XmlLimits, parse_untrusted

GATEWAY_OWNER = "gateway"
NOTIFICATION = f"{{{GW_NS}}}Notification"


def router(partners: PartnerRegistry, gateway_certificate: x509.Certificate,
           limits: XmlLimits) -> APIRouter:
    trust = TrustStore()
    trust.add(GATEWAY_OWNER, gateway_certificate)
    received: defaultdict[str, dict[str, dict[str, str]]] = defaultdict(dict)
    api = APIRouter()

    @api.post("/sandbox/callbacks/{partner_id}")
    async def receive(partner_id: str, request: Request) -> Response:
        body = await request.body()
        try:
            push = verified_push(body, partner_id, trust, limits)
        except SignatureInvalid as err:
            return refusal(err, status=403)
        except GatewayError as err:
            return refusal(err)
        received[partner_id].setdefault(push["notification_id"], push)
        return Response(status_code=204)

    @api.get("/sandbox/callbacks/{partner_id}")
    async def listing(partner_id: str, request: Request) -> Response:
        try:
            reader = partners.authenticate(request.headers.get("authorization"))
            if reader.id != partner_id:
                raise Forbidden(f"partner {reader.id!r} may not read the callbacks of "
                                f"{partner_id!r}")
        except GatewayError as err:
            return refusal(err)
        return Response(json.dumps(list(received[partner_id].values())),
                        media_type="application/json")

    return api


def verified_push(body: bytes, partner_id: str, trust: TrustStore,
                  limits: XmlLimits) -> dict[str, str]:
    """The push's listing entry, if ``body`` is a notification the gateway signed for
    ``partner_id``; otherwise the error saying why not."""
    root = parse_untrusted(body, limits).getroot()
    if root.tag != NOTIFICATION:
        raise MalformedXml(f"a push must be a gw:Notification, not {etree.QName(root).localname}")
    verify_enveloped(root, trust, owner=GATEWAY_OWNER)
    addressee = (root.findtext(f"{{{GW_NS}}}Partner") or "").strip()
    if addressee != partner_id:
        raise Forbidden(f"this notification is addressed to {addressee!r}, not {partner_id!r}")
    return {"conversation_id": root.findtext(f"{{{GW_NS}}}ConversationID") or "",
            "notification_id": root.findtext(f"{{{GW_NS}}}NotificationID") or "",
            "kind": root.findtext(f"{{{GW_NS}}}Kind") or "",
            "document": body.decode("utf-8", "replace")}


def refusal(err: GatewayError, status: int | None = None) -> Response:
    return Response(json.dumps({"status": "error", "code": err.code, "summary": err.message}),
                    status_code=status or err.http_status, media_type="application/json")
