"""The arithmetic every engine shares: nearest centroid as scikit-learn predicts it, and sums that
are the same bits whatever the batches."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans

from custseg.engines.kernels import (
    BLOCK_ROWS,
    Blocks,
    PassAccumulator,
    distances_to,
    nearest,
    scaled,
    single_blas,
)
from custseg.segmentation.estimator import kmeans_from_centers


def test_nearest_labels_as_scikit_learn_predicts():
    rng = np.random.default_rng(1)
    Z, centers = rng.normal(size=(5_000, 3)), rng.normal(size=(7, 3))
    with single_blas():
        labels, squared = nearest(Z, centers, squared=True)
    assert (labels == kmeans_from_centers(centers).predict(Z)).all()
    np.testing.assert_allclose(squared, ((Z - centers[labels]) ** 2).sum(axis=1), atol=1e-12)
    np.testing.assert_allclose(distances_to(Z, centers, labels), np.sqrt(squared), atol=1e-7)
    assert nearest(Z, centers)[1] is None


def test_scaled_is_standard_scaler_arithmetic():
    from sklearn.preprocessing import StandardScaler

    X = np.random.default_rng(2).normal(50, 10, size=(100, 2))
    scaler = StandardScaler().fit(X)
    assert np.array_equal(scaled(X, scaler.mean_, scaler.scale_), scaler.transform(X))


@pytest.mark.parametrize("sizes", [[10], [3, 3, 4], [1] * 10, [9, 1], [4, 6]])
def test_blocks_cut_any_batches_into_the_same_blocks(sizes):
    seen = []
    blocks = Blocks(lambda a, b: seen.append((a.tolist(), b.tolist())), size=4)
    data = np.arange(10)
    start = 0
    for n in sizes:
        blocks.feed(data[start:start + n], -data[start:start + n])
        start += n
    blocks.flush()
    assert seen == [([0, 1, 2, 3], [0, -1, -2, -3]), ([4, 5, 6, 7], [-4, -5, -6, -7]),
                    ([8, 9], [-8, -9])]


def test_pass_totals_are_the_same_bits_in_any_batches():
    rng = np.random.default_rng(3)
    X = rng.normal(100, 30, size=(3 * BLOCK_ROWS + 123, 2))
    centers = rng.normal(size=(5, 2))
    mean, scale = X.mean(axis=0), X.std(axis=0)
    results = []
    for batch in (len(X), 1_000, 7_919):
        accumulator = PassAccumulator(centers, mean, scale)
        blocks = Blocks(accumulator.add)
        for start in range(0, len(X), batch):
            blocks.feed(X[start:start + batch])
        blocks.flush()
        results.append(accumulator.totals())
    for other in results[1:]:
        assert np.array_equal(other.sums, results[0].sums)
        assert np.array_equal(other.counts, results[0].counts)
        assert other.inertia == results[0].inertia
    Z = scaled(X, mean, scale)
    labels = KMeans(5, init=centers, n_init=1, max_iter=1).fit(centers).predict(Z)
    assert results[0].counts.tolist() == np.bincount(labels, minlength=5).tolist()
    np.testing.assert_allclose(results[0].centers(centers),
                               [Z[labels == j].mean(axis=0) for j in range(5)], rtol=1e-10)


def _data(d: int, k: int, n: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 100, size=(n, d)).astype(np.float64)  # integer cells: ties happen
    X[::7] = X[0]  # repeated rows
    mean, scale = X.mean(axis=0), X.std(axis=0) + 0.5
    centers = np.round(rng.normal(size=(k, d)), 1)
    centers[-1] = centers[0]  # two equal centroids: the first must win
    if k >= 3:
        centers[1] = 1e3  # far from every row: an empty cluster
    return X, centers, mean, scale


# The compiled kernels are specialised on the number of features (d): each d is its own code.
@pytest.mark.parametrize(("d", "k"), [(1, 1), (1, 12), (2, 5), (3, 8), (4, 2), (5, 12), (6, 3)])
def test_compiled_pass_is_the_same_bits_as_the_numpy_pass(monkeypatch, d, k):
    pytest.importorskip("numba")
    from custseg.engines import kernels

    X, centers, mean, scale = _data(d, k, 3 * BLOCK_ROWS + 1_001, seed=d * 10 + k)
    results = []
    for fused, threads in ((False, 1), (True, 1), (True, 3)):
        monkeypatch.setattr(kernels, "FUSED_MIN_ROWS", 0 if fused else 1 << 62)
        monkeypatch.setattr(kernels, "FUSED_THREADS", threads)
        accumulator = PassAccumulator(centers, mean, scale, n_rows=len(X))
        assert (accumulator.fused is not None) == fused
        accumulator.add_blocks(X[:2 * BLOCK_ROWS])
        accumulator.add(X[2 * BLOCK_ROWS:3 * BLOCK_ROWS])
        accumulator.add(X[3 * BLOCK_ROWS:])
        results.append((accumulator.totals(), kernels.assign_rows(X, centers, mean, scale)))
    (reference, (labels, squared)), *others = results
    for totals, (other_labels, other_squared) in others:
        assert np.array_equal(totals.sums, reference.sums)
        assert np.array_equal(totals.counts, reference.counts)
        assert totals.inertia == reference.inertia
        assert np.array_equal(other_labels, labels)
        assert np.array_equal(other_squared, squared)
    assert not (labels == k - 1).any() or k == 1  # the duplicate of centroid 0 never wins
    assert k < 3 or reference.counts[1] == 0
    Z = scaled(X, mean, scale)
    np.testing.assert_allclose(squared, ((Z - centers[labels]) ** 2).sum(axis=1), atol=1e-9)


def _numpy_block_totals(X, centers, mean, scale, block):
    """Per-block sums, counts and inertia by the NumPy reference (:meth:`PassAccumulator.add`)."""
    totals = []
    for start in range(0, len(X), block):
        accumulator = PassAccumulator(centers, mean, scale)  # n_rows=0: never compiled
        assert accumulator.fused is None
        accumulator.add(X[start:start + block])
        totals.append(accumulator.totals())
    return totals


# Tiles of fused.SUB_ROWS rows: blocks shorter, longer and not a multiple of a tile; centroids
# four at a time: K below 4, 4, 4 + 1, 4 + 3, 4 + 4, 4 + 4 + 1.
@pytest.mark.parametrize("d", [1, 2, 3, 4, 5, 6])
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 7, 8, 9])
def test_compiled_blocks_are_the_numpy_bits_whatever_the_block_and_range(d, k):
    pytest.importorskip("numba")
    from custseg.engines import fused
    from custseg.engines.kernels import _features, center_norms

    X, centers, mean, scale = _data(d, k, 2_000, seed=100 * d + k)
    args = (*_features(mean, scale), centers, center_norms(centers))
    for block in (1, 255, 256, 257, 700, 2_000):
        n_blocks = -(-len(X) // block)
        reference = _numpy_block_totals(X, centers, mean, scale, block)
        for ranges in ([(0, n_blocks)], [(0, 1), (1, n_blocks // 2), (n_blocks // 2, n_blocks)]):
            sums = np.zeros((n_blocks, k, d))
            counts = np.zeros((n_blocks, k), dtype=np.int64)
            inertia = np.zeros(n_blocks)
            for first, last in ranges:
                fused.pass_blocks(X, first, last, block, *args, True, sums, counts, inertia)
            for b, totals in enumerate(reference):
                assert np.array_equal(sums[b], totals.sums)
                assert np.array_equal(counts[b], totals.counts)
                assert inertia[b] == totals.inertia
        plain = np.zeros((n_blocks, k, d)), np.zeros((n_blocks, k), dtype=np.int64), np.ones(n_blocks)
        fused.pass_blocks(X, 0, n_blocks, block, *args, False, *plain)
        assert np.array_equal(plain[0], sums)
        assert np.array_equal(plain[1], counts)
        assert not plain[2].any()  # no inertia asked: 0


@pytest.mark.parametrize(("d", "k"), [(1, 3), (2, 5), (3, 9), (6, 4)])
def test_compiled_assignment_of_any_rows_is_the_numpy_bits(d, k):
    pytest.importorskip("numba")
    from custseg.engines import fused
    from custseg.engines.kernels import _features, center_norms

    X, centers, mean, scale = _data(d, k, 1_500, seed=d + 7 * k)
    with single_blas():
        expected_labels, expected_squared = nearest(scaled(X, mean, scale), centers, squared=True)
    for start, stop in ((0, len(X)), (5, len(X) - 7), (300, 301), (256, 769)):
        labels = np.full(len(X), -1, dtype=np.int64)
        squared = np.full(len(X), -1.0)
        fused.assign_rows(X, start, stop, *_features(mean, scale), centers, center_norms(centers),
                          labels, squared)
        assert np.array_equal(labels[start:stop], expected_labels[start:stop])
        assert np.array_equal(squared[start:stop], expected_squared[start:stop])
        assert (labels[:start] == -1).all()  # nothing else written
        assert (labels[stop:] == -1).all()


def test_compiles_is_told_without_importing_numba(monkeypatch):
    from custseg.engines.kernels import FUSED_MIN_ROWS, compiles

    assert compiles(FUSED_MIN_ROWS)
    assert not compiles(FUSED_MIN_ROWS - 1)
    monkeypatch.setenv("CUSTSEG_NO_JIT", "1")
    assert not compiles(10 * FUSED_MIN_ROWS)


def test_warm_up_loads_numba_in_the_background_for_large_inputs_only(monkeypatch):
    from custseg.engines.kernels import WARM_UP_BYTES, warm_up

    assert warm_up(WARM_UP_BYTES - 1) is None
    thread = warm_up(WARM_UP_BYTES)
    assert thread is not None
    thread.join(timeout=120)
    assert not thread.is_alive()
    import sys

    assert "numba" in sys.modules
    monkeypatch.setenv("CUSTSEG_NO_JIT", "1")
    assert warm_up(10 * WARM_UP_BYTES) is None
