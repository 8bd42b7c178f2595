"""The all-or-nothing output folder and its manifest."""

from __future__ import annotations

import errno
import hashlib
import json
import os

import pytest

import custseg.io.outfolder
import custseg.outputs.clustered
import custseg.outputs.write
from custseg.config import RunConfig
from custseg.exceptions import OutputError
from custseg.io.outfolder import MANIFEST, OutputFolder, check_writable, written_by_custseg
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


def _fail_figures(inputs, folder, *background):
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


# --- Files custseg did not write survive every run ---------------------------------------------


def _stage(out, files):
    with OutputFolder(out) as staging:
        for name, text in files.items():
            (staging.path / name).parent.mkdir(parents=True, exist_ok=True)
            (staging.path / name).write_text(text)


def _user_files(out):
    """The user's things: files at the top, in custseg's folders, a folder of their own, an empty
    folder, a symlink."""
    (out / "figures").mkdir(parents=True, exist_ok=True)
    (out / "segments").mkdir(exist_ok=True)
    (out / "notes").mkdir()
    (out / "empty").mkdir()
    files = {"mine.txt": "user file", "figures/board.png": "my board",
             "segments/vip.csv": "my list", "notes/deep/todo.md": "todo"}
    for name, text in files.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(text)
    (out / "link").symlink_to("mine.txt")
    return files


def test_user_files_survive_every_run_as_the_same_files(tmp_path):
    out = tmp_path / "out"
    _stage(out, {"a.csv": "1", "figures/x.png": "x", "segments/s1.csv": "s1"})
    files = _user_files(out)
    inodes = {name: (out / name).stat().st_ino for name in files}
    for number in range(3):
        _stage(out, {"a.csv": str(number), "figures/y.png": "y", "segments/s2.csv": "s2"})
    for name, text in files.items():
        assert (out / name).read_text() == text
        assert (out / name).stat().st_ino == inodes[name]  # hard links: never copied
    assert (out / "empty").is_dir()
    assert os.readlink(out / "link") == "mine.txt"
    assert sorted(p.name for p in (out / "figures").iterdir()) == ["board.png", "y.png"]
    assert sorted(p.name for p in (out / "segments").iterdir()) == ["s2.csv", "vip.csv"]
    assert json.loads((out / MANIFEST).read_text())["files"] == ["a.csv", "figures/y.png",
                                                                "segments/s2.csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_the_folder_keeps_its_permissions(tmp_path):
    out = tmp_path / "out"
    _stage(out, {"a.csv": "1"})
    out.chmod(0o750)
    _stage(out, {"a.csv": "2"})
    assert out.stat().st_mode & 0o777 == 0o750


def test_a_user_file_where_the_run_writes_stops_the_commit(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.html").write_text("my own report")  # no manifest: not custseg's
    with pytest.raises(OutputError, match=r"report\.html was not written by custseg.*nothing was "
                                          r"changed"):
        _stage(out, {"report.html": "generated", "a.csv": "1"})
    assert sorted(p.name for p in out.iterdir()) == ["report.html"]
    assert (out / "report.html").read_text() == "my own report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_user_file_where_the_run_needs_a_folder_stops_the_commit(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "figures").write_text("a file named figures")
    with pytest.raises(OutputError, match="figures was not written by custseg"):
        _stage(out, {"figures/x.png": "x"})
    assert (out / "figures").read_text() == "a file named figures"


def test_a_format_1_manifest_keeps_user_files_in_custseg_folders(tmp_path):
    """Folders written before the manifest listed files: a user's figure is kept, a Spark
    dataset folder is custseg's whole."""
    out = tmp_path / "out"
    for name in ["a.csv", "figures/elbow.png", "figures/board.png", "x_clustered.csv/part-1.csv",
                 "segments/s.csv/part-1.csv", "mine.txt"]:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(name)
    (out / MANIFEST).write_text(json.dumps(["a.csv", "figures", "segments", "x_clustered.csv"]))
    _stage(out, {"a.csv": "new", "figures/elbow.png": "new", "x_clustered.csv/part-2.csv": "new",
                 "segments/s.csv/part-2.csv": "new"})
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        MANIFEST, "a.csv", "figures/board.png", "figures/elbow.png", "mine.txt",
        "segments/s.csv/part-2.csv", "x_clustered.csv/part-2.csv"]
    assert (out / "figures" / "elbow.png").read_text() == "new"


def test_a_file_the_user_adds_during_the_commit_is_kept(tmp_path, monkeypatch):
    out = tmp_path / "out"
    _stage(out, {"a.csv": "1"})

    def user_writes(step):
        if step == "user files linked":
            (out / "late.txt").write_text("written while the run committed")

    monkeypatch.setattr(custseg.io.outfolder, "commit_step", user_writes)
    _stage(out, {"a.csv": "2"})
    assert (out / "late.txt").read_text() == "written while the run committed"
    assert (out / "a.csv").read_text() == "2"


def test_a_symlinked_out_replaces_its_target(tmp_path):
    real = tmp_path / "real"
    _stage(real, {"a.csv": "1"})
    (tmp_path / "out").symlink_to(real)
    _stage(tmp_path / "out", {"a.csv": "2"})
    assert (tmp_path / "out").is_symlink()
    assert (real / "a.csv").read_text() == "2"


def test_disk_full_while_writing_is_an_output_error(tmp_path):
    out = tmp_path / "out"
    _stage(out, {"a.csv": "good"})
    with pytest.raises(OutputError, match="no space left on the device"), OutputFolder(out):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert (out / "a.csv").read_text() == "good"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_written_by_custseg(tmp_path):
    out = tmp_path / "out"
    _stage(out, {"segments.json": "{}", "figures/x.png": "x"})
    (out / "mine.csv").write_text("1")
    assert written_by_custseg(out, out / "segments.json")
    assert written_by_custseg(out, out / "figures")
    assert not written_by_custseg(out, out / "mine.csv")
    assert not written_by_custseg(out, tmp_path / "elsewhere.csv")


@pytest.mark.slow
def test_an_input_in_out_is_read_and_kept_or_refused(tmp_path, mall_path):
    from typer.testing import CliRunner

    from custseg.cli import app

    out = tmp_path / "o"
    runner = CliRunner()
    mine = out / "customers.csv"  # the user's own file in --out: read, and kept
    mine.parent.mkdir()
    mine.write_bytes(mall_path.read_bytes())
    (out / "figures").mkdir()
    (out / "figures" / "board.png").write_bytes(b"my board")
    done = runner.invoke(app, ["run", str(mine), "-o", str(out), "--k", "5", "--quiet"])
    assert done.exit_code == 0, done.output
    assert mine.read_bytes() == mall_path.read_bytes()
    assert (out / "figures" / "board.png").read_bytes() == b"my board"
    before = _tree_digest(out)
    done = runner.invoke(app, ["run", str(out / "segment_profiles.csv"), "-o", str(out)])
    assert done.exit_code == 2
    assert "is an output of an earlier run in --out" in done.output
    assert _tree_digest(out) == before
