"""K-Means engines: the best partition, not the first local minimum."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler

from custseg.segmentation import kmeans as local
from custseg.segmentation.kmeans import fit_kmeans
from custseg.segmentation.metrics import centroid_index
from custseg.segmentation.swap import assign, random_swap, update
from tests.conftest import shared_dataset


def _franti(name: str):
    folder = "franti_s_sets" if name.startswith("s") else "franti_a_sets"
    X = np.loadtxt(shared_dataset(folder, f"{name}.txt"))
    if name.startswith("s"):
        truth = np.loadtxt(shared_dataset(folder, f"{name}-cb.txt"), delimiter=",")
    else:  # a-sets ship labels only: the true centroids are the label means (derived)
        labels = np.loadtxt(shared_dataset(folder, f"{name}-labels.txt"), dtype=int)
        truth = np.array([X[labels == g].mean(axis=0) for g in np.unique(labels)])
    scaler = StandardScaler().fit(X)
    return scaler.transform(X), scaler.transform(truth)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["s1", "s2", "s3", "s4", "a1"])
def test_centroid_index_is_zero_at_true_k(name):
    Z, truth = _franti(name)
    for seed in range(5):
        fit = fit_kmeans(Z, len(truth), seed=seed)
        assert centroid_index(fit.centers, truth) == 0, (name, seed)


@pytest.mark.slow
def test_random_swap_repairs_what_restarts_miss():
    # a2 (35 clusters): 10 k-means++ starts leave a wrongly placed centroid for seed 1.
    folder = "franti_a_sets"
    X = np.loadtxt(shared_dataset(folder, "a2.txt"))
    labels = np.loadtxt(shared_dataset(folder, "a2-labels.txt"), dtype=int)
    scaler = StandardScaler().fit(X)
    Z = scaler.transform(X)
    truth = scaler.transform(np.array([X[labels == g].mean(axis=0) for g in np.unique(labels)]))
    plain = KMeans(35, n_init=10, random_state=1).fit(Z)
    assert centroid_index(plain.cluster_centers_, truth) >= 1
    assert centroid_index(fit_kmeans(Z, 35, seed=1).centers, truth) == 0


def test_swap_never_worsens_and_fixes_a_planted_local_minimum():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(c, 0.2, size=(100, 2)) for c in ([0, 0], [4, 0], [0, 4], [4, 4])])
    bad = np.array([[0.0, 0.0], [0.1, 0.1], [4.0, 2.0], [2.0, 4.0]])  # two in one corner
    _, before = assign(X, bad)
    out = random_swap(X, bad, seed=0)
    assert out.sse <= before
    found = np.sort(np.round(out.centers).astype(int), axis=0)
    assert found.tolist() == np.sort(np.array([[0, 0], [4, 0], [0, 4], [4, 4]]), axis=0).tolist()
    assert out.accepted >= 1


def test_assign_and_update_match_definitions():
    X = np.array([[0.0, 0.0], [1.0, 0.0], [10.0, 0.0]])
    C = np.array([[0.0, 0.0], [9.0, 0.0], [50.0, 0.0]])
    labels, sse = assign(X, C)
    assert labels.tolist() == [0, 0, 1]
    assert sse == pytest.approx(0 + 1 + 1)
    new = update(X, labels, C)
    assert new.tolist() == [[0.5, 0.0], [10.0, 0.0], [50.0, 0.0]]  # empty cluster keeps its place


def test_large_inputs_fit_on_a_sample_then_all_rows(monkeypatch):
    monkeypatch.setattr(local, "FIT_SAMPLE", 500)
    rng = np.random.default_rng(1)
    Z = np.vstack([rng.normal(c, 0.3, size=(3000, 2)) for c in ([0, 0], [3, 0], [0, 3])])
    fit = fit_kmeans(Z, 3, seed=0)
    full = KMeans(3, n_init=10, random_state=0).fit(Z)
    assert fit.labels.shape == (9000,)
    assert fit.inertia == pytest.approx(full.inertia_, rel=1e-6)


def test_k_equal_one():
    Z = np.array([[0.0, 1.0], [2.0, 3.0]])
    fit = fit_kmeans(Z, 1)
    assert fit.centers.tolist() == [[1.0, 2.0]]
    assert fit.inertia == pytest.approx(4.0)
