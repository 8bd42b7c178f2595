"""Which other columns a profile describes: numeric, codes, categories, and free text left out
(``engines.columns``); which input column holds a feature, said rather than guessed
(``io.columns``)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from custseg.engines.columns import MAX_CATEGORIES, MAX_CATEGORY_CHARS, ColumnPlan, ColumnScan
from custseg.exceptions import DataValidationError
from custseg.io.columns import how_matched, resolve_column, resolve_columns


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


INCOME = "Annual Income (k$)"


@pytest.mark.parametrize(("present", "column_map", "found"), [
    (["Income"], {}, "Income"),
    (["income", "Spending"], {}, "income"),
    ([INCOME, "Income"], {}, INCOME),  # the exact name is no ambiguity
    (["Income", "Annual Income"], {"Income": INCOME}, "Income"),
    (["Income", "Annual Income"], {"Annual Income": INCOME}, "Annual Income"),
    # A column the map sends elsewhere is no longer a candidate.
    (["Income", "Annual Income"], {"Annual Income": "Household income"}, "Income"),
    (["Age"], {}, None),
])
def test_one_column_per_feature(present, column_map, found):
    assert resolve_column(INCOME, present, column_map, "x.csv") == found


@pytest.mark.parametrize(("present", "listed"), [
    (["Income", "Annual Income"], "Columns 'Income' and 'Annual Income' of x.csv both match"),
    (["annual_income", "AnnualIncome", "Income (k$)"],
     "Columns 'annual_income', 'AnnualIncome' and 'Income (k$)' of x.csv all match"),
    (["INCOME", "income"], "Columns 'INCOME' and 'income' of x.csv both match"),
])
def test_two_matching_columns_are_an_error_naming_both(present, listed):
    with pytest.raises(DataValidationError) as info:
        resolve_columns(["CustomerID", *present], [INCOME], "CustomerID", "x.csv")
    assert str(info.value) == (f"{listed} {INCOME!r}. Choose one with --column-map, e.g. "
                               f"--column-map '{present[0]}={INCOME}'.")
    # Without a source name (an optional column), no guess either: nothing is found.
    assert resolve_column(INCOME, present) is None


def test_two_matching_id_columns_are_an_error():
    with pytest.raises(DataValidationError) as info:
        resolve_columns(["CustID", "client_id", INCOME], [INCOME], "CustomerID", "x.csv")
    assert str(info.value).startswith("Columns 'CustID' and 'client_id' of x.csv both match "
                                      "'CustomerID'.")


@pytest.mark.parametrize(("column", "column_map", "how"), [
    (INCOME, {}, "name"), ("annual income (K$)", {}, "case and punctuation"),
    ("income", {}, "alias"), ("Revenue", {"Revenue": INCOME}, "column map"),
])
def test_how_a_column_was_matched(column, column_map, how):
    assert how_matched(INCOME, column, column_map) == how


def test_category_texts_are_the_trimmed_distinct_cells_across_chunks():
    """Distinct cells first, trimmed after: the set of trimmed non-empty cells, as trimming
    every cell first gives."""
    import numpy as np

    rng = np.random.default_rng(5)
    cells = rng.choice(["Male", " Male", "Male ", "Female", "  ", "", "F\u00e9male\t"], 500).tolist()
    scan = ColumnScan("g", pa.string())
    scan.update(pa.chunked_array([cells[:100], cells[100:101], cells[101:]]))
    assert scan.texts == {c.strip() for c in cells if c.strip()}


def test_code_text_writes_codes_beyond_int64_exactly():
    import warnings

    from custseg.engines.columns import code_text

    values = np.array([7.0, np.nan, 2.0**63, -1e30, np.inf, -(2.0**62)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no invalid cast on the way
        cells = code_text(values).to_pylist()
    assert cells == ["7", None, str(2**63), str(int(-1e30)), None, str(-(2**62))]
