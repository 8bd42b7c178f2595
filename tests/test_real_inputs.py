"""Real exports: the Genre variant, Parquet and Excel copies, and a file with blanks.

Each runs on every engine and is compared, customer by customer, with the bundled data's run on
the same engine (the ``mall_run`` fixture): the written clustered file is the per-customer record.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from custseg.config import CLUSTER_COLUMN, SEGMENT_COLUMN, RunConfig
from custseg.pipeline import run
from custseg.runfolder import REJECTS_FILE
from tests.conftest import LARGE_ENGINES, shared_dataset


def _written(result) -> pd.DataFrame:
    """The clustered file the run wrote, every cell as text."""
    return pd.read_csv(result.outputs["clustered"], dtype=str, keep_default_na=False)


def test_genre_variant_gives_same_segments(tmp_path, mall_run, engine):
    path = shared_dataset("mall_customers_genre", "Mall_Customers_genre.csv")
    result = run(RunConfig(input=path, out=tmp_path / "out", **engine))
    np.testing.assert_allclose(result.segmenter.cluster_centers_original_,
                               mall_run.segmenter.cluster_centers_original_)
    assert result.sizes.tolist() == mall_run.sizes.tolist()
    assert result.names == mall_run.names
    written, bundled = _written(result), _written(mall_run)
    # Customer by customer, the same segment as the bundled file's run.
    assert written[CLUSTER_COLUMN].tolist() == bundled[CLUSTER_COLUMN].tolist()
    assert written[SEGMENT_COLUMN].tolist() == bundled[SEGMENT_COLUMN].tolist()
    assert result.clustered[CLUSTER_COLUMN].tolist() == mall_run.clustered[CLUSTER_COLUMN].tolist()
    # Zero-padded ids and the Genre header survive as written.
    assert written.columns.tolist() == ["CustomerID", "Genre", "Age", "Annual Income (k$)",
                                        "Spending Score (1-100)", CLUSTER_COLUMN, SEGMENT_COLUMN]
    assert written["CustomerID"].tolist() == [f"{i:04d}" for i in range(1, 201)]
    assert result.clustered["CustomerID"].iloc[0] == "0001"
    # Every input line comes back unchanged, only its segment appended (CRLF read as line ends).
    lines = path.read_bytes().decode("utf-8").splitlines()
    out_lines = result.outputs["clustered"].read_text(encoding="utf-8").splitlines()
    assert out_lines[0] == f"{lines[0]},{CLUSTER_COLUMN},{SEGMENT_COLUMN}"
    assert [line.rsplit(",", 2)[0] for line in out_lines[1:]] == lines[1:]
    assert "\r" not in result.outputs["clustered"].read_text(encoding="utf-8")
    assert result.n_input == result.n_clustered == 200
    assert result.n_rejected == 0


def test_genre_variant_as_parquet_output_keeps_text_cells(tmp_path, mall_run, engine):
    path = shared_dataset("mall_customers_genre", "Mall_Customers_genre.csv")
    result = run(RunConfig(input=path, out=tmp_path / "out", output_format="parquet", **engine))
    assert result.outputs["clustered"].name == "mall_customers_genre_clustered.parquet"
    clustered = result.clustered
    assert clustered["CustomerID"].tolist() == [f"{i:04d}" for i in range(1, 201)]
    assert clustered[CLUSTER_COLUMN].tolist() == mall_run.clustered[CLUSTER_COLUMN].tolist()
    assert clustered[SEGMENT_COLUMN].astype(str).tolist() == mall_run.clustered[SEGMENT_COLUMN].tolist()
    source = pd.read_csv(path, dtype=str)
    for column in source.columns:
        assert clustered[column].tolist() == source[column].tolist()
    assert result.sizes.tolist() == mall_run.sizes.tolist()


@pytest.mark.parametrize("suffix", [".parquet", ".xlsx"])
def test_parquet_and_excel_copies_give_same_segments(tmp_path, mall_run, engine, mall_df, suffix):
    path = tmp_path / f"Mall_Customers{suffix}"
    if suffix == ".parquet":
        mall_df.to_parquet(path, index=False)
    else:
        mall_df.to_excel(path, index=False)
    result = run(RunConfig(input=path, out=tmp_path / "out", **engine))
    assert result.source.format == {".parquet": "parquet", ".xlsx": "excel"}[suffix]
    assert result.sizes.tolist() == mall_run.sizes.tolist()
    np.testing.assert_allclose(result.segmenter.cluster_centers_original_,
                               mall_run.segmenter.cluster_centers_original_)
    written = pd.read_csv(result.outputs["clustered"])
    assert written[CLUSTER_COLUMN].tolist() == mall_run.clustered[CLUSTER_COLUMN].tolist()
    assert written["CustomerID"].tolist() == list(range(1, 201))
    assert written["Annual Income (k$)"].tolist() == mall_df["Annual Income (k$)"].tolist()
    assert result.outputs["clustered"].name == "mall_customers_clustered.csv"


@pytest.mark.slow
@pytest.mark.parametrize("engine_name", list(LARGE_ENGINES))
def test_blank_cells_are_rejected_with_reasons(tmp_path, engine_name):
    path = shared_dataset("cc_general", "cc_general.csv")
    features = ("MINIMUM_PAYMENTS", "CREDIT_LIMIT", "BALANCE", "PURCHASES")
    out = tmp_path / "out"
    result = run(RunConfig(input=path, features=features, id_column="CUST_ID", out=out, k=4,
                           **LARGE_ENGINES[engine_name]))
    source = pd.read_csv(path)
    blank = source[list(features)].isna().any(axis=1)
    rejects = pd.read_csv(out / REJECTS_FILE, keep_default_na=False)
    assert len(rejects) == blank.sum() == 314 == result.n_rejected
    assert set(rejects["customer_id"]) == set(source.loc[blank, "CUST_ID"])
    assert set(rejects["reason"]) == {"missing value"}
    assert set(rejects["column"]) == {"MINIMUM_PAYMENTS", "CREDIT_LIMIT"}
    assert result.rows.reasons == {"missing value": 314}
    # Row numbers point at the right lines of the file (header = row 1).
    assert (source.loc[rejects["row"] - 2, "CUST_ID"].to_numpy() == rejects["customer_id"]).all()
    # The result's rejects are the file's, row for row.
    assert result.rejects[["row", "customer_id", "reason"]].values.tolist() == \
        rejects[["row", "customer_id", "reason"]].values.tolist()
    clustered = _written(result)
    assert len(clustered) + len(rejects) == len(source) == result.n_input
    assert len(clustered) == result.n_clustered == result.sizes.sum()
    # Every customer is in exactly one of the two files, in file order.
    assert clustered["CUST_ID"].tolist() == source.loc[~blank, "CUST_ID"].tolist()
    counts = clustered[CLUSTER_COLUMN].astype(int).value_counts()
    assert [counts[i] for i in result.segment_ids] == result.sizes.tolist()
