"""Per-segment profiles: how many customers each segment has and what they look like.

For every segment: size and share; mean, median and quartiles of each feature and of every
other numeric column of the input (Age on the Mall data); the mix of each categorical column
(Gender %); and, for each of those, the difference from the whole customer base.

A column counts as *numeric* when at least :data:`NUMERIC_SHARE` of its cells parse as finite
numbers (the others are left out of its statistics), and as *categorical* when it is not
numeric and has between 2 and :data:`MAX_CATEGORIES` distinct non-empty values, or when it is
a numeric code (whole numbers, at most :data:`MAX_CODES` distinct values, as Channel and
Region in the wholesale data). The id column is neither.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from custseg.data.validate import ValidatedTable, parse_numbers

#: Statistics of each numeric column, in table order.
STATS = ("mean", "median", "q1", "q3")
NUMERIC_SHARE = 0.9
MAX_CATEGORIES = 12
#: A numeric column of whole numbers with at most this many distinct values is a code
#: (Channel 1/2, Region 1..3) and is profiled as a category.
MAX_CODES = 6
#: Rows looked at first to decide whether a column is numeric.
SNIFF_ROWS = 10_000
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
    """

    table: pd.DataFrame
    numeric: pd.DataFrame
    categories: dict[str, pd.DataFrame]
    features: tuple[str, ...]

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
        for column in self.numeric.columns.get_level_values(0).unique():
            for stat in STATS:
                out[f"{column} {stat}"] = self.numeric[(column, stat)].to_numpy()
            out[f"{column} mean vs all"] = [*diff[(column, "mean")].tolist(), 0.0]
        for column, mix in self.categories.items():
            change = self.category_difference(column)
            for category in mix.columns:
                out[f"{column} {category} %"] = 100 * mix[category].to_numpy()
                out[f"{column} {category} % vs all"] = [*(100 * change[category]).tolist(), 0.0]
        return out.round(4)

    def category_difference(self, column: str) -> pd.DataFrame:
        """Each segment's category shares minus the base's, in share points (0..1)."""
        mix = self.categories[column]
        return mix.drop(index=BASE) - mix.loc[BASE]


def profile_segments(values: np.ndarray, labels: np.ndarray, k: int, names: tuple[str, ...],
                     extra_numeric: dict[str, np.ndarray] | None = None,
                     categorical: dict[str, np.ndarray | pa.Array] | None = None) -> SegmentProfiles:
    """Profile each segment (vectorised group statistics, one pass per column).

    Parameters
    ----------
    values : numpy.ndarray
        Feature values, shape (n, len(names)).
    labels : numpy.ndarray
        Segment of each row, 0..k-1.
    k : int
        Number of segments.
    names : tuple of str
        Feature names.
    extra_numeric : dict of str to numpy.ndarray, optional
        Other numeric columns (NaN where a cell is not a number).
    categorical : dict of str to array, optional
        Categorical columns: text as a NumPy object array (None for missing) or an Arrow array.

    Examples
    --------
    >>> p = profile_segments(np.array([[1.0], [3.0], [10.0]]), np.array([0, 0, 1]), 2, ("x",))
    >>> p.table.to_dict("list")
    {'size': [2, 1], 'share': [0.6666666666666666, 0.3333333333333333], 'mean x': [2.0, 10.0]}
    >>> float(p.numeric.loc["all", ("x", "median")]), round(float(p.difference().loc[1, ("x", "mean")]), 3)
    (3.0, 5.333)
    """
    labels = np.asarray(labels)
    sizes = np.bincount(labels, minlength=k)
    table = pd.DataFrame({"size": sizes, "share": sizes / max(len(labels), 1)},
                         index=pd.RangeIndex(k, name="Cluster"))
    with np.errstate(invalid="ignore", divide="ignore"):
        for j, name in enumerate(names):
            table[f"mean {name}"] = np.bincount(labels, weights=values[:, j], minlength=k) / sizes
    columns = {name: values[:, j] for j, name in enumerate(names)}
    columns.update(extra_numeric or {})
    numeric = pd.concat({name: group_stats(col, labels, k) for name, col in columns.items()},
                        axis=1) if columns else pd.DataFrame(index=_index(k))
    mixes = {name: category_mix(col, labels, k) for name, col in (categorical or {}).items()}
    return SegmentProfiles(table, numeric, mixes, tuple(names))


def _index(k: int) -> pd.Index:
    return pd.Index([*range(k), BASE], name="Cluster", dtype=object)


