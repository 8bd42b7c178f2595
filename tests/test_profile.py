"""Segment profiles agree with a plain pandas group-by, whatever the batches they were counted in."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from custseg.describe.profile import profile_segments
from custseg.describe.totals import SegmentTotals
from custseg.engines.base import AssignedBatch
from custseg.engines.columns import ColumnPlan
from custseg.engines.sample import Sample


def _profile(values, labels, k, names, numeric=None, categorical=None, batch=None):
    """Profile rows counted as the assignment pass counts them (in batches of ``batch`` rows),
    with every row as the sample."""
    numeric, categorical = numeric or {}, categorical or {}
    columns = {name: pa.array(column, pa.float64()) for name, column in numeric.items()}
    columns.update({name: pa.array(column, pa.string()) for name, column in categorical.items()})
    table = pa.table(columns) if columns else pa.table({"_": np.zeros(len(labels))})
    plans = {name: ColumnPlan("numeric") for name in numeric}
    plans.update({name: ColumnPlan("text", tuple(sorted({c for c in column if c is not None})))
                  for name, column in categorical.items()})
    totals = SegmentTotals(k, values.shape[1], plans)
    step = batch or len(labels)
    for start in range(0, len(labels), step):
        part = slice(start, start + step)
        totals.observe(AssignedBatch(table.slice(start, step), np.arange(len(labels))[part],
                                     values[part], labels[part], np.zeros(len(labels))[part]))
    totals.finish()
    return profile_segments(totals, Sample(table, np.arange(len(labels)), values), labels, names, plans)


@pytest.mark.parametrize("seed", [0, 1])
def test_profile_matches_pandas_groupby(seed):
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(500, 3))
    labels = rng.integers(0, 4, size=500)
    table = _profile(values, labels, 4, ("a", "b", "c")).table
    expected = pd.DataFrame(values, columns=["a", "b", "c"]).groupby(labels).mean()
    for name in "abc":
        np.testing.assert_allclose(table[f"mean {name}"], expected[name])
    assert table["size"].tolist() == np.bincount(labels).tolist()
    assert table["share"].sum() == pytest.approx(1.0)


def test_empty_segment_has_zero_size_and_nan_mean():
    table = _profile(np.array([[1.0], [2.0]]), np.array([0, 0]), 2, ("x",)).table
    assert table["size"].tolist() == [2, 0]
    assert np.isnan(table.loc[1, "mean x"])


@pytest.fixture
def profiled():
    rng = np.random.default_rng(7)
    n = 600
    values = rng.normal(size=(n, 2))
    labels = rng.integers(0, 3, size=n)
    age = rng.uniform(18, 70, size=n)
    age[::50] = np.nan  # some cells are not numbers
    gender = rng.choice(np.array(["Female", "Male"], dtype=object), size=n)
    gender[::40] = None
    profiles = _profile(values, labels, 3, ("a", "b"), {"Age": age}, {"Gender": gender})
    return profiles, values, labels, age, gender


@pytest.mark.parametrize("batch", [1, 7, 64, 599])
def test_profiles_are_the_same_bits_whatever_the_batches(profiled, batch):
    profiles, values, labels, age, gender = profiled
    again = _profile(values, labels, 3, ("a", "b"), {"Age": age}, {"Gender": gender}, batch=batch)
    pd.testing.assert_frame_equal(again.numeric, profiles.numeric, check_exact=True)
    pd.testing.assert_frame_equal(again.table, profiles.table, check_exact=True)
    pd.testing.assert_frame_equal(again.categories["Gender"], profiles.categories["Gender"],
                                  check_exact=True)


def test_quartiles_and_medians_match_pandas(profiled):
    profiles, values, labels, age, _ = profiled
    frame = pd.DataFrame({"a": values[:, 0], "Age": age, "g": labels})
    for column in ("a", "Age"):
        grouped = frame.groupby("g")[column]
        np.testing.assert_allclose(profiles.numeric[(column, "median")].iloc[:3], grouped.median())
        np.testing.assert_allclose(profiles.numeric[(column, "q1")].iloc[:3], grouped.quantile(0.25))
        np.testing.assert_allclose(profiles.numeric[(column, "q3")].iloc[:3], grouped.quantile(0.75))
        np.testing.assert_allclose(profiles.numeric[(column, "mean")].iloc[:3], grouped.mean())
        assert profiles.numeric.loc["all", (column, "median")] == pytest.approx(frame[column].median())


def test_difference_from_the_base(profiled):
    profiles, values, *_ = profiled
    diff = profiles.difference()
    base_mean = values[:, 1].mean()
    np.testing.assert_allclose(diff[("b", "mean")], profiles.numeric[("b", "mean")].iloc[:3] - base_mean)


def test_category_mix_matches_crosstab(profiled):
    profiles, _, labels, _, gender = profiled
    frame = pd.DataFrame({"g": labels, "gender": gender}).dropna()
    expected = pd.crosstab(frame["g"], frame["gender"], normalize="index")
    mix = profiles.categories["Gender"]
    np.testing.assert_allclose(mix.iloc[:3][["Female", "Male"]], expected[["Female", "Male"]])
    assert mix.loc["all", "Female"] == pytest.approx((frame["gender"] == "Female").mean())
    np.testing.assert_allclose(profiles.category_difference("Gender").sum(axis=1), 0, atol=1e-12)


def test_profile_table_has_one_row_per_segment_and_the_base(profiled):
    profiles = profiled[0]
    frame = profiles.to_frame(["x", "y", "z"])
    assert frame["Segment"].tolist() == ["x", "y", "z", "All customers"]
    assert frame["size"].iloc[-1] == frame["size"].iloc[:3].sum() == 600
    assert {"Age median", "Age mean vs all", "Gender Female %", "Gender Female % vs all"} <= set(frame.columns)
    assert frame["Gender Female % vs all"].iloc[-1] == 0


def test_mall_profile_columns_find_age_and_gender(mall_run):
    assert set(mall_run.profiles.numeric.columns.get_level_values(0)) == {
        "Annual Income (k$)", "Spending Score (1-100)", "Age"}
    assert list(mall_run.profiles.categories) == ["Gender"]
    assert mall_run.profiles.numeric.loc["all", ("Age", "mean")] == pytest.approx(38.85)
    assert mall_run.profiles.categories["Gender"].loc["all", "Female"] == pytest.approx(0.56)


def test_numeric_codes_are_profiled_as_categories(tmp_path, engine):
    from custseg.config import RunConfig
    from custseg.pipeline import segment
    from tests.conftest import shared_dataset

    path = shared_dataset("wholesale", "wholesale_customers.csv")
    result = segment(RunConfig(input=path, features=("Fresh", "Milk", "Grocery"), k=2, **engine))
    assert set(result.profiles.categories) == {"Channel", "Region"}
    assert set(result.profiles.categories["Region"].columns) == {"1", "2", "3"}
    assert set(result.profiles.numeric.columns.get_level_values(0)) == {
        "Fresh", "Milk", "Grocery", "Frozen", "Detergents_Paper", "Delicassen"}


def test_a_wide_profile_frame_is_built_in_one_step():
    # 3,000 other columns: inserted one by one, the frame fragmented (pandas warns) and the
    # build took time quadratic in the columns; joined once, it is linear.
    import warnings

    rng = np.random.default_rng(0)
    n, width = 200, 3_000
    labels = rng.integers(0, 5, size=n)
    numeric = {f"x{i}": rng.integers(0, 99, size=n).astype(float) for i in range(width)}
    profiles = _profile(rng.normal(size=(n, 2)), labels, 5, ("a", "b"), numeric,
                        {"Gender": rng.choice(np.array(["F", "M"], dtype=object), size=n)})
    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.PerformanceWarning)
        frame = profiles.to_frame()
    assert frame.shape == (6, 4 + 2 * 5 + width * 5 + 2 * 2)
    assert list(frame.columns[:4]) == ["Cluster", "Segment", "size", "share"]
    assert list(frame.columns[14:19]) == ["x0 mean", "x0 median", "x0 q1", "x0 q3", "x0 mean vs all"]
    assert list(frame.columns[-4:]) == ["Gender F %", "Gender F % vs all", "Gender M %", "Gender M % vs all"]
    np.testing.assert_allclose(frame["x7 mean"].iloc[:5],
                               pd.Series(numeric["x7"]).groupby(labels).mean().round(4))
