"""Segment identity across runs: matching, stable ids, names, splits and merges.

The month-1 / month-2 generator below is the ground truth the issue asks for: it knows every
customer's true segment in both months, so the tracked ids and the transition matrix can be
checked count by count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from custseg.exceptions import ConfigError, DataValidationError
from custseg.migration import migration_table, transition_matrix
from custseg.model import Segmenter
from custseg.tracking import (
    assign_ids,
    carry_names,
    default_threshold,
    detect_splits_merges,
    match_segments,
    segment_radii,
)

FEATURES = ["Annual Income (k$)", "Spending Score (1-100)"]
SD = 4.0


@dataclass(frozen=True)
class Month:
    """One month of synthetic customers: ids, features and the generator's true segment."""

    ids: np.ndarray
    X: pd.DataFrame
    truth: np.ndarray


def _draw(rng: np.random.Generator, centers: dict[str, tuple[float, float]], truth: np.ndarray
          ) -> pd.DataFrame:
    means = np.array([centers[t] for t in truth])
    return pd.DataFrame(means + rng.normal(0.0, SD, size=means.shape), columns=FEATURES)


def make_months(seed: int = 7) -> tuple[Month, Month]:
    """Month 1: four separated segments. Month 2: A moved a little, B grown, E new, churn, moves.

    In month 2 every customer's features are drawn again around their month-2 segment's centre,
    so the customers who switch segment (40 from C to D, 60 from A to the new E) really move.
    """
    rng = np.random.default_rng(seed)
    centers1 = {"A": (20.0, 20.0), "B": (20.0, 80.0), "C": (80.0, 20.0), "D": (80.0, 80.0)}
    sizes1 = {"A": 300, "B": 250, "C": 200, "D": 150}
    truth1 = np.repeat(list(sizes1), list(sizes1.values()))
    ids1 = np.array([f"C{i:05d}" for i in range(len(truth1))])
    month1 = Month(ids1, _draw(rng, centers1, truth1), truth1)

    centers2 = {**centers1, "A": (23.0, 22.0), "E": (50.0, 50.0)}
    stay = rng.random(len(ids1)) >= 0.1  # about 10% of the customers are gone in month 2
    kept_ids, truth2 = ids1[stay], truth1[stay].copy()
    c_rows = np.flatnonzero(truth2 == "C")
    truth2[rng.choice(c_rows, 40, replace=False)] = "D"
    a_rows = np.flatnonzero(truth2 == "A")
    truth2[rng.choice(a_rows, 60, replace=False)] = "E"
    arrivals = {"B": 180, "E": 120, "A": 20, "D": 10}  # B grows, E is born
    new_truth = np.repeat(list(arrivals), list(arrivals.values()))
    new_ids = np.array([f"N{i:05d}" for i in range(len(new_truth))])
    ids2 = np.concatenate([kept_ids, new_ids])
    truth2 = np.concatenate([truth2, new_truth])
    order = rng.permutation(len(ids2))  # a new extract lists customers in another order
    ids2, truth2 = ids2[order], truth2[order]
    return month1, Month(ids2, _draw(rng, centers2, truth2), truth2)


@pytest.fixture(scope="module")
def months() -> tuple[Month, Month]:
    return make_months()


@pytest.fixture(scope="module")
def fitted(months: tuple[Month, Month]) -> tuple[Segmenter, Segmenter]:
    month1, month2 = months
    return (Segmenter(4, random_state=0).fit(month1.X), Segmenter(5, random_state=123).fit(month2.X))


def letter_of_cluster(truth: np.ndarray, labels: np.ndarray) -> dict[int, str]:
    """The generator's segment behind each cluster, asserting the clustering recovered it exactly."""
    table = pd.crosstab(labels, truth)
    assert ((table > 0).sum(axis=1) == 1).all(), f"clusters mix true segments:\n{table}"
    assert ((table > 0).sum(axis=0) == 1).all(), f"a true segment is split:\n{table}"
    return {int(cluster): str(table.columns[row.to_numpy().argmax()]) for cluster, row in table.iterrows()}


def new_centers_in_previous_space(previous: Segmenter, new: Segmenter) -> np.ndarray:
    return previous.scaler_.transform(new.cluster_centers_original_)


