"""What validating an NCTS P5 message costs: our schemas (lxml, XSD 1.0) vs the official pack.

Measures, on this machine, in one process (medians of ``--repeat`` runs):

* compile: our ``schemas/ncts/p5/CC015C.xsd`` (with its shared types file) by lxml; the
  official ``cc015c.xsd`` alone, and the ten CC message files of the pack as one schema, by
  xmlschema (``XMLSchema11``, sandboxed as the gateway compiles it);
* validate: one CC015C through each validator of ``gateway/xml/validators.py`` (the same
  calls the intake makes, problems included): the corpus CC015C, our 2-item fixture, the
  fixture with three errors, the fixture with 999 goods items;
* what each catches: the same mutations through both (same codes and pointers?).

Run::

    .venv/bin/python -m bench.ncts_validation [--n 2000] [--repeat 5] \\
        [--pack ../shared/corpus/ncts-p5/official-xsd-51.8.6]

It prints a Markdown table (``docs/benchmarks.md`` keeps the measured one).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from lxml import etree

from gateway.settings import PROJECT_HOME
from gateway.xml.safe_parser import XmlLimits, parse_untrusted
from gateway.xml.validators import SchemaValidator, compile_xsd10, compile_xsd11

CORPUS = PROJECT_HOME.parent / "shared" / "corpus" / "ncts-p5"
OURS = PROJECT_HOME / "schemas" / "ncts" / "p5"
FIXTURE = PROJECT_HOME / "tests" / "fixtures" / "ncts" / "cc015c_mk_rs.xml"
CC_FILES = ("cc007c", "cc015c", "cc025c", "cc028c", "cc029c", "cc045c", "cc056c", "cc906c",
            "cc917c", "cc928c")


def _median_seconds(work: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _broken(body: bytes) -> bytes:
    """Three errors: an office reference too short, a message id missing, a bad GRN."""
    return (body.replace(b"<referenceNumber>MK001005</referenceNumber>",
                         b"<referenceNumber>MK00100</referenceNumber>", 1)
            .replace(b"<messageIdentification>VL-015-20250314-0001</messageIdentification>", b"")
            .replace(b"<GRN>25MK0000000001235</GRN>", b"<GRN>25MK000000000123X</GRN>"))


def _goods_items(body: bytes, count: int) -> bytes:
    """The fixture with ``count`` goods items in its house consignment (numbered 1 … n)."""
    start = body.index(b"<ConsignmentItem>")
    one = body[start:body.index(b"</ConsignmentItem>") + len(b"</ConsignmentItem>")]
    items = b"".join(one.replace(b"<goodsItemNumber>1<", f"<goodsItemNumber>{n}<".encode())
                     .replace(b"<declarationGoodsItemNumber>1<",
                              f"<declarationGoodsItemNumber>{n}<".encode())
                     for n in range(1, count + 1))
    last = body.rindex(b"</ConsignmentItem>") + len(b"</ConsignmentItem>")
    return body[:start] + items + body[last:]


def _per_message(validator: SchemaValidator, body: bytes, n: int, repeat: int) -> float:
    root = parse_untrusted(body, XmlLimits()).getroot()

    def run() -> None:
        for _ in range(n):
            validator.problems(root, body)
    return _median_seconds(run, repeat) / n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="validations per lxml timing")
    parser.add_argument("--repeat", type=int, default=5, help="timings per figure (median)")
    parser.add_argument("--pack", type=Path, default=CORPUS / "official-xsd-51.8.6",
                        help="the official P5 pack's folder")
    args = parser.parse_args(argv)
    ours_path = OURS / "CC015C.xsd"
    official_one = [args.pack / "cc015c.xsd"]
    official_all = [args.pack / f"{m}.xsd" for m in CC_FILES]
    compile_ours = _median_seconds(lambda: compile_xsd10([ours_path], OURS), args.repeat)
    compile_one = _median_seconds(lambda: compile_xsd11(official_one, args.pack), args.repeat)
    compile_all = _median_seconds(lambda: compile_xsd11(official_all, args.pack), args.repeat)
    ours = compile_xsd10([ours_path], OURS)[ours_path]
    official = compile_xsd11(official_all, args.pack)[args.pack / "cc015c.xsd"]
    slow_n = max(1, args.n // 40)
    rows = []
    for label, body in (("corpus cc015c-valid.xml", (CORPUS / "cc015c-valid.xml").read_bytes()),
                        ("fixture cc015c_mk_rs.xml (2 items)", FIXTURE.read_bytes()),
                        ("fixture with 3 errors", _broken(FIXTURE.read_bytes())),
                        ("fixture with 999 goods items", _goods_items(FIXTURE.read_bytes(),
                                                                      999))):
        big = len(body) > 100_000
        lxml_s = _per_message(ours, body, max(1, args.n // 200) if big else args.n,
                              args.repeat)
        xs_s = _per_message(official, body, 1 if big else slow_n, args.repeat)
        root = etree.fromstring(body)
        found = (len(ours.problems(root, body)), len(official.problems(root, body)))
        rows.append((label, len(body), lxml_s, xs_s, found))
    print("| | ours (lxml, XSD 1.0) | official pack (xmlschema, XSD 1.1) |")
    print("|---|---|---|")
    print(f"| compile CC015C | {compile_ours * 1e3:.1f} ms | {compile_one * 1e3:.0f} ms "
          f"(the ten CC files as one schema: {compile_all * 1e3:.0f} ms) |")
    for label, size, lxml_s, xs_s, (a, b) in rows:
        print(f"| validate {label}, {size:,} B | {lxml_s * 1e6:.0f} µs "
              f"({1 / lxml_s:,.0f}/s; {a} problem(s)) | {xs_s * 1e3:.2f} ms "
              f"({1 / xs_s:,.0f}/s; {b} problem(s); x{xs_s / lxml_s:.0f}) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
