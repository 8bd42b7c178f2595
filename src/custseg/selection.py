"""Choosing the number of segments K: the elbow curve."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from custseg.engines.local import fit_kmeans


@dataclass(frozen=True)
class ElbowCurve:
    """Inertia (within-segment sum of squares, scaled units) for each K tried.

    Attributes
    ----------
    ks : tuple of int
        The K values, ascending.
    inertias : tuple of float
        Best inertia found for each K.
    """

    ks: tuple[int, ...]
    inertias: tuple[float, ...]


def elbow_curve(Z: np.ndarray, k_max: int = 10, *, seed: int = 0, n_init: int = 10,
                advance: Callable[[float], None] | None = None) -> ElbowCurve:
    """Inertia for K = 1 .. ``k_max`` (capped at the number of distinct rows).

    Examples
    --------
    >>> Z = np.array([[0.0], [0.1], [5.0], [5.1]])
    >>> curve = elbow_curve(Z, 3, seed=0)
    >>> curve.ks, [round(v, 3) for v in curve.inertias]
    ((1, 2, 3), [25.01, 0.01, 0.005])
    """
    k_top = min(k_max, len(np.unique(Z, axis=0)))
    ks = tuple(range(1, k_top + 1))
    inertias = []
    for k in ks:
        inertias.append(fit_kmeans(Z, k, n_init=n_init, seed=seed).inertia)
        if advance is not None:
            advance(1)
    return ElbowCurve(ks, tuple(inertias))