def test_month2_keeps_ids_and_names_reports_new_segment_and_exact_migration(months, fitted):
    month1, month2 = months
    seg1, seg2 = fitted
    letters1 = letter_of_cluster(month1.truth, seg1.labels_)
    letters2 = letter_of_cluster(month2.truth, seg2.labels_)
    id_of_letter = {letter: cluster for cluster, letter in letters1.items()}  # first run: id = cluster

    radii = segment_radii(seg1.scaler_.transform(month1.X.to_numpy()), seg1.labels_, 4)
    match = match_segments(seg1.cluster_centers_, new_centers_in_previous_space(seg1, seg2),
                           previous_radii=radii)

    # Matched segments keep their id: A (moved a little), B (grown), C and D.
    for position, letter in letters2.items():
        if letter != "E":
            assert match.ids[position] == id_of_letter[letter], letter
    # E is reported as new and gets a fresh id; no previous segment is retired.
    e_position = next(p for p, letter in letters2.items() if letter == "E")
    assert match.new == (e_position,)
    assert match.retired == ()
    assert match.ids[e_position] == 4
    assert len(match.pairs) == 4
    moved_a = next(d for p, n, d in match.pairs if letters1[p] == "A")
    assert 0 < moved_a < match.threshold

    # User-given names follow their segments; the new segment gets its generated name.
    user_names = {id_of_letter[letter]: f"Team {letter}" for letter in "ABCD"}
    names = carry_names(match.ids, user_names, [f"generated {p}" for p in range(5)])
    for position, letter in letters2.items():
        expected = f"generated {position}" if letter == "E" else f"Team {letter}"
        assert names[match.ids[position]] == expected

    # Every count of the transition matrix equals the generator's ground truth.
    new_stable = np.array([match.ids[int(c)] for c in seg2.labels_])
    migration = migration_table(month1.ids, seg1.labels_, month2.ids, new_stable)
    prev_segments, new_segments = list(range(4)), sorted(match.ids.values())
    counts = transition_matrix(migration, prev_segments, new_segments).counts

    stable_of_letter = {**id_of_letter, "E": 4}
    truth1 = pd.Series(month1.truth, index=month1.ids)
    truth2 = pd.Series(month2.truth, index=month2.ids)
    common = truth2.index[truth2.index.isin(truth1.index)]
    expected = np.zeros((4, 5), dtype=np.int64)
    np.add.at(expected, (truth1[common].map(stable_of_letter).to_numpy(),
                         truth2[common].map(stable_of_letter).to_numpy()), 1)
    np.testing.assert_array_equal(counts.to_numpy(), expected)
    assert counts.loc[id_of_letter["C"], id_of_letter["D"]] == 40
    assert counts.loc[id_of_letter["A"], 4] == 60
    assert migration.n_new == 330
    assert migration.n_departed == len(month1.ids) - len(common)
    # The generator's churn leaves month-1 customers out; migration keeps month-2's order.
    assert migration.table["customer_id"].tolist() == common.tolist()


def test_same_data_different_seed_is_identity_with_full_diagonal(mall_df):
    X = mall_df[FEATURES]
    first = Segmenter(5, random_state=0).fit(X)
    second = Segmenter(5, random_state=99).fit(X)
    match = match_segments(first.cluster_centers_, new_centers_in_previous_space(first, second))
    assert match.is_identity
    assert match.ids == {i: i for i in range(5)}
    assert match.new == match.retired == ()
    assert max(d for _, _, d in match.pairs) < 1e-9
    ids = mall_df["CustomerID"].to_numpy()
    migration = migration_table(ids, first.labels_, ids, [match.ids[int(c)] for c in second.labels_])
    transitions = transition_matrix(migration, range(5), range(5))
    np.testing.assert_array_equal(np.diag(transitions.percent.to_numpy()), np.full(5, 100.0))
    assert transitions.diagonal_percent == 100.0
    assert migration.n_moved == migration.n_new == migration.n_departed == 0
    found = detect_splits_merges(transitions.counts)
    assert found.splits == found.merges == found.sentences == ()


def _blobs(rng: np.random.Generator, centers: list[tuple[float, float]], n: int) -> pd.DataFrame:
    means = np.repeat(np.array(centers), n, axis=0)
    return pd.DataFrame(means + rng.normal(0.0, 3.0, size=means.shape), columns=FEATURES)


