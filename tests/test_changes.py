"""Re-segmenting month after month: ids and names kept, migration counted, drift measured.

A previous run is read back from its folder (:func:`custseg.tracking.previous.load_previous`);
``run(previous=...)`` counts the migration while the later run's customers stream past;
:func:`custseg.pipeline.compare` compares two finished run folders.
"""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from custseg.cli import app
from custseg.config import RunConfig
from custseg.datasets import mall_customers_path
from custseg.exceptions import InputFileError, ModelFileError
from custseg.modelfile import load_model
from custseg.pipeline import RunResult, compare, run
from custseg.runfolder import CHANGES_FILE, MIGRATION_FILE, MODEL_FILE, TRANSITIONS_FILE
from custseg.tracking.changes import RunFacts, compare_runs, match_runs
from custseg.tracking.drift import AtypicalCounter
from custseg.tracking.history import read_history
from custseg.tracking.migration import MigrationCounter, customer_keys
from custseg.tracking.previous import load_previous
from tests.conftest import ENGINES

INCOME, SPENDING = "Annual Income (k$)", "Spending Score (1-100)"
#: Month 1: four well-separated groups of customers (income, spending) and their sizes.
GROUPS = {"A": ((30, 20), 300), "B": ((30, 80), 250), "C": ((90, 20), 200), "D": ((90, 80), 150)}
AVERAGE = "Average income · Average spending"
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
    # The later extract lists its customers in another order.
    month2 = pd.concat([month2, new_a, new_e], ignore_index=True).sample(frac=1.0, random_state=5)
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


def _files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if not p.name.startswith(".")}


# --------------------------------------------------------------------------- run --previous

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
    assert changes["previous_run"] == "2026-01"
    assert changes["new"] == [{"id": 4, "name": names2[4]}]
    assert changes["retired"] == []
    assert sorted(m["id"] for m in changes["matched"]) == [0, 1, 2, 3]
    assert all(m["name"] == m["previous_name"] for m in changes["matched"])
    assert names2[4] == AVERAGE
    assert second.changes.match.new_ids == (4,)


def test_every_migration_count_equals_a_hand_count_of_the_clustered_files(months, runs):
    _, month1, month2, _ = months
    first, second = runs
    before = pd.read_csv(first.outputs["clustered"])[["CustomerID", "Cluster"]]
    after = pd.read_csv(second.outputs["clustered"])[["CustomerID", "Cluster"]]
    both = after.merge(before, on="CustomerID", suffixes=("_new", "_previous"))  # later run's order
    hand = pd.crosstab(both["Cluster_previous"], both["Cluster_new"])
    counts = second.changes.transitions.counts
    assert counts.index.tolist() == [0, 1, 2, 3]
    assert counts.columns.tolist() == [0, 1, 2, 3, 4]
    expected = hand.reindex(index=counts.index, columns=counts.columns, fill_value=0)
    np.testing.assert_array_equal(counts.to_numpy(), expected.to_numpy())

    migration = second.changes.migration
    moved = int((both["Cluster_previous"] != both["Cluster_new"]).sum())
    assert migration.n_both == len(both)
    assert migration.n_moved == moved
    assert migration.n_new == len(after) - len(both)
    assert migration.n_departed == len(before) - len(both)
    assert second.changes.transitions.diagonal_percent == pytest.approx(100 * (len(both) - moved) / len(both))

    # ... and the generator's truth: 40 customers of A moved to B, 210 are new, 10% departed.
    ids = _id_of(first, month1)
    truth = month1[["CustomerID", "group"]].merge(month2[["CustomerID", "group"]], on="CustomerID",
                                                  suffixes=("_before", "_after"))
    truth_counts = pd.crosstab(truth["group_before"].map(ids), truth["group_after"].map(ids))
    np.testing.assert_array_equal(
        counts.to_numpy(), truth_counts.reindex(index=counts.index, columns=counts.columns,
                                                fill_value=0).to_numpy())
    customers = second.changes.to_dict()["customers"]
    assert customers == {"both": len(truth), "moved": 40, "new": 210, "departed": len(month1) - len(truth),
                         "stayed_percent": pytest.approx(100 * (len(truth) - 40) / len(truth), abs=1e-4)}

    # migration.csv: one line per customer of both runs, in the later run's order.
    written = pd.read_csv(second.outputs["migration"])
    assert written.columns.tolist() == ["customer_id", "previous_segment", "new_segment"]
    assert written["customer_id"].tolist() == both["CustomerID"].tolist()
    assert written["previous_segment"].tolist() == both["Cluster_previous"].tolist()
    assert written["new_segment"].tolist() == both["Cluster_new"].tolist()
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
    transitions = pd.read_csv(second.outputs["transitions"])
    assert len(transitions) == 4 * 5
    assert transitions["customers"].sum() == second.changes.migration.n_both


