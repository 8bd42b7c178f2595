"""The Spark engine (``--engine spark``): the same pipeline, the heavy work done by Spark.

- **Scan**: the input read by Spark (:mod:`~custseg.engines.spark.reader`), every row checked
  with column expressions (:mod:`~custseg.engines.spark.checks`, the local engines' rules and
  reasons) and kept as a local checkpoint (:func:`~custseg.engines.spark.checks.checked_rows`:
  later queries plan from the checked rows, not from the reading and every check); counts from
  Spark; the scaler from ``avg``/``var_pop`` aggregates; the run's sample is
  the local engines' sample (the rows with the smallest seeded hash of their row number,
  SplitMix64 written as column arithmetic), collected to the driver; column plans from aggregates.
- **Lloyd passes**: one ``groupBy`` of the nearest-centroid expression per pass (no Python UDF).
- **Assignment**: observers served natively (:mod:`~custseg.engines.spark.native`).

Sums are Spark's, added in whatever order its tasks finish: results agree with the local
engines to rounding (1e-12 relative), not bit for bit; the sample, and so K, the names and the
rules, are the same rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pyarrow as pa

from custseg.engines.base import AssignedBatch, Engine, Observer
from custseg.engines.kernels import PassTotals
from custseg.engines.prepare import FeaturePrep
from custseg.engines.sample import Sample, mix
from custseg.engines.scan import Scan, ScanSpec, scaler_from_moments
from custseg.engines.spark import native
from custseg.engines.spark.checks import (
    COLUMN,
    REASON,
    VALUE,
    checked_rows,
    feature_column,
    release_checkpoint,
)
from custseg.engines.spark.plans import column_plans
from custseg.engines.spark.reader import ROW, SparkSource
from custseg.engines.spark.rejects import SparkRejects
from custseg.exceptions import ConfigError
from custseg.progress import NullProgress, Progress

_SIGN = -(2**63)


def _signed(value: int) -> int:
    value &= 2**64 - 1
    return value - 2**64 if value >= 2**63 else value


def sample_key(seed: int) -> object:
    """The seeded hash of each row number the sample is chosen by, as a signed long whose order
    is the unsigned order of :class:`custseg.engines.sample.Reservoir`'s keys."""
    from pyspark.sql import functions as F

    salt = int(mix(np.array([seed % 2**64], dtype=np.uint64))[0])
    x = F.col(ROW).bitwiseXOR(F.lit(_signed(salt)))
    x = x + F.lit(_signed(0x9E3779B97F4A7C15))
    x = x.bitwiseXOR(F.shiftrightunsigned(x, 30)) * F.lit(_signed(0xBF58476D1CE4E5B9))
    x = x.bitwiseXOR(F.shiftrightunsigned(x, 27)) * F.lit(_signed(0x94D049BB133111EB))
    x = x.bitwiseXOR(F.shiftrightunsigned(x, 31))
    return x.bitwiseXOR(F.lit(_SIGN))


