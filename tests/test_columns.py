"""Which other columns a profile describes: numeric, codes, categories, and free text left out."""

from __future__ import annotations

import pyarrow as pa
import pytest

from custseg.engines.columns import MAX_CATEGORIES, MAX_CATEGORY_CHARS, ColumnPlan, ColumnScan


def _plan(cells: list[str]) -> ColumnPlan | None:
    scan = ColumnScan("c", pa.string())
    scan.update(pa.chunked_array([cells]))
    return scan.plan(len(cells))


def test_few_short_texts_are_categories():
    assert _plan(["Male", "Female", " Male "]) == ColumnPlan("text", ("Female", "Male"))


def test_too_many_texts_are_not_categories():
    assert _plan([f"v{i}" for i in range(MAX_CATEGORIES + 1)]) is None


@pytest.mark.parametrize("length", [MAX_CATEGORY_CHARS + 1, 40_000_000])
def test_a_long_text_value_makes_free_text_not_categories(length):
    # Its values would become profile column names ("Gender: <40 MB> %").
    assert _plan(["Male", "Female", "x" * length]) is None


def test_a_category_of_the_longest_length_is_kept():
    long = "y" * MAX_CATEGORY_CHARS
    assert _plan(["Male", long]) == ColumnPlan("text", ("Male", long))


def test_whole_number_codes():
    assert _plan(["1", "2", "1", "3"]) == ColumnPlan("code", ("1", "2", "3"))
