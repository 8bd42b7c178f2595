"""The range of K searched: lowered to what the rows support, and an error when --k-min cannot be
met."""

from __future__ import annotations

import pytest

from custseg.exceptions import DataValidationError
from custseg.segmentation.krange import plan_k_range, supported_k


@pytest.mark.parametrize(("rows", "expected"), [(2, 2), (8, 2), (18, 3), (200, 10), (5_000, 50)])
def test_supported_k_is_the_square_root_rule(rows, expected):
    assert supported_k(rows) == expected


@pytest.mark.parametrize("k_max", [10, 20, 40, 80])
def test_mall_sized_data_search_the_same_range(k_max):
    k_range = plan_k_range(2, k_max, rows=200, distinct=200)
    assert (k_range.k_min, k_range.k_max) == (2, 10)
    assert k_range.capped == (k_max > 10)
    assert k_range.requested_k_max == k_max
    if k_max > 10:
        assert k_range.note().startswith(f"--k-max {k_max} lowered to 10: K is chosen on 200 customers")
    else:
        assert k_range.note() == ""


def test_k_min_above_the_rule_is_kept():
    k_range = plan_k_range(12, 20, rows=200, distinct=200)
    assert (k_range.k_min, k_range.k_max) == (12, 12)
    assert k_range.capped


def test_duplicated_rows_limit_the_range():
    k_range = plan_k_range(2, 10, rows=200, distinct=4)
    assert k_range.k_max == 4


@pytest.mark.parametrize(("rows", "distinct", "k_min"), [(20, 20, 30), (20, 20, 20), (200, 3, 4)])
def test_k_min_beyond_the_rows_is_an_error(rows, distinct, k_min):
    with pytest.raises(DataValidationError, match=rf"--k-min {k_min} is more segments than the data "
                                                  rf"can hold: {rows} valid rows \({distinct} distinct\)"):
        plan_k_range(k_min, k_min + 5, rows=rows, distinct=distinct)


def test_a_forced_k_searches_as_far_as_the_rows_go():
    k_range = plan_k_range(30, 40, rows=20, distinct=20, strict=False)
    assert k_range.k_max == 19
