"""Compiled per-row counts of the assignment pass's observers (Numba), in one loop each.

On millions of rows the observers' NumPy expressions make several passes and temporary arrays
for what is one comparison or lookup per row. These kernels make one pass and allocate nothing,
with the same arithmetic as the NumPy code they replace (tests check the results are equal):

- :func:`fenced_counts`: outliers per segment (:mod:`custseg.segmentation.outliers`); a row is
  scaled as ``StandardScaler.transform`` does, ``(x - mean) / scale`` (plain IEEE operations,
  never contracted), then compared with the fences;
- :func:`tree_agreement`: how many rows a fitted decision tree assigns to their own segment
  (:mod:`custseg.describe.rules`); features are compared as float32, as scikit-learn does;
- :func:`text_codes`: each text cell's position among a few categories
  (:mod:`custseg.describe.totals`), decided here when the cell's first and last bytes are
  printable ASCII other than a space (then trimming whitespace cannot change it), and left to
  the caller (:data:`UNDECIDED`) otherwise.

The callers use them only on large batches (:func:`custseg.engines.kernels.compiles`); this
module imports Numba, so they import it when they do.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_OPTIONS = {"nogil": True, "cache": True, "boundscheck": False, "error_model": "numpy"}
#: :func:`text_codes`' mark for a cell it leaves to the caller.
UNDECIDED = -2


@njit(**_OPTIONS)
def fenced_counts(X, mean, scale, low, high, labels, counts):
    """Add to ``counts[segment]`` the rows of ``X`` (original units) some of whose scaled
    features lie below ``low`` or above ``high``."""
    n, d = X.shape
    for r in range(n):
        out = False
        for j in range(d):
            z = (X[r, j] - mean[j]) / scale[j]
            out |= (z < low[j]) | (z > high[j])
        if out:
            counts[labels[r]] += 1


@njit(**_OPTIONS)
def tree_agreement(X, feature, threshold, left, right, leaf_class, labels):
    """How many rows of ``X`` the tree (scikit-learn's arrays: ``feature``, ``threshold``,
    ``children_left``/``right``, and each leaf's class) puts in segment ``labels[row]``."""
    agree = 0
    for r in range(X.shape[0]):
        node = 0
        while left[node] >= 0:
            x = np.float64(np.float32(X[r, feature[node]]))
            node = left[node] if x <= threshold[node] else right[node]
        agree += leaf_class[node] == labels[r]
    return agree


@njit(**_OPTIONS)
def text_codes(offsets, data, category_offsets, category_data, codes):
    """Each cell's position among the categories, -1 for none of them (or empty),
    :data:`UNDECIDED` when its ends are not printable ASCII (see the module notes); written into
    ``codes``."""
    m = len(category_offsets) - 1
    for r in range(len(offsets) - 1):
        a, b = offsets[r], offsets[r + 1]
        if b == a:  # empty: no category (trimmed, it is missing)
            codes[r] = -1
            continue
        if data[a] <= 32 or data[a] >= 127 or data[b - 1] <= 32 or data[b - 1] >= 127:
            codes[r] = UNDECIDED
            continue
        found = -1
        for c in range(m):
            ca, cb = category_offsets[c], category_offsets[c + 1]
            if cb - ca != b - a:
                continue
            same = True
            for i in range(b - a):
                if data[a + i] != category_data[ca + i]:
                    same = False
                    break
            if same:
                found = c
                break
        codes[r] = found
