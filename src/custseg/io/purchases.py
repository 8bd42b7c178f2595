"""From a transaction log to one row per customer: recency, frequency, monetary value, tenure.

The log is read once, in batches, from any :class:`~custseg.io.chunks.Source`; every line is
checked (:func:`custseg.io.transactions.check_lines`) and the rejected ones go to a
:class:`~custseg.io.rejects.RejectStore` with their line number and reason. The checked lines
stream into DuckDB, which groups them in two steps (lines into purchases, purchases into
customers) in bounded memory, spilling to the work folder when the groups outgrow
``memory_limit``, and writes the customer table as Parquet. Amounts are summed as decimals
(to 1e-6), so the sums do not depend on the order DuckDB's threads add them in: the same log
gives the same table, bit for bit.

Definitions (:data:`FEATURE_DEFINITIONS`; also in ``segments.json`` and the README):

- a *purchase* is one order (``--order-column``), or, without one, one customer's lines of one day;
- ``as_of`` is ``--as-of``, or the day after the last date in the log.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from custseg.io.chunks import Source
from custseg.io.dates import DateFormat, detect_date_format
from custseg.io.formats import SourceInfo
from custseg.io.rejects import RejectStore
from custseg.io.sources import ParquetSource
from custseg.io.transactions import LINE_SCHEMA, TransactionColumns, check_lines
from custseg.optional import import_optional
from custseg.progress import NullProgress, Progress

#: The customer table's columns, with their definitions.
FEATURE_DEFINITIONS: dict[str, str] = {
    "customer_id": "the customer's id, as written in the log (trimmed)",
    "recency_days": "days from the customer's last purchase to as_of",
    "frequency": "number of distinct purchases (orders, or purchase days without --order-column)",
    "monetary_total": "net spend: sum of the amounts, returns netted; a net below zero counts as 0",
    "monetary_mean": "monetary_total / frequency: mean spend per purchase",
    "tenure_days": "days from the customer's first purchase to as_of",
    "first_purchase": "date of the first purchase (YYYY-MM-DD)",
    "last_purchase": "date of the last purchase (YYYY-MM-DD)",
    "lines": "usable log lines of the customer",
    "returns": "lines with a negative amount (returns, refunds), netted in monetary_total",
    "zero_amount_lines": "lines with an amount of 0 (kept as purchases)",
    "net_spend": "sum of the amounts, returns netted, may be below zero",
    "units": "sum of the quantity column (only with a quantity column)",
}
#: The customer features a run segments on by default (classic recency, frequency, monetary).
RFM_FEATURES: tuple[str, ...] = ("recency_days", "frequency", "monetary_total")
#: Lines checked per batch.
DEFAULT_BATCH_LINES = 1_000_000
#: Spreadsheet-style day offset: Arrow date32 counts days since this date.
EPOCH = "DATE '1970-01-01'"


@dataclass
class LineCounts:
    """What happened to the lines and customers of a log.

    Attributes
    ----------
    lines_read, lines_used, lines_rejected : int
        ``lines_read = lines_used + lines_rejected`` (the header is not a line).
    returns, zero_amount_lines : int
        Usable lines with a negative amount, and with an amount of 0.
    customers, customers_segmentable, customers_rejected : int
        Customers named on any line; those with at least one usable line; those with none.
    negative_net_customers : int
        Customers whose net spend is below zero (counted as 0 in ``monetary_total``).
    first_date, last_date, as_of : str
        ISO dates: the log's first and last usable date, and the recency reference.
    date_format : str
        How the dates were read (``ISO``, ``YYYYMMDD``, ``day-first``, ...).
    """

    lines_read: int = 0
    lines_used: int = 0
    lines_rejected: int = 0
    returns: int = 0
    zero_amount_lines: int = 0
    customers: int = 0
    customers_segmentable: int = 0
    customers_rejected: int = 0
    negative_net_customers: int = 0
    first_date: str = ""
    last_date: str = ""
    as_of: str = ""
    date_format: str = ""
    reasons: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return dict(self.__dict__)


@dataclass
class CustomerFeatures:
    """The customer table a log aggregates to.

    Attributes
    ----------
    path : pathlib.Path
        Parquet file: one row per customer with a usable line, sorted by id
        (:data:`FEATURE_DEFINITIONS`).
    rejected_customers : pyarrow.Table
        ``customer_id``, ``lines`` (its rejected lines), ``reason``: customers with no usable line.
    counts : LineCounts
    columns : TransactionColumns
        The log's columns used.
    """

    path: Path
    rejected_customers: pa.Table
    counts: LineCounts
    columns: TransactionColumns


def aggregate_transactions(source: Source, columns: TransactionColumns, out: Path, rejects: RejectStore,
                           *, work_dir: Path, as_of: int | None = None,
                           date_format: str | None = None, decimal_comma: bool = False,
                           batch_lines: int = DEFAULT_BATCH_LINES,
                           memory_limit: int = 1024**3, threads: int = 2,
                           progress: Progress | None = None) -> CustomerFeatures:
    """Check every line of a transaction log and aggregate it to one row per customer.

    Parameters
    ----------
    source : Source
        The log (any source custseg reads).
    columns : TransactionColumns
        Its customer, date, amount (and order, quantity) columns.
    out : pathlib.Path
        Parquet file to write the customer table to.
    rejects : RejectStore
        Receives every rejected line, in line order.
    work_dir : pathlib.Path
        Where DuckDB may spill.
    as_of : int, optional
        Recency reference (days since 1970-01-01); lines after it are rejected. Default: the day
        after the last date in the log.
    date_format : str, optional
        ``--date-format``; default: detected from the first batch.
    decimal_comma : bool, default False
        Read ``12,5`` as 12.5.
    batch_lines : int
        Lines checked at a time.
    memory_limit : int
        Bytes DuckDB may hold before it spills.
    threads : int
        DuckDB's threads.
    progress : Progress, optional

    Returns
    -------
    CustomerFeatures
    """
    duckdb = import_optional("duckdb", "transactions", "Reading transaction logs")
    progress = progress or NullProgress()
    counts = LineCounts()
    state: dict[str, DateFormat] = {}
    errors: list[BaseException] = []

    def batches(advance) -> Iterator[pa.RecordBatch]:
        try:
            yield from _checked_batches(source, columns, state, counts, rejects, advance,
                                        as_of=as_of, date_format=date_format,
                                        decimal_comma=decimal_comma, batch_lines=batch_lines)
        except BaseException as exc:
            # DuckDB wraps what its input stream raises; keep ours to raise it as it is.
            errors.append(exc)
            raise

    work_dir.mkdir(parents=True, exist_ok=True)
    # A database file in the work folder, not an in-memory one: its tables (10^7 customers) can
    # leave memory for disk, so memory_limit bounds the whole aggregation.
    con = duckdb.connect(str(work_dir / "transactions.duckdb"))
    try:
        con.execute(f"SET memory_limit='{max(64, memory_limit // 1024**2)}MB'")
        con.execute(f"SET temp_directory='{work_dir.as_posix()}'")
        con.execute(f"SET threads={max(1, threads)}")
        con.execute("SET preserve_insertion_order=false")
        con.execute("SET enable_progress_bar=false")  # custseg shows its own progress
        with progress.task(f"Reading the transactions of {source.name}", total=1.0) as advance:
            lines = pa.RecordBatchReader.from_batches(LINE_SCHEMA, batches(advance))
            con.register("line_stream", lines)
            steps = _customer_sql(columns)
            try:
                con.execute(steps[0])
            except duckdb.Error:
                if errors:
                    raise errors[0] from None
                raise
        with progress.task("Grouping lines into purchases and customers"):
            for step in steps[1:]:
                con.execute(step)
        counts.lines_used = counts.lines_read - counts.lines_rejected
        counts.date_format = state["format"].name if "format" in state else ""
        counts.reasons = dict(sorted(rejects.reasons.items()))
        with progress.task("Writing the customer features"):
            return _finish(con, columns, out, counts, as_of)
    finally:
        con.close()


def _checked_batches(source: Source, columns: TransactionColumns, state: dict, counts: LineCounts,
                     rejects: RejectStore, advance, *, as_of: int | None, date_format: str | None,
                     decimal_comma: bool, batch_lines: int) -> Iterator[pa.RecordBatch]:
    """The log's lines, checked batch by batch: rejects stored, counts kept, lines handed on."""
    done = 0.0
    for chunk in source.chunks(batch_lines, columns.names):
        if "format" not in state:
            state["format"] = detect_date_format(chunk.table.column(columns.date), columns.date,
                                                 source.name, date_format)
        checked = check_lines(chunk.table, chunk.rows, columns, state["format"], as_of,
                              decimal_comma)
        bad = pa.concat_tables([chunk.parse_rejects, checked.rejects]).sort_by("row")
        rejects.add(bad)
        counts.lines_read += chunk.n_records
        counts.lines_rejected += bad.num_rows
        fraction = source.fraction_done()
        advance(max(0.0, fraction - done))
        done = fraction
        yield from checked.lines.to_batches()


