"""The scaler's moments over blocks, many blocks per call: the bits of partial_fit block by block."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.preprocessing import StandardScaler

from custseg.engines import kernels
from custseg.engines.kernels import Blocks
from custseg.engines.moments import BlockMoments
from custseg.optional import mark_compiled_code_loaded


def _reference(batches: list[np.ndarray], size: int, transform=None) -> StandardScaler:
    scaler = StandardScaler()
    blocks = Blocks(lambda X: scaler.partial_fit(X if transform is None else transform(X)), size)
    for batch in batches:
        blocks.feed(batch)
    blocks.flush()
    return scaler


def _fast(batches: list[np.ndarray], size: int, transform=None) -> StandardScaler:
    moments = BlockMoments(StandardScaler(), transform, size)
    for batch in batches:
        moments.feed(batch)
    moments.flush()
    return moments.scaler


def _assert_same(a: StandardScaler, b: StandardScaler) -> None:
    for name in ("mean_", "var_", "scale_", "n_samples_seen_"):
        x, y = getattr(a, name), getattr(b, name)
        assert np.asarray(x).dtype == np.asarray(y).dtype, name
        assert np.asarray(x).tobytes() == np.asarray(y).tobytes(), name
    assert a.n_features_in_ == b.n_features_in_
    assert list(vars(a)) == list(vars(b))  # the attributes' order: a pickle keeps it
    assert pickle.dumps(a) == pickle.dumps(b)


def _data(rng: np.random.Generator, n: int, d: int, kind: str) -> np.ndarray:
    if kind == "integers":
        return rng.integers(0, 150, (n, d)).astype(np.float64)
    if kind == "wide":
        return rng.standard_normal((n, d)) * 10.0 ** rng.uniform(-6, 12, d) + rng.uniform(-1e6, 1e6, d)
    if kind == "negative zeros":  # a block whose column sums to zero from -0.0 cells
        X = rng.standard_normal((n, d))
        X[:200, 1] = -0.0
        return X
    X = rng.integers(0, 3, (n, d)).astype(np.float64)  # constant-ish columns
    X[:, 0] = 7.0
    return X


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("kind", ["integers", "wide", "constant", "negative zeros"])
@pytest.mark.parametrize("d", [2, 3, 5])
@pytest.mark.parametrize("cuts", [[1000], [64, 64, 64], [63, 1, 700, 3, 129], [5], [1, 64, 1]])
def test_same_bits_as_partial_fit_block_by_block(monkeypatch, compiled, kind, d, cuts):
    # Large inputs take the compiled per-block sums (custseg.engines.momentkernel).
    monkeypatch.setattr(kernels, "FUSED_MIN_ROWS", 0 if compiled else 1 << 62)
    mark_compiled_code_loaded()  # used once Numba is loaded
    rng = np.random.default_rng(d * 100 + len(cuts))
    X = _data(rng, sum(cuts), d, kind)
    batches = np.split(X, np.cumsum(cuts)[:-1])
    before = X.copy()
    _assert_same(_fast(batches, 64), _reference(batches, 64))
    assert np.array_equal(X, before)  # the rows are read, never changed
    log = lambda V: np.log1p(np.maximum(V, 0.0))  # noqa: E731
    _assert_same(_fast(batches, 64, log), _reference(batches, 64, log))


@pytest.mark.parametrize("d", [1, 2])
def test_missing_values_and_one_feature_take_partial_fit(d):
    rng = np.random.default_rng(d)
    X = rng.standard_normal((700, d))
    X[rng.random(700) < 0.05, 0] = np.nan
    batches = np.split(X, [100, 333])
    _assert_same(_fast(batches, 64), _reference(batches, 64))


def test_full_default_blocks_and_an_exact_multiple():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 100, (1 << 18, 2)).astype(np.float64)  # four blocks, no partial block
    batches = np.split(X, [1 << 17])
    moments = BlockMoments(StandardScaler())
    for batch in batches:
        moments.feed(batch)
    moments.flush()
    _assert_same(moments.scaler, _reference(batches, 1 << 16))


def test_nothing_fed_leaves_the_scaler_unfitted():
    moments = BlockMoments(StandardScaler())
    moments.feed(np.empty((0, 2)))
    moments.flush()
    assert not hasattr(moments.scaler, "mean_")
