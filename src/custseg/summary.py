"""Machine-readable summaries of a run (``segments.json``) and of a K choice.

Deterministic by construction: sorted keys, floats rounded to 6 decimals, no timestamps
(the time a run happened is run metadata, kept in the run history, not in data files).
"""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

import numpy as np

from custseg import __version__

if TYPE_CHECKING:
    from custseg.config import RunConfig
    from custseg.data.readers import SourceInfo
    from custseg.pipeline import KChoiceResult, RunResult

SUMMARY_FORMAT_VERSION = 1
_PACKAGES = ("numpy", "pandas", "pyarrow", "scikit-learn", "scipy")


def rounded(value: float, digits: int = 6) -> float | None:
    """A float for JSON: rounded, ``None`` for NaN or infinity.

    Examples
    --------
    >>> rounded(0.12345678), rounded(float("nan"))
    (0.123457, None)
    """
    value = float(value)
    return round(value, digits) if np.isfinite(value) else None


def versions() -> dict[str, str]:
    """Versions of custseg, Python and the numeric libraries the result depends on."""
    out = {"custseg": __version__, "python": platform.python_version()}
    for package in _PACKAGES:
        try:
            out[package] = version(package)
        except PackageNotFoundError:  # pragma: no cover
            out[package] = "unknown"
    return out


def source_summary(source: SourceInfo) -> dict:
    """The input's identity: name, format, size and SHA-256 fingerprint."""
    return {"name": source.name, "format": source.format, "encoding": source.encoding,
            "delimiter": source.delimiter, "sha256": source.sha256,
            "size_bytes": source.size_bytes}


def config_summary(config: RunConfig) -> dict:
    """The options that shaped the result."""
    return {
        "input": None if config.input is None else str(config.input),
        "features": list(config.features), "k": config.k, "k_min": config.k_min,
        "k_max": config.k_max, "min_segment_share": config.min_segment_share,
        "seed": config.seed, "n_init": config.n_init, "id_column": config.id_column,
        "on_invalid": config.on_invalid, "column_map": dict(config.column_map),
    }


def _rows(validated) -> dict:
    return {"input": validated.n_input, "clustered": validated.n_rows,
            "rejected": len(validated.rejects)}


def run_summary(result: RunResult) -> dict:
    """The content of ``segments.json``."""
    centers = result.segmenter.cluster_centers_original_
    names = result.features.names
    segments = []
    for cluster, row in result.profiles.table.iterrows():
        segments.append({
            "cluster": int(cluster),
            "size": int(row["size"]),
            "share": rounded(row["share"]),
            "centroid": {n: rounded(c) for n, c in zip(names, centers[cluster], strict=True)},
        })
    return {
        "format_version": SUMMARY_FORMAT_VERSION,
        "k": result.k,
        "features": list(names),
        "feature_columns": list(result.validated.feature_columns),
        "id_column": result.validated.id_column,
        "k_selection": result.k_selection.to_dict(),
        "metrics": {"silhouette": rounded(result.silhouette),
                    "inertia": rounded(result.segmenter.inertia_)},
        "rows": _rows(result.validated),
        "segments": segments,
        "run": {"input": source_summary(result.validated.source),
                "config": config_summary(result.config), "versions": versions()},
    }


def k_choice_summary(result: KChoiceResult) -> dict:
    """The content of ``k_selection.json`` (``custseg choose-k``)."""
    return {
        "format_version": SUMMARY_FORMAT_VERSION,
        "features": list(result.features.names),
        "k_selection": result.k_selection.to_dict(),
        "rows": _rows(result.validated),
        "run": {"input": source_summary(result.validated.source),
                "config": config_summary(result.config), "versions": versions()},
    }
