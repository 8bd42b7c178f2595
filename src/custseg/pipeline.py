"""The whole segmentation job, stage by stage: load -> validate -> features -> K -> fit -> profile.

:func:`segment` computes, :func:`custseg.outputs.write_outputs` writes, :func:`run` does both.
Each stage is a library function taking the previous stage's result; nothing reaches back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from custseg.config import RunConfig
from custseg.data.readers import RawTable, from_dataframe, read_table
from custseg.data.validate import ValidatedTable, validate
from custseg.datasets import mall_customers_path
from custseg.features import FeatureMatrix, check_distinct, check_features, feature_matrix
from custseg.metrics import silhouette
from custseg.model import Segmenter
from custseg.profile import SegmentProfiles, profile_segments
from custseg.progress import NullProgress, Progress
from custseg.selection import ElbowCurve, elbow_curve

CLUSTER_COLUMN = "Cluster"


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
        Per-segment size, share and means.
    elbow : ElbowCurve
        Inertia by K.
    silhouette : float
        Mean silhouette of the segments on the scaled features.
    outputs : dict of str to pathlib.Path
        Files written (empty until :func:`custseg.outputs.write_outputs`).
    """

    config: RunConfig
    validated: ValidatedTable
    features: FeatureMatrix
    segmenter: Segmenter
    profiles: SegmentProfiles
    elbow: ElbowCurve
    silhouette: float
    outputs: dict[str, Path] = field(default_factory=dict)

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
        """Every input column of the clean rows, as read, plus ``Cluster``."""
        return self.validated.table.append_column(CLUSTER_COLUMN, pa.array(self.labels))

    @property
    def clustered(self) -> pd.DataFrame:
        """:attr:`clustered_table` as a data frame."""
        return self.clustered_table.to_pandas()


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


def fit_segments(features: FeatureMatrix, validated: ValidatedTable, config: RunConfig
                 ) -> Segmenter:
    """Stage 4: fit the segmenter on the feature matrix (columns named as in the input)."""
    check_features(features, config.k, validated)
    X = pd.DataFrame(features.values, columns=list(validated.feature_columns), copy=False)
    segmenter = Segmenter(config.k, n_init=config.n_init, random_state=config.seed).fit(X)
    check_distinct(features, config.k, segmenter.cluster_sizes_, validated.source.name)
    return segmenter


def segment(config: RunConfig | None = None, *, data: pd.DataFrame | None = None,
            progress: Progress | None = None) -> RunResult:
    """Run every computing stage of a segmentation; write nothing.

    Parameters
    ----------
    config : RunConfig, optional
        Options; defaults to the bundled Mall data, K = 5.
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
    with progress.task("Reading customers"):
        raw = load(config, data)
    with progress.task("Validating rows"):
        validated = check(raw, config)
        features = feature_matrix(validated)
    with progress.task(f"Fitting K-Means (K = {config.k}, {config.n_init} starts)"):
        segmenter = fit_segments(features, validated, config)
    Z = segmenter.scaler_.transform(features.values)
    with progress.task(f"Elbow: inertia for K = 1..{config.elbow_k_max}",
                       total=config.elbow_k_max) as advance:
        elbow = elbow_curve(Z, config.elbow_k_max, seed=config.seed, n_init=config.n_init,
                            advance=advance)
    with progress.task("Profiling segments"):
        profiles = profile_segments(features.values, segmenter.labels_, config.k, features.names)
        score = silhouette(Z, segmenter.labels_, seed=config.seed)
    return RunResult(config, validated, features, segmenter, profiles, elbow, score)


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
    >>> result.profiles.sizes.tolist()
    [81, 39, 35, 23, 22]
    >>> sorted(result.outputs)[:2]
    ['clustered', 'figure:elbow']
    """
    from custseg.outputs import write_outputs

    config = config or RunConfig()
    if options:
        config = config.with_(**options)
    from custseg.data.writers import check_writable

    check_writable(config.out)
    result = segment(config, data=data, progress=progress)
    return write_outputs(result, config.out, progress=progress)
