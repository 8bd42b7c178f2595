"""The model file's content for a finished fit: :func:`build_model`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from custseg.engines.kernels import distances_to, scaled
from custseg.engines.preparedscaler import PreparedScaler
from custseg.exceptions import ConfigError
from custseg.io.formats import SourceInfo
from custseg.modelfile.format import THRESHOLD_QUANTILE, creation_time, jsonable, library_versions
from custseg.modelfile.model import SegmentModel
from custseg.segmentation.estimator import Segmenter


@dataclass(frozen=True)
class TrainingData:
    """What a model was trained on: the input's fingerprint and its row counts.

    Attributes
    ----------
    source : SourceInfo
        The input.
    columns : tuple of str
        The input columns holding the features.
    dtypes : tuple of str
        Their Arrow types as read (``string`` for CSV text).
    id_column, id_input_column : str or None
        The id column asked for, and the input's column holding it (None: row numbers).
    rows_input, rows, rows_rejected : int
        Records read, segmented and rejected.
    """

    source: SourceInfo
    columns: tuple[str, ...]
    dtypes: tuple[str, ...]
    id_column: str | None
    id_input_column: str | None
    rows_input: int
    rows: int
    rows_rejected: int

    def to_dict(self) -> dict:
        """The model file's ``training_data`` block."""
        return {"name": self.source.name, "format": self.source.format,
                "sha256": self.source.sha256, "size_bytes": int(self.source.size_bytes),
                "rows_input": int(self.rows_input), "rows": int(self.rows),
                "rows_rejected": int(self.rows_rejected)}


def distance_thresholds(values: np.ndarray, labels: np.ndarray, segmenter: Segmenter
                        ) -> np.ndarray:
    """Per segment, the :data:`THRESHOLD_QUANTILE` of its customers' distances to its centroid.

    Parameters
    ----------
    values : numpy.ndarray
        Customers' feature values (the run's sample), original units.
    labels : numpy.ndarray
        Their segment positions.
    segmenter : Segmenter
        The fit (scaler and centroids).
    """
    k = len(segmenter.cluster_centers_)
    scaler = segmenter.scaler_
    Z = (scaler.transform(values) if isinstance(scaler, PreparedScaler)
         else scaled(values, scaler.mean_, scaler.scale_))
    distance = distances_to(Z, segmenter.cluster_centers_, labels)
    return np.array([np.quantile(distance[labels == j], THRESHOLD_QUANTILE)
                     if np.any(labels == j) else 0.0 for j in range(k)])


def build_model(segmenter: Segmenter, training: TrainingData, *, thresholds: np.ndarray,
                sizes: np.ndarray | None = None, k_selection: object = None,
                segments: Sequence[object] | None = None,
                segment_ids: Sequence[int] | np.ndarray | None = None,
                features: Sequence[str] | None = None, seed: int | None = None,
                created: str | datetime | None = None) -> SegmentModel:
    """The model file's content for a finished fit.

    Parameters
    ----------
    segmenter : Segmenter
        The fit: scaler and centroids (segment order).
    training : TrainingData
        What it was trained on.
    thresholds : numpy.ndarray
        Atypical-distance threshold of each segment (:func:`distance_thresholds`).
    sizes : numpy.ndarray, optional
        Training customers per segment (default ``segmenter.cluster_sizes_``).
    k_selection : KSelection, mapping or None
        How K was chosen.
    segments : sequence, optional
        Per segment, objects with ``cluster``, ``name``, ``slug`` and ``action`` attributes
        (:class:`custseg.describe.naming.SegmentInfo`). Default: ``Segment 0``, ... and no actions.
    segment_ids : sequence of int, optional
        ``Cluster`` id of each segment (stable ids across runs). Default: the ``cluster`` of
        ``segments``, else 0..K-1.
    features : sequence of str, optional
        Feature names as the run asked for them (default: the training columns).
    seed : int, optional
        The run's seed.
    created : str or datetime, optional
        Creation time to record; default ``SOURCE_DATE_EPOCH`` when set, else none (outputs
        stay byte-identical between runs).

    Returns
    -------
    SegmentModel
    """
    centroids = np.array(segmenter.cluster_centers_, dtype=np.float64)
    k = centroids.shape[0]
    clusters = _segment_ids(segment_ids, segments, k)
    names, slugs, actions = _segment_texts(segments, clusters)
    sizes = segmenter.cluster_sizes_ if sizes is None else sizes
    return SegmentModel(
        features=tuple(features if features is not None else training.columns),
        input_columns=tuple(training.columns),
        input_dtypes=tuple(training.dtypes),
        id_column=training.id_column if training.id_input_column is not None else None,
        id_input_column=training.id_input_column,
        mean=np.array(segmenter.scaler_.mean_, dtype=np.float64),
        scale=np.array(segmenter.scaler_.scale_, dtype=np.float64),
        centroids=centroids,
        centroids_original=np.array(segmenter.cluster_centers_original_, dtype=np.float64),
        clusters=clusters, names=names, slugs=slugs, actions=actions,
        sizes=np.asarray(sizes, dtype=np.int64),
        thresholds=np.asarray(thresholds, dtype=np.float64),
        k_selection=_k_selection_dict(k_selection, k),
        training_data=training.to_dict(),
        versions=library_versions(),
        seed=int(seed) if seed is not None else None,
        created=creation_time(created),
        prepare=getattr(segmenter.scaler_, "prep", None),
    )


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
        return jsonable(dict(selection))
    out = {"chosen_k": int(selection.chosen_k), "confidence": selection.confidence,
           "explanation": selection.explanation}
    for name in ("recommended_k", "forced", "k_min", "k_max", "picks"):
        if hasattr(selection, name):
            out[name] = jsonable(getattr(selection, name))
    return out
