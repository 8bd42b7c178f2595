"""``custseg compare RUN_A RUN_B``: migration and drift between two finished runs, read back from
their folders in batches (memory does not grow with the later run)."""

from __future__ import annotations

from pathlib import Path

from custseg.exceptions import InputFileError
from custseg.io.csvsafe import TableWriter
from custseg.io.outfolder import OutputFolder
from custseg.modelfile import load_model
from custseg.outputs.write import write_changes
from custseg.runfolder import MIGRATION_FILE, MODEL_FILE
from custseg.tracking.changes import RunChanges, RunFacts, compare_runs
from custseg.tracking.drift import AtypicalCounter
from custseg.tracking.migration import MigrationCounter
from custseg.tracking.previous import load_previous


def compare(run_a: str | Path, run_b: str | Path, out: str | Path | None = None
            ) -> tuple[RunChanges, dict[str, Path]]:
    """Compare the later run ``run_b`` with ``run_a``; write the files into ``out`` when given.

    Parameters
    ----------
    run_a, run_b : str or pathlib.Path
        Run folders (``run_a`` may be a model file alone), the earlier first.
    out : str or pathlib.Path, optional
        Folder for ``migration.csv``, ``transition_matrix.csv`` and ``changes.json``, written all
        at once.

    Returns
    -------
    (RunChanges, dict)
        The comparison and the files written, by name.
    """
    if out is None:
        return _compare(run_a, run_b, None)[0], {}
    with OutputFolder(Path(out)) as folder:
        changes, written = _compare(run_a, run_b, folder.path)
    return changes, {name: Path(out) / path.relative_to(folder.path)
                     for name, path in written.items()}


def _compare(run_a: str | Path, run_b: str | Path, staging: Path | None
             ) -> tuple[RunChanges, dict[str, Path]]:
    if not (Path(run_b) / MODEL_FILE).is_file():
        raise InputFileError(f"{run_b} is not a custseg run folder ({MODEL_FILE} not found): the "
                             "later run of a comparison needs its customers. Pass its --out folder.")
    earlier = load_previous(run_a)
    later_model = load_model(Path(run_b) / MODEL_FILE)
    model = earlier.model
    atypical = (None if model.thresholds is None else
                AtypicalCounter(model.mean, model.scale, model.centroids, model.thresholds))
    written: dict[str, Path] = {}
    writer = counter = None
    if earlier.customers is not None:
        if staging is not None:
            written["migration"] = staging / MIGRATION_FILE
            writer = TableWriter(written["migration"])
        counter = MigrationCounter(earlier.customers, earlier.segment_ids, later_model.clusters,
                                   writer)

    def feed(ids, rows, segments, values) -> None:
        if counter is not None:
            counter.count(ids, rows, segments)
        if atypical is not None:
            atypical.count(values)

    try:
        later = load_previous(run_b, callbacks=[feed])
    finally:
        if writer is not None:
            writer.close()
    changes = compare_runs(earlier, RunFacts.of(later),
                           migration=None if counter is None else counter.result(),
                           atypical=None if atypical is None else atypical.share)
    if staging is not None:
        written.update(write_changes(changes, staging))
    return changes, written
