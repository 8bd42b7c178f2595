"""Silhouette: exact when small, sampled (and close) when large."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import silhouette_score

from custseg.segmentation.metrics import silhouette


def test_exact_below_sample_size():
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(300, 2))
    labels = (Z[:, 0] > 0).astype(int)
    assert silhouette(Z, labels) == pytest.approx(silhouette_score(Z, labels))


def test_sampled_estimate_is_close_to_exact():
    rng = np.random.default_rng(1)
    Z = np.vstack([rng.normal(c, 1.0, size=(3000, 2)) for c in (0, 4)])
    labels = np.repeat([0, 1], 3000)
    exact = silhouette_score(Z, labels)
    assert silhouette(Z, labels, sample_size=2000) == pytest.approx(exact, abs=0.02)


@pytest.mark.parametrize("labels", [[0, 0, 0], [0, 1, 2]])
def test_undefined_cases_are_nan(labels):
    assert np.isnan(silhouette(np.arange(3.0).reshape(-1, 1), np.array(labels)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_silhouette_from_distances_equals_scikit_learn(seed):
    from sklearn.metrics import pairwise_distances, silhouette_score

    from custseg.segmentation.metrics import silhouette_from_distances

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(300, 3))
    labels = rng.integers(0, 4, size=300)
    labels[0] = 4  # a singleton scores 0, as in scikit-learn
    expected = silhouette_score(X, labels)
    assert silhouette_from_distances(pairwise_distances(X), labels) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(("n", "d", "k", "seed"),
                         [(40, 1, 2, 0), (300, 2, 5, 1), (2_345, 3, 9, 2), (1_000, 2, 4, 3)])
def test_silhouette_rows_equal_scikit_learn(n, d, k, seed):
    from sklearn.metrics import silhouette_samples

    from custseg.segmentation.metrics import silhouette_rows

    rng = np.random.default_rng(seed)
    Z = np.round(rng.normal(size=(n, d)), 1)  # ties and repeated rows included
    labels = rng.integers(0, k, size=n)
    labels[0] = k + 1  # a singleton, and a segment with no row (k)
    assert silhouette_rows(Z, labels) == pytest.approx(silhouette_samples(Z, labels), abs=1e-9)
