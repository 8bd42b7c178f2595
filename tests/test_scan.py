"""The first pass: the same counts, scaler, sample and column plans however the table is batched."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.preprocessing import StandardScaler

from custseg.engines.batches import BatchEngine
from custseg.engines.memory import MemoryEngine
from custseg.engines.scan import ScanSpec
from custseg.exceptions import DataValidationError
from custseg.io.sources import open_source
from tests.conftest import FEATURES, shared_dataset, write_csv_text

SPEC = ScanSpec(tuple(FEATURES), tuple(FEATURES), "CustomerID", seed=3, sample_rows=50)


def _scan(path, batch_rows=None, spec=SPEC):
    engine = (MemoryEngine(open_source(path)) if batch_rows is None
              else BatchEngine(open_source(path), batch_rows=batch_rows))
    with engine:
        return engine.scan(spec)


@pytest.mark.parametrize("batch_rows", [1, 13, 1000])
def test_scan_is_the_same_in_any_batches(mall_path, batch_rows):
    whole, batched = _scan(mall_path), _scan(mall_path, batch_rows)
    assert (batched.n_input, batched.n_valid, batched.n_rejected) == (200, 200, 0)
    np.testing.assert_array_equal(batched.sample.rows, whole.sample.rows)
    np.testing.assert_array_equal(batched.sample.values, whole.sample.values)
    assert batched.sample.table.equals(whole.sample.table)
    assert np.array_equal(batched.scaler.mean_, whole.scaler.mean_)
    assert np.array_equal(batched.scaler.var_, whole.scaler.var_)
    assert batched.plans == whole.plans


def test_scaler_is_scikit_learns_and_sample_is_uniform_and_sorted(mall_path, mall_df):
    scan = _scan(mall_path)
    reference = StandardScaler().fit(np.ascontiguousarray(mall_df[FEATURES].to_numpy(float)))
    np.testing.assert_array_equal(scan.scaler.mean_, reference.mean_)
    np.testing.assert_array_equal(scan.scaler.scale_, reference.scale_)
    assert scan.sample.size == 50
    assert not scan.sample_is_everything
    assert (np.diff(scan.sample.rows) > 0).all()
    rows = scan.sample.rows - 2
    np.testing.assert_array_equal(scan.sample.values, mall_df[FEATURES].to_numpy(float)[rows])
    assert _scan(mall_path, spec=ScanSpec(*SPEC.__dict__.values())).sample.rows.tolist() == \
        scan.sample.rows.tolist()  # seeded


def test_column_plans_find_numbers_codes_and_categories(mall_path):
    plans = _scan(mall_path).plans
    assert plans["Age"].kind == "numeric"
    assert (plans["Gender"].kind, plans["Gender"].categories) == ("text", ("Female", "Male"))
    path = shared_dataset("wholesale", "wholesale_customers.csv")
    spec = ScanSpec(("Fresh", "Milk"), ("Fresh", "Milk"), None, seed=0, sample_rows=100)
    plans = _scan(path, 17, spec).plans
    assert (plans["Region"].kind, plans["Region"].categories) == ("code", ("1", "2", "3"))
    assert plans["Channel"].kind == "code"
    assert plans["Grocery"].kind == "numeric"


def test_checks_before_choosing_k(tmp_path):
    path = write_csv_text(tmp_path / "c.csv", "CustomerID,Annual Income (k$),Spending Score (1-100)\n"
                                              "1,10,5\n2,10,50\n3,x,5\n")
    scan = _scan(path, 1)
    assert (scan.n_input, scan.n_valid, scan.n_rejected) == (3, 2, 1)
    with pytest.raises(DataValidationError, match=r"same value \(10\) in all 2 valid rows"):
        scan.check(1)
    with pytest.raises(DataValidationError, match=r"Only 2 valid row\(s\) in c\.csv \(1 rejected\), "
                                                  r"fewer than K=3"):
        scan.check_k(3)
    with pytest.raises(DataValidationError, match=r"c\.csv row 4 in column 'Annual Income \(k\$\)': "
                                                  "non-numeric text"):
        scan.check(1, on_invalid="fail")
