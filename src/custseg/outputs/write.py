"""Write a run's outputs into its (staging) output folder; the run commits the folder at once.

Files (names in :mod:`custseg.runfolder`):

``<input stem>_clustered.csv`` and ``segments/<segment-slug>.csv``
    Written during the assignment pass (:mod:`custseg.outputs.clustered`).
``kmeans_customer_segmentation_model.pkl``
    scikit-learn Pipeline (scaler + KMeans): ``joblib.load(p).predict(df[features])``
    reproduces ``Cluster``. A pickle runs code when loaded: load only files you trust.
``rejected_rows.csv``
    Only when rows were rejected: row, customer_id, column, value, reason.
``segments.json``
    Machine-readable summary (JSON Schema: ``custseg/schemas/segments.schema.json``).
``segment_profiles.csv``
    One row per segment and one for all customers.
``report.html``
    Everything on one self-contained page (see :mod:`custseg.report.html`).
``segments_model.custseg.json``
    custseg's own model file: loading it runs no code (:mod:`custseg.modelfile`).
``migration.csv``, ``transition_matrix.csv``
    With ``--previous``: each customer present in both runs with their previous and new segment
    (written during the assignment pass), and customers per (previous, new) segment.
``figures/*.png``
    Histograms, feature scatter, elbow, K-choice criteria, segment map, silhouette.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import joblib

from custseg.exceptions import OutputError
from custseg.io.columns import resolve_column
from custseg.io.csvsafe import TableWriter, write_csv, write_json
from custseg.io.outfolder import OutputFolder
from custseg.io.rejects import RejectStore
from custseg.modelfile import save_model
from custseg.outputs.summary import k_choice_summary, run_summary
from custseg.progress import NullProgress, Progress
from custseg.report.figures import (
    FigureInputs,
    fit_jobs,
    k_selection_figures,
    k_selection_jobs,
    render_figures,
    sample_jobs,
)
from custseg.report.html import prepare_report, write_report
from custseg.runfolder import (
    CHANGES_FILE,
    FIGURES_DIR,
    K_SELECTION_FILE,
    MODEL_FILE,
    MODEL_PICKLE,
    PROFILES_FILE,
    REJECTS_FILE,
    REPORT_FILE,
    SUMMARY_FILE,
    TRANSITIONS_FILE,
    clustered_file_name,
)
from custseg.tracking.changes import RunChanges
from custseg.tracking.history import history_dir_for, record_run, run_record

if TYPE_CHECKING:
    import numpy as np

    from custseg.engines.sample import Sample
    from custseg.pipeline.result import KChoiceResult, RunResult
    from custseg.report.rendering import BackgroundFigures
    from custseg.segmentation.estimator import Segmenter
    from custseg.segmentation.selection import KSelection

_GENDER = "Gender"


def write_outputs(result: RunResult, root: Path, rejects: RejectStore,
                  progress: Progress | None = None,
                  figures: BackgroundFigures | None = None) -> dict[str, Path]:
    """Write every output of ``result`` but the clustered files into ``root``.

    Parameters
    ----------
    result : RunResult
        The run.
    root : pathlib.Path
        The staging output folder (the clustered files are already in it).
    rejects : RejectStore
        The run's rejected records (still on disk while the engine is open).
    progress : Progress, optional
        Where to show progress.
    figures : BackgroundFigures, optional
        The run's figures, started early (:func:`start_figures`): only the rest is drawn here.

    Returns
    -------
    dict of str to pathlib.Path
        The files written, by name.
    """
    progress = progress or NullProgress()
    written: dict[str, Path] = {}
    with progress.task("Writing the summary, the model and the rejects"):
        if rejects.count:
            written["rejects"] = write_rejects(rejects, root / REJECTS_FILE)
        written["profiles"] = write_csv(result.profiles.to_frame(result.names, result.segment_ids),
                                        root / PROFILES_FILE)
        if result.changes is not None and result.changes.migration is not None:
            written["transitions"] = write_csv(result.changes.transition_table(),
                                               root / TRANSITIONS_FILE)
        clustered = clustered_file_name(result.source.name if result.source.path else None,
                                        result.config.output_format)
        summary = run_summary(result, {"clustered": clustered, "model": MODEL_FILE})
        written["summary"] = write_json(summary, root / SUMMARY_FILE)
        written["model"] = save_model(result.model(), root / MODEL_FILE)
        written["model_pickle"] = root / MODEL_PICKLE
        joblib.dump(result.segmenter.to_pipeline(result.segment_ids), written["model_pickle"])
    with progress.task("Drawing figures"):
        prepare_report()  # while the figure worker draws
        for name, path in render_figures(figure_inputs(result), root / FIGURES_DIR,
                                         figures).items():
            written[f"figure:{name}"] = path
    with progress.task("Writing the report"):
        written["report"] = write_report(summary, root / FIGURES_DIR, root / REPORT_FILE)
    return written


def figure_inputs(result: RunResult) -> FigureInputs:
    """What a run's figures are drawn from (its sample, fit, K choice and changes)."""
    return sample_figure_inputs(result.sample, result.sample_labels, result.n_clustered,
                                result.features, result.names, result.segmenter,
                                result.k_selection, result.silhouette_sample, result.config.seed,
                                changes=result.changes)


