"""A random-swap trial compiled (Numba): :func:`custseg.segmentation.swap.random_swap`'s inner
step without NumPy's per-call overhead, which is most of a trial's time on a K choice sample
(5,000 rows by a handful of centroids: a trial is five small array passes).

The arithmetic is :func:`custseg.segmentation.swap.assign` and :func:`~custseg.segmentation.
swap.update`'s, operation for operation (dot products and norms added feature by feature,
first feature first; the first of the smallest distances; sums and the error added row by row),
and Numba never contracts ``a * b + c`` into a fused multiply-add unless asked, so a trial gives
the same bits either way (``tests/test_swap.py``). Compiled once, cached on disk.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_OPTIONS = {"nogil": True, "cache": True, "boundscheck": False, "error_model": "numpy"}


@njit(**_OPTIONS)
def _norms(C, out):  # pragma: no cover - compiled
    k, d = C.shape
    for c in range(k):
        total = C[c, 0] * C[c, 0]
        for j in range(1, d):
            total += C[c, j] * C[c, j]
        out[c] = total


@njit(**_OPTIONS)
def _assign(X, x_sq, C, norms, labels):  # pragma: no cover - compiled
    """Labels into ``labels``; returns the total squared error."""
    n, d = X.shape
    k = C.shape[0]
    _norms(C, norms)
    sse = 0.0
    for i in range(n):
        best = np.inf
        label = 0
        for c in range(k):
            dot = X[i, 0] * C[c, 0]
            for j in range(1, d):
                dot += X[i, j] * C[c, j]
            value = norms[c] - 2.0 * dot
            if value < best:
                best = value
                label = c
        labels[i] = label
        distance = best + x_sq[i]
        sse += distance if distance > 0.0 else 0.0
    return sse


@njit(**_OPTIONS)
def _update(X, labels, C):  # pragma: no cover - compiled
    """Centroids become the means of their rows, in place; an empty one stays."""
    n, d = X.shape
    k = C.shape[0]
    sums = np.zeros((k, d))
    counts = np.zeros(k, dtype=np.int64)
    for i in range(n):
        c = labels[i]
        counts[c] += 1
        for j in range(d):
            sums[c, j] += X[i, j]
    for c in range(k):
        if counts[c] > 0:
            for j in range(d):
                C[c, j] = sums[c, j] / counts[c]


@njit(**_OPTIONS)
def trial_sse(X, x_sq, best, centroid, row, steps, trial):  # pragma: no cover - compiled
    """One trial: ``trial`` = ``best`` with centroid ``centroid`` moved onto row ``row``, then
    ``steps`` k-means iterations; returns its total squared error."""
    trial[:, :] = best
    trial[centroid, :] = X[row, :]
    labels = np.empty(X.shape[0], dtype=np.int64)
    norms = np.empty(best.shape[0])
    for _ in range(steps):
        _assign(X, x_sq, trial, norms, labels)
        _update(X, labels, trial)
    return _assign(X, x_sq, trial, norms, labels)
