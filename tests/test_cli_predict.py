"""``custseg predict`` end to end: Typer's runner, and one real subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from custseg.cli import EXIT_CODES, app
from custseg.exceptions import (
    ConfigError,
    DataValidationError,
    InputFileError,
    ModelFileError,
    OutputError,
)
from custseg.modelfile import MODEL_FILE
from tests.predict_support import (
    PICKLE_FILE,
    fitted,
    input_path,
    malicious_pickle,
    read_scored,
    rewrite,
    run_clusters,
    run_folder,
)

runner = CliRunner()


@pytest.fixture
def run_dir(tmp_path):
    return run_folder(tmp_path / "segmentation_output")


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _mall_csv(folder: Path, change=None, name: str = "new.csv") -> Path:
    df = pd.read_csv(input_path("mall"))
    if change is not None:
        df = change(df)
    path = folder / name
    df.to_csv(path, index=False)
    return path


def _one_error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize("model", ["folder", "file"])
def test_predict_prints_counts_and_writes_default_output(run_dir, in_tmp, model):
    target = run_dir if model == "folder" else run_dir / MODEL_FILE
    result = runner.invoke(app, ["predict", "--model", str(target)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "200 customers scored" in out
    for name, size in zip(fitted("mall")[0].names, [81, 39, 35, 23, 22], strict=True):
        assert name in out
        assert f"{size}" in out
    assert "Atypical customers: 5 (2.5%)" in out
    assert "Rows: 200 read = 200 scored + 0 rejected" in out
    scored = read_scored(in_tmp / "mall_customers_scored.csv")
    assert scored["Cluster"].tolist() == run_clusters("mall").tolist()
    assert list(scored.columns) == ["CustomerID", "Cluster", "Segment", "distance", "atypical"]


def test_quiet_prints_nothing(run_dir, in_tmp):
    result = runner.invoke(app, ["predict", "-q", "--model", str(run_dir), "--out", "s.csv"])
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == ""
    assert (in_tmp / "s.csv").exists()


@pytest.mark.parametrize("case", ["one row", "shuffled columns", "extra columns", "column map"])
def test_documented_input_shapes(run_dir, in_tmp, case):
    labels = run_clusters("mall")
    args = []
    if case == "one row":
        path, expected = _mall_csv(in_tmp, lambda df: df.iloc[[3]]), labels[[3]]
    elif case == "shuffled columns":
        path, expected = _mall_csv(in_tmp, lambda df: df[df.columns[::-1]]), labels
    elif case == "extra columns":
        path, expected = _mall_csv(in_tmp, lambda df: df.assign(Store="Lisbon", Visits=4)), labels
    else:
        path = _mall_csv(in_tmp, lambda df: df.rename(columns={"Annual Income (k$)": "Revenue"}))
        expected, args = labels, ["--column-map", "Revenue=Annual Income (k$)"]
    result = runner.invoke(app, ["predict", str(path), "--model", str(run_dir), *args])
    assert result.exit_code == 0, result.output
    n = len(expected)
    assert f"Rows: {n} read = {n} scored + 0 rejected" in result.stdout
    assert read_scored(in_tmp / "new_scored.csv")["Cluster"].tolist() == expected.tolist()


def test_missing_feature_is_one_clear_line(run_dir, in_tmp):
    path = _mall_csv(in_tmp, lambda df: df.drop(columns="Spending Score (1-100)"))
    result = runner.invoke(app, ["predict", str(path), "--model", str(run_dir)])
    assert result.exit_code == EXIT_CODES[DataValidationError] == 4
    line = _one_error_line(result)
    assert "Column 'Spending Score (1-100)', a feature of the model, not found in new.csv" in line
    assert "--column-map" in line
    assert not (in_tmp / "new_scored.csv").exists()


def test_junk_rows_keep_the_count_identity(run_dir, in_tmp):
    path = in_tmp / "junk.csv"
    path.write_text("CustomerID,Annual Income (k$),Spending Score (1-100)\n"
                    "1,15,39\n2,abc,81\n3,16\n4,16,6\n4,17,40\n5,,40\n6,20,200\n", encoding="utf-8")
    result = runner.invoke(app, ["predict", str(path), "--model", str(run_dir), "--out",
                                 "out/junk_scored.csv"])
    assert result.exit_code == 0, result.output
    assert "Rows: 7 read = 2 scored + 5 rejected" in result.stdout
    rejects = pd.read_csv(in_tmp / "out" / "junk_scored_rejected_rows.csv")
    assert rejects["row"].tolist() == [3, 4, 6, 7, 8]
    assert rejects["reason"].tolist() == [
        "non-numeric text", "wrong number of fields: expected 3, found 2",
        "duplicate customer id (first seen in row 5)", "missing value", "outside 1..100"]
    assert "Rejected rows: out/junk_scored_rejected_rows.csv" in result.stdout


@pytest.mark.parametrize(("tamper", "message"), [
    ("edited", "checksum mismatch"),
    ("truncated", "is truncated"),
    ("pickle renamed", "is a Python pickle, not a custseg model file"),
    ("newer version", "format version 2, newer than this custseg"),
])
def test_tampered_model_exits_6(run_dir, in_tmp, tamper, message):
    path = run_dir / MODEL_FILE
    if tamper == "edited":
        path.write_text(path.read_text(encoding="utf-8").replace('"size": 81', '"size": 82'),
                        encoding="utf-8")
    elif tamper == "truncated":
        path.write_bytes(path.read_bytes()[:-40])
    elif tamper == "pickle renamed":
        path.write_bytes((run_dir / PICKLE_FILE).read_bytes())
    else:
        rewrite(path, lambda d: d.update(format_version=2))
    result = runner.invoke(app, ["predict", "--model", str(path)])
    assert result.exit_code == EXIT_CODES[ModelFileError] == 6
    assert message in _one_error_line(result)
    assert not (in_tmp / "mall_customers_scored.csv").exists()


@pytest.mark.parametrize("name", [MODEL_FILE, "evil.pkl"])
@pytest.mark.parametrize("trust", [False, True])
def test_malicious_pickle_never_runs_without_trust(tmp_path, in_tmp, name, trust):
    target = tmp_path / "pwned.txt"
    path = tmp_path / name
    path.write_bytes(malicious_pickle(target))
    if trust:
        # Trusting it is the user's call, and it does run: the point of the warning.
        result = runner.invoke(app, ["predict", "--model", str(path), "--trust-pickle"])
        assert target.exists()
        assert result.exit_code == 6
        assert "runs any code" in result.stderr
        return
    result = runner.invoke(app, ["predict", "--model", str(path)])
    assert result.exit_code == 6
    line = _one_error_line(result)
    assert "pickle" in line
    assert "--trust-pickle" in line
    assert not target.exists()


def test_pkl_is_refused_without_trust_pickle(run_dir, in_tmp):
    result = runner.invoke(app, ["predict", "--model", str(run_dir / PICKLE_FILE)])
    assert result.exit_code == 6
    assert "refuses it because loading a pickle runs any code" in _one_error_line(result)


@pytest.mark.parametrize("target", ["pkl", "folder without json"])
def test_trust_pickle_scores_and_warns(run_dir, in_tmp, target):
    if target == "folder without json":
        (run_dir / MODEL_FILE).unlink()
        model = run_dir
    else:
        model = run_dir / PICKLE_FILE
    result = runner.invoke(app, ["predict", "--model", str(model), "--trust-pickle"])
    assert result.exit_code == 0, result.output
    assert "Warning: loading" in result.stderr
    assert "A pickle runs any code it contains" in result.stderr
    assert "Atypical customers: not available" in result.stdout
    scored = read_scored(in_tmp / "mall_customers_scored.csv")
    assert scored["Cluster"].tolist() == run_clusters("mall").tolist()
    assert scored["Segment"].tolist() == [f"Segment {c}" for c in scored["Cluster"]]
    assert not scored["atypical"].any()
    # Distances come from the pipeline's own centres: the same as custseg's model file.
    safe = fitted("mall")[1].score(pd.read_csv(input_path("mall")))
    assert scored["distance"].to_numpy() == pytest.approx(safe["distance"].to_numpy(), abs=1e-12)


def test_folder_without_model_names_the_fix(tmp_path, in_tmp):
    folder = tmp_path / "empty_run"
    folder.mkdir()
    result = runner.invoke(app, ["predict", "--model", str(folder)])
    assert result.exit_code == 6
    assert f"No model file {MODEL_FILE} in folder" in _one_error_line(result)


@pytest.mark.parametrize(("args", "error"), [
    (["missing.csv"], InputFileError),
    (["--format", "sas"], ConfigError),
    (["--out", "afile.txt/scored.csv"], OutputError),
    (["--model", "nope.custseg.json"], ModelFileError),
])
def test_exit_codes_match_the_table(run_dir, in_tmp, args, error):
    (in_tmp / "afile.txt").write_text("not a folder")
    model_args = [] if "--model" in args else ["--model", str(run_dir)]
    result = runner.invoke(app, ["predict", *model_args, *args])
    assert result.exit_code == EXIT_CODES[error]
    _one_error_line(result)


def test_model_option_is_required(in_tmp):
    result = runner.invoke(app, ["predict"])
    assert result.exit_code == 2
    assert "--model" in result.output


def test_wholesale_through_the_cli(tmp_path, in_tmp):
    folder = run_folder(tmp_path / "wholesale_run", "wholesale")
    result = runner.invoke(app, ["predict", str(input_path("wholesale")), "--model", str(folder)])
    assert result.exit_code == 0, result.output
    scored = read_scored(in_tmp / "wholesale_customers_scored.csv")
    assert scored["Cluster"].tolist() == run_clusters("wholesale").tolist()
    assert scored["row"].tolist() == list(range(2, 442))


def test_installed_command_runs(run_dir, tmp_path):
    custseg = Path(sys.executable).parent / "custseg"
    done = subprocess.run([str(custseg), "predict", "--model", str(run_dir), "--out",
                           str(tmp_path / "s.csv")], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "Rows: 200 read = 200 scored + 0 rejected" in done.stdout
    assert "Traceback" not in done.stderr


def test_model_file_renamed_to_pkl_is_still_our_json(run_dir, in_tmp):
    renamed = run_dir / "model.pkl"
    renamed.write_bytes((run_dir / MODEL_FILE).read_bytes())
    result = runner.invoke(app, ["predict", "--model", str(renamed), "-q"])
    assert result.exit_code == 0, result.output
    assert (in_tmp / "mall_customers_scored.csv").exists()


# --------------------------------------------------------------------------- categorical features

@pytest.fixture(scope="module", params=["memory", "batches"])
def gender_run(request, tmp_path_factory):
    """A Mall run with --categorical Gender (on each local engine) and its clustered file."""
    out = tmp_path_factory.mktemp("gender") / "segmentation_output"
    result = runner.invoke(app, ["run", "-q", "--categorical", "Gender", "--engine", request.param,
                                 "--batch-rows", "7", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, pd.read_csv(out / "mall_customers_clustered.csv")


@pytest.mark.parametrize("model", [MODEL_FILE, PICKLE_FILE])
def test_predict_with_a_category_reproduces_the_run(gender_run, in_tmp, model):
    out, clustered = gender_run
    trust = ["--trust-pickle"] if model == PICKLE_FILE else []
    result = runner.invoke(app, ["predict", str(input_path("mall")), "--model", str(out / model),
                                 "--out", "scored.csv", *trust])
    assert result.exit_code == 0, result.output
    scored = read_scored(in_tmp / "scored.csv")
    assert scored["Cluster"].tolist() == clustered["Cluster"].tolist()


def test_predict_rejects_a_category_not_seen_in_training(gender_run, in_tmp):
    out, clustered = gender_run

    def other(df):
        df.loc[4, "Gender"] = "Other"
        return df

    path = _mall_csv(in_tmp, other)
    result = runner.invoke(app, ["predict", str(path), "--model", str(out), "--out", "s.csv"])
    assert result.exit_code == 0, result.output
    rejects = pd.read_csv(in_tmp / "s_rejected_rows.csv")
    assert rejects.to_dict("records") == [{"row": 6, "customer_id": 5, "column": "Gender",
                                           "value": "Other",
                                           "reason": "category not seen in training"}]
    scored = read_scored(in_tmp / "s.csv")
    assert scored["Cluster"].tolist() == clustered["Cluster"].drop(index=4).tolist()


def test_load_model_scores_category_text(gender_run):
    from custseg import load_model

    out, clustered = gender_run
    model = load_model(out)
    frame = clustered.drop(columns=["Cluster", "Segment"])
    assert model.predict(frame).tolist() == clustered["Cluster"].tolist()
    frame.loc[0, "Gender"] = "Other"
    with pytest.raises(DataValidationError, match="Categorical feature 'Gender' has 1 missing or "
                                                  "unknown value"):
        model.predict(frame)


def test_predict_on_spark_refuses_a_categorical_model(gender_run, in_tmp):
    out, _ = gender_run
    result = runner.invoke(app, ["predict", str(input_path("mall")), "--model", str(out),
                                 "--engine", "spark", "--out", "s.csv"])
    assert result.exit_code == 2
    assert "predict --engine spark does not score yet" in _one_error_line(result)
