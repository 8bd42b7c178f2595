"""Segmenter: the estimator contract, the known Mall result, stable numbering."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from custseg.segmentation.estimator import Segmenter
from custseg.segmentation.lloyd import stable_order
from tests.conftest import FEATURES, MALL_K5


@pytest.fixture(scope="module")
def mall_segmenter(mall_df):
    return Segmenter(5, random_state=42).fit(mall_df[FEATURES])


def test_mall_k5_matches_known_means_and_sizes(mall_segmenter):
    centers = mall_segmenter.cluster_centers_original_
    found = {tuple(np.round(c, 1)): int(s)
             for c, s in zip(centers, mall_segmenter.cluster_sizes_, strict=True)}
    assert len(found) == 5
    for (income, spending), size in MALL_K5.items():
        match = [key for key in found if abs(key[0] - income) <= 0.1 and abs(key[1] - spending) <= 0.1]
        assert len(match) == 1, (income, spending, found)
        assert found[match[0]] == size


def test_segments_numbered_by_descending_size(mall_segmenter):
    assert mall_segmenter.cluster_sizes_.tolist() == [81, 39, 35, 23, 22]


@pytest.mark.parametrize("seed", [0, 1, 42, 7])
def test_same_labels_whatever_the_seed(mall_df, mall_segmenter, seed):
    labels = Segmenter(5, random_state=seed).fit_predict(mall_df[FEATURES])
    np.testing.assert_array_equal(labels, mall_segmenter.labels_)


def test_stable_order_breaks_size_ties_by_coordinates():
    centers = np.array([[3.0, 0.0], [1.0, 5.0], [1.0, 2.0]])
    sizes = np.array([2, 2, 2])
    assert stable_order(centers, sizes).tolist() == [2, 1, 0]
    assert stable_order(centers, np.array([1, 2, 3])).tolist() == [2, 1, 0]
    assert stable_order(centers, np.array([3, 1, 2])).tolist() == [0, 2, 1]


def test_predict_matches_training_labels_and_pipeline(mall_df, mall_segmenter):
    X = mall_df[FEATURES]
    np.testing.assert_array_equal(mall_segmenter.predict(X), mall_segmenter.labels_)
    np.testing.assert_array_equal(mall_segmenter.to_pipeline().predict(X), mall_segmenter.labels_)


def test_transform_is_distance_to_each_centroid(mall_df, mall_segmenter):
    D = mall_segmenter.transform(mall_df[FEATURES])
    assert D.shape == (200, 5)
    np.testing.assert_array_equal(D.argmin(axis=1), mall_segmenter.labels_)
    Z = mall_segmenter.scale(mall_df[FEATURES])
    np.testing.assert_allclose(D[:, 0], np.linalg.norm(Z - mall_segmenter.cluster_centers_[0], axis=1))


def test_inertia_and_score_agree(mall_df, mall_segmenter):
    assert mall_segmenter.inertia_ == pytest.approx(65.5684, abs=1e-3)
    assert mall_segmenter.score(mall_df[FEATURES]) == pytest.approx(-mall_segmenter.inertia_)


@pytest.mark.parametrize("k", [0, -1, 2.5, True])
def test_invalid_n_clusters_rejected(mall_df, k):
    with pytest.raises(ValueError, match="n_clusters"):
        Segmenter(k).fit(mall_df[FEATURES])


def test_more_clusters_than_rows_rejected():
    with pytest.raises(ValueError, match="n_samples=3 should be >= n_clusters=5"):
        Segmenter(5).fit(np.arange(6.0).reshape(3, 2))


@parametrize_with_checks([Segmenter(n_clusters=3, n_init=2, random_state=0),
                          Segmenter(n_clusters="auto", n_init=2, k_max=4, random_state=0)])
def test_sklearn_estimator_contract(estimator, check):
    check(estimator)


@pytest.mark.parametrize("k_min", [2, 3, 4])
def test_auto_respects_k_min_even_without_structure(k_min):
    noise = np.random.default_rng(0).uniform(size=(300, 2))  # no segments to find
    seg = Segmenter("auto", k_min=k_min, k_max=6, n_init=2, random_state=0).fit(noise)
    assert seg.k_selection_.confidence == "no structure"
    assert len(seg.cluster_centers_) == k_min
    assert seg.n_iter_ >= 1


def test_auto_chooses_within_the_range(mall_df):
    seg = Segmenter("auto", k_min=6, k_max=8, random_state=0).fit(mall_df[FEATURES])
    assert 6 <= len(seg.cluster_centers_) <= 8
    assert seg.n_iter_ >= 1
    assert seg.labels_.max() < len(seg.cluster_centers_)


def test_from_centers_builds_the_fitted_estimator_a_run_describes(mall_df, mall_segmenter):
    X = mall_df[FEATURES]
    rebuilt = Segmenter.from_centers(mall_segmenter.cluster_centers_, mall_segmenter.scaler_,
                                     sizes=mall_segmenter.cluster_sizes_,
                                     inertia=mall_segmenter.inertia_, n_iter=3,
                                     feature_names=FEATURES)
    np.testing.assert_array_equal(rebuilt.predict(X), mall_segmenter.labels_)
    np.testing.assert_array_equal(rebuilt.to_pipeline().predict(X), mall_segmenter.labels_)
    assert rebuilt.n_iter_ == 3
    assert rebuilt.n_clusters == 5
    assert rebuilt.cluster_sizes_.tolist() == [81, 39, 35, 23, 22]
    assert not hasattr(rebuilt, "labels_")  # a run's fit keeps no per-customer labels
    assert list(rebuilt.feature_names_in_) == FEATURES


def test_from_centers_with_stable_ids_pickles_a_pipeline_predicting_those_ids():
    scaler = StandardScaler().fit([[0.0], [10.0]])
    seg = Segmenter.from_centers(np.array([[-1.0], [1.0]]), scaler)
    pipeline = seg.to_pipeline(np.array([7, 3]))
    assert pipeline.predict([[0.5], [9.0]]).tolist() == [7, 3]


def test_warm_start_runs_lloyd_from_the_given_centroids():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(c, 0.2, size=(300, 2)) for c in ([0, 0], [5, 0], [0, 5])])
    cold = Segmenter(3, random_state=0).fit(X)
    warm = Segmenter(3, random_state=0, init=cold.cluster_centers_[::-1]).fit(X)
    np.testing.assert_array_equal(warm.labels_, cold.labels_)  # same partition, same numbering
    assert warm.n_iter_ <= 2


@pytest.mark.slow
def test_auto_on_more_rows_than_the_sample_warm_starts_from_it():
    from custseg.segmentation.criteria import SELECTION_SAMPLE

    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(c, 0.3, size=(1500, 2)) for c in ([0, 0], [4, 0], [0, 4], [4, 4])])
    seg = Segmenter("auto", random_state=0).fit(X)
    assert seg.k_selection_.sample_size == SELECTION_SAMPLE < len(X)
    assert seg.k_selection_.chosen_k == 4
    assert seg.k_selection_.sample_centers.shape == (4, 2)
    assert seg.n_iter_ <= 3  # a few Lloyd passes over all rows, from the sample's centroids
    assert sorted(seg.cluster_sizes_.tolist()) == [1500, 1500, 1500, 1500]
