"""The per-block moments of :func:`custseg.engines.moments.block_moments`, compiled (Numba).

Per block and feature, the same operations in the same order as the NumPy reduction: the sum
added row by row from 0.0, the mean as that sum over the block's rows, the deviations'
sum and their squares' sum added row by row from 0.0, and the correction term
subtracted last. No operation is contracted into a fused multiply-add (Numba asks for none
without ``fastmath``), so the bits are the same (``tests/test_moments.py``). One pass over a
block held in cache for each of the two sums, no transposed copy: many times faster than the
NumPy reduction on millions of rows. This module imports Numba; the caller
(:class:`custseg.engines.moments.BlockMoments`) imports it on large inputs only.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_OPTIONS = {"nogil": True, "cache": True, "boundscheck": False, "error_model": "numpy"}


@njit(**_OPTIONS)
def block_moments(X, size):
    """Per block of ``size`` rows of ``X`` (rows a multiple of ``size``): each feature's sum
    and the sum of squared deviations from the block's mean, less the correction term."""
    n, d = X.shape
    m = n // size
    sums = np.empty((m, d))
    unnormalized = np.empty((m, d))
    total = np.empty(d)
    deviation = np.empty(d)
    square = np.empty(d)
    mean = np.empty(d)
    count = float(size)
    for b in range(m):
        first = b * size
        for j in range(d):
            total[j] = 0.0  # NumPy's reduction starts from 0.0 too (a block of -0.0 sums to 0.0)
        for r in range(first, first + size):
            for j in range(d):
                total[j] += X[r, j]
        for j in range(d):
            mean[j] = total[j] / count
            deviation[j] = 0.0
            square[j] = 0.0
        for r in range(first, first + size):
            for j in range(d):
                t = X[r, j] - mean[j]
                deviation[j] += t
                square[j] += t * t
        for j in range(d):
            sums[b, j] = total[j]
            unnormalized[b, j] = square[j] - deviation[j] * deviation[j] / count
    return sums, unnormalized
