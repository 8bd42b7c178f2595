"""The final fit on every row: exact Lloyd iterations through an engine, and stable numbering.

Each iteration is one engine pass (:meth:`custseg.engines.base.Engine.lloyd_pass`): every valid
row is assigned to its nearest centroid and, per centroid, the rows' sum and count are totalled;
the new centroids are those sums divided by the counts. That is Lloyd's algorithm on all rows,
as scikit-learn runs it in memory, not a mini-batch approximation; the engine's fixed blocks make
the sums the same bits on every engine.

Convergence follows scikit-learn's ``KMeans``: stop when the squared shift of the centroids
(summed over clusters) is at most ``tol`` times the mean variance of the scaled features, or after
``max_iter`` iterations; at least one iteration always runs. A cluster that receives no row keeps
its centroid. One more pass under the final centroids gives the exact cluster sizes and inertia.

Segment numbering rule
----------------------
K-Means numbers its clusters arbitrarily, so custseg renumbers them: segment 0 is the largest,
then by descending size; segments of equal size are ordered by their centroid coordinates
(first feature first, ascending). The same data therefore gives the same ``Cluster`` column
whatever the seed, as long as the seeds reach the same partition.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.preprocessing import StandardScaler

from custseg.engines.base import Engine
from custseg.engines.kernels import compiles
from custseg.progress import Progress
from custseg.segmentation.kmeans import fit_kmeans
from custseg.segmentation.selection import KSelection

#: scikit-learn's defaults for KMeans.
MAX_ITER = 300
TOL = 1e-4


@dataclass(frozen=True)
class CentroidFit:
    """A K-Means partition of every valid row, in segment order.

    Attributes
    ----------
    centers : numpy.ndarray
        Centroids in the scaled space, shape (k, d), segment 0 (the largest) first.
    sizes : numpy.ndarray
        Rows nearest to each centroid (int64), exact.
    inertia : float
        Sum of squared scaled distances of the rows to their nearest centroid, exact.
    n_iter : int
        Lloyd iterations (at least 1).
    converged : bool
        Whether the shift fell to the tolerance before ``max_iter``.
    tolerance : float
        The absolute tolerance used (``tol`` times the mean scaled variance).
    shifts : list of float
        Squared centroid shift of each iteration.
    """

    centers: np.ndarray
    sizes: np.ndarray
    inertia: float
    n_iter: int
    converged: bool
    tolerance: float
    shifts: list[float] = field(default_factory=list)

    @property
    def k(self) -> int:
        """Number of segments."""
        return int(self.centers.shape[0])


def stable_order(centers: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Order clusters by descending size, ties by centroid coordinates (ascending).

    Returns the permutation ``order`` such that segment ``i`` is cluster ``order[i]``.

    Examples
    --------
    >>> stable_order(np.array([[5.0], [1.0], [3.0]]), np.array([1, 2, 2])).tolist()
    [1, 2, 0]
    """
    keys = [centers[:, j] for j in range(centers.shape[1] - 1, -1, -1)]
    return np.lexsort([*keys, -np.asarray(sizes)])


def lloyd(engine: Engine, init: np.ndarray, scaler: StandardScaler, *,
          max_iter: int = MAX_ITER, tol: float = TOL, progress: Progress | None = None
          ) -> CentroidFit:
    """Lloyd's algorithm over every valid row of ``engine``, from the centroids ``init``.

    Parameters
    ----------
    engine : Engine
        Scanned (its rows are known).
    init : numpy.ndarray
        Starting centroids in the scaled space, shape (k, d) (the best found on the sample).
    scaler : sklearn.preprocessing.StandardScaler
        Fitted on every valid row (the scan's): scaled = (x - mean_) / scale_.
    max_iter : int, default 300
        Most iterations.
    tol : float, default 1e-4
        Relative tolerance, as scikit-learn's.
    progress : Progress, optional
        Where to show the passes.

    Returns
    -------
    CentroidFit
        Centroids in segment order (:func:`stable_order`).
    """
    if max_iter < 1:
        raise ValueError(f"max_iter must be at least 1, got {max_iter}.")
    centers = np.array(init, dtype=np.float64, copy=True)
    mean, scale = scaler.mean_, scaler.scale_
    n = engine.n_valid
    # scikit-learn's tolerance: tol times the mean variance of the (scaled) data it clusters.
    tolerance = float(np.mean(scaler.var_ / scale**2)) * tol
    shifts: list[float] = []
    converged = False
    for iteration in range(1, max_iter + 1):
        totals = engine.lloyd_pass(centers, mean, scale, progress=progress,
                                   description=f"K-Means pass {iteration} over {n:,} customers")
        new = totals.centers(centers)
        shift = float(((new - centers) ** 2).sum())
        shifts.append(shift)
        centers = new
        if shift <= tolerance:
            converged = True
            break
    final = engine.lloyd_pass(centers, mean, scale, inertia=True, progress=progress,
                              description=f"Counting {n:,} customers per segment")
    order = stable_order(centers, final.counts)
    return CentroidFit(centers=np.ascontiguousarray(centers[order]), sizes=final.counts[order],
                       inertia=float(final.inertia), n_iter=len(shifts), converged=converged,
                       tolerance=tolerance, shifts=shifts)



def fit_centroids(engine: Engine, scaler: StandardScaler, sample_scaled: np.ndarray, k: int, *,
                  selection: KSelection | None = None, init: np.ndarray | None = None,
                  n_init: int = 10, seed: int = 0, max_iter: int = MAX_ITER, tol: float = TOL,
                  progress: Progress | None = None) -> CentroidFit:
    """The segments of every valid row: a start found on the sample, then :func:`lloyd`.

    The start is ``init`` when given, else the K choice's best centroids for ``k`` on the sample
    (``selection.sample_centers``: k-means++ starts refined by random swap), else a fresh fit of
    the sample (:func:`custseg.segmentation.kmeans.fit_kmeans`, e.g. for a K the choice did not
    score).

    Parameters
    ----------
    engine : Engine
        Scanned.
    scaler : sklearn.preprocessing.StandardScaler
        The scan's scaler.
    sample_scaled : numpy.ndarray
        The run's sample, scaled.
    k : int
        Number of segments.
    selection : KSelection, optional
        The K choice made on the same sample.
    init : numpy.ndarray, optional
        Starting centroids (scaled), shape (k, d).
    n_init, seed : int
        k-means++ starts and seed of a fresh fit of the sample.
    max_iter, tol, progress
        As :func:`lloyd`.
    """
    if init is None and selection is not None and selection.sample_centers is not None \
            and len(selection.sample_centers) == k:
        init = selection.sample_centers
    if init is None:
        init = fit_kmeans(sample_scaled, k, n_init=n_init, seed=seed,
                          compiled=compiles(engine.n_valid)).centers
    return lloyd(engine, np.asarray(init, dtype=np.float64), scaler, max_iter=max_iter, tol=tol,
                 progress=progress)
