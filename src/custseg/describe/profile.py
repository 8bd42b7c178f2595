"""Per-segment profiles: how many customers each segment has and what they look like.

For every segment: size and share; mean, median and quartiles of each feature and of every
other numeric column of the input (Age on the Mall data); the mix of each categorical column
(Gender %); and, for each of those, the difference from the whole customer base. Which columns
are numeric or categorical is decided by the scan (:mod:`custseg.engines.columns`).

Sizes, shares, means and category mixes are exact, from the assignment pass's aggregates
(:class:`custseg.describe.totals.SegmentTotals`). Medians and quartiles come from the run's
seeded uniform sample (every customer when there are no more than its size):
:attr:`SegmentProfiles.quantile_rows` says how many rows they were computed on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from custseg.describe.totals import SegmentTotals
from custseg.engines.columns import ColumnPlan
from custseg.engines.sample import Sample
from custseg.io.numbers import parse_numbers

#: Statistics of each numeric column, in table order (mean exact; quantiles from the sample).
STATS = ("mean", "median", "q1", "q3")
#: Index of the whole customer base's row.
BASE = "all"


@dataclass(frozen=True)
class SegmentProfiles:
    """Who is in each segment.

    Attributes
    ----------
    table : pandas.DataFrame
        Indexed by ``Cluster``; columns ``size``, ``share`` (0..1) and ``mean <feature>`` for
        each feature, in original units (the compact table the CLI prints).
    numeric : pandas.DataFrame
        Rows: each segment (index ``Cluster``) then the whole base (index ``"all"``); columns:
        a (column, statistic) MultiIndex over the numeric columns and :data:`STATS`.
    categories : dict of str to pandas.DataFrame
        Per categorical column: share of each category (columns) per segment and the base
        (rows, as in ``numeric``), 0..1.
    features : tuple of str
        The features (the first numeric columns).
    quantile_rows : int
        Rows the medians and quartiles were computed on (the sample's size, or every customer
        when the engine computed them: ``SegmentTotals.quantiles``).
    """

    table: pd.DataFrame
    numeric: pd.DataFrame
    categories: dict[str, pd.DataFrame]
    features: tuple[str, ...]
    quantile_rows: int = 0

    @property
    def sizes(self) -> np.ndarray:
        """Customers per segment."""
        return self.table["size"].to_numpy()

    @property
    def k(self) -> int:
        """Number of segments."""
        return len(self.table)

    def difference(self) -> pd.DataFrame:
        """Each segment's numeric statistics minus the whole base's (same layout, no base row)."""
        segments = self.numeric.drop(index=BASE)
        return segments - self.numeric.loc[BASE]

    def to_frame(self, names: list[str] | None = None, ids: np.ndarray | None = None) -> pd.DataFrame:
        """One row per segment, then ``All customers``: the content of ``segment_profiles.csv``.

        Columns: ``Cluster``, ``Segment``, ``size``, ``share``, ``<column> <stat>`` and
        ``<column> mean vs all`` for each numeric column, ``<column> <category> %`` and
        ``<column> <category> % vs all`` (percentage points) for each categorical column.
        """
        names = names or [f"Segment {c}" for c in range(self.k)]
        ids = list(range(self.k)) if ids is None else [int(i) for i in ids]
        out = pd.DataFrame({"Cluster": [*ids, None], "Segment": [*names, "All customers"],
                            "size": [*self.sizes.tolist(), int(self.sizes.sum())],
                            "share": [*self.table["share"].tolist(), 1.0]})
        out["Cluster"] = out["Cluster"].astype("Int64")
        diff = self.difference()
        # Columns gathered first and joined once: inserting them one by one is quadratic in
        # the number of columns (a 3,000-column input took 51 s).
        columns: dict[str, np.ndarray] = {}
        for column in self.numeric.columns.get_level_values(0).unique():
            for stat in STATS:
                columns[f"{column} {stat}"] = self.numeric[(column, stat)].to_numpy()
            columns[f"{column} mean vs all"] = np.array([*diff[(column, "mean")].tolist(), 0.0])
        for column, mix in self.categories.items():
            change = self.category_difference(column)
            for category in mix.columns:
                columns[f"{column} {category} %"] = 100 * mix[category].to_numpy()
                columns[f"{column} {category} % vs all"] = np.array(
                    [*(100 * change[category]).tolist(), 0.0])
        if columns:
            out = pd.concat([out, pd.DataFrame(columns, index=out.index)], axis=1)
        return out.round(4)

    def category_difference(self, column: str) -> pd.DataFrame:
        """Each segment's category shares minus the base's, in share points (0..1)."""
        mix = self.categories[column]
        return mix.drop(index=BASE) - mix.loc[BASE]


def profile_segments(totals: SegmentTotals, sample: Sample, sample_labels: np.ndarray,
                     features: tuple[str, ...], plans: dict[str, ColumnPlan]) -> SegmentProfiles:
    """Profile each segment from the exact aggregates and the sample's quantiles.

    Parameters
    ----------
    totals : SegmentTotals
        The assignment pass's aggregates (finished).
    sample : Sample
        The run's sample (its ``table`` holds the other columns' cells).
    sample_labels : numpy.ndarray
        Segment of each sampled row.
    features : tuple of str
        Feature names.
    plans : dict of str to ColumnPlan
        The other columns described (the same the totals aggregated).

    Examples
    --------
    >>> from custseg.engines.base import AssignedBatch
    >>> X, labels = np.array([[1.0], [3.0], [10.0]]), np.array([0, 0, 1])
    >>> totals = SegmentTotals(2, 1)
    >>> totals.observe(AssignedBatch(None, np.arange(3), X, labels, np.zeros(3)))
    >>> totals.finish()
    >>> p = profile_segments(totals, Sample(None, np.arange(3), X), labels, ("x",), {})
    >>> p.table.to_dict("list")
    {'size': [2, 1], 'share': [0.6666666666666666, 0.3333333333333333], 'mean x': [2.0, 10.0]}
    >>> float(p.numeric.loc["all", ("x", "median")]), round(float(p.difference().loc[1, ("x", "mean")]), 3)
    (3.0, 5.333)
    """
    k = totals.k
    sizes = totals.sizes
    n = int(sizes.sum())
    table = pd.DataFrame({"size": sizes, "share": sizes / max(n, 1)},
                         index=pd.RangeIndex(k, name="Cluster"))
    means = totals.means()
    for j, name in enumerate(features):
        table[f"mean {name}"] = means[:, j]
    given = totals.quantiles or {}
    stats = {}
    for j, name in enumerate(features):
        stats[name] = _stats(sample.values[:, j], sample_labels, k, totals.feature_sums[:, j], sizes,
                             given.get(f"f{j}"))
    for name, plan in plans.items():
        if plan.kind == "numeric":
            column = None if name in given else parse_numbers(sample.table.column(name))[0]
            stats[name] = _stats(column, sample_labels, k, totals.numeric_sums[name],
                                 totals.numeric_counts[name], given.get(name))
    numeric = pd.concat(stats, axis=1) if stats else pd.DataFrame(index=_index(k))
    mixes = {name: category_shares(counts, list(plans[name].categories), k)
             for name, counts in totals.category_counts.items()}
    return SegmentProfiles(table, numeric, mixes, tuple(features),
                           quantile_rows=n if given else sample.size)


def _index(k: int) -> pd.Index:
    return pd.Index([*range(k), BASE], name="Cluster", dtype=object)


def _stats(column: np.ndarray | None, labels: np.ndarray, k: int, sums: np.ndarray,
           counts: np.ndarray, given: np.ndarray | None = None) -> pd.DataFrame:
    """Exact means from the aggregates; median and quartiles of the sample, or ``given``."""
    out = (quantiles(column, labels, k) if given is None
           else pd.DataFrame(given, index=_index(k), columns=["median", "q1", "q3"]))
    with np.errstate(invalid="ignore", divide="ignore"):
        base = sums.sum() / counts.sum() if counts.sum() else np.nan
        out.insert(0, "mean", [*(sums / np.where(counts > 0, counts, np.nan)), base])
    return out


def quantiles(column: np.ndarray, labels: np.ndarray, k: int) -> pd.DataFrame:
    """Median and quartiles of ``column`` per segment and for the base (NaN ignored).

    Quantiles by selection (``numpy.quantile`` partitions), not a full sort: linear in rows.

    Examples
    --------
    >>> quantiles(np.array([1.0, 2.0, 3.0, np.nan]), np.array([0, 0, 1, 1]), 2)["median"].tolist()
    [1.5, 3.0, 2.0]
    """
    ok = np.isfinite(column)
    v, g = (column, labels) if ok.all() else (column[ok], labels[ok])
    order = np.argsort(g, kind="stable")  # integer keys: a radix sort
    v = v[order]
    counts = np.bincount(g, minlength=k)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rows = [_quartiles(v[starts[seg]:starts[seg] + counts[seg]]) for seg in range(k)]
    rows.append(_quartiles(v))
    return pd.DataFrame(rows, index=_index(k), columns=["median", "q1", "q3"])


def _quartiles(values: np.ndarray) -> list[float]:
    if values.size == 0:
        return [np.nan] * 3
    q1, median, q3 = np.quantile(values, [0.25, 0.5, 0.75])
    return [float(median), float(q1), float(q3)]


def category_shares(counts: np.ndarray, categories: list[str], k: int) -> pd.DataFrame:
    """Share of each category per segment and for the base, from (segment x category) counts.

    Examples
    --------
    >>> mix = category_shares(np.array([[1, 1], [1, 0]]), ["F", "M"], 2)
    >>> float(mix.loc[0, "F"]), float(mix.loc["all", "F"])
    (0.5, 0.6666666666666666)
    """
    full = np.vstack([counts, counts.sum(axis=0)]).astype(float)
    row_totals = full.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(row_totals > 0, full / np.where(row_totals > 0, row_totals, 1), np.nan)
    return pd.DataFrame(shares, index=_index(k), columns=list(categories))
