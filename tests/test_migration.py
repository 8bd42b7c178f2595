"""Migration between runs: the per-customer join, the transition matrix, the biggest moves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from custseg.exceptions import DataValidationError
from custseg.migration import Migration, biggest_moves, migration_table, transition_matrix


@pytest.fixture
def small() -> Migration:
    # previous: a b c d e (segments 0 0 1 1 2); new: f e d c b (segments 3 2 0 1 1): a departed, f new.
    return migration_table(list("abcde"), [0, 0, 1, 1, 2], list("fedcb"), [3, 2, 0, 1, 1])


def test_join_keeps_new_run_order_and_counts_arrivals_and_departures(small):
    assert small.table.columns.tolist() == ["customer_id", "previous_segment", "new_segment"]
    assert small.table.to_dict("list") == {"customer_id": ["e", "d", "c", "b"],
                                           "previous_segment": [2, 1, 1, 0],
                                           "new_segment": [2, 0, 1, 1]}
    assert (small.n_both, small.n_new, small.n_departed, small.n_moved) == (4, 1, 1, 2)
    assert small.table["customer_id"].dtype == "str"
    assert small.table["previous_segment"].dtype == np.int64


@pytest.mark.parametrize(
    ("prev_ids", "new_ids"),
    [
        (np.array([1, 2, 3]), ["3", "1", "9"]),                    # numbers are their decimal text
        (pd.Series(["1", "2", "3"], dtype="str"), pd.Index(["3", "1", "9"])),
        (pa.array(["1", "2", "3"]), pa.chunked_array([["3"], ["1", "9"]])),
        (pa.array(["1", "2", "3"]).dictionary_encode(), np.array(["3", "1", "9"], dtype=object)),
        ([1, "2", 3], ["3", 1, "9"]),                              # mixed types
    ],
)
def test_ids_of_any_container_are_compared_as_text(prev_ids, new_ids):
    m = migration_table(prev_ids, [0, 1, 2], new_ids, [5, 6, 7])
    assert m.table["customer_id"].tolist() == ["3", "1"]
    assert m.table["previous_segment"].tolist() == [2, 0]
    assert m.table["new_segment"].tolist() == [5, 6]
    assert (m.n_new, m.n_departed) == (1, 1)


def test_text_ids_are_not_numbers():
    m = migration_table(["0001", "2"], [0, 1], ["1", "2"], [0, 0])
    assert m.table["customer_id"].tolist() == ["2"]


def test_no_common_customers():
    m = migration_table(["a"], [0], ["b", "c"], [0, 1])
    assert m.n_both == 0
    assert (m.n_new, m.n_departed) == (2, 1)
    counts = transition_matrix(m, [0], [0, 1]).counts
    assert counts.to_numpy().tolist() == [[0, 0]]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((["a", "a"], [0, 1], ["a"], [0]), "'a' appears more than once in the previous run"),
        ((["a"], [0], ["b", "b"], [0, 0]), "'b' appears more than once in the new run"),
        ((["a", "b"], [0], ["a"], [0]), "2 customer ids but 1 segment labels"),
        ((["a"], [0.5], ["a"], [0]), "whole numbers"),
        ((pd.Series(["a", None]), [0, 1], ["a"], [0]), "1 missing customer id"),
    ],
)
def test_bad_inputs_are_refused(args, message):
    with pytest.raises(DataValidationError, match=message):
        migration_table(*args)


def test_transition_matrix_lists_every_segment(small):
    t = transition_matrix(small, [0, 1, 2, 5], [0, 1, 2, 3])
    assert t.counts.index.tolist() == [0, 1, 2, 5]
    assert t.counts.columns.tolist() == [0, 1, 2, 3]
    assert t.counts.index.name == "previous_segment"
    assert t.counts.columns.name == "new_segment"
    assert t.counts.to_numpy().tolist() == [[0, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
    np.testing.assert_allclose(t.percent.to_numpy()[:3], [[0, 100, 0, 0], [50, 50, 0, 0], [0, 0, 100, 0]])
    assert np.isnan(t.percent.loc[5]).all()  # no customer of segment 5 is in the new run
    assert t.diagonal_percent == pytest.approx(100 * 2 / 4)


def test_transition_matrix_accepts_the_table_and_refuses_unknown_segments(small):
    t = transition_matrix(small.table, [0, 1, 2], [0, 1, 2, 3])
    assert int(t.counts.to_numpy().sum()) == small.n_both
    with pytest.raises(DataValidationError, match="new segment 2, which is not among"):
        transition_matrix(small, [0, 1, 2], [0, 1])
    with pytest.raises(DataValidationError, match="repeat"):
        transition_matrix(small, [0, 0, 1, 2], [0, 1, 2])


def test_transition_matrix_of_many_customers_matches_crosstab():
    rng = np.random.default_rng(3)
    n = 50_000
    prev_ids = rng.permutation(n + 5_000)[:n]
    new_ids = rng.permutation(n + 5_000)[:n]
    prev_labels, new_labels = rng.integers(0, 5, n), rng.integers(0, 6, n)
    m = migration_table(prev_ids, prev_labels, new_ids, new_labels)
    t = transition_matrix(m, range(5), range(6))
    prev = pd.Series(prev_labels, index=prev_ids.astype(str))
    new = pd.Series(new_labels, index=new_ids.astype(str))
    common = new.index[new.index.isin(prev.index)]
    expected = pd.crosstab(prev[common].to_numpy(), new[common].to_numpy())
    np.testing.assert_array_equal(t.counts.to_numpy(), expected.to_numpy())
    assert m.n_new == n - len(common)
    assert m.table["customer_id"].tolist() == common.tolist()


def test_biggest_moves_in_words():
    counts = pd.DataFrame([[50, 312, 0], [7, 40, 1], [0, 312, 9]], index=[0, 1, 2], columns=[0, 1, 3])
    prev_names = {0: "Average income · Average spending", 1: "High income · Low spending", 2: "Savers"}
    new_names = {0: "Average income · Average spending", 1: "High income · Low spending", 3: "Newcomers"}
    assert biggest_moves(counts, prev_names, new_names) == [
        "312 customers moved from Average income · Average spending to High income · Low spending",
        "312 customers moved from Savers to High income · Low spending",
        "9 customers moved from Savers to Newcomers",
    ]
    assert biggest_moves(counts, top=5)[-1] == "1 customer moved from segment 1 to segment 3"
    assert len(biggest_moves(counts, top=10)) == 5  # zero flows are skipped
    assert biggest_moves(counts, top=0) == []


def test_biggest_moves_ignores_customers_who_kept_their_segment():
    counts = pd.DataFrame([[1_500, 0], [0, 20]], index=[4, 7], columns=[4, 7])
    assert biggest_moves(counts) == []
    t = transition_matrix(migration_table(["a", "b"], [4, 7], ["a", "b"], [7, 4]), [4, 7], [4, 7])
    assert biggest_moves(t) == ["1 customer moved from segment 4 to segment 7",
                                "1 customer moved from segment 7 to segment 4"]
    big = pd.DataFrame([[0, 12_345]], index=[0], columns=[0, 1])
    assert biggest_moves(big) == ["12,345 customers moved from segment 0 to segment 1"]
