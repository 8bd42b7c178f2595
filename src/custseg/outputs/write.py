"""Write a run's outputs: clustered data, rejects, model, figures. All or nothing.

Files (in ``--out``):

``<input stem>_clustered.csv``
    Every input column, cells exactly as read, plus ``Cluster``.
``kmeans_customer_segmentation_model.pkl``
    scikit-learn Pipeline (scaler + KMeans): ``joblib.load(p).predict(df[features])``
    reproduces ``Cluster``. A pickle runs code when loaded: load only files you trust.
``rejected_rows.csv``
    Only when rows were rejected: row, customer_id, column, value, reason.
``segments.json``
    Machine-readable summary: K and how it was chosen (``k_selection``), metrics, per-segment
    profile, name, action and rules, row counts, and run metadata. JSON Schema:
    ``custseg/schemas/segments.schema.json``.
``segment_profiles.csv``
    One row per segment and one for all customers: size, share, statistics of every numeric
    column, category mix, and the difference from all customers.
``segments/<segment-slug>.csv``
    One customer list per segment (the clustered file's rows of that segment).
``report.html``
    Everything on one self-contained page (see :mod:`custseg.report.html`).
``segments_model.custseg.json``
    custseg's own model file: loading it runs no code (:mod:`custseg.modelfile`); what
    ``custseg predict`` and ``custseg.load_model`` use.
``migration.csv``, ``transition_matrix.csv``
    With ``--previous``: each customer present in both runs with their previous and new
    segment, and customers per (previous, new) segment with the share of the previous one.
``figures/*.png``
    Histograms, feature scatter, elbow, K-choice criteria, segment map, silhouette.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import joblib
import pyarrow.compute as pc

from custseg.changes import RunChanges
from custseg.data.writers import CsvTable, OutputFolder, prepare_csv, write_csv, write_json
from custseg.exceptions import OutputError
from custseg.history import history_dir_for, record_run, run_record
from custseg.modelfile import MODEL_FILE, model_from_result, save_model
from custseg.pipeline import KChoiceResult, RunResult
from custseg.progress import NullProgress, Progress
from custseg.report.figures import k_selection_figures, render_figures
from custseg.report.html import REPORT_FILE, write_report
from custseg.summary import k_choice_summary, run_summary

MODEL_PICKLE = "kmeans_customer_segmentation_model.pkl"
SUMMARY_FILE = "segments.json"
K_SELECTION_FILE = "k_selection.json"
REJECTS_FILE = "rejected_rows.csv"
PROFILES_FILE = "segment_profiles.csv"
MIGRATION_FILE = "migration.csv"
TRANSITIONS_FILE = "transition_matrix.csv"
CHANGES_FILE = "changes.json"
SEGMENTS_DIR = "segments"
FIGURES_DIR = "figures"


def clustered_file_name(result: RunResult) -> str:
    """``<input stem, lower-case>_clustered.csv`` (``customers_clustered.csv`` for data frames;
    ``.parquet`` with ``--output-format parquet``).

    Examples
    --------
    >>> from custseg.pipeline import segment
    >>> clustered_file_name(segment())
    'mall_customers_clustered.csv'
    """
    source = result.validated.source
    stem = Path(source.name).stem.lower() if source.path is not None else "customers"
    return f"{stem}_clustered.{result.config.output_format}"


def write_outputs(result: RunResult, out: Path, progress: Progress | None = None) -> RunResult:
    """Write every output of ``result`` into ``out``, atomically.

    Returns
    -------
    RunResult
        ``result`` with :attr:`RunResult.outputs` filled in (final paths).
    """
    progress = progress or NullProgress()
    out = Path(out)
    written: dict[str, Path] = {}
    with OutputFolder(out) as staging:
        root = staging.path
        with progress.task("Writing clustered data"):
            parquet = result.config.output_format == "parquet"
            # CSV: scanned once (formulas, quoting) for the file and every list.
            clustered = (CsvTable(result.clustered_table, True, True) if parquet
                         else prepare_csv(result.clustered_table))
            written["clustered"] = write_table(clustered, root / clustered_file_name(result))
            if result.n_rejected:
                written["rejects"] = write_csv(result.rejects, root / REJECTS_FILE)
            written.update(write_segment_lists(clustered, result, root / SEGMENTS_DIR))
            written["profiles"] = write_csv(result.profiles.to_frame(result.names, result.segment_ids),
                                            root / PROFILES_FILE)
            if result.changes is not None and result.changes.migration is not None:
                written["migration"] = write_csv(result.changes.migration.table, root / MIGRATION_FILE)
                written["transitions"] = write_csv(result.changes.transition_table(),
                                                   root / TRANSITIONS_FILE)
            summary = run_summary(result, {"clustered": written["clustered"].name,
                                           "model": MODEL_FILE})
            written["summary"] = write_json(summary, root / SUMMARY_FILE)
        with progress.task("Saving model"):
            written["model"] = save_model(model_from_result(result), root / MODEL_FILE)
            written["model_pickle"] = root / MODEL_PICKLE
            joblib.dump(result.segmenter.to_pipeline(result.segment_ids), written["model_pickle"])
        with progress.task("Drawing figures"):
            for name, path in render_figures(result, root / FIGURES_DIR).items():
                written[f"figure:{name}"] = path
        with progress.task("Writing the report"):
            written["report"] = write_report(summary, root / FIGURES_DIR, root / REPORT_FILE)
    final = {name: out / path.relative_to(root) for name, path in written.items()}
    return dataclasses.replace(result, outputs=final)


def write_changes(changes: RunChanges, out: Path) -> dict[str, Path]:
    """``custseg compare``'s files: migration, transition matrix and ``changes.json``, atomically."""
    out = Path(out)
    written: dict[str, Path] = {}
    with OutputFolder(out) as staging:
        root = staging.path
        if changes.migration is not None:
            written["migration"] = write_csv(changes.migration.table, root / MIGRATION_FILE)
            written["transitions"] = write_csv(changes.transition_table(), root / TRANSITIONS_FILE)
        written["changes"] = write_json(changes.to_dict(), root / CHANGES_FILE)
    return {name: out / path.relative_to(root) for name, path in written.items()}


