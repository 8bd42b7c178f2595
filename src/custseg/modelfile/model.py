"""The model a run writes: :class:`SegmentModel`, and its JSON document."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from custseg.engines.kernels import (
    assign_rows,
    distances_to,
    fused_kernels,
    nearest,
    scaled,
    single_blas,
)
from custseg.engines.prepare import FeaturePrep
from custseg.modelfile.format import (
    CHECKSUM_KEY,
    FORMAT_MARKER,
    FORMAT_VERSION,
    THRESHOLD_QUANTILE,
    checksum,
    floats,
    jsonable,
)
from custseg.modelfile.scorer import Scorer


@dataclass(frozen=True, eq=False)
class SegmentModel(Scorer):
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
    prepare : FeaturePrep or None
        Fill and transform applied to the features before the scaler (``prepare`` in the file;
        absent when the run changed nothing).
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
    prepare: FeaturePrep | None = None

    def scale_features(self, X: np.ndarray) -> np.ndarray:
        """``X`` (features in model order) in the scaled space, with the stored preparation
        and scaler."""
        return scaled(self.prepared(X), self.mean, self.scale)

    def prepared(self, X: np.ndarray) -> np.ndarray:
        """``X`` filled and transformed as the scaler takes it (the stored preparation)."""
        return X if self.prepare is None else self.prepare.forward(X)

    def assign(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        prepared = self.prepared(X)
        Z = scaled(prepared, self.mean, self.scale)
        if fused_kernels(len(X)) is not None:
            index, _ = assign_rows(prepared, self.centroids, self.mean, self.scale)  # same labels
        else:
            with single_blas():
                index, _ = nearest(Z, self.centroids)
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
            **({"prepare": self.prepare.to_dict(self.features)} if self.prepare is not None
               and not self.prepare.identity else {}),
            "scaler": {"kind": "standard", "mean": floats(self.mean),
                       "scale": floats(self.scale)},
            "segments": [
                {
                    "cluster": int(self.clusters[i]),
                    "name": self.names[i],
                    "slug": self.slugs[i],
                    "action": self.actions[i],
                    "size": int(self.sizes[i]),
                    "centroid": floats(self.centroids_original[i]),
                    "centroid_scaled": floats(self.centroids[i]),
                    "distance_threshold": (None if self.thresholds is None
                                           else float(self.thresholds[i])),
                }
                for i in range(self.n_segments)
            ],
            "distance": {"metric": "euclidean", "space": "scaled",
                         "threshold_quantile": float(self.threshold_quantile)},
            "k_selection": jsonable(self.k_selection),
            "training_data": jsonable(self.training_data),
            "seed": self.seed,
            "versions": dict(self.versions),
        }

    def __repr__(self) -> str:
        where = f", path={str(self.path)!r}" if self.path is not None else ""
        return (f"SegmentModel(k={self.n_segments}, features={list(self.features)!r}"
                f"{where})")


def model_document(model: SegmentModel) -> dict:
    """The model file's JSON document, checksum included."""
    document = model.to_dict()
    document[CHECKSUM_KEY] = checksum(document)
    return document
