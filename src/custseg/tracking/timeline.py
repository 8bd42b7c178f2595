"""The monthly view's backbone: every usable run of a folder in order, one id for the same segment
across all of them, and what happened between consecutive runs.

Segment ids across the runs
---------------------------
The first run keeps its segment ids. A run made with ``--previous`` the run before it (a
*recorded* link) already carries that run's ids: they are kept (mapped through the earlier run's
ids when those were themselves inferred). A run that was not chained to the run before it is
matched to it on the fly, exactly as ``custseg run --previous`` would
(:func:`custseg.tracking.changes.match_runs`: Hungarian matching of the centroids in the earlier
run's scaled space, threshold the median radius of its segments): a matched segment takes the
earlier id, an unmatched one a fresh id never used before in the view. Such a link is
*inferred*, and the page says so.

Flows between consecutive runs
------------------------------
Recorded links give their flows from the later run's files, without reading a customer
(:func:`custseg.tracking.links.recorded_flows`). Other links are counted: each run's customers
file is read once, in batches (:func:`custseg.tracking.previous.load_previous`); the earlier
run's customers are kept as sorted 64-bit keys (16 bytes a customer) while the later run's
stream past a :class:`~custseg.tracking.migration.MigrationCounter`. At most two runs' keys are
held at a time, whatever the number of runs.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
import pyarrow as pa

from custseg.exceptions import CustsegError
from custseg.tracking.changes import RunChanges, RunFacts, compare_runs, match_runs
from custseg.tracking.drift import AtypicalCounter
from custseg.tracking.links import Flows, Link, is_chained, recorded_flows
from custseg.tracking.matching import SegmentMatch
from custseg.tracking.migration import MigrationCounter, PreviousCustomers
from custseg.tracking.previous import CustomerCallback, PreviousRun, load_previous
from custseg.tracking.runset import RunInfo, RunSet, find_runs

#: Status of a segment in a run: the first run's, kept from the run before, new, retired.
FIRST, KEPT, NEW, RETIRED = "first", "kept", "new", "retired"


class CustomerObserver(Protocol):
    """Sees every customer of every run read while the view is built (``custseg journey``)."""

    def batch(self, index: int, ids: pa.ChunkedArray | None, rows: np.ndarray,
              segments: np.ndarray) -> None:
        """A batch of run ``index``'s customers: ids (None: row numbers), rows, view segment ids."""

    def done(self, index: int, complete: bool) -> None:
        """Run ``index``'s customers were all seen (``complete``) or could not be read."""


@dataclass(frozen=True, eq=False)
class Step:
    """One run of the view.

    Attributes
    ----------
    run : RunInfo
        The run.
    ids : dict of int to int
        The run's own segment id -> the view's segment id.
    link : Link or None
        What happened since the run before (None for the first run).
    """

    run: RunInfo
    ids: dict[int, int]
    link: Link | None = None

    @property
    def sizes(self) -> dict[int, int]:
        """View segment id -> customers."""
        return {self.ids[o]: n for o, n in self.run.sizes.items()}

    @property
    def names(self) -> dict[int, str]:
        """View segment id -> the segment's name in this run."""
        return {self.ids[o]: n for o, n in self.run.names.items()}


