"""``POST /v1/messages`` with values no declaration may carry, against the real server and RabbitMQ.

Negative or zero masses and negative quantities or amounts (sanity rules, every dialect), and
numbers longer than their format allows (30 or 5,000 digits, where Python itself refuses to
print integers past 4,300 digits), must get 400 and a signed rejection listing every problem
with its location — never a 500 or ``GW-INTERNAL`` — and must change nothing. A 13,000-
character value comes back trimmed, in the message as in the value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import RunningGateway
from http_helpers import (
    NS,
    XML_HEADERS,
    assert_signed_rejection,
    clearance_queue_messages,
    fields,
    journal_snapshot,
    new_lrn,
)
from lxml import etree

from samples.asycuda import build_sad
from samples.wco import build_dec

pytestmark = pytest.mark.integration

DEC = {"d": "urn:wco:datamodel:WCO:DEC-DMS:2"}
ITEM = "//d:GovernmentAgencyGoodsItem"


def with_texts(body: bytes, texts: dict[str, str], namespaces: dict[str, str]) -> bytes:
    """``body`` with the text of the first element at each XPath replaced."""
    root = etree.fromstring(body)
    for path, text in texts.items():
        (element, *_) = root.xpath(path, namespaces=namespaces)
        element.text = text
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def submit(running: RunningGateway, token: str, body: bytes,
           accept: str = "application/xml") -> Any:
    with running.client(token) as client:
        return client.post("/v1/messages", content=body,
                           headers={**XML_HEADERS, "Accept": accept})


def listed_problems(root: etree._Element) -> list[dict[str, str]]:
    return [fields(p) for p in root.findall("gw:Problems/gw:Problem", NS)]


# --- sanity rules ---------------------------------------------------------------------------

SANITY_CASES: dict[str, tuple[Any, list[tuple[str, str, str]]]] = {
    "wco": (lambda: with_texts(build_dec(2, lrn=new_lrn()), {
        f"{ITEM}[1]/d:Commodity/d:GoodsMeasure/d:NetNetWeightMeasure": "-390",
        f"{ITEM}[2]/d:Commodity/d:GoodsMeasure/d:GrossMassMeasure": "0",
        f"{ITEM}[2]/d:CustomsValueAmount": "-1.00",
    }, DEC), [
        ("GW-RULE-MASS", "42A/67A/68A[1]/23A/65A/128", "-390"),
        ("GW-RULE-MASS", "42A/67A/68A[2]/23A/65A/126", "0"),
        ("GW-RULE-NEGATIVE", "42A/67A/68A[2]/108", "-1.00"),
    ]),
    "asycuda": (lambda: with_texts(build_sad(2, reference=new_lrn(), packages=["4", "-3"]), {
        "Item[1]/Valuation_item/Weight_itm/Net_weight_itm": "-390",
        "Item[2]/Valuation_item/Statistical_value": "-5.00",
    }, {}), [
        ("GW-RULE-MASS", "42A/67A/68A[1]/23A/65A/128", "-390"),
        ("GW-RULE-NEGATIVE", "42A/67A/68A[2]/114", "-5.00"),
        ("GW-RULE-NEGATIVE", "42A/67A/68A[2]/93A[1]/144", "-3"),
    ]),
}


@pytest.mark.parametrize("family", list(SANITY_CASES))
def test_negative_mass_quantity_or_amount_rejected_with_every_problem(
        gateway_server: RunningGateway, tokens: dict[str, str], tmp_path: Path,
        family: str) -> None:
    """A net mass of -390 (and friends) gets 400, a signed rejection listing each, no release."""
    build, expected = SANITY_CASES[family]
    before = journal_snapshot(gateway_server)
    response = submit(gateway_server, tokens["broker-alpha"], build())

    root = assert_signed_rejection(response, gateway_server, tmp_path, 400, "GW-RULE-INVALID")
    listed = listed_problems(root)
    found = sorted((p["Code"], p["Pointer"], p.get("Value", "")) for p in listed)
    assert found == sorted(expected)
    assert all(p["Message"] for p in listed)
    assert journal_snapshot(gateway_server) == before
    assert clearance_queue_messages(gateway_server.settings) == []


# --- bounded numbers ------------------------------------------------------------------------

def wco_with_package_count(count: str) -> bytes:
    return with_texts(build_dec(1, lrn=new_lrn()),
                      {f"{ITEM}/d:Packaging/d:QuantityQuantity": count}, DEC)


def sad_with_package_count(count: str) -> bytes:
    return build_sad(1, reference=new_lrn(), packages=[count])


BOUND_CASES = {
    "wco": (wco_with_package_count, "GW-XSD-INVALID", "GW-XSD-TOTAL-DIGITS",
            "/MetaData/Declaration/GoodsShipment/GovernmentAgencyGoodsItem/Packaging/"
            "QuantityQuantity"),
    "asycuda": (sad_with_package_count, "GW-MAP-INVALID", "GW-MAP-DIGITS",
                "/ASYCUDA/Item/Packages/Number_of_packages"),
}


@pytest.mark.parametrize("digits", [30, 5_000])
@pytest.mark.parametrize("family", list(BOUND_CASES))
@pytest.mark.parametrize("accept", ["application/xml", "application/json"])
def test_huge_package_count_rejected_with_located_problem_not_internal_error(
        gateway_server: RunningGateway, tokens: dict[str, str], tmp_path: Path,
        family: str, digits: int, accept: str) -> None:
    """A 30- or 5,000-digit package count gets 400 and a located problem, never 500."""
    build, code, problem_code, pointer = BOUND_CASES[family]
    before = journal_snapshot(gateway_server)
    response = submit(gateway_server, tokens["broker-alpha"], build("9" * digits), accept)

    assert response.status_code == 400, response.text[:500]
    assert "GW-INTERNAL" not in response.text
    assert "9" * 100 not in response.text
    if accept == "application/json":
        content = response.json()
        assert content["code"] == code
        listed = [{"Code": p["code"], "Pointer": p.get("pointer", ""), "Line": p.get("line"),
                   "Message": p["message"], "Value": p.get("value", "")}
                  for p in content["problems"]]
    else:
        root = assert_signed_rejection(response, gateway_server, tmp_path, 400, code)
        listed = listed_problems(root)
    (problem,) = [p for p in listed if p["Pointer"] == pointer]
    assert problem["Code"] == problem_code
    assert problem["Line"]
    assert len(problem["Message"]) <= 300 and len(problem["Value"]) <= 80
    assert journal_snapshot(gateway_server) == before


def test_long_value_comes_back_trimmed_in_message_and_value(
        gateway_server: RunningGateway, tokens: dict[str, str], tmp_path: Path) -> None:
    """A 13,000-digit mass is quoted by libxml2; the rejection shows it trimmed in both fields."""
    body = with_texts(build_dec(1, lrn=new_lrn()), {"//d:TotalGrossMassMeasure": "9" * 13_000},
                      DEC)
    response = submit(gateway_server, tokens["broker-alpha"], body)

    root = assert_signed_rejection(response, gateway_server, tmp_path, 400, "GW-XSD-INVALID")
    (problem,) = [p for p in listed_problems(root)
                  if p["Pointer"] == "/MetaData/Declaration/TotalGrossMassMeasure"]
    assert problem["Code"] == "GW-XSD-TOTAL-DIGITS"
    assert len(problem["Message"]) <= 300 and "more digits than are allowed" in problem["Message"]
    assert len(problem["Value"]) <= 80 and problem["Value"].endswith("…")
    assert len(response.content) < 20_000
