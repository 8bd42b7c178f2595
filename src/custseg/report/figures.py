"""Decide which figures a run gets and save them as PNG files.

Uses matplotlib's object API (no pyplot state), so it runs headless and in threads. A figure's
draw function is a :func:`functools.partial` of a :mod:`custseg.report.plots` function over plain
data, so that it can be sent to a worker process: this module does not import matplotlib.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from custseg.report import plots
from custseg.report.rendering import BackgroundFigures, FigureJob, render, render_png, save_png
from custseg.segmentation.estimator import Segmenter
from custseg.segmentation.selection import KSelection

if TYPE_CHECKING:
    from matplotlib.axes import Axes

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
    return save_png(render_png(FigureJob(path.stem, path.name, draw, size)), path)


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


def render_figures(inputs: FigureInputs, folder: Path,
                   background: BackgroundFigures | None = None) -> dict[str, Path]:
    """Save every figure of a run in ``folder``; return them by name.

    With ``background`` (started on :func:`figure_jobs` of the same inputs), the figures already
    drawn by its worker are collected and only the rest is drawn here.
    """
    if background is None:
        files = render([*figure_jobs(inputs), *change_jobs(inputs)], folder)
    else:
        files = background.finish(change_jobs(inputs), folder)
    # Reading order (histograms first), whatever order they were drawn in.
    order = [*(f"hist_{slug(name)}" for name in inputs.features), "scatter_features", "elbow",
             "k_criteria", "segments", "transitions", "silhouette"]
    return {name: files[name] for name in order if name in files}


def figure_jobs(inputs: FigureInputs) -> list[FigureJob]:
    """The figures of a run that do not depend on a previous run."""
    return [*fit_jobs(inputs), *k_selection_jobs(inputs.k_selection),
            *sample_jobs(inputs.values, inputs.features, inputs.hue, inputs.seed,
                         inputs.population)]


def fit_jobs(inputs: FigureInputs) -> list[FigureJob]:
    """The figures of the fit (segment map, silhouette), costliest first."""
    population, seed = inputs.population, inputs.seed
    jobs = []
    if len(inputs.features) >= 2:
        x, y, centers, x_name, y_name = _map_coordinates(inputs)
        jobs.append(FigureJob(
            "segments", "segments.png",
            partial(plots.segment_map, x=x, y=y, labels=inputs.labels, centers=centers,
                    x_name=x_name, y_name=y_name, segment_names=list(inputs.names), seed=seed,
                    population=population), size=(9.5, 5)))
    sil, labels = inputs.silhouette
    if sil.size:
        jobs.append(FigureJob("silhouette", "silhouette.png",
                              partial(plots.silhouette_diagram, values=sil, labels=labels,
                                      k=inputs.k), size=(7, 5.5)))
    return jobs


def sample_jobs(values: np.ndarray, features: tuple[str, ...], hue: np.ndarray | None, seed: int,
                population: int) -> list[FigureJob]:
    """The figures of the data alone (drawn from the sample ``values``, original units): the
    features' scatter and a histogram per feature."""
    jobs = []
    if len(features) >= 2:
        jobs.append(FigureJob(
            "scatter_features", "scatter_features.png",
            partial(plots.feature_scatter, x=values[:, 0], y=values[:, 1], x_name=features[0],
                    y_name=features[1], hue=hue, hue_name=_GENDER, seed=seed,
                    population=population), fixed_layout=True))
    for j, name in enumerate(features):
        jobs.append(FigureJob(
            f"hist_{slug(name)}", f"hist_{slug(name)}.png",
            partial(plots.histogram, values=values[:, j], name=name, population=population),
            fixed_layout=True))
    return jobs


def change_jobs(inputs: FigureInputs) -> list[FigureJob]:
    """The figure of a run's changes since ``--previous`` (none without one)."""
    changes = inputs.changes
    if changes is None or changes.transitions is None:
        return []
    t = changes.transitions
    prev_names, cur_names = changes.previous.name_of(), changes.current.name_of()
    previous = [f"{i} {prev_names.get(int(i), '')}" for i in t.counts.index]
    current = [f"{i} {cur_names.get(int(i), '')}" for i in t.counts.columns]
    return [FigureJob("transitions", "transitions.png",
                      partial(plots.transition_heatmap, percent=t.percent.to_numpy(float),
                              counts=t.counts.to_numpy(), previous=previous, current=current),
                      size=(9, 6))]


def _map_coordinates(inputs: FigureInputs) -> tuple[np.ndarray, np.ndarray, np.ndarray, str, str]:
    """Where to draw customers: the two features in original units, or with more features the
    first two principal components of the scaled features."""
    names, values, segmenter = inputs.features, inputs.values, inputs.segmenter
    if len(names) == 2:
        return (values[:, 0], values[:, 1], segmenter.cluster_centers_original_, names[0], names[1])
    from sklearn.decomposition import PCA  # only with more than two features

    transform = segmenter.scaler_.transform
    idx = plots.sample_index(len(values), max_points=100_000, seed=inputs.seed)
    pca = PCA(n_components=2, svd_solver="full").fit(transform(values[idx]))
    P = pca.transform(transform(values))
    C = pca.transform(segmenter.cluster_centers_)
    ratio = pca.explained_variance_ratio_
    return (P[:, 0], P[:, 1], C, f"PC1 ({ratio[0]:.0%} of variance)",
            f"PC2 ({ratio[1]:.0%} of variance)")


def k_selection_jobs(selection: KSelection) -> list[FigureJob]:
    """The elbow (knee and chosen K marked) and all criteria against K on one panel."""
    table = selection.table
    ks = list(table.index)
    jobs = [FigureJob("elbow", "elbow.png",
                      partial(plots.elbow, ks=ks, inertias=table["inertia"].tolist(),
                              chosen_k=selection.chosen_k, knee=selection.knee),
                      fixed_layout=True)]
    scored = table[table.index >= 2]
    if len(scored) >= 2:
        criteria = {name: scored[name].to_numpy() for name in plots.CRITERIA_STYLE}
        jobs.append(FigureJob(
            "k_criteria", "k_criteria.png",
            partial(plots.criteria_panel, ks=list(scored.index), criteria=criteria,
                    picks=dict(selection.picks), chosen_k=selection.chosen_k), size=(8, 5),
            fixed_layout=True))  # its words are the same whatever the data: no layout pass
    return jobs


def k_selection_figures(selection: KSelection, folder: Path) -> dict[str, Path]:
    """Save the K-choice figures (:func:`k_selection_jobs`) in ``folder``."""
    return render(k_selection_jobs(selection), folder)
