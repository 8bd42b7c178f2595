"""Real exports: the Genre variant, Parquet and Excel copies, and a file with blanks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from custseg.config import RunConfig
from custseg.pipeline import run, segment
from tests.conftest import shared_dataset


@pytest.fixture(scope="module")
def bundled():
    return segment(RunConfig())


def test_genre_variant_gives_same_segments(bundled):
    path = shared_dataset("mall_customers_genre", "Mall_Customers_genre.csv")
    result = segment(RunConfig(input=path))
    np.testing.assert_array_equal(result.labels, bundled.labels)
    np.testing.assert_allclose(result.segmenter.cluster_centers_original_,
                               bundled.segmenter.cluster_centers_original_)
    # Zero-padded ids and the Genre header survive as written.
    assert result.clustered_table.column("CustomerID")[0].as_py() == "0001"
    assert "Genre" in result.clustered_table.column_names


@pytest.mark.parametrize("suffix", [".parquet", ".xlsx"])
def test_parquet_and_excel_copies_give_same_segments(tmp_path, bundled, mall_df, suffix):
    path = tmp_path / f"Mall_Customers{suffix}"
    if suffix == ".parquet":
        mall_df.to_parquet(path, index=False)
    else:
        mall_df.to_excel(path, index=False)
    result = run(RunConfig(input=path, out=tmp_path / "out"))
    np.testing.assert_array_equal(result.labels, bundled.labels)
    written = pd.read_csv(result.outputs["clustered"])
    assert written["Cluster"].tolist() == bundled.labels.tolist()
    assert written["CustomerID"].tolist() == list(range(1, 201))


def test_blank_cells_are_rejected_with_reasons(tmp_path):
    path = shared_dataset("cc_general", "cc_general.csv")
    features = ("MINIMUM_PAYMENTS", "CREDIT_LIMIT", "BALANCE", "PURCHASES")
    result = run(RunConfig(input=path, features=features, id_column="CUST_ID", out=tmp_path, k=4))
    source = pd.read_csv(path)
    blank = source[list(features)].isna().any(axis=1)
    rejects = pd.read_csv(tmp_path / "rejected_rows.csv", keep_default_na=False)
    assert len(rejects) == blank.sum() == 314
    assert set(rejects["customer_id"]) == set(source.loc[blank, "CUST_ID"])
    assert set(rejects["reason"]) == {"missing value"}
    assert set(rejects["column"]) == {"MINIMUM_PAYMENTS", "CREDIT_LIMIT"}
    # Row numbers point at the right lines of the file (header = row 1).
    assert (source.loc[rejects["row"] - 2, "CUST_ID"].to_numpy() == rejects["customer_id"]).all()
    clustered = pd.read_csv(result.outputs["clustered"])
    assert len(clustered) + len(rejects) == len(source) == result.n_input
