"""``--previous`` inside a run: stable ids and names before the assignment pass, migration and
atypical customers counted during it, the comparison after it. The same on every engine."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from custseg.engines.base import AssignedBatch
from custseg.io.csvsafe import TableWriter
from custseg.runfolder import MIGRATION_FILE
from custseg.segmentation.estimator import Segmenter
from custseg.tracking.changes import RunChanges, RunFacts, compare_runs, match_runs
from custseg.tracking.drift import AtypicalCounter
from custseg.tracking.migration import MigrationCounter
from custseg.tracking.previous import PreviousRun


class PreviousComparison:
    """A run's comparison with a previous run, built up stage by stage.

    Parameters
    ----------
    previous : PreviousRun
        The previous run.
    segmenter : Segmenter
        This run's fit (centroids in segment order).
    features : tuple of str
        This run's features (they must be the previous run's).

    Attributes
    ----------
    ids : numpy.ndarray
        Stable id of each of this run's segments: a matched previous segment's, or a fresh one.
    inherited : dict of int to str
        Name kept from the previous run, by segment position.
    written : dict of str to pathlib.Path
        Files written during the assignment pass (``migration.csv``).
    """

    def __init__(self, previous: PreviousRun, segmenter: Segmenter, features: tuple[str, ...]
                 ) -> None:
        self.previous = previous
        self.features = features
        self.match = match_runs(previous, segmenter.cluster_centers_original_, features)
        k = segmenter.cluster_centers_.shape[0]
        self.ids = np.array([self.match.ids[p] for p in range(k)], dtype=np.int64)
        self.inherited = {n: previous.names[p] for p, n, _ in self.match.pairs}
        model = previous.model
        self.atypical = (None if model.thresholds is None else
                         AtypicalCounter(model.mean, model.scale, model.centroids, model.thresholds,
                                        model.prepare))
        self.counter: MigrationCounter | None = None
        self.writer: TableWriter | None = None
        self.written: dict[str, Path] = {}

    def observer(self, id_column: str | None, staging: Path | None, plain: bool) -> _Feed:
        """The assignment pass's observer: migration (``migration.csv`` into ``staging``, in one
        quoting style: ``plain`` when no customer id needs quotes) and atypical customers."""
        if self.previous.customers is not None:
            if staging is not None:
                self.written["migration"] = staging / MIGRATION_FILE
                self.writer = TableWriter(self.written["migration"], plain=plain)
            self.counter = MigrationCounter(self.previous.customers, self.previous.segment_ids,
                                            self.ids, self.writer)
        return _Feed(self, id_column)

    def close(self) -> None:
        """Finish ``migration.csv``."""
        if self.writer is not None:
            self.writer.close()

    def changes(self, result: object) -> RunChanges:
        """The comparison, once the run's result is known."""
        current = RunFacts("this run", self.features, result.segmenter.cluster_centers_original_,
                           self.ids, tuple(result.names),
                           {int(i): int(n) for i, n in zip(self.ids, result.sizes, strict=True)},
                           result.sample.values)
        return compare_runs(self.previous, current, match=self.match,
                            migration=None if self.counter is None else self.counter.result(),
                            atypical=None if self.atypical is None else self.atypical.share)


class _Feed:
    """Hands each assigned batch's customers to the migration and atypical counters.

    Without an id column a customer is its position among the valid rows (2, 3, ...: its row in
    the clustered file), as a later run reading this one back will number it.
    """

    #: An engine joining natively reads :attr:`comparison` (:mod:`custseg.engines.base`).
    native = "previous_run"

    def __init__(self, comparison: PreviousComparison, id_column: str | None) -> None:
        self.comparison = comparison
        self.id_column = id_column
        self.position = 2

    def observe(self, batch: AssignedBatch) -> None:
        comparison = self.comparison
        rows = np.arange(self.position, self.position + len(batch), dtype=np.int64)
        self.position += len(batch)
        if comparison.counter is not None:
            ids = batch.table.column(self.id_column) if self.id_column else None
            comparison.counter.count(ids, rows, comparison.ids[batch.labels])
        if comparison.atypical is not None:
            comparison.atypical.count(batch.values)
