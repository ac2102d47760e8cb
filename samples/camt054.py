"""Builder for synthetic ISO 20022 camt.054 bank-to-customer notifications (001.02/04/08).

``build_camt054()`` returns a ``Document`` as a bank sends it to customs: one account
notification for the customs revenue account, ``entries`` credit entries (``Ntry``) of
``transactions`` payments each (``TxDtls``), every payment quoting an ISO 11649 ``RF…``
creditor reference (type ``SCOR``) with its debtor, the debtor's IBAN and bank (BIC), an
end-to-end id and, in 001.08, a UETR. Values are invented and deterministic for a given set of
arguments; ``sample_payments()`` returns the same payments, in document order, so tests can
compare what the mapping reads with what was written. The debtors and the currencies' decimals
are a data file (``samples/catalogues/camt054_payments.toml``, read on first use). Only the
standard library, python-stdnum and the gateway's identifiers (for the check digits) are
used; the text is built as strings, which keeps a 1,000-payment file (~1 MB) well under a
second.

Options:

* ``version``: ``"02"``, ``"04"`` or ``"08"`` — the differences the schemas make (``BIC`` or
  ``BICFI``, a text ``Sts`` or ``Sts/Cd``, ``Dbtr/Nm`` or ``Dbtr/Pty/Nm``, TxDtls ``Amt`` or
  only ``AmtDtls/TxAmt/Amt`` in 001.02, ``UETR`` in 001.08);
* ``envelope``: wrap the Document with a business application header (head.001.001.02
  ``AppHdr``) in the gateway's envelope ``{urn:customs-gateway:iso20022:envelope:1}BizMsg``;
* ``reversal``: every entry reverses an earlier credit (``CdtDbtInd`` DBIT, ``RvslInd`` true);
* ``partial``: every payment pays part of the amount due; the structured remittance states
  the due amount (``RfrdDocAmt/DuePyblAmt``) and the amount remitted (``RmtdAmt``);
* ``overpaid``: the same, every payment paying more than is due;
* ``payments``: exactly these payments (``SamplePayment``, e.g. ``sample_payments()`` with a
  reference and amount of the caller's own), in one entry — a test paying a given assessment.

The output is valid against our schemas (``schemas/iso20022/camt054-001.NN``) and the official
ones. Write one to a file with::

    python -m samples.camt054 --version 08 --entries 10 --transactions 100 > /tmp/camt054.xml
"""

from __future__ import annotations

import argparse
import functools
import random
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from xml.sax.saxutils import escape, quoteattr

from stdnum.iso7064 import mod_97_10

from gateway.identifiers import creditor_reference_for
from samples import catalogues

VERSIONS = ("02", "04", "08")
ENVELOPE_NS = "urn:customs-gateway:iso20022:envelope:1"
HEAD_NS = "urn:iso:std:iso:20022:tech:xsd:head.001.001.02"
CUSTOMS_BANK = "CUSTMK22XXX"                     # the bank keeping the customs account
CUSTOMS_ACCOUNT_BBAN = "250120000058984"          # MK: 3-digit bank + 10 account + 2 check
CREATED_AT = "2026-11-30T18:05:00+01:00"
BOOKING_DATE = "2026-11-30"
VALUE_DATE = "2026-12-01"


@functools.cache
def debtors() -> tuple[tuple[str, str, str, str], ...]:
    """(name, country, BBAN, BIC) of each debtor of ``catalogues/camt054_payments.toml``."""
    return tuple((d["name"], d["country"], d["bban"], d["bic"])
                 for d in catalogues.read("camt054_payments")["debtor"])


def minor_units(currency: str) -> int:
    """ISO 4217 decimals of a sample currency (the file lists those that do not have 2)."""
    return int(catalogues.read("camt054_payments")["minor_units"].get(currency, 2))


@dataclass(frozen=True)
class SamplePayment:
    """One payment of a sample file, as the mapping should read it back."""

    reference: str
    amount: Decimal
    due: Decimal
    currency: str
    debtor_name: str
    debtor_iban: str
    debtor_bic: str
    end_to_end_id: str
    account_servicer_reference: str
    uetr: str


