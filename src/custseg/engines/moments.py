"""The scaler's exact mean and variance over fixed blocks, many blocks per NumPy call.

The scan fits its scaler as :class:`custseg.engines.kernels.Blocks` feeding
``StandardScaler.partial_fit`` block by block would (same blocks, same order, so every engine
gets the same bits; see :mod:`custseg.engines.kernels`). Called once per block of 65,536 rows,
``partial_fit`` spends most of its time summing a (65,536, d) array down its rows, which NumPy
does one row at a time. :class:`BlockMoments` computes the same per-block sums for a group of
blocks in one call: the rows of each block laid out as (row, block, feature), so every add of the
reduction covers the whole group, in the same order (first row first), giving the same bits.
The per-block results are then merged into the scaler in block order with scikit-learn's own
formula (Chan, Golub and LeVeque), operation for operation. The last block always goes through
``partial_fit`` itself, which leaves every fitted attribute (``scale_`` too) as it would.

Blocks with a missing value (NaN), a single feature (whose sums NumPy adds pairwise) or values
not float64 are left to ``partial_fit``. On large inputs the per-block sums are computed by
compiled code (:mod:`custseg.engines.momentkernel`), with the same operations in the same order.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.preprocessing import StandardScaler

from custseg.engines.kernels import BLOCK_ROWS, compiles
from custseg.optional import compiled_code_loaded

#: Bytes of the transposed copy of the blocks reduced together (16 blocks of two features):
#: wide enough for the adds to run in SIMD, small enough to stay in cache.
GROUP_BYTES = 16 << 20


class BlockMoments:
    """Fits ``scaler`` on a stream of row batches, block by block (see the module notes).

    Parameters
    ----------
    scaler : StandardScaler
        The scaler to fit (``partial_fit`` semantics: it may already hold earlier rows).
    transform : callable, optional
        Applied to each block's values before fitting (element-wise, e.g. ``log1p``).
    size : int, default BLOCK_ROWS
        Rows per block.

    Examples
    --------
    >>> X = np.arange(20.0).reshape(10, 2)
    >>> moments = BlockMoments(StandardScaler(), size=4)
    >>> moments.feed(X[:3]); moments.feed(X[3:])
    >>> moments.flush()
    >>> reference = StandardScaler()
    >>> for start in (0, 4, 8):
    ...     _ = reference.partial_fit(X[start:start + 4])
    >>> bool(np.array_equal(moments.scaler.var_, reference.var_))
    True
    """

    def __init__(self, scaler: StandardScaler, transform: Callable[[np.ndarray], np.ndarray] | None
                 = None, size: int = BLOCK_ROWS) -> None:
        self.scaler = scaler
        self.transform = transform
        self.size = size
        self._carry: list[np.ndarray] = []
        self._carry_rows = 0

    def feed(self, X: np.ndarray) -> None:
        """Add rows (a 2-D array; rows of a block may come in several calls)."""
        n, start = len(X), 0
        if n == 0:
            return
        # Only blocks with rows after them are folded here: the last block (full or not) is
        # kept for flush, so partial_fit finishes the fit.
        if self._carry_rows == self.size:
            self._fold(self._take_carry())
        if self._carry_rows:
            start = min(self.size - self._carry_rows, n)
            self._carry.append(np.array(X[:start]))
            self._carry_rows += start
            if self._carry_rows == self.size and start < n:
                self._fold(self._take_carry())
        full = (n - start - 1) // self.size
        if full > 0:
            self._fold(X[start:start + full * self.size])
            start += full * self.size
        if start < n:
            self._carry.append(np.array(X[start:]))
            self._carry_rows += n - start

    def flush(self) -> None:
        """Fit the last block (call once, after the last batch)."""
        if self._carry_rows:
            self._partial_fit(self._take_carry())

    def _take_carry(self) -> np.ndarray:
        rows = self._carry[0] if len(self._carry) == 1 else np.concatenate(self._carry)
        self._carry, self._carry_rows = [], 0
        return rows

    def _partial_fit(self, X: np.ndarray) -> None:
        self.scaler.partial_fit(X if self.transform is None else self.transform(X))

    def _fold(self, X: np.ndarray) -> None:
        """Fit whole blocks (``len(X)`` a multiple of ``size``), in order."""
        X = X if self.transform is None else self.transform(X)
        m, d = len(X) // self.size, X.shape[1]
        fast = (d >= 2 and X.dtype == np.float64 and X.flags.c_contiguous
                and not np.isnan(X).any())
        # Every block in one compiled call (the same bits) once Numba is loaded: never waited for.
        if fast and compiles(len(X)) and compiled_code_loaded():
            from custseg.engines.momentkernel import block_moments as compiled_moments

            sums, unnormalized = compiled_moments(X, self.size)
            for b in range(m):
                _merge(self.scaler, sums[b], unnormalized[b], self.size, d)
            return
        group = max(1, GROUP_BYTES // (self.size * d * 8))
        for first in range(0, m, group):
            blocks = X[first * self.size:min(m, first + group) * self.size]
            if not fast:
                for start in range(0, len(blocks), self.size):
                    self.scaler.partial_fit(blocks[start:start + self.size])
                continue
            sums, unnormalized = block_moments(blocks, self.size)
            for b in range(len(sums)):
                _merge(self.scaler, sums[b], unnormalized[b], self.size, d)


def block_moments(X: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per block of ``size`` rows: the sum of each feature, and the sum of squared deviations
    from the block's mean with scikit-learn's correction term, as ``partial_fit`` computes
    them for that block alone (same operations, same order, so the same bits).

    Examples
    --------
    >>> sums, unnormalized = block_moments(np.array([[1.0, 2.0], [3.0, 6.0]]), 2)
    >>> sums.tolist(), unnormalized.tolist()
    ([[4.0, 8.0]], [[2.0, 8.0]])
    """
    m, d = len(X) // size, X.shape[1]
    # (row, block, feature): the reduction over rows adds whole (block, feature) planes in row
    # order, as NumPy adds whole rows of one (size, d) block. A copy always (worked in place).
    A = X.reshape(m, size, d).transpose(1, 0, 2).copy(order="C")
    count = np.full(d, float(size))
    sums = np.add.reduce(A, axis=0)
    A -= sums / count
    correction = np.add.reduce(A, axis=0)
    A **= 2
    unnormalized = np.add.reduce(A, axis=0)
    unnormalized -= correction ** 2 / count
    return sums, unnormalized


