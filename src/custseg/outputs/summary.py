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
from custseg.describe.profile import BASE
from custseg.engines.categories import CATEGORY_RULE
from custseg.io.columns import how_matched

if TYPE_CHECKING:
    from custseg.config import RunConfig
    from custseg.io.formats import SourceInfo
    from custseg.pipeline.result import KChoiceResult, Rows, RunResult

SUMMARY_FORMAT_VERSION = 2
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


#: What a run computes on its sample rather than on every customer (exact when the sample holds
#: every customer: ``run.engine.sample_rows`` equals ``rows.clustered``).
ESTIMATED_ON_SAMPLE = ("k_selection", "median", "q1", "q3", "names", "rules_tree", "silhouette",
                       "distance_threshold", "psi", "figures")
#: The sample's statistics the Spark engine computes over every customer instead
#: (``percentile_approx``, ``run.engine.quantiles``) when its sample does not hold them all.
QUANTILES = ("median", "q1", "q3")


def engine_summary(result: RunResult) -> dict:
    """How the run's engine ran, and what it estimated on the sample.

    The engine's name is the one field that differs between engines on the same input: every
    number the run reports is the same on each.
    """
    facts = {key: (round(value, 12) if isinstance(value, float) else value)
             for key, value in result.engine.items()}
    estimated = [name for name in ESTIMATED_ON_SAMPLE
                 if not (facts.get("quantiles") == "percentile_approx" and name in QUANTILES)]
    return {**facts, "estimated_on_sample": estimated}


def config_summary(config: RunConfig) -> dict:
    """The options that shaped the result."""
    return {
        "input": None if config.input is None else str(config.input),
        "features": list(config.features), "k": config.k, "k_min": config.k_min,
        "k_max": config.k_max, "min_segment_share": config.min_segment_share,
        "seed": config.seed, "n_init": config.n_init, "id_column": config.id_column,
        "on_invalid": config.on_invalid, "column_map": dict(config.column_map),
        "names": None if config.names is None else str(config.names),
        "previous": None if config.previous is None else str(config.previous),
        **{key: value for key, value in (("sheet", config.sheet), ("decimal", config.decimal))
           if value is not None},
        **({"categorical": list(config.categorical)} if config.categorical else {}),
    }


def rows_summary(rows: Rows) -> dict:
    """Row accounting: read = clustered + rejected, and rejects per reason."""
    return {"input": rows.input, "clustered": rows.clustered, "rejected": rows.rejected,
            "reject_reasons": {str(r): int(n) for r, n in sorted(rows.reasons.items())}}


def _stats(frame, row) -> dict:
    """{column: {stat: value}} for one row of a (column, stat) frame."""
    out: dict[str, dict] = {}
    for (column, stat), value in frame.loc[row].items():
        out.setdefault(column, {})[stat] = rounded(value)
    return out


def profile_summary(result: RunResult) -> tuple[list[dict], dict]:
    """Per-segment blocks and the whole base's, for ``segments.json``."""
    profiles = result.profiles
    centers = result.segmenter.cluster_centers_original_
    names = result.features
    diff = profiles.difference()
    lines = result.rules.rules
    segments = []
    for c, info in enumerate(result.segments):  # c: position; info.cluster: the stable id
        row = profiles.table.loc[c]
        segments.append({
            **info.to_dict(),
            "size": int(row["size"]),
            "share": rounded(row["share"]),
            "centroid": {n: rounded(v) for n, v in zip(names, centers[c], strict=True)},
            "profile": _stats(profiles.numeric, c),
            "difference": _stats(diff, c),
            "categories": {col: {cat: rounded(v) for cat, v in mix.loc[c].items()}
                           for col, mix in profiles.categories.items()},
            "rules": list(lines.get(c, [])),
        })
    base = {
        "size": int(profiles.sizes.sum()),
        "profile": _stats(profiles.numeric, BASE),
        "categories": {col: {cat: rounded(v) for cat, v in mix.loc[BASE].items()}
                       for col, mix in profiles.categories.items()},
    }
    return segments, base