def iban(country: str, bban: str) -> str:
    """An IBAN with its mod-97 check digits (ISO 13616) for a national account number."""
    return f"{country}{mod_97_10.calc_check_digits(bban + country)}{bban}"


CUSTOMS_IBAN = iban("MK", CUSTOMS_ACCOUNT_BBAN)


def sample_payments(count: int, *, currency: str = "EUR", seed: int = 0,
                    partial: bool = False, overpaid: bool = False) -> list[SamplePayment]:
    """The ``count`` payments a file built with the same arguments carries, in order."""
    if partial and overpaid:
        raise ValueError("a payment is partial or overpaid, not both")
    rng = random.Random(seed)
    places = minor_units(currency)
    debtor_list = debtors()
    step = Decimal(1).scaleb(-places)
    out = []
    for i in range(1, count + 1):
        due = (Decimal(rng.randint(1_000, 2_500_000)) / 100).quantize(step)
        share = rng.randint(20, 90) if partial else rng.randint(110, 150) if overpaid else 100
        amount = (due * share / 100).quantize(step)
        name, country, bban, bic = debtor_list[rng.randrange(len(debtor_list))]
        out.append(SamplePayment(
            reference=creditor_reference_for(f"26{seed % 10_000:04d}{i:09d}"),
            amount=amount, due=due, currency=currency,
            debtor_name=name, debtor_iban=iban(country, bban), debtor_bic=bic,
            end_to_end_id=f"E2E-{seed}-{i:07d}",
            account_servicer_reference=f"ASR{seed:04d}{i:09d}",
            uetr=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        ))
    return out


def build_camt054(version: str = "08", *, entries: int = 1, transactions: int = 1,
                  currency: str = "EUR", seed: int = 0, envelope: bool = False,
                  reversal: bool = False, partial: bool = False, overpaid: bool = False,
                  message_id: str | None = None,
                  payments: Sequence[SamplePayment] | None = None) -> bytes:
    """A camt.054.001.``version`` notification of ``entries`` × ``transactions`` payments
    (or of ``payments``, in one entry)."""
    if version not in VERSIONS:
        raise ValueError(f"version must be one of {', '.join(VERSIONS)}, not {version!r}")
    if payments is None:
        payments = sample_payments(entries * transactions, currency=currency, seed=seed,
                                   partial=partial, overpaid=overpaid)
    else:
        entries, transactions = 1, len(payments)
        currency = payments[0].currency if payments else currency
    message_id = message_id or f"CAMT054-{seed:04d}-{entries}x{transactions}"
    bic = "BIC" if version == "02" else "BICFI"
    parts = [
        f'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.{version}">',
        "<BkToCstmrDbtCdtNtfctn>",
        f"<GrpHdr><MsgId>{escape(message_id)}</MsgId><CreDtTm>{CREATED_AT}</CreDtTm></GrpHdr>",
        f"<Ntfctn><Id>{escape(message_id)}-1</Id><CreDtTm>{CREATED_AT}</CreDtTm>",
        f"<Acct><Id><IBAN>{CUSTOMS_IBAN}</IBAN></Id><Ccy>{currency}</Ccy>"
        f"<Svcr><FinInstnId><{bic}>{CUSTOMS_BANK}</{bic}></FinInstnId></Svcr></Acct>",
    ]
    for number in range(entries):
        batch = list(payments[number * transactions:(number + 1) * transactions])
        parts.append(_entry(version, number + 1, batch, reversal=reversal,
                            with_due=partial or overpaid))
    parts.append("</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>")
    document = "".join(parts)
    if envelope:
        document = _envelope(version, message_id, document)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + document + "\n").encode("utf-8")


def _amount(tag: str, value: Decimal, currency: str) -> str:
    return f"<{tag} Ccy={quoteattr(currency)}>{value}</{tag}>"


