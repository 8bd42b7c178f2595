"""Decide which figures a run gets and save them as PNG files.

Uses matplotlib's object API (no pyplot state), so it runs headless and in threads.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from custseg.metrics import silhouette_values
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
        centers = result.segmenter.cluster_centers_original_
        out["segments"] = save_figure(
            lambda ax: plots.segment_map(ax, values[:, 0], values[:, 1], result.labels, centers,
                                         names[0], names[1], seed=seed),
            folder / "segments.png")
    Z = result.segmenter.scaler_.transform(values)
    sil, labels = silhouette_values(Z, result.labels, seed=seed)
    if sil.size:
        out["silhouette"] = save_figure(
            lambda ax: plots.silhouette_diagram(ax, sil, labels, result.k),
            folder / "silhouette.png", size=(7, 5.5))
    return out


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
