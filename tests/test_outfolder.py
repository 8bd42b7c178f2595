"""The all-or-nothing output folder and its manifest."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

import custseg.outputs.clustered
import custseg.outputs.write
from custseg.config import RunConfig
from custseg.exceptions import OutputError
from custseg.io.outfolder import MANIFEST, OutputFolder, check_writable
from custseg.pipeline import run
from tests.conftest import LARGE_ENGINES


def test_output_folder_replaces_previous_and_removes_stale_entries(tmp_path):
    out = tmp_path / "out"
    with OutputFolder(out) as staging:
        (staging.path / "a.csv").write_text("1")
        (staging.path / "rejected_rows.csv").write_text("old")
        (staging.path / "figures").mkdir()
        (staging.path / "figures" / "x.png").write_text("x")
    assert json.loads((out / MANIFEST).read_text()) == {
        "format": 2, "files": ["a.csv", "figures/x.png", "rejected_rows.csv"]}
    (out / "mine.txt").write_text("user file")
    with OutputFolder(out) as staging:
        (staging.path / "a.csv").write_text("2")
        (staging.path / "figures").mkdir()
        (staging.path / "figures" / "y.png").write_text("y")
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "a.csv", "figures", "mine.txt"]
    assert (out / "a.csv").read_text() == "2"
    assert (out / "mine.txt").read_text() == "user file"
    assert [p.name for p in (out / "figures").iterdir()] == ["y.png"]
    assert json.loads((out / MANIFEST).read_text()) == {"format": 2, "files": ["a.csv", "figures/y.png"]}
    # No staging or trash folder is left beside the output folder.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_file_can_replace_a_folder_and_back(tmp_path):
    out = tmp_path / "out"
    with OutputFolder(out) as staging:
        (staging.path / "x").mkdir()
        (staging.path / "x" / "inner.txt").write_text("in")
    with OutputFolder(out) as staging:
        (staging.path / "x").write_text("now a file")
    assert (out / "x").read_text() == "now a file"
    with OutputFolder(out) as staging:
        (staging.path / "x").mkdir()
    assert (out / "x").is_dir()
    assert list((out / "x").iterdir()) == []


def test_output_folder_discards_everything_on_failure(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError), OutputFolder(out) as staging:
        (staging.path / "a.csv").write_text("partial")
        raise RuntimeError("late failure")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_failure_keeps_the_previous_contents(tmp_path):
    out = tmp_path / "out"
    with OutputFolder(out) as staging:
        (staging.path / "a.csv").write_text("good")
    with pytest.raises(RuntimeError), OutputFolder(out) as staging:
        (staging.path / "a.csv").write_text("partial")
        (staging.path / "b.csv").write_text("partial")
        raise RuntimeError("late failure")
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "a.csv"]
    assert (out / "a.csv").read_text() == "good"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize("manifest", [
    json.dumps(["../victim.txt", "/etc", ".", "..", "", "sub/file", 3, None]),
    json.dumps({"format": 2, "files": ["../victim.txt", "/etc", "sub/../../victim.txt", "sub//file",
                                       "./sub/file", 3, None]}),
    "not json at all {",
    json.dumps({"a": 1}),
])
def test_a_bad_manifest_never_moves_anything_else(tmp_path, manifest):
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "victim.txt").write_text("keep me")
    (out / "sub").mkdir()
    (out / "sub" / "file").write_text("keep me too")
    (out / MANIFEST).write_text(manifest)
    with OutputFolder(out) as staging:
        (staging.path / "a.csv").write_text("1")
    assert (tmp_path / "victim.txt").read_text() == "keep me"
    assert (out / "sub" / "file").read_text() == "keep me too"
    assert (out / "a.csv").read_text() == "1"
    assert json.loads((out / MANIFEST).read_text()) == {"format": 2, "files": ["a.csv"]}


def test_check_writable_errors(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match=r"Output path .*file is a file, not a folder\. Choose a folder"):
        check_writable(tmp_path / "file")
    with pytest.raises(OutputError, match=r"Cannot create output folder .*sub: .*file is a file\."):
        check_writable(tmp_path / "file" / "deeper" / "sub")
    check_writable(tmp_path / "new" / "deeper")  # missing parents are fine
    assert not (tmp_path / "new").exists()  # ... and are not created by the check


def test_entering_checks_before_any_work(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="is a file, not a folder"), OutputFolder(tmp_path / "file"):
        pytest.fail("the body must not run")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_read_only_parent(tmp_path):
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        if os.access(parent, os.W_OK):
            pytest.skip("running as root: permissions are not enforced")
        with pytest.raises(OutputError, match="permission denied"):
            check_writable(parent / "out")
    finally:
        parent.chmod(0o755)


def _tree_digest(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _fail_figures(inputs, folder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "half.png").write_bytes(b"\x89PNG partial")
    raise RuntimeError("disk full while drawing")


def _fail_second_batch(monkeypatch):
    """Make the clustered writer fail after it has written its first batch (a mid-pass failure)."""
    observe = custseg.outputs.clustered.ClusteredWriter.observe

    def failing(self, batch):
        observe(self, batch)
        raise RuntimeError("disk full while writing customers")

    monkeypatch.setattr(custseg.outputs.clustered.ClusteredWriter, "observe", failing)


@pytest.mark.slow
@pytest.mark.parametrize("engine", list(LARGE_ENGINES))
@pytest.mark.parametrize("where", ["figures", "clustered"])
def test_failed_run_leaves_previous_outputs_byte_for_byte(tmp_path, monkeypatch, engine, where):
    out = tmp_path / "segmentation_output"
    run(RunConfig(out=out, k=5, **LARGE_ENGINES[engine]))
    before = _tree_digest(out)
    assert "mall_customers_clustered.csv" in before
    if where == "figures":
        monkeypatch.setattr(custseg.outputs.write, "render_figures", _fail_figures)
    else:
        _fail_second_batch(monkeypatch)
    with pytest.raises(RuntimeError, match="disk full"):
        run(RunConfig(out=out, k=3, **LARGE_ENGINES[engine]))  # a different K: every file would change
    assert _tree_digest(out) == before
    # No staging or work folder is left behind; the history records only the run that succeeded.
    assert sorted(p.name for p in tmp_path.iterdir()) == [".custseg-history.jsonl", "segmentation_output"]
    assert len((tmp_path / ".custseg-history.jsonl").read_text().splitlines()) == 1
