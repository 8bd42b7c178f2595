"""Writers: spreadsheet-safe CSV and the all-or-nothing output folder."""

from __future__ import annotations

import hashlib

import pandas as pd
import pyarrow as pa
import pytest

from custseg.config import RunConfig
from custseg.data.writers import MANIFEST, OutputFolder, neutralise_formulas, write_csv
from custseg.pipeline import run


@pytest.mark.parametrize(("cell", "expected"), [
    ("=SUM(A1:A9)", "'=SUM(A1:A9)"), ("+1+1", "'+1+1"), ("-2+3", "'-2+3"), ("@cmd", "'@cmd"),
    ("\tx", "'\tx"), ("\rx", "'\rx"), ("-5", "-5"), ("+3.5", "+3.5"), ("ok", "ok"), ("a=b", "a=b"),
])
def test_formula_cells_are_neutralised(cell, expected):
    table = neutralise_formulas(pa.table({"c": [cell], "n": [-1.5]}))
    assert table.column("c").to_pylist() == [expected]
    assert table.column("n").to_pylist() == [-1.5]


def test_csv_quotes_only_when_needed(tmp_path):
    plain = write_csv(pa.table({"a": ["x", "y"], "b": [1, 2]}), tmp_path / "p.csv")
    assert plain.read_text() == "a,b\nx,1\ny,2\n"
    quoted = write_csv(pa.table({"a": ["x,1", 'say "hi"']}), tmp_path / "q.csv")
    assert pd.read_csv(quoted)["a"].tolist() == ["x,1", 'say "hi"']


def test_written_csv_roundtrips_injection_safely(tmp_path):
    path = write_csv(pd.DataFrame({"name": ["=HYPERLINK(\"x\")", "Ann"], "v": [1, -2]}), tmp_path / "f.csv")
    back = pd.read_csv(path)
    assert back["name"].tolist() == ["'=HYPERLINK(\"x\")", "Ann"]
    assert back["v"].tolist() == [1, -2]


def test_output_folder_replaces_previous_and_removes_stale_entries(tmp_path):
    out = tmp_path / "out"
    with OutputFolder(out) as staging:
        (staging.path / "a.csv").write_text("1")
        (staging.path / "rejected_rows.csv").write_text("old")
        (staging.path / "figures").mkdir()
        (staging.path / "figures" / "x.png").write_text("x")
    (out / "mine.txt").write_text("user file")
    with OutputFolder(out) as staging:
        (staging.path / "a.csv").write_text("2")
        (staging.path / "figures").mkdir()
        (staging.path / "figures" / "y.png").write_text("y")
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "a.csv", "figures", "mine.txt"]
    assert (out / "a.csv").read_text() == "2"
    assert [p.name for p in (out / "figures").iterdir()] == ["y.png"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]


def test_output_folder_discards_everything_on_failure(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError), OutputFolder(out) as staging:
        (staging.path / "a.csv").write_text("partial")
        raise RuntimeError("late failure")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def _tree_digest(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_failed_late_run_leaves_previous_outputs_byte_for_byte(tmp_path, monkeypatch):
    out = tmp_path / "segmentation_output"
    run(RunConfig(out=out, k=5))
    before = _tree_digest(out)
    import custseg.outputs

    def failing_figures(result, folder):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "half.png").write_bytes(b"\x89PNG partial")
        raise RuntimeError("disk full while drawing")

    monkeypatch.setattr(custseg.outputs, "render_figures", failing_figures)
    with pytest.raises(RuntimeError, match="disk full"):
        run(RunConfig(out=out, k=3))  # a different K: every file would change
    assert _tree_digest(out) == before
    # No staging folder is left behind; the history records only the run that succeeded.
    assert sorted(p.name for p in tmp_path.iterdir()) == [".custseg-history.jsonl", "segmentation_output"]
    assert len((tmp_path / ".custseg-history.jsonl").read_text().splitlines()) == 1


def test_prepared_table_subsets_keep_its_safety_and_quoting(tmp_path):
    from custseg.data.writers import prepare_csv

    table = pa.table({"name": ["=cmd", "a, b", "ok"], "n": [1, 2, 3]})
    prepared = prepare_csv(table)
    assert prepared.table.column("name").to_pylist() == ["'=cmd", "a, b", "ok"]
    assert not prepared.plain_cells
    part = prepared.subset(pa.array([True, False, True]))
    text = write_csv(part, tmp_path / "part.csv").read_text()
    assert text == 'name,n\n"\'=cmd",1\n"ok",3\n'
