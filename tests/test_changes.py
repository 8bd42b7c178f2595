"""Re-segmenting month after month: ids and names kept, migration counted, drift measured."""

from __future__ import annotations

import json

import joblib
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from custseg.changes import load_snapshot
from custseg.cli import app
from custseg.config import RunConfig
from custseg.exceptions import ModelFileError
from custseg.modelfile import load_model
from custseg.pipeline import RunResult, run

INCOME, SPENDING = "Annual Income (k$)", "Spending Score (1-100)"
#: Month 1: four well-separated groups of customers (income, spending) and their sizes.
GROUPS = {"A": ((30, 20), 300), "B": ((30, 80), 250), "C": ((90, 20), 200), "D": ((90, 80), 150)}
runner = CliRunner()


def _customers(rng, group, centre, n, first_id):
    values = rng.normal(centre, 3.0, size=(n, 2)).round(1)
    return pd.DataFrame({"CustomerID": np.arange(first_id, first_id + n), "group": group,
                         INCOME: values[:, 0], SPENDING: np.clip(values[:, 1], 1, 100)})


@pytest.fixture(scope="module")
def months(tmp_path_factory):
    """Month 1, and month 2 made from it with a known truth, written as CSV files."""
    rng = np.random.default_rng(11)
    folder = tmp_path_factory.mktemp("months")
    parts, next_id = [], 1
    for group, (centre, n) in GROUPS.items():
        parts.append(_customers(rng, group, centre, n, next_id))
        next_id += n
    month1 = pd.concat(parts, ignore_index=True)
    # Month 2: 10% of customers gone; 40 of A now spend like B; D's centre moved a little;
    # A grew by 120 new customers; a new group E (income 60, spending 50) of 90 new customers.
    month2 = month1.sample(frac=0.9, random_state=3).sort_values("CustomerID").copy()
    movers = month2.index[month2["group"] == "A"][:40]
    month2.loc[movers, SPENDING] = rng.normal(80, 3.0, size=40).round(1)
    month2.loc[movers, "group"] = "B"
    d = month2["group"] == "D"
    month2.loc[d, INCOME] += 3.0
    month2.loc[d, SPENDING] -= 2.0
    new_a = _customers(rng, "A", (30, 20), 120, next_id)
    new_e = _customers(rng, "E", (60, 50), 90, next_id + 120)
    month2 = pd.concat([month2, new_a, new_e], ignore_index=True)
    paths = folder / "month1.csv", folder / "month2.csv"
    month1.drop(columns="group").to_csv(paths[0], index=False)
    month2.drop(columns="group").to_csv(paths[1], index=False)
    return folder, month1, month2, paths


@pytest.fixture(scope="module")
def runs(months):
    folder, _, _, (path1, path2) = months
    names = folder / "names.yaml"
    names.write_text("Low income · Low spending: Bargain hunters\nHigh income · High spending: VIPs\n",
                     encoding="utf-8")
    first = run(RunConfig(input=path1, k=4, names=names, out=folder / "runs" / "2026-01"))
    second = run(RunConfig(input=path2, k=5, previous=folder / "runs" / "2026-01",
                           out=folder / "runs" / "2026-02", seed=7))
    return first, second


def _id_of(result: RunResult, frame: pd.DataFrame) -> dict[str, int]:
    """Ground-truth group -> the Cluster the run gave most of its customers."""
    clustered = pd.read_csv(result.outputs["clustered"])
    merged = frame.merge(clustered[["CustomerID", "Cluster"]], on="CustomerID")
    return merged.groupby("group")["Cluster"].agg(lambda c: int(c.mode()[0])).to_dict()


def test_matched_segments_keep_ids_and_user_names_and_the_new_one_is_new(months, runs):
    _, month1, month2, _ = months
    first, second = runs
    ids1, ids2 = _id_of(first, month1), _id_of(second, month2)
    assert {g: ids2[g] for g in "ABCD"} == ids1
    assert ids2["E"] not in ids1.values()
    assert ids2["E"] == 4  # the next id never used
    names1 = {s.cluster: s.name for s in first.segments}
    names2 = {s.cluster: s.name for s in second.segments}
    assert names1[ids1["A"]] == "Bargain hunters"
    assert names1[ids1["D"]] == "VIPs"
    for group in "ABCD":
        assert names2[ids2[group]] == names1[ids1[group]]
    changes = second.changes.to_dict()
    assert changes["new"] == [{"id": 4, "name": names2[4]}]
    assert changes["retired"] == []
    assert names2[4] == "Average income · Average spending"


