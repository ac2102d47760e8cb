"""The sample builders take their reference data from the files in ``samples/catalogues/``.

The files are read on first use, not at import; every goods kind and party of a file shows up
in what the builders write; and ``samples`` (files included) stays out of the wheel.
"""

from __future__ import annotations

import fnmatch
import json
import subprocess
import sys
import tomllib
from xml.sax.saxutils import escape

from gateway.settings import PROJECT_HOME
from samples import catalogues
from samples.asycuda import build_sad
from samples.camt054 import build_camt054, sample_payments
from samples.wco import build_dec


def test_sample_catalogues_are_not_read_at_import() -> None:
    """Importing the builders reads no catalogue file (a fresh interpreter counts the reads)."""
    probe = ("import json, samples.wco, samples.asycuda, samples.camt054, samples.catalogues as c;"
             "print(json.dumps(c.read.cache_info().currsize))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT_HOME, check=True,
                         capture_output=True, text=True).stdout
    assert json.loads(out) == 0


def test_sample_catalogues_are_read_once() -> None:
    """Building twice parses each file once (the second build hits the cache)."""
    build_dec(2)
    before = catalogues.read.cache_info().misses
    build_dec(2, seed=3)
    assert catalogues.read.cache_info().misses == before


def test_wco_builder_writes_every_goods_kind_and_party_of_its_files() -> None:
    """build_dec with as many items as goods kinds writes each description and each party."""
    goods = catalogues.read("wco_goods")["goods"]
    text = build_dec(len(goods)).decode()
    for row in goods:
        assert f"<Description>{escape(row['description'])}</Description>" in text
        assert f"<ID>{row['hs']}</ID>" in text
    for party in catalogues.read("wco_parties").values():
        assert f"<Name>{escape(party['name'])}</Name>" in text


def test_wco_builder_takes_other_goods_from_its_file() -> None:
    """A commodity code missing from the catalogue gets the file's other_goods description."""
    text = build_dec(1, hs_codes=["93020000"]).decode()
    template = catalogues.read("wco_goods")["other_goods"]["description"]
    assert f"<Description>{template.replace('{hs}', '93020000')}</Description>" in text


def test_asycuda_builder_writes_every_goods_kind_of_its_file() -> None:
    """build_sad with as many items as goods kinds writes each commercial description."""
    goods = catalogues.read("asycuda_goods")["goods"]
    text = build_sad(len(goods)).decode()
    for row in goods:
        assert f"<Commercial_Description>{escape(row['commercial'])}</Commercial_Description>" \
            in text
    declarant = catalogues.read("asycuda_parties")["declarant"]
    assert f"<Declarant_code>{declarant['code']}</Declarant_code>" in text


def test_camt054_builder_draws_debtors_and_decimals_from_its_file() -> None:
    """Payments name the file's debtors, and amounts have the decimals the file gives."""
    data = catalogues.read("camt054_payments")
    names = {p.debtor_name for p in sample_payments(200)}
    assert names == {d["name"] for d in data["debtor"]}
    jpy = sample_payments(5, currency="JPY")
    assert all(p.amount.as_tuple().exponent == -data["minor_units"]["JPY"] for p in jpy)
    assert escape(data["debtor"][0]["name"]).encode() in build_camt054(entries=20)


def test_samples_and_their_catalogues_stay_out_of_the_wheel() -> None:
    """pyproject's package discovery includes gateway and adapters only, not samples."""
    with (PROJECT_HOME / "pyproject.toml").open("rb") as file:
        find = tomllib.load(file)["tool"]["setuptools"]["packages"]["find"]
    patterns = find["include"]
    for package in ("samples", "samples.catalogues"):
        assert not any(fnmatch.fnmatch(package, p) for p in patterns)
    assert any(fnmatch.fnmatch("gateway.pipeline", p) for p in patterns)
