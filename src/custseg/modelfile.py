"""custseg's own model file: one JSON document that loading never executes.

A run writes ``segments_model.custseg.json`` (:data:`MODEL_FILE`); ``custseg predict`` and
:func:`custseg.load_model` read it. Everything needed to score new customers the way the run
segmented the training customers is in it, as plain numbers and text:

``format``, ``format_version``
    ``"custseg-model"`` and an integer, checked first on load (see *Compatibility*).
``features``
    Per feature, in the model's order: ``name`` (as the run asked for it), ``input_column``
    (the training file's column), ``dtype`` (what the model computes in, ``float64``) and
    ``input_dtype`` (the training column's type as read, ``string`` for CSV text).
``id_column``
    ``name`` asked for (``CustomerID``) and the training file's ``input_column`` (or null).
``scaler``
    ``kind`` (``standard``), ``mean`` and ``scale`` per feature: new rows are scaled as
    ``(x - mean) / scale``, never refitted.
``segments``
    One per segment (with ``--previous``, ids need not be 0..K-1): ``cluster`` id (the
    ``Cluster`` value), ``name``, ``slug``, ``action``, training
    ``size``, ``centroid`` (original units), ``centroid_scaled`` and ``distance_threshold``.
``distance``
    How ``distance`` and ``atypical`` are defined: Euclidean distance to the segment's centroid
    in the scaled space; a customer is atypical when farther than the segment's threshold, the
    ``threshold_quantile`` (0.99) of its training customers' distances.
``k_selection``
    How K was chosen: ``chosen_k``, ``confidence``, ``explanation``, each criterion's pick.
``training_data``
    Fingerprint of the training input: file ``name``, ``format``, ``sha256``, rows read,
    segmented and rejected.
``versions``, ``seed``, ``created``
    custseg, Python, NumPy and scikit-learn versions; the run's seed; the creation time.
``checksum_sha256``
    SHA-256 of the canonical JSON (sorted keys, no spaces, UTF-8) of every other key.

Floats are written with Python's shortest round-trip repr, so a loaded model holds exactly the
numbers the run computed.

Safety
------
Loading reads JSON and checks it; it never unpickles, imports or evaluates anything. A file that
is not JSON (a pickle renamed to ``.custseg.json``, a truncated or binary file), that has the
wrong ``format`` marker, a value edited after it was written (checksum mismatch), or a value of
the wrong shape is refused with :class:`~custseg.exceptions.ModelFileError`. The checksum
detects corruption and hand edits; it is not a signature (anyone can recompute it), and it does
not need to be: nothing in the file can make custseg run code.

Compatibility
-------------
``format_version`` is :data:`FORMAT_VERSION` for files this custseg writes. Older versions from
:data:`MIN_FORMAT_VERSION` on are upgraded on load (``_UPGRADES``); anything else is refused with
a message naming the file's version and the versions this custseg reads. The format does not
depend on scikit-learn, so a model loads and scores the same under any scikit-learn version.

Creation time
-------------
Our rule is that the same input and seed give byte-identical outputs, so ``created`` is not the
wall clock. It is the time given by ``SOURCE_DATE_EPOCH`` (the reproducible-builds convention:
seconds since 1970, UTC) when that is set, the time passed explicitly to :func:`build_model`
(``created=``), and otherwise ``null``. When a model was made is run metadata: the run history
and the file's modification time record it.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np
import pandas as pd

from custseg import __version__
from custseg.data.columns import normalise, parse_column_map, resolve_column
from custseg.exceptions import ConfigError, DataValidationError, ModelFileError, OutputError

if TYPE_CHECKING:
    from custseg.config import RunConfig
    from custseg.data.validate import ValidatedTable
    from custseg.model import Segmenter

#: Name of the model file in a run's output folder.
MODEL_FILE = "segments_model.custseg.json"
#: Value of the ``format`` key.
FORMAT_MARKER = "custseg-model"
#: Format version this custseg writes.
FORMAT_VERSION = 1
#: Oldest format version this custseg still reads (upgrading it on load).
MIN_FORMAT_VERSION = 1
#: A customer is atypical when farther from its centroid than this quantile of the training
#: customers of its segment.
THRESHOLD_QUANTILE = 0.99
#: Model files are a few kilobytes; refuse anything big enough to be something else.
MAX_MODEL_BYTES = 64 * 2**20
#: Extensions of pickles (the seed's ``.pkl``, joblib dumps).
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")
CLUSTER_COLUMN = "Cluster"
SEGMENT_COLUMN = "Segment"
DISTANCE_COLUMN = "distance"
ATYPICAL_COLUMN = "atypical"
_CHECKSUM_KEY = "checksum_sha256"
_PICKLE_PROTOCOL_MARK = b"\x80"
_REFIT_HINT = "Write a new one with custseg run."
#: Upgrades of a parsed document from format version ``v`` to ``v + 1``, keyed by ``v``.
_UPGRADES: dict[int, Callable[[dict], dict]] = {}


class _Scorer(ABC):
    """Scoring shared by custseg's model and a trusted pickle: the data-frame side of predict.

    Subclasses set ``features``, ``input_columns``, ``id_column``, ``id_input_column``,
    ``clusters``, ``names``, ``thresholds`` and implement :meth:`assign`.
    """

    features: tuple[str, ...]
    input_columns: tuple[str, ...]
    id_column: str | None
    id_input_column: str | None
    clusters: np.ndarray
    names: tuple[str, ...]
    thresholds: np.ndarray | None
    path: Path | None

    @property
    def n_segments(self) -> int:
        """Number of segments."""
        return len(self.clusters)

    @property
    def has_thresholds(self) -> bool:
        """True when the model can flag atypical customers."""
        return self.thresholds is not None

    @abstractmethod
    def assign(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Segment index, distance and atypical flag of each row of a feature matrix.

        Parameters
        ----------
        X : numpy.ndarray
            float64, shape (n_rows, n_features), columns in :attr:`features` order, finite.

        Returns
        -------
        index : numpy.ndarray
            Position of each row's segment in :attr:`clusters` (int64).
        distance : numpy.ndarray
            Euclidean distance to that segment's centroid in the scaled space.
        atypical : numpy.ndarray
            bool, distance above the segment's threshold (all False without thresholds).
        """

    def resolve_columns(self, present: Sequence[str], column_map: Mapping[str, str] | None = None,
                        source_name: str = "the data", api: bool = False
                        ) -> tuple[list[str], str | None]:
        """The columns of ``present`` holding each feature, and the id column (or ``None``).

        A feature is found as ``run`` finds it (``column_map``, exact name, same name ignoring
        case and punctuation, known aliases), then by the training file's column name.

        Raises
        ------
        DataValidationError
            If a feature is not there.
        ConfigError
            If two features resolve to the same column.
        """
        present = [str(c) for c in present]
        found: list[str] = []
        for wanted, trained in zip(self.features, self.input_columns, strict=True):
            column = resolve_column(wanted, present, column_map)
            if column is None and trained in present:
                column = trained
            if column is None:
                raise _missing_feature(wanted, present, source_name, self, api)
            found.append(column)
        dupes = sorted({c for c in found if found.count(c) > 1})
        if dupes:
            raise ConfigError(f"Two features of the model read the same column {dupes[0]!r} of "
                              f"{source_name}. Check --column-map.")
        id_col = None
        if self.id_column is not None:
            id_col = resolve_column(self.id_column, present, column_map)
            if id_col is None and self.id_input_column in present:
                id_col = self.id_input_column
        return found, id_col

    def _matrix(self, df: pd.DataFrame, column_map: Mapping[str, str] | Sequence[str] | None
                ) -> tuple[np.ndarray, str | None, np.ndarray | None]:
        if not isinstance(df, pd.DataFrame):
            raise DataValidationError(
                f"Scoring needs a pandas DataFrame with the columns {list(self.features)}, "
                f"got {type(df).__name__}. Wrap it: pd.DataFrame(...).")
        present = [str(c) for c in df.columns]
        if len(set(present)) != len(present):
            twice = sorted({c for c in present if present.count(c) > 1})[0]
            raise DataValidationError(f"The data frame has two columns named {twice!r}. Rename one.")
        frame = df.set_axis(present, axis=1) if list(df.columns) != present else df
        columns, id_col = self.resolve_columns(present, parse_column_map(column_map),
                                               "the data frame", api=True)
        X = np.empty((len(frame), len(columns)), dtype=np.float64)
        for j, (wanted, column) in enumerate(zip(self.features, columns, strict=True)):
            series = frame[column]
            dtype = series.dtype
            if (not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)
                    or pd.api.types.is_complex_dtype(dtype)):
                named = f"Feature {wanted!r}" + (f" (column {column!r})" if column != wanted else "")
                raise DataValidationError(
                    f"{named} has dtype {dtype}, not a number. Convert it first, e.g. "
                    f"df[{column!r}] = pd.to_numeric(df[{column!r}]).")
            X[:, j] = series.to_numpy(dtype=np.float64, na_value=np.nan)
            bad = ~np.isfinite(X[:, j])
            if bad.any():
                first = frame.index[int(np.argmax(bad))]
                raise DataValidationError(
                    f"Feature {wanted!r} has {int(bad.sum())} missing or infinite value(s) in the "
                    f"data frame (first at index {first!r}). Drop or fill those rows; "
                    "custseg predict rejects such rows with a reason instead.")
        ids = frame[id_col].to_numpy() if id_col is not None else None
        return X, id_col, ids

    def predict(self, df: pd.DataFrame, column_map: Mapping[str, str] | None = None) -> np.ndarray:
        """Segment (``Cluster`` id) of each row of ``df``; never refits anything.

        Parameters
        ----------
        df : pandas.DataFrame
            New customers. Features are found by name (any column order, aliases included);
            other columns are ignored.
        column_map : mapping, optional
            ``{column in df: feature name}`` renames, as ``--column-map``.

        Returns
        -------
        numpy.ndarray
            int32 ``Cluster`` id per row.

        Raises
        ------
        DataValidationError
            A feature is missing, not numeric, or has missing / infinite values.
        """
        X, _, _ = self._matrix(df, column_map)
        index, _, _ = self.assign(X)
        return self.clusters[index].astype(np.int32)

    def score(self, df: pd.DataFrame, column_map: Mapping[str, str] | None = None) -> pd.DataFrame:
        """Segment, distance and atypical flag of each row of ``df``.

        Parameters
        ----------
        df : pandas.DataFrame
            New customers (see :meth:`predict`).
        column_map : mapping, optional
            ``{column in df: feature name}`` renames.

        Returns
        -------
        pandas.DataFrame
            Indexed like ``df``: the id column (named as in ``df``, when present), ``Cluster``,
            ``Segment`` (name), ``distance`` (to the segment's centroid, scaled space) and
            ``atypical`` (distance above the segment's threshold).

        Raises
        ------
        DataValidationError
            As :meth:`predict`.
        """
        X, id_col, ids = self._matrix(df, column_map)
        index, distance, atypical = self.assign(X)
        out = {}
        if id_col is not None:
            out[id_col] = ids
        out[CLUSTER_COLUMN] = self.clusters[index].astype(np.int32)
        out[SEGMENT_COLUMN] = np.asarray(self.names, dtype=object)[index]
        out[DISTANCE_COLUMN] = distance
        out[ATYPICAL_COLUMN] = atypical
        return pd.DataFrame(out, index=df.index)


