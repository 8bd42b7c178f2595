"""Validation: one reason per rejected row, the count identity, duplicates, numbers."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from custseg.data.readers import read_table
from custseg.data.validate import parse_numbers, validate
from custseg.exceptions import DataValidationError

FEATURES = ("Annual Income (k$)", "Spending Score (1-100)")


def _read(tmp_path, text, name="c.csv"):
    path = tmp_path / name
    path.write_text(text)
    return read_table(path)


@pytest.mark.parametrize(("income", "score", "column", "reason"), [
    ("", "50", "Annual Income (k$)", "missing value"),
    ("NA", "50", "Annual Income (k$)", "missing value"),
    ("abc", "50", "Annual Income (k$)", "non-numeric text"),
    ("12k", "50", "Annual Income (k$)", "non-numeric text"),
    ("inf", "50", "Annual Income (k$)", "infinity"),
    ("-Infinity", "50", "Annual Income (k$)", "infinity"),
    ("-1", "50", "Annual Income (k$)", "negative value"),
    ("50", "0", "Spending Score (1-100)", "outside 1..100"),
    ("50", "100.5", "Spending Score (1-100)", "outside 1..100"),
    ("50", "", "Spending Score (1-100)", "missing value"),
    ("x", "500", "Annual Income (k$)", "non-numeric text"),  # first failing column wins
])
def test_each_reason(tmp_path, income, score, column, reason):
    raw = _read(tmp_path, f"CustomerID,Annual Income (k$),Spending Score (1-100)\n1,10,20\n2,{income},{score}\n")
    v = validate(raw, FEATURES)
    assert v.n_rows == 1
    assert v.rejects.to_dict("records") == [
        {"row": 3, "customer_id": "2", "column": column, "value": f"{income if column.startswith('A') else score}",
         "reason": reason}]


def test_age_range_applies_when_age_is_a_feature(tmp_path):
    raw = _read(tmp_path, "CustomerID,Age,Annual Income (k$)\n1,30,10\n2,130,10\n3,-1,20\n")
    v = validate(raw, ("Age", "Annual Income (k$)"))
    assert v.rejects["reason"].tolist() == ["outside 0..120", "outside 0..120"]
    # Not a feature: not checked.
    assert validate(raw, ("Annual Income (k$)",)).n_rows == 3


def test_missing_id_and_duplicates_first_valid_kept(tmp_path):
    raw = _read(tmp_path, "CustomerID,Annual Income (k$),Spending Score (1-100)\n"
                          "7,,50\n7,10,50\n8,11,50\n7,12,50\n,13,50\n8,14,50\n")
    v = validate(raw, FEATURES)
    assert v.table.column("CustomerID").to_pylist() == ["7", "8"]
    assert v.values[:, 0].tolist() == [10.0, 11.0]
    got = v.rejects[["row", "column", "reason"]].values.tolist()
    assert got == [
        [2, "Annual Income (k$)", "missing value"],
        [5, "CustomerID", "duplicate customer id (first seen in row 3)"],
        [6, "CustomerID", "missing value"],
        [7, "CustomerID", "duplicate customer id (first seen in row 4)"],
    ]


def test_count_identity_with_malformed_rows(tmp_path):
    raw = _read(tmp_path, "CustomerID,Annual Income (k$),Spending Score (1-100)\n"
                          "1,10,50\n2,20\n3,x,5\n4,40,60,9\n5,50,70\n")
    v = validate(raw, FEATURES)
    assert v.n_rows + len(v.rejects) == v.n_input == 5
    assert v.rejects["row"].tolist() == [3, 4, 5]
    assert v.row_numbers.tolist() == [2, 6]


def test_without_id_column_rows_are_kept(tmp_path):
    raw = _read(tmp_path, "Annual Income (k$),Spending Score (1-100)\n1,2\n1,2\n")
    v = validate(raw, FEATURES)
    assert v.id_column is None
    assert v.n_rows == 2


def test_aliases_and_column_map(tmp_path):
    raw = _read(tmp_path, "CustID,AnnualIncome,Points\n1,10,20\n2,30,40\n")
    v = validate(raw, FEATURES, column_map={"Points": "Spending Score (1-100)"})
    assert v.feature_columns == ("AnnualIncome", "Points")
    assert v.id_column == "CustID"
    assert v.values.tolist() == [[10.0, 20.0], [30.0, 40.0]]


def test_on_invalid_fail(tmp_path):
    raw = _read(tmp_path, "CustomerID,Annual Income (k$),Spending Score (1-100)\n1,10,20\n2,x,20\n")
    with pytest.raises(DataValidationError, match="row 3 in column 'Annual Income"):
        validate(raw, FEATURES, on_invalid="fail")


def test_decimal_comma_in_semicolon_files(tmp_path):
    raw = _read(tmp_path, "CustomerID;Annual Income (k$);Spending Score (1-100)\n1;10,5;20\n2;1.5;3\n")
    assert validate(raw, FEATURES).values.tolist() == [[10.5, 20.0], [1.5, 3.0]]


@pytest.mark.parametrize(("array", "values", "codes"), [
    (pa.array([1, None, 3]), [1.0, np.nan, 3.0], [0, 1, 0]),
    (pa.array([1.5, float("nan"), float("inf")]), [1.5, np.nan, np.nan], [0, 1, 3]),
    (pa.array([" 1e3 ", "+5", ".5", "5.", "1,5", "0x10"]), [1000.0, 5.0, 0.5, 5.0, np.nan, np.nan],
     [0, 0, 0, 0, 2, 2]),
    (pa.array(["1", "2"]).dictionary_encode(), [1.0, 2.0], [0, 0]),
])
def test_parse_numbers(array, values, codes):
    got_values, got_codes = parse_numbers(array)
    np.testing.assert_array_equal(got_values, values)
    assert got_codes.tolist() == codes
