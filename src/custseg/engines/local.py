"""In-memory K-Means with scikit-learn: k-means++ seeding, several starts, the best kept."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning

from custseg.engines.base import KMeansFit


def fit_kmeans(
    Z: np.ndarray,
    k: int,
    *,
    n_init: int = 10,
    seed: int = 0,
    max_iter: int = 300,
    tol: float = 1e-4,
) -> KMeansFit:
    """Fit K-Means to ``Z`` and keep the start with the lowest inertia.

    Parameters
    ----------
    Z : numpy.ndarray
        Scaled features, shape (n_rows, n_features).
    k : int
        Number of clusters.
    n_init : int, default 10
        k-means++ starts.
    seed : int, default 0
        Random seed.
    max_iter, tol
        Lloyd's iteration limit and convergence tolerance (as scikit-learn).

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
    model = KMeans(n_clusters=k, init="k-means++", n_init=n_init, max_iter=max_iter, tol=tol,
                   random_state=seed)
    with warnings.catch_warnings():
        # Duplicate points can leave fewer distinct clusters than k; the caller reports sizes.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(Z)
    return KMeansFit(
        centers=np.asarray(model.cluster_centers_, dtype=np.float64),
        labels=model.labels_.astype(np.int32, copy=False),
        inertia=float(model.inertia_),
        n_iter=int(model.n_iter_),
    )
