"""The elbow curve."""

from __future__ import annotations

import numpy as np
import pytest

from custseg.selection import elbow_curve


def test_elbow_is_decreasing_and_k1_is_total_sum_of_squares():
    rng = np.random.default_rng(0)
    Z = np.vstack([rng.normal(c, 0.1, size=(50, 2)) for c in (0, 3, 6)])
    curve = elbow_curve(Z, 6, seed=0)
    assert curve.ks == (1, 2, 3, 4, 5, 6)
    assert curve.inertias[0] == pytest.approx(((Z - Z.mean(axis=0)) ** 2).sum())
    assert all(a >= b for a, b in zip(curve.inertias, curve.inertias[1:], strict=False))
    # Three tight blobs: the drop after K = 3 is tiny compared with the one before.
    assert curve.inertias[2] < 0.05 * curve.inertias[1]


def test_elbow_stops_at_number_of_distinct_points():
    Z = np.array([[0.0], [0.0], [1.0]])
    assert elbow_curve(Z, 10).ks == (1, 2)


def test_elbow_reports_progress():
    steps = []
    elbow_curve(np.arange(10.0).reshape(-1, 1), 4, advance=steps.append)
    assert steps == [1, 1, 1, 1]
