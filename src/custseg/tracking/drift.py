"""Drift between two runs: feature distributions, segment sizes, atypical customers, and what to do.

Population stability index (PSI)
--------------------------------
For one feature, cut the *previous* (expected) values into ``bins`` quantile bins (edges at the
previous deciles by default, repeated edges dropped, the outer bins open-ended so every new value
falls in a bin; a bin holds the values ``<=`` its upper edge), and compare the shares ``e`` of
previous and ``a`` of new values per bin::

    PSI = sum over bins of (a - e) * ln(a / e)

An empty bin's share is replaced by ``EPSILON`` = 1e-4 (one customer in ten thousand) so the
logarithm stays finite; an empty bin then adds a large, but bounded, term. Conventional reading:
below 0.1 stable, 0.1 to 0.25 a moderate shift, above 0.25 a major shift.

Recommendation rule (:func:`recommend`)
---------------------------------------
Re-fit when any of these holds, otherwise keep the previous model and re-score new data with
``custseg predict``:

- a feature's PSI is above 0.25 (``PSI_MAJOR``): the customer base itself changed;
- more than 5% (``ATYPICAL_MAX``) of the customers are atypical under the previous model (farther
  from their segment's centroid than that segment's threshold, the 99th percentile of its training
  distances, so about 1% when nothing changed): the old segments no longer describe them;
- a segment is new or retired (:mod:`custseg.tracking.matching`): the structure changed;
- a segment's share of customers moved by more than 5 percentage points (``SHARE_SHIFT_MAX``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from custseg.engines.kernels import distances_to, nearest, scaled, single_blas
from custseg.engines.prepare import FeaturePrep
from custseg.exceptions import ConfigError, DataValidationError

if TYPE_CHECKING:
    from custseg.tracking.matching import SegmentMatch

#: Share given to an empty bin (one customer in ten thousand) so ln(a / e) stays finite.
EPSILON = 1e-4
#: PSI below this: stable.
PSI_MODERATE = 0.1
#: PSI above this: major shift (re-fit).
PSI_MAJOR = 0.25
#: Share of atypical customers under the previous model above which we re-fit.
ATYPICAL_MAX = 0.05
#: Change of a segment's share, in percentage points, above which we re-fit.
SHARE_SHIFT_MAX = 5.0

KEEP = "keep"
REFIT = "refit"
ACTIONS = {
    KEEP: "Keep the previous model and re-score new customers with custseg predict.",
    REFIT: "Re-fit the segments: the previous model no longer describes the customers well.",
}


def psi_reading(value: float) -> str:
    """The conventional reading of a PSI value.

    Examples
    --------
    >>> psi_reading(0.02), psi_reading(0.15), psi_reading(0.4)
    ('stable', 'moderate shift', 'major shift')
    """
    if value < PSI_MODERATE:
        return "stable"
    return "moderate shift" if value <= PSI_MAJOR else "major shift"


def _finite(values: np.ndarray | Sequence[float], what: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).ravel()
    if array.size == 0:
        raise DataValidationError(f"No {what} values to compare: PSI needs customers in both runs.")
    if not np.isfinite(array).all():
        raise DataValidationError(f"The {what} values contain NaN or infinity: PSI needs finite numbers.")
    return array


def psi_edges(expected: np.ndarray | Sequence[float], bins: int = 10) -> np.ndarray:
    """Inner bin edges: the quantiles of ``expected`` at 1/bins .. (bins-1)/bins, repeats dropped.

    Examples
    --------
    >>> psi_edges([1, 2, 3, 4, 5, 6, 7, 8], bins=4).tolist()
    [2.75, 4.5, 6.25]
    >>> psi_edges([1, 1, 1, 1, 2], bins=4).tolist()
    [1.0]
    """
    if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or bins < 2:
        raise ConfigError(f"PSI needs at least 2 bins, got {bins!r}.")
    expected = _finite(expected, "previous")
    return np.unique(np.quantile(expected, np.linspace(0.0, 1.0, bins + 1)[1:-1]))


def _shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    counts = np.bincount(np.searchsorted(edges, values, side="left"), minlength=edges.size + 1)
    shares = counts / values.size
    return np.where(shares == 0, EPSILON, shares)


def psi(expected: np.ndarray | Sequence[float], actual: np.ndarray | Sequence[float], *, bins: int = 10
        ) -> float:
    """Population stability index of one feature (module docstring: formula and reading).

    Parameters
    ----------
    expected : array-like
        The feature in the previous run (sets the bins).
    actual : array-like
        The feature in the new run.
    bins : int, default 10
        Quantile bins of ``expected`` (fewer when quantiles repeat).

    Returns
    -------
    float
        0 when both runs fill the bins alike; larger the more the distribution moved.

    Raises
    ------
    DataValidationError
        If either side is empty or not finite.
    ConfigError
        If ``bins`` < 2.

    Examples
    --------
    >>> round(psi([1, 2, 3, 4, 5, 6, 7, 8], [1, 1, 1, 1, 3, 3, 3, 5, 5, 7], bins=4), 4)
    0.2282
    >>> psi([1, 2, 3], [3, 2, 1])
    0.0
    """
    edges = psi_edges(expected, bins)
    e = _shares(_finite(expected, "previous"), edges)
    a = _shares(_finite(actual, "new"), edges)
    return float(np.sum((a - e) * np.log(a / e)))


def psi_table(prev_values: np.ndarray, new_values: np.ndarray, feature_names: Sequence[str], *,
              bins: int = 10) -> pd.DataFrame:
    """PSI of every feature, with its reading.

    Parameters
    ----------
    prev_values, new_values : numpy.ndarray
        Feature matrices of each run in original units, shape (n, d) with the same d.
    feature_names : sequence of str
        Name of each column.
    bins : int, default 10
        As :func:`psi`.

    Returns
    -------
    pandas.DataFrame
        Columns ``feature``, ``psi``, ``reading``; one row per feature, in column order.

    Examples
    --------
    >>> x = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [4.0, 40.0]])
    >>> psi_table(x, x, ["a", "b"], bins=2)["reading"].tolist()
    ['stable', 'stable']
    """
    prev_values = np.asarray(prev_values, dtype=np.float64)
    new_values = np.asarray(new_values, dtype=np.float64)
    names = list(feature_names)
    if prev_values.ndim != 2 or new_values.ndim != 2 or not (
            prev_values.shape[1] == new_values.shape[1] == len(names)):
        raise DataValidationError(f"Cannot compare features: previous values {prev_values.shape}, new values "
                                  f"{new_values.shape}, {len(names)} feature names.")
    values = [psi(prev_values[:, j], new_values[:, j], bins=bins) for j in range(len(names))]
    return pd.DataFrame({"feature": pd.array(names, dtype="str"), "psi": values,
                         "reading": pd.array([psi_reading(v) for v in values], dtype="str")})


def size_changes(prev_sizes: Mapping[int, int], new_sizes: Mapping[int, int]) -> pd.DataFrame:
    """Customers and share of each segment in both runs, and the change of share.

    Parameters
    ----------
    prev_sizes, new_sizes : mapping of int to int
        Customers per segment (stable) id in each run.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``segment`` (every id of either run, ascending): ``previous_size``,
        ``new_size`` (0 where absent), ``previous_pct``, ``new_pct`` (share of the run's
        customers, %), ``change_pp`` (new - previous, percentage points) and ``status``
        (``kept``, ``new`` or ``retired``).

    Examples
    --------
    >>> t = size_changes({0: 60, 1: 40}, {0: 50, 2: 50})
    >>> t[["new_pct", "change_pp", "status"]].to_dict("list")
    {'new_pct': [50.0, 0.0, 50.0], 'change_pp': [-10.0, -40.0, 50.0], 'status': ['kept', 'retired', 'new']}
    """
    ids = sorted({int(i) for i in prev_sizes} | {int(i) for i in new_sizes})
    index = pd.Index(ids, name="segment", dtype=np.int64)
    prev = np.array([int(prev_sizes.get(i, 0)) for i in ids], dtype=np.int64)
    new = np.array([int(new_sizes.get(i, 0)) for i in ids], dtype=np.int64)
    if (prev < 0).any() or (new < 0).any():
        raise DataValidationError("Segment sizes must be counts >= 0.")
    prev_pct = 100.0 * prev / prev.sum() if prev.sum() else np.zeros(len(ids))
    new_pct = 100.0 * new / new.sum() if new.sum() else np.zeros(len(ids))
    status = ["kept" if i in prev_sizes and i in new_sizes else "new" if i in new_sizes else "retired"
              for i in ids]
    return pd.DataFrame({"previous_size": prev, "new_size": new, "previous_pct": prev_pct, "new_pct": new_pct,
                         "change_pp": new_pct - prev_pct, "status": pd.array(status, dtype="str")},
                        index=index)


def atypical_share(distances: np.ndarray, labels: np.ndarray, thresholds: np.ndarray | float) -> float:
    """Share of customers farther from their segment's centroid than that segment's threshold.

    Parameters
    ----------
    distances : numpy.ndarray
        Each customer's distance to the centroid of the segment the *previous* model assigns,
        in its scaled space (``previous.transform(X).min(axis=1)``), shape (n,).
    labels : numpy.ndarray
        That segment (previous positions 0..k-1), shape (n,).
    thresholds : numpy.ndarray or float
        Per-segment distance threshold, shape (k,) (the model file's 99th percentiles), or one
        for all segments.

    Returns
    -------
    float
        Share in 0..1; 0.0 for no customers.

    Examples
    --------
    >>> atypical_share(np.array([0.5, 2.0, 1.0, 3.0]), np.array([0, 0, 1, 1]), np.array([1.0, 2.5]))
    0.5
    """
    distances = np.asarray(distances, dtype=np.float64).ravel()
    labels = np.asarray(labels).ravel()
    if distances.shape != labels.shape:
        raise DataValidationError(f"{distances.size} distances but {labels.size} segment labels: "
                                  "give one of each per customer.")
    if distances.size == 0:
        return 0.0
    limits = np.asarray(thresholds, dtype=np.float64)
    limit = limits[labels] if limits.ndim else limits
    return float(np.count_nonzero(distances > limit) / distances.size)


@dataclass(frozen=True)
class Recommendation:
    """Whether to keep the previous model or re-fit, and why.

    Attributes
    ----------
    action : {"keep", "refit"}
        ``keep``: keep the previous model and re-score with ``custseg predict``; ``refit``: re-fit.
    reasons : tuple of str
        Plain-language reasons: every rule that fired for ``refit``, the evidence of stability
        for ``keep``.
    """

    action: Literal["keep", "refit"]
    reasons: tuple[str, ...]

    @property
    def message(self) -> str:
        """The action as a sentence for the report."""
        return ACTIONS[self.action]

    @property
    def refit(self) -> bool:
        """Whether re-fitting is recommended."""
        return self.action == REFIT


def _psi_mapping(psi_by_feature: Mapping[str, float] | pd.DataFrame) -> dict[str, float]:
    if isinstance(psi_by_feature, pd.DataFrame):
        return dict(zip(psi_by_feature["feature"], psi_by_feature["psi"].astype(float), strict=True))
    return {str(k): float(v) for k, v in psi_by_feature.items()}


def _structure(count: int, status: str) -> str:
    """A sentence on new or retired segments."""
    if status == "new":
        return (f"{count} new segment{'s' if count > 1 else ''} appeared that the previous model "
                "does not have.")
    return f"{count} previous segment{'s no longer exist' if count > 1 else ' no longer exists'}."


def recommend(psi_by_feature: Mapping[str, float] | pd.DataFrame, size_changes: pd.DataFrame | None = None,
              atypical_share: float | None = None, match: SegmentMatch | None = None, *,
              names: Mapping[int, str] | None = None) -> Recommendation:
    """Keep the previous model or re-fit (module docstring: the rule).

    Parameters
    ----------
    psi_by_feature : mapping of str to float, or pandas.DataFrame
        PSI per feature (or :func:`psi_table`'s result).
    size_changes : pandas.DataFrame, optional
        :func:`size_changes`'s result.
    atypical_share : float, optional
        Share (0..1) of new customers atypical under the previous model (:func:`atypical_share`).
    match : SegmentMatch, optional
        Segment matching (:func:`custseg.tracking.matching.match_segments`); new or retired segments
        call for a re-fit.
    names : mapping of int to str, optional
        Segment names by id for the reasons; default ``segment <id>``.

    Returns
    -------
    Recommendation

    Examples
    --------
    >>> r = recommend({"Income": 0.03, "Spending": 0.31}, atypical_share=0.01)
    >>> r.action, r.reasons
    ('refit', ('Spending has shifted (PSI 0.31 > 0.25).',))
    >>> recommend({"Income": 0.03}, atypical_share=0.01).action
    'keep'
    """
    names = names or {}
    psis = _psi_mapping(psi_by_feature)
    refit: list[str] = []
    keep: list[str] = []
    for feature, value in psis.items():
        if value > PSI_MAJOR:
            refit.append(f"{feature} has shifted (PSI {value:.2f} > {PSI_MAJOR:g}).")
    if psis and not refit:
        worst = max(psis, key=lambda f: psis[f])
        state = "stable" if psis[worst] < PSI_MODERATE else "within a moderate shift"
        keep.append(f"Every feature is {state} (largest PSI: {worst} {psis[worst]:.2f} <= {PSI_MAJOR:g}).")
    if atypical_share is not None:
        if atypical_share > ATYPICAL_MAX:
            refit.append(f"{atypical_share:.1%} of the customers are atypical under the previous model "
                         f"(more than {ATYPICAL_MAX:.0%}).")
        else:
            keep.append(f"Only {atypical_share:.1%} of the customers are atypical under the previous model "
                        f"(at most {ATYPICAL_MAX:.0%}).")
    if match is not None:
        if match.new:
            refit.append(_structure(len(match.new), "new"))
        if match.retired:
            refit.append(_structure(len(match.retired), "retired"))
        if not match.new and not match.retired:
            keep.append("Every segment matches a previous one.")
    elif size_changes is not None and "status" in size_changes:
        for status in ("new", "retired"):
            count = int((size_changes["status"] == status).sum())
            if count:
                refit.append(_structure(count, status))
    if size_changes is not None and len(size_changes):
        kept = size_changes[size_changes["status"] == "kept"] if "status" in size_changes else size_changes
        moved = kept[kept["change_pp"].abs() > SHARE_SHIFT_MAX]
        for segment, row in moved.iterrows():
            name = names.get(int(segment), f"Segment {segment}")
            refit.append(f"{name} went from {row['previous_pct']:.1f}% to {row['new_pct']:.1f}% of the "
                         f"customers (more than {SHARE_SHIFT_MAX:g} points).")
        if moved.empty and len(kept):
            keep.append(f"No segment's share moved by more than {SHARE_SHIFT_MAX:g} percentage points.")
    if refit:
        return Recommendation(REFIT, tuple(refit))
    return Recommendation(KEEP, tuple(keep))


class AtypicalCounter:
    """How many customers of a later run are atypical under the previous model: farther from
    their nearest previous centroid than that segment's distance threshold. Counted batch by
    batch over every customer (:meth:`count`).

    Parameters
    ----------
    mean, scale : numpy.ndarray
        The previous model's scaler.
    centers : numpy.ndarray
        Its centroids in its scaled space.
    thresholds : numpy.ndarray
        Its segments' distance thresholds.

    Examples
    --------
    >>> counter = AtypicalCounter(np.zeros(1), np.ones(1), np.array([[0.0], [10.0]]), np.array([1.0, 1.0]))
    >>> counter.count(np.array([[0.5], [3.0], [10.0], [12.0]]))
    >>> counter.share
    0.5
    """

    def __init__(self, mean: np.ndarray, scale: np.ndarray, centers: np.ndarray,
                 thresholds: np.ndarray, prepare: FeaturePrep | None = None) -> None:
        self.mean, self.scale, self.prepare = mean, scale, prepare
        self.centers, self.thresholds = np.asarray(centers, float), np.asarray(thresholds, float)
        self.atypical = 0
        self.n = 0

    def absorb(self, atypical: int, n: int) -> None:
        """Take counts an engine made itself (instead of :meth:`count`)."""
        self.atypical += int(atypical)
        self.n += int(n)

    def count(self, values: np.ndarray) -> None:
        """Count customers (feature values in original units)."""
        Z = scaled(values if self.prepare is None else self.prepare.forward(values), self.mean,
                   self.scale)
        with single_blas():
            labels, _ = nearest(Z, self.centers)
        distance = distances_to(Z, self.centers, labels)
        self.atypical += int((distance > self.thresholds[labels]).sum())
        self.n += len(values)

    @property
    def share(self) -> float:
        """Share of the customers counted that are atypical (NaN before any)."""
        return self.atypical / self.n if self.n else float("nan")
