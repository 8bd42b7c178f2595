"""Segment profiles agree with a plain pandas group-by."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from custseg.profile import profile_segments


@pytest.mark.parametrize("seed", [0, 1])
def test_profile_matches_pandas_groupby(seed):
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(500, 3))
    labels = rng.integers(0, 4, size=500)
    table = profile_segments(values, labels, 4, ("a", "b", "c")).table
    expected = pd.DataFrame(values, columns=["a", "b", "c"]).groupby(labels).mean()
    for name in "abc":
        np.testing.assert_allclose(table[f"mean {name}"], expected[name])
    assert table["size"].tolist() == np.bincount(labels).tolist()
    assert table["share"].sum() == pytest.approx(1.0)


def test_empty_segment_has_zero_size_and_nan_mean():
    table = profile_segments(np.array([[1.0], [2.0]]), np.array([0, 0]), 2, ("x",)).table
    assert table["size"].tolist() == [2, 0]
    assert np.isnan(table.loc[1, "mean x"])
