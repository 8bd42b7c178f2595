"""What changed between two runs: segment identity, customer migration and drift.

A run is summarised as a :class:`RunSnapshot` (its scaler, centroids, stable segment ids and
names, and, when known, each customer's id, segment and feature values). :func:`compare_runs`
matches the later run's segments to the earlier ones (:mod:`custseg.tracking`), joins their
customers (:mod:`custseg.migration`), and measures drift (:mod:`custseg.drift`).

``custseg run --previous PATH`` uses it to give the new segments the previous ids and names;
``custseg compare RUN_A RUN_B`` to report on any two runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from custseg.data.validate import parse_numbers
from custseg.drift import Recommendation, atypical_share, psi_table, recommend, size_changes
from custseg.engines.swap import squared_distances
from custseg.exceptions import InputFileError, ModelFileError
from custseg.migration import Migration, TransitionMatrix, biggest_moves, migration_table, transition_matrix
from custseg.tracking import SegmentMatch, SplitsMerges, detect_splits_merges, match_segments, segment_radii

if TYPE_CHECKING:
    from custseg.modelfile import SegmentModel
    from custseg.pipeline import RunResult

SUMMARY_FILE = "segments.json"
CLUSTER_COLUMN = "Cluster"


@dataclass(frozen=True, eq=False)
class RunSnapshot:
    """One run, as needed to compare it with another.

    Attributes
    ----------
    name : str
        How messages refer to the run (its folder).
    features : tuple of str
        Feature names.
    mean, scale : numpy.ndarray
        The run's scaler (scaled = (x - mean) / scale).
    centers : numpy.ndarray
        Centroids in original units, shape (k, d), in segment position order.
    segment_ids : numpy.ndarray
        Stable id (``Cluster`` value) of each position.
    names : tuple of str
        Name of each position.
    thresholds : numpy.ndarray or None
        Atypical-distance threshold of each position (scaled space).
    customer_ids : numpy.ndarray or None
        Each customer's id as text; ``labels``: their ``Cluster`` (stable id); ``values``:
        their feature values. ``None`` when only the model is known.
    used_ids : tuple of int
        Every segment id this run's lineage has used (new segments never reuse one).
    """

    name: str
    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    centers: np.ndarray
    segment_ids: np.ndarray
    names: tuple[str, ...]
    thresholds: np.ndarray | None = None
    customer_ids: np.ndarray | None = None
    labels: np.ndarray | None = None
    values: np.ndarray | None = None
    used_ids: tuple[int, ...] = ()

    @property
    def has_customers(self) -> bool:
        """True when the customers (ids, segments, values) are known."""
        return self.customer_ids is not None

    def scaled(self, X: np.ndarray) -> np.ndarray:
        """``X`` (original units) in this run's scaled space."""
        return (np.asarray(X, dtype=np.float64) - self.mean) / self.scale

    def positions(self, labels: np.ndarray) -> np.ndarray:
        """Segment positions of stable ids."""
        return _positions(self.segment_ids, labels)

    def sizes(self) -> dict[int, int]:
        """Customers per stable id (from the customers when known)."""
        if self.labels is None:
            return {}
        ids, counts = np.unique(self.labels, return_counts=True)
        out = dict.fromkeys((int(i) for i in self.segment_ids), 0)
        out.update({int(i): int(n) for i, n in zip(ids, counts, strict=True)})
        return out

    def name_of(self) -> dict[int, str]:
        """Stable id -> segment name."""
        return {int(i): n for i, n in zip(self.segment_ids, self.names, strict=True)}


def snapshot_from_result(result: RunResult, name: str = "this run") -> RunSnapshot:
    """The snapshot of a run computed in this process."""
    seg = result.segmenter
    ids = result.segment_ids
    customer_ids = result.customer_ids
    return RunSnapshot(
        name=name, features=tuple(result.features.names),
        mean=np.asarray(seg.scaler_.mean_, float), scale=np.asarray(seg.scaler_.scale_, float),
        centers=np.asarray(seg.cluster_centers_original_, float), segment_ids=np.asarray(ids),
        names=tuple(result.names), customer_ids=customer_ids, labels=ids[result.labels],
        values=result.features.values)