def run_summary(result: RunResult, files: dict[str, str] | None = None) -> dict:
    """The content of ``segments.json`` (its JSON Schema: ``custseg/schemas/segments.schema.json``).

    ``files`` names the run's main files (``clustered``, ``model``) for later runs to find.
    """
    segments, base = profile_summary(result)
    used = {int(i) for i in result.segment_ids}
    if result.changes is not None:
        used |= set(result.changes.previous.used_ids) | {
            int(i) for i in result.changes.previous.segment_ids}
    summary = {
        "format_version": SUMMARY_FORMAT_VERSION,
        "k": result.k,
        "features": list(result.features),
        "feature_columns": list(result.feature_columns),
        "id_column": result.id_column,
        "k_selection": result.k_selection.to_dict(),
        "metrics": {"silhouette": rounded(result.silhouette),
                    "inertia": rounded(result.segmenter.inertia_)},
        "rows": rows_summary(result.rows),
        "segments": segments,
        "all_customers": base,
        "rules": {"fidelity": rounded(result.rules.fidelity), "depth": result.rules.depth,
                  "lines": result.rules.lines(result.names)},
        "run": {"input": source_summary(result.source), "config": config_summary(result.config),
                "engine": engine_summary(result), "versions": versions()},
        "files": dict(files or {}),
        "used_segment_ids": sorted(used),
    }
    preparation = preparation_summary(result)
    if preparation:
        summary["preparation"] = preparation
    categorical = categorical_summary(result)
    if categorical:
        summary["categorical"] = categorical
    if result.changes is not None:
        summary["changes"] = result.changes.to_dict()
    if result.transactions is not None:
        summary["transactions"] = result.transactions
    return summary


def preparation_summary(result: RunResult) -> dict:
    """``segments.json``'s ``preparation``: the features chosen (when the run chose them), the
    columns read for features named otherwise in the input (``columns``), each
    feature's transform and why, missing cells imputed per feature."""
    out: dict = {}
    if result.feature_choice is not None:
        out["feature_choice"] = result.feature_choice.to_dict()
    columns = column_matches(result)
    if any(c["matched"] != "name" for c in columns):
        out["columns"] = columns
    prep = result.preparation
    if prep is not None:
        out["scaler"] = result.config.scaler
        out["transforms"] = [{"feature": f, "transform": t, "why": w} for f, t, w in
                             zip(result.features, prep.transforms, prep.reasons, strict=True)]
        every = result.features + result.config.categorical[:len(prep.categories)]
        out["missing"] = {"policy": result.config.missing,
                          "imputed": dict(zip(every, prep.imputed, strict=True)),
                          "fill": {f: float(v) for f, v in zip(result.features, prep.fill,
                                                               strict=False) if v == v}}
    if result.outliers is not None:
        out["outliers"] = {**result.outliers,
                           "low": [rounded(v) for v in result.outliers["low"]],
                           "high": [rounded(v) for v in result.outliers["high"]]}
    return out


def categorical_summary(result: RunResult) -> list[dict]:
    """``segments.json``'s ``categorical``: each categorical feature (``--categorical``), its
    column, its levels (sorted), the weight of each level's indicator and the rule behind it
    (:mod:`custseg.engines.categories`), and the level missing cells took (``--missing
    impute``), if any."""
    prep = result.preparation
    if prep is None or not prep.categories:
        return []
    d = len(result.features)
    fills = prep.to_dict(result.features + result.config.categorical)["features"][d:]
    return [{"feature": f, "column": column, "levels": list(c.levels), "weight": rounded(c.weight),
             "rule": CATEGORY_RULE, "fill": fill["fill"]}
            for f, column, c, fill in zip(result.config.categorical, result.categorical_columns,
                                          prep.categories, fills, strict=True)]


def column_matches(result: RunResult) -> list[dict]:
    """Each feature, the input column read for it, and how that column was found
    (:func:`custseg.io.columns.how_matched`: by name, ``--column-map``, case and punctuation,
    alias)."""
    column_map = dict(result.config.column_map)
    return [{"feature": f, "column": c, "matched": how_matched(f, c, column_map)}
            for f, c in zip(result.features, result.feature_columns, strict=True)]


def k_choice_summary(result: KChoiceResult) -> dict:
    """The content of ``k_selection.json`` (``custseg choose-k``)."""
    summary = {
        "format_version": SUMMARY_FORMAT_VERSION,
        "features": list(result.features),
        "k_selection": result.k_selection.to_dict(),
        "rows": rows_summary(result.rows),
        "run": {"input": source_summary(result.source),
                "config": config_summary(result.config), "versions": versions()},
    }
    if result.transactions is not None:
        summary["transactions"] = result.transactions
    return summary
