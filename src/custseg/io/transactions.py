"""Transaction logs: find the columns of a purchase log and check every line.

A transaction log has one line per purchase (or per product of a purchase): who bought
(customer), when (date), for how much (amount), and optionally in which order and how many
units. The columns are found by name or alias (:data:`TRANSACTION_ALIASES`, compared ignoring
case, spaces and punctuation), or named with ``--customer-column``, ``--date-column``,
``--amount-column``, ``--order-column`` and ``--quantity-column``.

:func:`check_lines` validates one batch of lines from any :class:`~custseg.io.chunks.Source`
(CSV, whitespace-separated text, Parquet, Excel, a data frame, or whatever hands out Arrow
batches): each line is either usable or rejected with its line number and the first reason
that applies (:class:`LineReason`). Lines that name a customer travel on even when rejected, so
that a customer with no usable line can be rejected with a reason of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from custseg.exceptions import DataValidationError
from custseg.io.columns import missing_column_error, normalise
from custseg.io.dates import DateFormat
from custseg.io.numbers import INFINITE, MISSING, NON_NUMERIC, OK, parse_numbers
from custseg.io.rejects import REJECT_SCHEMA, Reason

#: Known names of each role's column (the first is the one written in the customer table).
TRANSACTION_ALIASES: dict[str, tuple[str, ...]] = {
    "customer": ("customer_id", "customer", "customerid", "cust_id", "client_id", "client",
                 "user_id", "member_id", "account_id", "buyer_id"),
    "date": ("date", "order_date", "transaction_date", "invoice_date", "purchase_date",
             "sale_date", "timestamp", "datetime", "order_datetime", "invoicedate"),
    "amount": ("amount", "dollar_value", "revenue", "sales", "sale_amount", "spend", "total",
               "line_total", "net_amount", "value", "price_total", "order_value"),
    "order": ("order_id", "order", "order_number", "invoice", "invoice_no", "invoice_id",
              "transaction_id", "receipt_id", "basket_id"),
    "quantity": ("quantity", "qty", "units", "number_of_cds", "items", "item_count"),
}
#: Options naming each role's column.
ROLE_OPTIONS = {"customer": "--customer-column", "date": "--date-column",
                "amount": "--amount-column", "order": "--order-column",
                "quantity": "--quantity-column"}
#: Schema of the checked lines handed to the aggregation.
LINE_SCHEMA = pa.schema([("customer", pa.string()), ("day", pa.int32()),
                         ("amount", pa.float64()), ("quantity", pa.float64()),
                         ("purchase", pa.string()), ("usable", pa.bool_())])


class LineReason:
    """Reasons written to ``rejected_rows.csv`` for transaction lines."""

    NO_CUSTOMER = "missing customer id"
    BAD_DATE = "unparseable date"
    AFTER_AS_OF = "date after --as-of {as_of}"
    NO_ORDER = "missing order id"


@dataclass(frozen=True)
class TransactionColumns:
    """The log's column for each role (``order`` and ``quantity`` may be absent).

    Examples
    --------
    >>> cols = find_transaction_columns(["customer_id", "date", "number_of_cds", "dollar_value"],
    ...                                 "CDNOW_master.txt")
    >>> cols.customer, cols.date, cols.amount, cols.order, cols.quantity
    ('customer_id', 'date', 'dollar_value', None, 'number_of_cds')
    """

    customer: str
    date: str
    amount: str
    order: str | None = None
    quantity: str | None = None

    @property
    def names(self) -> list[str]:
        """The columns read, in role order."""
        return [c for c in (self.customer, self.date, self.amount, self.order, self.quantity)
                if c is not None]

    def to_dict(self) -> dict[str, str | None]:
        """JSON-ready form."""
        return {"customer": self.customer, "date": self.date, "amount": self.amount,
                "order": self.order, "quantity": self.quantity}


def find_transaction_columns(columns: Sequence[str], source_name: str,
                             given: dict[str, str | None] | None = None) -> TransactionColumns:
    """Each role's column: the one named by its option, else the first alias present.

    Raises
    ------
    DataValidationError
        A required column (customer, date, amount) is not found, or a named one is absent.
    """
    given = given or {}
    by_key = {normalise(c): c for c in reversed(list(columns))}
    found: dict[str, str | None] = {}
    for role, aliases in TRANSACTION_ALIASES.items():
        wanted = given.get(role)
        if wanted:
            match = wanted if wanted in columns else by_key.get(normalise(wanted))
            if match is None:
                raise missing_column_error(wanted, columns, source_name, ROLE_OPTIONS[role])
            found[role] = match
            continue
        found[role] = next((by_key[normalise(a)] for a in aliases if normalise(a) in by_key), None)
        if found[role] is None and role in ("customer", "date", "amount"):
            raise DataValidationError(
                f"No {role} column found in {source_name} (looked for "
                f"{', '.join(aliases[:4])}...). Columns present: {', '.join(columns)}. Name it "
                f"with {ROLE_OPTIONS[role]}.")
    return TransactionColumns(**found)


def _text(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if pa.types.is_floating(column.type):
        # An id stored as 12.0 in a spreadsheet export means 12.
        whole = pc.equal(column, pc.floor(column))
        column = pc.if_else(whole, pc.cast(pc.cast(column, pa.int64(), safe=False), pa.string()),
                            pc.cast(column, pa.string()))
    return pc.utf8_trim_whitespace(pc.cast(column, pa.string()))


@dataclass
class CheckedLines:
    """One batch of lines, checked: the lines that name a customer, and the rejected lines."""

    lines: pa.Table
    rejects: pa.Table


def check_lines(table: pa.Table, rows: np.ndarray, columns: TransactionColumns,
                date_format: DateFormat, as_of: int | None = None,
                decimal_comma: bool = False) -> CheckedLines:
    """Check a batch of transaction lines.

    Parameters
    ----------
    table : pyarrow.Table
        The batch (at least the columns of ``columns``).
    rows : numpy.ndarray
        Line number of each record as a spreadsheet shows it (header = 1).
    columns : TransactionColumns
        The roles' columns.
    date_format : DateFormat
        How the dates are written (:func:`custseg.io.dates.detect_date_format`).
    as_of : int, optional
        ``--as-of`` in days since 1970-01-01: later lines are rejected.
    decimal_comma : bool, default False
        Read ``12,5`` as 12.5.

    Returns
    -------
    CheckedLines
        ``lines`` (layout :data:`LINE_SCHEMA`: every line naming a customer, ``usable`` false
        for rejected ones) and ``rejects`` (layout :data:`custseg.io.rejects.REJECT_SCHEMA`).

    Examples
    --------
    >>> t = pa.table({"customer_id": ["1", "", "2", "3"], "date": ["19970101", "19970102", "x",
    ...               "19970103"], "amount": ["1.5", "2", "3", "abc"]})
    >>> cols = TransactionColumns("customer_id", "date", "amount")
    >>> out = check_lines(t, np.arange(2, 6), cols, DateFormat("YYYYMMDD", ("%Y%m%d",)))
    >>> out.lines["usable"].to_pylist(), out.rejects["reason"].to_pylist()
    ([True, False, False], ['missing customer id', 'unparseable date', 'non-numeric text'])
    """
    n = table.num_rows
    customer = _text(table.column(columns.customer))
    reason = np.full(n, None, dtype=object)
    bad_column = np.full(n, None, dtype=object)

    def mark(mask: np.ndarray, text: str, column: str) -> None:
        fresh = mask & (reason == None)  # noqa: E711 - elementwise on an object array
        reason[fresh] = text
        bad_column[fresh] = column

    has_customer = pc.fill_null(pc.not_equal(customer, ""), False).to_numpy(zero_copy_only=False)
    mark(~has_customer, LineReason.NO_CUSTOMER, columns.customer)
    raw_date = table.column(columns.date)
    day = pc.cast(date_format.parse(raw_date), pa.int32())
    date_missing = _missing(raw_date)
    mark(date_missing, Reason.MISSING, columns.date)
    mark(day.is_null().to_numpy(zero_copy_only=False), LineReason.BAD_DATE, columns.date)
    if as_of is not None:
        late = pc.fill_null(pc.greater(day, as_of), False).to_numpy(zero_copy_only=False)
        as_of_text = str(pc.cast(pa.array([as_of], pa.int32()), pa.date32())[0].as_py())
        mark(late, LineReason.AFTER_AS_OF.format(as_of=as_of_text), columns.date)
    amount, codes = parse_numbers(table.column(columns.amount), decimal_comma)
    for code, text in ((MISSING, Reason.MISSING), (NON_NUMERIC, Reason.NON_NUMERIC),
                       (INFINITE, Reason.INFINITY)):
        mark(codes == code, text, columns.amount)
    quantity = np.full(n, np.nan)
    if columns.quantity is not None:
        quantity, qcodes = parse_numbers(table.column(columns.quantity), decimal_comma)
        mark((qcodes != OK) & (qcodes != MISSING), Reason.NON_NUMERIC, columns.quantity)
    purchase = pa.nulls(n, pa.string())
    if columns.order is not None:
        purchase = _text(table.column(columns.order))
        mark(~pc.fill_null(pc.not_equal(purchase, ""), False).to_numpy(zero_copy_only=False),
             LineReason.NO_ORDER, columns.order)
    rejected = reason != None  # noqa: E711
    keep = pa.array(has_customer)
    lines = pa.table({
        "customer": customer.filter(keep),
        "day": day.filter(keep),
        "amount": pa.array(amount, pa.float64()).filter(keep),
        "quantity": pa.array(quantity, pa.float64()).filter(keep),
        "purchase": purchase.filter(keep),
        "usable": pa.array(~rejected).filter(keep),
    }, schema=LINE_SCHEMA)
    rejects = REJECT_SCHEMA.empty_table()
    if rejected.any():
        where = np.flatnonzero(rejected)
        values = [_cell(table.column(bad_column[i]), i) for i in where]
        rejects = pa.table({
            "row": pa.array(rows[where], pa.int64()),
            "customer_id": pc.if_else(pc.equal(customer.take(pa.array(where)), ""),
                                      pa.scalar(None, pa.string()), customer.take(pa.array(where))),
            "column": pa.array(bad_column[where].tolist(), pa.string()),
            "value": pa.array(values, pa.string()),
            "reason": pa.array(reason[where].tolist(), pa.string()),
        }, schema=REJECT_SCHEMA)
    return CheckedLines(lines, rejects)


def _missing(column: pa.ChunkedArray) -> np.ndarray:
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        text = pc.utf8_trim_whitespace(column)
        return pc.fill_null(pc.equal(text, ""), True).to_numpy(zero_copy_only=False)
    return column.is_null().to_numpy(zero_copy_only=False)


def _cell(column: pa.ChunkedArray, i: int) -> str:
    value = column[int(i)].as_py()
    return "" if value is None else str(value)