def test_the_history_records_the_previous_run(months, runs):
    records = read_history(months[0] / "runs")
    assert [r["run"] for r in records] == ["2026-01", "2026-02"]
    assert records[1]["previous"] == "2026-01"
    assert records[0].get("previous") is None
    assert [s["id"] for s in records[1]["segments"]] == [int(i) for i in runs[1].segment_ids]


def test_same_data_other_seed_keeps_every_id_and_name(tmp_path, mall_run):
    again = run(RunConfig(out=tmp_path / "again", seed=123, previous=mall_run.config.out))
    assert [(s.cluster, s.name) for s in again.segments] == [(s.cluster, s.name) for s in mall_run.segments]
    assert again.changes.transitions.diagonal_percent == 100.0
    assert again.changes.migration.n_both == mall_run.n_clustered
    assert again.changes.recommendation.action == "keep"
    psi = again.changes.psi.set_index("feature")["psi"]
    assert (psi == 0).all()
    assert not again.changes.splits_merges.sentences


def test_a_model_file_alone_matches_but_cannot_count_migration(tmp_path, mall_run):
    again = run(RunConfig(out=tmp_path / "again", previous=mall_run.outputs["model"]))
    assert again.changes.migration is None
    assert again.changes.transitions is None
    assert again.changes.psi is None
    assert again.changes.splits_merges is None
    assert "without its customers" in again.changes.notes[0]
    assert [s.name for s in again.segments] == mall_run.names
    assert "migration" not in again.outputs
    assert "transitions" not in again.outputs
    assert not (tmp_path / "again" / MIGRATION_FILE).exists()
    assert "customers" not in again.changes.to_dict()


def test_previous_run_on_other_features_is_refused(tmp_path, mall_run):
    with pytest.raises(ModelFileError, match="segments cannot be matched"):
        run(RunConfig(out=tmp_path / "x", features=("Age", SPENDING), previous=mall_run.config.out))
    assert not (tmp_path / "x").exists()


def test_previous_that_is_not_a_run_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputFileError, match="not a custseg run folder"):
        run(RunConfig(out=tmp_path / "x", previous=tmp_path / "empty"))


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


def test_a_retired_segment_id_is_never_given_again(months, runs, tmp_path):
    _, _, _, (path1, _) = months
    first, _ = runs
    merged = run(RunConfig(input=path1, k=3, previous=first.config.out, out=tmp_path / "merged"))
    retired = set(merged.changes.match.retired_ids)
    assert retired
    used = sorted({0, 1, 2, 3} | set(merged.segment_ids.tolist()))
    assert json.loads(merged.outputs["summary"].read_text(encoding="utf-8"))["used_segment_ids"] == used
    back = run(RunConfig(input=path1, k=4, previous=merged.config.out, out=tmp_path / "back"))
    new_ids = back.changes.match.new_ids
    assert new_ids  # a segment is back that the merged run did not have...
    assert min(new_ids) > max(used)  # ...and it gets a fresh id, not a retired one
    assert not retired & set(back.segment_ids.tolist())
    summary = json.loads(back.outputs["summary"].read_text(encoding="utf-8"))
    assert summary["used_segment_ids"] == sorted({*used, *new_ids})


