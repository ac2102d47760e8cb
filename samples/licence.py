"""Builder for the gateway's licence document (``schemas/licence/licence-1.xsd``).

``build_licence()`` returns a licence as a licensing agency sends it: number, version, status,
type, issue time, the agency, the holder, the validity, the destination country and its goods
lines (line number, HS code, description, quantity with a UN/ECE Rec 20 unit, origin); a
revocation (``status="revoked"``) adds its ``Revocation``. The default is the story's licence:
an import licence for 10 tonnes of steel (two lines: hot-rolled coils, rebar). Values are
deterministic for a given set of arguments.

``lines``: ``(hs_code, description, quantity, unit)`` tuples. ``signer``: an ``XmlSigner`` with
the agency's key — the licence is returned signed (enveloped XML-DSig over the root's ``Id``),
as the gateway requires; unsigned without it.

    python -m samples.licence --number MK-IL-2026-0042 --version 2 --status amended
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from lxml import etree

from gateway.signing.xmldsig import XmlSigner

LIC = "urn:customs-gateway:licence:1"
STEEL = (("72083900", "Flat-rolled products of iron, hot-rolled, in coils, < 3 mm", "6.000",
          "TNE"),
         ("72142000", "Bars and rods of iron, with indentations (rebar)", "4.000", "TNE"))

Line = tuple[str, str, str, str]


def build_licence(*, number: str = "MK-IL-2026-0042", version: int = 1,
                  status: str = "issued", licence_type: str = "import",
                  agency: str = "agency-trade", holder: tuple[str, str] = (
                      "MK4030998123456", "Čelik Trade DOOEL Skopje"),
                  valid_from: str = "2026-01-15", valid_to: str | None = "2026-12-31",
                  destination: str | None = "MK", lines: Sequence[Line] = STEEL,
                  issued_at: str = "2026-01-15T09:00:00Z", revoked_at: str | None = None,
                  signer: XmlSigner | None = None) -> bytes:
    """A licence document as bytes (UTF-8, signed with ``signer`` if given)."""
    root = etree.Element(f"{{{LIC}}}Licence", nsmap={"lic": LIC})
    _leaf(root, "Number", number)
    _leaf(root, "Version", str(version))
    _leaf(root, "Status", status)
    _leaf(root, "Type", licence_type)
    _leaf(root, "IssuedAt", issued_at)
    _party(root, "IssuingAgency", agency, "Ministry of Economy, licensing department")
    _party(root, "Holder", *holder)
    validity = _leaf(root, "Validity")
    _leaf(validity, "From", valid_from)
    if valid_to is not None:
        _leaf(validity, "To", valid_to)
    if destination is not None:
        _leaf(root, "DestinationCountry", destination)
    if status == "revoked":
        revocation = _leaf(root, "Revocation")
        _leaf(revocation, "RevokedAt", revoked_at or issued_at)
        _leaf(revocation, "Reason", "Revoked at the holder's request")
    for index, (hs, description, quantity, unit) in enumerate(lines, 1):
        line = _leaf(root, "GoodsLine")
        _leaf(line, "LineNumber", str(index))
        _leaf(line, "HSCode", hs)
        _leaf(line, "Description", description)
        _leaf(line, "Quantity", quantity).set("unitCode", unit)
        _leaf(line, "OriginCountry", "RS")
    if signer is not None:
        return signer.sign_to_bytes(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _leaf(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, f"{{{LIC}}}{name}")
    if text is not None:
        element.text = text
    return element


def _party(parent: etree._Element, name: str, party_id: str, party_name: str) -> None:
    party = _leaf(parent, name)
    _leaf(party, "ID", party_id)
    _leaf(party, "Name", party_name)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--number", default="MK-IL-2026-0042", help="licence number")
    ap.add_argument("--version", type=int, default=1, help="licence version")
    ap.add_argument("--status", default="issued", choices=("issued", "amended", "revoked"))
    a = ap.parse_args(argv)
    sys.stdout.buffer.write(build_licence(number=a.number, version=a.version, status=a.status))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
