"""Answer formats: what the sender gets back in the same exchange, per message type.

A registry entry names its ``answer`` (``config/message_types.toml``); the default,
``gateway-receipt``, is our signed ``gw:Receipt`` / ``gw:Rejection``. A format with its own
acknowledgements (an NCTS-style ``CC928C`` / ``CC906C``, say) registers an ``AnswerFormat``
that builds those from the same facts. A rejection found before the message type is known
(unreadable XML, an unknown root) is answered in the default format.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from lxml import etree

from gateway.documents.receipts import ReceiptInfo, RejectionInfo
from gateway.errors import ConfigurationError

DEFAULT_ANSWER = "gateway-receipt"


class AnswerFormat(Protocol):
    name: str

    def receipt(self, info: ReceiptInfo) -> etree._Element:
        """The positive answer (the message is durable), to be signed."""
        ...

    def rejection(self, info: RejectionInfo) -> etree._Element:
        """The negative answer listing every problem, to be signed."""
        ...


class GatewayReceipts:
    """Our own ``gw:Receipt`` and ``gw:Rejection`` (``schemas/gateway/gateway-v1.xsd``)."""

    name = DEFAULT_ANSWER

    def receipt(self, info: ReceiptInfo) -> etree._Element:
        return info.to_xml()

    def rejection(self, info: RejectionInfo) -> etree._Element:
        return info.to_xml()


class AnswerFormats:
    def __init__(self, formats: Iterable[AnswerFormat] = (GatewayReceipts(),)) -> None:
        self._formats = {f.name: f for f in formats}
        if DEFAULT_ANSWER not in self._formats:
            self._formats[DEFAULT_ANSWER] = GatewayReceipts()

    def get(self, name: str | None) -> AnswerFormat:
        return self._formats[name or DEFAULT_ANSWER]

    def check(self, names: Iterable[tuple[str, str]]) -> None:
        """Refuse, at start-up, a (message type, answer) naming an unknown format."""
        for type_id, name in names:
            if name not in self._formats:
                raise ConfigurationError(f"{type_id}: unknown answer format {name!r}; known: "
                                         f"{', '.join(sorted(self._formats))}")
