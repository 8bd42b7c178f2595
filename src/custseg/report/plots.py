"""Plot functions: each draws on the ``ax`` it is given and returns it; none saves anything.

Large inputs are drawn from a seeded sample (scatter plots) so a figure costs the same at
200 rows and at 10 million.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # drawing happens on axes a caller made: no matplotlib import needed here
    from matplotlib.axes import Axes

#: Scatter plots draw at most this many points (a seeded sample above it).
SCATTER_MAX_POINTS = 20_000
#: Segment colours: the same segment has the same colour in every figure.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
           "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def segment_color(segment: int) -> str:
    """Colour of a segment (cycles after ten).

    Examples
    --------
    >>> segment_color(0), segment_color(10)
    ('#1f77b4', '#1f77b4')
    """
    return PALETTE[segment % len(PALETTE)]


def sample_index(n: int, max_points: int = SCATTER_MAX_POINTS, seed: int = 0) -> np.ndarray:
    """Indices of at most ``max_points`` of ``n`` rows: all of them, or a seeded sorted sample.

    Examples
    --------
    >>> sample_index(5).tolist()
    [0, 1, 2, 3, 4]
    >>> len(sample_index(100, 10))
    10
    """
    if n <= max_points:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=max_points, replace=False))


def _sample_note(shown: int, total: int) -> str:
    return f" (random {shown:,} of {total:,})" if shown < total else ""


def histogram(ax: Axes, values: np.ndarray, name: str, bins: int | str = "auto",
              population: int | None = None) -> Axes:
    """Histogram of one feature (``population``: the customers ``values`` are a sample of).

    Drawn as ``ax.hist`` draws it (the same bins, bars parted by thin white lines), as one
    filled outline and one set of lines rather than a patch per bar: half the drawing time at
    a hundred bins.
    """
    counts, edges = np.histogram(values, bins=bins)
    ax.stairs(counts, edges, fill=True, color=PALETTE[0])
    ax.vlines(edges[1:-1], 0, np.maximum(counts[:-1], counts[1:]), colors="white",
              linewidth=0.5)
    ax.set_title(f"Distribution of {name}{_sample_note(len(values), population or len(values))}")
    ax.set_xlabel(name)
    ax.set_ylabel("Customers")
    return ax


#: Categories shown in a legend at most, and characters of each label.
MAX_LEGEND, MAX_LABEL_CHARS = 12, 40


def _label(text: str) -> str:
    """A legend label: at most ``MAX_LABEL_CHARS`` characters (a cell can hold megabytes)."""
    return text if len(text) <= MAX_LABEL_CHARS else text[:MAX_LABEL_CHARS - 1] + "…"


def emptiest_corner(x: np.ndarray, y: np.ndarray) -> str:
    """The corner of a scatter with the fewest points (a legend's place), first of ``upper
    right``, ``upper left``, ``lower left``, ``lower right`` on ties.

    Matplotlib's ``loc="best"`` tries every place against every point as the figure is drawn:
    a tenth of a second for a few thousand points, and a warning when the machine is busy.

    Examples
    --------
    >>> emptiest_corner(np.array([0.0, 1.0, 0.9]), np.array([0.0, 1.0, 0.9]))
    'upper left'
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) == 0:
        return "upper right"
    # A legend covers about a third of the width and a quarter of the height.
    left = x <= x.min() + (x.max() - x.min()) / 3
    right = x >= x.max() - (x.max() - x.min()) / 3
    low = y <= y.min() + (y.max() - y.min()) / 4
    high = y >= y.max() - (y.max() - y.min()) / 4
    counts = {"upper right": high & right, "upper left": high & left, "lower left": low & left,
              "lower right": low & right}
    return min(counts, key=lambda corner: int(counts[corner].sum()))


