"""Features chosen when none are given (custseg.io.autofeatures, custseg.pipeline.features)."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from custseg import RunConfig
from custseg.cli import app
from custseg.exceptions import ConfigError, DataValidationError
from custseg.io.autofeatures import MAX_CODE_VALUES, choose_features
from custseg.pipeline import segment
from tests.conftest import shared_dataset

SPEND = ("Fresh", "Milk", "Grocery", "Frozen", "Detergents_Paper", "Delicassen")


@pytest.fixture(scope="module")
def wholesale():
    return shared_dataset("wholesale", "wholesale_customers.csv")


def _table(**columns) -> pa.Table:
    return pa.table({k: pa.array(v) for k, v in columns.items()})


@pytest.mark.parametrize(("column", "values", "reason"), [
    ("code", [1, 2, 3, 1, 2, 3], "a code (3 whole-number values)"),
    ("flat", [7.5] * 6, "constant"),
    ("text", ["a", "b", "c", "d", "e", "f"], "not numeric"),
    ("customer_id", [101, 102, 103, 104, 105, 106], "the id"),
])
def test_columns_that_are_not_behaviour_are_left_out(column, values, reason):
    table = _table(spend=[1.0, 5.0, 2.5, 40.0, 3.0, 9.0], **{column: values})
    choice = choose_features(table, "customer_id" if column == "customer_id" else None, "t.csv")
    assert choice.features == ("spend",)
    assert dict(choice.left_out) == {column: reason}


def test_whole_numbers_with_more_than_ten_values_are_behaviour():
    visits = list(range(MAX_CODE_VALUES + 1))
    choice = choose_features(_table(visits=visits, spend=[v * 1.5 + (v % 3) ** 2 for v in visits]),
                             None, "t.csv")
    assert "visits" in choice.features


def test_near_duplicate_is_dropped_and_the_message_says_which_was_kept():
    rng = np.random.default_rng(0)
    a = rng.gamma(2.0, 10.0, 200)
    table = _table(a=a, b=a * 3.0 + rng.normal(0, 0.5, 200), c=rng.normal(0, 1, 200))
    choice = choose_features(table, None, "t.csv")
    assert choice.features == ("a", "c")
    (column, reason), = choice.left_out
    assert column == "b"
    assert reason.startswith("near-duplicate of a (r = ")
    assert "a kept" in reason
    assert "left out: b: near-duplicate of a" in choice.summary()


def test_missing_cells_do_not_make_a_column_text():
    table = _table(spend=["1.5", "", "3", "NA", "8.25", "13", "2"], region=[1, 2, 1, 2, 1, 2, 1])
    assert choose_features(table, None, "t.csv").features == ("spend",)


def test_unknown_exclude_and_nothing_left_are_clear_errors():
    table = _table(spend=[1.0, 2.0, 4.0], code=[1, 1, 2])
    with pytest.raises(DataValidationError, match="--exclude 'spnd': no such column"):
        choose_features(table, None, "t.csv", exclude=["spnd"])
    with pytest.raises(DataValidationError, match="Name the columns with --features"):
        choose_features(table, None, "t.csv", exclude=["spend"])


def test_wholesale_without_flags_uses_the_six_spend_columns(wholesale, engine):
    result = segment(RunConfig(input=wholesale, k=2, **engine))
    assert result.features == SPEND
    assert dict(result.feature_choice.left_out) == {
        "Channel": "a code (2 whole-number values)", "Region": "a code (3 whole-number values)"}


def test_features_and_exclude_win_over_the_choice(wholesale):
    named = segment(RunConfig(input=wholesale, features=("Milk", "Grocery"), features_required=True,
                              k=2))
    assert named.features == ("Milk", "Grocery")
    assert named.feature_choice is None
    excluded = segment(RunConfig(input=wholesale, exclude=("Fresh", "Frozen"), k=2))
    assert excluded.features == ("Milk", "Grocery", "Detergents_Paper", "Delicassen")


def test_mall_keeps_its_default_features():
    result = segment(RunConfig(k=5))
    assert result.features == ("Annual Income (k$)", "Spending Score (1-100)")
    assert result.feature_choice is None
    with pytest.raises(ConfigError, match="--exclude leaves no feature"):
        segment(RunConfig(exclude=("Annual Income (k$)", "Spending Score (1-100)")))


def test_cli_prints_the_choice_in_one_line_and_records_it(wholesale, tmp_path):
    out = tmp_path / "out"
    outcome = CliRunner().invoke(app, ["run", str(wholesale), "--k", "2", "-o", str(out)],
                                 env={"COLUMNS": "200"})
    assert outcome.exit_code == 0, outcome.output
    lines = [line for line in outcome.output.splitlines() if line.startswith("Features chosen:")]
    assert lines == ["Features chosen: Fresh, Milk, Grocery, Frozen, Detergents_Paper, Delicassen "
                     "(left out: Channel: a code (2 whole-number values); Region: a code "
                     "(3 whole-number values)). Override with --features."]
    recorded = json.loads((out / "segments.json").read_text())["preparation"]["feature_choice"]
    assert recorded["features"] == list(SPEND)
    assert recorded["probe_rows"] == 440