def _merge(scaler: StandardScaler, new_sum: np.ndarray, new_unnormalized: np.ndarray,
           rows: int, d: int) -> None:
    """Merge one block's moments into ``scaler`` as ``partial_fit`` would: the operations of
    scikit-learn's ``_incremental_mean_and_var``, and its way of keeping ``n_samples_seen_``."""
    if not hasattr(scaler, "n_samples_seen_"):
        # The first call creates the attributes in partial_fit's order (a pickle keeps it).
        scaler.n_features_in_ = d
        scaler.n_samples_seen_ = np.zeros(d, dtype=np.int64)
        scaler.mean_, scaler.var_ = 0.0, 0.0
    seen = scaler.n_samples_seen_
    if np.size(seen) == 1:
        seen = np.repeat(seen, d).astype(np.int64)
    last_count = np.asarray(seen, dtype=np.float64)
    last_mean, last_variance = scaler.mean_, scaler.var_
    new_count = rows - np.zeros(d)
    last_sum = last_mean * last_count
    updated_count = last_count + new_count
    updated_mean = (last_sum + new_sum) / updated_count
    last_unnormalized = last_variance * last_count
    with np.errstate(divide="ignore", invalid="ignore"):
        last_over_new = last_count / new_count
        updated_unnormalized = (last_unnormalized + new_unnormalized + last_over_new
                                / updated_count * (last_sum / last_over_new - new_sum) ** 2)
    zeros = last_count == 0
    updated_unnormalized[zeros] = new_unnormalized[zeros]
    scaler.mean_ = updated_mean
    scaler.var_ = updated_unnormalized / updated_count
    scaler.n_samples_seen_ = (updated_count[0] if updated_count.max() == updated_count.min()
                              else updated_count)
    # partial_fit recomputes scale_ on every call; the last block's call (flush) sets it.
    scaler.scale_ = np.sqrt(scaler.var_)
