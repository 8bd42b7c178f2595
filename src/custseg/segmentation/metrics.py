"""Partition quality measures, bounded in cost whatever the number of customers."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import silhouette_score
from sklearn.metrics.pairwise import euclidean_distances

#: The silhouette is O(N^2); above this many rows it is computed on a seeded random sample of
#: this size (the mean's standard error is then about 0.005 on Mall-like data).
SILHOUETTE_SAMPLE = 5_000


def silhouette(Z: np.ndarray, labels: np.ndarray, seed: int = 0,
               sample_size: int = SILHOUETTE_SAMPLE) -> float:
    """Mean silhouette of ``labels`` on ``Z``, exact up to ``sample_size`` rows, sampled above.

    Returns NaN when it is undefined (fewer than 2 or as many segments as rows).

    Examples
    --------
    >>> Z = np.array([[0.0], [0.1], [5.0], [5.1]])
    >>> round(silhouette(Z, np.array([0, 0, 1, 1])), 3)
    0.98
    """
    n_labels = len(np.unique(labels))
    if n_labels < 2 or n_labels >= len(labels):
        return float("nan")
    size = sample_size if len(labels) > sample_size else None
    return float(silhouette_score(Z, labels, sample_size=size, random_state=seed))


def silhouette_from_distances(D: np.ndarray, labels: np.ndarray) -> float:
    """Exact mean silhouette from a precomputed distance matrix, in one matrix product.

    Scoring many partitions of the same rows (one per K) then costs one distance matrix, not
    one per partition. Singletons score 0, as in scikit-learn.

    Examples
    --------
    >>> X = np.array([[0.0], [0.1], [5.0], [5.1]])
    >>> D = np.abs(X - X.T)
    >>> round(silhouette_from_distances(D, np.array([0, 0, 1, 1])), 3)
    0.98
    """
    onehot = _onehot(labels)
    return float(_row_silhouettes(D @ onehot, onehot.sum(axis=0), labels).mean())


#: Rows of the distance matrix held at a time by :func:`silhouette_rows` (x all rows x 8 bytes).
SILHOUETTE_CHUNK = 1_000


def silhouette_rows(Z: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Silhouette of each row (as :func:`sklearn.metrics.silhouette_samples`, to about 1e-10).

    The distances to all rows of each segment are one matrix product per chunk of rows,
    rather than scikit-learn's reduction segment by segment: four times faster on 5,000 rows.

    Examples
    --------
    >>> silhouette_rows(np.array([[0.0], [0.1], [5.0], [5.1]]), np.array([0, 0, 1, 1])).round(2)
    array([0.98, 0.98, 0.98, 0.98])
    """
    Z = np.ascontiguousarray(Z, dtype=np.float64)
    onehot = _onehot(labels)
    counts = onehot.sum(axis=0)
    norms = np.einsum("ij,ij->i", Z, Z)
    out = np.empty(len(Z))
    for start in range(0, len(Z), SILHOUETTE_CHUNK):
        stop = min(len(Z), start + SILHOUETTE_CHUNK)
        D = euclidean_distances(Z[start:stop], Z, X_norm_squared=norms[start:stop, None],
                                Y_norm_squared=norms[None, :])
        D[np.arange(stop - start), np.arange(start, stop)] = 0.0  # a row's distance to itself
        out[start:stop] = _row_silhouettes(D @ onehot, counts, labels[start:stop])
    return out


def _onehot(labels: np.ndarray) -> np.ndarray:
    onehot = np.zeros((len(labels), int(labels.max()) + 1))
    onehot[np.arange(len(labels)), labels] = 1.0
    return onehot


def _row_silhouettes(sums: np.ndarray, counts: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Silhouettes of rows from their summed distances to each segment (``sums``, rows x k) and
    the segments' sizes; singletons score 0, as in scikit-learn."""
    own = counts[labels]
    rows = np.arange(len(labels))
    a = sums[rows, labels] / np.maximum(own - 1, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        means = np.where(counts > 0, sums / counts, np.inf)
    means[rows, labels] = np.inf
    b = means.min(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = (b - a) / np.maximum(a, b)
    s[(own <= 1) | ~np.isfinite(s)] = 0.0
    return s


def simplified_silhouette(X: np.ndarray, centers: np.ndarray, labels: np.ndarray) -> float:
    """Mean simplified silhouette: distances to centroids instead of to every point, O(n·k).

    For each row, ``a`` is the distance to its own centroid and ``b`` to the nearest other
    centroid; the score is the mean of ``(b - a) / max(a, b)`` (Hruschka et al. 2004).

    Examples
    --------
    >>> X = np.array([[0.0], [0.2], [5.0], [5.2]])
    >>> round(simplified_silhouette(X, np.array([[0.1], [5.1]]), np.array([0, 0, 1, 1])), 3)
    0.98
    """
    D = np.sqrt(((X[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2))
    rows = np.arange(len(X))
    a = D[rows, labels]
    D[rows, labels] = np.inf
    b = D.min(axis=1)
    denom = np.maximum(np.maximum(a, b), 1e-300)
    return float(np.mean((b - a) / denom))


def silhouette_values(Z: np.ndarray, labels: np.ndarray, seed: int = 0,
                      sample_size: int = SILHOUETTE_SAMPLE, transform=None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Silhouette of each row (of a seeded sample above ``sample_size``) and those rows' labels.

    With ``transform``, ``Z`` is in original units and only the sampled rows are transformed
    (no scaled copy of every row).

    Examples
    --------
    >>> values, lab = silhouette_values(np.array([[0.0], [0.1], [5.0], [5.1]]), np.array([0, 0, 1, 1]))
    >>> values.round(2).tolist(), lab.tolist()
    ([0.98, 0.98, 0.98, 0.98], [0, 0, 1, 1])
    """
    if len(labels) > sample_size:
        idx = np.sort(np.random.default_rng(seed).choice(len(labels), sample_size, replace=False))
        Z, labels = Z[idx], labels[idx]
    if transform is not None:
        Z = transform(Z)
    if len(np.unique(labels)) < 2 or len(np.unique(labels)) >= len(labels):
        return np.zeros(0), labels[:0]
    return silhouette_rows(Z, labels), labels


def centroid_index(found: np.ndarray, truth: np.ndarray) -> int:
    """Centroid index CI (Fränti, Rezaei & Zhao 2014): how many clusters are wrongly located.

    Each centroid of one set is mapped to its nearest centroid in the other; the centroids of
    the other set that nothing maps to are "orphans". CI is the larger orphan count of the two
    directions: 0 means every true cluster has exactly one fitted centroid.

    Examples
    --------
    >>> truth = np.array([[0.0], [10.0], [20.0]])
    >>> centroid_index(np.array([[0.1], [9.9], [20.2]]), truth)
    0
    >>> centroid_index(np.array([[0.1], [0.2], [15.0]]), truth)  # two in one, one for two
    1
    """
    def orphans(a: np.ndarray, b: np.ndarray) -> int:
        nearest = ((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
        return len(b) - len(np.unique(nearest))

    return max(orphans(found, truth), orphans(truth, found))
