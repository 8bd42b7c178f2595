"""Segment identity across runs: matching, stable ids, and the names carried with them.

The month-1 / month-2 generator below is the ground truth the issue asks for: it knows every
customer's true segment in both months, so the tracked ids and the transition matrix can be
checked count by count. Splits and merges read from the customer flows: ``test_flows.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from custseg.describe.naming import carry_names, describe_segments
from custseg.exceptions import ConfigError, DataValidationError
from custseg.io.csvsafe import TableWriter
from custseg.segmentation.estimator import Segmenter
from custseg.tracking.flows import detect_splits_merges
from custseg.tracking.matching import (
    assign_ids,
    default_threshold,
    match_segments,
    segment_radii,
)
from custseg.tracking.migration import (
    Migration,
    MigrationCounter,
    PreviousCustomers,
    customer_keys,
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


def migrate(prev_ids, prev_labels, new_ids, new_labels, prev_segments, new_segments, *,
            batch_rows: int = 97, out: Path | None = None) -> Migration:
    """Count the migration as a run does: the later run's customers stream past the counter in
    batches (``migration.csv`` written to ``out`` when given)."""
    n_prev, n_new = len(prev_ids), len(new_ids)
    previous = PreviousCustomers(customer_keys(pa.array(prev_ids), np.arange(n_prev)),
                                 np.asarray(prev_labels))
    writer = None if out is None else TableWriter(out)
    counter = MigrationCounter(previous, prev_segments, new_segments, writer)
    new_labels = np.asarray(new_labels)
    for start in range(0, n_new, batch_rows):
        stop = min(start + batch_rows, n_new)
        counter.count(pa.array(new_ids[start:stop]), np.arange(start, stop), new_labels[start:stop])
    if writer is not None:
        writer.close()
    return counter.result()


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


def test_month2_keeps_ids_and_names_reports_new_segment_and_exact_migration(months, fitted, tmp_path):
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
    assert match.new_ids == (4,)
    assert len(match.pairs) == 4
    moved_a = next(d for p, n, d in match.pairs if letters1[p] == "A")
    assert 0 < moved_a < match.threshold
    assert match.threshold == pytest.approx(default_threshold(seg1.cluster_centers_, radii))

    # User-given names follow their segments; the new segment gets its generated name.
    user_names = {id_of_letter[letter]: f"Team {letter}" for letter in "ABCD"}
    names = carry_names(match.ids, user_names, [f"generated {p}" for p in range(5)])
    for position, letter in letters2.items():
        expected = f"generated {position}" if letter == "E" else f"Team {letter}"
        assert names[match.ids[position]] == expected

    # Every count of the transition matrix equals the generator's ground truth.
    new_stable = np.array([match.ids[int(c)] for c in seg2.labels_])
    out = tmp_path / "migration.csv"
    migration = migrate(month1.ids, seg1.labels_, month2.ids, new_stable, range(4),
                        sorted(match.ids.values()), out=out)
    counts = migration.transitions.counts

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
    assert migration.n_both == len(common)
    assert migration.n_moved == 100
    assert migration.n_new == 330
    assert migration.n_departed == len(month1.ids) - len(common)
    # The generator's churn leaves month-1 customers out; migration.csv keeps month-2's order.
    written = pd.read_csv(out, dtype={"customer_id": str})
    assert written["customer_id"].tolist() == common.tolist()
    assert written["previous_segment"].tolist() == truth1[common].map(stable_of_letter).tolist()
    assert written["new_segment"].tolist() == truth2[common].map(stable_of_letter).tolist()


def test_same_data_different_seed_is_identity_with_full_diagonal(mall_df):
    X = mall_df[FEATURES]
    first = Segmenter(5, random_state=0).fit(X)
    second = Segmenter(5, random_state=99).fit(X)
    match = match_segments(first.cluster_centers_, new_centers_in_previous_space(first, second))
    assert match.is_identity
    assert match.ids == {i: i for i in range(5)}
    assert match.new == match.retired == ()
    assert match.new_ids == match.retired_ids == ()
    assert match.matched == {i: i for i in range(5)}
    assert max(d for _, _, d in match.pairs) < 1e-9
    ids = mall_df["CustomerID"].to_numpy()
    migration = migrate(ids, first.labels_, ids, [match.ids[int(c)] for c in second.labels_],
                        range(5), range(5))
    transitions = migration.transitions
    np.testing.assert_array_equal(np.diag(transitions.percent.to_numpy()), np.full(5, 100.0))
    assert transitions.diagonal_percent == 100.0
    assert migration.n_both == len(ids)
    assert migration.n_moved == migration.n_new == migration.n_departed == 0
    found = detect_splits_merges(transitions.counts)
    assert found.splits == found.merges == found.sentences == ()


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
    assert not match.is_identity
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


def test_match_never_gives_a_used_id_to_a_new_segment():
    match = match_segments(np.array([[0.0]]), np.array([[0.0], [40.0]]), threshold=1.0,
                           previous_ids=[3], used_ids=[0, 1, 2, 3, 9])
    assert match.ids == {0: 3, 1: 10}
    assert match.new_ids == (10,)


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
        ([[0.0, 0.0], [3.0, 4.0]], [0.0, 0.0], 2.5),  # zero radii: fall back to the centroids
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


@pytest.mark.parametrize("threshold", [-1.0, float("nan")])
def test_match_rejects_a_threshold_that_is_not_a_distance(threshold):
    with pytest.raises(ConfigError, match=">= 0"):
        match_segments(np.zeros((1, 1)), np.zeros((1, 1)), threshold=threshold)


# --------------------------------------------------------------------------- names (carry_names)

def test_carry_names_keeps_names_distinct():
    names = carry_names({0: 0, 1: 5, 2: 6}, {0: "Average"}, ["x", "Average", "Average"])
    assert names == {0: "Average", 5: "Average 2", 6: "Average 3"}
    with pytest.raises(ConfigError, match="generated names"):
        carry_names({0: 0}, {}, [])


def test_carry_names_follows_the_ids_not_the_positions():
    names = carry_names({0: 4, 1: 0, 2: 7}, {0: "VIPs", 4: "Bargain hunters", 3: "Retired one"},
                        ["Low · Low", "High · High", "Average · Average"])
    assert names == {4: "Bargain hunters", 0: "VIPs", 7: "Average · Average"}
    assert list(names) == [4, 0, 7]  # new position order
    assert "Retired one" not in names.values()  # a retired segment's name is not handed on


@pytest.mark.parametrize(
    ("kept", "generated", "expected"),
    [
        ("VIPs", "VIPs", "VIPs 2"),
        ("VIPs", "vips", "vips 2"),                        # same file name (slug): numbered too
        ("High income · High spending", "High income · High spending", "High income · High spending 2"),
        ("VIPs", "Bargain hunters", "Bargain hunters"),    # no clash: unchanged
    ],
)
def test_a_generated_name_equal_to_a_kept_name_is_numbered(kept, generated, expected):
    names = carry_names({0: 2, 1: 5}, {2: kept}, ["anything", generated])
    assert names == {2: kept, 5: expected}


def test_production_names_a_new_segment_that_clashes_with_a_kept_name_without_error():
    values = np.array([[10.0, 90.0], [90.0, 10.0], [50.0, 50.0], [20, 80], [80, 20], [55, 45]])
    medians = np.array([[15.0, 85.0], [85.0, 15.0], [52.5, 47.5]])
    plain = describe_segments(medians, values, FEATURES)
    generated = [s.name for s in plain]
    # Segment 0 continues a previous segment whose (user-given) name is segment 2's generated one.
    infos = describe_segments(medians, values, FEATURES, ids=[3, 0, 8], inherited={0: generated[2]})
    assert [s.cluster for s in infos] == [3, 0, 8]
    assert [s.name for s in infos] == [generated[2], generated[1], f"{generated[2]} 2"]
    assert len({s.slug for s in infos}) == 3
    assert infos[2].generated_name == generated[2]
