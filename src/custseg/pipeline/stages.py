"""The whole segmentation job, stage by stage: load -> validate -> features -> K -> fit -> profile.

:func:`segment` computes, :func:`custseg.outputs.write_outputs` writes, :func:`run` does both.
Each stage is a library function taking the previous stage's result; nothing reaches back.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from custseg.changes import RunChanges, compare_runs, load_snapshot, match_runs, snapshot_from_result
from custseg.config import RunConfig
from custseg.data.readers import RawTable, from_dataframe, read_table
from custseg.data.validate import ValidatedTable, validate
from custseg.data.writers import check_writable
from custseg.datasets import mall_customers_path
from custseg.features import FeatureMatrix, check_distinct, check_features, feature_matrix, make_scaler
from custseg.metrics import silhouette_values
from custseg.model import Segmenter
from custseg.naming import SegmentInfo, describe_segments, load_overrides
from custseg.profile import SegmentProfiles, profile_columns, profile_segments
from custseg.progress import NullProgress, Progress
from custseg.rules import SegmentRules, fit_rules
from custseg.selection import KSelection, choose_k, selection_sample

CLUSTER_COLUMN = "Cluster"
SEGMENT_COLUMN = "Segment"
#: In-memory peak per byte of input, by format (measured on Mall-like data; Parquet is
#: compressed, so it expands more), plus the libraries' fixed cost.
MEMORY_FACTOR = {"csv": 6.0, "parquet": 12.0, "excel": 10.0}
BASE_MEMORY = 300 * 1024**2


@dataclass(frozen=True)
class RunResult:
    """Everything a segmentation run computed.

    Attributes
    ----------
    config : RunConfig
        The options of the run.
    validated : ValidatedTable
        Clean rows and rejects.
    features : FeatureMatrix
        The matrix clustered, in original units.
    segmenter : Segmenter
        The fitted model.
    profiles : SegmentProfiles
        Per-segment size, share, statistics of every numeric column and category mixes.
    segments : tuple of SegmentInfo
        Per segment: business name, description, suggested action and why.
    segment_ids : numpy.ndarray
        Stable id (the ``Cluster`` value) of each segment position: 0..k-1, or with
        ``--previous`` the ids of the matched previous segments (new ones get fresh ids).
    rules : SegmentRules
        Decision-tree rules that mimic the segments, with their fidelity.
    k_selection : KSelection
        Every criterion for every K, the choice and why.
    silhouette : float
        Mean silhouette of the segments on the scaled features (exact up to
        ``custseg.metrics.SILHOUETTE_SAMPLE`` customers, on a seeded sample above).
    silhouette_sample : (numpy.ndarray, numpy.ndarray)
        Silhouette of each customer of that sample, and their segments (for the diagram).
    changes : RunChanges or None
        With ``--previous``: matching, migration and drift since the previous run.
    outputs : dict of str to pathlib.Path
        Files written (empty until :func:`custseg.outputs.write_outputs`).
    """

    config: RunConfig
    validated: ValidatedTable
    features: FeatureMatrix
    segmenter: Segmenter
    profiles: SegmentProfiles
    segments: tuple[SegmentInfo, ...]
    rules: SegmentRules
    k_selection: KSelection
    silhouette: float
    silhouette_sample: tuple[np.ndarray, np.ndarray] = field(repr=False)
    segment_ids: np.ndarray = field(default=None, repr=False)
    changes: RunChanges | None = field(default=None, repr=False)
    outputs: dict[str, Path] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.segment_ids is None:
            object.__setattr__(self, "segment_ids", np.arange(self.k, dtype=np.int64))

    @property
    def clusters(self) -> np.ndarray:
        """``Cluster`` of each clean row (its segment's stable id)."""
        return self.segment_ids[self.labels]

    @property
    def customer_ids(self) -> np.ndarray:
        """Each clean row's customer id as text (its spreadsheet row number without an id)."""
        column = self.validated.id_column
        if column is None:
            return self.validated.row_numbers.astype(str)
        return np.asarray(self.validated.table.column(column).cast(pa.string())
                          .to_numpy(zero_copy_only=False), dtype=object).astype(str)

    @property
    def names(self) -> list[str]:
        """Segment names, in segment order."""
        return [s.name for s in self.segments]

    @property
    def k(self) -> int:
        """Number of segments."""
        return int(self.segmenter.cluster_centers_.shape[0])

    @property
    def labels(self) -> np.ndarray:
        """Segment of each clean row."""
        return self.segmenter.labels_

    @property
    def n_input(self) -> int:
        """Records in the input."""
        return self.validated.n_input

    @property
    def n_clustered(self) -> int:
        """Records segmented."""
        return self.validated.n_rows

    @property
    def n_rejected(self) -> int:
        """Records rejected (see :attr:`rejects`)."""
        return len(self.validated.rejects)

    @property
    def rejects(self) -> pd.DataFrame:
        """Rejected records: row, customer_id, column, value, reason."""
        return self.validated.rejects

    @property
    def clustered_table(self) -> pa.Table:
        """Every input column of the clean rows, as read, plus ``Cluster`` and ``Segment`` (name)."""
        # Segment stays dictionary-encoded (codes + K names): 10^7 names would cost ~300 MB.
        names = pa.array(self.names, pa.string())
        segment = pa.DictionaryArray.from_arrays(pa.array(self.labels, pa.int32()), names)
        return (self.validated.table.append_column(CLUSTER_COLUMN, pa.array(self.clusters))
                .append_column(SEGMENT_COLUMN, segment))

    @property
    def clustered(self) -> pd.DataFrame:
        """:attr:`clustered_table` as a data frame (``Segment`` as text)."""
        frame = self.clustered_table.to_pandas()
        frame[SEGMENT_COLUMN] = frame[SEGMENT_COLUMN].astype(object)
        return frame


@dataclass(frozen=True)
class KChoiceResult:
    """What ``custseg choose-k`` computes: the evidence for K, without fitting the segments."""

    config: RunConfig
    validated: ValidatedTable
    features: FeatureMatrix
    k_selection: KSelection
    outputs: dict[str, Path] = field(default_factory=dict)


def load(config: RunConfig, data: pd.DataFrame | None = None) -> RawTable:
    """Stage 1: read the input named by ``config`` (or wrap ``data``)."""
    if data is not None:
        return from_dataframe(data)
    return read_table(config.input if config.input is not None else mall_customers_path(),
                      config.format)


def check(raw: RawTable, config: RunConfig) -> ValidatedTable:
    """Stage 2: validate; clean rows and rejects."""
    return validate(raw, config.features, config.id_column, id_required=config.id_column_required,
                    column_map=dict(config.column_map), on_invalid=config.on_invalid)


def select_k(features: FeatureMatrix, config: RunConfig, progress: Progress | None = None
             ) -> KSelection:
    """Stage 3: score every K in the range on the scaled features and choose one."""
    progress = progress or NullProgress()
    values = features.values
    scaler = make_scaler().fit(values)
    # Only the rows K is chosen on are scaled (the same rows choose_k would sample).
    rows = selection_sample(np.arange(len(values))[:, None], config.seed)[:, 0]
    Z = scaler.transform(values[rows])
    with progress.task(f"Choosing K: scoring K = 1..{config.k_max}", total=config.k_max) as advance:
        return choose_k(Z, n_rows=len(values), k_min=config.k_min, k_max=config.k_max,
                        min_segment_share=config.min_segment_share, seed=config.seed,
                        n_init=config.n_init, force_k=config.forced_k, advance=advance)


def fit_segments(features: FeatureMatrix, validated: ValidatedTable, k: int, config: RunConfig,
                 selection: KSelection | None = None) -> Segmenter:
    """Stage 4: fit the segmenter on the feature matrix (columns named as in the input).

    On more rows than the K choice sampled, the fit is warm-started from the sample's best
    centroids for ``k`` (``selection.sample_centers``): a few Lloyd passes over all rows instead
    of every start and swap again.
    """
    check_features(features, k, validated)
    X = pd.DataFrame(features.values, columns=list(validated.feature_columns), copy=False)
    init = None
    if (selection is not None and selection.sample_centers is not None
            and selection.chosen_k == k and features.n_rows > selection.sample_size):
        init = selection.sample_centers
    segmenter = Segmenter(k, n_init=config.n_init, random_state=config.seed, init=init).fit(X)
    check_distinct(features, k, segmenter.cluster_sizes_, validated.source.name)
    return segmenter


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
    """
    config = config or RunConfig()
    progress = progress or NullProgress()
    overrides = load_overrides(config.names) if config.names is not None else None  # fail fast
    previous = load_snapshot(config.previous) if config.previous is not None else None
    with progress.task("Reading customers"):
        raw = load(config, data)
    with progress.task("Validating rows"):
        validated = check(raw, config)
        features = feature_matrix(validated)
        check_features(features, config.forced_k or 1, validated)
    selection = select_k(features, config, progress)
    k = selection.chosen_k
    with progress.task(f"Fitting K-Means (K = {k}, {config.n_init} starts + random swap)"):
        segmenter = fit_segments(features, validated, k, config, selection)
    with progress.task("Profiling segments"):
        profiles = profile(features, validated, segmenter.labels_, k)
        ids, inherited, match = np.arange(k, dtype=np.int64), None, None
        if previous is not None:
            match = match_runs(previous, segmenter.cluster_centers_original_, features.names)
            ids = np.array([match.ids[p] for p in range(k)], dtype=np.int64)
            inherited = {n: previous.names[p] for p, n, _ in match.pairs}
        segments = name_segments(profiles, features, config, overrides, ids, inherited)
        rules = fit_rules(features.values, segmenter.labels_, features.names, k, seed=config.seed)
        sil = silhouette_values(features.values, segmenter.labels_, seed=config.seed,
                                transform=segmenter.scaler_.transform)
        score = float(sil[0].mean()) if sil[0].size else float("nan")
    result = RunResult(config, validated, features, segmenter, profiles, segments, rules, selection,
                       score, sil, ids)
    if previous is None:
        return result
    with progress.task(f"Comparing with the previous run {previous.name}"):
        changes = compare_runs(previous, snapshot_from_result(result), assign_new_ids=False,
                               match=match)
    return replace(result, changes=changes)


def profile(features: FeatureMatrix, validated: ValidatedTable, labels: np.ndarray, k: int
            ) -> SegmentProfiles:
    """Stage 5: profile the segments on the features and every other usable column."""
    numeric, categorical = profile_columns(validated)
    return profile_segments(features.values, labels, k, features.names, numeric, categorical)


def name_segments(profiles: SegmentProfiles, features: FeatureMatrix, config: RunConfig,
                  overrides: dict | None = None, ids: np.ndarray | None = None,
                  inherited: dict[int, str] | None = None) -> tuple[SegmentInfo, ...]:
    """Stage 6: business names, descriptions and actions.

    ``overrides`` come from ``--names``; ``ids`` and ``inherited`` names from matching a
    previous run (``--previous``).
    """
    medians = np.column_stack([profiles.numeric[(n, "median")].to_numpy()[:profiles.k]
                               for n in features.names])
    return describe_segments(medians, features.values, features.names, overrides, seed=config.seed,
                             ids=ids, inherited=inherited)


def evaluate_k(config: RunConfig | None = None, *, data: pd.DataFrame | None = None,
               progress: Progress | None = None, write: bool = True) -> KChoiceResult:
    """Load, validate, and score every K; write the K-choice figures and JSON when ``write``.

    Examples
    --------
    >>> result = evaluate_k(RunConfig(), write=False)
    >>> result.k_selection.chosen_k, result.k_selection.confidence
    (5, 'clear')
    """
    from custseg.outputs import write_k_choice

    config = config or RunConfig()
    progress = progress or NullProgress()
    if write:
        check_writable(config.out)
    with progress.task("Reading customers"):
        raw = load(config, data)
    with progress.task("Validating rows"):
        validated = check(raw, config)
        features = feature_matrix(validated)
        check_features(features, 1, validated)
    result = KChoiceResult(config, validated, features, select_k(features, config, progress))
    return write_k_choice(result, config.out, progress) if write else result


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
    from custseg.outputs import record_history, write_outputs

    config = config or RunConfig()
    if options:
        config = config.with_(**options)
    check_writable(config.out)
    if data is None and use_streaming(config):
        from custseg.streaming import run_streaming

        result = run_streaming(config, progress=progress)
    else:
        result = write_outputs(segment(config, data=data, progress=progress), config.out,
                               progress=progress)
    return record_history(result)


def use_streaming(config: RunConfig) -> bool:
    """Whether ``config`` runs on the streaming engine: asked for, or ``auto`` and the in-memory
    engine's estimated peak (:func:`estimated_memory`) exceeds ``config.memory_budget``."""
    if config.engine != "auto":
        return config.engine == "streaming"
    return estimated_memory(config) > config.memory_budget


def estimated_memory(config: RunConfig) -> int:
    """Rough peak bytes of an in-memory run on ``config.input`` (from its size on disk)."""
    from custseg.data.readers import detect_format

    path = config.input if config.input is not None else mall_customers_path()
    try:
        size = path.stat().st_size
    except OSError:
        return 0  # reading it will report the problem
    fmt = detect_format(path, config.format)
    return int(size * MEMORY_FACTOR.get(fmt, MEMORY_FACTOR["csv"])) + BASE_MEMORY