def record_history(result: RunResult) -> RunResult:
    """Append the run to the history beside its output folder (``custseg history`` lists it).

    The history is a convenience: when it cannot be written the run still succeeded, so the
    problem is reported in ``result.outputs`` (no ``history`` entry) rather than raised.
    """
    out = result.config.out
    sizes = result.profiles.sizes  # exact counts, also for streaming runs (labels are a sample there)
    record = run_record(
        out, input_name=result.validated.source.name, input_sha256=result.validated.source.sha256,
        rows_input=result.n_input, rows_clustered=result.n_clustered, rows_rejected=result.n_rejected,
        segment_ids=[int(i) for i in result.segment_ids], segment_names=result.names,
        segment_sizes=[int(n) for n in sizes], model=MODEL_FILE, seed=result.config.seed,
        previous=None if result.changes is None else result.changes.previous.name)
    try:
        path = record_run(history_dir_for(out), record)
    except (OutputError, OSError):
        return result
    return dataclasses.replace(result, outputs={**result.outputs, "history": path})


def write_segment_lists(clustered: CsvTable, result: RunResult, folder: Path) -> dict[str, Path]:
    """One CSV per segment, ``<segment-slug>.csv``, with that segment's rows of ``clustered``."""
    folder.mkdir(parents=True, exist_ok=True)
    cluster = clustered.table.column("Cluster")
    suffix = result.config.output_format
    out = {}
    for info in result.segments:
        rows = clustered.subset(pc.equal(cluster, info.cluster))
        out[f"segment:{info.slug}"] = write_table(rows, folder / f"{info.slug}.{suffix}")
    return out


def write_table(table: CsvTable, path: Path) -> Path:
    """Customers as CSV (spreadsheet-safe) or Parquet (typed, compressed), by ``path``'s suffix."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table.table, path)
        return path
    return write_csv(table, path)


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
