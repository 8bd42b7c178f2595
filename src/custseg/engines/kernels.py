"""Out-of-core K-Means: exact Lloyd iterations over batches of rows.

Each pass reads every row once, batch by batch, assigns each row to its nearest centroid and
accumulates, per cluster, the sum of its rows and their count; the new centroids are those
sums divided by the counts. That is Lloyd's algorithm on all rows, as scikit-learn runs it in
memory, not a mini-batch approximation: only the order of the floating-point additions differs.
Memory is one batch plus K x d sums, whatever the number of rows.

Convergence follows scikit-learn's ``KMeans``: stop when the squared shift of the centroids
(summed over clusters) is at most ``tol`` times the mean variance of the features (measured in
the first pass), or after ``max_iter`` passes. A cluster that receives no row keeps its
centroid (scikit-learn would move it to a far point; from a warm start this does not happen on
data with at least K distinct points per cluster). One more pass under the final centroids
gives the cluster sizes and the inertia that go with them.

Assignment uses the arithmetic of scikit-learn's ``predict`` (:func:`assign_batch`), so the
labels a later ``predict`` or ``custseg predict`` gives agree with the ones counted here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits

#: scikit-learn's defaults for KMeans.
MAX_ITER = 300
TOL = 1e-4


@dataclass(frozen=True)
class PassTotals:
    """What one pass over all rows accumulated under fixed centroids.

    Attributes
    ----------
    sums : numpy.ndarray
        Per cluster, the sum of its rows, shape (k, d).
    counts : numpy.ndarray
        Rows per cluster, int64.
    inertia : float
        Sum of squared distances of the rows to their nearest centroid (NaN when not asked for).
    n_rows : int
        Rows seen.
    variance : numpy.ndarray
        Per-feature population variance of the rows (NaN when not asked for).
    """

    sums: np.ndarray
    counts: np.ndarray
    inertia: float
    n_rows: int
    variance: np.ndarray

    def centers(self, previous: np.ndarray) -> np.ndarray:
        """The means of the clusters (a cluster without rows keeps ``previous``'s centroid)."""
        new = np.array(previous, dtype=np.float64, copy=True)
        filled = self.counts > 0
        new[filled] = self.sums[filled] / self.counts[filled, None]
        return new


@dataclass(frozen=True)
class StreamingFit:
    """A K-Means partition fitted pass by pass.

    Attributes
    ----------
    centers : numpy.ndarray
        Final centroids, shape (k, d), in the order of the initial centroids.
    sizes : numpy.ndarray
        Rows nearest to each final centroid (int64).
    inertia : float
        Sum of squared distances of the rows to their nearest final centroid.
    n_iter : int
        Lloyd iterations (passes that moved the centroids).
    converged : bool
        Whether the shift fell to the tolerance before ``max_iter``.
    n_passes : int
        Passes over the data in all (the iterations plus the final counting pass).
    shifts : list of float
        Squared centroid shift of each iteration.
    tolerance : float
        The absolute tolerance used (``tol`` times the mean feature variance).
    """

    centers: np.ndarray
    sizes: np.ndarray
    inertia: float
    n_iter: int
    converged: bool
    n_passes: int
    shifts: list[float] = field(default_factory=list)
    tolerance: float = 0.0

    @property
    def k(self) -> int:
        """Number of clusters."""
        return int(self.centers.shape[0])


def single_blas() -> threadpool_limits:
    """Context: one BLAS thread, as scikit-learn's ``predict`` and :func:`assign_batch` want.

    Entered once around a pass (entering it costs milliseconds, too much per batch).
    """
    return threadpool_limits(1, user_api="blas")


def assign_batch(Z: np.ndarray, centers: np.ndarray, squared: bool = True
                 ) -> tuple[np.ndarray, np.ndarray | None]:
    """Nearest centroid of each row and the squared distance to it (None unless ``squared``).

    The same operations, in the same order, as :func:`custseg.modelfile.nearest` (scikit-learn's
    ``||c||² - 2 z·c``), so the labels agree bit for bit when called, as the passes here do,
    inside :func:`single_blas`.

    Examples
    --------
    >>> labels, d2 = assign_batch(np.array([[0.0, 0.0], [2.9, 3.0]]), np.array([[0.0, 0.1], [3.0, 3.0]]))
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


def accumulate(batches: Iterable[np.ndarray], centers: np.ndarray, *, inertia: bool = True,
               variance: bool = True) -> PassTotals:
    """One pass: assign every row of every batch to ``centers`` and total per cluster.

    Parameters
    ----------
    batches : iterable of numpy.ndarray
        The rows, in batches of shape (n, d) (scaled as ``centers`` are).
    centers : numpy.ndarray
        Centroids, shape (k, d).
    inertia, variance : bool, default True
        Also total the squared distances, and the per-feature variance (each costs a little).

    Returns
    -------
    PassTotals

    Examples
    --------
    >>> X = np.array([[0.0], [1.0], [10.0], [12.0]])
    >>> t = accumulate([X[:3], X[3:]], np.array([[0.0], [10.0]]))
    >>> t.counts.tolist(), t.centers(np.zeros((2, 1))).ravel().tolist(), t.inertia
    ([2, 2], [0.5, 11.0], 5.0)
    """
    centers = np.asarray(centers, dtype=np.float64)
    k, d = centers.shape
    sums = np.zeros((k, d))
    counts = np.zeros(k, dtype=np.int64)
    total_squared = 0.0
    n = 0
    mean = np.zeros(d)
    m2 = np.zeros(d)
    with single_blas():
        for Z in batches:
            if len(Z) == 0:
                continue
            labels, squared = assign_batch(Z, centers, squared=inertia)
            counts += np.bincount(labels, minlength=k)
            for j in range(d):  # one bincount per feature: features are few, rows many
                sums[:, j] += np.bincount(labels, weights=Z[:, j], minlength=k)
            if inertia:
                total_squared += float(squared.sum())
            m = len(Z)
            if not variance:
                n += m
                continue
            # Per-feature variance by merging batch means and squared deviations (Chan et al.):
            # no cancellation, whatever the data's offset.
            batch_mean = Z.mean(axis=0)
            batch_m2 = ((Z - batch_mean) ** 2).sum(axis=0)
            delta = batch_mean - mean
            total = n + m
            mean = mean + delta * (m / total)
            m2 = m2 + batch_m2 + delta ** 2 * (n * m / total)
            n = total
    spread = m2 / n if n and variance else np.full(d, np.nan)
    return PassTotals(sums, counts, total_squared if inertia else float("nan"), n, spread)


def fit_lloyd(batches: Callable[[int], Iterable[np.ndarray]], init: np.ndarray, *,
              max_iter: int = MAX_ITER, tol: float = TOL) -> StreamingFit:
    """Lloyd's algorithm over data read in batches, from the centroids ``init``.

    Parameters
    ----------
    batches : callable
        ``batches(pass_number)`` returns a fresh iterable over every row (arrays of shape
        (n, d)); called once per pass, numbered from 1 (the last is the counting pass).
    init : numpy.ndarray
        Starting centroids, shape (k, d) (for example the best centroids found on a sample).
    max_iter : int, default 300
        Most Lloyd iterations.
    tol : float, default 1e-4
        Relative tolerance, as scikit-learn's: stop when the squared centroid shift is at most
        ``tol`` times the mean variance of the features.

    Returns
    -------
    StreamingFit

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(c, 0.1, size=(200, 2)) for c in ([0, 0], [3, 3])])
    >>> fit = fit_lloyd(lambda p: (X[i:i + 64] for i in range(0, len(X), 64)),
    ...                 np.array([[0.5, 0.5], [2.0, 2.0]]))
    >>> fit.sizes.tolist(), fit.converged, np.round(fit.centers[1], 1).tolist()
    ([200, 200], True, [3.0, 3.0])
    """
    if max_iter < 1:
        raise ValueError(f"max_iter must be at least 1, got {max_iter}.")
    centers = np.array(init, dtype=np.float64, copy=True)
    shifts: list[float] = []
    tolerance = None
    converged = False
    iterations = 0
    for iterations in range(1, max_iter + 1):
        totals = accumulate(batches(iterations), centers, inertia=False,
                            variance=tolerance is None)
        if totals.n_rows == 0:
            raise ValueError("fit_lloyd: the batches hold no rows.")
        if tolerance is None:
            tolerance = float(np.mean(totals.variance)) * tol
        new = totals.centers(centers)
        shift = float(((new - centers) ** 2).sum())
        shifts.append(shift)
        centers = new
        if shift <= tolerance:
            converged = True
            break
    final = accumulate(batches(iterations + 1), centers, variance=False)
    return StreamingFit(centers=centers, sizes=final.counts, inertia=final.inertia,
                        n_iter=iterations, converged=converged, n_passes=iterations + 1,
                        shifts=shifts, tolerance=float(tolerance))
