"""Per-segment totals: category counts through the distinct cells equal counts cell by cell."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from custseg.describe.totals import SegmentTotals
from custseg.engines import kernels
from custseg.engines.base import AssignedBatch
from custseg.engines.columns import ColumnPlan


def _cell_by_cell(plan: ColumnPlan, column: pa.ChunkedArray, labels: np.ndarray, k: int) -> np.ndarray:
    code = np.asarray(pc.fill_null(pc.index_in(plan.category_text(column),
                                               value_set=pa.array(list(plan.categories))), -1))
    counts = np.zeros((k, len(plan.categories)), dtype=np.int64)
    for label, c in zip(labels, code, strict=True):
        if c >= 0:
            counts[label, c] += 1
    return counts


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("chunks", [1, 3])
@pytest.mark.parametrize("nulls", [False, True])
def test_category_counts_match_a_count_cell_by_cell(monkeypatch, compiled, chunks, nulls):
    # Large columns are compared with the categories by compiled code (custseg.engines.rowcounts)
    monkeypatch.setattr(kernels, "FUSED_MIN_ROWS", 0 if compiled else 1 << 62)
    rng = np.random.default_rng(chunks)
    n, k = 600, 3
    cells = rng.choice(["Male", " Male", "Female ", "", "Other", "  ", "\tFemale", "\u00a0Male",
                        "Male\u3000", "Mal", "Males", "émale", "Femal\u00e9", "male", "M"],
                       n).tolist()
    if nulls:
        cells[5] = None
    pieces = np.array_split(np.arange(n), chunks)
    column = pa.chunked_array([pa.array([cells[i] for i in p], pa.string()) for p in pieces])
    plan = ColumnPlan("text", ("Female", "Male"))
    labels = rng.integers(0, k, n)
    totals = SegmentTotals(k, 1, {"g": plan, "Age": ColumnPlan("numeric")})
    ages = pa.array([str(a) for a in rng.integers(18, 70, n)])
    ages = pa.array(["x" if i == 7 else a for i, a in enumerate(ages.to_pylist())])
    table = pa.table({"g": column, "Age": ages})
    totals.observe(AssignedBatch(table, np.arange(n), rng.normal(size=(n, 1)), labels, np.zeros(n)))
    totals.finish()
    np.testing.assert_array_equal(totals.category_counts["g"], _cell_by_cell(plan, column, labels, k))
    assert totals.numeric_counts["Age"].sum() == n - 1
    assert totals.sizes.tolist() == np.bincount(labels, minlength=k).tolist()
