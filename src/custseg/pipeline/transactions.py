"""Segment from what customers did: a transaction log in, one row per customer, the usual run.

::

    log (any source) ──► check every line ──► purchases ──► customers (recency, frequency,
    monetary, tenure) ──► RFM scores and groups ──► the customer pipeline (stages.segment_in)

The customer table is an ordinary customer table (a Parquet file in a work folder beside the
outputs): it goes through validation, the scaler (and the transform of any customer table), K
choice, fit, names, rules, ``--previous`` and every output exactly as a file would. What a log
adds: ``rejected_rows.csv`` holds the rejected *lines* (line number and reason),
``rejected_customers.csv`` the customers with no usable line, and ``segments.json`` a
``transactions`` block (columns, date form, ``as_of``, lines read = used + rejected, customers =
segmented + rejected, returns, zero-amount lines, feature definitions).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from custseg.config import DEFAULT_FEATURES, RunConfig
from custseg.describe.naming import load_overrides
from custseg.describe.rfm import GROUP_NAMES, RFM_GROUPS, rfm_columns
from custseg.engines import open_engine, open_input
from custseg.exceptions import ConfigError, DataValidationError
from custseg.io.csvsafe import TableWriter, write_csv
from custseg.io.dates import parse_as_of
from custseg.io.outfolder import OutputFolder, check_writable
from custseg.io.purchases import (
    FEATURE_DEFINITIONS,
    RFM_FEATURES,
    CustomerFeatures,
    CustomerTableSource,
    aggregate_transactions,
)
from custseg.io.rejects import RejectStore
from custseg.io.transactions import find_transaction_columns
from custseg.outputs.write import record_history, write_k_choice, write_outputs, write_rejects
from custseg.pipeline.result import KChoiceResult, RunResult
from custseg.pipeline.stages import evaluate_k_in, segment_in
from custseg.progress import NullProgress, Progress
from custseg.tracking.previous import load_previous
from custseg.tracking.rfm_moves import count_rfm_by_segment, count_rfm_moves

#: Customers with no usable line, in a run folder (and beside ``custseg rfm``'s table).
REJECTED_CUSTOMERS_FILE = "rejected_customers.csv"
#: With --previous: customers per (previous RFM group, new RFM group).
RFM_MIGRATION_FILE = "rfm_migration.csv"
#: The customer id column of the customer table.
CUSTOMER_ID = "customer_id"


@dataclass
class CustomerTable:
    """A log aggregated to customers, ready for the customer pipeline.

    Attributes
    ----------
    source : CustomerTableSource
        The customer table (Parquet in the work folder), named after the log.
    config : RunConfig
        The run's options for the customer table (features default to the RFM features, the
        id to ``customer_id``).
    features : CustomerFeatures
        Counts, rejected customers and the columns used.
    rejects : RejectStore
        The rejected lines.
    """

    source: CustomerTableSource
    config: RunConfig
    features: CustomerFeatures
    rejects: RejectStore

    def summary(self) -> dict:
        """The ``transactions`` block of ``segments.json``."""
        present = set(self.source.columns)
        counts = self.features.counts.to_dict()
        groups = pq.read_table(self.source.path, columns=["RFM_group"]).column(0)
        per_group = pd.Series(groups.to_numpy(zero_copy_only=False)).value_counts()
        return {
            "columns": self.features.columns.to_dict(),
            "purchase": "order" if self.features.columns.order else "customer-day",
            "counts": counts,
            "features": {name: text for name, text in FEATURE_DEFINITIONS.items() if name in present},
            "rfm": {
                "scores": "R, F, M: 1-5 by quintile of rank among all customers (ties share the "
                          "lowest rank's score); R reversed (5 = most recent); M on monetary_total",
                "groups": {name: {"R": list(rs), "F": list(fs)} for name, rs, fs in RFM_GROUPS},
                "group_order": list(GROUP_NAMES),
                "customers": {name: int(per_group.get(name, 0)) for name in GROUP_NAMES},
            },
        }


def _with_scores(features: Path, out: Path) -> Path:
    """The feature table with the RFM score columns appended, written row group by row group."""
    file = pq.ParquetFile(features)
    key = pq.read_table(features, columns=["recency_days", "frequency", "monetary_total"])
    scores = rfm_columns(*(key.column(c).to_numpy() for c in key.column_names))
    del key
    start = 0
    writer = None
    try:
        for batch in file.iter_batches(batch_size=262_144):
            n = batch.num_rows
            table = pa.Table.from_batches([batch])
            for name, column in scores.items():
                table = table.append_column(name, column.slice(start, n))
            if writer is None:
                writer = pq.ParquetWriter(out, table.schema)
            writer.write_table(table)
            start += n
    finally:
        if writer is not None:
            writer.close()
    return out


@contextmanager
def customer_table(config: RunConfig, data: pd.DataFrame | None = None,
                   work_parent: Path | None = None, progress: Progress | None = None
                   ) -> Iterator[CustomerTable]:
    """Read and check a transaction log, and aggregate it to a customer table (removed on exit).

    Raises
    ------
    ConfigError
        No ``config.transactions``, or a bad ``--as-of``.
    DataValidationError
        A required column is missing, the dates cannot be read or are ambiguous, or no line is
        usable.
    """
    options = config.transactions
    if options is None:
        raise ConfigError("customer_table needs config.transactions (--transactions).")
    as_of = parse_as_of(options.as_of)
    log = open_input(config, data)
    columns = find_transaction_columns(log.columns, log.name, options.given_columns())
    work = Path(tempfile.mkdtemp(prefix=".custseg-transactions-", dir=work_parent))
    try:
        rejects = RejectStore(work / "rejected_lines.arrows")
        info = log.info()
        features = aggregate_transactions(
            log, columns, work / "features.parquet", rejects, work_dir=work / "spill",
            as_of=as_of, date_format=options.date_format, decimal_comma=info.decimal_comma,
            memory_limit=config.memory_budget // 3, progress=progress)
        rejects.close()
        counts = features.counts
        if counts.customers_segmentable == 0:
            first = rejects.first
            raise DataValidationError(
                f"No usable transaction line in {log.name}: {counts.lines_rejected:,} of "
                f"{counts.lines_read:,} lines rejected"
                + (f" (line {first['row']}: {first['reason']})" if first else "")
                + ". Check the columns (--customer-column, --date-column, --amount-column), "
                  "--date-format and --as-of.")
        source = CustomerTableSource(_with_scores(features.path, work / "customers.parquet"), info)
        features_wanted = RFM_FEATURES if config.features == DEFAULT_FEATURES else config.features
        run_config = config.with_(features=features_wanted, id_column=CUSTOMER_ID,
                                  id_column_required=True)
        yield CustomerTable(source, run_config, features, rejects)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _write_rejected_customers(table: pa.Table, path: Path) -> Path:
    with TableWriter(path, plain=None) as writer:
        writer.write(table)
    return path


def segment_transactions(config: RunConfig, data: pd.DataFrame | None = None,
                         progress: Progress | None = None) -> RunResult:
    """:func:`custseg.pipeline.segment` on a transaction log: compute, write nothing."""
    overrides = load_overrides(config.names) if config.names is not None else None
    previous = load_previous(config.previous) if config.previous is not None else None
    with (customer_table(config, data, progress=progress) as table,
          open_engine(table.config, table.source) as engine):
        result = segment_in(engine, table.config, previous=previous, overrides=overrides,
                            progress=progress)[0]
        return replace(result, transactions=table.summary())


def evaluate_k_transactions(config: RunConfig, data: pd.DataFrame | None = None,
                            progress: Progress | None = None, write: bool = True
                            ) -> KChoiceResult:
    """:func:`custseg.pipeline.evaluate_k` on a transaction log: the K evidence on its customer
    table (the K ``run --transactions`` chooses); ``k_selection.json`` gets the log's
    ``transactions`` block."""
    parent = None
    if write:
        check_writable(config.out)
        parent = Path(config.out).absolute().parent
    with (customer_table(config, data, parent, progress) as table,
          open_engine(table.config, table.source, work_parent=parent) as engine):
        result = replace(evaluate_k_in(engine, table.config, progress),
                         transactions=table.summary())
    return write_k_choice(result, config.out, progress) if write else result


def run_transactions(config: RunConfig, data: pd.DataFrame | None = None,
                     progress: Progress | None = None) -> RunResult:
    """:func:`custseg.pipeline.run` on a transaction log: segment its customers, write every
    output; ``rejected_rows.csv`` holds the rejected lines, ``rejected_customers.csv`` the
    customers with no usable line."""
    progress = progress or NullProgress()
    out = Path(config.out)
    check_writable(out)
    overrides = load_overrides(config.names) if config.names is not None else None
    previous = load_previous(config.previous) if config.previous is not None else None
    parent = out.absolute().parent
    with (customer_table(config, data, parent, progress) as table,
          open_engine(table.config, table.source, work_parent=parent) as engine,
          OutputFolder(out) as staging):
        result, scanned, written = segment_in(engine, table.config, previous=previous,
                                              overrides=overrides, staging=staging.path,
                                              progress=progress)
        if scanned.n_rejected:  # pragma: no cover - the customer table is valid by construction
            raise RuntimeError(f"{scanned.n_rejected} customers of the aggregated table rejected")
        summary = table.summary()
        if "clustered" in written:
            summary["rfm"]["by_segment"] = count_rfm_by_segment(written["clustered"])
        moves = None
        if previous is not None and previous.clustered is not None:
            moves = count_rfm_moves(previous.clustered, table.source.path)
        if moves is not None:
            summary["rfm_moves"] = {"since": previous.name, "biggest": moves.biggest_moves(),
                                    "counts": moves.to_dict()}
        result = replace(result, transactions=summary)
        written.update(write_outputs(result, staging.path, table.rejects, progress))
        if moves is not None:
            written["rfm_migration"] = write_csv(moves.counts, staging.path / RFM_MIGRATION_FILE)
        if table.features.rejected_customers.num_rows:
            written["rejected_customers"] = _write_rejected_customers(
                table.features.rejected_customers, staging.path / REJECTED_CUSTOMERS_FILE)
    result = replace(result, outputs={name: out / path.relative_to(staging.path)
                                      for name, path in written.items()})
    return record_history(result)


@dataclass
class RfmTableResult:
    """What ``custseg rfm`` wrote: the customer table, its rejects, and the log's counts."""

    outputs: dict[str, Path]
    summary: dict


