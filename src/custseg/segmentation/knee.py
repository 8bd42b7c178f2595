"""The knee of a decreasing convex curve (the elbow of inertia against K): Kneedle.

Kneedle (Satopää, Albrecht, Irwin & Raghavan 2011) exactly as the ``kneed`` package computes it
with ``curve="convex", direction="decreasing"`` and its defaults (sensitivity ``S = 1``, no
smoothing, offline: the first knee). ``tests/test_knee.py`` checks the two agree on thousands
of curves. ``kneed`` itself is not imported at run time: it imports ``scipy.signal`` and
``matplotlib.pyplot`` for one ``argrelextrema`` call, a tenth of a second of every run's start.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _normalised(a: np.ndarray) -> np.ndarray:
    return (a - a.min()) / (a.max() - a.min())


def _relative_extrema(y: np.ndarray, comparator: np.ufunc) -> np.ndarray:
    """Indices where ``comparator(y[i], neighbour)`` holds for both neighbours, the ends
    compared with themselves (``scipy.signal.argrelextrema`` with ``order=1, mode="clip"``)."""
    before = np.concatenate([y[:1], y[:-1]])
    after = np.concatenate([y[1:], y[-1:]])
    return np.flatnonzero(comparator(y, after) & comparator(y, before))


def kneedle(x: Sequence[float], y: Sequence[float]) -> float | None:
    """The knee of the decreasing convex curve ``y(x)`` (``x`` ascending), or ``None``.

    Examples
    --------
    >>> kneedle([1, 2, 3, 4, 5, 6], [100, 40, 20, 15, 12, 10])
    3
    >>> kneedle([1, 2, 3], [3, 2, 1]) is None  # a straight line has no knee
    True
    """
    x = np.asarray(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        x_norm = _normalised(np.asarray(x, dtype=float))
        y_norm = _normalised(np.asarray(y, dtype=float))
        y_norm = y_norm.max() - y_norm  # the elbow turned into a knee
        difference = y_norm - x_norm
        maxima = _relative_extrema(difference, np.greater_equal)
        minima = _relative_extrema(difference, np.less_equal)
        if not maxima.size:
            return None
        thresholds = difference[maxima] - np.abs(np.diff(x_norm).mean())
    n_maxima = 0
    threshold, at = 0.0, 0
    active = True
    for i in range(int(maxima[0]), len(difference) - 1):
        if (maxima == i).any():
            threshold, at = thresholds[n_maxima], i
            n_maxima += 1
            active = True
        if (minima == i).any():
            threshold = 0.0
            active = False  # until the next local maximum
        if active and difference[i + 1] < threshold:
            return x[at].item()
    return None
