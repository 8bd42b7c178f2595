"""RFM quintile scores and named groups."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from custseg.describe.rfm import GROUP_NAMES, quintile_scores, rfm_columns, rfm_groups


def test_scores_are_quintiles_of_rank() -> None:
    values = np.arange(100)
    scores = quintile_scores(values)
    assert np.bincount(scores)[1:].tolist() == [20] * 5
    assert scores[0] == 1
    assert scores[-1] == 5


def test_ties_share_a_score_whatever_the_order() -> None:
    rng = np.random.default_rng(0)
    values = rng.integers(1, 4, size=1000)
    scores = quintile_scores(values)
    for v in np.unique(values):
        assert len(set(scores[values == v])) == 1
    perm = rng.permutation(values.size)
    assert np.array_equal(quintile_scores(values[perm]), scores[perm])


def test_recency_is_reversed() -> None:
    assert quintile_scores(np.array([1, 50, 100, 200, 400]), reverse=True).tolist() == [5, 4, 3, 2, 1]


def test_every_cell_of_the_grid_has_a_group() -> None:
    r, f = np.array(list(itertools.product(range(1, 6), repeat=2))).T
    groups = rfm_groups(r, f)
    assert "" not in set(groups)
    assert set(groups) == set(GROUP_NAMES)


@pytest.mark.parametrize(("r", "f", "group"), [
    (5, 5, "Champions"), (5, 1, "New customers"), (4, 1, "Promising"), (3, 3, "Need attention"),
    (1, 5, "Can't lose them"), (2, 4, "At risk"), (2, 1, "Hibernating"), (1, 1, "Lost"),
    (4, 4, "Loyal"), (4, 2, "Potential loyalists"), (3, 2, "About to sleep"),
])
def test_named_groups(r: int, f: int, group: str) -> None:
    assert rfm_groups(np.array([r]), np.array([f]))[0] == group


def test_columns() -> None:
    cols = rfm_columns(np.arange(10), np.arange(10), np.arange(10)[::-1])
    assert cols["R"].to_pylist()[0] == 5
    assert cols["F"].to_pylist()[0] == 1
    assert cols["M"].to_pylist()[0] == 5
    assert cols["RFM_group"].to_pylist()[0] == "New customers"
