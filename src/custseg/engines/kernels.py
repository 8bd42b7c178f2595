"""The arithmetic every engine shares: scaling, nearest centroid, per-centroid totals, blocks.

Reproducible sums
-----------------
Floating-point addition is not associative, so summing the same rows in batches of different
sizes gives results that differ in the last bits. Every sum custseg makes over all rows (the
scaler's moments, the centroids' sums, inertia, the profiles' means) is therefore taken over
fixed blocks of :data:`BLOCK_ROWS` valid rows, counted from the first valid row of the table,
and the block totals are added in row order. :class:`Blocks` cuts any stream of batches into
those blocks, so an engine holding the table in memory and one reading it in batches of any
size compute the same bits.

Nearest centroid
----------------
:func:`nearest` uses scikit-learn's formula (``||c||² - 2 z·c``, argmin, first on ties), so
labels agree with what a pickled scikit-learn pipeline or :class:`custseg.Segmenter` predict for
the same rows. The dot products are added feature by feature, first feature first (not by BLAS,
whose summation order depends on the library and CPU), so the compiled kernels of
:mod:`custseg.engines.fused` reproduce every bit: large passes run there (:func:`fused_kernels`),
small ones here, with the same results.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import ModuleType

import numpy as np
from threadpoolctl import threadpool_limits

from custseg.optional import (
    COMPILED_MIN_ROWS,
    compiled_code_allowed,
    mark_compiled_code_loaded,
)

#: Rows per block of the reproducible sums (see the module notes).
BLOCK_ROWS = 1 << 16
#: Passes over at least this many rows run in the compiled kernels (:func:`fused_kernels`);
#: smaller ones do not repay importing Numba.
FUSED_MIN_ROWS = COMPILED_MIN_ROWS
#: Threads of the compiled kernels at most (blocks are independent; sums are added in order).
FUSED_THREADS = 4


def compiles(n_rows: int) -> bool:
    """Whether passes over ``n_rows`` rows run compiled (:func:`fused_kernels`), told without
    importing Numba (which takes a tenth of a second)."""
    return n_rows >= FUSED_MIN_ROWS and compiled_code_allowed()


#: Inputs of at least this many bytes (about 3 million rows of a narrow table), or of
#: :data:`WARM_UP_ROWS` rows, have Numba loaded in the background (:func:`warm_up`). Below, the
#: run's first compiled pass loads it: a background load only pays when the scan is long enough
#: to use it, and on 10^6 rows it slowed the whole run by 5% (both cores are busy then).
WARM_UP_BYTES = 64 << 20
WARM_UP_ROWS = 1 << 22


def warm_up(input_bytes: int) -> threading.Thread | None:
    """Load Numba and its compiled-code machinery in a background thread, for an input of
    ``input_bytes`` bytes big enough to run compiled kernels.

    The first compiled call of a process costs about half a second (importing Numba, then its
    registries); started before the input is read, that work runs while Arrow's readers (which
    release the GIL) parse the file, not when the scan first needs a kernel. Nothing is
    compiled here (the kernels are cached on disk), and a failure is left for the kernels'
    own first call to report. Returns the thread, or None when not worth it.
    """
    if input_bytes < WARM_UP_BYTES or not compiled_code_allowed():
        return None
    return load_in_background()


def load_in_background() -> threading.Thread:
    """Start loading Numba's machinery in a background thread (see :func:`warm_up`)."""
    thread = threading.Thread(target=_load_compiled_code, name="custseg-warm-up", daemon=True)
    thread.start()
    return thread


def _load_compiled_code() -> None:
    try:
        from custseg.engines.momentkernel import block_moments

        block_moments(np.zeros((1, 1)), 1)  # a tiny call: loads the cached machine code
    except Exception:  # the kernels' first real call reports any problem
        return
    mark_compiled_code_loaded()


def fused_kernels(n_rows: int) -> ModuleType | None:
    """The compiled kernels (:mod:`custseg.engines.fused`) for a pass over ``n_rows`` rows, or
    None: a small pass, or Numba missing (then :func:`nearest` computes the same bits)."""
    if not compiles(n_rows):
        return None
    try:
        from custseg.engines import fused
    except ImportError:
        return None
    mark_compiled_code_loaded()
    return fused


def _threads(n_parts: int) -> int:
    return max(1, min(FUSED_THREADS, len(os.sched_getaffinity(0)), n_parts))


