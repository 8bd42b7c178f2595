"""Runs compared across engines: every output file the same bytes, but the engine block of
``segments.json`` (the equivalence suite, :mod:`tests.test_engines`, and the database runs of
:mod:`tests.test_dbsize`)."""

from __future__ import annotations

import json
from pathlib import Path

from custseg.pipeline import RunResult


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".custseg-manifest.json"}


def _without_engine(summary: bytes) -> dict:
    data = json.loads(summary)
    engine = data["run"].pop("engine")
    assert engine["name"] in ("memory", "batches")
    for key in ("previous", "input"):  # paths differ between the runs' folders
        data["run"]["config"].pop(key, None)
    return data


def assert_same_outputs(reference: RunResult, other: RunResult) -> None:
    """Every file of ``other``'s folder equals ``reference``'s, but the engine block."""
    a = _files(reference.config.out)
    b = _files(other.config.out)
    assert sorted(a) == sorted(b)
    for name in a:
        if name == "segments.json":
            assert _without_engine(a[name]) == _without_engine(b[name])
        elif name == "report.html":
            assert a[name] == b[name], name
        else:
            assert a[name] == b[name], name
