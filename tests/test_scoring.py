"""Scoring files in chunks: same validation as run, row accounting, flat memory structures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from custseg.config import CLUSTER_COLUMN, SEGMENT_COLUMN, RunConfig
from custseg.engines import open_engine, open_input
from custseg.engines.scan import Scan
from custseg.exceptions import ConfigError, DataValidationError, InputFileError
from custseg.io import csvsource
from custseg.modelfile import MODEL_FILE, load_model, save_model
from custseg.outputs import scoredlines
from custseg.outputs.scoredfiles import default_out_path, rejects_path_for
from custseg.pipeline.stages import scan
from custseg.scoring import predict_file
from tests.conftest import write_csv_text
from tests.predict_support import MALL_FEATURES, fitted, input_path, read_scored, run_clusters

HEADER = "CustomerID,Gender,Age,Annual Income (k$),Spending Score (1-100)"
#: Every kind of bad row run rejects, spread so chunks of 3 rows cut through them.
JUNK_ROWS = [
    "1,Male,19,15,39",
    "2,Male,21,15",  # wrong number of fields
    "3,Female,20,,6",  # missing value
    "4,Female,23,16k,77",  # non-numeric text
    "5,Female,31,inf,40",  # infinity
    "6,Female,22,-17,76",  # negative income
    "7,Female,35,18,150",  # outside 1..100
    "1,Male,64,19,3",  # duplicate of row 2, same chunk
    ",Female,30,19,72",  # missing id
    "8,Male,67,19,14,extra",  # wrong number of fields
    "9,Female,35, 19 ,99",  # fine: spaces are trimmed
    "10,Female,58,NA,15",  # missing value (NA)
    "7,Male,24,20,13",  # not a duplicate: row 8's 7 was rejected
    '"11",Female,37,20,"13"',  # quoted cells
    "1 ,Male,22,20,79",  # duplicate of row 2, a later chunk (trimmed id)
    "12,Female,35,21,35",
    "9,Male,20,21,66",  # duplicate of row 12
    "C-13,Male,52,23,29",  # text id
    "C-13,Female,35,23,98",  # duplicate text id
    "0013,Male,35,24,35",  # not the same id as 13 (text comparison)
    "13,Male,35,24,35",
]


@pytest.fixture(scope="module")
def mall_model():
    return fitted("mall")[1]


@pytest.fixture
def junk_csv(tmp_path):
    return write_csv_text(tmp_path / "junk.csv", "\n".join([HEADER, *JUNK_ROWS]) + "\n")


def _run_validation(path, **engine) -> Scan:
    """What ``run`` makes of ``path`` (default options; in memory unless told): its first stage,
    every record validated. Its sample is then every valid row, in row order."""
    config = RunConfig(input=path, **(engine or {"engine": "memory"}))
    with open_engine(config, open_input(config)) as opened:
        scanned = scan(opened, config)
    assert scanned.sample_is_everything
    return scanned


def _records(rejects: pd.DataFrame) -> list[dict]:
    """Rejects as ``predict`` writes them and ``read_csv(dtype=str)`` reads them back."""
    return rejects.astype({"row": str}).fillna("").to_dict("records")


@pytest.mark.parametrize("dataset", ["mall", "wholesale"])
@pytest.mark.parametrize("chunk_rows", [1_000_000, 17])
def test_predict_file_reproduces_the_run(dataset, chunk_rows, tmp_path):
    result, model = fitted(dataset)
    model = load_model(save_model(model, tmp_path / MODEL_FILE))
    out = predict_file(model, input_path(dataset), tmp_path / "scored.csv", chunk_rows=chunk_rows)
    scored = read_scored(out.out)
    clustered = result.clustered  # the run's own clustered file
    assert scored["Cluster"].tolist() == clustered[CLUSTER_COLUMN].tolist() \
        == run_clusters(dataset).tolist()
    assert scored["Segment"].tolist() == clustered[SEGMENT_COLUMN].tolist()
    names = dict(zip(result.segment_ids.tolist(), result.names, strict=True))
    assert scored["Segment"].tolist() == [names[c] for c in scored["Cluster"]]
    id_column = "CustomerID" if dataset == "mall" else "row"
    assert list(scored.columns) == [id_column, "Cluster", "Segment", "distance", "atypical"]
    if dataset == "mall":
        assert scored["CustomerID"].astype(str).tolist() == clustered["CustomerID"].tolist()
    else:
        assert scored["row"].tolist() == list(range(2, result.n_input + 2))
    assert (out.n_input, out.n_scored, out.n_rejected) == (result.n_input, result.n_input, 0)
    assert out.counts["customers"].tolist() == result.profiles.sizes.tolist()
    assert out.rejects_path is None
    assert out.n_atypical == int(scored["atypical"].sum())
    assert 0 < out.n_atypical <= 0.05 * out.n_scored


@pytest.mark.parametrize("dataset", ["mall", "wholesale"])
def test_compiled_lines_write_the_bytes_of_the_table_path(dataset, tmp_path, monkeypatch):
    model = fitted(dataset)[1]
    written = []
    for minimum in (1 << 62, 1):  # Arrow's writer for every chunk, then compiled lines
        monkeypatch.setattr(scoredlines, "COMPILED_MIN_ROWS", minimum)
        out = tmp_path / f"scored_{minimum}.csv"
        predict_file(model, input_path(dataset), out, chunk_rows=64)
        written.append(out.read_bytes())
    assert written[0] == written[1]


@pytest.mark.parametrize("chunk_rows", [1, 3, 1000])
def test_junk_rows_get_runs_reasons_and_every_row_is_counted(junk_csv, mall_model, tmp_path,
                                                             chunk_rows):
    out = tmp_path / "junk_scored.csv"
    result = predict_file(mall_model, junk_csv, out, chunk_rows=chunk_rows)
    expected = _run_validation(junk_csv)
    assert result.n_input == len(JUNK_ROWS) == expected.n_input
    assert result.n_scored + result.n_rejected == result.n_input
    assert result.n_rejected == expected.n_rejected == len(expected.rejects.preview)
    assert result.n_scored == expected.n_valid
    assert result.rejects_path == tmp_path / "junk_scored_rejected_rows.csv"
    rejects = pd.read_csv(result.rejects_path, dtype=str, keep_default_na=False)
    assert rejects.to_dict("records") == _records(expected.rejects.preview)
    scored = read_scored(out)
    assert scored["CustomerID"].astype(str).tolist() == \
        expected.sample.table.column("CustomerID").to_pylist()
    reasons = dict(zip(rejects["row"].astype(int), rejects["reason"], strict=True))
    assert reasons[9] == "duplicate customer id (first seen in row 2)"
    assert reasons[16] == "duplicate customer id (first seen in row 2)"
    assert reasons[18] == "duplicate customer id (first seen in row 12)"
    assert reasons[20] == "duplicate customer id (first seen in row 19)"
    assert not {14, 21, 22} & set(reasons)


def test_many_batches_keep_row_numbers_right(mall_model, tmp_path):
    # Big enough for several CSV reader blocks; bad records in many of them.
    rng = np.random.default_rng(0)
    lines = [HEADER]
    for i in range(1, 6001):
        if i % 97 == 0:
            lines.append(f"{i},Male,30,40")  # wrong number of fields
        elif i % 89 == 0:
            lines.append(f"{i},Male,30,abc,40")
        elif i % 83 == 0:
            lines.append(f"{i % 50 + 1},Male,30,40,40")  # duplicate of an earlier id
        else:
            lines.append(f"{i},Female,{rng.integers(18, 70)},{rng.integers(15, 140)},"
                         f"{rng.integers(1, 100)}")
    path = write_csv_text(tmp_path / "many.csv", "\n".join(lines) + "\n")
    result = predict_file(mall_model, path, tmp_path / "many_scored.csv", chunk_rows=150)
    expected = _run_validation(path)
    assert (result.n_input, result.n_scored, result.n_rejected) == (
        6000, expected.n_valid, expected.n_rejected)
    rejects = pd.read_csv(result.rejects_path, dtype=str, keep_default_na=False)
    assert rejects.to_dict("records") == _records(expected.rejects.preview)
    scored = read_scored(result.out)
    assert scored["CustomerID"].tolist() == [int(x) for x in
                                             expected.sample.table.column("CustomerID").to_pylist()]
    assert scored["Cluster"].tolist() == mall_model.predict(
        pd.DataFrame(expected.sample.values, columns=list(MALL_FEATURES))).tolist()


@pytest.mark.parametrize("chunk_rows", [1, 2, 7, 1000])
def test_a_record_longer_than_the_reader_block_is_read(mall_model, tmp_path, monkeypatch,
                                                       chunk_rows):
    # A quoted note of many short lines: longer than the reader's first blocks, yet no line of it
    # is long, so the source learns of it only when a read fails and retries with bigger blocks,
    # after rows before it were already handed out.
    note = "long\nnote " * 5000
    lines = [HEADER + ",Notes"] + [f"{i},Male,30,{20 + i},{40 + i},ok" for i in range(1, 41)]
    lines.insert(21, f'41,Female,30,60,60,"{note}"')
    lines.insert(22, "42,Male,30")  # wrong number of fields, after the long record
    lines.insert(23, "5,Male,30,20,20,dup")  # duplicate of a row handed out before the retry
    path = write_csv_text(tmp_path / "long.csv", "\n".join(lines) + "\n")
    blocks = []
    block = csvsource.CsvSource._block

    def spy(self, rows, scale):
        blocks.append(scale)
        return block(self, rows, scale)

    monkeypatch.setattr(csvsource.CsvSource, "_block", spy)
    result = predict_file(mall_model, path, tmp_path / "long_scored.csv", chunk_rows=chunk_rows)
    assert max(blocks) > 1, "the long record never needed a bigger block"
    assert (result.n_input, result.n_scored, result.n_rejected) == (43, 41, 2)
    scored = read_scored(result.out)
    assert scored["CustomerID"].tolist() == [*range(1, 21), 41, *range(21, 41)]
    rejects = pd.read_csv(result.rejects_path, dtype=str, keep_default_na=False)
    assert rejects["row"].tolist() == ["23", "24"]
    assert rejects["reason"].tolist() == ["wrong number of fields: expected 6, found 3",
                                          "duplicate customer id (first seen in row 6)"]
    monkeypatch.undo()
    # The same rejects as the run's whole-file read.
    assert rejects.to_dict("records") == _records(_run_validation(path).rejects.preview)


@pytest.mark.parametrize("kind", ["parquet", "excel", "semicolon", "utf-16", "no id"])
def test_other_inputs(mall_model, tmp_path, kind):
    df = pd.read_csv(input_path("mall"))
    expected = run_clusters("mall")
    if kind == "parquet":
        path = tmp_path / "mall.parquet"
        df.to_parquet(path)
    elif kind == "excel":
        path = tmp_path / "mall.xlsx"
        df.to_excel(path, index=False)
    elif kind == "semicolon":
        path = tmp_path / "mall.csv"
        text = df.astype({"Annual Income (k$)": float}).to_csv(sep=";", index=False)
        path.write_text(text.replace(".0;", ",0;"), encoding="utf-8")  # decimal commas
    elif kind == "utf-16":
        path = tmp_path / "mall.csv"
        path.write_text(df.to_csv(index=False), encoding="utf-16")
    else:
        path = tmp_path / "mall.csv"
        df.drop(columns="CustomerID").to_csv(path, index=False)
    result = predict_file(mall_model, path, tmp_path / "scored.csv", chunk_rows=64)
    scored = read_scored(result.out)
    assert scored["Cluster"].tolist() == expected.tolist()
    assert scored.columns[0] == ("row" if kind == "no id" else "CustomerID")
    if kind == "no id":
        assert scored["row"].tolist() == list(range(2, 202))


@pytest.mark.parametrize("case", ["one row", "shuffled columns", "extra columns", "aliases",
                                  "column map"])
def test_documented_input_shapes(mall_model, tmp_path, case):
    df = pd.read_csv(input_path("mall"))
    expected = run_clusters("mall")
    column_map = ()
    if case == "one row":
        df, expected = df.iloc[[42]], expected[[42]]
    elif case == "shuffled columns":
        df = df[["Spending Score (1-100)", "Gender", "CustomerID", "Annual Income (k$)", "Age"]]
    elif case == "extra columns":
        df = df.assign(Email="x@example.com", Notes="=HYPERLINK(1)")
    elif case == "aliases":
        df = df.rename(columns={"Annual Income (k$)": "AnnualIncome", "Genre": "Gender",
                                "Spending Score (1-100)": "spending_score"})
    elif case == "column map":
        df = df.rename(columns={"Spending Score (1-100)": "Points"})
        column_map = ["Points=Spending Score (1-100)"]
    path = tmp_path / "new.csv"
    df.to_csv(path, index=False)
    result = predict_file(mall_model, path, tmp_path / "scored.csv", column_map=column_map)
    assert read_scored(result.out)["Cluster"].tolist() == expected.tolist()
    assert result.n_input == result.n_scored == len(df)


def test_missing_feature_is_refused_before_writing(mall_model, tmp_path):
    path = tmp_path / "new.csv"
    pd.read_csv(input_path("mall")).drop(columns="Annual Income (k$)").to_csv(path, index=False)
    with pytest.raises(DataValidationError) as info:
        predict_file(mall_model, path, tmp_path / "scored.csv")
    message = str(info.value)
    assert "Column 'Annual Income (k$)', a feature of the model, not found in new.csv" in message
    assert "--column-map" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.csv"]


def test_all_rows_rejected_fails_and_leaves_previous_output(mall_model, tmp_path):
    path = write_csv_text(tmp_path / "bad.csv", HEADER + "\n1,Male,19,abc,39\n2,Male,19,x,39\n")
    out = tmp_path / "scored.csv"
    out.write_text("previous\n")
    with pytest.raises(DataValidationError, match=r"No valid rows in bad.csv: all 2 rows were rejected "
                                                  r"\(most often: 'Annual Income \(k\$\)': non-numeric"):
        predict_file(mall_model, path, out, chunk_rows=1)
    assert out.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "scored.csv"]


def test_stale_rejects_file_is_removed(mall_model, junk_csv, tmp_path):
    out = tmp_path / "scored.csv"
    assert predict_file(mall_model, junk_csv, out).rejects_path.exists()
    assert predict_file(mall_model, input_path("mall"), out).rejects_path is None
    assert not rejects_path_for(out).exists()


def test_output_is_spreadsheet_safe(mall_model, tmp_path):
    path = write_csv_text(tmp_path / "f.csv", HEADER + '\n=1+1,Male,19,15,39\n"a,b",Male,19,15,39\n')
    result = predict_file(mall_model, path, tmp_path / "s.csv")
    scored = read_scored(result.out)
    assert scored["CustomerID"].tolist() == ["'=1+1", "a,b"]


@pytest.mark.parametrize(("make", "error", "message"), [
    (lambda d: d / "missing.csv", InputFileError, "does not exist"),
    (lambda d: d, InputFileError, "is a folder"),
    (lambda d: write_csv_text(d / "empty.csv", ""), DataValidationError, "is empty"),
    (lambda d: write_csv_text(d / "header.csv", HEADER + "\n"), DataValidationError,
     "has a header but no customer rows"),
    (lambda d: write_csv_text(d / "data.dat", "x"), InputFileError, "Cannot tell the format"),
    (lambda d: (d / "bin.csv").write_bytes(b"\x00\x01\x02" * 10) and d / "bin.csv", InputFileError,
     "not a text table"),
])
def test_bad_inputs(mall_model, tmp_path, make, error, message):
    folder = tmp_path / "in"
    folder.mkdir()
    with pytest.raises(error, match=message):
        predict_file(mall_model, make(folder), tmp_path / "out.csv")


def test_out_cannot_be_the_input_and_a_folder_gets_the_default_name(mall_model, tmp_path):
    path = tmp_path / "New.csv"
    pd.read_csv(input_path("mall")).to_csv(path, index=False)
    with pytest.raises(ConfigError, match="is the input file"):
        predict_file(mall_model, path, path)
    result = predict_file(mall_model, path, tmp_path)
    assert result.out == tmp_path / "new_scored.csv" == default_out_path(path, tmp_path)
    with pytest.raises(ConfigError, match="chunk_rows"):
        predict_file(mall_model, path, tmp_path, chunk_rows=0)


@pytest.mark.parametrize("engine", [{"engine": "memory"}, {"engine": "batches", "batch_rows": 3}],
                         ids=["memory", "batches-3"])
def test_predict_file_uses_the_same_rules_as_run_config(mall_model, junk_csv, tmp_path, engine):
    # The run on this file (its first stage, on either engine) and predict reject the same rows.
    scanned = _run_validation(junk_csv, **engine)
    result = predict_file(mall_model, junk_csv, tmp_path / "s.csv")
    assert result.n_rejected == scanned.n_rejected
    assert result.n_scored == scanned.n_valid
    rejects = pd.read_csv(result.rejects_path, dtype=str, keep_default_na=False)
    assert rejects.to_dict("records") == _records(scanned.rejects.preview)
