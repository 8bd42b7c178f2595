"""The criteria that compare the data with something else: the elbow's knee, the reference frame
of the gap statistic, the selection sample."""

from __future__ import annotations

import numpy as np
import pytest

from custseg.segmentation.criteria import knee_of, reference_box, selection_sample


def test_knee_of_a_clear_elbow():
    assert knee_of([1, 2, 3, 4, 5, 6], [100, 40, 12, 10, 9, 8.5]) == 3
    assert knee_of([1, 2], [10, 5]) is None


def test_reference_box_prefers_the_tighter_frame():
    rng = np.random.default_rng(0)
    square = rng.uniform(-1, 1, size=(2000, 2))
    _, low, high = reference_box(square)
    assert np.prod(high - low) == pytest.approx(4.0, rel=0.02)  # axis-aligned box fits
    angle = np.pi / 4
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    stripe = rng.uniform([-5, -0.5], [5, 0.5], size=(2000, 2)) @ turn.T
    _, low, high = reference_box(stripe)
    assert np.prod(high - low) == pytest.approx(10.0, rel=0.05)  # the principal axes fit


def test_selection_sample_is_seeded_and_bounded():
    Z = np.arange(20000.0).reshape(-1, 2)
    a, b = selection_sample(Z, 1, size=100), selection_sample(Z, 1, size=100)
    assert a.shape == (100, 2)
    np.testing.assert_array_equal(a, b)
    assert selection_sample(Z[:50], 1, size=100).shape == (50, 2)


def test_refined_knee_does_not_move_with_the_range(mall_df):
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import StandardScaler

    from custseg.segmentation.criteria import refined_knee
    from tests.conftest import FEATURES

    Z = StandardScaler().fit_transform(mall_df[FEATURES])
    ks = list(range(1, 41))
    inertia = [KMeans(k, n_init=2, random_state=0).fit(Z).inertia_ for k in ks]
    assert knee_of(ks, inertia) != 5  # kneed alone drifts right on the long curve
    assert [refined_knee(ks[:top], inertia[:top]) for top in (10, 20, 40)] == [5, 5, 5]


def test_structure_test_compares_the_same_k_whatever_the_range():
    from custseg.segmentation.criteria import STRUCTURE_K_MAX, structure_range

    assert structure_range(1_000) == list(range(2, STRUCTURE_K_MAX + 1))
    assert structure_range(5) == [2, 3, 4]