def _customer_sql(columns: TransactionColumns) -> list[str]:
    """Lines into purchases, purchases into customers: one step at a time, each result a table,
    so that only one hash table is alive at once (in one query, 10^8 lines ran out of memory)."""
    key = "purchase" if columns.order is not None else "day"
    return [
        "CREATE TABLE lines AS SELECT * FROM line_stream",
        f"""CREATE TABLE purchases AS
            SELECT customer, usable,
                   CASE WHEN usable THEN {key} END AS purchase_key,
                   min(CASE WHEN usable THEN day END) AS day,
                   sum(CASE WHEN usable THEN CAST(amount AS DECIMAL(38, 6)) END) AS amount,
                   count(*) AS lines,
                   count(*) FILTER (WHERE usable AND amount < 0) AS returns,
                   count(*) FILTER (WHERE usable AND amount = 0) AS zeros,
                   sum(CASE WHEN usable THEN quantity END) AS units
            FROM lines GROUP BY customer, usable, purchase_key""",
        "DROP TABLE lines",
        """CREATE TABLE customers AS
            SELECT customer,
                   count(*) FILTER (WHERE usable) AS frequency,
                   min(day) AS first_day, max(day) AS last_day,
                   sum(amount) AS net_spend,
                   coalesce(sum(lines) FILTER (WHERE usable), 0) AS lines,
                   coalesce(sum(lines) FILTER (WHERE NOT usable), 0) AS rejected_lines,
                   coalesce(sum(returns), 0) AS returns, coalesce(sum(zeros), 0) AS zeros,
                   sum(units) AS units
            FROM purchases GROUP BY customer""",
        "DROP TABLE purchases",
    ]