@dataclass(frozen=True, eq=False)
class Timeline:
    """Every usable run of a folder, oldest first, in one set of segment ids.

    Attributes
    ----------
    folder : pathlib.Path
        The folder holding the runs.
    steps : tuple of Step
        The runs.
    notes : tuple of str
        Runs left out, gaps, links whose flows are unknown...: one sentence each.
    skipped : dict of str to str
        Runs left out, and why.
    """

    folder: Path
    steps: tuple[Step, ...]
    notes: tuple[str, ...] = ()
    skipped: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def runs(self) -> list[str]:
        """The runs' names, oldest first."""
        return [s.run.name for s in self.steps]

    @property
    def features(self) -> tuple[str, ...]:
        """The features of every run."""
        return self.steps[-1].run.features

    @property
    def links(self) -> list[Link]:
        """What happened between consecutive runs."""
        return [s.link for s in self.steps if s.link is not None]

    @property
    def segments(self) -> list[int]:
        """Every view segment id of any run, ascending."""
        return sorted({i for s in self.steps for i in s.ids.values()})

    def current_names(self) -> dict[int, str]:
        """Each segment's name in the latest run that has it."""
        names: dict[int, str] = {}
        for step in self.steps:
            names.update(step.names)
        return names

    def status(self, index: int, segment: int) -> str | None:
        """``first``, ``kept``, ``new`` or ``retired`` (gone since the run before), or None."""
        here = segment in self.steps[index].sizes
        before = index > 0 and segment in self.steps[index - 1].sizes
        if here:
            return FIRST if index == 0 else (KEPT if before else NEW)
        return RETIRED if before else None

    def size_frame(self) -> pd.DataFrame:
        """Customers per segment (rows, view ids) and run (columns); NaN where absent."""
        return pd.DataFrame({s.run.name: pd.Series(s.sizes, dtype="float64") for s in self.steps},
                            index=pd.Index(self.segments, name="segment"))

    def sizes_table(self) -> pd.DataFrame:
        """``history_sizes.csv``: one row per (run, segment) present or retired since the run
        before: ``run``, ``date``, ``segment``, ``name`` (in that run), ``current_name``,
        ``customers``, ``share_percent``, ``status``."""
        current = self.current_names()
        rows = []
        for index, step in enumerate(self.steps):
            total = step.run.customers
            for segment in self.segments:
                status = self.status(index, segment)
                if status is None:
                    continue
                n = step.sizes.get(segment, 0)
                rows.append((step.run.name, step.run.date, segment,
                             step.names.get(segment, self.steps[index - 1].names.get(segment)),
                             current[segment], n, round(100.0 * n / total, 4) if total else 0.0, status))
        return pd.DataFrame(rows, columns=["run", "date", "segment", "name", "current_name",
                                           "customers", "share_percent", "status"])

    def flows_table(self) -> pd.DataFrame:
        """``history_flows.csv``: one row per non-empty flow between consecutive runs:
        ``from_run``, ``to_run``, ``link`` (``recorded`` or ``inferred``), ``flow`` (``stayed``,
        ``moved``, ``new``, ``departed``), ``from_segment``, ``from_name``, ``to_segment``,
        ``to_name``, ``customers``. Links whose flows are unknown have no rows."""
        parts = []
        for before, step in zip(self.steps, self.steps[1:], strict=False):
            link = step.link
            if link is None or link.flows is None:
                continue
            table = link.flows.table()
            table.insert(0, "from_run", before.run.name)
            table.insert(1, "to_run", step.run.name)
            table.insert(2, "link", "inferred" if link.inferred else "recorded")
            table.insert(5, "from_name", table["from_segment"].map(before.names))
            table["to_name"] = table["to_segment"].map(step.names)
            parts.append(table)
        columns = ["from_run", "to_run", "link", "flow", "from_segment", "from_name", "to_segment",
                   "to_name", "customers"]
        if not parts:
            return pd.DataFrame(columns=columns)
        return pd.concat(parts, ignore_index=True)[columns]


def _lookup(ids: dict[int, int]) -> Callable[[np.ndarray], np.ndarray]:
    """Own segment ids -> view ids, vectorised (-1 for an id the run does not have)."""
    table = np.full(max(ids) + 2, -1, dtype=np.int64)
    for own, view in ids.items():
        table[own] = view

    def convert(values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=np.int64)
        inside = (values >= 0) & (values < len(table))
        return np.where(inside, table[np.where(inside, values, len(table) - 1)], -1)

    return convert


def _in_view(run: PreviousRun, ids: dict[int, int], used: set[int]) -> PreviousRun:
    """``run`` with its segment ids turned into the view's."""
    convert = _lookup(ids)
    model = dataclasses.replace(run.model, clusters=convert(run.model.clusters))
    customers = (None if run.customers is None
                 else PreviousCustomers(run.customers.keys, convert(run.customers.labels)))
    labels = None if run.sample_labels is None else convert(run.sample_labels)
    return PreviousRun(run.name, model, tuple(sorted(used)), customers, run.sample_values, labels)


