"""``custseg rfm`` and the options of a transaction log (``custseg run LOG --transactions``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from custseg.cli import console
from custseg.cli.app import (
    ColumnMapOpt,
    FormatOpt,
    MemoryOpt,
    QuietOpt,
    TracebackOpt,
    app,
    build_config,
    handles_errors,
    out_console,
    progress_for,
)
from custseg.config import TransactionOptions

TransactionsOpt = Annotated[bool, typer.Option(
    "--transactions", help="INPUT is a transaction log (customer, date, amount per line): it is "
    "aggregated to one row per customer (recency, frequency, monetary, tenure, RFM scores) and "
    "those customers are segmented.")]
CustomerColumnOpt = Annotated[str | None, typer.Option(
    "--customer-column", metavar="COLUMN", help="With --transactions: the customer id column. "
    "[default: found by name: customer_id, customer, cust_id...]", show_default=False)]
DateColumnOpt = Annotated[str | None, typer.Option(
    "--date-column", metavar="COLUMN", help="With --transactions: the purchase date column. "
    "[default: date, order_date, invoice_date...]", show_default=False)]
AmountColumnOpt = Annotated[str | None, typer.Option(
    "--amount-column", metavar="COLUMN", help="With --transactions: the amount column (negative: "
    "returns). [default: amount, dollar_value, revenue, sales...]", show_default=False)]
OrderColumnOpt = Annotated[str | None, typer.Option(
    "--order-column", metavar="COLUMN", help="With --transactions: lines of one order count as "
    "one purchase. [default: order_id, invoice... when present; else one purchase per customer "
    "and day]", show_default=False)]
QuantityColumnOpt = Annotated[str | None, typer.Option(
    "--quantity-column", metavar="COLUMN", help="With --transactions: units per line, summed "
    "into 'units'. [default: quantity, qty... when present]", show_default=False)]
DateFormatOpt = Annotated[str | None, typer.Option(
    "--date-format", metavar="FORMAT", help="With --transactions: how dates are written, e.g. "
    "'%d/%m/%Y'. [default: detected: ISO, YYYYMMDD, day-first or month-first]",
    show_default=False)]
AsOfOpt = Annotated[str | None, typer.Option(
    "--as-of", metavar="YYYY-MM-DD", help="With --transactions: the date recency and tenure are "
    "counted to; later lines are rejected. [default: the day after the last date in the log]",
    show_default=False)]


def transaction_options(transactions: bool, customer_column: str | None = None,
                        date_column: str | None = None, amount_column: str | None = None,
                        order_column: str | None = None, quantity_column: str | None = None,
                        date_format: str | None = None, as_of: str | None = None
                        ) -> TransactionOptions | None:
    """The :class:`TransactionOptions` of the command line (None without ``--transactions``)."""
    given = {"--customer-column": customer_column, "--date-column": date_column,
             "--amount-column": amount_column, "--order-column": order_column,
             "--quantity-column": quantity_column, "--date-format": date_format, "--as-of": as_of}
    if not transactions:
        named = next((option for option, value in given.items() if value), None)
        if named is not None:
            from custseg.exceptions import ConfigError

            raise ConfigError(f"{named} reads a transaction log: add --transactions.")
        return None
    return TransactionOptions(customer_column, date_column, amount_column, order_column,
                              quantity_column, date_format, as_of)


@app.command()
@handles_errors
def rfm(
    transactions_file: Annotated[str, typer.Argument(
        help="Transaction log: CSV, whitespace-separated text, Parquet or Excel.",
        metavar="TRANSACTIONS")],
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Customer table to write (.csv or .parquet). "
        "[default: <log stem>_customers.csv]", show_default=False)] = None,
    customer_column: CustomerColumnOpt = None,
    date_column: DateColumnOpt = None,
    amount_column: AmountColumnOpt = None,
    order_column: OrderColumnOpt = None,
    quantity_column: QuantityColumnOpt = None,
    date_format: DateFormatOpt = None,
    as_of: AsOfOpt = None,
    format: FormatOpt = None,
    column_map: ColumnMapOpt = None,
    memory_budget: MemoryOpt = "2GB",
    quiet: QuietOpt = False,
    traceback: TracebackOpt = False,
) -> None:
    """Aggregate a transaction log to one row per customer: recency, frequency, monetary value,
    tenure, returns, RFM scores and group. Writes only the customer table (and its rejects)."""
    from custseg.pipeline.transactions import write_customer_table

    options = transaction_options(True, customer_column, date_column, amount_column, order_column,
                                  quantity_column, date_format, as_of)
    config = build_config(transactions_file, None, None, column_map, format=format,
                          memory_budget=memory_budget, transactions=options)
    target = out if out is not None else Path(f"{Path(transactions_file).stem.lower()}_customers.csv")
    with progress_for(quiet) as progress:
        result = write_customer_table(config, target, progress=progress)
    if not quiet:
        console.print_transactions(out_console, result.summary, kept="in the table")
        out_console.print("Written:", markup=False)
        for path in result.outputs.values():
            out_console.print(f"  {path}", markup=False)