def _finish(con, columns: TransactionColumns, out: Path, counts: LineCounts, as_of: int | None
            ) -> CustomerFeatures:
    (customers, good, first, last, returns, zeros, negative) = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE frequency > 0), min(first_day), max(last_day), "
        "coalesce(sum(returns), 0), coalesce(sum(zeros), 0), "
        "count(*) FILTER (WHERE net_spend < 0) FROM customers").fetchone()
    if as_of is None:
        as_of = (last + 1) if last is not None else 0
    counts.customers, counts.customers_segmentable = int(customers), int(good)
    counts.customers_rejected = int(customers) - int(good)
    counts.returns, counts.zero_amount_lines = int(returns), int(zeros)
    counts.negative_net_customers = int(negative)
    counts.first_date, counts.last_date, counts.as_of = _iso(first), _iso(last), _iso(as_of)
    units = ", units" if columns.quantity is not None else ""
    con.execute(f"""
        COPY (SELECT customer AS customer_id,
                     CAST({as_of} - last_day AS BIGINT) AS recency_days,
                     CAST(frequency AS BIGINT) AS frequency,
                     CAST(greatest(net_spend, 0) AS DOUBLE) AS monetary_total,
                     CAST(greatest(net_spend, 0) / frequency AS DOUBLE) AS monetary_mean,
                     CAST({as_of} - first_day AS BIGINT) AS tenure_days,
                     strftime({EPOCH} + first_day, '%Y-%m-%d') AS first_purchase,
                     strftime({EPOCH} + last_day, '%Y-%m-%d') AS last_purchase,
                     CAST(lines AS BIGINT) AS lines, CAST(returns AS BIGINT) AS returns,
                     CAST(zeros AS BIGINT) AS zero_amount_lines,
                     CAST(net_spend AS DOUBLE) AS net_spend{units}
              FROM customers WHERE frequency > 0 ORDER BY customer)
        TO '{out.as_posix()}' (FORMAT parquet, ROW_GROUP_SIZE 262144)
    """)
    result = con.sql(
        "SELECT customer AS customer_id, CAST(rejected_lines AS BIGINT) AS lines, "
        "'no usable transaction line (' || rejected_lines || ' line' || "
        "CASE WHEN rejected_lines = 1 THEN '' ELSE 's' END || ' rejected)' AS reason "
        "FROM customers WHERE frequency = 0 ORDER BY customer")
    # DuckDB 2 renamed fetch_arrow_table.
    rejected = getattr(result, "to_arrow_table", None) or result.arrow
    rejected = rejected()
    return CustomerFeatures(out, rejected, counts, columns)


class CustomerTableSource(ParquetSource):
    """The customer table a log aggregated to, read as any Parquet customer table, but described
    as the log it came from (its name names the clustered file; its fingerprint is the log's).

    Parameters
    ----------
    path : pathlib.Path
        The customer table (Parquet).
    origin : SourceInfo
        The transaction log's description.
    """

    def __init__(self, path: Path, origin: SourceInfo) -> None:
        super().__init__(path)
        self.origin = origin
        self.name = origin.name

    def info(self) -> SourceInfo:
        return self.origin


def _iso(day: int | None) -> str:
    """Days since 1970-01-01 as ``YYYY-MM-DD`` (empty for None)."""
    if day is None:
        return ""
    return str(pa.array([int(day)], pa.int32()).cast(pa.date32())[0].as_py())