def write_customer_table(config: RunConfig, out: Path, data: pd.DataFrame | None = None,
                         progress: Progress | None = None) -> RfmTableResult:
    """Aggregate a transaction log and write its customer table (``custseg rfm``).

    Parameters
    ----------
    config : RunConfig
        ``input`` (the log) and ``transactions`` (how to read it).
    out : pathlib.Path
        The customer table: ``.csv`` or ``.parquet``. Rejected lines go to
        ``<out stem>_rejected_rows.csv``, customers with no usable line to
        ``<out stem>_rejected_customers.csv``.
    data : pandas.DataFrame, optional
        The log as a data frame instead of ``config.input``.
    progress : Progress, optional

    Returns
    -------
    RfmTableResult
    """
    out = Path(out)
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise ConfigError(f"--out {out.name}: name a .csv or .parquet file.")
    check_writable(out.parent if str(out.parent) else Path("."))
    outputs: dict[str, Path] = {}
    with customer_table(config, data, out.absolute().parent, progress) as table:
        staged = out.with_name(f".{out.stem}.partial{out.suffix}")
        with TableWriter(staged, plain=None) as writer:
            for batch in pq.ParquetFile(table.source.path).iter_batches(batch_size=262_144):
                writer.write(pa.Table.from_batches([batch]))
        staged.replace(out)
        outputs["customers"] = out
        if table.rejects.count:
            outputs["rejects"] = write_rejects(table.rejects,
                                               out.with_name(f"{out.stem}_rejected_rows.csv"))
        if table.features.rejected_customers.num_rows:
            outputs["rejected_customers"] = _write_rejected_customers(
                table.features.rejected_customers,
                out.with_name(f"{out.stem}_{REJECTED_CUSTOMERS_FILE}"))
        return RfmTableResult(outputs, table.summary())
