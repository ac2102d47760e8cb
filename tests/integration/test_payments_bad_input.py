"""Bank files the gateway refuses, and real bank files it takes with their payments parked.

Over real HTTP (the gateway with an SQLite journal and RabbitMQ). The corpus files are read in
place (``tests/unit/camt054_support.py``); the UBS file's account servicer is registered for a
partner of its own (``bank-ubs``) on a copy of the configuration, as an operator would.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import RunningGateway, start_gateway
from lxml import etree
from payment_helpers import post

from adapters.setup_keys import issue_token
from gateway.documents.receipts import GW_NS
from gateway.settings import Settings
from samples.camt054 import build_camt054
from samples.wco import build_dec
from tests.unit.camt054_support import corpus_dir

GW = {"gw": GW_NS}


def _rejection(response) -> tuple[str, list[dict[str, object]]]:  # type: ignore[no-untyped-def]
    body = response.json() if response.headers["content-type"].startswith("application/json") \
        else None
    if body is not None:
        return body["code"], body["problems"]
    root = etree.fromstring(response.content)
    problems = [{etree.QName(c).localname.lower(): c.text for c in p}
                for p in root.iterfind("gw:Problems/gw:Problem", GW)]
    return root.findtext("gw:Code", namespaces=GW) or "", problems


def test_bad_camt_schema_invalid_is_refused_with_located_problems(
        gateway_server: RunningGateway, tokens: dict[str, str]) -> None:
    """A camt.054 with an element its schema forbids and a bad currency code: 400, each
    problem with pointer, line and column."""
    body = build_camt054("08", transactions=2).replace(b"<Ccy>EUR</Ccy>", b"<Ccy>EURO</Ccy>")
    body = body.replace(b"<CdtDbtInd>CRDT</CdtDbtInd><Sts>", b"<CdtDbtInd>XXXX</CdtDbtInd><Sts>")
    response = post(gateway_server, tokens["bank-demo"], body, Accept="application/json")
    assert response.status_code == 400
    code, problems = _rejection(response)
    assert code == "GW-XSD-INVALID" and len(problems) >= 2
    pointers = {p["pointer"] for p in problems}
    assert "/Document/BkToCstmrDbtCdtNtfctn/Ntfctn/Acct/Ccy" in pointers
    assert all(p.get("line") and p.get("column") for p in problems)


def test_bad_camt_amount_with_wrong_decimals_for_its_currency(
        gateway_server: RunningGateway, tokens: dict[str, str]) -> None:
    """An amount of JPY (no decimals) stated with cents is refused, located, with the value."""
    body = build_camt054("08", currency="JPY")
    body = body.replace(b'Ccy="JPY">', b'Ccy="JPY">1', 1).replace(b'</Amt>', b'.50</Amt>', 1)
    response = post(gateway_server, tokens["bank-demo"], body, Accept="application/json")
    assert response.status_code == 400, response.text
    _, problems = _rejection(response)
    assert any(p["code"] == "GW-MAP-AMOUNT-DECIMALS" and str(p.get("value", "")).endswith(".50")
               for p in problems), problems


def test_bad_camt_unknown_version_is_an_unknown_type(
        gateway_server: RunningGateway, tokens: dict[str, str]) -> None:
    """camt.054.001.99 is no registered message type (400 GW-MSG-UNKNOWN-TYPE)."""
    body = build_camt054("08").replace(b"camt.054.001.08", b"camt.054.001.99")
    response = post(gateway_server, tokens["bank-demo"], body, Accept="application/json")
    assert response.status_code == 400
    assert _rejection(response)[0] == "GW-MSG-UNKNOWN-TYPE"


def test_bad_camt_from_a_broker_and_a_declaration_from_a_bank_are_forbidden(
        gateway_server: RunningGateway, tokens: dict[str, str]) -> None:
    """A broker may not send a camt.054, a bank may not send a declaration: 403 each."""
    camt = post(gateway_server, tokens["broker-alpha"], build_camt054("08"),
                Accept="application/json")
    declaration = post(gateway_server, tokens["bank-demo"], build_dec(1, lrn="LRN-BANK-F2"),
                       Accept="application/json")
    assert (camt.status_code, declaration.status_code) == (403, 403)
    assert _rejection(camt)[0] == _rejection(declaration)[0] == "GW-AUTH-FORBIDDEN"


def test_bad_camt_for_another_banks_account_is_forbidden_and_located(
        gateway_server: RunningGateway, tokens: dict[str, str]) -> None:
    """A bank reporting an account that another BIC services: 403 GW-AUTH-SERVICER, located,
    and nothing journaled."""
    body = build_camt054("04").replace(b"<BICFI>CUSTMK22XXX</BICFI>", b"<BICFI>UBSWCHZH80A</BICFI>")
    response = post(gateway_server, tokens["bank-demo"], body, Accept="application/json")
    assert response.status_code == 403
    code, (problem,) = _rejection(response)
    assert code == "GW-AUTH-SERVICER" and problem["value"] == "UBSWCHZH80A"
    assert problem["pointer"] == "/Document/BkToCstmrDbtCdtNtfctn/Ntfctn/Acct/Svcr/FinInstnId/BICFI"
    assert gateway_server.gateway.journal.flow("payments").parked_payments() == []


# --- real bank files ---------------------------------------------------------------------------


@pytest.fixture
def corpus_server(settings: Settings, rabbitmq: str, tmp_path: Path
                  ) -> tuple[RunningGateway, dict[str, str]]:
    """The gateway on a configuration copy with a bank partner for UBS (the v8 file's
    servicer) and its own credentials; yields the server and the banks' tokens."""
    home = tmp_path / "home"
    for part in ("config", "schemas", "mappings"):
        shutil.copytree(settings.home / part, home / part)
    with (home / "config" / "partners.toml").open("a", encoding="utf-8") as out:
        out.write('\n[[partner]]\nid = "bank-ubs"\nname = "UBS (corpus file)"\nkind = "bank"\n'
                  'bic = "UBSWCHZH80A"\nallowed_message_types = ["camt054-001.08"]\n')
    var = tmp_path / "var"
    shutil.copytree(settings.var_dir, var)
    own = settings.with_(home=home, var_dir=var)
    banks = {"bank-ubs": issue_token(own, "bank-ubs"),
             "bank-demo": json.loads((var / "demo-tokens.json").read_text())["bank-demo"]}
    running = start_gateway(own)
    yield running, banks
    running.stop()


@pytest.mark.parametrize(("name", "bank", "count", "reasons"), [
    ("camt054.v8.xml", "bank-ubs", 3, {"unmatched-not-rf"}),
    ("ch-postfinance-camt054-v04.xml", "bank-demo", 6, {"unmatched-not-rf", "debit-entry"}),
])
def test_corpus_bank_files_are_accepted_with_their_payments_parked(
        corpus_server: tuple[RunningGateway, dict[str, str]], name: str, bank: str,
        count: int, reasons: set[str]) -> None:
    """Real bank files (no assessment matches them) are accepted 202; every transaction is
    parked with its reason (the Swiss ESR/ISR references unmatched-not-rf), and the bank's
    ACK lists them all."""
    running, banks = corpus_server
    response = post(running, banks[bank], (corpus_dir() / name).read_bytes())
    assert response.status_code == 202, response.text
    parked = running.gateway.journal.flow("payments").parked_payments()
    assert len(parked) == count and {p.reason for p in parked} == reasons
    (ack,) = running.gateway.journal.notifications(response.headers["X-Conversation-ID"])
    outcomes = etree.fromstring(ack.document).find(".//gw:Transactions", GW)
    assert outcomes is not None and outcomes.get("parked") == str(count)