def feature_scatter(ax: Axes, x: np.ndarray, y: np.ndarray, x_name: str, y_name: str,
                    hue: np.ndarray | None = None, hue_name: str | None = None,
                    seed: int = 0, population: int | None = None) -> Axes:
    """Scatter of two features, coloured by a category (for example Gender) when given.

    ``population``: the customers ``x`` and ``y`` are a sample of (for the title's note).
    """
    n = len(x)
    idx = sample_index(n, seed=seed)
    x, y = x[idx], y[idx]
    if hue is None:
        ax.scatter(x, y, s=14, alpha=0.7, color=PALETTE[0])
    else:
        # Blank categories get a visible name (matplotlib drops empty legend labels).
        hue = np.array(["(missing)" if h is None or str(h).strip() == "" else _label(str(h))
                        for h in np.asarray(hue, dtype=object)[idx]], dtype=object)
        levels, counts = np.unique(hue, return_counts=True)
        if len(levels) > MAX_LEGEND:
            # Garbage in a Gender column: the most frequent categories, the rest as one.
            top = set(levels[np.argsort(-counts, kind="stable")[:MAX_LEGEND - 1]].tolist())
            hue = np.array([h if h in top else "(other)" for h in hue], dtype=object)
        for i, level in enumerate(sorted(set(hue))):
            mask = hue == level
            ax.scatter(x[mask], y[mask], s=14, alpha=0.7, color=PALETTE[i % len(PALETTE)],
                       label=level)
        ax.legend(title=hue_name, frameon=False, loc=emptiest_corner(x, y))
    ax.set_title(f"{y_name} vs {x_name}{_sample_note(len(idx), population or n)}")
    ax.set_xlabel(x_name)
    ax.set_ylabel(y_name)
    return ax


def elbow(ax: Axes, ks: Sequence[int], inertias: Sequence[float], chosen_k: int | None = None,
          knee: int | None = None) -> Axes:
    """Inertia against K, with the knee (Kneedle) and the chosen K marked."""
    ks = list(ks)
    ax.plot(ks, inertias, marker="o", color=PALETTE[0], label="Inertia")
    if knee is not None and knee in ks:
        ax.axvline(knee, color=PALETTE[7], linestyle="--", linewidth=1, label=f"Knee: K = {knee}")
    if chosen_k is not None and chosen_k in ks:
        value = inertias[ks.index(chosen_k)]
        ax.plot([chosen_k], [value], marker="o", markersize=12, markerfacecolor="none",
                markeredgecolor=PALETTE[3], markeredgewidth=2, linestyle="none",
                label=f"Chosen: K = {chosen_k}")
    ax.legend(frameon=False)
    ax.set_title("Elbow method: inertia by number of segments")
    ax.set_xlabel("Number of segments K")
    ax.set_ylabel("Inertia (within-segment sum of squares, scaled units)")
    ax.set_xticks(list(ks))
    return ax


