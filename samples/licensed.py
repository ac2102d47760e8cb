"""Builder for WCO DM 3.6 declarations whose goods items quote licences or certificates.

``build_licensed_dec(lrn, items)`` is ``samples.wco.build_dec`` with, per goods item, the
commodity code, the net mass and the additional documents given — the documents a broker
quotes for goods that need a licence (flow F3): ``("N", "851", "RS-PC-2026-004711")`` is a
phytosanitary certificate (code N851), ``("X", "002", "MK-IL-2026-0042")`` an import licence
(code X002). Everything else is ``build_dec``'s (importer ``MK4030998765432``, the deferment
account unless ``deferment=None``). ``importer_id`` replaces the importer's identifier (a
holder mismatch).

    python -m samples.licensed --lrn LIC-1 --item 72083900:1000:X:002:MK-IL-2026-0042
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from decimal import Decimal

from lxml import etree

from samples.wco import DEC_NS, DEFERMENT_ACCOUNT, build_dec

Document = tuple[str, str, str]                 # category, type, number
Item = tuple[str, Decimal | str, Sequence[Document]]   # commodity code, net kg, documents
IMPORTER_ID = "MK4030998765432"                 # samples/catalogues/wco_parties.toml


def _d(tag: str) -> str:
    return f"{{{DEC_NS}}}{tag}"


def build_licensed_dec(lrn: str, items: Sequence[Item], *, importer_id: str | None = None,
                       deferment: str | None = DEFERMENT_ACCOUNT) -> bytes:
    """A declaration (UTF-8 bytes) whose items carry the codes, masses and documents given."""
    document = build_dec(len(items), lrn, hs_codes=[hs for hs, _, _ in items],
                         deferment=deferment)
    root = etree.fromstring(document)
    goods = root.findall(f".//{_d('GovernmentAgencyGoodsItem')}")
    for element, (_, net_kg, documents) in zip(goods, items, strict=True):
        for old in element.findall(_d("AdditionalDocument")):
            element.remove(old)
        commodity = element.find(_d("Commodity"))
        assert commodity is not None
        for category, type_code, number in documents:
            added = etree.Element(_d("AdditionalDocument"))
            etree.SubElement(added, _d("CategoryCode")).text = category
            etree.SubElement(added, _d("ID")).text = number
            etree.SubElement(added, _d("TypeCode")).text = type_code
            commodity.addprevious(added)
        net = Decimal(str(net_kg))
        measure = commodity.find(f"{_d('GoodsMeasure')}")
        assert measure is not None
        measure.find(_d("NetNetWeightMeasure")).text = format(net, "f")        # type: ignore
        measure.find(_d("GrossMassMeasure")).text = format(net * Decimal("1.02"), "f")  # type: ignore
    if importer_id is not None:
        importer = root.find(f".//{_d('Importer')}/{_d('ID')}")
        assert importer is not None
        importer.text = importer_id
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--lrn", default="LIC-0001", help="the declaration's LRN")
    ap.add_argument("--item", action="append", required=True,
                    help="HS:NET_KG:CATEGORY:TYPE:NUMBER (repeat for more items)")
    a = ap.parse_args(argv)
    items: list[Item] = []
    for spec in a.item:
        hs, net, category, type_code, number = spec.split(":", 4)
        items.append((hs, net, [(category, type_code, number)]))
    sys.stdout.buffer.write(build_licensed_dec(a.lrn, items))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