@pytest.fixture(scope="module")
def near_pair() -> pd.DataFrame:
    """Four blobs, two of them close: K = 3 keeps the close pair together, K = 4 separates it."""
    rng = np.random.default_rng(11)
    return _blobs(rng, [(40.0, 50.0), (60.0, 50.0), (10.0, 90.0), (90.0, 10.0)], 150)


def _flows(data: pd.DataFrame, k_before: int, k_after: int):
    ids = np.arange(len(data))
    before = Segmenter(k_before, random_state=1).fit(data)
    after = Segmenter(k_after, random_state=2).fit(data)
    match = match_segments(before.cluster_centers_, new_centers_in_previous_space(before, after))
    migration = migration_table(ids, before.labels_, ids, [match.ids[int(c)] for c in after.labels_])
    counts = transition_matrix(migration, range(k_before), sorted(match.ids.values())).counts
    return before, after, match, counts


def test_split_is_detected(near_pair):
    _, _, _, counts = _flows(near_pair, 3, 4)
    found = detect_splits_merges(counts, prev_names={0: "Middle"})
    assert len(found.splits) == 1
    assert found.merges == ()
    split = found.splits[0]
    assert split.previous == 0  # the merged pair is the largest segment of the K = 3 fit
    assert len(split.new) == 2
    assert split.shares == pytest.approx((0.5, 0.5), abs=0.02)
    assert split.customers == 300
    assert found.sentences[0].startswith("Middle split: 50% of its customers are now in ")


def test_merge_is_detected(near_pair):
    _, _, _, counts = _flows(near_pair, 4, 3)
    found = detect_splits_merges(counts, new_names={int(counts.columns[0]): "Middle"})
    assert found.splits == ()
    assert len(found.merges) == 1
    merge = found.merges[0]
    assert len(merge.previous) == 2
    assert merge.shares == pytest.approx((1.0, 1.0))
    assert found.sentences[0].endswith("(100% and 100% of their customers respectively).")
    assert "merged into" in found.sentences[0]


@pytest.mark.parametrize(
    ("row", "is_split"),
    [
        ([50, 50, 0, 0], True),
        ([40, 40, 20, 0], True),      # three parts of >= 20% each
        ([80, 1, 19, 0], False),      # a 19% part is not a part
        ([45, 30, 15, 10], False),    # parts >= 20% hold only 75% together
        ([100, 0, 0, 0], False),
        ([5, 4, 0, 0], False),        # 9 customers: too few to judge
    ],
)
def test_split_rule(row, is_split):
    counts = np.array([row, [0, 0, 0, 50]])
    assert bool(detect_splits_merges(counts).splits) is is_split


@pytest.mark.parametrize(
    ("counts", "merged_into"),
    [
        ([[60, 40], [60, 40]], [0]),
        ([[50, 50], [50, 50], [50, 50]], [0, 1]),  # exactly half counts as most
        ([[49, 51], [90, 10]], []),                # only one majority per new segment
        ([[60, 40], [9, 0]], []),                  # 9 customers: too few to judge
    ],
)
def test_merge_rule(counts, merged_into):
    assert [m.new for m in detect_splits_merges(np.array(counts)).merges] == merged_into


def test_detect_uses_data_frame_labels_and_validates():
    counts = pd.DataFrame([[50, 50], [0, 30]], index=[3, 7], columns=[3, 8])
    found = detect_splits_merges(counts)
    assert found.splits[0].previous == 3
    assert found.splits[0].new == (3, 8)
    with pytest.raises(DataValidationError, match="shape"):
        detect_splits_merges(np.ones((2, 2)), [0, 1, 2], [0, 1])
    with pytest.raises(DataValidationError, match=">= 0"):
        detect_splits_merges(np.array([[-1.0]]))


def test_match_threshold_leaves_far_segments_unmatched():
    previous = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    new = np.array([[0.2, 0.0], [10.0, 3.0], [30.0, 30.0], [0.0, 10.1]])
    match = match_segments(previous, new, threshold=1.0)
    assert [(p, n) for p, n, _ in match.pairs] == [(0, 0), (2, 3)]
    assert match.new == (1, 2)
    assert match.retired == (1,)
    assert match.ids == {0: 0, 1: 3, 2: 4, 3: 2}
    assert match.new_ids == (3, 4)
    assert match.retired_ids == (1,)
    assert match.distances.shape == (3, 4)
    everything = match_segments(previous, new, threshold=np.inf)
    assert len(everything.pairs) == 3
    assert everything.retired == ()


