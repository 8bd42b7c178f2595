"""Decide which figures a run gets and save them as PNG files.

Uses matplotlib's object API (no pyplot state), so it runs headless and in threads.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.decomposition import PCA

from custseg.report import plots
from custseg.selection import KSelection

if TYPE_CHECKING:
    from custseg.pipeline import RunResult

DPI = 110
_GENDER = "Gender"


def slug(text: str) -> str:
    """File-name-safe lower-case form of ``text``.

    Examples
    --------
    >>> slug("Annual Income (k$)")
    'annual_income_k'
    """
    return re.sub(r"[^0-9a-z]+", "_", text.lower()).strip("_") or "x"


def save_figure(draw: Callable[[Axes], Axes], path: Path, size: tuple[float, float] = (7, 4.5)
                ) -> Path:
    """Create a figure, let ``draw`` fill its axes, save it as PNG at ``path``."""
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    draw(fig.add_subplot())
    path.parent.mkdir(parents=True, exist_ok=True)
    # No "Software"/date metadata: the same run gives byte-identical PNGs.
    fig.savefig(path, dpi=DPI, metadata={"Software": None})
    return path


def render_figures(result: RunResult, folder: Path) -> dict[str, Path]:
    """Save every figure of ``result`` in ``folder``; return them by name."""
    values = result.features.values
    names = result.features.names
    seed = result.config.seed
    out: dict[str, Path] = {}
    for j, name in enumerate(names):
        out[f"hist_{slug(name)}"] = save_figure(
            lambda ax, j=j, name=name: plots.histogram(ax, values[:, j], name),
            folder / f"hist_{slug(name)}.png")
    if len(names) >= 2:
        gender = result.validated.column(_GENDER)
        hue = (result.validated.table.column(gender).to_numpy(zero_copy_only=False)
               if gender else None)
        out["scatter_features"] = save_figure(
            lambda ax: plots.feature_scatter(ax, values[:, 0], values[:, 1], names[0], names[1],
                                             hue=hue, hue_name=_GENDER, seed=seed),
            folder / "scatter_features.png")
    out.update(k_selection_figures(result.k_selection, folder))
    if len(names) >= 2:
        x, y, centers, x_name, y_name = _map_coordinates(result)
        out["segments"] = save_figure(
            lambda ax: plots.segment_map(ax, x, y, result.labels, centers, x_name, y_name,
                                         segment_names=result.names, seed=seed),
            folder / "segments.png", size=(9.5, 5))
    changes = result.changes
    if changes is not None and changes.transitions is not None:
        t = changes.transitions
        prev_names, cur_names = changes.previous.name_of(), changes.current.name_of()
        previous = [f"{i} {prev_names.get(int(i), '')}" for i in t.counts.index]
        current = [f"{i} {cur_names.get(int(i), '')}" for i in t.counts.columns]
        out["transitions"] = save_figure(
            lambda ax: plots.transition_heatmap(ax, t.percent.to_numpy(float), t.counts.to_numpy(),
                                                previous, current),
            folder / "transitions.png", size=(9, 6))
    sil, labels = result.silhouette_sample
    if sil.size:
        out["silhouette"] = save_figure(
            lambda ax: plots.silhouette_diagram(ax, sil, labels, result.k),
            folder / "silhouette.png", size=(7, 5.5))
    return out


def _map_coordinates(result: RunResult) -> tuple[np.ndarray, np.ndarray, np.ndarray, str, str]:
    """Where to draw customers: the two features in original units, or with more features the
    first two principal components of the scaled features (fitted on a seeded sample)."""
    names = result.features.names
    values = result.features.values
    if len(names) == 2:
        return (values[:, 0], values[:, 1], result.segmenter.cluster_centers_original_,
                names[0], names[1])
    transform = result.segmenter.scaler_.transform
    idx = plots.sample_index(len(values), max_points=100_000, seed=result.config.seed)
    pca = PCA(n_components=2, svd_solver="full").fit(transform(values[idx]))
    P = np.vstack([pca.transform(transform(values[i:i + 1_000_000]))
                   for i in range(0, len(values), 1_000_000)])
    C = pca.transform(result.segmenter.cluster_centers_)
    ratio = pca.explained_variance_ratio_
    return (P[:, 0], P[:, 1], C, f"PC1 ({ratio[0]:.0%} of variance)",
            f"PC2 ({ratio[1]:.0%} of variance)")


def k_selection_figures(selection: KSelection, folder: Path) -> dict[str, Path]:
    """The elbow (knee and chosen K marked) and all criteria against K on one panel."""
    table = selection.table
    ks = list(table.index)
    out = {"elbow": save_figure(
        lambda ax: plots.elbow(ax, ks, table["inertia"].tolist(), selection.chosen_k,
                               selection.knee), folder / "elbow.png")}
    scored = table[table.index >= 2]
    if len(scored) >= 2:
        criteria = {name: scored[name].to_numpy() for name in plots.CRITERIA_STYLE}
        out["k_criteria"] = save_figure(
            lambda ax: plots.criteria_panel(ax, scored.index, criteria, selection.picks,
                                            selection.chosen_k),
            folder / "k_criteria.png", size=(8, 5))
    return out
