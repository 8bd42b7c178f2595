"""What changed between two runs: segment identity, customer migration and drift.

:func:`compare_runs` takes a finished run (:class:`~custseg.tracking.previous.PreviousRun`) and
the facts of a later one (:class:`RunFacts`): it matches the later run's segments to the earlier
ones (:mod:`custseg.tracking.matching`), takes the customers' migration counted batch by batch
(:mod:`custseg.tracking.migration`), reads splits and merges from it
(:mod:`custseg.tracking.flows`), and measures drift (:mod:`custseg.tracking.drift`).

``custseg run --previous PATH`` uses it to give the new segments the previous ids and names;
``custseg compare RUN_A RUN_B`` to report on any two runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from custseg.exceptions import ModelFileError
from custseg.tracking.drift import Recommendation, psi_table, recommend, size_changes
from custseg.tracking.flows import SplitsMerges, detect_splits_merges
from custseg.tracking.matching import SegmentMatch, match_segments
from custseg.tracking.migration import Migration, TransitionMatrix, biggest_moves
from custseg.tracking.previous import PreviousRun


@dataclass(frozen=True, eq=False)
class RunFacts:
    """A later run, as comparing it with an earlier one needs it.

    Attributes
    ----------
    name : str
        How messages refer to it.
    features : tuple of str
        Feature names.
    centers : numpy.ndarray
        Centroids in original units, by segment position.
    segment_ids : numpy.ndarray
        Stable id of each position.
    names : tuple of str
        Name of each position.
    sizes : dict of int to int
        Customers per stable id (exact).
    sample_values : numpy.ndarray or None
        A seeded uniform sample of its customers' feature values (for drift).
    """

    name: str
    features: tuple[str, ...]
    centers: np.ndarray
    segment_ids: np.ndarray
    names: tuple[str, ...]
    sizes: dict[int, int]
    sample_values: np.ndarray | None = None

    def name_of(self) -> dict[int, str]:
        """Stable id -> segment name."""
        return {int(i): n for i, n in zip(self.segment_ids, self.names, strict=True)}

    @classmethod
    def of(cls, run: PreviousRun) -> RunFacts:
        """The facts of a finished run read back from its folder."""
        return cls(run.name, run.features, run.centers, run.segment_ids, run.names, run.sizes(),
                   run.sample_values)


@dataclass(frozen=True, eq=False)
class RunChanges:
    """Everything that changed from ``previous`` to ``current``.

    Attributes
    ----------
    previous : PreviousRun
        The earlier run.
    current : RunFacts
        The later run.
    match : SegmentMatch
        Which current segment continues which previous one.
    migration : Migration or None
        Customers of both runs and where they went (None: the earlier run is a model file).
    splits_merges : SplitsMerges or None
        Splits and merges read from the customer flows.
    moves : list of str
        The biggest moves, in words.
    psi : pandas.DataFrame or None
        Population stability index per feature, on the runs' samples.
    sizes : pandas.DataFrame
        Segment size changes.
    atypical : float or None
        Share of current customers atypical under the previous model (every customer counted).
    recommendation : Recommendation
        Keep the previous model and re-score, or re-fit, and why.
    notes : list of str
        What could not be compared, and why.
    """

    previous: PreviousRun
    current: RunFacts
    match: SegmentMatch
    migration: Migration | None
    splits_merges: SplitsMerges | None
    moves: list[str]
    psi: pd.DataFrame | None
    sizes: pd.DataFrame
    atypical: float | None
    recommendation: Recommendation
    notes: list[str] = field(default_factory=list)

    @property
    def transitions(self) -> TransitionMatrix | None:
        """Customers per (previous, current) segment (None without the previous customers)."""
        return None if self.migration is None else self.migration.transitions

    def to_dict(self) -> dict:
        """JSON-ready summary (the ``changes`` block of ``segments.json``)."""
        prev_names, cur_names = self.previous.name_of(), self.current.name_of()
        out = {
            "previous_run": self.previous.name,
            "matched": [{"id": int(self.previous.segment_ids[p]), "previous_name": self.previous.names[p],
                         "name": self.current.names[n], "distance": round(float(d), 6)}
                        for p, n, d in self.match.pairs],
            "new": [{"id": int(self.current.segment_ids[n]), "name": self.current.names[n]}
                    for n in self.match.new],
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
        if self.migration is not None:
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


def match_runs(previous: PreviousRun, centers: np.ndarray, features: tuple[str, ...], *,
               threshold: float | None = None) -> SegmentMatch:
    """Match segments with centroids ``centers`` (original units) to ``previous``'s segments.

    Distances are taken in the previous model's scaled space; the default threshold is the
    median radius of the previous segments (:func:`custseg.tracking.matching.default_threshold`).

    Raises
    ------
    ModelFileError
        When the runs were made on different features.
    """
    if tuple(previous.features) != tuple(features):
        raise ModelFileError(f"The previous run {previous.name} was segmented on "
                             f"{', '.join(previous.features)}, this one on "
                             f"{', '.join(features)}: segments cannot be matched. Use the same "
                             "--features as the previous run.")
    return match_segments(previous.scaled(previous.centers), previous.scaled(centers),
                          threshold=threshold, previous_ids=[int(i) for i in previous.segment_ids],
                          previous_radii=previous.radii(),
                          used_ids=set(previous.used_ids) | {int(i) for i in previous.segment_ids})


def compare_runs(previous: PreviousRun, current: RunFacts, *, match: SegmentMatch | None = None,
                 migration: Migration | None = None, atypical: float | None = None,
                 threshold: float | None = None) -> RunChanges:
    """Match, migrate and measure drift from ``previous`` to ``current``.

    Parameters
    ----------
    previous : PreviousRun
        The earlier run.
    current : RunFacts
        The later run, with its final (stable) segment ids.
    match : SegmentMatch, optional
        A match already made (:func:`match_runs`).
    migration : Migration, optional
        The customers' migration, counted while the later run's customers went by
        (:class:`custseg.tracking.migration.MigrationCounter`).
    atypical : float, optional
        Share of the later run's customers atypical under the previous model
        (:class:`custseg.tracking.drift.AtypicalCounter`).
    threshold : float, optional
        Largest centroid distance accepted as the same segment (see :func:`match_runs`).
    """
    notes: list[str] = []
    if match is None:
        match = match_runs(previous, current.centers, current.features, threshold=threshold)
    prev_names, cur_names = previous.name_of(), current.name_of()
    splits = None
    moves: list[str] = []
    if migration is not None:
        splits = detect_splits_merges(migration.transitions.counts, prev_names=prev_names,
                                      new_names=cur_names)
        moves = biggest_moves(migration.transitions, prev_names, cur_names)
    else:
        notes.append(f"The previous run {previous.name} is a model file without its customers: "
                     "migration and PSI are not computed (pass the run folder instead).")
    psi = None
    if previous.sample_values is not None and current.sample_values is not None \
            and len(previous.sample_values) and len(current.sample_values):
        psi = psi_table(previous.sample_values, current.sample_values, list(current.features))
    sizes = size_changes(previous.sizes(), current.sizes)
    advice = recommend(psi if psi is not None else {}, sizes, atypical, match, names=prev_names)
    return RunChanges(previous, current, match, migration, splits, moves, psi, sizes, atypical,
                      advice, notes)
