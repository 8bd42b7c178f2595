"""scikit-learn's K-Means fit, bit for bit, without its per-call overhead.

The K choice fits K-Means a few hundred times on a few thousand rows at most (the stability
subsamples, the uniform references of the gap statistic and the structure test, the starts of
every K). At that size ``KMeans(...).fit`` spends more time checking its input, finding its
thread settings and computing k-means++ distances through general-purpose helpers than in
Lloyd's loop. :func:`lean_kmeans` does what ``KMeans(k, n_init=..., max_iter=..., tol=...,
random_state=seed).fit(X)`` does for dense float64 rows, in the same order with the same random
draws, calling scikit-learn's own compiled Lloyd iterations: same centroids, labels, inertia
and iteration count, to the bit (``tests/test_leankmeans.py`` checks it against ``KMeans``).

It uses scikit-learn's private Lloyd function; if a scikit-learn release moves it, every call
falls back to ``KMeans`` itself (slower, same results).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans

try:  # private: present in scikit-learn 1.2 .. 1.9 at least
    from sklearn.cluster._k_means_common import _is_same_clustering
    from sklearn.cluster._kmeans import _kmeans_single_lloyd, _labels_inertia
    from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
except ImportError:  # pragma: no cover - a scikit-learn that moved them
    _kmeans_single_lloyd = None

__all__ = ["LeanFit", "lean_kmeans", "nearest_labels"]


@dataclass(frozen=True)
class LeanFit:
    """What ``KMeans.fit`` leaves behind, by the same attribute names.

    Attributes
    ----------
    cluster_centers_ : numpy.ndarray
        Shape (k, n_features).
    labels_ : numpy.ndarray
        Cluster of each row (int32).
    inertia_ : float
        Sum of squared distances of the rows to their centroid.
    n_iter_ : int
        Lloyd iterations of the kept start.
    """

    cluster_centers_: np.ndarray
    labels_: np.ndarray
    inertia_: float
    n_iter_: int

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Nearest centroid of each row of ``X`` (as ``KMeans.predict``)."""
        return nearest_labels(X, self.cluster_centers_)


def lean_kmeans(X: np.ndarray, k: int, *, n_init: int = 1, max_iter: int = 300,
                tol: float = 1e-4, seed: int | None = None, init: np.ndarray | None = None
                ) -> LeanFit:
    """``KMeans(k, init=init or "k-means++", n_init=n_init, max_iter=max_iter, tol=tol,
    random_state=seed).fit(X)``, to the bit, for dense rows.

    Parameters
    ----------
    X : numpy.ndarray
        Rows, shape (n, n_features), at least ``k`` of them.
    k : int
        Number of clusters.
    n_init : int, default 1
        k-means++ starts (1 with ``init``).
    max_iter, tol
        Lloyd's iteration limit and relative tolerance (as scikit-learn).
    seed : int, optional
        Seed of the k-means++ draws (``random_state``).
    init : numpy.ndarray, optional
        Starting centroids, shape (k, n_features), instead of k-means++.

    Returns
    -------
    LeanFit

    Examples
    --------
    >>> X = np.array([[0.0], [0.1], [5.0], [5.1]])
    >>> lean_kmeans(X, 2, seed=0).cluster_centers_.ravel().round(2).tolist()
    [5.05, 0.05]
    """
    X = np.array(X, dtype=np.float64, order="C", copy=True)
    if _kmeans_single_lloyd is None or X.ndim != 2 or len(X) < k:  # pragma: no cover
        return _with_kmeans(X, k, n_init, max_iter, tol, seed, init)
    rng = np.random.RandomState(seed)  # what check_random_state makes of an int or None
    weight = np.ones(len(X), dtype=np.float64)
    # KMeans takes the tolerance's scale from the rows before it centres them.
    tol = float(np.mean(np.var(X, axis=0)) * tol) if tol else 0.0
    mean = X.mean(axis=0)
    X -= mean
    if init is not None:
        init = np.array(init, dtype=np.float64, order="C", copy=True) - mean
        n_init = 1
    norms = np.einsum("ij,ij->i", X, X)
    n_threads = _openmp_effective_n_threads()
    best = None
    for _ in range(n_init):
        start = init if init is not None else _plusplus(X, k, norms, weight, rng)
        labels, inertia, centers, n_iter = _kmeans_single_lloyd(
            X, weight, start, max_iter=max_iter, verbose=False, tol=tol, n_threads=n_threads)
        if best is None or (inertia < best[1] and not _is_same_clustering(labels, best[0], k)):
            best = (labels, inertia, centers, n_iter)
    labels, inertia, centers, n_iter = best
    centers += mean
    return LeanFit(centers, labels, float(inertia), int(n_iter))


def nearest_labels(X: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Nearest of ``centers`` for each row of ``X`` (int32), as ``KMeans.predict`` finds it."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    centers = np.ascontiguousarray(centers, dtype=np.float64)
    if _kmeans_single_lloyd is None:  # pragma: no cover
        return _fitted(centers).predict(X)
    return _labels_inertia(X, np.ones(len(X), dtype=np.float64), centers,
                           n_threads=_openmp_effective_n_threads(), return_inertia=False)


def _distances(candidates: np.ndarray, X: np.ndarray, norms: np.ndarray) -> np.ndarray:
    """Squared distances of ``candidates`` to every row, computed as scikit-learn's
    ``_euclidean_distances`` computes them (same operations, same order)."""
    d = -2 * (candidates @ X.T)
    d += np.einsum("ij,ij->i", candidates, candidates)[:, None]
    d += norms.reshape(1, -1)
    np.maximum(d, 0.0, out=d)
    return d


def _plusplus(X: np.ndarray, k: int, norms: np.ndarray, weight: np.ndarray,
              rng: np.random.RandomState) -> np.ndarray:
    """Greedy k-means++ seeding, draw for draw as scikit-learn's ``_kmeans_plusplus``."""
    n, d = X.shape
    centers = np.empty((k, d), dtype=X.dtype)
    trials = 2 + int(np.log(k))
    centers[0] = X[rng.choice(n, p=weight / weight.sum())]
    closest = _distances(centers[0, np.newaxis], X, norms)
    potential = closest @ weight
    for c in range(1, k):
        draws = rng.uniform(size=trials) * potential
        candidates = np.searchsorted(np.cumsum(weight * closest), draws)
        np.clip(candidates, None, closest.size - 1, out=candidates)
        to_candidates = _distances(X[candidates], X, norms)
        np.minimum(closest, to_candidates, out=to_candidates)
        potentials = to_candidates @ weight.reshape(-1, 1)
        best = np.argmin(potentials)
        potential = potentials[best]
        closest = to_candidates[best]
        centers[c] = X[candidates[best]]
    return centers


def _with_kmeans(X: np.ndarray, k: int, n_init: int, max_iter: int, tol: float,
                 seed: int | None, init: np.ndarray | None) -> LeanFit:  # pragma: no cover
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = KMeans(k, init="k-means++" if init is None else init,
                       n_init=1 if init is not None else n_init, max_iter=max_iter, tol=tol,
                       random_state=seed).fit(X)
    return LeanFit(model.cluster_centers_, model.labels_, float(model.inertia_),
                   int(model.n_iter_))


def _fitted(centers: np.ndarray) -> KMeans:  # pragma: no cover - fallback only
    model = KMeans(len(centers), init=centers, n_init=1)
    model.cluster_centers_ = centers
    model._n_threads = 1
    model.n_features_in_ = centers.shape[1]
    return model