def _ranges(n: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` contiguous ranges covering ``0 .. n - 1``."""
    bounds = np.linspace(0, n, parts + 1).astype(np.int64)
    return [(int(a), int(b)) for a, b in itertools.pairwise(bounds) if b > a]


def _features(mean: np.ndarray, scale: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The scaler as the compiled kernels take it: tuples, whose length (the number of features)
    Numba compiles in, so the loops over features unroll and the rows run in SIMD lanes."""
    return (tuple(float(v) for v in np.asarray(mean, np.float64).ravel()),
            tuple(float(v) for v in np.asarray(scale, np.float64).ravel()))


def single_blas() -> threadpool_limits:
    """Context: one BLAS thread, as scikit-learn's ``predict`` uses (same summation order, and
    faster for these thin products). Entered once around a pass, not per block."""
    return threadpool_limits(1, user_api="blas")


def scaled(X: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``(X - mean) / scale``: ``StandardScaler.transform``'s operations, so the same bits."""
    Z = np.asarray(X, dtype=np.float64) - mean
    Z /= scale
    return Z


def nearest(Z: np.ndarray, centers: np.ndarray, squared: bool = False
            ) -> tuple[np.ndarray, np.ndarray | None]:
    """Nearest centroid of each row (first on ties) and, with ``squared``, the squared distance.

    Examples
    --------
    >>> labels, d2 = nearest(np.array([[0.0, 0.0], [2.9, 3.0]]), np.array([[0.0, 0.1], [3.0, 3.0]]),
    ...                      squared=True)
    >>> labels.tolist(), d2.round(2).tolist()
    ([0, 1], [0.01, 0.01])
    """
    norms = center_norms(centers)
    D = Z[:, :1] * centers[:, 0]
    for j in range(1, Z.shape[1]):
        D += Z[:, j:j + 1] * centers[:, j]
    D = norms - 2.0 * D
    labels = np.argmin(D, axis=1)
    if not squared:
        return labels, None
    zz = Z[:, 0] * Z[:, 0]
    for j in range(1, Z.shape[1]):
        zz += Z[:, j] * Z[:, j]
    distance = D[np.arange(len(Z)), labels] + zz
    np.maximum(distance, 0.0, out=distance)
    return labels, distance


def center_norms(centers: np.ndarray) -> np.ndarray:
    """``||c||²`` of each centroid (computed once, in NumPy, for both kernels)."""
    return np.einsum("ij,ij->i", centers, centers)


def assign_rows(X: np.ndarray, centers: np.ndarray, mean: np.ndarray, scale: np.ndarray,
                n_rows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centroid (int64) and squared scaled distance of every row of ``X`` (original
    units): ``nearest(scaled(X, mean, scale), centers, squared=True)``, in the compiled kernel
    (threads over ranges of rows) when the pass is large (``n_rows``, default ``len(X)``).

    Examples
    --------
    >>> labels, d2 = assign_rows(np.array([[1.0], [9.0]]), np.array([[0.0], [1.0]]),
    ...                          np.array([5.0]), np.array([4.0]))
    >>> labels.tolist(), d2.tolist()
    ([0, 1], [1.0, 0.0])
    """
    fused = fused_kernels(len(X) if n_rows is None else n_rows)
    if fused is None or len(X) == 0:
        with single_blas():
            return nearest(scaled(X, mean, scale), centers, squared=True)
    X = np.ascontiguousarray(X, dtype=np.float64)
    centers = np.ascontiguousarray(centers, dtype=np.float64)
    labels = np.empty(len(X), dtype=np.int64)
    squared = np.empty(len(X))
    args = (*_features(mean, scale), centers, center_norms(centers), labels, squared)
    ranges = _ranges(len(X), _threads(len(X) // BLOCK_ROWS))
    with ThreadPoolExecutor(len(ranges)) as pool:
        for done in [pool.submit(fused.assign_rows, X, a, b, *args) for a, b in ranges]:
            done.result()
    return labels, squared


def distances_to(Z: np.ndarray, centers: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Euclidean distance of each row of ``Z`` to the centroid ``labels`` names.

    Examples
    --------
    >>> distances_to(np.array([[3.0, 4.0]]), np.array([[0.0, 0.0]]), np.array([0])).tolist()
    [5.0]
    """
    diff = Z - centers[labels]
    return np.sqrt(np.einsum("ij,ij->i", diff, diff))


def group_sums(labels: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    """Per-label sums of each column of ``values`` (shape (k, columns)), one bincount a column."""
    return np.stack([np.bincount(labels, weights=values[:, j], minlength=k)
                     for j in range(values.shape[1])], axis=1) if values.shape[1] else np.zeros((k, 0))


class Blocks:
    """Cut a stream of row batches into blocks of exactly ``size`` rows (the last one shorter).

    ``feed(a, b, ...)`` takes arrays aligned on their first axis; ``consume(a, b, ...)`` is
    called with each full block, in order, and :meth:`flush` hands over the rest. Blocks of a
    large batch are views of it; rows left over between batches are copied.

    Examples
    --------
    >>> sizes = []
    >>> blocks = Blocks(lambda a: sizes.append(len(a)), size=4)
    >>> for n in (3, 3, 5):
    ...     blocks.feed(np.zeros(n))
    >>> blocks.flush()
    >>> sizes
    [4, 4, 3]
    """

    def __init__(self, consume: Callable[..., None], size: int = BLOCK_ROWS) -> None:
        self.consume = consume
        self.size = size
        self._carry: list[tuple[np.ndarray, ...]] = []
        self._carry_rows = 0

    def feed(self, *arrays: np.ndarray) -> None:
        """Add rows (every array holds the same number of rows)."""
        n = len(arrays[0])
        start = 0
        if self._carry_rows:
            start = min(self.size - self._carry_rows, n)
            self._carry.append(tuple(np.array(a[:start]) for a in arrays))
            self._carry_rows += start
            if self._carry_rows == self.size:
                self._emit_carry()
        while n - start >= self.size:
            self.consume(*(a[start:start + self.size] for a in arrays))
            start += self.size
        if start < n:
            self._carry.append(tuple(np.array(a[start:]) for a in arrays))
            self._carry_rows += n - start

    def flush(self) -> None:
        """Hand over the rows of an unfinished block."""
        if self._carry_rows:
            self._emit_carry()

    def _emit_carry(self) -> None:
        parts = list(zip(*self._carry, strict=True))
        self._carry, self._carry_rows = [], 0
        self.consume(*(np.concatenate(p) for p in parts))


@dataclass(frozen=True)
class PassTotals:
    """What one pass over every valid row accumulated under fixed centroids.

    Attributes
    ----------
    sums : numpy.ndarray
        Per centroid, the sum of its rows (scaled), shape (k, d).
    counts : numpy.ndarray
        Rows per centroid, int64.
    inertia : float
        Sum of squared (scaled) distances of the rows to their nearest centroid; NaN when the
        pass did not total it.
    """

    sums: np.ndarray
    counts: np.ndarray
    inertia: float

    @property
    def n_rows(self) -> int:
        """Rows seen."""
        return int(self.counts.sum())

    def centers(self, previous: np.ndarray) -> np.ndarray:
        """The means of the clusters (a cluster without rows keeps ``previous``'s centroid)."""
        new = np.array(previous, dtype=np.float64, copy=True)
        filled = self.counts > 0
        new[filled] = self.sums[filled] / self.counts[filled, None]
        return new


class PassAccumulator:
    """Per-centroid totals of one pass, block by block (:data:`BLOCK_ROWS` rows each).

    Examples
    --------
    >>> acc = PassAccumulator(np.array([[0.0], [10.0]]), np.zeros(1), np.ones(1))
    >>> acc.add(np.array([[0.0], [1.0], [10.0], [12.0]]))
    >>> t = acc.totals()
    >>> t.counts.tolist(), t.centers(np.zeros((2, 1))).ravel().tolist(), t.inertia
    ([2, 2], [0.5, 11.0], 5.0)
    """

    def __init__(self, centers: np.ndarray, mean: np.ndarray, scale: np.ndarray,
                 inertia: bool = True, n_rows: int = 0) -> None:
        self.centers = np.ascontiguousarray(centers, dtype=np.float64)
        self.mean = np.asarray(mean, dtype=np.float64)
        self.scale = np.asarray(scale, dtype=np.float64)
        self.with_inertia = inertia
        self.norms = center_norms(self.centers)
        k, d = self.centers.shape
        self.sums = np.zeros((k, d))
        self.counts = np.zeros(k, dtype=np.int64)
        self.inertia = 0.0
        self.fused = fused_kernels(n_rows)

    def add(self, X: np.ndarray) -> None:
        """Add one block of rows (original units).

        Within the block, a centroid's sums and the inertia are added row by row, in row order
        (the compiled kernel does the same)."""
        k = len(self.centers)
        if self.fused is not None and len(X):
            self.add_blocks(X)
            return
        Z = scaled(X, self.mean, self.scale)
        labels, squared = nearest(Z, self.centers, squared=self.with_inertia)
        self.counts += np.bincount(labels, minlength=k)
        self.sums += group_sums(labels, Z, k)
        if self.with_inertia and len(squared):
            self.inertia += float(np.cumsum(squared)[-1])  # row by row, as the kernel adds

    def add_blocks(self, X: np.ndarray) -> None:
        """Add consecutive blocks of rows at once (``len(X)`` a multiple of :data:`BLOCK_ROWS`
        but for the last block of the pass): the same bits as :meth:`add` block by block, the
        blocks spread over threads when compiled kernels are in use."""
        if self.fused is None:
            for start in range(0, len(X), BLOCK_ROWS):
                self.add(X[start:start + BLOCK_ROWS])
            return
        X = np.ascontiguousarray(X, dtype=np.float64)
        k, d = self.centers.shape
        n_blocks = -(-len(X) // BLOCK_ROWS)
        sums = np.zeros((n_blocks, k, d))
        counts = np.zeros((n_blocks, k), dtype=np.int64)
        inertia = np.zeros(n_blocks)
        args = (BLOCK_ROWS, *_features(self.mean, self.scale), self.centers, self.norms,
                self.with_inertia, sums, counts, inertia)
        ranges = _ranges(n_blocks, _threads(n_blocks))
        if len(ranges) == 1:
            self.fused.pass_blocks(X, 0, n_blocks, *args)
        else:
            with ThreadPoolExecutor(len(ranges)) as pool:
                for done in [pool.submit(self.fused.pass_blocks, X, a, b, *args)
                             for a, b in ranges]:
                    done.result()
        for b in range(n_blocks):  # block totals added in block order, as block by block
            self.counts += counts[b]
            self.sums += sums[b]
            if self.with_inertia:
                self.inertia += float(inertia[b])

    def totals(self) -> PassTotals:
        """The pass's totals."""
        return PassTotals(self.sums, self.counts, self.inertia if self.with_inertia else float("nan"))