def test_match_prefers_more_matches_within_threshold():
    # Minimising total distance alone pairs p0-n0 (1.9) and p1-n1 (1.5), both beyond the
    # threshold: no match at all. Close pairs come first: p1-n0 (0.1) is kept.
    match = match_segments(np.array([[0.0], [2.0]]), np.array([[1.9], [3.5]]), threshold=1.0)
    assert [(p, n) for p, n, _ in match.pairs] == [(1, 0)]
    assert match.new == (1,)
    assert match.retired == (0,)


def test_match_fewer_new_segments_retires_the_unmatched():
    match = match_segments(np.array([[0.0], [5.0], [9.0]]), np.array([[9.2], [0.1]]), threshold=1.0,
                           previous_ids=[10, 11, 12])
    assert match.retired == (1,)
    assert match.retired_ids == (11,)
    assert match.new_ids == ()
    assert match.ids == {0: 12, 1: 10}


def test_assign_ids_never_reuses_a_used_id():
    match = match_segments(np.array([[0.0], [5.0]]), np.array([[0.0], [50.0], [60.0]]), threshold=1.0)
    assert assign_ids(match, [0, 1]) == {0: 0, 1: 2, 2: 3}
    assert assign_ids(match, [0, 1], used_ids=[7, 2]) == {0: 0, 1: 8, 2: 9}
    with pytest.raises(ConfigError, match="2 previous segments"):
        assign_ids(match, [0])
    with pytest.raises(ConfigError, match="repeat"):
        assign_ids(match, [1, 1])


@pytest.mark.parametrize(
    ("centers", "radii", "expected"),
    [
        ([[0.0, 0.0], [3.0, 4.0]], None, 2.5),
        ([[0.0, 0.0], [3.0, 4.0]], [0.2, 0.4, np.nan], pytest.approx(0.3)),
        ([[1.0, 1.0]], None, 1.0),
        ([[0.0], [2.0], [2.5]], None, 0.25),
    ],
)
def test_default_threshold(centers, radii, expected):
    assert default_threshold(np.array(centers), None if radii is None else np.array(radii)) == expected


def test_segment_radii_is_rms_distance_to_the_mean():
    Z = np.array([[0.0, 0.0], [0.0, 2.0], [3.0, 0.0], [3.0, 4.0], [9.0, 9.0]])
    radii = segment_radii(Z, np.array([0, 0, 1, 1, 0]), 3)
    # Segment 0: mean (3, 11/3); segment 1: mean (3, 2), both members 2 away.
    sq0 = [3**2 + (11 / 3) ** 2, 3**2 + (5 / 3) ** 2, 6**2 + (16 / 3) ** 2]
    assert radii[0] == pytest.approx(np.sqrt(np.mean(sq0)))
    assert radii[1] == pytest.approx(2.0)
    assert np.isnan(radii[2])


@pytest.mark.parametrize(
    ("previous", "new", "error", "message"),
    [
        (np.zeros((2, 2)), np.zeros((2, 3)), DataValidationError, "same features"),
        (np.zeros(2), np.zeros((2, 2)), DataValidationError, "shape"),
        (np.array([[np.nan]]), np.zeros((1, 1)), DataValidationError, "NaN"),
    ],
)
def test_match_rejects_bad_centroids(previous, new, error, message):
    with pytest.raises(error, match=message):
        match_segments(previous, new, threshold=1.0)


def test_match_rejects_negative_threshold():
    with pytest.raises(ConfigError, match=">= 0"):
        match_segments(np.zeros((1, 1)), np.zeros((1, 1)), threshold=-1.0)


def test_carry_names_keeps_names_distinct():
    names = carry_names({0: 0, 1: 5, 2: 6}, {0: "Average"}, ["x", "Average", "Average"])
    assert names == {0: "Average", 5: "Average 2", 6: "Average 3"}
    with pytest.raises(ConfigError, match="generated names"):
        carry_names({0: 0}, {}, [])