def test_a_new_segment_named_like_a_kept_segment_gets_a_number(months, tmp_path):
    _, _, month2, (path1, path2) = months
    names = tmp_path / "names.yaml"
    # Group A is given the name the new group E will be generated with in month 2.
    names.write_text(f"Low income · Low spending: {AVERAGE}\n", encoding="utf-8")
    first = run(RunConfig(input=path1, k=4, names=names, out=tmp_path / "runs" / "jan"))
    second = run(RunConfig(input=path2, k=5, previous=first.config.out, out=tmp_path / "runs" / "feb",
                           seed=7))
    ids = _id_of(second, month2)
    names2 = {s.cluster: s for s in second.segments}
    assert names2[ids["A"]].name == AVERAGE  # kept
    assert names2[ids["E"]].generated_name == AVERAGE
    assert names2[ids["E"]].name == f"{AVERAGE} 2"
    assert len({s.slug for s in second.segments}) == 5
    assert second.changes.to_dict()["new"] == [{"id": ids["E"], "name": f"{AVERAGE} 2"}]
    segment_files = [k for k in second.outputs if k.startswith("segment:")]
    assert len(segment_files) == 5
    assert {s.name for s in second.segments} == {*(s.name for s in first.segments), f"{AVERAGE} 2"}


# --------------------------------------------------------------------------- reading a run back

@pytest.mark.parametrize("output_format", ["csv", "parquet"])
def test_load_previous_reads_a_run_folder(months, tmp_path, output_format):
    _, _, _, (path1, _) = months
    first = run(RunConfig(input=path1, k=4, out=tmp_path / "jan", output_format=output_format))
    clustered = (pd.read_csv(first.outputs["clustered"]) if output_format == "csv"
                 else pd.read_parquet(first.outputs["clustered"]))
    # The clustered file keeps the input's cells (text in Parquet): compare as numbers and text.
    clustered = clustered.astype({"CustomerID": str, INCOME: float, SPENDING: float, "Cluster": int})
    batches = []
    previous = load_previous(first.config.out, callbacks=[lambda *batch: batches.append(batch)])
    assert previous.name == "jan"
    assert previous.features == (INCOME, SPENDING)
    assert previous.segment_ids.tolist() == first.segment_ids.tolist()
    assert previous.names == tuple(first.names)
    assert previous.used_ids == (0, 1, 2, 3)
    assert previous.sizes() == {int(i): int(n) for i, n in zip(first.segment_ids, first.sizes, strict=True)}
    np.testing.assert_allclose(previous.centers, first.segmenter.cluster_centers_original_)

    # Every customer, keyed by id, with the segment of the clustered file.
    assert previous.has_customers
    assert len(previous.customers) == first.n_clustered == len(clustered)
    at = previous.customers.lookup(customer_keys(pa.array(clustered["CustomerID"]), np.arange(len(clustered))))
    assert (at >= 0).all()
    assert previous.customers.labels[at].tolist() == clustered["Cluster"].tolist()

    # The callbacks saw every customer, in the file's order.
    ids, rows, segments, values = (np.concatenate([np.asarray(b[i]) for b in batches]) for i in range(4))
    assert [str(i) for i in ids] == clustered["CustomerID"].tolist()
    assert rows.tolist() == list(range(2, len(clustered) + 2))
    assert segments.tolist() == clustered["Cluster"].tolist()
    np.testing.assert_array_equal(values, clustered[[INCOME, SPENDING]].to_numpy())

    # Fewer customers than the sample holds: all of them; the radii come from it.
    assert len(previous.sample_values) == len(clustered)
    expected = sorted(map(tuple, np.column_stack([clustered[[INCOME, SPENDING]], clustered["Cluster"]])))
    got = sorted(map(tuple, np.column_stack([previous.sample_values, previous.sample_labels])))
    assert got == expected
    radii = previous.radii()
    assert radii.shape == (4,)
    assert np.isfinite(radii).all()
    assert (radii > 0).all()