def _entry(version: str, number: int, batch: list[SamplePayment], *, reversal: bool,
           with_due: bool) -> str:
    currency = batch[0].currency if batch else "EUR"
    total = sum((p.amount for p in batch), Decimal(0))
    direction = "DBIT" if reversal else "CRDT"
    status = "<Sts><Cd>BOOK</Cd></Sts>" if version == "08" else "<Sts>BOOK</Sts>"
    head = (f"<Ntry><NtryRef>NTRY-{number:05d}</NtryRef>{_amount('Amt', total, currency)}"
            f"<CdtDbtInd>{direction}</CdtDbtInd>"
            f"{'<RvslInd>true</RvslInd>' if reversal else ''}{status}"
            f"<BookgDt><Dt>{BOOKING_DATE}</Dt></BookgDt><ValDt><Dt>{VALUE_DATE}</Dt></ValDt>"
            f"<AcctSvcrRef>ENTRY-{number:05d}</AcctSvcrRef>"
            "<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd>"
            "</Fmly></Domn></BkTxCd>")
    details = "".join(_transaction(version, p, direction, with_due) for p in batch)
    return f"{head}<NtryDtls>{details}</NtryDtls></Ntry>"


def _transaction(version: str, p: SamplePayment, direction: str, with_due: bool) -> str:
    bic = "BIC" if version == "02" else "BICFI"
    uetr = f"<UETR>{p.uetr}</UETR>" if version == "08" else ""
    refs = (f"<Refs><AcctSvcrRef>{p.account_servicer_reference}</AcctSvcrRef>"
            f"<EndToEndId>{p.end_to_end_id}</EndToEndId>{uetr}</Refs>")
    if version == "02":
        amount = f"<AmtDtls><TxAmt>{_amount('Amt', p.amount, p.currency)}</TxAmt></AmtDtls>"
    else:
        amount = f"{_amount('Amt', p.amount, p.currency)}<CdtDbtInd>{direction}</CdtDbtInd>"
    name = escape(p.debtor_name)
    debtor = f"<Dbtr><Pty><Nm>{name}</Nm></Pty></Dbtr>" if version == "08" else \
        f"<Dbtr><Nm>{name}</Nm></Dbtr>"
    parties = (f"<RltdPties>{debtor}<DbtrAcct><Id><IBAN>{p.debtor_iban}</IBAN></Id></DbtrAcct>"
               f"</RltdPties><RltdAgts><DbtrAgt><FinInstnId><{bic}>{p.debtor_bic}</{bic}>"
               "</FinInstnId></DbtrAgt></RltdAgts>")
    amounts = (f"<RfrdDocAmt>{_amount('DuePyblAmt', p.due, p.currency)}"
               f"{_amount('RmtdAmt', p.amount, p.currency)}</RfrdDocAmt>") if with_due else ""
    remittance = (f"<RmtInf><Strd>{amounts}<CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry>"
                  f"</Tp><Ref>{p.reference}</Ref></CdtrRefInf></Strd></RmtInf>")
    return f"<TxDtls>{refs}{amount}{parties}{remittance}</TxDtls>"


def _envelope(version: str, message_id: str, document: str) -> str:
    header = (f'<AppHdr xmlns="{HEAD_NS}"><Fr><FIId><FinInstnId><BICFI>{CUSTOMS_BANK}</BICFI>'
              "</FinInstnId></FIId></Fr><To><OrgId><Id><OrgId><Othr><Id>CUSTOMS</Id></Othr>"
              f"</OrgId></Id></OrgId></To><BizMsgIdr>{escape(message_id)}</BizMsgIdr>"
              f"<MsgDefIdr>camt.054.001.{version}</MsgDefIdr><CreDt>{CREATED_AT}</CreDt>"
              "</AppHdr>")
    return f'<BizMsg xmlns="{ENVELOPE_NS}">{header}{document}</BizMsg>'


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", choices=VERSIONS, default="08")
    parser.add_argument("--entries", type=int, default=1)
    parser.add_argument("--transactions", type=int, default=1, help="per entry")
    parser.add_argument("--currency", default="EUR")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--envelope", action="store_true")
    parser.add_argument("--reversal", action="store_true")
    parser.add_argument("--partial", action="store_true")
    parser.add_argument("--overpaid", action="store_true")
    args = parser.parse_args(argv)
    sys.stdout.buffer.write(build_camt054(
        args.version, entries=args.entries, transactions=args.transactions,
        currency=args.currency, seed=args.seed, envelope=args.envelope,
        reversal=args.reversal, partial=args.partial, overpaid=args.overpaid))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