def snapshot_from_model(model: SegmentModel, name: str) -> RunSnapshot:
    """The snapshot of a model file alone (no customers: no migration, no PSI)."""
    return RunSnapshot(name=name, features=tuple(model.features), mean=model.mean, scale=model.scale,
                       centers=model.centroids_original, segment_ids=np.asarray(model.clusters),
                       names=tuple(model.names), thresholds=model.thresholds)


def load_snapshot(path: str | Path) -> RunSnapshot:
    """Read a previous run: a run folder (model, clustered customers) or a model file.

    Raises
    ------
    InputFileError
        When ``path`` is neither a custseg run folder nor a model file.
    """
    from custseg.modelfile import MODEL_FILE, load_model

    path = Path(path)
    if path.is_file():
        return snapshot_from_model(load_model(path), path.name)
    if not (path / MODEL_FILE).is_file():
        raise InputFileError(f"{path} is not a custseg run folder or model file ({MODEL_FILE} not "
                             "found). Pass the --out folder of an earlier `custseg run`.")
    model = load_model(path / MODEL_FILE)
    snapshot = snapshot_from_model(model, path.name)
    clustered = _clustered_file(path)
    if clustered is None:
        return snapshot
    columns = [*model.input_columns, CLUSTER_COLUMN]
    if model.id_input_column is not None:
        columns.append(model.id_input_column)
    try:
        if clustered.suffix == ".parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(clustered, columns=columns)
        else:
            table = pacsv.read_csv(clustered, convert_options=pacsv.ConvertOptions(
                include_columns=columns, column_types=dict.fromkeys(columns, "string")))
    except Exception as exc:
        raise InputFileError(f"Cannot read the previous run's customers from {clustered}: "
                             f"{str(exc).splitlines()[0]}.") from None
    values = np.column_stack([parse_numbers(table.column(c))[0] for c in model.input_columns])
    labels = np.asarray(parse_numbers(table.column(CLUSTER_COLUMN))[0], dtype=np.int64)
    ids = (table.column(model.id_input_column).cast(pa.string()).to_numpy(zero_copy_only=False).astype(str)
           if model.id_input_column is not None else
           np.arange(2, table.num_rows + 2).astype(str))  # row numbers, as the run used
    return RunSnapshot(**{**snapshot.__dict__, "customer_ids": ids, "labels": labels, "values": values,
                          "used_ids": _used_ids(path)})


def _clustered_file(folder: Path) -> Path | None:
    summary = folder / SUMMARY_FILE
    if summary.is_file():
        try:
            name = json.loads(summary.read_text(encoding="utf-8")).get("files", {}).get("clustered")
        except (json.JSONDecodeError, AttributeError):
            name = None
        if name and (folder / name).is_file():
            return folder / name
    found = sorted([*folder.glob("*_clustered.csv"), *folder.glob("*_clustered.parquet")])
    return found[0] if found else None


