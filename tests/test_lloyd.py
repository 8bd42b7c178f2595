"""The final fit: exact Lloyd passes through an engine, and the stable segment numbering."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans

from custseg.engines.memory import MemoryEngine
from custseg.engines.scan import block_scaler
from custseg.segmentation.lloyd import fit_centroids, lloyd, stable_order


@pytest.fixture(scope="module")
def blobs() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.vstack([rng.normal(c, 1.0, size=(4_000, 2)) for c in ([0, 0], [3, 0], [0, 3], [3, 3])])


def test_lloyd_through_the_engine_is_scikit_learn_lloyd_not_mini_batch(blobs):
    scaler = block_scaler(blobs)
    Z = scaler.transform(blobs)
    start = Z[np.random.default_rng(1).choice(len(Z), 4, replace=False)]
    fit = lloyd(MemoryEngine.from_matrix(blobs), start, scaler)
    reference = KMeans(4, init=start, n_init=1, algorithm="lloyd").fit(Z)
    order = stable_order(reference.cluster_centers_, np.bincount(reference.labels_))
    np.testing.assert_allclose(fit.centers, reference.cluster_centers_[order], atol=1e-9)
    assert fit.n_iter == reference.n_iter_
    assert fit.sizes.tolist() == np.bincount(reference.labels_)[order].tolist()
    assert fit.inertia == pytest.approx(reference.inertia_, rel=1e-9)
    assert fit.converged
    assert fit.shifts[-1] <= fit.tolerance


def test_at_least_one_iteration_and_segments_by_size(blobs):
    scaler = block_scaler(blobs)
    Z = scaler.transform(blobs)
    fit = fit_centroids(MemoryEngine.from_matrix(blobs), scaler, Z[::10], 4, seed=0)
    assert fit.n_iter >= 1
    assert (np.diff(fit.sizes) <= 0).all()  # segment 0 is the largest
    assert fit.sizes.sum() == len(blobs)


def test_max_iter_must_allow_an_iteration(blobs):
    scaler = block_scaler(blobs)
    with pytest.raises(ValueError, match="max_iter"):
        lloyd(MemoryEngine.from_matrix(blobs), np.zeros((2, 2)), scaler, max_iter=0)


def test_stable_order_by_size_then_coordinates():
    centers = np.array([[3.0, 0.0], [1.0, 5.0], [1.0, 2.0]])
    assert stable_order(centers, np.array([2, 2, 2])).tolist() == [2, 1, 0]
    assert stable_order(centers, np.array([3, 1, 2])).tolist() == [0, 2, 1]