class SparkEngine(Engine):
    """Runs the pipeline's passes on Spark (see the module notes).

    Parameters
    ----------
    source : SparkSource
        The input.
    session : pyspark.sql.SparkSession
        The session (:func:`custseg.engines.spark.session.spark_session`).
    """

    name = "spark"

    def __init__(self, source: SparkSource, session: object) -> None:
        super().__init__(source, None)
        self.session = session
        self.valid = None
        self._checked = None
        self.spec: ScanSpec | None = None
        self._scaled: tuple[tuple, object] | None = None
        self._rejects: SparkRejects | None = None
        self.sample_rows = 0
        self.quantiles = "sample"  # where the profile's medians and quartiles come from

    #: Spark writes the clustered file itself, without the ``outlier`` column (not yet).
    flags_outliers = False

    def use_preparation(self, prep: FeaturePrep) -> None:
        if not prep.identity:
            what = ("--missing impute" if any(prep.imputed) else
                    f"--transform (here {', '.join(sorted(set(prep.transforms) - {'none'}))})")
            raise ConfigError(f"{what} is not supported on --engine spark yet: use --transform none "
                              "and --missing reject, or a local engine.")
        super().use_preparation(prep)  # recorded (the report says what was decided and why)

    def head(self, rows: int) -> pa.Table:
        raise ConfigError("--engine spark needs the features named: add --features COLUMN "
                          "(the automatic choice of features runs on the local engines).")

    def facts(self) -> dict:
        context = self.session.sparkContext
        return {**super().facts(), "master": context.master,
                "parallelism": int(context.defaultParallelism), "quantiles": self.quantiles}

    def close(self) -> None:
        if self._scaled is not None:
            self._scaled[1].unpersist()
        if self._checked is not None:
            release_checkpoint(self._checked)
        if self._rejects is not None:
            self._rejects.close()
        super().close()

    def scan(self, spec: ScanSpec, progress: Progress | None = None) -> Scan:
        from pyspark.sql import functions as F

        progress = progress or NullProgress()
        self.spec = spec
        source: SparkSource = self.source
        with progress.task(f"Reading and checking {source.name} (Spark)"):
            rows = self._checked = checked_rows(self.session, source, spec)
            n_input = rows.count()
            rejects = SparkRejects(rows.filter(F.col(REASON).isNotNull()), spec.id_column)
            self._rejects = rejects
            d = len(spec.feature_columns)
            valid = rows.filter(F.col(REASON).isNull()).drop(REASON, COLUMN, VALUE)
            moments = valid.agg(
                F.count(F.lit(1)).alias("n"),
                *[F.avg(feature_column(j)).alias(f"m{j}") for j in range(d)],
                *[F.var_pop(feature_column(j)).alias(f"v{j}") for j in range(d)],
                *[F.min(feature_column(j)).alias(f"lo{j}") for j in range(d)],
                *[F.max(feature_column(j)).alias(f"hi{j}") for j in range(d)]).collect()[0]
        self.valid, self.n_valid = valid, int(moments["n"])
        self.passes = 1
        n = self.n_valid
        scaler = None
        if n:
            scaler = scaler_from_moments(n, np.array([moments[f"m{j}"] for j in range(d)]),
                                         np.array([moments[f"v{j}"] for j in range(d)]))
        columns = [c for c in source.columns if c not in (*spec.feature_columns, spec.id_column)]
        with progress.task("Sampling and describing columns (Spark)"):
            sample = self._sample(spec, d)
            self.sample_rows = sample.size
            plans = column_plans(valid, columns, n)
        return Scan(spec=spec, source=source.info(), columns=tuple(source.columns), n_input=n_input,
                    n_valid=n, rejects=rejects, problem=rejects.problem(),
                    scaler=scaler,
                    low=np.array([moments[f"lo{j}"] if n else np.nan for j in range(d)], float),
                    high=np.array([moments[f"hi{j}"] if n else np.nan for j in range(d)], float),
                    sample=sample, plans=plans, text_needs_quotes=False)

    def _sample(self, spec: ScanSpec, d: int) -> Sample:
        columns = list(self.source.columns)
        picked = (self.valid.withColumn("_custseg_key", sample_key(spec.seed))
                  .orderBy("_custseg_key").limit(spec.sample_rows)
                  .select(*columns, ROW, *[feature_column(j) for j in range(d)])
                  .orderBy(ROW))
        table = picked.toArrow()
        rows = table.column(ROW).to_numpy().astype(np.int64)
        values = np.column_stack([table.column(feature_column(j)).to_numpy(zero_copy_only=False)
                                  for j in range(d)]) if len(rows) else np.empty((0, d))
        cells = table.select(columns)
        cells = cells.cast(pa.schema([pa.field(f.name, pa.string()) if pa.types.is_large_string(f.type)
                                      else f for f in cells.schema]))
        return Sample(cells, rows, np.ascontiguousarray(values, dtype=np.float64))

    def _scaled_frame(self, mean: np.ndarray, scale: np.ndarray) -> object:
        key = (tuple(mean.tolist()), tuple(scale.tolist()))
        if self._scaled is None or self._scaled[0] != key:
            if self._scaled is not None:
                self._scaled[1].unpersist()
            d = len(mean)
            frame = self.valid.select(*[c.alias(f"_custseg_z{j}") for j, c in
                                        enumerate(native.scaled_columns(d, mean, scale))]).persist()
            self._scaled = (key, frame)
        return self._scaled[1]

    def feature_blocks(self) -> Iterator[np.ndarray]:  # pragma: no cover - lloyd_pass overridden
        raise NotImplementedError("the Spark engine aggregates its Lloyd passes itself")

    def lloyd_pass(self, centers: np.ndarray, mean: np.ndarray, scale: np.ndarray, *,
                   inertia: bool = False, progress: Progress | None = None,
                   description: str = "K-Means pass") -> PassTotals:
        from pyspark.sql import functions as F

        progress = progress or NullProgress()
        centers = np.asarray(centers, dtype=np.float64)
        k, d = centers.shape
        frame = self._scaled_frame(np.asarray(mean), np.asarray(scale))
        z = [F.col(f"_custseg_z{j}") for j in range(d)]
        label, squared = native.nearest_expr(z, centers)
        self.passes += 1
        with progress.task(f"{description} (Spark)"):
            rows = (frame.select(label.alias("c"), squared.alias("sq"), *z)
                    .groupBy("c").agg(F.count(F.lit(1)).alias("n"), F.sum("sq").alias("sq"),
                                      *[F.sum(f"_custseg_z{j}").alias(f"s{j}") for j in range(d)])
                    .collect())
        sums, counts, total = np.zeros((k, d)), np.zeros(k, dtype=np.int64), 0.0
        for row in rows:
            counts[row["c"]] = row["n"]
            sums[row["c"]] = [row[f"s{j}"] for j in range(d)]
            total += row["sq"]
        return PassTotals(sums, counts, total if inertia else float("nan"))

    def assign(self, centers: np.ndarray, mean: np.ndarray, scale: np.ndarray,
               observers: Sequence[Observer], progress: Progress | None = None) -> None:
        progress = progress or NullProgress()
        centers = np.asarray(centers, dtype=np.float64)
        k, d = centers.shape
        label, squared = native.nearest_expr(native.scaled_columns(d, mean, scale), centers)
        labeled = self.valid.withColumn(native.LABEL, label).withColumn(
            native.SQUARED, squared).persist()
        self.passes += 1
        columns = list(self.source.columns)
        try:
            for observer in observers:
                kind = getattr(observer, "native", None)
                with progress.task(f"Assigning customers: {kind or type(observer).__name__} (Spark)"):
                    if kind == "segment_totals":
                        native.segment_totals(labeled, observer, d, k)
                        if self.sample_rows < self.n_valid:  # else the sample's are exact
                            native.segment_quantiles(labeled, observer, d, k)
                            self.quantiles = "percentile_approx"
                    elif kind == "rule_agreement":
                        native.rule_agreement(labeled, observer)
                    elif kind == "clustered_files":
                        native.clustered_files(labeled, observer, columns)
                    elif kind == "previous_run":
                        native.previous_run(labeled, observer, d)
                    elif kind == "catalog_table":
                        native.catalog_table(labeled, observer)
                    else:
                        self._stream(labeled, observer, columns, d)
        finally:
            labeled.unpersist()

    def _stream(self, labeled: object, observer: Observer, columns: list[str], d: int) -> None:
        """An observer without a native form gets every row, in order: collected to the driver
        as Arrow and handed over in batches (correct, not fast: the known observers are native)."""
        frame = labeled.orderBy(ROW).select(*columns, ROW, native.LABEL, native.SQUARED,
                                            *[feature_column(j) for j in range(d)])
        for batch in frame.toArrow().to_batches(max_chunksize=1 << 20):
            table = pa.Table.from_batches([batch])
            values = np.column_stack([table.column(feature_column(j)).to_numpy() for j in range(d)])
            observer.observe(AssignedBatch(table.select(columns), table.column(ROW).to_numpy(),
                                           values, table.column(native.LABEL).to_numpy(),
                                           table.column(native.SQUARED).to_numpy()))
