"""Transaction log columns by alias, and each line's checks."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from custseg.exceptions import DataValidationError
from custseg.io.dates import DateFormat
from custseg.io.transactions import TransactionColumns, check_lines, find_transaction_columns

ISO = DateFormat("ISO", ("%Y-%m-%d",))


@pytest.mark.parametrize(("header", "expected"), [
    (["customer_id", "date", "dollar_value"], ("customer_id", "date", "dollar_value", None, None)),
    (["Customer ID", "Order Date", "Revenue", "Order ID", "Qty"],
     ("Customer ID", "Order Date", "Revenue", "Order ID", "Qty")),
    (["CustomerID", "InvoiceDate", "Sales", "InvoiceNo", "Quantity"],
     ("CustomerID", "InvoiceDate", "Sales", "InvoiceNo", "Quantity")),
])
def test_columns_by_alias(header: list[str], expected: tuple) -> None:
    cols = find_transaction_columns(header, "log.csv")
    assert (cols.customer, cols.date, cols.amount, cols.order, cols.quantity) == expected


def test_named_columns_win_and_missing_ones_name_the_option() -> None:
    cols = find_transaction_columns(["who", "when", "paid", "amount"], "log.csv",
                                    {"customer": "who", "date": "when", "amount": "paid"})
    assert (cols.customer, cols.date, cols.amount) == ("who", "when", "paid")
    with pytest.raises(DataValidationError, match="--customer-column"):
        find_transaction_columns(["when", "paid"], "log.csv")
    with pytest.raises(DataValidationError, match="Did you mean 'paid'"):
        find_transaction_columns(["who", "when", "paid"], "log.csv",
                                 {"customer": "who", "date": "when", "amount": "payd"})


def test_first_reason_per_line_and_customers_kept() -> None:
    table = pa.table({"c": ["1", " ", "2", "3", "4", "5"],
                      "d": ["2024-01-01", "2024-01-01", "", "2024-13-01", "2024-01-02", "2024-01-03"],
                      "a": ["1", "x", "2", "3", "inf", "-4"]})
    out = check_lines(table, np.arange(2, 8), TransactionColumns("c", "d", "a"), ISO)
    assert out.rejects.select(["row", "column", "value", "reason"]).to_pylist() == [
        {"row": 3, "column": "c", "value": " ", "reason": "missing customer id"},
        {"row": 4, "column": "d", "value": "", "reason": "missing value"},
        {"row": 5, "column": "d", "value": "2024-13-01", "reason": "unparseable date"},
        {"row": 6, "column": "a", "value": "inf", "reason": "infinity"},
    ]
    # Every line that names a customer travels on; only good ones are usable.
    assert out.lines["customer"].to_pylist() == ["1", "2", "3", "4", "5"]
    assert out.lines["usable"].to_pylist() == [True, False, False, False, True]
    assert out.lines["amount"].to_pylist()[-1] == -4


def test_numeric_ids_from_spreadsheets_read_as_whole_numbers() -> None:
    table = pa.table({"c": pa.array([12.0, 7.0]), "d": ["2024-01-01"] * 2, "a": [1.0, 2.0]})
    out = check_lines(table, np.arange(2, 4), TransactionColumns("c", "d", "a"), ISO)
    assert out.lines["customer"].to_pylist() == ["12", "7"]
