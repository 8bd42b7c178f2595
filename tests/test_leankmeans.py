"""The lean K-Means fit is scikit-learn's KMeans, to the bit: centroids, labels, inertia,
iterations and predictions, for every mix of sizes, starts and warm starts tried."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.cluster import KMeans

from custseg.segmentation.leankmeans import lean_kmeans, nearest_labels


def _data(n: int, d: int, seed: int, rounded: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.1, 100) + rng.uniform(-50, 50)
    return np.round(X) if rounded else X  # rounded: repeated rows, ties in the distances


@pytest.mark.parametrize("n", [3, 20, 200, 2_000])
@pytest.mark.parametrize("d", [1, 2, 5])
@pytest.mark.parametrize(("n_init", "max_iter"), [(1, 300), (2, 30), (10, 5)])
@pytest.mark.parametrize("rounded", [False, True])
def test_lean_fit_is_kmeans_to_the_bit(n, d, n_init, max_iter, rounded):
    X = _data(n, d, seed=n * d + max_iter, rounded=rounded)
    for k in sorted({1, 2, min(n, 5), min(n, 12)}):
        seed = 1000 * k + n
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = KMeans(k, n_init=n_init, max_iter=max_iter, random_state=seed).fit(X)
        got = lean_kmeans(X, k, n_init=n_init, max_iter=max_iter, seed=seed)
        np.testing.assert_array_equal(got.cluster_centers_, expected.cluster_centers_)
        np.testing.assert_array_equal(got.labels_, expected.labels_)
        assert got.inertia_ == expected.inertia_
        assert got.n_iter_ == expected.n_iter_
        new = _data(50, d, seed=k, rounded=rounded)
        np.testing.assert_array_equal(got.predict(new), expected.predict(new))


@pytest.mark.parametrize(("n", "k", "tol"), [(200, 5, 1e-4), (1_000, 8, 0.0), (64, 3, 1e-2)])
def test_warm_start_is_kmeans_to_the_bit(n, k, tol):
    X = _data(n, 2, seed=k, rounded=False)
    init = X[np.random.default_rng(k).choice(n, k, replace=False)] + 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = KMeans(k, init=init, n_init=1, tol=tol).fit(X)
    got = lean_kmeans(X, k, init=init, tol=tol)
    np.testing.assert_array_equal(got.cluster_centers_, expected.cluster_centers_)
    np.testing.assert_array_equal(got.labels_, expected.labels_)
    assert (got.inertia_, got.n_iter_) == (expected.inertia_, expected.n_iter_)
    np.testing.assert_array_equal(init, X[np.random.default_rng(k).choice(n, k, replace=False)]
                                  + 0.5)  # the caller's start is left as it was


def test_inputs_are_left_as_they_were():
    X = _data(100, 2, seed=0, rounded=False)
    before = X.copy()
    lean_kmeans(X, 4, n_init=3, seed=0)
    np.testing.assert_array_equal(X, before)


def test_nearest_labels_match_predict():
    X = _data(500, 3, seed=1, rounded=True)
    model = KMeans(6, n_init=1, random_state=0).fit(X)
    np.testing.assert_array_equal(nearest_labels(X[::-1], model.cluster_centers_),
                                  model.predict(X[::-1]))
