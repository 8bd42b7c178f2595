"""Moves between RFM groups since a previous run."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from custseg.tracking.rfm_moves import count_rfm_moves


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_counts_customers_in_both_runs(tmp_path: Path, suffix: str) -> None:
    before = pd.DataFrame({"customer_id": ["001", "002", "003", "004", "9"],
                           "RFM_group": ["Champions", "Champions", "Champions", "Lost", "Lost"]})
    after = pd.DataFrame({"customer_id": ["001", "002", "003", "004", "005"],
                          "RFM_group": ["At risk", "At risk", "Champions", "Lost", "New customers"]})
    prev = tmp_path / f"prev{suffix}"
    before.to_csv(prev, index=False) if suffix == ".csv" else before.to_parquet(prev)
    after.to_parquet(tmp_path / "now.parquet")
    moves = count_rfm_moves(prev, tmp_path / "now.parquet")
    assert moves.counts.values.tolist() == [
        ["Champions", "At risk", 2, 66.67], ["Champions", "Champions", 1, 33.33],
        ["Lost", "Lost", 1, 100.0]]
    assert moves.biggest_moves() == ["2 Champions became At risk (66.7% of them)"]


def test_previous_run_without_groups(tmp_path: Path) -> None:
    pd.DataFrame({"CustomerID": [1]}).to_csv(tmp_path / "prev.csv", index=False)
    pd.DataFrame({"customer_id": ["1"], "RFM_group": ["Lost"]}).to_parquet(tmp_path / "n.parquet")
    assert count_rfm_moves(tmp_path / "prev.csv", tmp_path / "n.parquet") is None