def sample_figure_inputs(sample: Sample, labels: np.ndarray, population: int,
                         features: tuple[str, ...], names: list[str], segmenter: Segmenter,
                         selection: KSelection, silhouette: tuple[np.ndarray, np.ndarray],
                         seed: int, changes: RunChanges | None = None) -> FigureInputs:
    """:class:`FigureInputs` from a run's parts (before its result exists)."""
    return FigureInputs(values=sample.values, labels=labels, population=population,
                        features=features, names=names, segmenter=segmenter,
                        k_selection=selection, silhouette=silhouette, hue=_hue(sample),
                        changes=changes, seed=seed)


def _hue(sample: Sample) -> np.ndarray | None:
    """The sample's Gender cells (to colour the features' scatter), if it has such a column."""
    table = sample.table
    gender = resolve_column(_GENDER, table.column_names) if table is not None else None
    return table.column(gender).to_numpy(zero_copy_only=False) if gender else None


def start_sample_figures(figures: BackgroundFigures, sample: Sample, population: int,
                         features: tuple[str, ...], seed: int) -> None:
    """Start drawing the data's figures in the background while K is chosen, on one drawing
    process (the K choice has the cores first)."""
    figures.start(sample_jobs(sample.values, features, _hue(sample), seed, population),
                  spread=False)


def start_k_figures(figures: BackgroundFigures, selection: KSelection) -> None:
    """Start drawing the K choice's figures in the background (while K-Means is fitted)."""
    figures.start(k_selection_jobs(selection))


def start_fit_figures(figures: BackgroundFigures, inputs: FigureInputs) -> None:
    """Start drawing the fit's figures in the background (while the customers are assigned
    and written)."""
    figures.start(fit_jobs(inputs))


def write_rejects(rejects: RejectStore, path: Path) -> Path:
    """``rejected_rows.csv`` from the spilled rejects (one quoting style for the whole file).

    Rejects an engine keeps elsewhere (Spark's) write themselves, as a dataset at ``path``.
    """
    if hasattr(rejects, "write_dataset"):
        rejects.write_dataset(path)
        return path
    with TableWriter(path, plain=not rejects.structural) as writer:
        for table in rejects.batches():
            writer.write(table)
    return path


def write_changes(changes: RunChanges, root: Path) -> dict[str, Path]:
    """``custseg compare``'s files but ``migration.csv``: transition matrix and ``changes.json``."""
    written: dict[str, Path] = {}
    if changes.migration is not None:
        written["transitions"] = write_csv(changes.transition_table(), root / TRANSITIONS_FILE)
    written["changes"] = write_json(changes.to_dict(), root / CHANGES_FILE)
    return written


def record_history(result: RunResult) -> RunResult:
    """Append the run to the history beside its output folder (``custseg history`` lists it).

    The history is a convenience: when it cannot be written the run still succeeded, so the
    problem is reported in ``result.outputs`` (no ``history`` entry) rather than raised.
    """
    out = result.config.out
    record = run_record(
        out, input_name=result.source.name, input_sha256=result.source.sha256,
        rows_input=result.n_input, rows_clustered=result.n_clustered, rows_rejected=result.n_rejected,
        segment_ids=[int(i) for i in result.segment_ids], segment_names=result.names,
        segment_sizes=[int(n) for n in result.sizes], model=MODEL_FILE, seed=result.config.seed,
        previous=None if result.changes is None else result.changes.previous.name)
    try:
        path = record_run(history_dir_for(out), record)
    except (OutputError, OSError):
        return result
    return dataclasses.replace(result, outputs={**result.outputs, "history": path})


def write_k_choice(result: KChoiceResult, out: Path, progress: Progress | None = None
                   ) -> KChoiceResult:
    """Write ``k_selection.json`` and the K-choice figures into ``out``, atomically."""
    progress = progress or NullProgress()
    out = Path(out)
    written: dict[str, Path] = {}
    with OutputFolder(out) as staging, progress.task("Drawing figures"):
        root = staging.path
        written["k_selection"] = write_json(k_choice_summary(result), root / K_SELECTION_FILE)
        for name, path in k_selection_figures(result.k_selection, root / FIGURES_DIR).items():
            written[f"figure:{name}"] = path
    final = {name: out / path.relative_to(root) for name, path in written.items()}
    return dataclasses.replace(result, outputs=final)
