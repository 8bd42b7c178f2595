"""Compiled K-Means kernels (Numba): scale, nearest centroid and per-centroid totals in one pass.

The arithmetic is :mod:`custseg.engines.kernels`' reference, operation for operation, so both
give the same bits (``tests/test_kernels.py`` checks it): a row is scaled as
``(x - mean) / scale``; its distance to centroid ``c`` is ``norms[c] - 2 * z·c`` with the dot
product added feature by feature, first feature first; the nearest centroid is the first of the
smallest; the squared distance is that plus ``z·z`` (added the same way), floored at 0; within a
block, a centroid's sums and the block's inertia are added row by row, in row order. Numba does
not contract ``a * b + c`` into a fused multiply-add unless asked (``fastmath``), so no step
rounds differently.

Rows are handled :data:`SUB_ROWS` at a time: their scaled features are laid out feature by
feature, so the scaling and distance loops over those rows run in SIMD lanes; the sums then
follow row order. The scaler comes as tuples (:func:`custseg.engines.kernels.assign_rows`,
:meth:`custseg.engines.kernels.PassAccumulator.add_blocks`), so the number of features is a
constant of the compiled code: one compilation per number of features, each cached on disk.
Blocks (:data:`custseg.engines.kernels.BLOCK_ROWS` rows) are independent, so
:func:`pass_blocks` can run ranges of blocks in threads (the kernels release the GIL) and the
caller adds the block totals in block order: the same bits with any number of threads.

This module imports Numba; :func:`custseg.engines.kernels.fused_kernels` imports it only for
passes large enough to repay Numba's start-up (compiled code is cached on disk after the first
run).
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: Rows scaled and compared at a time (their scaled features stay in the L1 cache).
SUB_ROWS = 256
#: Compiled once per number of features (``mean`` and ``scale`` come as tuples) and cached on
#: disk. ``error_model="numpy"``: no check for a zero divisor (a scale is never 0), which would
#: keep the division loop from running in SIMD lanes; the quotients are the same IEEE ones.
_OPTIONS = {"nogil": True, "cache": True, "boundscheck": False, "error_model": "numpy"}


@njit(**_OPTIONS)
def _nearest_rows(X, i0, m, mean, scale, centers, norms, Z, best, bestd):
    """Scale rows ``i0 .. i0 + m`` of ``X`` into ``Z`` (feature by feature) and find each row's
    nearest centroid (``best``) and ``norms[c] - 2 z·c`` to it (``bestd``)."""
    d = len(mean)  # a tuple's length: a constant of the compiled code, so the loops over j unroll
    k = centers.shape[0]
    for j in range(d):
        mj = mean[j]
        sj = scale[j]
        for r in range(m):
            Z[j, r] = (X[i0 + r, j] - mj) / sj
    for r in range(m):
        bestd[r] = np.inf
        best[r] = 0
    for c in range(k):
        nc = norms[c]
        for r in range(m):  # the dot product stays in a register; the rows run in SIMD lanes
            dot = Z[0, r] * centers[c, 0]
            for j in range(1, d):
                dot = dot + Z[j, r] * centers[c, j]
            dist = nc - 2.0 * dot
            nearer = dist < bestd[r]
            bestd[r] = dist if nearer else bestd[r]
            best[r] = c if nearer else best[r]


@njit(**_OPTIONS)
def _squared(Z, r, d, bestd_r):
    zz = Z[0, r] * Z[0, r]
    for j in range(1, d):
        zz = zz + Z[j, r] * Z[j, r]
    sq = bestd_r + zz
    return sq if sq > 0.0 else 0.0


@njit(**_OPTIONS)
def pass_blocks(X, first, last, block, mean, scale, centers, norms, with_inertia,
                sums, counts, inertia):
    """One Lloyd pass over blocks ``first .. last - 1`` of ``X`` (``block`` rows each): for block
    ``b``, the per-centroid sums ``sums[b]`` (k, d), counts ``counts[b]`` and, with
    ``with_inertia``, ``inertia[b]`` (arrays zeroed by the caller); ``mean`` and ``scale`` are
    tuples of ``d`` floats."""
    n = X.shape[0]
    d = len(mean)
    Z = np.empty((d, SUB_ROWS))
    best = np.empty(SUB_ROWS, np.int64)
    bestd = np.empty(SUB_ROWS)
    for b in range(first, last):
        stop = min(n, (b + 1) * block)
        total = 0.0
        for i0 in range(b * block, stop, SUB_ROWS):
            m = min(SUB_ROWS, stop - i0)
            _nearest_rows(X, i0, m, mean, scale, centers, norms, Z, best, bestd)
            for r in range(m):
                c = best[r]
                counts[b, c] += 1
                for j in range(d):
                    sums[b, c, j] += Z[j, r]
                if with_inertia:
                    total += _squared(Z, r, d, bestd[r])
        inertia[b] = total


@njit(**_OPTIONS)
def assign_rows(X, start, stop, mean, scale, centers, norms, labels, squared):
    """Nearest centroid (``labels``) and squared scaled distance (``squared``) of rows
    ``start .. stop - 1`` of ``X`` (``mean`` and ``scale``: tuples of ``d`` floats)."""
    d = len(mean)
    Z = np.empty((d, SUB_ROWS))
    best = np.empty(SUB_ROWS, np.int64)
    bestd = np.empty(SUB_ROWS)
    for i0 in range(start, stop, SUB_ROWS):
        m = min(SUB_ROWS, stop - i0)
        _nearest_rows(X, i0, m, mean, scale, centers, norms, Z, best, bestd)
        for r in range(m):
            labels[i0 + r] = best[r]
            squared[i0 + r] = _squared(Z, r, d, bestd[r])
