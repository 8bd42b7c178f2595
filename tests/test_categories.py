"""Categorical features' encoding (custseg.engines.categories): levels, weight, limits."""

from __future__ import annotations

import numpy as np
import pytest

from custseg.engines.categories import (
    CATEGORY_WEIGHT,
    MAX_LEVELS,
    MAX_TRACKED,
    Category,
    LevelCounts,
    check_levels,
    encode,
)
from custseg.exceptions import DataValidationError
from custseg.io.levels import level_code


def _scaled(category: Category, levels: list[str]) -> np.ndarray:
    codes = np.array([level_code(v) for v in levels])
    return category.indicators(codes) * category.weight


@pytest.mark.parametrize("n_levels", [2, 3, 7, MAX_LEVELS])
def test_two_levels_are_one_standard_deviation_apart(n_levels):
    levels = tuple(f"L{i:02d}" for i in range(n_levels))
    category = Category("c", levels)
    Z = _scaled(category, list(levels))
    squared = ((Z[:, None, :] - Z[None, :, :]) ** 2).sum(axis=2)
    off = ~np.eye(n_levels, dtype=bool)
    assert np.allclose(squared[off], 1.0)  # as one standard deviation of one numeric feature


@pytest.mark.parametrize("shares", [[0.5, 0.5], [0.56, 0.44], [0.99, 0.01], [0.2] * 5,
                                    [1 / 20] * 20])
def test_a_category_carries_at_most_half_a_numeric_feature(shares):
    rows = 10_000
    counts = np.round(np.array(shares) * rows).astype(int)
    levels = tuple(f"L{i:02d}" for i in range(len(shares)))
    cells = [lv for lv, n in zip(levels, counts, strict=True) for _ in range(n)]
    Z = _scaled(Category("c", levels), cells)
    total_variance = float(Z.var(axis=0).sum())  # a standardised numeric feature carries 1
    assert total_variance <= 0.5 + 1e-9
    p = counts / counts.sum()
    assert total_variance == pytest.approx((1 - (p ** 2).sum()) / 2)


def test_weight_is_one_over_root_two():
    assert pytest.approx(2 ** -0.5) == CATEGORY_WEIGHT


def test_indicators_sorted_levels_and_unknown_code():
    category = Category("Gender", ("Female", "Male"))
    codes = np.array([level_code("Male"), level_code("Female"), level_code("Other"), np.nan])
    assert category.indicators(codes).tolist() == [[0, 1], [1, 0], [0, 0], [0, 0]]


def test_level_counts_are_exact_whatever_the_batches():
    codes = np.array([level_code(v) for v in "abacabaa"] + [np.nan])[:, None]
    texts = {level_code(v): v for v in "abc"}
    whole, pieces = LevelCounts(1), LevelCounts(1)
    whole.add(codes)
    for start in range(0, len(codes), 2):
        pieces.add(codes[start:start + 2])
    assert whole.result(texts) == pieces.result(texts) == ({"a": 5, "b": 2, "c": 1},)


def test_level_counts_give_up_beyond_the_tracking_cap():
    counts = LevelCounts(1)
    counts.add(np.arange(MAX_TRACKED + 1, dtype=np.float64)[:, None])
    assert counts.result({}) == (None,)


@pytest.mark.parametrize(("levels", "expected"), [
    ({f"v{i}": 1 for i in range(MAX_LEVELS + 1)}, f"has {MAX_LEVELS + 1} distinct values"),
    (None, f"more than {MAX_TRACKED:,} distinct values"),
    ({"only": 10}, "has 1 category"),
])
def test_check_levels_errors_name_the_column_and_count(levels, expected):
    with pytest.raises(DataValidationError) as error:
        check_levels(["Region"], [levels], "data.csv")
    message = str(error.value)
    assert "'Region'" in message
    assert expected in message
    assert "\n" not in message


def test_check_levels_accepts_the_limit():
    check_levels(["Region"], [{f"v{i}": 1 for i in range(MAX_LEVELS)}], "data.csv")


@pytest.mark.parametrize(("counts", "fill"), [
    ({"Female": 112, "Male": 88}, "Female"),
    ({"a": 3, "b": 5, "c": 5}, "b"),  # ties: the first in sorted order
])
def test_encode_sorts_levels_and_imputes_the_most_frequent(counts, fill):
    categories, codes = encode(["c"], [counts], impute=True)
    assert categories[0].levels == tuple(sorted(counts))
    assert codes[0] == level_code(fill)
    assert np.isnan(encode(["c"], [counts], impute=False)[1][0])


def test_level_counts_without_a_text_are_too_many():
    counts = LevelCounts(1)
    counts.add(np.array([[level_code("a")], [level_code("b")]]))
    assert counts.result({level_code("a"): "a"}) == (None,)
