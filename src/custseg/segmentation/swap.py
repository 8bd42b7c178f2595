"""Random swap refinement of K-Means centroids (Fränti 2018).

k-means, however it is started, stops at the first local minimum; on data with many clusters
that minimum often has two centroids sharing one true cluster while another pair of clusters
shares one centroid. Random swap escapes it: move a random centroid onto a random data point,
run two k-means iterations, keep the change only if the total squared error drops. Repeated
until a run of trials brings no improvement.

Reference: P. Fränti, "Efficiency of random swap clustering", Journal of Big Data 5:13, 2018.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Trials without improvement after which the search stops (at least this, or 10 per centroid).
PATIENCE = 200
#: Hard limit on trials.
MAX_TRIALS = 5000


@dataclass(frozen=True)
class SwapResult:
    """Centroids after random swap, and what the search did."""

    centers: np.ndarray
    sse: float
    trials: int
    accepted: int


def squared_norms(X: np.ndarray) -> np.ndarray:
    """``x·x`` of each row, added feature by feature, first feature first (as
    :func:`assign` and the compiled swap add it)."""
    out = X[:, 0] * X[:, 0]
    for j in range(1, X.shape[1]):
        out += X[:, j] * X[:, j]
    return out


def assign(X: np.ndarray, C: np.ndarray, x_sq: np.ndarray | None = None
           ) -> tuple[np.ndarray, float]:
    """Nearest centroid of each row (the first on ties), and the total squared error.

    The formula of :func:`custseg.engines.kernels.nearest` (``||c||² - 2 x·c``, dot products
    and norms added feature by feature, the distance ``x·x`` plus that, floored at 0), the
    error summed row by row: the compiled swap (:mod:`custseg.segmentation.swapkernel`) repeats it step for
    step, so both give the same bits. ``x_sq``: :func:`squared_norms` of ``X``, if known.
    """
    if x_sq is None:
        x_sq = squared_norms(X)
    # Centroid by centroid over whole columns, keeping a running minimum: no (n, k) matrix.
    # An (n, k) temporary per call cost page faults (it is above malloc's mmap threshold at
    # a few thousand rows) and a short inner loop over k: three to four times slower.
    n, d = X.shape
    columns = np.ascontiguousarray(X.T)
    norms = squared_norms(C)
    best = np.full(n, np.inf)
    labels = np.zeros(n, dtype=np.intp)
    value, term = np.empty(n), np.empty(n)
    closer = np.empty(n, dtype=bool)
    for c in range(C.shape[0]):
        np.multiply(columns[0], C[c, 0], out=value)
        for j in range(1, d):
            value += np.multiply(columns[j], C[c, j], out=term)
        np.subtract(norms[c], np.multiply(value, 2.0, out=value), out=value)
        np.less(value, best, out=closer)  # strictly: the first of equal distances stays
        np.copyto(best, value, where=closer)
        np.copyto(labels, c, where=closer)
    distance = np.add(best, x_sq, out=best)
    np.maximum(distance, 0.0, out=distance)
    return labels, float(np.cumsum(distance)[-1]) if n else 0.0


def update(X: np.ndarray, labels: np.ndarray, C: np.ndarray) -> np.ndarray:
    """Centroids as the means of their rows (summed in row order); an empty cluster keeps its
    centroid."""
    k = C.shape[0]
    counts = np.bincount(labels, minlength=k)
    sums = np.empty_like(C)
    for j in range(X.shape[1]):  # one bincount per feature: features are few, rows many
        sums[:, j] = np.bincount(labels, weights=X[:, j], minlength=k)
    new = C.copy()
    filled = counts > 0
    new[filled] = sums[filled] / counts[filled, None]
    return new


def random_swap(X: np.ndarray, C: np.ndarray, *, seed: int | np.random.Generator = 0,
                patience: int = PATIENCE, max_trials: int = MAX_TRIALS,
                kmeans_steps: int = 2, compiled: bool = False) -> SwapResult:
    """Improve centroids ``C`` on ``X`` by random swap; never returns a worse solution.

    Parameters
    ----------
    X : numpy.ndarray
        Data, shape (n, d).
    C : numpy.ndarray
        Starting centroids, shape (k, d) (for example the best of several k-means++ runs).
    seed : int or numpy.random.Generator, default 0
        Seed of the trials.
    patience : int, default 200
        Stop after this many trials in a row without improvement (at least 10 per centroid).
    max_trials : int, default 5000
        Upper bound on trials.
    kmeans_steps : int, default 2
        k-means iterations after each swap.
    compiled : bool, default False
        Run each trial in the compiled kernel (:mod:`custseg.segmentation.swapkernel`, Numba):
        the same bits, ten times faster, once Numba is loaded (a run that loads it for its
        passes anyway asks for it). Falls back to NumPy where Numba is missing.

    Returns
    -------
    SwapResult

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(c, 0.05, size=(50, 1)) for c in (0, 1, 2, 3)])
    >>> bad = np.array([[0.0], [0.02], [1.5], [3.0]])   # two centroids in one cluster
    >>> out = random_swap(X, bad, seed=0)
    >>> np.round(np.sort(out.centers.ravel()), 1).tolist()
    [0.0, 1.0, 2.0, 3.0]
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    X = np.ascontiguousarray(X, dtype=np.float64)
    k, n = C.shape[0], X.shape[0]
    x_sq = squared_norms(X)
    best = np.array(C, dtype=np.float64, copy=True)
    _, best_sse = assign(X, best, x_sq)
    if k < 2 or n <= k:
        return SwapResult(best, best_sse, 0, 0)
    trial_sse = _compiled_trial() if compiled else None
    patience = max(patience, 10 * k)
    trials = accepted = since = 0
    while trials < max_trials and since < patience:
        trials += 1
        # Drawn here, in this order (the row first), whichever way the trial runs.
        row = rng.integers(n)
        centroid = rng.integers(k)
        if trial_sse is not None:
            trial = np.empty_like(best)
            sse = trial_sse(X, x_sq, best, centroid, row, kmeans_steps, trial)
        else:
            trial = best.copy()
            trial[centroid] = X[row]
            for _ in range(kmeans_steps):
                labels, _ = assign(X, trial, x_sq)
                trial = update(X, labels, trial)
            _, sse = assign(X, trial, x_sq)
        if sse < best_sse * (1 - 1e-12):
            best, best_sse = trial, sse
            accepted += 1
            since = 0
        else:
            since += 1
    return SwapResult(best, best_sse, trials, accepted)


def _compiled_trial():
    """The compiled trial (:func:`custseg.segmentation.swapkernel.trial_sse`), or None without
    Numba."""
    try:
        from custseg.segmentation.swapkernel import trial_sse
    except ImportError:  # pragma: no cover - Numba is a dependency; NumPy gives the same bits
        return None
    return trial_sse


def prepare_compiled() -> bool:
    """Load the compiled trial now (Numba's import and start-up, 0.2 to 0.3 s, the first time),
    so that a later ``random_swap(..., compiled=True)`` starts at once. False without Numba."""
    trial_sse = _compiled_trial()
    if trial_sse is None:  # pragma: no cover - Numba is a dependency
        return False
    X = np.zeros((2, 1))
    trial_sse(X, X[:, 0].copy(), X.copy(), np.int64(0), np.int64(0), 1, X.copy())
    return True
