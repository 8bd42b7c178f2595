"""Choosing K: the known answers, uniform noise, the consensus rule, and the figures' data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import StandardScaler

from custseg.segmentation.selection import (
    CLEAR,
    CRITERIA,
    NO_STRUCTURE,
    WEAK,
    _consensus,
    choose_k,
)
from tests.conftest import FEATURES, shared_dataset


def _scaled(values) -> np.ndarray:
    return StandardScaler().fit_transform(np.asarray(values, dtype=float))


@pytest.fixture(scope="module")
def mall_selection(mall_df):
    return choose_k(_scaled(mall_df[FEATURES]), seed=42)


def test_mall_income_spending_chooses_5_clearly(mall_selection):
    assert mall_selection.chosen_k == 5
    assert mall_selection.confidence == CLEAR
    assert mall_selection.explanation.startswith("5 segments: ")
    assert len(mall_selection.votes_for(5)) >= 3


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_mall_choice_does_not_depend_on_seed(mall_df, seed):
    selection = choose_k(_scaled(mall_df[FEATURES]), seed=seed)
    assert (selection.chosen_k, selection.confidence) == (5, CLEAR)


def test_mall_with_age_explains_every_criterion(mall_df):
    selection = choose_k(_scaled(mall_df[["Age", *FEATURES]]), seed=42)
    assert 2 <= selection.chosen_k <= 10
    assert selection.confidence in (CLEAR, WEAK)
    table = selection.table
    for column in ["inertia", "silhouette", "calinski_harabasz", "davies_bouldin", "gap",
                   "gap_se", "stability", "min_share"]:
        assert table.loc[2:10, column].notna().all(), column
    assert set(selection.picks) == set(CRITERIA)
    assert f"{selection.chosen_k} segments:" in selection.explanation
    assert "stability" in selection.explanation


def test_table_values_are_consistent(mall_selection):
    table = mall_selection.table
    assert list(table.index) == list(range(1, 11))
    assert table.loc[1, "inertia"] == pytest.approx(400.0)  # K = 1: rows x features, scaled
    assert (np.diff(table["inertia"]) < 0).all()
    assert table.loc[2:, "silhouette"].between(-1, 1).all()
    assert table.loc[2:, "stability"].between(-0.5, 1.0001).all()
    # Each criterion's pick is its best value among admissible K.
    ok = table[table["admissible"]]
    assert mall_selection.picks["silhouette"] == ok["silhouette"].idxmax()
    assert mall_selection.picks["calinski_harabasz"] == ok["calinski_harabasz"].idxmax()
    assert mall_selection.picks["davies_bouldin"] == ok["davies_bouldin"].idxmin()


@pytest.mark.parametrize(("dim", "n"), [(1, 500), (2, 200), (2, 2000), (3, 1000), (5, 1000)])
@pytest.mark.parametrize("seed", [0, 1])
def test_uniform_noise_has_no_structure(dim, n, seed):
    Z = _scaled(np.random.default_rng(100 * dim + seed).uniform(size=(n, dim)))
    selection = choose_k(Z, seed=seed)
    assert selection.confidence == NO_STRUCTURE
    assert selection.chosen_k == 1
    assert "No natural segments" in selection.explanation


def test_single_gaussian_has_no_structure():
    selection = choose_k(np.random.default_rng(3).normal(size=(1000, 2)), seed=0)
    assert selection.confidence == NO_STRUCTURE


def test_forced_k_on_noise_is_still_used_and_explained():
    Z = _scaled(np.random.default_rng(5).uniform(size=(400, 2)))
    selection = choose_k(Z, seed=0, force_k=4)
    assert selection.chosen_k == 4
    assert selection.forced
    assert selection.recommended_k == 1
    assert "K = 4 was forced with --k" in selection.explanation


def test_min_segment_share_excludes_k_with_tiny_segments():
    rng = np.random.default_rng(0)
    big = [rng.normal(c, 0.3, size=(500, 2)) for c in ([0, 0], [5, 0], [0, 5])]
    tiny = rng.normal([5, 5], 0.1, size=(5, 2))  # 0.3% of customers
    Z = np.vstack([*big, tiny])
    strict = choose_k(Z, seed=0, min_segment_share=0.01)
    assert strict.chosen_k == 3
    assert not strict.table.loc[4, "admissible"]
    loose = choose_k(Z, seed=0, min_segment_share=0.0)
    assert loose.table.loc[4, "admissible"]


def test_consensus_tie_goes_to_the_more_stable_k():
    table = pd.DataFrame({
        "stability": [np.nan, 0.7, 0.9, 0.5],
        "admissible": [False, True, True, True],
        "votes": [[], ["silhouette", "gap"], ["calinski_harabasz", "davies_bouldin"], ["elbow"]],
    }, index=pd.Index([1, 2, 3, 4], name="k"))
    picks = {"silhouette": 2, "gap": 2, "calinski_harabasz": 3, "davies_bouldin": 3, "elbow": 4}
    assert _consensus(table, picks, structure_z=10.0) == (3, WEAK)
    assert _consensus(table, picks, structure_z=1.0) == (1, NO_STRUCTURE)


def test_to_dict_is_json_ready(mall_selection):
    import json

    data = json.loads(json.dumps(mall_selection.to_dict()))
    assert data["chosen_k"] == 5
    assert data["confidence"] == "clear"
    assert [row["k"] for row in data["per_k"]] == list(range(1, 11))
    assert data["per_k"][0]["silhouette"] is None


def _franti(name: str) -> np.ndarray:
    folder = "franti_s_sets" if name.startswith("s") else "franti_a_sets"
    return _scaled(np.loadtxt(shared_dataset(folder, f"{name}.txt")))


@pytest.mark.slow
@pytest.mark.parametrize(("name", "k_max", "true_k"),
                         [("s1", 25, 15), ("s2", 25, 15), ("s3", 25, 15), ("s4", 25, 15),
                          ("a1", 30, 20)])
def test_franti_sets_choose_their_true_k(name, k_max, true_k):
    selection = choose_k(_franti(name), k_max=k_max, seed=0)
    assert selection.chosen_k == true_k, selection.explanation


def blobs(seed: int, separation: float = 3.5) -> tuple[np.ndarray, int]:
    """Gaussian blobs with known K in 2..12: varied spreads, sizes and dimensions.

    Centres are drawn until every pair is at least ``separation`` x (sum of their spreads)
    apart, so each blob is a real cluster (not two overlapping ones).
    """
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 13))
    dim = int(rng.choice([2, 3, 5, 8]))
    spread = rng.uniform(0.5, 1.5, size=k)
    sizes = rng.integers(60, 300, size=k)
    centers: list[np.ndarray] = []
    side = 10.0 * k ** (1 / dim)
    while len(centers) < k:
        c = rng.uniform(0, side, size=dim)
        i = len(centers)
        if all(np.linalg.norm(c - o) >= separation * (spread[i] + spread[j])
               for j, o in enumerate(centers)):
            centers.append(c)
    X = np.vstack([rng.normal(c, s, size=(n, dim)) for c, s, n in zip(centers, spread, sizes, strict=True)])
    return X, k


@pytest.mark.slow
@pytest.mark.parametrize("batch", range(5))
def test_gaussian_blobs_right_k_in_at_least_45_of_50(batch):
    # 50 data sets in 5 batches of 10 (so they run in parallel); each batch may miss at most
    # one, which keeps the total at 45 or more.
    right = 0
    for seed in range(batch * 10, batch * 10 + 10):
        X, k = blobs(seed)
        right += choose_k(_scaled(X), k_max=15, seed=0).chosen_k == k
    assert right >= 9


@pytest.mark.parametrize("k_max", [10, 20, 40, 80])
def test_mall_choice_does_not_depend_on_k_max(mall_df, mall_selection, k_max):
    selection = choose_k(_scaled(mall_df[FEATURES]), k_max=k_max, seed=42)
    assert (selection.chosen_k, selection.confidence) == (5, CLEAR)
    assert selection.picks == mall_selection.picks
    assert selection.k_max == 10
    assert (f"--k-max {k_max} lowered to 10" in selection.explanation) == (k_max > 10)
    assert selection.to_dict().get("k_max_requested") == (k_max if k_max > 10 else None)


@pytest.mark.parametrize("k_min", [2, 4, 6])
def test_structure_score_does_not_depend_on_k_min(mall_df, mall_selection, k_min):
    selection = choose_k(_scaled(mall_df[FEATURES]), k_min=k_min, seed=42)
    assert selection.structure_z == pytest.approx(mall_selection.structure_z)


def test_k_min_above_the_rows_is_an_error(mall_df):
    from custseg.exceptions import DataValidationError

    with pytest.raises(DataValidationError, match="--k-min 30 is more segments than the data can hold"):
        choose_k(_scaled(mall_df[FEATURES].head(20)), k_min=30, k_max=40, seed=0)
    forced = choose_k(_scaled(mall_df[FEATURES].head(20)), k_min=30, k_max=40, seed=0, force_k=3)
    assert forced.chosen_k == 3


def test_the_forked_evidence_is_the_evidence_computed_here(monkeypatch):
    """From FORKED_EVIDENCE_ROWS sample rows the references and stabilities come from a forked
    child: the selection is the same, to the bit, as when everything runs in this process."""
    from custseg.forking import FORK_ENV
    from custseg.segmentation.selection import FORKED_EVIDENCE_ROWS

    rng = np.random.default_rng(7)
    n = FORKED_EVIDENCE_ROWS + 500
    Z = np.vstack([rng.normal(c, 0.6, size=(n // 3, 2)) for c in ([0, 0], [4, 1], [1, 5])])
    forked = choose_k(Z, k_max=7, seed=3)
    monkeypatch.setenv(FORK_ENV, "0")
    here = choose_k(Z, k_max=7, seed=3)
    pd.testing.assert_frame_equal(forked.table, here.table)
    assert forked.structure_z == here.structure_z
    assert (forked.chosen_k, forked.confidence) == (here.chosen_k, here.confidence) == (3, "clear")
