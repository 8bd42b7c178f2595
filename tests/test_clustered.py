"""The clustered file and the per-segment lists: plain lines give the bytes the table path gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import custseg.outputs.clustered as clustered
from custseg.describe.naming import SegmentInfo
from custseg.engines.base import AssignedBatch
from custseg.outputs.clustered import ClusteredWriter
from custseg.segmentation.outliers import OutlierRule


def _segments(names: list[str]) -> list[SegmentInfo]:
    return [SegmentInfo(3 * j + 1, name, f"seg-{j}", "", "", "", {}, {}, name)
            for j, name in enumerate(names)]


def _batches(rng: np.random.Generator, n: int, sizes: list[int], k: int) -> list[AssignedBatch]:
    table = pa.table({"CustomerID": [str(i) for i in range(n)],
                      "Gender": rng.choice(["Male", "Female", "-x", "=1+1", "@a"], n).tolist(),
                      "Age": [str(a) for a in rng.integers(18, 80, n)]})
    values = rng.normal(size=(n, 2))
    labels = rng.integers(0, k, n)
    labels[labels == k - 1] = 0 if k > 2 else labels[labels == k - 1]  # leave a segment empty
    batches, start = [], 0
    for size in sizes:
        end = min(n, start + size)
        batches.append(AssignedBatch(table.slice(start, end - start), np.arange(start, end),
                                     values[start:end], labels[start:end], np.zeros(end - start)))
        start = end
    return batches


def _write(folder: Path, batches: list[AssignedBatch], names: list[str], **options) -> dict:
    writer = ClusteredWriter(folder, "c_clustered.csv", _segments(names), plain=True, **options)
    for batch in batches:
        writer.observe(batch)
    return {name: path.read_bytes() for name, path in writer.close().items()}


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("formulas", [True, False])
@pytest.mark.parametrize("outliers", [False, True])
@pytest.mark.parametrize(("k", "sizes"), [(1, [50]), (4, [300, 0, 7, 400]), (3, [1000])])
def test_plain_lines_write_the_bytes_of_the_table_path(tmp_path, monkeypatch, compiled, formulas,
                                                       outliers, k, sizes):
    rng = np.random.default_rng(k + len(sizes))
    batches = _batches(rng, sum(sizes), sizes, k)
    names = ["Careful · low", "=Target", "Big spenders", "Rest"][:k]
    rule = (OutlierRule(np.array([-1.0, -1.0]), np.array([1.0, 1.0])), lambda X: X) if outliers else None
    monkeypatch.setattr(clustered, "LINE_ROWS", 64)  # several line slices per batch
    # Lines formatted by the compiled kernel or by Arrow's (large batches take the first).
    monkeypatch.setattr(clustered, "COMPILED_MIN_ROWS", 1 if compiled else 1 << 62)
    fast = _write(tmp_path / "fast", batches, names, outliers=rule, formulas=formulas)
    monkeypatch.setattr(clustered, "joinable", lambda table, tails: False)
    slow = _write(tmp_path / "slow", batches, names, outliers=rule, formulas=formulas)
    assert fast.keys() == slow.keys()
    for name in fast:
        assert fast[name] == slow[name], name
    first = fast["clustered"].split(b"\n")[0]
    assert first == b"CustomerID,Gender,Age,Cluster,Segment" + (b",outlier" if outliers else b"")


def test_a_batch_the_kernel_cannot_write_takes_the_table_path(tmp_path):
    batch = AssignedBatch(pa.table({"id": ["1", "2"], "n": [3, 4]}), np.arange(2),
                          np.zeros((2, 1)), np.array([0, 0]), np.zeros(2))
    files = _write(tmp_path, [batch], ["Everyone"])
    assert files["clustered"] == b"id,n,Cluster,Segment\n1,3,1,Everyone\n2,4,1,Everyone\n"
