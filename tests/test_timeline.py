"""The monthly view's backbone: one segment id across runs, flows and drift between consecutive runs,
whether the runs were chained with --previous or matched on the fly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from custseg.tracking.links import DEPARTED, MOVED, NEW, STAYED
from custseg.tracking.timeline import FIRST, KEPT, RETIRED, Timeline, build_timeline
from tests.history_support import (
    DATES,
    MIXED,
    RUNS,
    N,
    clustered,
    copy_runs,
    runs,
    segments_by_customer,
    true_flows,
)


@pytest.fixture(scope="module")
def views() -> dict[str, Timeline]:
    return {kind: build_timeline(runs(kind)) for kind in ("chained", "independent", "mixed")}


@pytest.mark.parametrize("kind", ["chained", "independent", "mixed"])
def test_every_run_in_order_with_its_links(views, kind):
    view = views[kind]
    assert view.runs == RUNS
    assert [s.run.date for s in view.steps] == DATES
    assert view.skipped == {}
    assert [link.before for link in view.links] == RUNS[:-1]
    inferred = {"chained": [False] * 2, "independent": [True] * 2,
                "mixed": [not chained for _, chained in MIXED[1:]]}[kind]
    assert [link.inferred for link in view.links] == inferred
    assert [link.source for link in view.links] == ["counted" if i else "recorded" for i in inferred]
    assert all(link.days == pytest.approx(d) for link, d in zip(view.links, [29, 31], strict=True))
    assert not any(link.gap for link in view.links)
    assert view.notes == ()


@pytest.mark.parametrize("kind", ["chained", "independent", "mixed"])
def test_flows_are_the_customers_own_moves(views, kind):
    """Every link's flows equal a join of the two runs' clustered files on the customer id."""
    view = views[kind]
    for before, step in zip(view.steps, view.steps[1:], strict=False):
        flows = step.link.flows
        prev = segments_by_customer(before.run.folder, before.ids)
        cur = segments_by_customer(step.run.folder, step.ids)
        counts, departed, new = true_flows(prev, cur)
        expected = counts.reindex(index=flows.counts.index, columns=flows.counts.columns, fill_value=0)
        np.testing.assert_array_equal(flows.counts.to_numpy(), expected.to_numpy())
        assert flows.departed.to_dict() == departed.reindex(flows.departed.index, fill_value=0).to_dict()
        assert flows.new.to_dict() == new.reindex(flows.new.index, fill_value=0).to_dict()
        assert flows.both + flows.departed.sum() == before.run.customers == N
        assert flows.both + flows.new.sum() == step.run.customers
        assert 0 < flows.moved < flows.stayed


def test_matching_on_the_fly_finds_the_recorded_ids(views):
    """Independent runs get, on the fly, the ids and flows the chained runs recorded."""
    chained, independent = views["chained"], views["independent"]
    for a, b in zip(chained.steps, independent.steps, strict=True):
        assert a.sizes == b.sizes
        assert a.names == b.names
        if a.link is not None:
            pd.testing.assert_frame_equal(a.link.flows.counts, b.link.flows.counts, check_names=False)
            assert a.link.sentences == b.link.sentences
            assert set(a.link.psi) == set(b.link.psi) == {"Annual Income (k$)", "Spending Score (1-100)"}
            for feature, value in a.link.psi.items():
                assert b.link.psi[feature] == pytest.approx(value, abs=1e-4)  # recorded: 4 decimals
            assert a.link.recommendation["action"] == b.link.recommendation["action"]


def test_new_and_retired_segments_keep_ids_through_an_inferred_link(views):
    view = views["mixed"]
    assert [len(s.sizes) for s in view.steps] == [k for k, _ in MIXED]
    first, k6, k4 = view.steps
    new = set(k6.sizes) - set(first.sizes)
    assert len(new) == 1
    assert min(new) > max(first.sizes)
    assert set(k4.sizes) <= set(k6.sizes)  # K = 4 was chained to the K = 6 run: its ids continue
    retired = set(k6.sizes) - set(k4.sizes)
    assert len(retired) == 2
    assert [view.status(1, i) for i in sorted(new)] == ["new"]
    assert {view.status(2, i) for i in retired} == {RETIRED}
    assert {view.status(0, i) for i in first.sizes} == {FIRST}
    assert view.status(0, min(new)) is None
    # The K = 4 run's own ids are the K = 6 run's, which were matched to January's on the fly.
    assert k4.ids == {own: k6.ids[own] for own in k4.run.segment_ids}
    assert k6.link.inferred
    assert not k4.link.inferred


def test_sizes_table(views):
    view = views["mixed"]
    table = view.sizes_table()
    assert table.columns.tolist() == ["run", "date", "segment", "name", "current_name", "customers",
                                      "share_percent", "status"]
    for step in view.steps:
        rows = table[(table["run"] == step.run.name) & (table["status"] != RETIRED)]
        assert dict(zip(rows["segment"], rows["customers"], strict=True)) == step.sizes
        assert rows["share_percent"].sum() == pytest.approx(100.0, abs=0.01)
    retired = table[table["status"] == RETIRED]
    assert retired["run"].tolist() == [RUNS[2]] * 2
    assert retired["customers"].tolist() == [0, 0]
    assert set(table.loc[table["run"] == RUNS[1], "status"]) == {KEPT, NEW}
    names = view.current_names()
    assert (table["current_name"] == table["segment"].map(names)).all()


def test_flows_table(views):
    view = views["mixed"]
    table = view.flows_table()
    assert table.columns.tolist() == ["from_run", "to_run", "link", "flow", "from_segment", "from_name",
                                      "to_segment", "to_name", "customers"]
    assert set(table["flow"]) == {STAYED, MOVED, NEW, DEPARTED}
    assert (table["customers"] > 0).all()
    for link in view.links:
        rows = table[(table["from_run"] == link.before) & (table["to_run"] == link.after)]
        assert set(rows["link"]) == {"inferred" if link.inferred else "recorded"}
        assert rows["customers"].sum() == link.flows.both + link.flows.departed.sum() + link.flows.new.sum()
        assert rows.loc[rows["flow"] == NEW, "from_segment"].isna().all()
        assert rows.loc[rows["flow"] == DEPARTED, "to_segment"].isna().all()
        stayed = rows[rows["flow"] == STAYED]
        assert (stayed["from_segment"] == stayed["to_segment"]).all()


def test_biggest_moves_in_words(views):
    link = views["independent"].links[0]
    moves = link.sentences[:3]
    counts = link.flows.counts
    largest = max(int(counts.at[p, c]) for p in counts.index for c in counts.columns if p != c)
    assert moves[0].startswith(f"{largest:,} ")
    assert moves[0].endswith(f"in {RUNS[1]}.")
    assert " customers moved to " in moves[0]
    assert link.sentences[-1].startswith(f"{link.flows.new.sum():,} new customers joined")


@pytest.mark.parametrize("damage", ["missing", "garbled"])
def test_unreadable_customers_file_leaves_its_flows_unknown(tmp_path, damage):
    folder = copy_runs("independent", tmp_path)
    path = clustered(folder / RUNS[1])
    if damage == "missing":
        path.unlink()
    else:
        path.write_text("CustomerID,Annual Income (k$),Spending Score (1-100),Cluster\n1,2,3,x\n",
                        encoding="utf-8")
    view = build_timeline(folder)
    assert view.runs == RUNS  # the run is still shown: its sizes come from the model file
    assert [link.flows is None for link in view.links] == [True, True]
    assert view.links[0].source == "unknown"
    assert any(RUNS[1] in note for note in view.notes)
    assert view.steps[1].sizes  # its ids were still matched (from the model file)


def test_observer_sees_every_customer_of_every_run_once(views):
    class Count:
        def __init__(self):
            self.rows, self.finished = {}, []

        def batch(self, index, ids, rows, segments):
            self.rows[index] = self.rows.get(index, 0) + len(rows)
            assert (segments >= 0).all()

        def done(self, index, complete):
            self.finished.append((index, complete))

    count = Count()
    view = build_timeline(runs("chained"), observer=count)
    assert count.rows == {i: s.run.customers for i, s in enumerate(view.steps)}
    assert count.finished == [(i, True) for i in range(len(RUNS))]
