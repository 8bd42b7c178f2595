"""Decide which figures a run gets and save them as PNG files.

Uses matplotlib's object API (no pyplot state), so it runs headless and in threads.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.decomposition import PCA

from custseg.report import plots
from custseg.segmentation.estimator import Segmenter
from custseg.segmentation.selection import KSelection

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


@dataclass(frozen=True)
class FigureInputs:
    """What a run's figures are drawn from: its seeded sample, the fit and the K choice.

    Attributes
    ----------
    values : numpy.ndarray
        The sample's feature values, original units, shape (n, d).
    labels : numpy.ndarray
        The sample's segment positions.
    population : int
        Customers the sample was drawn from (for the figures' notes).
    features : tuple of str
        Feature names.
    names : list of str
        Segment names, by position.
    segmenter : Segmenter
        The fit (scaler, centroids).
    k_selection : KSelection
        The evidence for K.
    silhouette : (numpy.ndarray, numpy.ndarray)
        Silhouette of each customer of a sample, and their segments.
    hue : numpy.ndarray or None
        The sample's Gender (or equivalent) cells, to colour the feature scatter.
    changes : RunChanges or None
        With ``--previous``: the transition matrix and both runs' names (a ``RunChanges``).
    seed : int
        Seed of the scatter samples.
    """

    values: np.ndarray
    labels: np.ndarray
    population: int
    features: tuple[str, ...]
    names: list[str]
    segmenter: Segmenter
    k_selection: KSelection
    silhouette: tuple[np.ndarray, np.ndarray]
    hue: np.ndarray | None = None
    changes: object | None = None
    seed: int = 0

    @property
    def k(self) -> int:
        """Number of segments."""
        return len(self.names)


def render_figures(inputs: FigureInputs, folder: Path) -> dict[str, Path]:
    """Save every figure of a run in ``folder``; return them by name."""
    values, names, seed = inputs.values, inputs.features, inputs.seed
    population = inputs.population
    out: dict[str, Path] = {}
    for j, name in enumerate(names):
        out[f"hist_{slug(name)}"] = save_figure(
            lambda ax, j=j, name=name: plots.histogram(ax, values[:, j], name, population=population),
            folder / f"hist_{slug(name)}.png")
    if len(names) >= 2:
        out["scatter_features"] = save_figure(
            lambda ax: plots.feature_scatter(ax, values[:, 0], values[:, 1], names[0], names[1],
                                             hue=inputs.hue, hue_name=_GENDER, seed=seed,
                                             population=population),
            folder / "scatter_features.png")
    out.update(k_selection_figures(inputs.k_selection, folder))
    if len(names) >= 2:
        x, y, centers, x_name, y_name = _map_coordinates(inputs)
        out["segments"] = save_figure(
            lambda ax: plots.segment_map(ax, x, y, inputs.labels, centers, x_name, y_name,
                                         segment_names=inputs.names, seed=seed,
                                         population=population),
            folder / "segments.png", size=(9.5, 5))
    changes = inputs.changes
    if changes is not None and changes.transitions is not None:
        t = changes.transitions
        prev_names, cur_names = changes.previous.name_of(), changes.current.name_of()
        previous = [f"{i} {prev_names.get(int(i), '')}" for i in t.counts.index]
        current = [f"{i} {cur_names.get(int(i), '')}" for i in t.counts.columns]
        out["transitions"] = save_figure(
            lambda ax: plots.transition_heatmap(ax, t.percent.to_numpy(float), t.counts.to_numpy(),
                                                previous, current),
            folder / "transitions.png", size=(9, 6))
    sil, labels = inputs.silhouette
    if sil.size:
        out["silhouette"] = save_figure(
            lambda ax: plots.silhouette_diagram(ax, sil, labels, inputs.k),
            folder / "silhouette.png", size=(7, 5.5))
    return out


def _map_coordinates(inputs: FigureInputs) -> tuple[np.ndarray, np.ndarray, np.ndarray, str, str]:
    """Where to draw customers: the two features in original units, or with more features the
    first two principal components of the scaled features."""
    names, values, segmenter = inputs.features, inputs.values, inputs.segmenter
    if len(names) == 2:
        return (values[:, 0], values[:, 1], segmenter.cluster_centers_original_, names[0], names[1])
    transform = segmenter.scaler_.transform
    idx = plots.sample_index(len(values), max_points=100_000, seed=inputs.seed)
    pca = PCA(n_components=2, svd_solver="full").fit(transform(values[idx]))
    P = pca.transform(transform(values))
    C = pca.transform(segmenter.cluster_centers_)
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
