"""What a run computed: :class:`RunResult` (and :class:`KChoiceResult` for ``choose-k``).

Every field means the same on every engine. Counts, sizes, shares, means, category mixes,
inertia and the rules' fidelity are exact over every customer. What comes from the run's seeded
uniform sample says so in its name (``sample``, ``sample_labels``, ``silhouette_sample``) or in
its documentation (medians and quartiles of the profiles, the silhouette, the distance
thresholds); the sample is every valid customer when there are no more than
``config.sample_rows`` (200,000).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from custseg.config import RunConfig
from custseg.describe.naming import SegmentInfo
from custseg.describe.profile import SegmentProfiles
from custseg.describe.rules import SegmentRules
from custseg.engines.prepare import FeaturePrep
from custseg.engines.sample import Sample
from custseg.exceptions import ConfigError
from custseg.io.autofeatures import FeatureChoice
from custseg.io.formats import SourceInfo
from custseg.modelfile import SegmentModel, TrainingData, build_model
from custseg.segmentation.estimator import Segmenter
from custseg.segmentation.selection import KSelection
from custseg.tracking.changes import RunChanges


@dataclass(frozen=True)
class Rows:
    """Every input record accounted for: ``input = clustered + rejected``.

    Attributes
    ----------
    input, clustered, rejected : int
        Records read, segmented, rejected.
    reasons : dict of str to int
        Rejected records per reason.
    """

    input: int
    clustered: int
    rejected: int
    reasons: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class RunResult:
    """Everything a segmentation run computed.

    Attributes
    ----------
    config : RunConfig
        The options of the run.
    source : SourceInfo
        The input.
    engine : dict
        How the engine ran: ``name``, ``passes`` over the rows, ``lloyd_iterations``,
        ``converged``, ``tolerance``, ``sample_rows`` (and ``batch_rows`` for batches).
    features : tuple of str
        Feature names, as the run asked for them.
    feature_columns : tuple of str
        The input columns holding them.
    feature_dtypes : tuple of str
        Their Arrow types as read.
    id_column : str or None
        The input's id column (None: customers are identified by row number).
    rows : Rows
        Row accounting (exact).
    rejects : pandas.DataFrame
        The first rejected records (at most :data:`custseg.io.rejects.REJECTS_KEPT`; all of
        them are in ``rejected_rows.csv``): row, customer_id, column, value, reason.
    sample : Sample
        The run's seeded uniform sample of valid customers (cells, rows, feature values).
    sample_labels : numpy.ndarray
        Segment position of each sampled customer.
    segmenter : Segmenter
        The fitted model (exact sizes and inertia; no per-customer labels).
    k_selection : KSelection
        Every criterion for every K (on the sample), the choice and why.
    profiles : SegmentProfiles
        Per segment: exact size, share, means and category mixes; sample medians and quartiles.
    segments : tuple of SegmentInfo
        Per segment: business name, description, suggested action and why.
    segment_ids : numpy.ndarray
        Stable id (the ``Cluster`` value) of each segment position: 0..k-1, or with
        ``--previous`` the ids of the matched previous segments (new ones get fresh ids).
    rules : SegmentRules
        Decision-tree rules that mimic the segments; fidelity over every customer.
    silhouette : float
        Mean silhouette of the segments on the scaled features, on a seeded sample of at most
        ``custseg.segmentation.metrics.SILHOUETTE_SAMPLE`` customers of the run's sample.
    silhouette_sample : (numpy.ndarray, numpy.ndarray)
        Silhouette of each customer of that sample, and their segments (for the diagram).
    thresholds : numpy.ndarray
        Per segment, the distance beyond which a customer is atypical (from the sample).
    changes : RunChanges or None
        With ``--previous``: matching, migration and drift since the previous run.
    outputs : dict of str to pathlib.Path
        Files written (empty for :func:`custseg.segment`).
    feature_choice : FeatureChoice or None
        The features the run chose itself (None when they were named or the defaults).
    preparation : FeaturePrep or None
        What was done to each feature before scaling (transform and why, cells imputed).
    categorical_columns : tuple of str
        The input columns of the categorical features (``config.categorical``), one-hot
        encoded after the numeric features (``preparation.categories``).
    outliers : dict or None
        The outlier rule and fences, outliers over every customer and per segment, and whether
        the clustered file has the ``outlier`` column (:mod:`custseg.segmentation.outliers`).
    """

    config: RunConfig
    source: SourceInfo
    engine: dict
    features: tuple[str, ...]
    feature_columns: tuple[str, ...]
    feature_dtypes: tuple[str, ...]
    id_column: str | None
    rows: Rows
    rejects: pd.DataFrame = field(repr=False)
    sample: Sample = field(repr=False)
    sample_labels: np.ndarray = field(repr=False)
    segmenter: Segmenter = field(repr=False)
    k_selection: KSelection = field(repr=False)
    profiles: SegmentProfiles = field(repr=False)
    segments: tuple[SegmentInfo, ...] = ()
    segment_ids: np.ndarray = field(default=None, repr=False)
    rules: SegmentRules = field(default=None, repr=False)
    silhouette: float = float("nan")
    silhouette_sample: tuple[np.ndarray, np.ndarray] = field(default=None, repr=False)
    thresholds: np.ndarray = field(default=None, repr=False)
    changes: RunChanges | None = field(default=None, repr=False)
    outputs: dict[str, Path] = field(default_factory=dict)
    #: With a transaction log in: lines and customers accounted for, features defined (JSON-ready).
    transactions: dict | None = field(default=None, repr=False)
    feature_choice: FeatureChoice | None = field(default=None, repr=False)
    preparation: FeaturePrep | None = field(default=None, repr=False)
    outliers: dict | None = field(default=None, repr=False)
    categorical_columns: tuple[str, ...] = ()

    @property
    def k(self) -> int:
        """Number of segments."""
        return int(self.segmenter.cluster_centers_.shape[0])

    @property
    def names(self) -> list[str]:
        """Segment names, in segment order."""
        return [s.name for s in self.segments]

    @property
    def n_input(self) -> int:
        """Records in the input."""
        return self.rows.input

    @property
    def n_clustered(self) -> int:
        """Records segmented."""
        return self.rows.clustered

    @property
    def n_rejected(self) -> int:
        """Records rejected."""
        return self.rows.rejected

    @property
    def sizes(self) -> np.ndarray:
        """Customers per segment, exact."""
        return np.asarray(self.profiles.sizes)

    def model(self, created: str | None = None) -> SegmentModel:
        """The model file's content: what ``custseg predict`` and :func:`custseg.load_model` use.

        Its ``predict`` and ``score`` give any customer the segment this run gave it.
        """
        c = len(self.categorical_columns)
        training = TrainingData(self.source, self.feature_columns + self.categorical_columns,
                                self.feature_dtypes + ("string",) * c,
                                self.config.id_column, self.id_column, self.rows.input,
                                self.rows.clustered, self.rows.rejected)
        return build_model(self.segmenter, training, thresholds=self.thresholds,
                           sizes=self.sizes, k_selection=self.k_selection,
                           segments=self.segments, segment_ids=self.segment_ids,
                           features=self.features + self.config.categorical[:c],
                           seed=self.config.seed, created=created)

    @property
    def clustered(self) -> pd.DataFrame:
        """Every segmented customer: input columns as read, ``Cluster`` and ``Segment``, read
        from the clustered file the run wrote (all cells as text from a CSV).

        Raises
        ------
        ConfigError
            For a result of :func:`custseg.segment`, which writes nothing: score customers with
            ``result.model().score(df)`` instead.
        """
        path = self.outputs.get("clustered")
        if path is None:
            raise ConfigError("This run wrote no clustered file (custseg.segment writes nothing). "
                              "Use custseg.run, or result.model().score(df) for any data frame.")
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, dtype=str, keep_default_na=False).astype(
            {"Cluster": "int64"})


@dataclass(frozen=True)
class KChoiceResult:
    """What ``custseg choose-k`` computes: the evidence for K, without fitting the segments.

    Attributes
    ----------
    config : RunConfig
        The options.
    source : SourceInfo
        The input.
    features : tuple of str
        Feature names.
    rows : Rows
        Row accounting.
    k_selection : KSelection
        The evidence and the choice.
    outputs : dict of str to pathlib.Path
        Files written.
    transactions : dict or None
        A transaction log's accounting (``--transactions``), as ``segments.json``'s block.
    """

    config: RunConfig
    source: SourceInfo
    features: tuple[str, ...]
    rows: Rows
    k_selection: KSelection
    outputs: dict[str, Path] = field(default_factory=dict)
    transactions: dict | None = None
