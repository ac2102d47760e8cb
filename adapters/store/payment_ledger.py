"""The payments ledger in SQL (a ``FlowStore``): assessments, payments, parked payments.

The port is ``gateway.flows.payments.ledger``. The SQL is written once for SQLite and
PostgreSQL (``?`` placeholders and ``{fields}`` filled in by the journal's ``Dialect``); the
tables are created with the journal's (``prepare_tables``) and written inside the journal's
own transactions (``tx.flow("payments")``), so a payment and the journal rows it goes with —
the bank file, the outbox event, the notifications — commit together or not at all.

What keeps concurrent files right: a transaction is recorded once (``UNIQUE (bank,
bank_reference)``), and the assessments a file pays are held for the transaction (PostgreSQL
``FOR UPDATE``, taken in reference order so that two files never wait on each other; SQLite:
the writer holds the database). Amounts are decimal strings: sums are exact in ``Decimal``.

The bound ledger caches the assessments it read or wrote for the rest of its transaction
(they are held, so nobody else changes them meanwhile), reads which of a file's transactions
are recorded already in one query (``preload_payments``, after the hold: a twin file paying
the same assessments has committed by then), and keeps its writes until the work is done
(``flush``: one batched upsert of the assessments in reference order, one batched insert of
the payments, one of the parked payments). A twin file that recorded one of the same
transactions without holding what this one holds (a parked payment) is caught by the insert:
``ON CONFLICT DO NOTHING`` waits for the twin's commit and writes fewer rows than kept, so
the ledger raises ``WriteConflict`` and the journal runs the whole operation again — where the
transaction is then a duplicate. A 1,000-payment file reads the assessments in one query.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import fields
from decimal import Decimal
from typing import Any

from adapters.store.dialect import Dialect
from adapters.store.sql_transaction import WriteConflict, insert_rows
from gateway.flows.payments.ledger import (
    CANCELLED,
    FLOW,
    Assessment,
    ParkedPayment,
    Payment,
)
from gateway.flows.payments.matching import APPLIED, REVERSED

SCHEMA = """
CREATE TABLE IF NOT EXISTS assessments (
    reference TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    partner_id TEXT NOT NULL,
    mrn TEXT,
    amount_due TEXT NOT NULL,
    currency TEXT NOT NULL,
    paid TEXT NOT NULL,
    status TEXT NOT NULL,
    decision_id TEXT NOT NULL,
    assessed_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    superseded_by TEXT
);
CREATE INDEX IF NOT EXISTS assessments_by_conversation ON assessments (conversation_id);
CREATE TABLE IF NOT EXISTS payments (
    id TEXT PRIMARY KEY,
    bank TEXT NOT NULL,
    bank_reference TEXT NOT NULL,
    amount TEXT NOT NULL,
    currency TEXT NOT NULL,
    outcome TEXT NOT NULL,
    receipt_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    reference TEXT,
    assessment_reference TEXT,
    reason TEXT,
    credit_debit TEXT,
    reversal INTEGER NOT NULL,
    end_to_end_id TEXT,
    uetr TEXT,
    account_servicer_reference TEXT,
    message_id TEXT,
    booking_date TEXT,
    value_date TEXT,
    reverses TEXT,
    reversed_by TEXT,
    UNIQUE (bank, bank_reference)
);
CREATE INDEX IF NOT EXISTS payments_by_assessment ON payments (assessment_reference);
CREATE TABLE IF NOT EXISTS parked_payments (
    id TEXT PRIMARY KEY,
    payment_id TEXT NOT NULL,
    bank TEXT NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    confirmation {blob} NOT NULL,
    receipt_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    parked_at TEXT NOT NULL,
    reference TEXT,
    amount TEXT,
    currency TEXT,
    state TEXT NOT NULL,
    resolved_at TEXT,
    resolved_by TEXT,
    resolution TEXT
);
CREATE INDEX IF NOT EXISTS parked_payments_by_state ON parked_payments (state, parked_at)
"""

_ASSESSMENT_COLUMNS = tuple(f.name for f in fields(Assessment))
_PAYMENT_COLUMNS = tuple(f.name for f in fields(Payment))
_PARKED_COLUMNS = tuple(f.name for f in fields(ParkedPayment))
_APPLIED = json.dumps([o for o in APPLIED if o != REVERSED])


def _insert(table: str, columns: Sequence[str]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)})"


_ASSESSMENT_INSERT = _insert("assessments", _ASSESSMENT_COLUMNS)
_ASSESSMENT_UPSERT = (" ON CONFLICT (reference) DO UPDATE SET "
                      + ", ".join(f"{c} = excluded.{c}" for c in _ASSESSMENT_COLUMNS[1:]))
_PAYMENT_INSERT = _insert("payments", _PAYMENT_COLUMNS)
_PAYMENT_TAIL = " ON CONFLICT (bank, bank_reference) DO NOTHING"
_SAVE_PAYMENT = ("UPDATE payments SET "
                 + ", ".join(f"{c} = ?" for c in _PAYMENT_COLUMNS[1:]) + " WHERE id = ?")
_PARKED_INSERT = _insert("parked_payments", _PARKED_COLUMNS)
_APPLIED_PAYMENTS = ("SELECT * FROM payments WHERE assessment_reference = ? AND outcome IN"
                     " ({json_texts}) AND reversed_by IS NULL ORDER BY recorded_at, id")


class PaymentLedgerStore:
    """The ``payments`` flow store: its tables, its bound ledger, its reader."""

    name = FLOW

    def schema(self) -> str:
        return SCHEMA

    def bind(self, dialect: Dialect, cur: Any) -> SqlPaymentLedger:
        return SqlPaymentLedger(dialect, cur)

    def reader(self, dialect: Dialect,
               read: Callable[[str, tuple[Any, ...]], list[dict[str, Any]]]
               ) -> PaymentLedgerReader:
        return PaymentLedgerReader(read)


class SqlPaymentLedger:
    """``gateway.flows.payments.ledger.PaymentLedger`` on the writer's cursor.

    Writes are kept until the work is done (``flush``, called by the journal's transaction
    before it commits) and then written in batches (``insert_rows``): a 1,000-payment file is a
    handful of pipelined statements, not thousands of round trips. Reads see the kept writes: the
    assessments and the new payments come from the cache, and a query of the tables
    (``current_assessment``, ``applied_payments``) writes what is kept first.
    """

    def __init__(self, dialect: Dialect, cur: Any) -> None:
        self.d, self.cur = dialect, cur
        self._held: dict[str, Assessment | None] = {}
        self._dirty: dict[str, Assessment] = {}         # assessments to upsert
        self._new: dict[str, Payment] = {}              # payments to insert, by id
        self._recorded: set[tuple[str, str]] = set()    # (bank, bank_reference) taken
        self._looked_up: set[tuple[str, str]] = set()   # keys whose recording was read
        self._parked: dict[str, ParkedPayment] = {}     # parked payments to insert, by id

    def _rows(self, template: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        self.cur.execute(self.d.sql(template), params)
        rows = self.cur.fetchall()
        names = [column[0] for column in self.cur.description]
        return [dict(zip(names, row, strict=True)) for row in rows]

    # --- assessments ---------------------------------------------------------------------------

    def hold(self, references: Sequence[str]) -> None:
        wanted = [r for r in references if r not in self._held]
        if not wanted:
            return
        rows = self._rows("SELECT * FROM assessments WHERE reference IN ({json_texts})"
                          " ORDER BY reference{row_lock}", (json.dumps(wanted),))
        found = {row["reference"]: assessment_of(row) for row in rows}
        for reference in wanted:
            self._held[reference] = found.get(reference)

    def assessment(self, reference: str) -> Assessment | None:
        if reference not in self._held:
            rows = self._rows("SELECT * FROM assessments WHERE reference = ?{row_lock}",
                              (reference,))
            self._held[reference] = assessment_of(rows[0]) if rows else None
        return self._held[reference]

    def current_assessment(self, conversation_id: str) -> Assessment | None:
        self.flush()
        rows = self._rows("SELECT * FROM assessments WHERE conversation_id = ? AND status <> ?"
                          " ORDER BY assessed_at DESC, reference LIMIT 1{row_lock}",
                          (conversation_id, CANCELLED))
        if not rows:
            return None
        found = assessment_of(rows[0])
        self._held[found.reference] = found
        return found

    def save_assessment(self, assessment: Assessment) -> None:
        self._dirty[assessment.reference] = assessment
        self._held[assessment.reference] = assessment

    # --- payments ------------------------------------------------------------------------------

    def preload_payments(self, bank: str, bank_references: Sequence[str]) -> None:
        wanted = sorted({r for r in bank_references if (bank, r) not in self._looked_up})
        if not wanted:
            return
        self.cur.execute(self.d.sql("SELECT bank_reference FROM payments WHERE bank = ? AND"
                                    " bank_reference IN ({json_texts})"),
                         (bank, json.dumps(wanted)))
        self._recorded.update((bank, row[0]) for row in self.cur.fetchall())
        self._looked_up.update((bank, r) for r in wanted)

    def add_payment(self, payment: Payment) -> bool:
        key = (payment.bank, payment.bank_reference)
        if key not in self._looked_up:
            self.preload_payments(payment.bank, [payment.bank_reference])
        if key in self._recorded:
            return False
        self._recorded.add(key)
        self._new[payment.id] = payment
        return True

    def save_payment(self, payment: Payment) -> None:
        if payment.id in self._new:
            self._new[payment.id] = payment
            return
        values = _values(payment, _PAYMENT_COLUMNS)
        self.cur.execute(self.d.sql(_SAVE_PAYMENT), (*values[1:], values[0]))

    def payment(self, payment_id: str) -> Payment | None:
        if payment_id in self._new:
            return self._new[payment_id]
        rows = self._rows("SELECT * FROM payments WHERE id = ?", (payment_id,))
        return payment_of(rows[0]) if rows else None

    def applied_payments(self, assessment_reference: str) -> list[Payment]:
        self.flush()
        return [payment_of(r) for r in self._rows(_APPLIED_PAYMENTS,
                                                  (assessment_reference, _APPLIED))]

    # --- parked payments -----------------------------------------------------------------------

    def park(self, parked: ParkedPayment) -> None:
        self._parked[parked.id] = parked

    def parked_payment(self, parked_id: str) -> ParkedPayment | None:
        if parked_id in self._parked:
            return self._parked[parked_id]
        rows = self._rows("SELECT * FROM parked_payments WHERE id = ?{row_lock}", (parked_id,))
        return parked_of(rows[0]) if rows else None

    def resolve(self, parked: ParkedPayment) -> None:
        if parked.id in self._parked:
            self._parked[parked.id] = parked
            return
        self.cur.execute(self.d.sql(
            "UPDATE parked_payments SET state = ?, resolved_at = ?, resolved_by = ?,"
            " resolution = ? WHERE id = ?"),
            (parked.state, parked.resolved_at, parked.resolved_by, parked.resolution, parked.id))

    # --- writing what was kept -----------------------------------------------------------------

    def flush(self) -> None:
        """Write the kept assessments (upserted, in reference order), payments and parked
        payments. A payment key another transaction recorded since it was read raises
        ``WriteConflict`` (the journal runs the whole operation again)."""
        dirty, self._dirty = [self._dirty[r] for r in sorted(self._dirty)], {}
        new, self._new = list(self._new.values()), {}
        parked, self._parked = list(self._parked.values()), {}
        insert_rows(self.d, self.cur, _ASSESSMENT_INSERT,
                    [_values(a, _ASSESSMENT_COLUMNS) for a in dirty], _ASSESSMENT_UPSERT)
        written = insert_rows(self.d, self.cur, _PAYMENT_INSERT,
                              [_values(p, _PAYMENT_COLUMNS) for p in new], _PAYMENT_TAIL)
        if written != len(new):
            raise WriteConflict(f"{len(new) - written} bank transaction(s) recorded by "
                                f"another transaction meanwhile")
        insert_rows(self.d, self.cur, _PARKED_INSERT,
                    [_values(p, _PARKED_COLUMNS) for p in parked])


class PaymentLedgerReader:
    """``gateway.flows.payments.ledger.PaymentLedgerReader``: queries outside a transaction."""

    def __init__(self, read: Callable[[str, tuple[Any, ...]], list[dict[str, Any]]]) -> None:
        self._read = read

    def look_up(self, reference: str) -> Assessment | None:
        rows = self._read("SELECT * FROM assessments WHERE reference = ?", (reference,))
        return assessment_of(rows[0]) if rows else None

    def payments(self, assessment_reference: str) -> list[Payment]:
        return [payment_of(r) for r in self._read(
            "SELECT * FROM payments WHERE assessment_reference = ? ORDER BY recorded_at, id",
            (assessment_reference,))]

    def parked_payments(self, *, state: str | None = "parked", limit: int = 100
                        ) -> list[ParkedPayment]:
        if state is None:
            rows = self._read("SELECT * FROM parked_payments ORDER BY parked_at, id LIMIT ?",
                              (limit,))
        else:
            rows = self._read("SELECT * FROM parked_payments WHERE state = ?"
                              " ORDER BY parked_at, id LIMIT ?", (state, limit))
        return [parked_of(r) for r in rows]

    def parked_payment(self, parked_id: str) -> ParkedPayment | None:
        rows = self._read("SELECT * FROM parked_payments WHERE id = ?", (parked_id,))
        return parked_of(rows[0]) if rows else None


# --- records to rows and back ------------------------------------------------------------------


def _values(record: Any, columns: Sequence[str]) -> tuple[Any, ...]:
    out = []
    for name in columns:
        value = getattr(record, name)
        if isinstance(value, Decimal):
            value = format(value, "f")
        elif isinstance(value, bool):
            value = int(value)
        out.append(value)
    return tuple(out)


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


def assessment_of(row: dict[str, Any]) -> Assessment:
    return Assessment(**{**{k: row[k] for k in _ASSESSMENT_COLUMNS},
                         "amount_due": Decimal(row["amount_due"]), "paid": Decimal(row["paid"])})


def payment_of(row: dict[str, Any]) -> Payment:
    return Payment(**{**{k: row[k] for k in _PAYMENT_COLUMNS},
                      "amount": Decimal(row["amount"]), "reversal": bool(row["reversal"])})


def parked_of(row: dict[str, Any]) -> ParkedPayment:
    return ParkedPayment(**{**{k: row[k] for k in _PARKED_COLUMNS},
                            "confirmation": bytes(row["confirmation"]),
                            "amount": _decimal(row["amount"])})
