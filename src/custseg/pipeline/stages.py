"""The whole segmentation job, stage by stage, written once for every engine.

::

    scan ──► choose K ──► fit ──► name, rules ──► assign (write, aggregate, migrate) ──► profile

1. **Scan** (:meth:`Engine.scan`): every record validated, the scaler, the sample.
2. **Choose K** on the scaled sample (:func:`custseg.segmentation.selection.choose_k`).
3. **Fit**: the best start on the sample, Lloyd passes over every row through the engine
   (:func:`custseg.segmentation.lloyd.fit_centroids`); stable numbering by exact size.
4. **Name** the segments from the sample's medians; **match** them to a previous run's
   (stable ids and names); **rules** fitted on the sample.
5. **Assign** every row (:meth:`Engine.assign`): the clustered files written, per-segment totals,
   the rules' agreement, the migration since a previous run, counted on the way.
6. **Profile** from the exact totals and the sample's quantiles; compare with the previous run.

:func:`segment` computes; :func:`run` also writes every output (all or nothing);
:func:`evaluate_k` stops after choosing K.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from custseg.config import RunConfig
from custseg.dboptions import is_database_url
from custseg.describe.mixes import mix_phrases
from custseg.describe.naming import describe_segments, load_overrides
from custseg.describe.profile import profile_segments, quantiles
from custseg.describe.rules import RuleAgreement, fit_rules
from custseg.describe.totals import SegmentTotals
from custseg.engines import Engine, open_engine, open_input
from custseg.engines.kernels import nearest, single_blas
from custseg.engines.prepfit import prepare_scan
from custseg.engines.scan import Scan, ScanSpec
from custseg.exceptions import ConfigError, DataValidationError
from custseg.io.columns import resolve_columns
from custseg.io.outfolder import OutputFolder, check_writable, refuse_input_in_out
from custseg.modelfile import distance_thresholds
from custseg.outputs.clustered import ClusteredWriter, clustered_plain
from custseg.outputs.database import DatabaseTable, database_writer
from custseg.outputs.table import CatalogTable
from custseg.outputs.write import (
    record_history,
    sample_figure_inputs,
    start_fit_figures,
    start_k_figures,
    start_sample_figures,
    write_k_choice,
    write_outputs,
)
from custseg.pipeline.features import resolve_features
from custseg.pipeline.result import KChoiceResult, Rows, RunResult
from custseg.pipeline.tracking import PreviousComparison
from custseg.progress import NullProgress, Progress
from custseg.report.rendering import BackgroundFigures
from custseg.runfolder import clustered_file_name
from custseg.segmentation.estimator import Segmenter
from custseg.segmentation.lloyd import fit_centroids
from custseg.segmentation.metrics import silhouette_values
from custseg.segmentation.outliers import OutlierCounter, OutlierRule
from custseg.segmentation.selection import KSelection, choose_k
from custseg.tracking.previous import PreviousRun, load_previous


def scan(engine: Engine, config: RunConfig, progress: Progress | None = None, k: int = 1) -> Scan:
    """Stage 1: find the columns, read and check every record (at least ``k`` valid rows)."""
    source = engine.source
    wanted = (*config.features, *config.categorical)
    feature_columns, id_column = resolve_columns(
        source.columns, wanted, config.id_column, source.name,
        id_required=config.id_column_required, column_map=dict(config.column_map))
    if id_column is not None and id_column in feature_columns[len(config.features):]:
        raise ConfigError(f"--categorical {id_column!r} is the id column: it identifies "
                          "customers, it cannot describe them.")
    spec = ScanSpec(wanted, tuple(feature_columns), id_column, config.seed,
                    config.sample_rows, missing=config.missing,
                    log_moments=config.transform in ("auto", "log"),
                    categorical=len(config.categorical))
    result = engine.scan(spec, progress)
    result.check(k, config.on_invalid)
    result, prep = prepare_scan(result, config.transform, config.scaler)
    engine.use_preparation(prep)
    return result


#: The scaled sample, its outliers and the rule (:func:`regular_sample`).
Regular = tuple[np.ndarray, np.ndarray, OutlierRule]


def regular_sample(scanned: Scan) -> Regular:
    """The scaled sample, which of its customers are outliers, and the rule
    (:mod:`custseg.segmentation.outliers`); K is chosen and k-means++ starts without them."""
    Z = scanned.scaler.transform(scanned.sample.values)
    rule = OutlierRule.fit(Z)
    return Z, rule.flag(Z), rule


def select_k(scanned: Scan, config: RunConfig, progress: Progress | None = None,
             regular: Regular | None = None) -> KSelection:
    """Stage 2: score every K in the range on the scaled sample (outliers aside) and choose one
    (``regular``: :func:`regular_sample`'s result, when already computed)."""
    progress = progress or NullProgress()
    Z, outlier, _ = regular or regular_sample(scanned)
    n_rows = scanned.n_valid - round(scanned.n_valid * float(outlier.mean()))
    with progress.task(f"Choosing K: scoring K = 1..{config.k_max}", total=config.k_max) as advance:
        return choose_k(Z[~outlier], n_rows=n_rows, k_min=config.k_min, k_max=config.k_max,
                        min_segment_share=config.min_segment_share, seed=config.seed,
                        n_init=config.n_init, force_k=config.forced_k, advance=advance,
                        source=scanned.source.name,
                        kept=np.arange(Z.shape[1]) >= scanned.spec.n_numeric)


def fit(engine: Engine, scanned: Scan, selection: KSelection, config: RunConfig,
        progress: Progress | None = None, regular: Regular | None = None
        ) -> tuple[Segmenter, dict]:
    """Stage 3: the segments of every valid row, as a fitted :class:`Segmenter`, and how the
    Lloyd passes went (started on the sample without its outliers, passes over every row)."""
    k = selection.chosen_k
    scanned.check_k(k)
    scaler = scanned.scaler
    Z, outlier, _ = regular or regular_sample(scanned)
    centroids = fit_centroids(engine, scaler, Z[~outlier], k,
                              selection=selection, n_init=config.n_init, seed=config.seed,
                              progress=progress)
    if np.any(centroids.sizes == 0):
        distinct = len(np.unique(scanned.sample.values, axis=0))
        raise DataValidationError(
            f"Only {distinct} distinct combination(s) of feature values in {scanned.source.name}, "
            f"fewer than K={k} segments. Use a smaller --k, or add features.")
    segmenter = Segmenter.from_centers(
        centroids.centers, scaler, sizes=centroids.sizes, inertia=centroids.inertia,
        n_iter=centroids.n_iter, k_selection=selection,
        feature_names=list(scanned.spec.feature_columns), n_init=config.n_init,
        random_state=config.seed, k_min=config.k_min, k_max=config.k_max,
        min_segment_share=config.min_segment_share)
    facts = {"lloyd_iterations": centroids.n_iter, "converged": centroids.converged,
             "tolerance": centroids.tolerance}
    return segmenter, facts


def _sample_labels(scanned: Scan, segmenter: Segmenter) -> np.ndarray:
    with single_blas():
        return nearest(segmenter.scaler_.transform(scanned.sample.values),
                       segmenter.cluster_centers_)[0]


def _medians(scanned: Scan, labels: np.ndarray, segmenter: Segmenter) -> np.ndarray:
    """Each segment's median of each feature on the sample (its centroid if the sample has none
    of its customers)."""
    k = segmenter.cluster_centers_.shape[0]
    medians = np.column_stack([quantiles(scanned.sample.values[:, j], labels, k)["median"]
                               .to_numpy()[:k] for j in range(scanned.spec.n_numeric)])
    return np.where(np.isfinite(medians), medians, segmenter.cluster_centers_original_)


def _category_mixes(scanned: Scan, labels: np.ndarray, k: int, prep: object) -> list[str] | None:
    """Per segment, the category share its name gives (on the sample), or None without
    categorical features."""
    categories = getattr(prep, "categories", ())
    if not categories:
        return None
    d, shares, base = scanned.spec.n_numeric, [], []
    counts = np.maximum(np.bincount(labels, minlength=k), 1)[:, None]
    for j, category in enumerate(categories):
        onehot = category.indicators(scanned.sample.values[:, d + j])
        shares.append(np.stack([np.bincount(labels, weights=onehot[:, i], minlength=k)
                                for i in range(onehot.shape[1])], axis=1) / counts)
        base.append(onehot.mean(axis=0))
    return mix_phrases(shares, base, [c.levels for c in categories],
                       scanned.spec.features[d:])


def segment_in(engine: Engine, config: RunConfig, *, previous: PreviousRun | None = None,
               overrides: dict | None = None, staging: Path | None = None,
               progress: Progress | None = None, figures: BackgroundFigures | None = None,
               table_writer: DatabaseTable | None = None
               ) -> tuple[RunResult, Scan, dict[str, Path]]:
    """Every computing stage on an open engine; with ``staging``, the clustered customers (and
    the migration) are written into that folder during the assignment pass; with ``figures``,
    the figures are started before that pass, to be drawn while it runs; ``table_writer``
    (``--output-table`` in a database) gets every assigned batch.

    Returns
    -------
    (RunResult, Scan, dict)
        The result (no ``outputs`` yet), the scan (its rejects are still on disk while the
        engine is open), and the files written during the assignment pass.
    """
    progress = progress or NullProgress()
    config, choice = resolve_features(engine, config)
    scanned = scan(engine, config, progress, config.forced_k or 1)
    if figures is not None:
        # Drawn while K is chosen, at a lower priority: on what the K choice leaves of the cores
        # (the gaps while it waits for its evidence, or finishes alone).
        start_sample_figures(figures, scanned.sample, scanned.n_valid, tuple(config.features),
                             config.seed)
    regular = regular_sample(scanned)  # once for the K choice, the fit and the outliers
    selection = select_k(scanned, config, progress, regular)
    if figures is not None:
        start_k_figures(figures, selection)
    segmenter, lloyd_facts = fit(engine, scanned, selection, config, progress, regular)
    k = segmenter.cluster_centers_.shape[0]
    features, sample = tuple(config.features), scanned.sample
    numeric = sample.values[:, :len(features)]  # without the categories' level codes
    labels = _sample_labels(scanned, segmenter)
    comparison = None if previous is None else PreviousComparison(previous, segmenter, features)
    ids = np.arange(k, dtype=np.int64) if comparison is None else comparison.ids
    with progress.task("Naming segments and fitting CRM rules"):
        segments = describe_segments(_medians(scanned, labels, segmenter), numeric, features,
                                     overrides, seed=config.seed, ids=ids,
                                     inherited=None if comparison is None else comparison.inherited,
                                     mixes=_category_mixes(scanned, labels, k, engine.preparation))
        rules = fit_rules(numeric, labels, features, k, seed=config.seed)
    silhouette = silhouette_values(sample.values, labels, seed=config.seed,
                                   transform=segmenter.scaler_.transform)
    if figures is not None:
        start_fit_figures(figures, sample_figure_inputs(
            sample, labels, scanned.n_valid, features, [s.name for s in segments], segmenter,
            selection, silhouette, config.seed))
    totals = SegmentTotals(k, len(features), scanned.plans)
    agreement = RuleAgreement(rules)
    _, sample_outliers, rule = regular
    # Counted over every customer where rows pass through Python; on Spark (which would have to
    # send every row to the driver for it), on the sample.
    outliers = OutlierCounter(rule, segmenter.scaler_, k)
    if not engine.flags_outliers:
        outliers.per_segment += np.bincount(labels[sample_outliers], minlength=k)
    observers: list = [totals, agreement, *([outliers] if engine.flags_outliers else [])]
    writer = None
    written: dict[str, Path] = {}
    if staging is not None:
        name = clustered_file_name(scanned.source.name if scanned.source.path else None,
                                   config.output_format)
        flagged = rule if engine.flags_outliers and sample_outliers.any() else None
        writer = ClusteredWriter(staging, name, segments, clustered_plain(scanned, segments),
                                 outliers=None if flagged is None else (flagged,
                                                                        segmenter.scaler_.transform),
                                 formulas=scanned.text_formulas)
        observers.append(writer)
    if table_writer is not None:
        table_writer.start(scanned.spec.id_column, segments)
        observers.append(table_writer)
    elif config.output_table is not None and not is_database_url(config.input):
        observers.append(CatalogTable(config.output_table, config.if_exists, Path(config.out).name,
                                      scanned.spec.id_column, segments))
    if comparison is not None:
        observers.append(comparison.observer(scanned.spec.id_column, staging,
                                             plain=not scanned.text_needs_quotes))
    try:
        engine.assign(segmenter.cluster_centers_, segmenter.scaler_.mean_,
                      segmenter.scaler_.scale_, observers, progress)
    finally:
        if writer is not None:
            written.update(writer.close())
        if comparison is not None:
            comparison.close()
            written.update(comparison.written)
    totals.finish()
    if not np.array_equal(totals.sizes, segmenter.cluster_sizes_):  # pragma: no cover - a bug
        raise RuntimeError(f"segment sizes differ between passes: {totals.sizes} != "
                           f"{segmenter.cluster_sizes_}")
    profiles = profile_segments(totals, sample, labels, features, scanned.plans)
    result = RunResult(
        config=config, source=scanned.source,
        engine={**engine.facts(), **lloyd_facts, "sample_rows": sample.size},
        features=features, feature_columns=scanned.spec.feature_columns[:len(features)],
        feature_dtypes=_dtypes(scanned)[:len(features)], id_column=scanned.spec.id_column,
        categorical_columns=scanned.spec.feature_columns[len(features):],
        rows=Rows(scanned.n_input, scanned.n_valid, scanned.n_rejected,
                  dict(sorted(scanned.rejects.reasons.items()))),
        rejects=scanned.rejects.preview, sample=sample, sample_labels=labels, segmenter=segmenter,
        k_selection=selection, profiles=profiles, segments=segments, segment_ids=ids,
        rules=agreement.result(),
        silhouette=float(silhouette[0].mean()) if silhouette[0].size else float("nan"),
        silhouette_sample=silhouette,
        thresholds=distance_thresholds(sample.values, labels, segmenter), feature_choice=choice,
        preparation=engine.preparation,
        outliers={**rule.to_dict(), "customers": outliers.total,
                  "per_segment": outliers.per_segment.tolist(),
                  "counted_on": "every customer" if engine.flags_outliers else "sample",
                  "column": writer is not None and writer.outliers is not None})
    if comparison is not None:
        result = replace(result, changes=comparison.changes(result))
    return result, scanned, written


def _dtypes(scanned: Scan) -> tuple[str, ...]:
    table = scanned.sample.table
    return tuple(str(table.schema.field(c).type) if table is not None and c in table.column_names
                 else "unknown" for c in scanned.spec.feature_columns)


def _prepare(config: RunConfig) -> tuple[dict | None, PreviousRun | None]:
    """Read what a run needs besides its input first, so its problems stop the run early."""
    overrides = load_overrides(config.names) if config.names is not None else None
    previous = load_previous(config.previous) if config.previous is not None else None
    return overrides, previous


def segment(config: RunConfig | None = None, *, data: pd.DataFrame | None = None,
            progress: Progress | None = None) -> RunResult:
    """Run every computing stage of a segmentation; write nothing.

    Parameters
    ----------
    config : RunConfig, optional
        Options; defaults to the bundled Mall data, K chosen automatically.
    data : pandas.DataFrame, optional
        Customer table to use instead of ``config.input``.
    progress : Progress, optional
        Where to show progress (silent by default).

    Returns
    -------
    RunResult

    Examples
    --------
    >>> result = segment(RunConfig(k=5))
    >>> result.sizes.tolist(), round(result.silhouette, 4)
    ([81, 39, 35, 23, 22], 0.5547)
    """
    config = config or RunConfig()
    overrides, previous = _prepare(config)
    with open_engine(config, open_input(config, data)) as engine:
        return segment_in(engine, config, previous=previous, overrides=overrides,
                          progress=progress)[0]


def run(config: RunConfig | None = None, *, data: pd.DataFrame | None = None,
        progress: Progress | None = None, **options: object) -> RunResult:
    """Segment customers and write every output: the whole job in one call.

    Parameters
    ----------
    config : RunConfig, optional
        Options; keyword ``options`` override its fields (``k=4``, ``out="results"``...).
    data : pandas.DataFrame, optional
        Customer table to use instead of a file.
    progress : Progress, optional
        Where to show progress (silent by default).
    **options
        Any :class:`RunConfig` field.

    Returns
    -------
    RunResult
        With :attr:`RunResult.outputs` listing the files written.

    Examples
    --------
    >>> import tempfile
    >>> result = run(out=tempfile.mkdtemp(), seed=0)
    >>> result.k, result.k_selection.confidence
    (5, 'clear')
    >>> result.profiles.sizes.tolist()
    [81, 39, 35, 23, 22]
    """
    config = config or RunConfig()
    if options:
        config = config.with_(**options)
    out = Path(config.out)
    check_writable(out)
    if data is None:
        refuse_input_in_out(config.input, out)
    overrides, previous = _prepare(config)
    source = open_input(config, data)
    table_writer = database_writer(config)
    if table_writer is not None:
        table_writer.check()
    try:
        with (OutputFolder(out) as staging,
              open_engine(config, source, work_parent=staging.work) as engine,
              BackgroundFigures() as figures):
            result, scanned, written = segment_in(engine, config, previous=previous,
                                                  overrides=overrides, staging=staging.path,
                                                  progress=progress, figures=figures,
                                                  table_writer=table_writer)
            written.update(write_outputs(result, staging.path, scanned.rejects, progress,
                                         figures))
            if table_writer is not None:  # last: a failed write leaves no run folder either
                table_writer.commit(result)
    finally:
        if table_writer is not None:
            table_writer.close()
    result = replace(result, outputs={name: out / path.relative_to(staging.path)
                                      for name, path in written.items()})
    return record_history(result)


def evaluate_k(config: RunConfig | None = None, *, data: pd.DataFrame | None = None,
               progress: Progress | None = None, write: bool = True) -> KChoiceResult:
    """Read and check the input, and score every K; write the K figures and JSON when ``write``.

    Examples
    --------
    >>> result = evaluate_k(RunConfig(), write=False)
    >>> result.k_selection.chosen_k, result.k_selection.confidence
    (5, 'clear')
    """
    config = config or RunConfig()
    if write:
        check_writable(config.out)
    with open_engine(config, open_input(config, data)) as engine:
        result = evaluate_k_in(engine, config, progress)
    return write_k_choice(result, config.out, progress) if write else result


def evaluate_k_in(engine: Engine, config: RunConfig, progress: Progress | None = None
                  ) -> KChoiceResult:
    """:func:`evaluate_k` on an open engine (the K choice of :func:`segment_in`), nothing
    written."""
    config, _ = resolve_features(engine, config)
    scanned = scan(engine, config, progress)
    selection = select_k(scanned, config, progress)
    return KChoiceResult(config, scanned.source, tuple(config.features),
                         Rows(scanned.n_input, scanned.n_valid, scanned.n_rejected,
                              dict(sorted(scanned.rejects.reasons.items()))), selection)
