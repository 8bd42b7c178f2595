"""Splits and merges between two runs, read from where the customers went."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from custseg.exceptions import DataValidationError
from custseg.segmentation.estimator import Segmenter
from custseg.tracking.flows import (
    MERGE_SHARE,
    MIN_CUSTOMERS,
    SPLIT_PART,
    SPLIT_TOTAL,
    Merge,
    Split,
    detect_splits_merges,
)
from custseg.tracking.matching import match_segments
from custseg.tracking.migration import MigrationCounter, PreviousCustomers, customer_keys

FEATURES = ["Annual Income (k$)", "Spending Score (1-100)"]


def _blobs(rng: np.random.Generator, centers: list[tuple[float, float]], n: int) -> pd.DataFrame:
    means = np.repeat(np.array(centers), n, axis=0)
    return pd.DataFrame(means + rng.normal(0.0, 3.0, size=means.shape), columns=FEATURES)


@pytest.fixture(scope="module")
def near_pair() -> pd.DataFrame:
    """Four blobs, two of them close: K = 3 keeps the close pair together, K = 4 separates it."""
    rng = np.random.default_rng(11)
    return _blobs(rng, [(40.0, 50.0), (60.0, 50.0), (10.0, 90.0), (90.0, 10.0)], 150)


def _flows(data: pd.DataFrame, k_before: int, k_after: int) -> pd.DataFrame:
    """Transition counts from a K = ``k_before`` fit to a K = ``k_after`` fit of the same customers,
    counted the way a run counts them (the later run's customers in batches, without ids)."""
    rows = np.arange(2, len(data) + 2)
    before = Segmenter(k_before, random_state=1).fit(data)
    after = Segmenter(k_after, random_state=2).fit(data)
    match = match_segments(before.cluster_centers_, before.scaler_.transform(after.cluster_centers_original_))
    counter = MigrationCounter(PreviousCustomers(customer_keys(None, rows), before.labels_),
                               range(k_before), sorted(match.ids.values()))
    stable = np.array([match.ids[int(c)] for c in after.labels_])
    for start in range(0, len(data), 128):
        counter.count(None, rows[start:start + 128], stable[start:start + 128])
    migration = counter.result()
    assert migration.n_both == len(data)
    assert migration.n_new == migration.n_departed == 0
    return migration.transitions.counts


def test_split_is_detected(near_pair):
    counts = _flows(near_pair, 3, 4)
    found = detect_splits_merges(counts, prev_names={0: "Middle"})
    assert len(found.splits) == 1
    assert found.merges == ()
    split = found.splits[0]
    assert split.previous == 0  # the merged pair is the largest segment of the K = 3 fit
    assert len(split.new) == 2
    assert split.shares == pytest.approx((0.5, 0.5), abs=0.02)
    assert split.shares[0] >= split.shares[1]  # largest share first
    assert split.customers == 300
    assert found.sentences[0].startswith("Middle split: 50% of its customers are now in ")


def test_merge_is_detected(near_pair):
    counts = _flows(near_pair, 4, 3)
    names = {int(c): f"New {c}" for c in counts.columns}
    found = detect_splits_merges(counts, new_names=names)
    assert found.splits == ()
    assert len(found.merges) == 1
    merge = found.merges[0]
    assert len(merge.previous) == 2
    assert merge.shares == pytest.approx((1.0, 1.0))
    assert found.sentences[0].endswith("(100% and 100% of their customers respectively).")
    assert f"merged into {names[merge.new]} (" in found.sentences[0]
    # The pair merged is the two previous segments nearest each other: both went to one place.
    assert counts.loc[list(merge.previous), merge.new].tolist() == [150, 150]


@pytest.mark.parametrize(
    ("row", "is_split"),
    [
        ([50, 50, 0, 0], True),
        ([40, 40, 20, 0], True),      # three parts of >= 20% each
        ([80, 1, 19, 0], False),      # a 19% part is not a part
        ([45, 30, 15, 10], False),    # parts >= 20% hold only 75% together
        ([100, 0, 0, 0], False),
        ([5, 4, 0, 0], False),        # 9 customers: too few to judge
        ([5, 5, 0, 0], True),         # 10 customers: judged
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


def test_rule_constants_are_the_documented_ones():
    assert (SPLIT_TOTAL, SPLIT_PART, MERGE_SHARE, MIN_CUSTOMERS) == (0.8, 0.2, 0.5, 10)


def test_thresholds_can_be_changed():
    counts = np.array([[70, 30], [0, 40]])
    assert detect_splits_merges(counts).splits  # 70/30: two parts of >= 20%
    assert not detect_splits_merges(counts, split_part=0.35).splits
    assert not detect_splits_merges(np.array([[6, 3]])).splits  # 9 customers
    assert detect_splits_merges(np.array([[6, 3]]), min_customers=9).splits


def test_a_segment_can_both_split_and_merge():
    # Previous 0 splits in halves into new 0 and 1; previous 0 (half counts), 1 and 2 each send
    # a majority of their customers into new 1: a merge that previous 0 takes part in too.
    counts = np.array([[50, 50], [10, 90], [0, 30]])
    found = detect_splits_merges(counts)
    assert found.splits == (Split(0, (0, 1), (0.5, 0.5), 100),)
    assert found.merges == (Merge(1, (0, 1, 2), (0.5, 0.9, 1.0)),)
    assert len(found.sentences) == 2
    assert found.sentences[0] == "segment 0 split: 50% of its customers are now in segment 0 and 50% in segment 1."
    assert found.sentences[1] == ("segment 0, segment 1 and segment 2 merged into segment 1 "
                                  "(50%, 90% and 100% of their customers respectively).")


def test_detect_uses_data_frame_labels_and_validates():
    counts = pd.DataFrame([[50, 50], [0, 30]], index=[3, 7], columns=[3, 8])
    found = detect_splits_merges(counts)
    assert found.splits[0].previous == 3
    assert found.splits[0].new == (3, 8)
    assert detect_splits_merges(counts.to_numpy(), [4, 9], [1, 2]).splits[0].new == (1, 2)
    with pytest.raises(DataValidationError, match="shape"):
        detect_splits_merges(np.ones((2, 2)), [0, 1, 2], [0, 1])
    with pytest.raises(DataValidationError, match=">= 0"):
        detect_splits_merges(np.array([[-1.0]]))
    with pytest.raises(DataValidationError, match=">= 0"):
        detect_splits_merges(np.array([[np.nan, 1.0]]))


def test_ids_of_the_counter_reach_the_sentences():
    previous = PreviousCustomers(customer_keys(pa.array([f"c{i}" for i in range(20)]), np.arange(20)),
                                 np.repeat([7], 20))
    counter = MigrationCounter(previous, [7], [7, 9])
    counter.count(pa.array([f"c{i}" for i in range(20)]), np.arange(20), np.repeat([7, 9], 10))
    found = detect_splits_merges(counter.result().transitions.counts, prev_names={7: "Savers"},
                                 new_names={7: "Savers", 9: "Young savers"})
    assert found.splits == (Split(7, (7, 9), (0.5, 0.5), 20),)
    assert found.sentences == ("Savers split: 50% of its customers are now in Savers and 50% in Young savers.",)