def _used_ids(folder: Path) -> tuple[int, ...]:
    try:
        data = json.loads((folder / SUMMARY_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return ()
    return tuple(int(i) for i in data.get("used_segment_ids", []))


@dataclass(frozen=True, eq=False)
class RunChanges:
    """Everything that changed from ``previous`` to ``current``.

    Attributes
    ----------
    previous, current : RunSnapshot
        The two runs (``current`` with the stable ids of :attr:`ids`).
    match : SegmentMatch
        Which current segment continues which previous one.
    ids : dict of int to int
        Stable id of each current position.
    migration : Migration or None
        Customers present in both runs and their segments (None without customers).
    transitions : TransitionMatrix or None
        Customers per (previous, current) segment.
    splits_merges : SplitsMerges or None
        Splits and merges read from the customer flows.
    moves : list of str
        The biggest moves, in words.
    psi : pandas.DataFrame or None
        Population stability index per feature.
    sizes : pandas.DataFrame
        Segment size changes.
    atypical : float or None
        Share of current customers atypical under the previous model.
    recommendation : Recommendation
        Keep the previous model and re-score, or re-fit, and why.
    """

    previous: RunSnapshot
    current: RunSnapshot
    match: SegmentMatch
    ids: dict[int, int]
    migration: Migration | None
    transitions: TransitionMatrix | None
    splits_merges: SplitsMerges | None
    moves: list[str]
    psi: pd.DataFrame | None
    sizes: pd.DataFrame
    atypical: float | None
    recommendation: Recommendation
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-ready summary (the ``changes`` block of ``segments.json``)."""
        prev_names, cur_names = self.previous.name_of(), self.current.name_of()
        out = {
            "previous_run": self.previous.name,
            "matched": [{"id": int(self.previous.segment_ids[p]), "previous_name": self.previous.names[p],
                         "name": self.current.names[n], "distance": round(float(d), 6)}
                        for p, n, d in self.match.pairs],
            "new": [{"id": self.ids[n], "name": self.current.names[n]} for n in self.match.new],
            "retired": [{"id": int(self.previous.segment_ids[p]), "name": self.previous.names[p]}
                        for p in self.match.retired],
            "threshold": round(float(self.match.threshold), 6),
            "moves": list(self.moves),
            "splits": [s for s in (self.splits_merges.sentences if self.splits_merges else [])
                       if "split" in s],
            "merges": [s for s in (self.splits_merges.sentences if self.splits_merges else [])
                       if "merge" in s],
            "atypical_share": None if self.atypical is None else round(self.atypical, 6),
            "recommendation": {"action": self.recommendation.action,
                               "message": self.recommendation.message,
                               "reasons": list(self.recommendation.reasons)},
            "notes": list(self.notes),
        }
        if self.migration is not None and self.transitions is not None:
            counts, pct = self.transitions.counts, self.transitions.percent
            out["customers"] = {"both": self.migration.n_both, "moved": self.migration.n_moved,
                                "new": self.migration.n_new, "departed": self.migration.n_departed,
                                "stayed_percent": _round(self.transitions.diagonal_percent)}
            out["transitions"] = [
                {"previous": int(p), "previous_name": prev_names.get(int(p), ""), "current": int(c),
                 "current_name": cur_names.get(int(c), ""), "customers": int(counts.at[p, c]),
                 "percent_of_previous": _round(pct.at[p, c])}
                for p in counts.index for c in counts.columns]
        if self.psi is not None:
            out["psi"] = [{"feature": r.feature, "psi": _round(r.psi), "reading": r.reading}
                          for r in self.psi.itertuples()]
        out["sizes"] = [{"id": int(i), **{k: (_round(v) if isinstance(v, float) else
                                               (int(v) if isinstance(v, np.integer) else v))
                                           for k, v in row.items()}}
                        for i, row in self.sizes.iterrows()]
        return out

    def transition_table(self) -> pd.DataFrame:
        """Long form of the transition matrix (``transition_matrix.csv``)."""
        return pd.DataFrame(self.to_dict().get("transitions", []))


def _round(value: float) -> float | None:
    value = float(value)
    return round(value, 4) if np.isfinite(value) else None


def match_runs(previous: RunSnapshot, centers: np.ndarray, features: tuple[str, ...], *,
               threshold: float | None = None) -> SegmentMatch:
    """Match segments with centroids ``centers`` (original units) to ``previous``'s segments.

    Distances are taken in the previous model's scaled space; the default threshold is the
    median radius of the previous segments (:func:`custseg.tracking.default_threshold`).
    """
    if tuple(previous.features) != tuple(features):
        raise ModelFileError(f"The previous run {previous.name} was segmented on "
                             f"{', '.join(previous.features)}, this one on "
                             f"{', '.join(features)}: segments cannot be matched. Use the same "
                             "--features as the previous run.")
    radii = None
    if previous.has_customers:
        radii = segment_radii(previous.scaled(previous.values), previous.positions(previous.labels),
                              len(previous.segment_ids))
    return match_segments(previous.scaled(previous.centers), previous.scaled(centers),
                          threshold=threshold, previous_ids=[int(i) for i in previous.segment_ids],
                          previous_radii=radii,
                          used_ids=set(previous.used_ids) | {int(i) for i in previous.segment_ids})


def compare_runs(previous: RunSnapshot, current: RunSnapshot, *, assign_new_ids: bool = True,
                 threshold: float | None = None, match: SegmentMatch | None = None) -> RunChanges:
    """Match, migrate and measure drift from ``previous`` to ``current``.

    Parameters
    ----------
    previous, current : RunSnapshot
        The runs, oldest first.
    assign_new_ids : bool, default True
        Give ``current``'s segments the previous ids (``run --previous``). False keeps the ids
        ``current`` already has (``custseg compare`` of two finished runs).
    threshold : float, optional
        Largest centroid distance (previous scaled space) accepted as the same segment; default
        :func:`custseg.tracking.default_threshold` from the previous segments' radii.
    match : SegmentMatch, optional
        A match already made (:func:`match_runs`).
    """
    notes: list[str] = []
    if match is None:
        match = match_runs(previous, current.centers, current.features, threshold=threshold)
    if assign_new_ids:
        ids = {int(p): int(i) for p, i in match.ids.items()}
        relabel = np.array([ids[p] for p in range(len(current.segment_ids))])
        labels = (None if current.labels is None
                  else relabel[_positions(current.segment_ids, current.labels)])
        current = RunSnapshot(**{**current.__dict__, "segment_ids": relabel, "labels": labels})
    else:
        ids = {p: int(i) for p, i in enumerate(current.segment_ids)}
    prev_names, cur_names = previous.name_of(), current.name_of()
    migration = transitions = splits = None
    moves: list[str] = []
    if previous.has_customers and current.has_customers:
        migration = migration_table(previous.customer_ids, previous.labels, current.customer_ids,
                                    current.labels)
        transitions = transition_matrix(migration, [int(i) for i in previous.segment_ids],
                                        [int(i) for i in current.segment_ids])
        splits = detect_splits_merges(transitions.counts, prev_names=prev_names, new_names=cur_names)
        moves = biggest_moves(transitions, prev_names, cur_names)
    else:
        notes.append(f"The previous run {previous.name} is a model file without its customers: "
                     "migration and PSI are not computed (pass the run folder instead).")
    psi = (psi_table(previous.values, current.values, list(current.features))
           if previous.values is not None and current.values is not None else None)
    prev_sizes = previous.sizes()
    sizes = size_changes(prev_sizes, current.sizes()) if prev_sizes else size_changes(
        {}, current.sizes())
    atypical = None
    if previous.thresholds is not None and current.values is not None:
        Z = previous.scaled(current.values)
        d2 = squared_distances(Z, previous.scaled(previous.centers))
        nearest = d2.argmin(axis=1)
        atypical = atypical_share(np.sqrt(d2[np.arange(len(Z)), nearest]), nearest, previous.thresholds)
    advice = recommend(psi if psi is not None else {}, sizes, atypical, match, names=prev_names)
    return RunChanges(previous, current, match, ids, migration, transitions, splits, moves, psi, sizes,
                      atypical, advice, notes)


def _positions(segment_ids: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Position of each stable id in ``labels`` (``segment_ids[position] == id``)."""
    segment_ids = np.asarray(segment_ids, dtype=np.int64)
    top = int(max(segment_ids.max(), labels.max() if len(labels) else 0)) + 1
    lookup = np.full(top, -1, dtype=np.int64)
    lookup[segment_ids] = np.arange(len(segment_ids))
    return lookup[np.asarray(labels, dtype=np.int64)]
