"""Trusted pickles: the seed's scikit-learn pipeline, loaded only when the user says so.

Loading a pickle runs any code it contains; custseg loads one only with ``--trust-pickle`` (or
:func:`load_trusted_pickle` in Python), for files the user made. custseg's own model file
(:func:`custseg.modelfile.load_model`) is the safe alternative.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from custseg.engines.kernels import distances_to
from custseg.exceptions import ModelFileError
from custseg.modelfile.format import PICKLE_SUFFIXES
from custseg.modelfile.scorer import Scorer
from custseg.segmentation.estimator import PLACEHOLDER


@dataclass(frozen=True, eq=False)
class PickledModel(Scorer):
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
    #: The preparation of a custseg pipeline's scaler step when it has categorical features
    #: (read as categories, as custseg's model file reads them), else None.
    prepare: Any = None

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
    centers = np.asarray(centers, dtype=np.float64)
    used = ~np.all(centers == PLACEHOLDER, axis=1)
    clusters = np.flatnonzero(used).astype(np.int64)
    features = tuple(str(n) for n in names)
    first = pipeline[0] if hasattr(pipeline, "steps") else None
    prep = getattr(first, "prep", None)
    return PickledModel(pipeline=pipeline, features=features, input_columns=features,
                        clusters=clusters, names=tuple(f"Segment {c}" for c in clusters), path=path,
                        prepare=prep if getattr(prep, "categories", ()) else None)
