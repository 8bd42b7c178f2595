"""Kneedle (custseg.segmentation.knee) against the kneed package it reproduces."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from custseg.segmentation.knee import kneedle

kneed = pytest.importorskip("kneed")


def _kneed(x, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return kneed.KneeLocator(x, y, curve="convex", direction="decreasing").knee


def _curves(n: int, seed: int):
    """Inertia-like curves: decreasing, convex or nearly so, with plateaus, noise and ties."""
    rng = np.random.default_rng(seed)
    for _ in range(n):
        length = int(rng.integers(3, 40))
        x = np.arange(1, length + 1)
        kind = rng.integers(4)
        if kind == 0:  # power law
            y = 100.0 / x ** rng.uniform(0.2, 3)
        elif kind == 1:  # true elbow then a slow slope
            elbow = int(rng.integers(1, length + 1))
            y = np.where(x <= elbow, 100.0 / x, 100.0 / elbow - rng.uniform(0, 1) * (x - elbow))
        elif kind == 2:  # noisy decreasing
            y = np.sort(rng.exponential(10, length))[::-1] + rng.normal(0, 0.5, length)
        else:  # integers with ties
            y = np.sort(rng.integers(0, 6, length))[::-1].astype(float)
        yield x, y


@pytest.mark.parametrize("seed", range(4))
def test_kneedle_agrees_with_kneed(seed):
    curves = list(_curves(500, seed))
    found = [kneedle(x, y) for x, y in curves]
    assert found == [_kneed(x, y) for x, y in curves]
    assert any(k is not None for k in found)
    assert any(k is None for k in found)


@pytest.mark.parametrize(("x", "y", "knee"), [
    ([1, 2, 3, 4, 5, 6], [100, 40, 12, 10, 9, 8.5], 3),
    ([1, 2, 3], [3, 2, 1], None),       # straight
    ([1, 2, 3, 4], [5, 5, 5, 5], None),  # flat: nothing to normalise
    ([2, 4, 6, 8, 10], [50, 20, 10, 8, 7], 4),  # x not starting at 1
])
def test_kneedle_cases(x, y, knee):
    assert kneedle(x, y) == knee
    assert _kneed(x, y) == knee
