"""Putting a finished entry in place with one atomic step, and the two-rename fallback."""

from __future__ import annotations

import pytest

import custseg.io.publish
from custseg.io.publish import exchange, publish, restore


def _folder(path, text):
    path.mkdir()
    (path / "file.txt").write_text(text)
    return path


def test_publish_into_nothing_is_a_rename(tmp_path):
    new = _folder(tmp_path / "new", "new")
    assert publish(new, tmp_path / "live", tmp_path / "aside") is None
    assert (tmp_path / "live" / "file.txt").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["live"]


@pytest.mark.skipif(custseg.io.publish._RENAMEAT2 is None, reason="no renameat2 on this system")
def test_publish_swaps_folders_in_one_step(tmp_path):
    live = _folder(tmp_path / "live", "old")
    inode = live.stat().st_ino
    new = _folder(tmp_path / "new", "new")
    old = publish(new, live, tmp_path / "aside")
    assert old == new  # the swap leaves the old folder where the new one was
    assert (live / "file.txt").read_text() == "new"
    assert (old / "file.txt").read_text() == "old"
    assert old.stat().st_ino == inode
    assert not (tmp_path / "aside").exists()


def test_exchange_swaps_a_file_and_a_folder(tmp_path):
    (tmp_path / "a").write_text("a file")
    _folder(tmp_path / "b", "inside")
    if not exchange(tmp_path / "a", tmp_path / "b"):
        pytest.skip("this file system cannot exchange")
    assert (tmp_path / "b").read_text() == "a file"
    assert (tmp_path / "a" / "file.txt").read_text() == "inside"


def test_exchange_of_a_missing_entry_is_an_os_error(tmp_path):
    (tmp_path / "a").write_text("x")
    if custseg.io.publish._RENAMEAT2 is None:
        pytest.skip("no renameat2 on this system")
    with pytest.raises(FileNotFoundError):
        exchange(tmp_path / "a", tmp_path / "missing")
    assert (tmp_path / "a").read_text() == "x"


@pytest.fixture
def no_exchange(monkeypatch):
    """A system (or file system) without an atomic swap: the two-rename fallback runs."""
    monkeypatch.setattr(custseg.io.publish, "_RENAMEAT2", None)


def test_fallback_moves_the_old_entry_aside(tmp_path, no_exchange):
    live = _folder(tmp_path / "live", "old")
    new = _folder(tmp_path / "new", "new")
    steps = []
    old = publish(new, live, tmp_path / "aside", steps.append)
    assert old == tmp_path / "aside"
    assert (live / "file.txt").read_text() == "new"
    assert (old / "file.txt").read_text() == "old"
    assert steps == ["publish: previous moved aside"]


def test_a_crash_between_the_fallback_renames_is_restored(tmp_path, no_exchange):
    live = _folder(tmp_path / "live", "old")
    new = _folder(tmp_path / "new", "new")

    def crash(step):
        raise KeyboardInterrupt(step)  # the process dies here

    with pytest.raises(KeyboardInterrupt):
        publish(new, live, tmp_path / "aside", crash)
    assert not live.exists()  # the one moment the fallback shows: nothing, never a mix
    assert restore(live, tmp_path / "aside")
    assert (live / "file.txt").read_text() == "old"
    assert not restore(live, tmp_path / "aside")  # nothing left to restore
