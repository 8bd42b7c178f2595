"""The arithmetic every engine shares: scaling, nearest centroid, per-centroid totals, blocks.

Reproducible sums
-----------------
Floating-point addition is not associative, so summing the same rows in batches of different
sizes gives results that differ in the last bits. Every sum custseg makes over all rows (the
scaler's moments, the centroids' sums, inertia, the profiles' means) is therefore taken over
fixed blocks of :data:`BLOCK_ROWS` valid rows, counted from the first valid row of the table,
and the block totals are added in row order. :class:`Blocks` cuts any stream of batches into
those blocks, so an engine holding the table in memory and one reading it in batches of any
size compute the same bits.

Nearest centroid
----------------
:func:`nearest` uses scikit-learn's arithmetic (``||c||² - 2 z·c``, argmin, one BLAS thread),
so labels agree with what a pickled scikit-learn pipeline or :class:`custseg.Segmenter` predict
for the same rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

#: Rows per block of the reproducible sums (see the module notes).
BLOCK_ROWS = 1 << 16


def single_blas() -> threadpool_limits:
    """Context: one BLAS thread, as scikit-learn's ``predict`` uses (same summation order, and
    faster for these thin products). Entered once around a pass, not per block."""
    return threadpool_limits(1, user_api="blas")


def scaled(X: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``(X - mean) / scale``: ``StandardScaler.transform``'s operations, so the same bits."""
    Z = np.asarray(X, dtype=np.float64) - mean
    Z /= scale
    return Z


def nearest(Z: np.ndarray, centers: np.ndarray, squared: bool = False
            ) -> tuple[np.ndarray, np.ndarray | None]:
    """Nearest centroid of each row (first on ties) and, with ``squared``, the squared distance.

    Examples
    --------
    >>> labels, d2 = nearest(np.array([[0.0, 0.0], [2.9, 3.0]]), np.array([[0.0, 0.1], [3.0, 3.0]]),
    ...                      squared=True)
    >>> labels.tolist(), d2.round(2).tolist()
    ([0, 1], [0.01, 0.01])
    """
    norms = np.einsum("ij,ij->i", centers, centers)
    D = Z @ centers.T
    D *= -2.0
    D += norms
    labels = np.argmin(D, axis=1)
    if not squared:
        return labels, None
    distance = D[np.arange(len(Z)), labels] + np.einsum("ij,ij->i", Z, Z)
    np.maximum(distance, 0.0, out=distance)
    return labels, distance


def distances_to(Z: np.ndarray, centers: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Euclidean distance of each row of ``Z`` to the centroid ``labels`` names.

    Examples
    --------
    >>> distances_to(np.array([[3.0, 4.0]]), np.array([[0.0, 0.0]]), np.array([0])).tolist()
    [5.0]
    """
    diff = Z - centers[labels]
    return np.sqrt(np.einsum("ij,ij->i", diff, diff))


def group_sums(labels: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    """Per-label sums of each column of ``values`` (shape (k, columns)), one bincount a column."""
    return np.stack([np.bincount(labels, weights=values[:, j], minlength=k)
                     for j in range(values.shape[1])], axis=1) if values.shape[1] else np.zeros((k, 0))


class Blocks:
    """Cut a stream of row batches into blocks of exactly ``size`` rows (the last one shorter).

    ``feed(a, b, ...)`` takes arrays aligned on their first axis; ``consume(a, b, ...)`` is
    called with each full block, in order, and :meth:`flush` hands over the rest. Blocks of a
    large batch are views of it; rows left over between batches are copied.

    Examples
    --------
    >>> sizes = []
    >>> blocks = Blocks(lambda a: sizes.append(len(a)), size=4)
    >>> for n in (3, 3, 5):
    ...     blocks.feed(np.zeros(n))
    >>> blocks.flush()
    >>> sizes
    [4, 4, 3]
    """

    def __init__(self, consume: Callable[..., None], size: int = BLOCK_ROWS) -> None:
        self.consume = consume
        self.size = size
        self._carry: list[tuple[np.ndarray, ...]] = []
        self._carry_rows = 0

    def feed(self, *arrays: np.ndarray) -> None:
        """Add rows (every array holds the same number of rows)."""
        n = len(arrays[0])
        start = 0
        if self._carry_rows:
            start = min(self.size - self._carry_rows, n)
            self._carry.append(tuple(np.array(a[:start]) for a in arrays))
            self._carry_rows += start
            if self._carry_rows == self.size:
                self._emit_carry()
        while n - start >= self.size:
            self.consume(*(a[start:start + self.size] for a in arrays))
            start += self.size
        if start < n:
            self._carry.append(tuple(np.array(a[start:]) for a in arrays))
            self._carry_rows += n - start

    def flush(self) -> None:
        """Hand over the rows of an unfinished block."""
        if self._carry_rows:
            self._emit_carry()

    def _emit_carry(self) -> None:
        parts = list(zip(*self._carry, strict=True))
        self._carry, self._carry_rows = [], 0
        self.consume(*(np.concatenate(p) for p in parts))


@dataclass(frozen=True)
class PassTotals:
    """What one pass over every valid row accumulated under fixed centroids.

    Attributes
    ----------
    sums : numpy.ndarray
        Per centroid, the sum of its rows (scaled), shape (k, d).
    counts : numpy.ndarray
        Rows per centroid, int64.
    inertia : float
        Sum of squared (scaled) distances of the rows to their nearest centroid; NaN when the
        pass did not total it.
    """

    sums: np.ndarray
    counts: np.ndarray
    inertia: float

    @property
    def n_rows(self) -> int:
        """Rows seen."""
        return int(self.counts.sum())

    def centers(self, previous: np.ndarray) -> np.ndarray:
        """The means of the clusters (a cluster without rows keeps ``previous``'s centroid)."""
        new = np.array(previous, dtype=np.float64, copy=True)
        filled = self.counts > 0
        new[filled] = self.sums[filled] / self.counts[filled, None]
        return new


class PassAccumulator:
    """Per-centroid totals of one pass, block by block (:data:`BLOCK_ROWS` rows each).

    Examples
    --------
    >>> acc = PassAccumulator(np.array([[0.0], [10.0]]), np.zeros(1), np.ones(1))
    >>> acc.add(np.array([[0.0], [1.0], [10.0], [12.0]]))
    >>> t = acc.totals()
    >>> t.counts.tolist(), t.centers(np.zeros((2, 1))).ravel().tolist(), t.inertia
    ([2, 2], [0.5, 11.0], 5.0)
    """

    def __init__(self, centers: np.ndarray, mean: np.ndarray, scale: np.ndarray,
                 inertia: bool = True) -> None:
        self.centers = np.asarray(centers, dtype=np.float64)
        self.mean, self.scale, self.with_inertia = mean, scale, inertia
        k, d = self.centers.shape
        self.sums = np.zeros((k, d))
        self.counts = np.zeros(k, dtype=np.int64)
        self.inertia = 0.0

    def add(self, X: np.ndarray) -> None:
        """Add one block of rows (original units)."""
        Z = scaled(X, self.mean, self.scale)
        labels, squared = nearest(Z, self.centers, squared=self.with_inertia)
        k = len(self.centers)
        self.counts += np.bincount(labels, minlength=k)
        self.sums += group_sums(labels, Z, k)
        if self.with_inertia:
            self.inertia += float(squared.sum())

    def totals(self) -> PassTotals:
        """The pass's totals."""
        return PassTotals(self.sums, self.counts, self.inertia if self.with_inertia else float("nan"))
