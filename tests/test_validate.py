"""Validation: one reason per rejected row, the count identity, duplicates, numbers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from custseg.config import RunConfig
from custseg.exceptions import DataValidationError
from custseg.io.chunks import Chunk
from custseg.io.columns import resolve_columns
from custseg.io.levels import level_code
from custseg.io.numbers import maybe_grouped, parse_numbers
from custseg.io.rejects import NO_REJECTS, REJECT_SCHEMA, as_frame
from custseg.io.sources import FrameSource, Source, open_source
from custseg.io.validate import UNSEEN_LEVEL, RowValidator
from custseg.pipeline import segment
from tests.conftest import write_csv_text

FEATURES = ("Annual Income (k$)", "Spending Score (1-100)")
HEADER = "CustomerID,Annual Income (k$),Spending Score (1-100)\n"


@dataclass
class Checked:
    """A whole table validated by one :meth:`RowValidator.check` (what the in-memory engine does)."""

    chunk: Chunk
    validator: RowValidator
    keep: np.ndarray
    values: np.ndarray
    rejects: pd.DataFrame

    @property
    def table(self) -> pa.Table:
        """The valid rows, every column, cells as read."""
        return self.chunk.table.filter(pa.array(self.keep))

    @property
    def rows(self) -> list[int]:
        """Spreadsheet rows of the valid rows."""
        return self.chunk.rows[self.keep].tolist()

    @property
    def n_rows(self) -> int:
        return int(self.keep.sum())


def _validator(source: Source, features, column_map=None, id_column="CustomerID") -> RowValidator:
    columns, id_col = resolve_columns(source.columns, features, id_column, source.name,
                                      column_map=column_map)
    return RowValidator(features, columns, id_col, decimal_comma=source.info().decimal_comma)


def _check(source: Source, features=FEATURES, column_map=None) -> Checked:
    validator = _validator(source, features, column_map)
    chunk = source.read_all()
    keep, values, rejects = validator.check(chunk)
    assert rejects.schema.equals(REJECT_SCHEMA)
    assert len(keep) == chunk.table.num_rows
    assert values.shape == (int(keep.sum()), len(features))
    # The count identity: every record is either valid or rejected, once.
    assert int(keep.sum()) + rejects.num_rows == chunk.n_records
    return Checked(chunk, validator, keep, values, as_frame(rejects))


def _csv(tmp_path: Path, text: str, name: str = "c.csv") -> Source:
    return open_source(write_csv_text(tmp_path / name, text))


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
    ("1e40", "50", "Annual Income (k$)", "too large to segment (beyond ±1e30)"),
    ("-1e40", "50", "Annual Income (k$)", "too large to segment (beyond ±1e30)"),
    ("50", "1e31", "Spending Score (1-100)", "too large to segment (beyond ±1e30)"),
])
def test_each_reason(tmp_path, income, score, column, reason):
    v = _check(_csv(tmp_path, f"{HEADER}1,10,20\n2,{income},{score}\n"))
    assert v.n_rows == 1
    assert v.rows == [2]
    assert v.rejects.to_dict("records") == [
        {"row": 3, "customer_id": "2", "column": column, "value": f"{income if column.startswith('A') else score}",
         "reason": reason}]


def test_age_range_applies_when_age_is_a_feature(tmp_path):
    source = _csv(tmp_path, "CustomerID,Age,Annual Income (k$)\n1,30,10\n2,130,10\n3,-1,20\n")
    v = _check(source, ("Age", "Annual Income (k$)"))
    assert v.rejects["reason"].tolist() == ["outside 0..120", "outside 0..120"]
    assert v.rejects["row"].tolist() == [3, 4]
    # Not a feature: not checked.
    assert _check(source, ("Annual Income (k$)",)).n_rows == 3


def test_missing_id_and_duplicates_first_valid_kept(tmp_path):
    v = _check(_csv(tmp_path, HEADER + "7,,50\n7,10,50\n8,11,50\n7,12,50\n,13,50\n8,14,50\n"))
    assert v.table.column("CustomerID").to_pylist() == ["7", "8"]
    assert v.values[:, 0].tolist() == [10.0, 11.0]
    assert v.rows == [3, 4]
    got = v.rejects[["row", "column", "reason"]].values.tolist()
    assert got == [
        [2, "Annual Income (k$)", "missing value"],
        [5, "CustomerID", "duplicate customer id (first seen in row 3)"],
        [6, "CustomerID", "missing value"],
        [7, "CustomerID", "duplicate customer id (first seen in row 4)"],
    ]


def test_count_identity_with_malformed_rows(tmp_path):
    v = _check(_csv(tmp_path, HEADER + "1,10,50\n2,20\n3,x,5\n4,40,60,9\n5,50,70\n"))
    assert v.n_rows + len(v.rejects) == v.chunk.n_records == 5
    # Parse rejects and validation rejects come back together, in row order.
    assert v.rejects["row"].tolist() == [3, 4, 5]
    assert v.rejects["reason"].tolist() == ["wrong number of fields: expected 3, found 2",
                                            "non-numeric text",
                                            "wrong number of fields: expected 3, found 4"]
    assert v.rows == [2, 6]
    assert v.validator.most_common_problem() == "wrong number of fields"


def test_without_id_column_rows_are_kept(tmp_path):
    source = _csv(tmp_path, "Annual Income (k$),Spending Score (1-100)\n1,2\n1,2\n,2\n")
    v = _check(source)
    assert v.validator.id_column is None
    assert v.n_rows == 2  # the same values twice are two customers without ids
    assert v.rejects["customer_id"].isna().tolist() == [True]
    assert v.rejects["row"].tolist() == [4]


def test_aliases_and_column_map(tmp_path):
    source = _csv(tmp_path, "CustID,AnnualIncome,Points\n1,10,20\n2,30,40\n")
    v = _check(source, column_map={"Points": "Spending Score (1-100)"})
    assert v.validator.feature_columns == ["AnnualIncome", "Points"]
    assert v.validator.id_column == "CustID"
    assert v.values.tolist() == [[10.0, 20.0], [30.0, 40.0]]


def test_on_invalid_fail(tmp_path):
    path = write_csv_text(tmp_path / "c.csv", HEADER + "1,10,20\n2,x,20\n")
    with pytest.raises(DataValidationError, match=r"c\.csv row 3 in column 'Annual Income \(k\$\)': "
                                                  r"non-numeric text \('x'\)\. 1 invalid row"):
        segment(RunConfig(input=path, on_invalid="fail", k=1))


def test_decimal_comma_in_semicolon_files(tmp_path):
    source = _csv(tmp_path, "CustomerID;Annual Income (k$);Spending Score (1-100)\n1;10,5;20\n2;1.5;3\n")
    assert source.info().decimal_comma
    assert _check(source).values.tolist() == [[10.5, 20.0], [1.5, 3.0]]


def test_decimal_comma_is_text_in_comma_files(tmp_path):
    source = _csv(tmp_path, 'CustomerID,Annual Income (k$),Spending Score (1-100)\n1,"10,5",20\n2,1.5,3\n')
    v = _check(source)
    assert v.values.tolist() == [[1.5, 3.0]]
    assert v.rejects[["row", "value", "reason"]].values.tolist() == [[2, "10,5", "non-numeric text"]]


def test_data_frame_is_validated_like_a_file(tmp_path, mall_df):
    frame = mall_df.head(30).copy()
    frame.loc[3, "Annual Income (k$)"] = -5
    frame.loc[7, "CustomerID"] = frame.loc[2, "CustomerID"]
    frame_checked = _check(FrameSource(frame))
    path = tmp_path / "m.csv"
    frame.to_csv(path, index=False)
    file_checked = _check(open_source(path))
    assert frame_checked.rows == file_checked.rows
    np.testing.assert_array_equal(frame_checked.values, file_checked.values)
    assert frame_checked.rejects[["row", "column", "reason"]].values.tolist() == [
        [5, "Annual Income (k$)", "negative value"],
        [9, "CustomerID", "duplicate customer id (first seen in row 4)"]]
    assert (file_checked.rejects[["row", "column", "reason"]].values.tolist()
            == frame_checked.rejects[["row", "column", "reason"]].values.tolist())


def test_typed_ids_from_parquet(tmp_path):
    path = tmp_path / "c.parquet"
    pq.write_table(pa.table({"CustomerID": pa.array([1, None, 1, 2], pa.int64()),
                             "Annual Income (k$)": [10.0, 11.0, 12.0, 13.0],
                             "Spending Score (1-100)": [5.0, 6.0, 7.0, 8.0]}), path)
    v = _check(open_source(path))
    assert v.rows == [2, 5]
    assert v.rejects[["row", "reason"]].values.tolist() == [
        [3, "missing value"], [4, "duplicate customer id (first seen in row 2)"]]
    assert v.rejects["customer_id"].isna().tolist() == [True, False]
    assert v.rejects["customer_id"].iloc[1] == "1"


#: Ids 1, 4 and 2 come back; 2's first row (3) is invalid, so its first valid row is 12.
MESSY = (HEADER + "1,10,20\n2,x,20\n1,11,21\n3,12\n4,13,22\n,14,23\n5,-1,24\n4,15,25\n6,16,26\n"
         "7,17,27,9\n2,18,28\n8,19,101\n9,20,29\n2,21,30\n")


@pytest.mark.parametrize("rows", [1, 3, 7, 1_000])
def test_batch_by_batch_is_the_same_as_once(tmp_path, rows):
    source = _csv(tmp_path, MESSY)
    whole = _check(source)
    validator = _validator(source, FEATURES)
    keeps, values, rejects = [], [], []
    for chunk in source.chunks(rows):
        keep, vals, rej = validator.check(chunk)
        keeps.append(chunk.rows[keep])
        values.append(vals)
        rejects.append(rej)
    assert np.concatenate(keeps).tolist() == whole.rows
    np.testing.assert_array_equal(np.concatenate(values), whole.values)
    # Duplicates are found across batches, always pointing at the first valid row of the id.
    assert as_frame(pa.concat_tables(rejects)).to_dict("records") == whole.rejects.to_dict("records")
    assert whole.rejects.loc[whole.rejects["reason"].str.startswith("duplicate"), "reason"].tolist() == [
        "duplicate customer id (first seen in row 2)", "duplicate customer id (first seen in row 6)",
        "duplicate customer id (first seen in row 12)"]


def test_most_common_problem(tmp_path):
    v = _check(_csv(tmp_path, HEADER + "1,x,20\n2,y,20\n3,10,0\n4,10,20\n"))
    assert v.validator.most_common_problem() == "'Annual Income (k$)': non-numeric text"
    assert RowValidator(FEATURES, FEATURES, None).most_common_problem() == "no rows"


def test_empty_chunk():
    validator = RowValidator(FEATURES, FEATURES, "CustomerID")
    empty = pa.table({c: pa.array([], pa.string()) for c in ("CustomerID", *FEATURES)})
    keep, values, rejects = validator.check(Chunk(empty, np.empty(0, np.int64), NO_REJECTS))
    assert keep.tolist() == []
    assert values.shape == (0, 2)
    assert rejects.num_rows == 0


@pytest.mark.parametrize(("array", "values", "codes"), [
    (pa.array([1, None, 3]), [1.0, np.nan, 3.0], [0, 1, 0]),
    (pa.array([1.5, float("nan"), float("inf")]), [1.5, np.nan, np.nan], [0, 1, 3]),
    (pa.array([" 1e3 ", "+5", ".5", "5.", "1,5", "0x10"]), [1000.0, 5.0, 0.5, 5.0, np.nan, np.nan],
     [0, 0, 0, 0, 2, 2]),
    (pa.array(["1", "2"]).dictionary_encode(), [1.0, 2.0], [0, 0]),
    (pa.array([1e40, -1e31, 1e30, 1e-300]), [np.nan, np.nan, 1e30, 1e-300], [5, 5, 0, 0]),
    (pa.array(["1e40", "1E+30", "-1e30"]), [np.nan, 1e30, -1e30], [5, 0, 0]),
])
def test_parse_numbers(array, values, codes):
    got_values, got_codes = parse_numbers(array)
    np.testing.assert_array_equal(got_values, values)
    assert got_codes.tolist() == codes


def test_parse_numbers_decimal_comma():
    values, codes = parse_numbers(pa.array(["1,5", "-2,25", "1,2,3", "NA"]), decimal_comma=True)
    np.testing.assert_array_equal(values, [1.5, -2.25, np.nan, np.nan])
    assert codes.tolist() == [0, 0, 2, 1]


@pytest.mark.parametrize(("cells", "decimal_comma", "thousands", "values", "codes"), [
    (["1.234.567,5", "1.234", "12,5", "7", "12.5", "1.23"], True, ".",
     [1234567.5, 1234.0, 12.5, 7.0, np.nan, np.nan], [0, 0, 0, 0, 2, 2]),
    (["1,234,567.5", "1,234", "12.5", "7", "12,5"], False, ",",
     [1234567.5, 1234.0, 12.5, 7.0, np.nan], [0, 0, 0, 0, 2]),
    (["15.123", "16.000"], True, ".", [15123.0, 16000.0], [0, 0]),  # the fast path too
    (["15.123", "NA", ""], True, ".", [15123.0, np.nan, np.nan], [0, 1, 1]),
])
def test_parse_numbers_with_thousands(cells, decimal_comma, thousands, values, codes):
    got_values, got_codes = parse_numbers(pa.array(cells), decimal_comma, thousands)
    np.testing.assert_array_equal(got_values, values)
    assert got_codes.tolist() == codes


@pytest.mark.parametrize(("cells", "first"), [
    (["12,5", "15.123"], 1), (["1.234.567"], 0), (["1.234,5"], 0), ([" -2.500 "], 0),
    (["12.5", "0.125", "12,5", "1234", "01.02.2024", ""], None),
])
def test_maybe_grouped(cells, first):
    assert maybe_grouped(pa.array(cells)) == first


EURO = "CustomerID;Age;Annual Income (k$);Spending Score (1-100)\n1;20;12,5;40\n2;30;{income};50\n"


@pytest.mark.parametrize(("income", "decimal", "expected"), [
    ("15.123", None, "raise"),
    ("1.234.567", None, "raise"),
    ("15.5", None, 15.5),  # not a grouping: read as before
    ("0.125", None, 0.125),
    ("15.123", ",", 15123.0),
    ("15.123", ".", 15.123),
])
def test_thousands_grouping_in_semicolon_files_is_said_not_guessed(tmp_path, income, decimal,
                                                                   expected):
    path = write_csv_text(tmp_path / "eu.csv", EURO.format(income=income))
    source = open_source(path, decimal=decimal)
    info = source.info()
    validator = RowValidator(["Age", "Annual Income (k$)"], ["Age", "Annual Income (k$)"],
                             "CustomerID", decimal_comma=info.decimal_comma,
                             thousands=info.thousands,
                             unsettled_in=info if info.grouping_unsettled else None)
    chunk = source.read_all()
    if expected == "raise":
        with pytest.raises(DataValidationError) as error:
            validator.check(chunk)
        assert str(error.value).startswith(
            f"eu.csv row 3 in column 'Annual Income (k$)' holds {income!r}: in this "
            "semicolon-separated file ',' marks decimals, so '.' may group thousands")
        assert "--decimal ," in str(error.value)
        assert "--decimal ." in str(error.value)
        return
    keep, values, _ = validator.check(chunk)
    assert keep[-1]
    assert values[-1, 1] == expected
    # '.' marking decimals makes '12,5' no number; ',' marking them keeps it.
    assert keep[0] == (decimal != ".")


# --------------------------------------------------------------------------- categorical features

def _category_check(cells: list, allow_missing: bool = False, levels=None):
    table = pa.table({"id": [str(i) for i in range(len(cells))], "x": ["1"] * len(cells),
                      "g": pa.array(cells, pa.string())})
    validator = RowValidator(["x", "g"], ["x", "g"], "id", categorical=[False, True],
                             allow_missing=[False, allow_missing], levels=levels)
    return validator, validator.check(Chunk(table, np.arange(2, 2 + len(cells)), NO_REJECTS))


@pytest.mark.parametrize(("allow_missing", "kept"), [(False, 2), (True, 4)])
def test_missing_category_cells_follow_missing(allow_missing, kept):
    _, (keep, values, rejects) = _category_check(["Male", "", None, " Female "], allow_missing)
    assert int(keep.sum()) == kept
    assert values[0, 1] == level_code("Male")
    if allow_missing:
        assert np.isnan(values[1:3, 1]).all()
        assert rejects.num_rows == 0
    else:
        assert rejects.column("reason").to_pylist() == ["missing value"] * 2
        assert rejects.column("column").to_pylist() == ["g", "g"]


def test_a_category_the_model_does_not_know_is_rejected_with_a_reason():
    known = [None, np.array([level_code("Female"), level_code("Male")])]
    validator, (keep, _, rejects) = _category_check(["Male", "Other", "Female"], levels=known)
    assert keep.tolist() == [True, False, True]
    assert rejects.to_pylist() == [{"row": 3, "customer_id": "1", "column": "g", "value": "Other",
                                    "reason": UNSEEN_LEVEL}]
    assert validator.level_texts[level_code("Other")] == "Other"


@pytest.mark.parametrize("cells", [
    ["1", "2.5", "-3", "1e29"],                     # every cell usable: the two-reduction path
    ["120", "0", "7"],
    ["1e31", "5"], ["inf", "5"], ["", "5"], ["x", "5"],
])
def test_usable_columns_parse_as_any_column_does(cells):
    """The shortcut for columns of usable numbers gives what the cell-by-cell codes give: a
    column's result is the same alone and followed by a cell that is not a number."""
    values, codes = parse_numbers(pa.array(cells))
    longer_values, longer_codes = parse_numbers(pa.array([*cells, "abc"]))
    np.testing.assert_array_equal(values, longer_values[:-1])
    np.testing.assert_array_equal(codes, longer_codes[:-1])
    assert values.flags.writeable


@pytest.mark.parametrize("ids", [["1", "2", "3", "4"], [" 1", "2", "2", "7"], ["1", "", "x", "1"]])
@pytest.mark.parametrize("incomes", [["15", "16", "17", "18"], ["15", "-1", "17", "abc"]])
def test_values_written_in_place_are_the_values_returned(ids, incomes):
    """``check(chunk, out)`` (the in-memory engine's array) keeps what ``check(chunk)`` keeps."""
    table = pa.table({"CustomerID": ids, FEATURES[0]: incomes, FEATURES[1]: ["5", "6", "7", "8"]})
    chunk = Chunk(table, np.arange(2, 6), NO_REJECTS)
    keep, values, rejects = RowValidator(FEATURES, FEATURES, "CustomerID").check(chunk)
    out = np.full((6, 2), -9.0)
    keep2, values2, rejects2 = RowValidator(FEATURES, FEATURES, "CustomerID").check(chunk, out)
    np.testing.assert_array_equal(keep, keep2)
    np.testing.assert_array_equal(values, values2)
    np.testing.assert_array_equal(out[:len(values)], values)
    assert np.shares_memory(values2, out)
    assert rejects.equals(rejects2)