def _chained_ids(run: RunInfo, before: dict[int, int], used: set[int]) -> dict[int, int]:
    """A recorded link: ids shared with the run before map as its ids do; others stay when free."""
    taken = set(used)
    ids: dict[int, int] = {}
    for own in run.segment_ids:
        if own in before:
            ids[own] = before[own]
            continue
        view = own if own not in taken else max(taken) + 1
        ids[own] = view
        taken.add(view)
    return ids


def _recommendation(changes: RunChanges) -> dict:
    r = changes.recommendation
    return {"action": r.action, "message": r.message, "reasons": list(r.reasons)}


def _recorded_drift(run: RunInfo) -> tuple[dict[str, float], dict | None]:
    changes = run.changes or {}
    psi = {str(p["feature"]): float(p["psi"]) for p in changes.get("psi") or []
           if isinstance(p, dict) and isinstance(p.get("psi"), int | float)}
    rec = changes.get("recommendation")
    return psi, rec if isinstance(rec, dict) and rec.get("action") else None


class _Walk:
    """Builds the steps one run after another, holding at most two runs' customers."""

    def __init__(self, runset: RunSet, observer: CustomerObserver | None) -> None:
        self.runset = runset
        self.observer = observer
        runs = runset.runs
        self.chained = [False] + [is_chained(a, b) for a, b in itertools.pairwise(runs)]
        self.recorded: list[Flows | None] = [None] + [
            recorded_flows(a, b) if chained else None
            for a, b, chained in zip(runs[:-1], runs[1:], self.chained[1:], strict=True)]
        self.steps: list[Step] = []
        self.notes: list[str] = list(runset.notes)
        self.used: set[int] = set()
        self.held: PreviousRun | None = None  # the run before, in view ids

    def needs_customers(self, index: int) -> bool:
        runs = self.runset.runs
        return (self.observer is not None or (index > 0 and self.recorded[index] is None)
                or (index + 1 < len(runs) and self.recorded[index + 1] is None))

    def model_only(self, run: RunInfo, ids: dict[int, int]) -> PreviousRun:
        return _in_view(PreviousRun(run.name, run.model), ids, self.used)

    def load(self, index: int, ids: dict[int, int], callbacks: Sequence[CustomerCallback]
             ) -> tuple[PreviousRun, bool]:
        """Read run ``index``'s customers once, handing each batch (in view ids) to ``callbacks``."""
        run, convert = self.runset.runs[index], _lookup(ids)

        def feed(cid, rows, segments, values) -> None:
            view = convert(segments)
            for callback in callbacks:
                callback(cid, rows, view, values)
            if self.observer is not None:
                self.observer.batch(index, cid, rows, view)

        try:
            loaded = load_previous(run.folder, callbacks=[feed])
        except CustsegError as exc:
            self.notes.append(f"The customers of {run.name} could not be read ({exc}); its flows "
                              "are not shown.")
            complete = False
            loaded = PreviousRun(run.name, run.model)
        else:
            complete = loaded.has_customers
            if not complete:
                self.notes.append(f"{run.name} has no customers file: the flows to and from it are "
                                  "not shown.")
        if self.observer is not None:
            self.observer.done(index, complete)
        return _in_view(loaded, ids, self.used), complete

    def step(self, index: int) -> None:
        run = self.runset.runs[index]
        before = self.steps[-1] if self.steps else None
        match: SegmentMatch | None = None
        if before is None:
            ids = {own: own for own in run.segment_ids}
        elif self.chained[index]:
            ids = _chained_ids(run, before.ids, self.used)
        else:
            held = self.held or self.model_only(before.run, before.ids)
            held = dataclasses.replace(held, used_ids=tuple(sorted(self.used)))
            match = match_runs(held, run.model.centroids_original, run.features)
            ids = {own: match.ids[p] for p, own in enumerate(run.segment_ids)}
        self.used |= set(ids.values())
        counter = atypical = None
        callbacks: list[CustomerCallback] = []
        held = self.held
        if before is not None and self.recorded[index] is None and held is not None \
                and held.customers is not None:
            counter = MigrationCounter(held.customers, held.segment_ids, [ids[o] for o in run.segment_ids])
            callbacks.append(lambda cid, rows, segments, values: counter.count(cid, rows, segments))
            model = held.model
            if model.thresholds is not None:
                atypical = AtypicalCounter(model.mean, model.scale, model.centroids, model.thresholds,
                                        model.prepare)
                callbacks.append(lambda cid, rows, segments, values: atypical.count(values))
        current, complete = (self.load(index, ids, callbacks) if self.needs_customers(index)
                             else (None, False))
        step = Step(run, ids)
        link = None
        if before is not None:
            link = self.link(before, step, match, current,
                             counter if complete else None, atypical if complete else None)
        self.steps.append(dataclasses.replace(step, link=link))
        self.held = current

    def link(self, before: Step, step: Step, match: SegmentMatch | None, current: PreviousRun | None,
             counter: MigrationCounter | None, atypical: AtypicalCounter | None) -> Link:
        run, index = step.run, len(self.steps)
        recorded = self.recorded[index]
        notes: list[str] = []
        flows, source, changes, migration = None, "unknown", None, None
        if recorded is not None:
            flows, source = recorded.relabel(before.ids, step.ids), "recorded"
        elif counter is not None:
            migration = counter.result()
            flows, source = Flows.of_migration(migration, before.sizes, step.sizes), "counted"
            if not flows.consistent:
                notes.append(f"The customers files of {before.run.name} and {run.name} do not add up "
                             "to their segment sizes: the flows between them are not shown.")
                flows, source, migration = None, "unknown", None
        else:
            notes.append(f"The flows from {before.run.name} to {run.name} are unknown: the customers "
                         "of both runs are needed.")
        psi, recommendation = _recorded_drift(run) if self.chained[index] else ({}, None)
        if self.held is not None and (source == "counted" or not psi or recommendation is None):
            facts = RunFacts(run.name, run.features, run.model.centroids_original,
                             np.array([step.ids[o] for o in run.segment_ids]),
                             tuple(run.model.names), step.sizes,
                             None if current is None else current.sample_values)
            try:
                changes = compare_runs(self.held, facts, match=match,
                                       migration=migration,
                                       atypical=None if atypical is None else atypical.share)
            except CustsegError as exc:
                notes.append(f"Drift from {before.run.name} to {run.name} could not be measured: {exc}")
        if changes is not None:
            if changes.psi is not None and (source == "counted" or not psi):
                psi = {r.feature: float(r.psi) for r in changes.psi.itertuples()}
            if source == "counted" or recommendation is None:
                recommendation = _recommendation(changes)
        self.notes.extend(notes)
        sentences = () if flows is None else tuple(flows.sentences(before.names, step.names, run.name))
        return Link(before.run.name, run.name, not self.chained[index], flows, source, psi,
                    recommendation, self.runset.days.get(run.name), run.name in self.runset.gaps,
                    sentences, tuple(notes))


