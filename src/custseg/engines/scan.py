"""The first pass over a table: validate every row and learn what the rest of the run needs.

Both engines fold their record batches through one :class:`Scanner` (the in-memory engine's
table is a single batch), which

- validates each row (:class:`custseg.io.validate.RowValidator`) and spills the rejects with
  their reasons (:class:`custseg.io.rejects.RejectStore`), counting input = valid + rejected;
- fits the scaler's mean and variance exactly, over fixed blocks of valid rows
  (:class:`custseg.engines.kernels.Blocks`, so every engine gets the same bits; many blocks per
  call, :class:`custseg.engines.moments.BlockMoments`);
- keeps the features' ranges, the seeded uniform sample (:mod:`custseg.engines.sample`) and what
  the profile needs to know about every other column (:mod:`custseg.engines.columns`);
- notes whether some valid text cell needs quotes in a CSV, so the clustered file is written
  in one quoting style however it is batched, and whether any may start like a formula.

:meth:`Scan.check` then applies the checks every run needs before it can choose K.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
from sklearn.preprocessing import StandardScaler

from custseg.engines.categories import LevelCounts, check_levels
from custseg.engines.columns import ColumnPlan, ColumnScan
from custseg.engines.kernels import Blocks
from custseg.engines.moments import BlockMoments
from custseg.engines.sample import Reservoir, Sample
from custseg.exceptions import DataValidationError
from custseg.io.chunks import Chunk
from custseg.io.csvsafe import any_structural, text_flags
from custseg.io.formats import SourceInfo, no_rows
from custseg.io.rejects import RejectStore
from custseg.io.validate import RowValidator


@dataclass(frozen=True)
class ScanSpec:
    """What the first pass checks and keeps.

    Attributes
    ----------
    features : tuple of str
        Feature names as the run asked for them (they choose the range rules).
    feature_columns : tuple of str
        The input columns holding them.
    id_column : str or None
        The input's id column, or None (rows are identified by their row number).
    seed : int
        Seed of the sample.
    sample_rows : int
        Valid rows kept in the sample.
    missing : {"reject", "impute"}, default "reject"
        ``impute``: a missing feature cell does not reject its row; it stays NaN in the values
        (filled later, :mod:`custseg.engines.prepare`), and is counted per feature.
    log_moments : bool, default False
        Also total the mean and variance of ``log1p`` of each feature (for ``--transform``).
    categorical : int, default 0
        How many of the features, the last ones, are categories (``--categorical``): their
        values are level codes (:mod:`custseg.io.levels`), their levels counted exactly.
    """

    features: tuple[str, ...]
    feature_columns: tuple[str, ...]
    id_column: str | None
    seed: int
    sample_rows: int
    missing: str = "reject"
    log_moments: bool = False
    categorical: int = 0

    @property
    def n_numeric(self) -> int:
        """Numeric features (the first ones)."""
        return len(self.features) - self.categorical


def block_scaler(values: np.ndarray) -> StandardScaler:
    """A StandardScaler fitted on ``values`` block by block, exactly as the scan fits one.

    Examples
    --------
    >>> block_scaler(np.array([[1.0], [3.0]])).mean_.tolist()
    [2.0]
    """
    scaler = StandardScaler()
    blocks = Blocks(scaler.partial_fit)
    blocks.feed(np.asarray(values, dtype=np.float64))
    blocks.flush()
    return scaler


class Scanner:
    """Folds a table's record batches, in order, into a :class:`Scan`.

    Parameters
    ----------
    spec : ScanSpec
        What to check and keep.
    source : SourceInfo
        The input (its delimiter decides whether ``12,5`` is a number).
    rejects : RejectStore
        Where rejected records go.
    """

    def __init__(self, spec: ScanSpec, source: SourceInfo, rejects: RejectStore) -> None:
        self.spec = spec
        self.source = source
        self.rejects = rejects
        self.validator = RowValidator(spec.features, spec.feature_columns, spec.id_column,
                                      decimal_comma=source.decimal_comma,
                                      thousands=source.thousands,
                                      unsettled_in=source if source.grouping_unsettled else None,
                                      allow_missing=spec.missing == "impute",
                                      categorical=[j >= spec.n_numeric
                                                   for j in range(len(spec.features))])
        self.levels = LevelCounts(spec.categorical)
        self.reservoir = Reservoir(spec.sample_rows, spec.seed)
        self.scaler = StandardScaler()
        self._moments = BlockMoments(self.scaler)
        self.log_scaler = StandardScaler() if spec.log_moments else None
        self._log_moments = (BlockMoments(self.log_scaler, _log1p_positive)
                             if spec.log_moments else None)
        self.missing = np.zeros(len(spec.feature_columns), dtype=np.int64)
        self.columns: dict[str, ColumnScan] | None = None
        self.n_input = self.n_valid = 0
        self.low: np.ndarray | None = None
        self.high: np.ndarray | None = None
        self.text_needs_quotes = False
        self.text_formulas = False
        # Two helpers, each taking the batches in order: one the numbers (moments, ranges,
        # levels), one the rows (sample, other columns, text); with the validating thread,
        # three similar loads that two cores share.
        self._helpers = [ThreadPoolExecutor(1, thread_name_prefix="custseg-scan")
                         for _ in range(2)]
        self._learning: list[Future] = []

    def feed(self, chunk: Chunk, out: np.ndarray | None = None
             ) -> tuple[np.ndarray, np.ndarray, pa.Table]:
        """Fold in the next batch (``out``: where the values go, see
        :meth:`custseg.io.validate.RowValidator.check`).

        Returns
        -------
        keep : numpy.ndarray
            bool per parsed row: valid.
        values : numpy.ndarray
            Feature values of the valid rows, float64, shape (valid, n_features).
        valid : pyarrow.Table
            The valid rows (every column, cells as read).
        """
        if self.columns is None:
            # A category stays a profile column too: its shares per segment are its profile.
            skip = {*self.spec.feature_columns[:self.spec.n_numeric], self.spec.id_column}
            self.columns = {f.name: ColumnScan(f.name, f.type) for f in chunk.table.schema
                            if f.name not in skip}
        self.n_input += chunk.n_records
        keep, values, rejects = self.validator.check(chunk, out)
        self.rejects.add(rejects)
        every = len(values) == chunk.table.num_rows
        valid = chunk.table if every else chunk.table.filter(pa.array(keep))
        if len(values):
            self.n_valid += len(values)
            # What the rest of the run needs to know about the valid rows is learned by a helper
            # thread, batch by batch in order, while this one validates the next batch.
            self._wait()
            rows = chunk.rows if every else chunk.rows[keep]
            self._learning = [self._helpers[0].submit(self._learn_numbers, values),
                              self._helpers[1].submit(self._learn_rows, rows, values, valid)]
        return keep, values, valid

    def _learn_numbers(self, values: np.ndarray) -> None:
        self._moments.feed(values)
        if self._log_moments is not None:
            self._log_moments.feed(values)
        # Missing cells (kept with --missing impute) are NaN: counted, and left out of the ranges.
        impute = self.spec.missing == "impute"
        if impute:
            self.missing += np.isnan(values).sum(axis=0)
        smallest, largest = (np.fmin, np.fmax) if impute else (np.minimum, np.maximum)
        # Column by column: a reduction over the rows of an (n, d) array is many times slower.
        low = np.array([smallest.reduce(values[:, j]) for j in range(values.shape[1])])
        high = np.array([largest.reduce(values[:, j]) for j in range(values.shape[1])])
        self.low = low if self.low is None else np.minimum(self.low, low)
        self.high = high if self.high is None else np.maximum(self.high, high)
        if self.spec.categorical:
            self.levels.add(values[:, self.spec.n_numeric:])
            if None in self.levels.counts:  # far too many levels: stop now, not after the pass
                check_levels(self.spec.features[self.spec.n_numeric:], self.levels.counts,
                             self.source.name)

    def _learn_rows(self, rows: np.ndarray, values: np.ndarray, valid: pa.Table) -> None:
        self.reservoir.offer(rows, values, valid)
        for name, column in self.columns.items():
            column.update(valid.column(name))
        if not (self.text_needs_quotes and self.text_formulas):
            formula, structural = text_flags(valid)
            self.text_formulas = self.text_formulas or formula
            if not self.text_needs_quotes and structural:
                self.text_needs_quotes = any_structural(valid)

    def _wait(self) -> None:
        running, self._learning = self._learning, []
        for done in running:
            done.result()

    def finish(self, columns: list[str]) -> Scan:
        """What the pass learned (call after the last batch)."""
        try:
            self._wait()
        finally:
            for helper in self._helpers:
                helper.shutdown()
        self._moments.flush()
        if self._log_moments is not None:
            self._log_moments.flush()
        self.rejects.close()
        plans = {}
        for name, column in (self.columns or {}).items():
            plan = column.plan(self.n_valid) if self.n_valid else None
            if plan is not None:
                plans[name] = plan
        d = len(self.spec.features)
        return Scan(
            spec=self.spec, source=self.source, columns=tuple(columns), n_input=self.n_input,
            n_valid=self.n_valid, rejects=self.rejects, problem=self.validator.most_common_problem(),
            scaler=self.scaler if self.n_valid else None,
            low=self.low if self.low is not None else np.full(d, np.nan),
            high=self.high if self.high is not None else np.full(d, np.nan),
            sample=self.reservoir.sample(), plans=plans, text_needs_quotes=self.text_needs_quotes,
            log_scaler=self.log_scaler if self.n_valid else None,
            missing=tuple(int(m) for m in self.missing),
            text_formulas=self.text_formulas,
            levels=self.levels.result(self.validator.level_texts))


@dataclass(frozen=True, eq=False)
class Scan:
    """What the first pass over a table learned. Counts are exact; ``sample`` is the seeded
    uniform sample of valid rows.

    Attributes
    ----------
    spec : ScanSpec
        What was checked and kept.
    source : SourceInfo
        The input.
    columns : tuple of str
        The input's columns, in order.
    n_input, n_valid : int
        Records in the input, and valid ones.
    rejects : RejectStore
        Every rejected record (``rejects.count`` of them) with its reason.
    problem : str
        The most frequent problem, for messages.
    scaler : sklearn.preprocessing.StandardScaler or None
        Mean and variance of every valid row's features (None without valid rows).
    low, high : numpy.ndarray
        Each feature's smallest and largest valid value.
    sample : Sample
        The seeded uniform sample of valid rows (every valid row when there are no more than
        ``spec.sample_rows``).
    plans : dict of str to ColumnPlan
        How the profile describes each other column.
    text_needs_quotes : bool
        Some valid text cell needs quotes in a CSV.
    log_scaler : sklearn.preprocessing.StandardScaler or None
        Mean and variance of ``log1p`` of the features (with ``spec.log_moments``).
    missing : tuple of int
        Valid rows whose feature cell was missing, per feature (``--missing impute``).
    text_formulas : bool
        Some valid text cell may start like a spreadsheet formula (False: no cell does, and the
        writers need not look again).
    levels : tuple of dict
        Per categorical feature, valid rows per level text (None: more than
        :data:`~custseg.engines.categories.MAX_TRACKED` levels).
    """

    spec: ScanSpec
    source: SourceInfo
    columns: tuple[str, ...]
    n_input: int
    n_valid: int
    rejects: RejectStore
    problem: str
    scaler: StandardScaler | None
    low: np.ndarray
    high: np.ndarray
    sample: Sample
    plans: dict[str, ColumnPlan] = field(default_factory=dict)
    text_needs_quotes: bool = False
    log_scaler: StandardScaler | None = None
    missing: tuple[int, ...] = ()
    text_formulas: bool = True
    levels: tuple[dict[str, int] | None, ...] = ()

    @property
    def n_rejected(self) -> int:
        """Records rejected."""
        return self.rejects.count

    @property
    def sample_is_everything(self) -> bool:
        """Whether the sample holds every valid row (then sample statistics are exact)."""
        return self.sample.size == self.n_valid

    def check(self, k: int = 1, on_invalid: str = "reject") -> None:
        """Raise unless the valid rows can hold ``k`` segments.

        Raises
        ------
        DataValidationError
            No records; an invalid record with ``on_invalid="fail"``; no valid row; fewer valid
            rows than ``k``; a feature with one value in every valid row.
        """
        name = self.source.name
        if self.n_input == 0:
            raise no_rows(name)
        first = self.rejects.first
        if on_invalid == "fail" and first is not None:
            where = f" in column {first['column']!r}" if first["column"] is not None else ""
            raise DataValidationError(
                f"{name} row {first['row']}{where}: {first['reason']} ({first['value']!r}). "
                f"{self.n_rejected} invalid row(s) in all; fix them, or use --on-invalid reject.")
        if self.n_valid == 0:
            raise DataValidationError(
                f"No valid rows left in {name}: all {self.n_input} rows were rejected (most often: "
                f"{self.problem}). Fix those values, or choose other columns with --features"
                f"{'; --missing impute fills missing values' if 'missing' in self.problem else ''}.")
        self.check_k(k)
        check_levels(self.spec.features[self.spec.n_numeric:], self.levels, name)
        for j, feature in enumerate(self.spec.features[:self.spec.n_numeric]):
            if self.n_valid > 1 and self.low[j] == self.high[j]:
                raise DataValidationError(
                    f"Feature {feature!r} has the same value ({self.low[j]:g}) in all "
                    f"{self.n_valid} valid rows of {name}, so it cannot separate segments. "
                    "Remove it from --features.")

    def check_k(self, k: int) -> None:
        """Raise when there are fewer valid rows than ``k`` segments."""
        if self.n_valid < k:
            rejected = f" ({self.n_rejected} rejected)" if self.n_rejected else ""
            raise DataValidationError(
                f"Only {self.n_valid} valid row(s) in {self.source.name}{rejected}, fewer than "
                f"K={k} segments. Use a smaller --k, or fix the rejected rows.")


def _log1p_positive(X: np.ndarray) -> np.ndarray:
    return np.log1p(np.maximum(X, 0.0))


def scaler_from_moments(n: int, mean: np.ndarray, var: np.ndarray) -> StandardScaler:
    """A fitted StandardScaler from the moments an engine aggregated itself (count, mean and
    population variance per feature), as ``fit`` would leave it (a constant feature scales by 1).

    Examples
    --------
    >>> s = scaler_from_moments(2, np.array([2.0, 5.0]), np.array([1.0, 0.0]))
    >>> s.scale_.tolist(), s.transform([[3.0, 5.0]]).tolist()
    ([1.0, 1.0], [[1.0, 0.0]])
    """
    scaler = StandardScaler()
    mean = np.asarray(mean, dtype=np.float64)
    var = np.maximum(np.asarray(var, dtype=np.float64), 0.0)
    scale = np.sqrt(var)
    scale[scale < 10 * np.finfo(np.float64).eps * np.maximum(1.0, np.abs(mean))] = 1.0
    scaler.mean_, scaler.var_, scaler.scale_ = mean, var, scale
    scaler.n_samples_seen_ = np.int64(n)
    scaler.n_features_in_ = len(mean)
    return scaler
