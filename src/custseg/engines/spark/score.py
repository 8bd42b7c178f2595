"""``custseg predict --engine spark``: new customers scored by Spark with a saved model.

The input is read and checked exactly as a Spark run reads and checks it
(:mod:`~custseg.engines.spark.reader`, :mod:`~custseg.engines.spark.checks`); each valid row gets
its nearest stored centroid (the model's scaler, no refit), the distance to it and the atypical
flag, all as column expressions. The scored customers are written by Spark as a dataset at the
output path; the rejected rows are read back to one ``_rejected_rows.csv`` beside it, as locally.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from custseg.config import CLUSTER_COLUMN, SEGMENT_COLUMN, RunConfig
from custseg.engines.scan import ScanSpec
from custseg.engines.spark.checks import REASON, checked_rows, feature_column, release_checkpoint
from custseg.engines.spark.native import nearest_expr, safe_for_spreadsheets, write_dataset
from custseg.engines.spark.reader import ROW, spark_source
from custseg.engines.spark.rejects import SparkRejects
from custseg.engines.spark.session import spark_session
from custseg.exceptions import DataValidationError

DISTANCE, ATYPICAL, ROW_COLUMN = "distance", "atypical", "row"


@dataclass(frozen=True)
class SparkScores:
    """What scoring on Spark counted: rows read, scored and rejected, customers and atypical
    customers per segment position, and the rejected rows (to write)."""

    name: str
    sha256: str | None
    n_input: int
    n_scored: int
    customers: np.ndarray
    atypical: np.ndarray
    rejects: SparkRejects


def score_on_spark(model: object, input_path: str | Path, out: Path, *, fmt: str | None,
                   column_map: dict[str, str], spark_master: str | None = None,
                   spark_conf: tuple = ()) -> SparkScores:
    """Score every row of ``input_path`` with ``model`` on Spark; write the scored dataset.

    Parameters
    ----------
    model : SegmentModel
        The saved model (features, scaler, centroids, thresholds, ids, names).
    input_path : str or pathlib.Path
        Any path or URL Spark reads.
    out : pathlib.Path
        Where the scored customers go (a dataset folder; ``.parquet`` for Parquet, else CSV).
    fmt : str or None
        ``--format``.
    column_map : dict
        ``{column in file: feature name}``.
    """
    session = spark_session(spark_master, spark_conf)
    config = RunConfig(input=input_path, engine="spark", format=fmt, features=model.features)
    source = spark_source(config, session)
    features, id_column = model.resolve_columns(source.columns, column_map, source.name)
    spec = ScanSpec(tuple(model.features), tuple(features), id_column, seed=0, sample_rows=2)
    rows = checked_rows(session, source, spec)
    from pyspark.sql import functions as F

    try:
        n_input = rows.count()
        rejects = SparkRejects(rows.filter(F.col(REASON).isNotNull()), id_column)
        valid = rows.filter(F.col(REASON).isNull())
        d = len(features)
        scaled = [(F.col(feature_column(j)) - float(model.mean[j])) / float(model.scale[j])
                  for j in range(d)]
        label, squared = nearest_expr(scaled, np.asarray(model.centroids, dtype=np.float64))
        distance = F.sqrt(squared)
        thresholds = model.thresholds
        atypical = (F.lit(False) if thresholds is None else
                    distance > F.element_at(F.array(*[F.lit(float(t)) for t in thresholds]), label + 1))
        labeled = valid.select(
            F.col(ROW), F.col(id_column).alias(id_column) if id_column else F.col(ROW).alias(ROW_COLUMN),
            label.alias("_label"), distance.alias(DISTANCE), atypical.alias(ATYPICAL)).persist()
        counts = labeled.groupBy("_label").agg(F.count(F.lit(1)).alias("n"),
                                               F.count_if(F.col(ATYPICAL)).alias("a")).collect()
        k = len(model.clusters)
        customers, flagged = np.zeros(k, dtype=np.int64), np.zeros(k, dtype=np.int64)
        for row in counts:
            customers[row["_label"]], flagged[row["_label"]] = row["n"], row["a"]
        if n_input == 0 or customers.sum() == 0:
            labeled.unpersist()
            problem = rejects.problem()
            rejects.close()
            what = "has a header but no customer rows" if n_input == 0 else (
                f"has no valid rows: all {n_input:,} rows were rejected (most often: {problem})")
            raise DataValidationError(f"{source.name} {what}. Fix those values, or check that this "
                                      "is the file meant for this model.")
        first = F.col("_label") + 1
        scored = labeled.orderBy(ROW).select(
            id_column or ROW_COLUMN,
            F.element_at(F.array(*[F.lit(int(c)) for c in model.clusters]), first).alias(CLUSTER_COLUMN),
            F.element_at(F.array(*[F.lit(n) for n in model.names]), first).alias(SEGMENT_COLUMN),
            DISTANCE, ATYPICAL)
        if out.suffix != ".parquet":
            scored = safe_for_spreadsheets(scored, scored.columns)
        write_dataset(scored, out, csv=out.suffix != ".parquet")
        labeled.unpersist()
        return SparkScores(source.name, source.sha256, int(n_input), int(customers.sum()), customers,
                           flagged, rejects)
    finally:  # the checked rows, whether scoring ends in a result or an error
        release_checkpoint(rows)