def segment_map(ax: Axes, x: np.ndarray, y: np.ndarray, labels: np.ndarray,
                centers: np.ndarray, x_name: str, y_name: str,
                segment_names: Sequence[str] | None = None, seed: int = 0,
                population: int | None = None) -> Axes:
    """Customers coloured by segment, with each segment's centroid marked (original units).

    ``population``: the customers ``x`` and ``y`` are a sample of (for the title's note).
    """
    idx = sample_index(len(x), seed=seed)
    k = centers.shape[0]
    names = segment_names or [f"Segment {i}" for i in range(k)]
    for s in range(k):
        mask = labels[idx] == s
        ax.scatter(x[idx][mask], y[idx][mask], s=14, alpha=0.7, color=segment_color(s),
                   label=names[s])
    ax.scatter(centers[:, 0], centers[:, 1], marker="X", s=180, color="black",
               edgecolor="white", linewidth=1.2, label="Centroid", zorder=3)
    ax.set_title(f"Customer segments{_sample_note(len(idx), population or len(x))}")
    ax.set_xlabel(x_name)
    ax.set_ylabel(y_name)
    # Outside the axes: business names are long and would hide customers.
    ax.legend(frameon=False, fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
    return ax


#: How each K-choice criterion is drawn: (label, higher is better).
CRITERIA_STYLE = {
    "silhouette": ("Silhouette", True),
    "calinski_harabasz": ("Calinski-Harabasz", True),
    "davies_bouldin": ("Davies-Bouldin (inverted)", False),
    "gap": ("Gap statistic", True),
    "stability": ("Stability (ARI)", True),
}


def normalise(values: np.ndarray, higher_is_better: bool = True) -> np.ndarray:
    """Scale to 0..1 with 1 the best value (NaN kept).

    Examples
    --------
    >>> normalise(np.array([1.0, 3.0, 2.0]), higher_is_better=False).tolist()
    [1.0, 0.0, 0.5]
    """
    values = np.asarray(values, dtype=float)
    low, high = np.nanmin(values), np.nanmax(values)
    span = high - low if high > low else 1.0
    scaled = (values - low) / span
    return scaled if higher_is_better else 1.0 - scaled


def criteria_panel(ax: Axes, ks: Sequence[int], criteria: dict[str, Sequence[float]],
                   picks: dict[str, int | None], chosen_k: int | None = None) -> Axes:
    """Every K-choice criterion against K on one 0..1 scale (1 = best), each pick marked."""
    ks = np.asarray(list(ks))
    for i, (name, values) in enumerate(criteria.items()):
        label, higher = CRITERIA_STYLE.get(name, (name, True))
        y = normalise(np.asarray(values, dtype=float), higher)
        color = PALETTE[i % len(PALETTE)]
        style = ":" if name == "stability" else "-"
        ax.plot(ks, y, marker="o", markersize=4, linestyle=style, color=color, label=label)
        pick = picks.get(name)
        if pick is not None and pick in ks:
            ax.plot([pick], [y[list(ks).index(pick)]], marker="*", markersize=14, color=color,
                    linestyle="none")
    if chosen_k is not None:
        ax.axvline(chosen_k, color="black", linewidth=1, alpha=0.6)
        ax.annotate(f"chosen K = {chosen_k}", (chosen_k, 1.02), ha="center", fontsize="small",
                    xycoords=("data", "axes fraction"))
    ax.set_title("K-choice criteria (normalised; * = each criterion's pick)", pad=16)
    ax.set_xlabel("Number of segments K")
    ax.set_ylabel("Score, 0 = worst, 1 = best in range")
    ax.set_xticks(list(ks))
    ax.set_ylim(-0.05, 1.05)
    ax.legend(frameon=False, fontsize="small", loc="best")
    return ax


def silhouette_diagram(ax: Axes, values: np.ndarray, labels: np.ndarray, k: int,
                       segment_names: Sequence[str] | None = None) -> Axes:
    """Silhouette of each customer, sorted within each segment, with the mean marked."""
    names = segment_names or [f"Segment {i}" for i in range(k)]
    y = 0
    for s in range(k):
        mine = np.sort(values[labels == s])
        if mine.size == 0:
            continue
        ax.fill_betweenx(np.arange(y, y + mine.size), 0, mine, color=segment_color(s),
                         alpha=0.8, linewidth=0)
        ax.text(-0.02, y + mine.size / 2, names[s], ha="right", va="center", fontsize="small")
        y += mine.size + max(2, len(values) // 100)
    if values.size:
        mean = float(values.mean())
        ax.axvline(mean, color="black", linestyle="--", linewidth=1, label=f"Mean {mean:.3f}")
        ax.legend(frameon=False, loc="lower right")
    ax.set_title(f"Silhouette of each customer, by segment (K = {k})")
    ax.set_xlabel("Silhouette (-1 wrong segment .. 1 well inside its segment)")
    ax.set_yticks([])
    ax.set_xlim(min(-0.1, float(values.min()) - 0.05) if values.size else -0.1, 1.0)
    return ax


def transition_heatmap(ax: Axes, percent: np.ndarray, counts: np.ndarray, previous: Sequence[str],
                       current: Sequence[str]) -> Axes:
    """Share of each previous segment's customers (rows) in each current segment (columns)."""
    shown = np.nan_to_num(percent, nan=0.0)
    image = ax.imshow(shown, cmap="Blues", vmin=0, vmax=100, aspect="auto")
    for i in range(shown.shape[0]):
        for j in range(shown.shape[1]):
            if counts[i, j]:
                ax.text(j, i, f"{shown[i, j]:.0f}%\n{int(counts[i, j]):,}", ha="center", va="center",
                        fontsize="x-small", color="white" if shown[i, j] > 60 else "black")
    ax.set_xticks(range(len(current)), labels=current, rotation=30, ha="right", fontsize="small")
    ax.set_yticks(range(len(previous)), labels=previous, fontsize="small")
    ax.set_xlabel("Segment in this run")
    ax.set_ylabel("Segment in the previous run")
    ax.set_title("Where each previous segment's customers are now (% of row)")
    ax.figure.colorbar(image, ax=ax, label="% of the previous segment's customers")
    return ax