def test_load_previous_samples_the_same_customers_every_time(runs):
    first, _ = runs
    one = load_previous(first.config.out, sample_rows=100)
    two = load_previous(first.config.out, sample_rows=100)
    assert one.sample_values.shape == (100, 2)
    np.testing.assert_array_equal(one.sample_values, two.sample_values)
    np.testing.assert_array_equal(one.sample_labels, two.sample_labels)
    clustered = pd.read_csv(first.outputs["clustered"])
    rows = set(map(tuple, np.column_stack([clustered[[INCOME, SPENDING]], clustered["Cluster"]])))
    assert all(r in rows for r in map(tuple, np.column_stack([one.sample_values, one.sample_labels])))
    assert len(one.customers) == first.n_clustered  # the sample limits the sample only


def test_load_previous_of_a_model_file_or_of_something_else(runs, tmp_path):
    first, _ = runs
    model_only = load_previous(first.config.out / MODEL_FILE)
    assert not model_only.has_customers
    assert model_only.sample_values is None
    assert model_only.radii() is None
    assert model_only.names == tuple(first.names)
    with pytest.raises(InputFileError, match="not a custseg run folder"):
        load_previous(tmp_path)


# --------------------------------------------------------------------------- comparing runs

def _count_later(earlier, later_folder):
    """The later run's customers, read back in batches, counted against the earlier run's."""
    later_model = load_model(Path(later_folder) / MODEL_FILE)
    counter = MigrationCounter(earlier.customers, earlier.segment_ids, later_model.clusters)
    model = earlier.model
    atypical = AtypicalCounter(model.mean, model.scale, model.centroids, model.thresholds)

    def feed(ids, rows, segments, values):
        counter.count(ids, rows, segments)
        atypical.count(values)

    later = load_previous(later_folder, callbacks=[feed])
    return later, counter.result(), atypical.share


def test_compare_runs_of_two_run_folders_gives_what_the_run_gave(runs):
    first, second = runs
    earlier = load_previous(first.config.out)
    later, migration, atypical = _count_later(earlier, second.config.out)
    current = RunFacts.of(later)
    assert current.name == "2026-02"
    changes = compare_runs(earlier, current, migration=migration, atypical=atypical)
    assert changes.to_dict() == second.changes.to_dict()
    assert changes.notes == []
    assert changes.transitions.counts.equals(second.changes.transitions.counts)
    # A match made beforehand is used as given.
    match = match_runs(earlier, current.centers, current.features)
    assert compare_runs(earlier, current, match=match, migration=migration).match is match


def test_compare_runs_without_migration_reports_what_it_can(runs):
    first, second = runs
    earlier = load_previous(first.config.out)
    current = RunFacts.of(load_previous(second.config.out))
    changes = compare_runs(earlier, current)
    assert changes.migration is None
    assert changes.transitions is None
    assert changes.splits_merges is None
    assert changes.moves == []
    assert changes.atypical is None
    assert changes.match.new_ids == (4,)
    assert changes.psi is not None  # both samples are known
    assert changes.sizes["status"].tolist().count("new") == 1
    assert changes.recommendation.action == "refit"
    assert "customers" not in changes.to_dict()
    assert changes.transition_table().empty


def test_compare_of_two_run_folders_writes_the_three_files(runs, tmp_path):
    first, second = runs
    changes, written = compare(first.config.out, second.config.out, tmp_path / "cmp")
    out = tmp_path / "cmp"
    assert set(written) == {"migration", "transitions", "changes"}
    assert _files(out) == {MIGRATION_FILE, TRANSITIONS_FILE, CHANGES_FILE}
    assert written["migration"] == out / MIGRATION_FILE
    # The same comparison the run made with --previous, the same migration.csv.
    assert changes.to_dict() == second.changes.to_dict()
    assert (out / MIGRATION_FILE).read_bytes() == second.outputs["migration"].read_bytes()
    assert json.loads((out / CHANGES_FILE).read_text(encoding="utf-8")) == json.loads(
        json.dumps(changes.to_dict()))
    table = pd.read_csv(out / TRANSITIONS_FILE)
    assert len(table) == 4 * 5
    counts = changes.transitions.counts
    for row in table.itertuples():
        assert row.customers == counts.at[row.previous, row.current]
    # Without a folder nothing is written.
    again, nothing = compare(first.config.out, second.config.out)
    assert nothing == {}
    assert again.to_dict() == changes.to_dict()


