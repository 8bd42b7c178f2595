"""Random swap (custseg.segmentation.swap) and its compiled trial (swapkernel): same bits."""

from __future__ import annotations

import numpy as np
import pytest

from custseg.engines.kernels import nearest
from custseg.segmentation.leankmeans import lean_kmeans
from custseg.segmentation.swap import assign, random_swap, squared_norms, update


def _blobs(n: int, d: int, k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-6, 6, size=(k, d))
    return centres[rng.integers(k, size=n)] + rng.normal(0, 0.8, size=(n, d))


DATA = {
    "blobs-2d": (_blobs(2_000, 2, 6, 0), 6),
    "blobs-1d": (_blobs(500, 1, 3, 1), 4),
    "blobs-4d-many-k": (_blobs(1_500, 4, 9, 2), 9),
    # Few distinct rows, many copies: trials leave centroids without rows (they stay put).
    "duplicates": (np.repeat(_blobs(12, 2, 3, 3), 25, axis=0), 7),
    "uniform": (np.random.default_rng(4).uniform(size=(800, 3)), 5),
}


@pytest.mark.parametrize("name", sorted(DATA))
def test_compiled_trials_give_the_same_bits(name):
    X, k = DATA[name]
    start = lean_kmeans(X, k, n_init=1, seed=1).cluster_centers_
    plain = random_swap(X, start, seed=np.random.default_rng([7, 5]))
    compiled = random_swap(X, start, seed=np.random.default_rng([7, 5]), compiled=True)
    assert np.array_equal(plain.centers, compiled.centers)
    assert plain.sse == compiled.sse
    assert (plain.trials, plain.accepted) == (compiled.trials, compiled.accepted)


@pytest.mark.parametrize("name", sorted(DATA))
def test_swap_never_worsens_the_start(name):
    X, k = DATA[name]
    start = lean_kmeans(X, k, n_init=1, seed=1).cluster_centers_
    result = random_swap(X, start, seed=0, compiled=True)
    assert result.sse <= assign(X, start)[1]
    assert result.sse == pytest.approx(assign(X, result.centers)[1], rel=0, abs=0)


def test_swap_escapes_a_local_minimum():
    X, _ = DATA["blobs-2d"]
    truth = lean_kmeans(X, 6, n_init=20, seed=0)
    # Two centroids in one blob, one blob without: k-means alone stays there.
    bad = truth.cluster_centers_.copy()
    bad[0] = bad[1] + 0.01
    result = random_swap(X, bad, seed=0, compiled=True)
    assert result.accepted >= 1
    assert result.sse == pytest.approx(truth.inertia_, rel=1e-9)


@pytest.mark.parametrize("d", [1, 2, 3, 5])
def test_assign_is_the_engines_nearest(d):
    """The formula of custseg.engines.kernels.nearest (its centroid norms come from einsum,
    whose order of additions may differ: the totals agree to rounding)."""
    X = _blobs(3_000, d, 4, d)
    C = X[:6].copy()
    labels, sse = assign(X, C)
    reference, distances = nearest(X, C, squared=True)
    assert np.array_equal(labels, reference)
    assert sse == pytest.approx(float(np.cumsum(distances)[-1]), rel=1e-12)
    assert sse == pytest.approx(((X - C[labels]) ** 2).sum(), rel=1e-9)


@pytest.mark.parametrize("k", [1, 3, 40])
def test_assign_takes_the_first_of_equal_centroids(k):
    """Duplicated centroids and rows on grid points tie exactly: the first centroid wins, as
    argmin over the (n, k) distance matrix would pick it."""
    rng = np.random.default_rng(k)
    X = np.round(rng.normal(size=(2_500, 2)), 1)
    C = np.vstack([X[rng.integers(len(X), size=k)]] * 2)  # every centroid twice
    labels, sse = assign(X, C)
    D = squared_norms(C) - 2.0 * (X[:, :1] * C[:, 0] + X[:, 1:2] * C[:, 1])
    assert np.array_equal(labels, D.argmin(axis=1))
    assert labels.max() < k
    distance = np.maximum(D[np.arange(len(X)), labels] + squared_norms(X), 0.0)
    assert sse == float(np.cumsum(distance)[-1])


def test_update_keeps_an_empty_centroid():
    X = np.array([[0.0, 0.0], [1.0, 1.0], [10.0, 10.0]])
    C = np.array([[0.5, 0.5], [10.0, 10.0], [-50.0, -50.0]])
    labels, _ = assign(X, C)
    new = update(X, labels, C)
    assert new.tolist() == [[0.5, 0.5], [10.0, 10.0], [-50.0, -50.0]]
    assert squared_norms(X).tolist() == [0.0, 2.0, 200.0]


def test_prepare_compiled_loads_the_trial_ahead():
    from custseg.segmentation.swap import prepare_compiled

    assert prepare_compiled()
    X, k = DATA["blobs-1d"]
    start = lean_kmeans(X, k, n_init=1, seed=1).cluster_centers_
    after = random_swap(X, start, seed=3, compiled=True)
    assert np.array_equal(after.centers, random_swap(X, start, seed=3).centers)