def build_timeline(runs: RunSet | str | Path, *, observer: CustomerObserver | None = None) -> Timeline:
    """Every usable run in one set of segment ids, with the flows and drift between consecutive
    runs (module notes: how ids are kept or matched, where flows come from).

    Parameters
    ----------
    runs : RunSet, str or pathlib.Path
        The runs (:func:`custseg.tracking.runset.find_runs`), or the folder holding them.
    observer : CustomerObserver, optional
        Shown every customer of every run, in view segment ids (then every run is read).

    Returns
    -------
    Timeline

    Raises
    ------
    InputFileError
        When the folder holds no usable run.

    Examples
    --------
    >>> import tempfile
    >>> from custseg.config import RunConfig
    >>> from custseg.pipeline import run
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = run(RunConfig(k=5, out=folder / "jan"))
    >>> _ = run(RunConfig(k=5, out=folder / "feb", previous=folder / "jan"))
    >>> view = build_timeline(folder)
    >>> view.runs, view.links[0].source, view.links[0].flows.stayed
    (['jan', 'feb'], 'recorded', 200)
    """
    runset = runs if isinstance(runs, RunSet) else find_runs(runs)
    walk = _Walk(runset, observer)
    for index in range(len(runset.runs)):
        walk.step(index)
    return Timeline(runset.folder, tuple(walk.steps), tuple(walk.notes), dict(runset.skipped))
