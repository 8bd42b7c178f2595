"""Score new customers with a saved model, in chunks: the engine of ``custseg predict``.

The customers come from a file, or from a database table or query (a database URL as input with
``table=`` / ``query=``, read as ``custseg run`` reads it: :mod:`custseg.io.database`).

Memory is bounded by the chunk size, not the input size: the file is read in chunks (CSV with
Arrow's streaming reader, Parquet one record batch at a time), each chunk is validated, scored
and appended to the output. The one thing remembered across chunks is the customer ids seen so
far, to find duplicates: 12 bytes per distinct id (120 MB for ten million customers).

Validation is ``custseg run``'s, row for row (:class:`custseg.io.validate.RowValidator`: same
checks, same order, same reason texts, same spreadsheet row numbers, duplicate ids found across
chunks as :mod:`custseg.io.ids` describes); reading is :mod:`custseg.io.sources`'.

Outputs (written under the output's lock into its side folder ``.<out name>.custseg/`` and each
put in place by one atomic rename at the end, :mod:`custseg.io.outlock`; a failed or killed
prediction leaves nothing half-written, and the next one clears what a killed one left):

``--out`` (default ``<input stem, lower-case>_scored.csv`` in the current folder)
    One row per valid input row, in input order: the customer id (column named as in the input;
    ``row``, the spreadsheet row, when the input has no id column), ``Cluster``, ``Segment``
    (name), ``distance`` (Euclidean, to the segment's centroid in the scaled space) and
    ``atypical`` (``true`` when the distance is above the segment's threshold).
``<out stem>_rejected_rows.csv`` beside ``--out``
    Only when rows were rejected: ``row``, ``customer_id``, ``column``, ``value``, ``reason``, as
    ``run``'s ``rejected_rows.csv``. A stale one from an earlier prediction to the same ``--out``
    is removed when no row is rejected.

``output_table`` (``--output-table``)
    The scored rows also go to this table of ``output_db``, else of the input's database, in one
    transaction committed before the files are put in place
    (:class:`custseg.outputs.database.ScoredTable`; ``if_exists`` as ``custseg run``'s).

Every input row is either scored or rejected: ``input rows = scored + rejected``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from custseg.config import CLUSTER_COLUMN, SEGMENT_COLUMN
from custseg.dboptions import check_database_input, check_output_target, is_database_url
from custseg.exceptions import ConfigError, DataValidationError
from custseg.io.chunks import Source
from custseg.io.columns import parse_column_map
from custseg.io.database import open_database
from custseg.io.dburl import TableName
from custseg.io.formats import no_rows
from custseg.io.outlock import OutputLock
from custseg.io.publish import publish
from custseg.io.sources import open_source
from custseg.io.validate import RowValidator
from custseg.io.writefail import is_disk_full, write_failure
from custseg.modelfile import Scorer
from custseg.outputs.database import ScoredTable, output_url
from custseg.outputs.scoredfiles import (
    StagedFile,
    check_out_writable,
    default_out_path,
    output_path,
    rejects_path_for,
)
from custseg.outputs.scoredlines import ScoredRows
from custseg.progress import NullProgress, Progress

#: Rows validated and scored at a time (memory grows with it, speed barely).
DEFAULT_CHUNK_ROWS = 250_000
#: Name of the row-number column written when the input has no id column.
ROW_COLUMN = "row"

__all__ = ["DEFAULT_CHUNK_ROWS", "PredictResult", "default_out_path", "predict_file",
           "rejects_path_for"]


@dataclass(frozen=True)
class PredictResult:
    """What :func:`predict_file` wrote and counted.

    Attributes
    ----------
    out : pathlib.Path
        The scored customers file.
    rejects_path : pathlib.Path or None
        The rejected rows file, when rows were rejected.
    n_input, n_scored, n_rejected : int
        Rows in the input, scored, rejected (``n_input == n_scored + n_rejected``).
    counts : pandas.DataFrame
        Index ``Cluster``; columns ``Segment`` (name), ``customers``, ``share`` (of scored
        customers) and ``atypical`` (customers flagged atypical), one row per segment.
    n_atypical : int
        Scored customers flagged atypical.
    has_thresholds : bool
        False for a model without distance thresholds (a trusted pickle): nobody is atypical.
    input_name : str
        The input file's name.
    input_sha256 : str or None
        SHA-256 of the input (CSV only; None for other formats).
    threshold_quantile : float or None
        Quantile of training distances above which a customer is atypical (None: no thresholds).
    table : str or None
        The ``output_table`` written, with its database (password masked); None without one.
    """

    out: Path
    rejects_path: Path | None
    n_input: int
    n_scored: int
    n_rejected: int
    counts: pd.DataFrame
    n_atypical: int
    has_thresholds: bool
    input_name: str
    input_sha256: str | None = None
    threshold_quantile: float | None = None
    table: str | None = None


def predict_file(model: Scorer, input_path: str | Path, out_path: str | Path | None = None, *,
                 fmt: str | None = None, sheet: str | None = None, decimal: str | None = None,
                 column_map: Mapping[str, str] | Sequence[str] | Sequence[tuple[str, str]] = (),
                 chunk_rows: int = DEFAULT_CHUNK_ROWS,
                 progress: Progress | None = None, engine: str = "auto",
                 spark_master: str | None = None,
                 spark_conf: Sequence[tuple[str, str]] = (), table: str | None = None,
                 query: str | None = None, password_env: str | None = None,
                 output_table: str | None = None, output_db: str | None = None,
                 if_exists: str = "fail") -> PredictResult:
    """Validate and score every row of a customer file with ``model``; write scores and rejects.

    Parameters
    ----------
    model : SegmentModel or PickledModel
        From :func:`custseg.modelfile.load_model` (or ``load_trusted_pickle``).
    input_path : str or pathlib.Path
        Customers: CSV (any encoding and delimiter ``run`` reads), Parquet or Excel; or a
        database URL (``postgresql://user@host/db``, ``sqlite:///shop.db``...) with ``table`` or
        ``query``.
    out_path : str or pathlib.Path, optional
        Scored customers CSV; default :func:`default_out_path` of the input (of the table's name,
        or ``query``). An existing folder gets that default name inside it.
    fmt : {"csv", "parquet", "excel"}, optional
        Overrides the format the extension names.
    sheet : str, optional
        The Excel sheet to score (``--sheet``; default the first).
    decimal : {".", ","}, optional
        The numbers' decimal mark (``--decimal``); the other groups thousands.
    column_map : mapping or sequence, default ()
        ``{column in file: feature name}``, or ``["OLD=NEW", ...]`` as ``--column-map``.
    chunk_rows : int, default 250,000
        Rows validated and scored at a time.
    progress : Progress, optional
        Where to show progress.
    engine : {"auto", "memory", "batches", "spark"}, default "auto"
        ``spark`` scores on Apache Spark (any path Spark reads; the scored customers become a
        dataset at ``out_path``); the others read the file in chunks here.
    spark_master, spark_conf
        With ``engine="spark"``: as ``--spark-master`` and ``--spark-conf``.
    table, query, password_env : str, optional
        With a database URL as input: as ``custseg run``'s ``--table``, ``--query``,
        ``--password-env``.
    output_table, output_db, if_exists : optional
        As ``--output-table``, ``--output-db``, ``--if-exists`` (see the module notes).

    Returns
    -------
    PredictResult

    Raises
    ------
    InputFileError
        Input missing, unreadable or in an unknown format.
    DataValidationError
        A feature column is missing, or no row is valid.
    ConfigError
        ``out_path`` is the input, ``chunk_rows`` < 1, or the database options do not fit.
    OutputError
        The outputs cannot be written (or ``output_table`` exists with ``if_exists="fail"``).

    Examples
    --------
    >>> import tempfile
    >>> from custseg.datasets import mall_customers_path
    >>> from custseg.pipeline import segment
    >>> model = segment().model()
    >>> out = Path(tempfile.mkdtemp()) / "scored.csv"
    >>> result = predict_file(model, mall_customers_path(), out)
    >>> result.n_input, result.n_scored, result.n_rejected, result.counts["customers"].tolist()
    (200, 200, 0, [81, 39, 35, 23, 22])
    """
    if chunk_rows < 1:
        raise ConfigError(f"chunk_rows must be at least 1 (got {chunk_rows}).")
    mapping = parse_column_map(dict(column_map) if _is_pairs(column_map) else column_map)
    if engine == "spark" and (sheet or decimal):
        raise ConfigError("--sheet and --decimal are not supported with --engine spark.")
    database = is_database_url(input_path)
    bare, password = check_database_input(input_path, table, query)
    output_db, output_password = check_output_target(output_table, output_db, database,
                                                     password_env, if_exists=if_exists)
    if engine == "spark":
        if getattr(getattr(model, "prepare", None), "categories", ()):
            raise ConfigError("This model has categorical features (--categorical), which "
                              "predict --engine spark does not score yet: use --engine auto.")
        if database or output_table is not None:
            raise ConfigError("predict --engine spark reads and writes files Spark reads; use "
                              "--engine auto with a database URL or --output-table.")
        return _predict_on_spark(model, input_path, out_path, fmt, mapping, progress,
                                 spark_master, tuple(spark_conf))
    if decimal not in (None, ".", ","):
        raise ConfigError(f"--decimal must be '.' or ',' (got {decimal!r}).")
    if database:
        source = open_database(bare, table=table, query=query, password=password,
                               password_env=password_env)
        stem = re.sub(r"[^\w-]+", "_", TableName.parse(table).name if table else "query")
        out = output_path(None, out_path, f"{stem}.db")
    else:
        input_path = Path(input_path)
        source = open_source(input_path, fmt, sheet=sheet, decimal=decimal)
        out = output_path(input_path, out_path, input_path)
    feature_cols, id_col = model.resolve_columns(source.columns, mapping, source.name)
    check_out_writable(out)
    url = output_url(output_table, output_db, bare, output_password=output_password,
                     input_password=password, password_env=password_env)
    sink = None if url is None else ScoredTable(url, output_table, if_exists,
                                                spill_parent=out.absolute().parent)
    if sink is not None:
        sink.check()
    progress = progress or NullProgress()
    with OutputLock(out) as lock, progress.task(f"Scoring {source.name}", total=100) as advance:
        try:
            result = _score(model, source, out, feature_cols, id_col, chunk_rows, advance, lock,
                            sink)
            return result if sink is None else replace(
                result, table=f"{sink.table.text} ({sink.url.display})")
        except OSError as exc:  # a full disk, whichever writer met it, in one message
            if not is_disk_full(exc):
                raise
            raise write_failure(exc, out) from exc
        finally:
            if sink is not None:
                sink.close()


def _predict_on_spark(model: Scorer, input_path: str | Path, out_path: str | Path | None,
                      fmt: str | None, mapping: dict[str, str], progress: Progress | None,
                      spark_master: str | None, spark_conf: tuple) -> PredictResult:
    from custseg.engines.spark.score import score_on_spark

    name = str(input_path).rstrip("/").split("/")[-1]
    out = Path(out_path) if out_path is not None else default_out_path(name)
    if out.is_dir() and not (out / "_SUCCESS").exists():
        out = default_out_path(name, out)
    check_out_writable(out)
    with OutputLock(out) as lock:
        staged = lock.side / "new"
        with (progress or NullProgress()).task(f"Scoring {name} (Spark)"):
            scores = score_on_spark(model, input_path, staged / out.name, fmt=fmt,
                                    column_map=mapping, spark_master=spark_master,
                                    spark_conf=spark_conf)
        rejects_path = None
        stale = rejects_path_for(out)
        try:
            if scores.rejects.count:
                scores.rejects.write_dataset(staged / stale.name)
                publish(staged / stale.name, stale, lock.side / "old-rejects")
                rejects_path = stale
            elif os.path.lexists(stale):  # of an earlier scoring to this --out
                os.rename(stale, lock.side / "old-rejects")
            publish(staged / out.name, out, lock.side / "old-scored")
        except OSError as exc:
            raise write_failure(exc, out) from exc
        finally:
            scores.rejects.close()
    n_scored, n_rejected = scores.n_scored, scores.rejects.count
    if n_scored + n_rejected != scores.n_input:  # pragma: no cover - a bug, not a user error
        raise RuntimeError(f"row accounting broken: {scores.n_input} != {n_scored} + {n_rejected}")
    counts = pd.DataFrame({SEGMENT_COLUMN: list(model.names), "customers": scores.customers,
                           "share": scores.customers / n_scored, "atypical": scores.atypical},
                          index=pd.Index(model.clusters, name=CLUSTER_COLUMN))
    return PredictResult(out=out, rejects_path=rejects_path, n_input=scores.n_input,
                         n_scored=n_scored, n_rejected=n_rejected, counts=counts,
                         n_atypical=int(scores.atypical.sum()), has_thresholds=model.has_thresholds,
                         input_name=scores.name, input_sha256=scores.sha256,
                         threshold_quantile=getattr(model, "threshold_quantile", None)
                         if model.has_thresholds else None)


def category_checks(prepare: object, n_features: int) -> dict:
    """The validator's options for a model's categorical features (the last ones): which
    features are categories and the levels each knows; a row of another level is rejected
    (``category not seen in training``)."""
    categories = getattr(prepare, "categories", ())
    if not categories:
        return {}
    d = n_features - len(categories)
    return {"categorical": [j >= d for j in range(n_features)],
            "levels": [None] * d + [c.codes for c in categories]}


def _is_pairs(value: object) -> bool:
    return (isinstance(value, Sequence) and not isinstance(value, str) and len(value) > 0
            and all(isinstance(v, tuple) and len(v) == 2 for v in value))


def _score(model: Scorer, source: Source, out: Path, feature_cols: list[str],
           id_col: str | None, chunk_rows: int, advance: object,
           lock: OutputLock, sink: ScoredTable | None = None) -> PredictResult:
    needed = list(dict.fromkeys(([id_col] if id_col else []) + feature_cols))
    prepare = getattr(model, "prepare", None)
    info = source.info()
    validator = RowValidator(model.features, feature_cols, id_col,
                             decimal_comma=info.decimal_comma, thousands=info.thousands,
                             unsettled_in=info if info.grouping_unsettled else None,
                             allow_missing=False if prepare is None else np.isfinite(prepare.fill),
                             **category_checks(prepare, len(feature_cols)))
    scored = StagedFile(out, lock)
    rejected = StagedFile(rejects_path_for(out), lock)
    k = model.n_segments
    customers = np.zeros(k, dtype=np.int64)
    atypical = np.zeros(k, dtype=np.int64)
    rows = ScoredRows(id_col if id_col is not None else ROW_COLUMN, model.clusters, model.names)
    n_input = n_scored = n_rejected = 0
    done = 0.0
    # The scored rows are written by a helper thread (Arrow's CSV writer releases the GIL) while
    # the next chunk is read and scored; one chunk at a time, in order.
    writer = ThreadPoolExecutor(1, thread_name_prefix="custseg-scored")
    writing: Future | None = None
    if sink is not None:
        sink.open_spill()
    try:
        for chunk in source.chunks(chunk_rows, needed):
            n_input += chunk.n_records
            keep, values, rejects = validator.check(chunk)
            if rejects.num_rows:
                rejected.write(rejects)
                n_rejected += rejects.num_rows
            if len(values):
                index, distance, flag = model.assign(values)
                if id_col is None:
                    first = pa.array(chunk.rows[keep])
                elif len(values) == chunk.table.num_rows:  # every row valid: no copy
                    first = chunk.table.column(id_col)
                else:
                    first = chunk.table.column(id_col).filter(pa.array(keep))
                if writing is not None:
                    writing.result()
                writing = writer.submit(rows.write, scored, first, index, distance, flag)
                if sink is not None:
                    sink.write(rows.table(first, index, distance, flag))
                n_scored += len(index)
                customers += np.bincount(index, minlength=k)
                atypical += np.bincount(index[flag], minlength=k)
            now = 100 * source.fraction_done()
            advance(now - done)
            done = now
        if writing is not None:
            writing.result()
        if n_input == 0:
            raise no_rows(source.name)
        if n_scored == 0:
            raise DataValidationError(
                f"No valid rows in {source.name}: all {n_input:,} rows were rejected (most often: "
                f"{validator.most_common_problem()}). Fix those values, or check that this is the "
                "file meant for this model.")
        if n_scored + n_rejected != n_input:  # pragma: no cover - a bug, not a user error
            raise RuntimeError(f"row accounting broken: {n_input} != {n_scored} + {n_rejected}")
        if sink is not None:  # before the files: a failed write leaves them as they were
            sink.commit()
        rejects_path = rejected.commit() if n_rejected else None
        if rejects_path is None and os.path.lexists(rejects_path_for(out)):
            os.rename(rejects_path_for(out), lock.side / "old-rejects")  # an earlier scoring's
        scored.commit()
    finally:
        writer.shutdown()
        scored.discard()
        rejected.discard()
    counts = pd.DataFrame({SEGMENT_COLUMN: list(model.names), "customers": customers,
                           "share": customers / n_scored, "atypical": atypical},
                          index=pd.Index(model.clusters, name=CLUSTER_COLUMN))
    return PredictResult(out=out, rejects_path=rejects_path, n_input=n_input, n_scored=n_scored,
                         n_rejected=n_rejected, counts=counts, n_atypical=int(atypical.sum()),
                         has_thresholds=model.has_thresholds, input_name=source.name,
                         input_sha256=getattr(source, "sha256", None),
                         threshold_quantile=getattr(model, "threshold_quantile", None)
                         if model.has_thresholds else None)
