"""The files of a run: summary against its JSON Schema, profiles, one customer list per segment."""

from __future__ import annotations

import json
from importlib import resources

import jsonschema
import pandas as pd
import pytest

from custseg.config import RunConfig
from custseg.pipeline import RunResult, run
from tests.conftest import write_csv_text


@pytest.fixture(scope="module")
def schema() -> dict:
    text = resources.files("custseg").joinpath("schemas/segments.schema.json").read_text(encoding="utf-8")
    schema = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def test_segments_json_validates_against_the_schema(mall_run: RunResult, schema):
    summary = json.loads(mall_run.outputs["summary"].read_text(encoding="utf-8"))
    jsonschema.validate(summary, schema, cls=jsonschema.Draft202012Validator)
    assert [s["name"] for s in summary["segments"]] == mall_run.names
    assert summary["rules"]["fidelity"] >= 0.95
    assert summary["all_customers"]["profile"]["Age"]["mean"] == pytest.approx(38.85)


def test_schema_rejects_a_broken_summary(mall_run: RunResult, schema):
    summary = json.loads(mall_run.outputs["summary"].read_text(encoding="utf-8"))
    summary["segments"][0]["levels"]["Annual Income (k$)"] = "Medium"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(summary, schema, cls=jsonschema.Draft202012Validator)


def test_segment_lists_partition_the_clustered_file(mall_run: RunResult):
    clustered = pd.read_csv(mall_run.outputs["clustered"])
    lists = {info.slug: pd.read_csv(mall_run.config.out / "segments" / f"{info.slug}.csv")
             for info in mall_run.segments}
    assert len(lists) == 5
    combined = pd.concat(lists.values()).sort_values("CustomerID", ignore_index=True)
    pd.testing.assert_frame_equal(combined, clustered.sort_values("CustomerID", ignore_index=True))
    for info in mall_run.segments:
        assert set(lists[info.slug]["Cluster"]) == {info.cluster}
        assert set(lists[info.slug]["Segment"]) == {info.name}


def test_segment_profiles_csv(mall_run: RunResult):
    profiles = pd.read_csv(mall_run.outputs["profiles"])
    assert profiles["Segment"].tolist() == [*mall_run.names, "All customers"]
    assert profiles["size"].tolist() == [81, 39, 35, 23, 22, 200]
    assert profiles.loc[2, "Annual Income (k$) mean"] == pytest.approx(88.2, abs=0.05)
    assert profiles.loc[5, "Gender Female %"] == pytest.approx(56.0)
    assert profiles.loc[1, "Age mean vs all"] == pytest.approx(
        profiles.loc[1, "Age mean"] - profiles.loc[5, "Age mean"], abs=1e-3)


def test_rejected_rows_are_counted_in_the_summary(tmp_path):
    rows = "\n".join(f"{i},Male,30,{20 + i},{(i * 7) % 100 + 1}" for i in range(1, 60))
    path = write_csv_text(tmp_path / "c.csv", "CustomerID,Gender,Age,Annual Income (k$),Spending Score (1-100)\n"
                          f"{rows}\n60,Male,30,abc,50\n61,Male,30,40,500\n")
    result = run(RunConfig(input=path, out=tmp_path / "out", k=3))
    summary = json.loads(result.outputs["summary"].read_text(encoding="utf-8"))
    assert summary["rows"] == {"input": 61, "clustered": 59, "rejected": 2,
                               "reject_reasons": {"non-numeric text": 1, "outside 1..100": 1}}
    assert "non-numeric text" in result.outputs["report"].read_text(encoding="utf-8")


def test_parquet_output_keeps_every_cell_and_the_segments(tmp_path, mall_run: RunResult):
    import pyarrow.parquet as pq

    result = run(RunConfig(out=tmp_path / "pq", output_format="parquet"))
    assert result.outputs["clustered"].name == "mall_customers_clustered.parquet"
    table = pq.read_table(result.outputs["clustered"]).to_pandas()
    csv = pd.read_csv(mall_run.outputs["clustered"], dtype=str)
    assert table.astype(str).to_dict("list") == csv.to_dict("list")
    lists = sorted(p.name for p in (tmp_path / "pq" / "segments").iterdir())
    assert lists == sorted(f"{s.slug}.parquet" for s in result.segments)
    again = run(RunConfig(out=tmp_path / "pq2", output_format="parquet"))
    assert again.outputs["clustered"].read_bytes() == result.outputs["clustered"].read_bytes()


def test_categorical_run_records_levels_weight_and_rule(tmp_path, schema):
    from custseg.pipeline import run

    result = run(out=tmp_path / "out", categorical=("Gender",), k=5)
    summary = json.loads(result.outputs["summary"].read_text(encoding="utf-8"))
    jsonschema.validate(summary, schema, cls=jsonschema.Draft202012Validator)
    assert summary["categorical"] == [{
        "feature": "Gender", "column": "Gender", "levels": ["Female", "Male"],
        "weight": pytest.approx(0.707107), "rule": summary["categorical"][0]["rule"],
        "fill": None}]
    assert "1/sqrt(2)" in summary["categorical"][0]["rule"]
    assert summary["run"]["config"]["categorical"] == ["Gender"]
    assert set(summary["segments"][0]["categories"]["Gender"]) == {"Female", "Male"}
    report = result.outputs["report"].read_text(encoding="utf-8")
    assert "<td>Gender</td><td>Female, Male</td><td>0.707</td>" in report
