"""Per-segment aggregates of every valid row, counted during the assignment pass.

:class:`SegmentTotals` is an observer of :meth:`custseg.engines.base.Engine.assign`: batch by
batch it counts each segment's customers, sums the features and every other numeric column the
profile describes, counts the categories of the categorical ones, and totals the squared
distances (inertia, overall and per segment). Counts are integers; sums are taken over the
engines' fixed blocks of rows (:class:`custseg.engines.kernels.Blocks`), so they are the same bits
on every engine. Quantiles are not aggregates: the profile takes them from the run's sample.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from custseg.engines.base import AssignedBatch
from custseg.engines.columns import ColumnPlan
from custseg.engines.kernels import Blocks, compiles, group_sums
from custseg.io.csvlines import text_buffers
from custseg.io.numbers import parse_numbers

#: Categorical columns with at most this many categories are counted by compiled code on large
#: batches (each cell compared with each category in turn).
MAX_COMPARED_CATEGORIES = 64


class SegmentTotals:
    """Exact per-segment aggregates (see the module notes).

    Parameters
    ----------
    k : int
        Number of segments (labels 0..k-1).
    n_features : int
        Number of features.
    plans : mapping of str to ColumnPlan, optional
        The other columns to aggregate (numeric sums, category counts).

    Attributes
    ----------
    sizes : numpy.ndarray
        Customers per segment (int64).
    feature_sums : numpy.ndarray
        Per segment, the sum of each feature (original units), shape (k, d).
    numeric_sums, numeric_counts : dict of str to numpy.ndarray
        Per other numeric column: per-segment sum and count of its numeric cells.
    category_counts : dict of str to numpy.ndarray
        Per categorical column: customers per (segment, category), shape (k, categories).
    segment_inertia : numpy.ndarray
        Per segment, the sum of squared scaled distances to its centroid.
    quantiles : dict of str to numpy.ndarray or None
        Median, first and third quartile per segment and for the base (rows 0..k-1, then the
        base; shape (k + 1, 3)), keyed by ``f<j>`` for feature j and by name for the other
        numeric columns, when an engine computed them over every row (:meth:`absorb_quantiles`);
        None: the profile takes them from the run's sample.

    Examples
    --------
    >>> from custseg.engines.base import AssignedBatch
    >>> totals = SegmentTotals(2, 1)
    >>> totals.observe(AssignedBatch(None, np.arange(3), np.array([[1.0], [3.0], [10.0]]),
    ...                              np.array([0, 0, 1]), np.array([1.0, 1.0, 0.0])))
    >>> totals.finish()
    >>> totals.sizes.tolist(), totals.means().ravel().tolist(), totals.inertia
    ([2, 1], [2.0, 10.0], 2.0)
    """

    def __init__(self, k: int, n_features: int, plans: Mapping[str, ColumnPlan] | None = None
                 ) -> None:
        self.k = k
        self.n_features = n_features
        self.plans = dict(plans or {})
        self.numeric = [name for name, plan in self.plans.items() if plan.kind == "numeric"]
        self.sizes = np.zeros(k, dtype=np.int64)
        self.feature_sums = np.zeros((k, n_features))
        self.segment_inertia = np.zeros(k)
        self.numeric_sums = {name: np.zeros(k) for name in self.numeric}
        self.numeric_counts = {name: np.zeros(k, dtype=np.int64) for name in self.numeric}
        self.category_counts = {name: np.zeros((k, len(plan.categories)), dtype=np.int64)
                                for name, plan in self.plans.items() if plan.kind != "numeric"}
        self._categories = {name: pa.array(list(plan.categories), pa.string())
                            for name, plan in self.plans.items() if plan.kind != "numeric"}
        self.quantiles: dict[str, np.ndarray] | None = None
        self._blocks = Blocks(self._add_block)

    @property
    def inertia(self) -> float:
        """Sum of squared scaled distances of every row to its centroid."""
        return float(self.segment_inertia.sum())

    #: The aggregation an engine computing natively fills in (:mod:`custseg.engines.base`).
    native = "segment_totals"

    def absorb(self, sizes: np.ndarray, feature_sums: np.ndarray, segment_inertia: np.ndarray,
               numeric_sums: dict[str, np.ndarray], numeric_counts: dict[str, np.ndarray],
               category_counts: dict[str, np.ndarray]) -> None:
        """Take the totals an engine aggregated itself (instead of :meth:`observe`)."""
        self.sizes += np.asarray(sizes, dtype=np.int64)
        self.feature_sums += feature_sums
        self.segment_inertia += segment_inertia
        for name in self.numeric:
            self.numeric_sums[name] += numeric_sums[name]
            self.numeric_counts[name] += np.asarray(numeric_counts[name], dtype=np.int64)
        for name, counts in self.category_counts.items():
            counts += np.asarray(category_counts[name], dtype=np.int64)

    def absorb_quantiles(self, quantiles: dict[str, np.ndarray]) -> None:
        """Take medians and quartiles an engine computed over every row (see ``quantiles``)."""
        self.quantiles = {name: np.asarray(q, dtype=np.float64) for name, q in quantiles.items()}

    def observe(self, batch: AssignedBatch) -> None:
        """Count one batch of assigned rows."""
        labels = batch.labels
        sizes = np.bincount(labels, minlength=self.k)
        self.sizes += sizes
        numeric = []
        for name in self.numeric:
            values = parse_numbers(batch.table.column(name), writeable=False)[0]
            numeric.append(values)
            finite = np.isfinite(values)
            self.numeric_counts[name] += (sizes if finite.all()
                                          else np.bincount(labels[finite], minlength=self.k))
        for name, counts in self.category_counts.items():
            code = self._category_codes(name, batch.table.column(name))
            m = counts.shape[1]
            present = code >= 0
            pairs = labels * m + code if present.all() else labels[present] * m + code[present]
            counts += np.bincount(pairs, minlength=self.k * m).reshape(self.k, m)
        extra = np.column_stack(numeric) if numeric else np.empty((len(labels), 0))
        # Categorical features' level codes (after the numeric features) are not summed: their
        # categories are counted as a profile column's.
        self._blocks.feed(labels, batch.values[:, :self.n_features], batch.squared, extra)

    def _category_codes(self, name: str, column: pa.ChunkedArray) -> np.ndarray:
        """Each cell's position among the column's categories (-1: none of them)."""
        plan, categories = self.plans[name], self._categories[name]
        if plan.kind != "text" or not pa.types.is_string(column.type) or column.null_count:
            text = plan.category_text(column)
            return np.asarray(pc.fill_null(pc.index_in(text, value_set=categories), -1)
                              ).astype(np.int64)
        # Large chunks: compared with the categories by compiled code, the few cells it leaves
        # (ends that trimming could change) looked up as small ones are. Small chunks: the
        # distinct cells looked up once (a few texts, not one per row), then spread.
        compiled = compiles(len(column)) and len(categories) <= MAX_COMPARED_CATEGORIES
        parts = []
        for chunk in column.chunks:
            if compiled:
                from custseg.engines.rowcounts import UNDECIDED, text_codes

                code = np.empty(len(chunk), dtype=np.int64)
                text_codes(*text_buffers(chunk), *text_buffers(categories), code)
                undecided = np.flatnonzero(code == UNDECIDED)
                if undecided.size:
                    code[undecided] = self._looked_up(plan, categories,
                                                      chunk.take(pa.array(undecided)))
                parts.append(code)
            else:
                parts.append(self._looked_up(plan, categories, chunk))
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)

    @staticmethod
    def _looked_up(plan: ColumnPlan, categories: pa.Array, chunk: pa.Array) -> np.ndarray:
        encoded = pc.dictionary_encode(chunk)
        known = np.asarray(pc.fill_null(pc.index_in(plan.category_text(encoded.dictionary),
                                                    value_set=categories), -1)).astype(np.int64)
        return known[encoded.indices.to_numpy()]

    def _add_block(self, labels: np.ndarray, values: np.ndarray, squared: np.ndarray,
                   extra: np.ndarray) -> None:
        self.feature_sums += group_sums(labels, values, self.k)
        self.segment_inertia += np.bincount(labels, weights=squared, minlength=self.k)
        if extra.shape[1]:
            finite = np.isfinite(extra)
            sums = group_sums(labels, np.where(finite, extra, 0.0), self.k)
            for j, name in enumerate(self.numeric):
                self.numeric_sums[name] += sums[:, j]

    def finish(self) -> None:
        """Add the rows of the last, unfinished block (call once, after the pass)."""
        self._blocks.flush()

    def means(self) -> np.ndarray:
        """Per-segment mean of each feature, shape (k, d) (NaN for an empty segment)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.feature_sums / self.sizes[:, None]

    def radii(self) -> np.ndarray:
        """Root mean squared scaled distance of each segment's customers to its centroid."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.sqrt(self.segment_inertia / self.sizes)
