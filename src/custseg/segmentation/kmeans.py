"""K-Means on rows held in memory (a run's sample): k-means++ starts, random swap, Lloyd.

1. ``n_init`` k-means++ starts (scikit-learn) on the rows, or on a seeded sample of
   ``FIT_SAMPLE`` rows when there are more; the best start is kept.
2. Random swap (:mod:`custseg.segmentation.swap`) moves it out of its local minimum.
3. Lloyd iterations on every row given, started from those centroids.

The K choice fits every K this way on its sample; the final fit on every row of a run goes
through the engine's Lloyd passes (:mod:`custseg.segmentation.lloyd`), started from these
centroids.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.utils import check_random_state

from custseg.segmentation.leankmeans import lean_kmeans
from custseg.segmentation.swap import random_swap

#: Above this many rows, starts and swaps run on a seeded sample of this size.
FIT_SAMPLE = 50_000


@dataclass(frozen=True)
class KMeansFit:
    """A K-Means partition of rows held in memory, in the scaled feature space.

    Attributes
    ----------
    centers : numpy.ndarray
        Shape (k, n_features): the centroid of each cluster.
    labels : numpy.ndarray
        Cluster of each row (int32), indexes ``centers``.
    inertia : float
        Sum of squared distances of rows to their centroid.
    n_iter : int
        Lloyd iterations of the kept run.
    """

    centers: np.ndarray
    labels: np.ndarray
    inertia: float
    n_iter: int

    @property
    def k(self) -> int:
        """Number of clusters."""
        return int(self.centers.shape[0])


def seed_int(seed: int | np.random.RandomState | None) -> int:
    """An integer seed from an int, a RandomState or None (fresh entropy)."""
    if isinstance(seed, int | np.integer):
        return int(seed)
    return int(check_random_state(seed).randint(0, 2**31 - 1))


def fit_kmeans(
    Z: np.ndarray,
    k: int,
    *,
    n_init: int = 10,
    seed: int | np.random.RandomState | None = 0,
    max_iter: int = 300,
    tol: float = 1e-4,
    refine: bool = True,
    init: np.ndarray | None = None,
    compiled: bool = False,
) -> KMeansFit:
    """Fit K-Means to ``Z``, aiming for the best partition rather than the first local minimum.

    Parameters
    ----------
    Z : numpy.ndarray
        Scaled features, shape (n_rows, n_features).
    k : int
        Number of clusters.
    n_init : int, default 10
        k-means++ starts.
    seed : int, RandomState or None, default 0
        Random seed.
    max_iter, tol
        Lloyd's iteration limit and convergence tolerance (as scikit-learn).
    refine : bool, default True
        Refine the best start by random swap.
    init : numpy.ndarray, optional
        Warm start, shape (k, n_features): skip the starts and the swap and run Lloyd on every
        row from these centroids (for example the best centroids found on a sample).

    Returns
    -------
    KMeansFit

    Examples
    --------
    >>> Z = np.array([[0.0], [0.1], [5.0], [5.1]])
    >>> fit = fit_kmeans(Z, 2, seed=0)
    >>> sorted(fit.centers.ravel().round(2).tolist())
    [0.05, 5.05]
    """
    Z = np.asarray(Z, dtype=np.float64)
    seed = seed_int(seed)
    if k == 1:
        center = Z.mean(axis=0, keepdims=True)
        return KMeansFit(center, np.zeros(len(Z), dtype=np.int32),
                         float(((Z - center) ** 2).sum()), 0)
    # scikit-learn's KMeans, to the bit, without its per-call checks (custseg.segmentation.
    # leankmeans). Duplicate points can leave fewer distinct clusters than k: callers check sizes.
    if init is not None:
        model = lean_kmeans(Z, k, init=init, max_iter=max_iter, tol=tol)
        return KMeansFit(np.asarray(model.cluster_centers_, dtype=np.float64),
                         model.labels_.astype(np.int32, copy=False), float(model.inertia_),
                         int(model.n_iter_))
    rng = np.random.default_rng([seed, 5])
    sample = Z if len(Z) <= FIT_SAMPLE else Z[rng.choice(len(Z), FIT_SAMPLE, replace=False)]
    start = lean_kmeans(sample, k, n_init=n_init, max_iter=max_iter, tol=tol, seed=seed)
    centers = start.cluster_centers_
    if refine:
        centers = random_swap(sample, centers, seed=rng, compiled=compiled).centers
    model = lean_kmeans(Z, k, init=centers, max_iter=max_iter, tol=tol)
    return KMeansFit(
        centers=np.asarray(model.cluster_centers_, dtype=np.float64),
        labels=model.labels_.astype(np.int32, copy=False),
        inertia=float(model.inertia_),
        n_iter=int(model.n_iter_),
    )