@dataclass(frozen=True, eq=False)
class SegmentModel(_Scorer):
    """A fitted segmentation as custseg's model file holds it; scores new customers.

    Build one with :func:`build_model`, write it with :func:`save_model`, read it with
    :func:`load_model`. Scoring scales new rows with the stored scaler and assigns each to the
    nearest stored centroid: nothing is refitted.

    Attributes
    ----------
    features : tuple of str
        Feature names, in model order.
    input_columns : tuple of str
        Training file's column of each feature.
    input_dtypes : tuple of str
        Arrow type of each training column as read (``string`` for CSV text).
    id_column : str or None
        Customer id column asked for; ``id_input_column``: the training file's.
    mean, scale : numpy.ndarray
        Scaler parameters: scaled = (x - mean) / scale.
    centroids : numpy.ndarray
        Centroids in the scaled space, shape (n_segments, n_features), in ``clusters`` order.
    centroids_original : numpy.ndarray
        The same centroids in the features' units.
    clusters : numpy.ndarray
        ``Cluster`` id of each segment.
    names, slugs, actions : tuple of str
        Business name, file-name form and suggested action of each segment.
    sizes : numpy.ndarray
        Training customers per segment.
    thresholds : numpy.ndarray
        Distance above which a customer of a segment is atypical.
    threshold_quantile : float
        Quantile of the training distances the thresholds are.
    k_selection : dict
        How K was chosen.
    training_data : dict
        Fingerprint of the training input (name, format, sha256, row counts).
    versions : dict
        Versions of custseg, Python and libraries that wrote the model.
    seed : int or None
        Seed of the run.
    created : str or None
        Creation time, ISO 8601 UTC (see the module notes), or None.
    format_version : int
        Format version of the file the model was read from (or will be written as).
    path : pathlib.Path or None
        File the model was loaded from.
    """

    features: tuple[str, ...]
    input_columns: tuple[str, ...]
    input_dtypes: tuple[str, ...]
    id_column: str | None
    id_input_column: str | None
    mean: np.ndarray
    scale: np.ndarray
    centroids: np.ndarray
    centroids_original: np.ndarray
    clusters: np.ndarray
    names: tuple[str, ...]
    slugs: tuple[str, ...]
    actions: tuple[str, ...]
    sizes: np.ndarray
    thresholds: np.ndarray | None
    threshold_quantile: float = THRESHOLD_QUANTILE
    k_selection: dict = field(default_factory=dict)
    training_data: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    seed: int | None = None
    created: str | None = None
    format_version: int = FORMAT_VERSION
    path: Path | None = None

    def scale_features(self, X: np.ndarray) -> np.ndarray:
        """``X`` (features in model order) in the scaled space, with the stored scaler."""
        # Same operations, in the same order, as StandardScaler.transform: identical bits.
        Z = np.array(X, dtype=np.float64, copy=True)
        Z -= self.mean
        Z /= self.scale
        return Z

    def assign(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        Z = self.scale_features(X)
        index = nearest(Z, self.centroids)
        distance = distances_to(Z, self.centroids, index)
        if self.thresholds is None:
            return index, distance, np.zeros(len(index), dtype=bool)
        return index, distance, distance > self.thresholds[index]

    def to_dict(self) -> dict:
        """The model file's content (without its checksum), JSON-ready and deterministic."""
        return {
            "format": FORMAT_MARKER,
            "format_version": FORMAT_VERSION,
            "created": self.created,
            "features": [
                {"name": n, "input_column": c, "dtype": "float64", "input_dtype": t}
                for n, c, t in zip(self.features, self.input_columns, self.input_dtypes, strict=True)
            ],
            "id_column": {"name": self.id_column, "input_column": self.id_input_column},
            "scaler": {"kind": "standard", "mean": _floats(self.mean),
                       "scale": _floats(self.scale)},
            "segments": [
                {
                    "cluster": int(self.clusters[i]),
                    "name": self.names[i],
                    "slug": self.slugs[i],
                    "action": self.actions[i],
                    "size": int(self.sizes[i]),
                    "centroid": _floats(self.centroids_original[i]),
                    "centroid_scaled": _floats(self.centroids[i]),
                    "distance_threshold": (None if self.thresholds is None
                                           else float(self.thresholds[i])),
                }
                for i in range(self.n_segments)
            ],
            "distance": {"metric": "euclidean", "space": "scaled",
                         "threshold_quantile": float(self.threshold_quantile)},
            "k_selection": _jsonable(self.k_selection),
            "training_data": _jsonable(self.training_data),
            "seed": self.seed,
            "versions": dict(self.versions),
        }

    def __repr__(self) -> str:
        where = f", path={str(self.path)!r}" if self.path is not None else ""
        return (f"SegmentModel(k={self.n_segments}, features={list(self.features)!r}"
                f"{where})")


def nearest(Z: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the nearest centroid of each row of ``Z`` (first one on ties).

    Uses scikit-learn's KMeans arithmetic (``||c||² - 2 z·c``, argmin), so labels agree with
    the run's bit for bit.

    Examples
    --------
    >>> nearest(np.array([[0.0, 0.0], [2.9, 3.0]]), np.array([[0.0, 0.1], [3.0, 3.0]])).tolist()
    [0, 1]
    """
    from threadpoolctl import threadpool_limits

    norms = np.einsum("ij,ij->i", centroids, centroids)
    # One BLAS thread, as scikit-learn's predict uses: faster for this thin product, and the
    # same summation order.
    with threadpool_limits(1, user_api="blas"):
        D = Z @ centroids.T
    D *= -2.0
    D += norms
    return np.argmin(D, axis=1)


def distances_to(Z: np.ndarray, centroids: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Euclidean distance of each row of ``Z`` to the centroid ``index`` names.

    Examples
    --------
    >>> distances_to(np.array([[3.0, 4.0]]), np.array([[0.0, 0.0]]), np.array([0])).tolist()
    [5.0]
    """
    diff = Z - centroids[index]
    return np.sqrt(np.einsum("ij,ij->i", diff, diff))


def build_model(segmenter: Segmenter, validated: ValidatedTable, k_selection: object,
                config: RunConfig, segments: Sequence[object] | None = None, *,
                segment_ids: Sequence[int] | np.ndarray | None = None,
                created: str | datetime | None = None) -> SegmentModel:
    """The model file's content for a finished fit.

    Parameters
    ----------
    segmenter : custseg.model.Segmenter
        Fitted on ``validated``'s feature values (its ``labels_`` are the training segments).
    validated : custseg.data.validate.ValidatedTable
        The training rows.
    k_selection : custseg.selection.KSelection, mapping or None
        How K was chosen.
    config : custseg.config.RunConfig
        Options of the run (seed, id column).
    segments : sequence, optional
        Per segment, in the segmenter's order (its ``labels_``), objects with ``cluster``,
        ``name``, ``slug`` and ``action`` attributes (:attr:`custseg.pipeline.RunResult.segments`).
        Default: ``Segment 0``, ... and no actions.
    segment_ids : sequence of int, optional
        ``Cluster`` id of each segment, in the segmenter's order (stable ids across runs,
        :attr:`custseg.pipeline.RunResult.segment_ids`). Default: the ``cluster`` of
        ``segments``, else 0..K-1.
    created : str or datetime, optional
        Creation time to record; default ``SOURCE_DATE_EPOCH`` when set, else none (outputs
        stay byte-identical between runs).

    Returns
    -------
    SegmentModel

    Examples
    --------
    >>> from custseg.config import RunConfig
    >>> from custseg.pipeline import segment
    >>> r = segment(RunConfig(k=5))
    >>> model = build_model(r.segmenter, r.validated, r.k_selection, r.config)
    >>> model.n_segments, model.names[0], model.sizes.tolist()
    (5, 'Segment 0', [81, 39, 35, 23, 22])
    >>> from custseg.datasets import load_mall_customers
    >>> bool((model.predict(load_mall_customers()) == r.labels).all())
    True
    """
    centroids = np.array(segmenter.cluster_centers_, dtype=np.float64)
    k = centroids.shape[0]
    mean = np.array(segmenter.scaler_.mean_, dtype=np.float64)
    scale = np.array(segmenter.scaler_.scale_, dtype=np.float64)
    labels = np.asarray(segmenter.labels_)
    values = np.asarray(validated.values, dtype=np.float64)
    if values.shape != (len(labels), centroids.shape[1]):
        raise ConfigError("build_model: the segmenter was not fitted on these validated rows.")
    step = 1_000_000  # a million rows at a time: no scaled copy of every row
    distance = np.concatenate([
        distances_to((values[i:i + step] - mean) / scale, centroids, labels[i:i + step])
        for i in range(0, len(values), step)]) if len(values) else np.zeros(0)
    thresholds = np.array([np.quantile(distance[labels == j], THRESHOLD_QUANTILE)
                           if np.any(labels == j) else 0.0 for j in range(k)])
    clusters = _segment_ids(segment_ids, segments, k)
    names, slugs, actions = _segment_texts(segments, clusters)
    table = validated.table
    input_dtypes = tuple(str(table.schema.field(c).type) if c in table.column_names else "unknown"
                         for c in validated.feature_columns)
    source = validated.source
    return SegmentModel(
        features=tuple(validated.features),
        input_columns=tuple(validated.feature_columns),
        input_dtypes=input_dtypes,
        id_column=config.id_column if validated.id_column is not None else None,
        id_input_column=validated.id_column,
        mean=mean, scale=scale, centroids=centroids,
        centroids_original=np.array(segmenter.cluster_centers_original_, dtype=np.float64),
        clusters=clusters,
        names=names, slugs=slugs, actions=actions,
        sizes=np.bincount(labels, minlength=k).astype(np.int64),
        thresholds=thresholds,
        k_selection=_k_selection_dict(k_selection, k),
        training_data={"name": source.name, "format": source.format, "sha256": source.sha256,
                       "size_bytes": int(source.size_bytes), "rows_input": int(validated.n_input),
                       "rows": int(validated.n_rows), "rows_rejected": len(validated.rejects)},
        versions=library_versions(),
        seed=int(config.seed) if config.seed is not None else None,
        created=creation_time(created),
    )


def model_from_result(result: object, *, created: str | datetime | None = None) -> SegmentModel:
    """:func:`build_model` for a :class:`custseg.pipeline.RunResult`."""
    return build_model(result.segmenter, result.validated, result.k_selection, result.config,
                       getattr(result, "segments", None),
                       segment_ids=getattr(result, "segment_ids", None), created=created)


def _segment_ids(segment_ids: Sequence[int] | np.ndarray | None, segments: Sequence[object] | None,
                 k: int) -> np.ndarray:
    if segment_ids is None:
        segment_ids = ([int(s.cluster) for s in segments] if segments is not None
                       else list(range(k)))
    ids = np.array([int(i) for i in segment_ids], dtype=np.int64)
    if len(ids) != k or len(set(ids.tolist())) != k or np.any(ids < 0):
        raise ConfigError(f"build_model: need {k} distinct non-negative segment ids, got "
                          f"{ids.tolist()}.")
    if segments is not None and [int(s.cluster) for s in segments] != ids.tolist():
        raise ConfigError("build_model: the segments' cluster ids differ from segment_ids.")
    return ids


def _segment_texts(segments: Sequence[object] | None, clusters: np.ndarray
                   ) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    k = len(clusters)
    if segments is None:
        return (tuple(f"Segment {c}" for c in clusters), tuple(f"segment-{c}" for c in clusters),
                ("",) * k)
    if len(segments) != k:
        raise ConfigError(f"build_model: {len(segments)} segments described, the model has {k}.")
    return (tuple(str(s.name) for s in segments), tuple(str(s.slug) for s in segments),
            tuple(str(getattr(s, "action", "") or "") for s in segments))


def _k_selection_dict(selection: object, k: int) -> dict:
    if selection is None:
        return {"chosen_k": k, "confidence": None, "explanation": f"K = {k} was fixed by the caller."}
    if isinstance(selection, Mapping):
        return _jsonable(dict(selection))
    out = {"chosen_k": int(selection.chosen_k), "confidence": selection.confidence,
           "explanation": selection.explanation}
    for name in ("recommended_k", "forced", "k_min", "k_max", "picks"):
        if hasattr(selection, name):
            out[name] = _jsonable(getattr(selection, name))
    return out


def library_versions() -> dict[str, str]:
    """Versions of custseg, Python, NumPy and scikit-learn (what a model depends on)."""
    out = {"custseg": __version__, "python": platform.python_version()}
    for package in ("numpy", "scikit-learn"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:  # pragma: no cover
            out[package] = "unknown"
    return out


def creation_time(created: str | datetime | None = None) -> str | None:
    """The ``created`` value to record: ``created``, else ``SOURCE_DATE_EPOCH``, else None.

    Examples
    --------
    >>> creation_time(datetime(2024, 2, 1, 9, 30, tzinfo=UTC))
    '2024-02-01T09:30:00Z'
    """
    if created is None:
        epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
        if not epoch:
            return None
        try:
            created = datetime.fromtimestamp(int(epoch), UTC)
        except (ValueError, OverflowError, OSError):
            raise ConfigError(f"SOURCE_DATE_EPOCH must be whole seconds since 1970 (got {epoch!r})."
                              ) from None
    if isinstance(created, str):
        try:
            created = datetime.fromisoformat(created.replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(f"created must be an ISO 8601 time, got {created!r}.") from None
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return created.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# --------------------------------------------------------------------------- writing

def canonical_json(document: Mapping[str, Any]) -> bytes:
    """The bytes the checksum covers: sorted keys, no whitespace, UTF-8, no NaN.

    Examples
    --------
    >>> canonical_json({"b": 1.5, "a": "é"})
    b'{"a":"\\xc3\\xa9","b":1.5}'
    """
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def checksum(document: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of ``document`` without its checksum key."""
    body = {key: value for key, value in document.items() if key != _CHECKSUM_KEY}
    return hashlib.sha256(canonical_json(body)).hexdigest()


def model_document(model: SegmentModel) -> dict:
    """The model file's JSON document, checksum included."""
    document = model.to_dict()
    document[_CHECKSUM_KEY] = checksum(document)
    return document


def save_model(model: SegmentModel, path: str | Path) -> Path:
    """Write ``model`` to ``path`` as custseg's JSON model file, atomically.

    Parameters
    ----------
    model : SegmentModel
        The model (from :func:`build_model` or :func:`load_model`).
    path : str or pathlib.Path
        Target file; ``segments_model.custseg.json`` by convention (:data:`MODEL_FILE`).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    OutputError
        If the file cannot be written.
    """
    path = Path(path)
    text = json.dumps(model_document(model), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"Cannot write model file {path}: {exc.strerror or exc}. "
                          "Choose another location.") from exc
    return path


# --------------------------------------------------------------------------- reading

def is_pickle(path: str | Path) -> bool:
    """True when ``path`` is a Python pickle: its first byte is pickle's protocol mark, or it has
    a pickle's extension (``.pkl``, ``.pickle``, ``.joblib``) and is not JSON.

    Only the first bytes are read; nothing is unpickled.
    """
    path = Path(path)
    try:
        with path.open("rb") as fh:
            head = fh.read(64)
    except OSError:
        return path.suffix.lower() in PICKLE_SUFFIXES
    if head[:1] == _PICKLE_PROTOCOL_MARK:
        return True
    return path.suffix.lower() in PICKLE_SUFFIXES and head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] != b"{"


def load_model(path: str | Path) -> SegmentModel:
    """Read custseg's JSON model file, checking it; never executes anything in it.

    Parameters
    ----------
    path : str or pathlib.Path
        A ``.custseg.json`` model file, or a run's output folder (then its :data:`MODEL_FILE`).

    Returns
    -------
    SegmentModel

    Raises
    ------
    ModelFileError
        Missing file; a pickle or other non-JSON file; truncated JSON; wrong ``format`` marker;
        unsupported ``format_version``; checksum mismatch (an edited value); malformed content.

    Examples
    --------
    >>> import tempfile
    >>> from custseg.pipeline import segment
    >>> model = model_from_result(segment())
    >>> path = save_model(model, Path(tempfile.mkdtemp()) / MODEL_FILE)
    >>> loaded = load_model(path)
    >>> loaded.names == model.names, bool((loaded.centroids == model.centroids).all())
    (True, True)
    """
    path = _model_path(Path(path))
    data = _read_bytes(path)
    document = parse_document(data, str(path))
    model = model_from_document(document, str(path))
    return _with_path(model, path)


def _with_path(model: SegmentModel, path: Path) -> SegmentModel:
    object.__setattr__(model, "path", path)
    return model


def _model_path(path: Path) -> Path:
    if path.is_dir():
        inside = path / MODEL_FILE
        if inside.is_file():
            return inside
        pickles = sorted(p.name for p in path.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
        extra = (f" It has {pickles[0]}, a pickle: custseg loads pickles only with --trust-pickle."
                 if pickles else "")
        raise ModelFileError(f"No model file {MODEL_FILE} in folder {path}.{extra} "
                             "Write one with custseg run, or name the model file with --model.")
    if not path.exists():
        raise ModelFileError(f"Model file {path} does not exist. Check the path, or pass the "
                             "run's output folder.")
    return path


def _read_bytes(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_MODEL_BYTES:
            raise ModelFileError(f"Model file {path} is {size / 2**20:.0f} MiB, too large to be a "
                                 f"custseg model (they are a few kilobytes). {_REFIT_HINT}")
        with path.open("rb") as fh:
            return fh.read(MAX_MODEL_BYTES + 1)
    except OSError as exc:
        raise ModelFileError(f"Cannot read model file {path}: {exc.strerror or exc}. "
                             "Check its permissions.") from exc


def parse_document(data: bytes, name: str = "model file") -> dict:
    """Parse and check a model file's bytes: JSON, marker, version, checksum; upgrade if older.

    Parameters
    ----------
    data : bytes
        The file's content.
    name : str
        The file, for messages.

    Returns
    -------
    dict
        The document, upgraded to :data:`FORMAT_VERSION`.

    Raises
    ------
    ModelFileError
        See :func:`load_model`.
    """
    return _parse(data, name, FORMAT_VERSION, MIN_FORMAT_VERSION, _UPGRADES)


def _parse(data: bytes, name: str, current: int, oldest: int,
           upgrades: Mapping[int, Callable[[dict], dict]]) -> dict:
    body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    if body[:1] == _PICKLE_PROTOCOL_MARK:
        raise ModelFileError(
            f"Model file {name} is a Python pickle, not a custseg model file; custseg never loads "
            "it as one, because loading a pickle runs any code inside it. Use the run's "
            f"{MODEL_FILE}, or, only for a pickle you trust, custseg predict --trust-pickle.")
    if not body.strip():
        raise ModelFileError(f"Model file {name} is empty. {_REFIT_HINT}")
    not_json = ModelFileError(f"Model file {name} is not a custseg model file (not JSON). Use the "
                              f"{MODEL_FILE} a run writes.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise not_json from None
    try:
        document = json.loads(text, object_pairs_hook=_no_duplicate_keys,
                              parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        if exc.pos <= len(text) - len(text.lstrip()):
            raise not_json from None
        # A cut file fails at its very end, or inside a string it never closes.
        at_end = exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string")
        what = "truncated (it ends before the JSON does)" if at_end else "damaged (invalid JSON)"
        raise ModelFileError(f"Model file {name} is {what} at line {exc.lineno}, column "
                             f"{exc.colno}. Restore it from a backup, or write a new one with "
                             "custseg run.") from None
    except (ValueError, RecursionError) as exc:
        raise ModelFileError(f"Model file {name} is not a valid custseg model file ({exc}). "
                             f"{_REFIT_HINT}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT_MARKER:
        found = document.get("format") if isinstance(document, dict) else None
        marker = f"format {found!r}" if found is not None else "no format marker"
        raise ModelFileError(f"{name} is JSON but not a custseg model file ({marker}; expected "
                             f"{FORMAT_MARKER!r}). Use the {MODEL_FILE} a run writes.")
    file_version = document.get("format_version")
    if isinstance(file_version, bool) or not isinstance(file_version, int):
        raise ModelFileError(f"Model file {name} has no valid format_version ({file_version!r}). "
                             f"{_REFIT_HINT}")
    readable = f"{oldest}" if oldest == current else f"{oldest} to {current}"
    if file_version > current:
        raise ModelFileError(
            f"Model file {name} has format version {file_version}, newer than this custseg "
            f"{__version__} reads (format version {readable}). Upgrade custseg: "
            "pip install -U custseg.")
    if file_version < oldest:
        raise ModelFileError(
            f"Model file {name} has format version {file_version}, older than this custseg "
            f"{__version__} reads (format version {readable}). Write a new model with custseg run "
            "on the training data.")
    stored = document.get(_CHECKSUM_KEY)
    if not isinstance(stored, str):
        raise ModelFileError(f"Model file {name} has no checksum, so its values cannot be "
                             f"trusted. {_REFIT_HINT}")
    try:
        actual = checksum(document)
    except ValueError as exc:  # pragma: no cover - NaN is refused while parsing
        raise ModelFileError(f"Model file {name} is not valid ({exc}). {_REFIT_HINT}") from None
    if actual != stored.lower():
        raise ModelFileError(
            f"Model file {name} was modified after custseg wrote it (checksum mismatch), so it "
            f"is refused. Restore the original, or write a new model with custseg run.")
    while document["format_version"] < current:
        step = document["format_version"]
        if step not in upgrades:
            raise ModelFileError(f"Model file {name} has format version {file_version}, which this "
                                 f"custseg cannot upgrade to {current}. {_REFIT_HINT}")
        document = upgrades[step](dict(document))
        document["format_version"] = step + 1
    return document


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict:
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key {key!r} appears twice")
        out[key] = value
    return out


def _no_constants(token: str) -> float:
    raise ValueError(f"{token} is not a number")


def model_from_document(document: Mapping[str, Any], name: str = "model file") -> SegmentModel:
    """Build a :class:`SegmentModel` from a parsed, checked document, validating every field.

    Raises
    ------
    ModelFileError
        If a field is missing or of the wrong type or shape.
    """
    check = _Checker(name)
    features = check.list_of(document, "features", dict, min_len=1)
    feature_names = tuple(check.text(f, "name", f"features[{i}]") for i, f in enumerate(features))
    if len(set(feature_names)) != len(feature_names):
        check.fail("features: a feature is listed twice")
    f = len(features)
    input_columns = tuple(check.text(x, "input_column", f"features[{i}]")
                          for i, x in enumerate(features))
    input_dtypes = tuple(str(x.get("input_dtype", "unknown")) for x in features)
    id_info = check.mapping(document, "id_column")
    id_column = check.text(id_info, "name", "id_column", optional=True)
    id_input = check.text(id_info, "input_column", "id_column", optional=True)
    scaler = check.mapping(document, "scaler")
    if scaler.get("kind") != "standard":
        check.fail(f"scaler.kind is {scaler.get('kind')!r}; this custseg knows 'standard'")
    mean = check.floats(scaler, "mean", f, "scaler")
    scale = check.floats(scaler, "scale", f, "scaler")
    if np.any(scale <= 0):
        check.fail("scaler.scale has a value <= 0")
    segments = check.list_of(document, "segments", dict, min_len=1)
    k = len(segments)
    where = [f"segments[{j}]" for j in range(k)]
    clusters = np.array([check.integer(s, "cluster", w) for s, w in zip(segments, where, strict=True)],
                        dtype=np.int64)
    if len(set(clusters.tolist())) != k:
        check.fail("segments: a cluster id is listed twice")
    centroids = np.array([check.floats(s, "centroid_scaled", f, w)
                          for s, w in zip(segments, where, strict=True)])
    original = np.array([check.floats(s, "centroid", f, w) for s, w in zip(segments, where, strict=True)])
    raw_thresholds = [s.get("distance_threshold") for s in segments]
    if all(t is None for t in raw_thresholds):
        thresholds = None
    else:
        thresholds = np.array([check.number(s, "distance_threshold", w)
                               for s, w in zip(segments, where, strict=True)])
        if np.any(thresholds < 0):
            check.fail("a distance_threshold is negative")
    distance = document.get("distance") or {}
    quantile = distance.get("threshold_quantile", THRESHOLD_QUANTILE) if isinstance(distance, dict) \
        else THRESHOLD_QUANTILE
    seed = document.get("seed")
    return SegmentModel(
        features=feature_names,
        input_columns=input_columns,
        input_dtypes=input_dtypes,
        id_column=id_column,
        id_input_column=id_input,
        mean=mean, scale=scale, centroids=centroids, centroids_original=original,
        clusters=clusters,
        names=tuple(check.text(s, "name", w) for s, w in zip(segments, where, strict=True)),
        slugs=tuple(str(s.get("slug") or f"segment-{c}") for s, c in zip(segments, clusters, strict=True)),
        actions=tuple(str(s.get("action") or "") for s in segments),
        sizes=np.array([int(s.get("size") or 0) for s in segments], dtype=np.int64),
        thresholds=thresholds,
        threshold_quantile=float(quantile) if isinstance(quantile, int | float) else THRESHOLD_QUANTILE,
        k_selection=dict(document.get("k_selection") or {}),
        training_data=dict(document.get("training_data") or {}),
        versions=dict(document.get("versions") or {}),
        seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
        created=document.get("created") if isinstance(document.get("created"), str) else None,
        format_version=int(document["format_version"]),
    )


class _Checker:
    """Field checks with one-line messages naming the file and the field."""

    def __init__(self, name: str) -> None:
        self.name = name

    def fail(self, problem: str) -> NoReturn:
        raise ModelFileError(f"Model file {self.name} is invalid: {problem}. {_REFIT_HINT}")

    def mapping(self, parent: Mapping, key: str) -> dict:
        value = parent.get(key)
        if not isinstance(value, dict):
            self.fail(f"{key} is missing or not an object")
        return value

    def list_of(self, parent: Mapping, key: str, kind: type, min_len: int = 0) -> list:
        value = parent.get(key)
        if not isinstance(value, list) or len(value) < min_len or not all(
                isinstance(v, kind) for v in value):
            self.fail(f"{key} is missing or not a list of {kind.__name__ if kind is not dict else 'objects'}")
        return value

    def text(self, parent: Mapping, key: str, where: str, optional: bool = False) -> str | None:
        value = parent.get(key)
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value:
            self.fail(f"{where}.{key} is missing or not text")
        return value

    def integer(self, parent: Mapping, key: str, where: str) -> int:
        value = parent.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(f"{where}.{key} is missing or not a whole number")
        return value

    def number(self, parent: Mapping, key: str, where: str) -> float:
        value = parent.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
            self.fail(f"{where}.{key} is missing or not a finite number")
        return float(value)

    def floats(self, parent: Mapping, key: str, n: int, where: str) -> np.ndarray:
        value = parent.get(key)
        if (not isinstance(value, list) or len(value) != n
                or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)):
            self.fail(f"{where}.{key} must be a list of {n} numbers (one per feature)")
        array = np.array(value, dtype=np.float64)
        if not np.all(np.isfinite(array)):
            self.fail(f"{where}.{key} has a value that is not finite")
        return array


def _floats(values: np.ndarray) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=np.float64).ravel()]


def _jsonable(value: Any) -> Any:
    """Plain JSON types from numpy scalars, tuples, and NaN (as None)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    return str(value)


def _missing_feature(wanted: str, present: Sequence[str], source_name: str, model: _Scorer,
                     api: bool) -> DataValidationError:
    import difflib

    listed = ", ".join(repr(p) for p in present) if present else "(none)"
    keys = {normalise(p): p for p in present}
    close = difflib.get_close_matches(normalise(wanted), list(keys), n=1, cutoff=0.5)
    hint = f" Did you mean {keys[close[0]]!r}?" if close else ""
    fix = (f"pass column_map={{'<column>': {wanted!r}}}" if api
           else f"map a column to it with --column-map 'OLD={wanted}'")
    return DataValidationError(
        f"Column {wanted!r}, a feature of the model, not found in {source_name}. Columns present: "
        f"{listed}.{hint} Add the column, or {fix}.")


# --------------------------------------------------------------------------- trusted pickles

@dataclass(frozen=True, eq=False)
class PickledModel(_Scorer):
    """A scikit-learn Pipeline loaded from a pickle the user trusts (``--trust-pickle``).

    ``Cluster`` comes from the pipeline's own ``predict``; ``distance`` from its KMeans centres
    in the space its preceding steps produce. A pickle has no distance thresholds, so no
    customer is flagged atypical (:attr:`has_thresholds` is False).
    """

    pipeline: Any
    features: tuple[str, ...]
    input_columns: tuple[str, ...]
    clusters: np.ndarray
    names: tuple[str, ...]
    id_column: str | None = "CustomerID"
    id_input_column: str | None = None
    thresholds: np.ndarray | None = None
    path: Path | None = None

    def assign(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        frame = pd.DataFrame(X, columns=list(self.input_columns), copy=False)
        labels = np.asarray(self.pipeline.predict(frame)).astype(np.int64)
        index = np.minimum(np.searchsorted(self.clusters, labels), len(self.clusters) - 1)
        distance = np.full(len(labels), np.nan)
        steps = getattr(self.pipeline, "steps", None)
        centers = getattr(self.pipeline[-1], "cluster_centers_", None) if steps else None
        if centers is not None:
            Z = self.pipeline[:-1].transform(frame) if len(steps) > 1 else X
            distance = distances_to(np.asarray(Z, dtype=np.float64), np.asarray(centers), labels)
        return index, distance, np.zeros(len(labels), dtype=bool)


def load_trusted_pickle(path: str | Path) -> PickledModel:
    """Load a scikit-learn pipeline pickle (``kmeans_customer_segmentation_model.pkl``).

    **This runs any code the pickle contains**: call it only on a file you created or trust.
    custseg's own model file (:func:`load_model`) is the safe alternative.

    Raises
    ------
    ModelFileError
        If the file is missing, not a pickle joblib can read, or not a fitted clustering model
        with feature names.
    """
    import joblib

    path = Path(path)
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
        if not found:
            raise ModelFileError(f"No pickle (.pkl) in folder {path}. Name the model file with --model.")
        path = found[0]
    if not path.is_file():
        raise ModelFileError(f"Model file {path} does not exist. Check the path.")
    try:
        pipeline = joblib.load(path)
    except Exception as exc:  # unpickling raises anything the pickle's code raises
        raise ModelFileError(f"Cannot load pickle {path} ({type(exc).__name__}: {exc}). "
                             "Use the custseg model file instead.") from exc
    names = getattr(pipeline, "feature_names_in_", None)
    if not hasattr(pipeline, "predict") or names is None:
        raise ModelFileError(f"Pickle {path} is not a fitted scikit-learn model with feature names "
                             f"(got {type(pipeline).__name__}). Use the custseg model file instead.")
    last = pipeline[-1] if hasattr(pipeline, "steps") else pipeline
    centers = getattr(last, "cluster_centers_", None)
    if centers is None or len(centers) < 1:
        raise ModelFileError(f"Pickle {path} is not a clustering model (no cluster centres). Use "
                             "the custseg model file instead.")
    # Runs with --previous keep stable ids: ids no segment uses have a placeholder centre.
    from custseg import model as model_module

    placeholder = getattr(model_module, "PLACEHOLDER", None)
    centers = np.asarray(centers, dtype=np.float64)
    used = (~np.all(centers == placeholder, axis=1) if placeholder is not None
            else np.ones(len(centers), dtype=bool))
    clusters = np.flatnonzero(used).astype(np.int64)
    features = tuple(str(n) for n in names)
    return PickledModel(pipeline=pipeline, features=features, input_columns=features,
                        clusters=clusters, names=tuple(f"Segment {c}" for c in clusters), path=path)