def group_stats(column: np.ndarray, labels: np.ndarray, k: int) -> pd.DataFrame:
    """Mean, median and quartiles of ``column`` per segment and for the base (NaN ignored).

    Quantiles by selection (``numpy.quantile`` partitions), not a full sort: linear in rows.

    Examples
    --------
    >>> group_stats(np.array([1.0, 2.0, 3.0, np.nan]), np.array([0, 0, 1, 1]), 2)["median"].tolist()
    [1.5, 3.0, 2.0]
    """
    ok = np.isfinite(column)
    v, g = (column, labels) if ok.all() else (column[ok], labels[ok])
    order = np.argsort(g, kind="stable")  # integer keys: a radix sort, cheap even at 10^7
    v = v[order]
    counts = np.bincount(g, minlength=k)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rows = [_stats(v[starts[seg]:starts[seg] + counts[seg]]) for seg in range(k)]
    rows.append(_stats(v))
    return pd.DataFrame(rows, index=_index(k), columns=list(STATS))


def _stats(values: np.ndarray) -> list[float]:
    if values.size == 0:
        return [np.nan] * len(STATS)
    q1, median, q3 = np.quantile(values, [0.25, 0.5, 0.75])
    return [float(values.mean()), float(median), float(q1), float(q3)]


def category_mix(column: np.ndarray | pa.Array | pa.ChunkedArray, labels: np.ndarray, k: int
                 ) -> pd.DataFrame:
    """Share of each category per segment and for the base (missing cells left out).

    ``column`` is text (NumPy object array or Arrow); counted with one ``bincount`` over
    (segment, category) codes.

    Examples
    --------
    >>> mix = category_mix(np.array(["F", "M", "F", None], dtype=object), np.array([0, 0, 1, 1]), 2)
    >>> float(mix.loc[0, "F"]), float(mix.loc["all", "F"])
    (0.5, 0.6666666666666666)
    """
    codes, categories = _category_codes(column)
    order = sorted(range(len(categories)), key=lambda i: str(categories[i]))
    m = len(categories)
    present = codes >= 0
    counts = np.bincount(labels[present] * m + codes[present], minlength=k * m).reshape(k, m)
    counts = counts[:, order].astype(float)
    table = np.vstack([counts, counts.sum(axis=0)])
    totals = table.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(totals > 0, table / np.where(totals > 0, totals, 1), np.nan)
    return pd.DataFrame(shares, index=_index(k), columns=[str(categories[i]) for i in order])


def _category_codes(column: np.ndarray | pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, list]:
    """Integer code per cell (-1: missing) and the categories, without per-cell Python objects."""
    if isinstance(column, pa.Array | pa.ChunkedArray):
        encoded = pc.dictionary_encode(column)
        if isinstance(encoded, pa.ChunkedArray):
            encoded = encoded.unify_dictionaries().combine_chunks()
        codes = pc.fill_null(encoded.indices, -1).to_numpy().astype(np.int64)
        return codes, encoded.dictionary.to_pylist()
    codes, categories = pd.factorize(pd.Series(column, dtype=object))
    return codes.astype(np.int64), list(categories)


def profile_columns(validated: ValidatedTable) -> tuple[dict[str, np.ndarray], dict[str, pa.Array]]:
    """The other numeric and the categorical columns of ``validated`` worth profiling.

    Returns
    -------
    numeric : dict of str to numpy.ndarray
        Column name (as in the input) to float values of the clean rows (NaN: not a number).
    categorical : dict of str to pyarrow.Array
        Column name to text cells (null: missing).
    """
    skip = {*validated.feature_columns, validated.id_column}
    numeric: dict[str, np.ndarray] = {}
    categorical: dict[str, pa.Array] = {}
    n = validated.n_rows
    for name in validated.table.column_names:
        if name in skip or n == 0:
            continue
        column = validated.table.column(name)
        # Decide on a sample first: parsing 10^7 words as numbers just to learn they are not
        # is the slowest thing a profile could do.
        head = column.slice(0, SNIFF_ROWS)
        if (parse_numbers(head)[1] == 0).sum() >= NUMERIC_SHARE * len(head):
            values, codes = parse_numbers(column)
            if (codes == 0).sum() >= NUMERIC_SHARE * n:
                distinct = np.unique(values[np.isfinite(values)][:SNIFF_ROWS])
                if len(distinct) <= MAX_CODES and np.all(distinct == np.round(distinct)):
                    full = pc.unique(pa.array(values[np.isfinite(values)]))
                    if len(full) <= MAX_CODES:
                        categorical[name] = _code_text(values)
                        continue
                numeric[name] = values
                continue
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
                or pa.types.is_dictionary(column.type) or pa.types.is_boolean(column.type)):
            continue
        text = pc.utf8_trim_whitespace(pc.cast(column, pa.string()))
        text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
        if 2 <= pc.count_distinct(text).as_py() <= MAX_CATEGORIES:
            categorical[name] = text
    return numeric, categorical


def _code_text(values: np.ndarray) -> pa.Array:
    """Whole-number codes as text categories (``1``, ``2``), null where not a number."""
    finite = np.isfinite(values)
    ints = pa.array(np.where(finite, values, 0).astype(np.int64), mask=~finite)
    return pc.cast(ints, pa.string())
