"""Partition quality measures, bounded in cost whatever the number of customers."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import silhouette_score

#: The silhouette is O(N^2); above this many rows it is computed on a seeded random sample of
#: this size (the estimate's standard error is then well under 0.01).
SILHOUETTE_SAMPLE = 10_000


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