def test_compare_with_a_model_file_as_the_earlier_run_says_why_there_is_no_migration(runs, tmp_path):
    first, second = runs
    changes, written = compare(first.config.out / MODEL_FILE, second.config.out, tmp_path / "cmp")
    assert changes.migration is None
    assert "without its customers" in changes.notes[0]
    assert changes.atypical is not None
    assert 0 < changes.atypical < 1
    assert set(written) == {"changes"}
    assert _files(tmp_path / "cmp") == {CHANGES_FILE}
    assert json.loads((tmp_path / "cmp" / CHANGES_FILE).read_text(encoding="utf-8"))["notes"] == changes.notes


def test_compare_with_a_model_file_as_the_later_run_counts_no_migration(runs, tmp_path):
    """The later run's customers are unknown: no customer may be reported departed."""
    first, second = runs
    try:
        changes, written = compare(first.config.out, second.config.out / MODEL_FILE, tmp_path / "cmp")
    except InputFileError:
        return  # refusing it is right too
    assert changes.migration is None, (
        f"{changes.migration.n_departed} customers reported departed from a model file")
    assert "migration" not in written


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
    assert _files(written) == {MIGRATION_FILE, TRANSITIONS_FILE, CHANGES_FILE}
    result = runner.invoke(app, ["history", str(tmp_path)])
    assert result.exit_code == 3
    assert "No run history" in result.stderr


# --------------------------------------------------------------------------- awkward customers

def test_without_an_id_column_customers_are_their_rows_even_with_rejected_rows(tmp_path):
    """Same file twice, no id column, one invalid row: every valid customer is in both runs and
    none moved (each is its row of the input in both)."""
    frame = pd.read_csv(mall_customers_path()).drop(columns="CustomerID")
    frame[INCOME] = frame[INCOME].astype(object)
    frame.loc[2, INCOME] = "n/a?"  # spreadsheet row 4 is rejected
    path = tmp_path / "no_ids.csv"
    frame.to_csv(path, index=False)
    first = run(RunConfig(input=path, k=5, out=tmp_path / "jan"))
    assert first.id_column is None
    assert first.n_rejected == 1
    second = run(RunConfig(input=path, k=5, out=tmp_path / "feb", previous=first.config.out))
    migration = second.changes.migration
    assert (migration.n_both, migration.n_new, migration.n_departed) == (199, 0, 0)
    assert migration.n_moved == 0
    assert second.changes.transitions.diagonal_percent == 100.0


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["batches-1", "batches-7"])
def test_migration_csv_is_the_same_bytes_on_every_engine_when_ids_need_quotes(tmp_path, engine):
    frame = pd.read_csv(mall_customers_path())
    frame["CustomerID"] = frame["CustomerID"].astype(str)
    frame.loc[5, "CustomerID"] = "C,6"  # an id a CSV has to quote
    path = tmp_path / "customers.csv"
    frame.to_csv(path, index=False)
    files = {}
    for name in ("memory", engine):
        options = ENGINES[name]
        jan = run(RunConfig(input=path, k=5, out=tmp_path / name / "jan", **options))
        feb = run(RunConfig(input=path, k=5, seed=3, out=tmp_path / name / "feb", previous=jan.config.out,
                            **options))
        assert feb.changes.migration.n_both == 200
        files[name] = feb.outputs["migration"].read_bytes()
        back = pd.read_csv(feb.outputs["migration"], dtype={"customer_id": str})
        assert back["customer_id"].tolist() == frame["CustomerID"].tolist()
    assert files["memory"] == files[engine]