def test_every_migration_count_equals_the_generator_truth(months, runs):
    _, month1, month2, _ = months
    first, second = runs
    ids = _id_of(first, month1)
    both = month1[["CustomerID", "group"]].merge(month2[["CustomerID", "group"]], on="CustomerID",
                                                 suffixes=("_before", "_after"))
    truth = pd.crosstab(both["group_before"].map(ids), both["group_after"].map(ids))
    counts = second.changes.transitions.counts
    for previous in counts.index:
        for current in counts.columns:
            expected = truth.at[previous, current] if (previous in truth.index and current in truth.columns) else 0
            assert counts.at[previous, current] == expected, (previous, current)
    customers = second.changes.to_dict()["customers"]
    assert customers == {"both": len(both), "moved": 40, "new": 210, "departed": len(month1) - len(both),
                         "stayed_percent": pytest.approx(100 * (len(both) - 40) / len(both), abs=1e-4)}
    migration = pd.read_csv(second.outputs["migration"])
    assert len(migration) == len(both)
    assert (migration["previous_segment"] != migration["new_segment"]).sum() == 40
    assert any("40 customers moved from Bargain hunters to" in m for m in second.changes.moves)


def test_outputs_use_the_stable_ids_everywhere(months, runs):
    _, _, _, (_, path2) = months
    _, second = runs
    clustered = pd.read_csv(second.outputs["clustered"])
    model = load_model(second.outputs["model"])
    assert sorted(model.clusters.tolist()) == sorted(second.segment_ids.tolist())
    np.testing.assert_array_equal(model.predict(pd.read_csv(path2)), clustered["Cluster"])
    pipeline = joblib.load(second.outputs["model_pickle"])
    np.testing.assert_array_equal(pipeline.predict(clustered[[INCOME, SPENDING]]), clustered["Cluster"])
    profiles = pd.read_csv(second.outputs["profiles"])
    assert sorted(profiles["Cluster"].dropna().astype(int)) == sorted(second.segment_ids.tolist())
    summary = json.loads(second.outputs["summary"].read_text(encoding="utf-8"))
    assert summary["used_segment_ids"] == [0, 1, 2, 3, 4]
    assert summary["changes"]["recommendation"]["action"] == "refit"  # a new segment appeared
    assert "Since the previous run" in second.outputs["report"].read_text(encoding="utf-8")


def test_same_data_other_seed_keeps_every_id_and_name(tmp_path, mall_run):
    again = run(RunConfig(out=tmp_path / "again", seed=123, previous=mall_run.config.out))
    assert [(s.cluster, s.name) for s in again.segments] == [(s.cluster, s.name) for s in mall_run.segments]
    assert again.changes.transitions.diagonal_percent == 100.0
    assert again.changes.recommendation.action == "keep"
    psi = again.changes.psi.set_index("feature")["psi"]
    assert (psi == 0).all()
    assert not again.changes.splits_merges.sentences


def test_a_model_file_alone_matches_but_cannot_count_migration(tmp_path, mall_run):
    again = run(RunConfig(out=tmp_path / "again", previous=mall_run.outputs["model"]))
    assert again.changes.migration is None
    assert again.changes.psi is None
    assert "without its customers" in again.changes.notes[0]
    assert [s.name for s in again.segments] == mall_run.names


def test_previous_run_on_other_features_is_refused(tmp_path, mall_run):
    with pytest.raises(ModelFileError, match="segments cannot be matched"):
        run(RunConfig(out=tmp_path / "x", features=("Age", SPENDING), previous=mall_run.config.out))


def test_snapshot_of_a_run_folder_reads_its_customers(runs):
    first, _ = runs
    snapshot = load_snapshot(first.config.out)
    assert snapshot.has_customers
    assert len(snapshot.customer_ids) == first.n_clustered
    np.testing.assert_array_equal(snapshot.labels, first.clusters)


def test_history_and_compare_commands(months, runs, tmp_path, monkeypatch):
    folder = months[0] / "runs"
    result = runner.invoke(app, ["history", str(folder)])
    assert result.exit_code == 0, result.output
    assert "2026-01" in result.stdout
    assert "2026-02" in result.stdout
    assert "Bargain hunters" in result.stdout
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["compare", str(folder / "2026-01"), str(folder / "2026-02")])
    assert result.exit_code == 0, result.output
    assert "40 customers moved from Bargain hunters" in result.stdout
    written = tmp_path / "comparison_2026-01_2026-02"
    assert {p.name for p in written.iterdir() if not p.name.startswith(".")} == {
        "migration.csv", "transition_matrix.csv", "changes.json"}
    result = runner.invoke(app, ["history", str(tmp_path)])
    assert result.exit_code == 3
    assert "No run history" in result.stderr


@pytest.mark.parametrize(("k", "kind", "structure"), [(3, "merge", "retired"), (5, "split", "new")])
def test_merges_and_splits_are_reported(months, runs, tmp_path, k, kind, structure):
    _, _, _, (path1, _) = months
    first, _ = runs
    again = run(RunConfig(input=path1, k=k, previous=first.config.out, out=tmp_path / "again"))
    found = again.changes.splits_merges
    assert len(found.merges if kind == "merge" else found.splits) == 1
    assert any(kind in sentence for sentence in found.sentences)
    assert len(again.changes.to_dict()[structure]) >= 1  # a merged centre sits between its parts
    assert any(kind in s for s in again.changes.to_dict()[f"{kind}s"])
