"""Outliers: flagged, fitted with the rest, never deciding K (custseg.segmentation.outliers)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from custseg import RunConfig
from custseg.pipeline import run
from custseg.segmentation.outliers import FENCE_IQR, MIN_IQR, OutlierRule
from tests.conftest import ENGINES


def test_fences_are_far_out_tukey_with_a_floored_iqr():
    Z = np.column_stack([np.linspace(-2, 2, 401), np.r_[np.zeros(400), 3.0]])
    rule = OutlierRule.fit(Z)
    assert rule.low[0] == pytest.approx(-1.0 - FENCE_IQR * 2.0)
    assert rule.high[1] == pytest.approx(FENCE_IQR * MIN_IQR)  # IQR 0: floored
    assert rule.flag(np.array([[0.0, 3.0], [7.5, 0.0], [0.0, 4.1]])).tolist() == [False, True, True]


@pytest.fixture(scope="module")
def blobs_csv(tmp_path_factory) -> tuple:
    """Three groups of 200 spenders, three extreme ones, and some empty cells."""
    rng = np.random.default_rng(7)
    centres = np.array([[20.0, 200.0], [60.0, 40.0], [120.0, 300.0]])
    X = np.vstack([rng.normal(c, [5.0, 20.0], (200, 2)) for c in centres]
                  + [np.array([[2_000.0, 250.0], [90.0, 9_000.0], [2_500.0, 8_000.0]])])
    frame = pd.DataFrame({"customer_id": np.arange(1, len(X) + 1), "visits": X[:, 0].round(2),
                          "spend": X[:, 1].round(2)})
    frame = frame.astype({"visits": object})
    frame.loc[[5, 250], "visits"] = ""
    path = tmp_path_factory.mktemp("blobs") / "blobs.csv"
    frame.to_csv(path, index=False)
    return path, len(X)


def test_outliers_do_not_exclude_a_k_and_are_flagged(blobs_csv, tmp_path):
    path, n = blobs_csv
    result = run(RunConfig(input=path, missing="impute", transform="none", out=tmp_path / "o"))
    assert result.k == 3
    assert result.k_selection.confidence == "clear"
    assert result.sizes.min() >= 190  # no segment of extreme customers
    clustered = pd.read_csv(tmp_path / "o" / "blobs_clustered.csv")
    assert len(clustered) == n
    assert list(clustered.columns[-3:]) == ["Cluster", "Segment", "outlier"]
    assert clustered.loc[clustered["outlier"] == 1, "customer_id"].tolist() == [601, 602, 603]
    recorded = json.loads((tmp_path / "o" / "segments.json").read_text())["preparation"]
    assert recorded["outliers"]["customers"] == 3
    assert sum(recorded["outliers"]["per_segment"]) == 3
    assert recorded["missing"]["imputed"]["visits"] == 2
    assert "Outliers:</b> 3 customer(s)" in (tmp_path / "o" / "report.html").read_text()


def test_every_local_engine_writes_the_same_bytes(blobs_csv, tmp_path):
    path, _ = blobs_csv
    files = {}
    for name, options in ENGINES.items():
        out = tmp_path / name
        run(RunConfig(input=path, missing="impute", out=out, **options))
        files[name] = {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*"))
                       if p.is_file() and p.suffix in (".csv", ".json") and p.name != "segments.json"}
    reference = files.pop("memory")
    assert any("model" in str(p) for p in reference)
    for name, written in files.items():
        assert written == reference, name


def test_mall_has_no_outlier_column(tmp_path):
    result = run(RunConfig(k=5, out=tmp_path / "mall"))
    assert result.outliers["customers"] == 0
    header = (tmp_path / "mall" / "mall_customers_clustered.csv").read_text().splitlines()[0]
    assert header.endswith("Cluster,Segment")


@pytest.mark.parametrize("d", [1, 2, 5])
def test_flag_is_any_feature_beyond_its_fences(d):
    """The column-by-column flags are the plain formula's, NaN and infinities included."""
    rng = np.random.default_rng(d)
    rule = OutlierRule(-rng.uniform(0.5, 2, d), rng.uniform(0.5, 2, d))
    Z = rng.normal(0, 1.5, (5000, d))
    Z[3, 0], Z[4, -1], Z[5, 0] = np.nan, np.inf, -np.inf
    expected = np.any((rule.low > Z) | (rule.high < Z), axis=1)
    assert np.array_equal(rule.flag(Z), expected)
    assert expected.any()
    assert not expected.all()
