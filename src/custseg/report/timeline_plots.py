"""Plots of the monthly view: each draws on the ``ax`` it is given and returns it.

- :func:`segment_sizes`: customers (or share) of each segment over the runs, new and retired
  segments marked;
- :func:`flow_diagram`: an alluvial (Sankey) diagram of the customers between two runs, new and
  departed customers as their own flows, with counts;
- :func:`psi_heatmap`: drift (PSI) per feature and run, coloured by its conventional reading.

The segments are the view's stable ids; a segment keeps its colour in every figure
(:func:`custseg.report.plots.segment_color`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.patches import PathPatch, Rectangle
from matplotlib.path import Path as MplPath
from matplotlib.ticker import FuncFormatter

from custseg.report.plots import segment_color

#: Colour of new and departed customers.
OUTSIDE_COLOR = "#9aa5b1"
#: PSI colours: stable, moderate shift, major shift (and unknown).
PSI_COLORS = ("#c6f6d5", "#fde68a", "#fca5a5")
PSI_UNKNOWN = "#eef2f6"
#: Longest segment name drawn in full.
NAME_CHARS = 34


def short(name: str, chars: int = NAME_CHARS) -> str:
    """``name`` cut to ``chars`` characters with an ellipsis.

    Examples
    --------
    >>> short("High income · High spending", 12)
    'High income…'
    """
    return name if len(name) <= chars else name[:chars - 1].rstrip() + "…"


def segment_sizes(ax: Axes, sizes: pd.DataFrame, names: Mapping[int, str], *, share: bool = False
                  ) -> Axes:
    """Customers of each segment in each run, one line per segment; a star marks a segment's first
    run when it is new, a cross its last run when it retired (and the legend says so).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Where to draw.
    sizes : pandas.DataFrame
        Customers, rows the segment ids, columns the runs in order; NaN where a segment is absent.
    names : mapping of int to str
        Each segment's (current) name.
    share : bool, default False
        Draw each segment's share of the run's customers (%) instead of its customers.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> frame = pd.DataFrame({"jan": [60.0, 40.0, np.nan], "feb": [55.0, np.nan, 45.0]}, index=[0, 1, 2])
    >>> ax = segment_sizes(Figure().add_subplot(), frame, {0: "A", 1: "B", 2: "C"})
    >>> [t.get_text() for t in ax.get_legend().get_texts()]
    ['0 · A', '1 · B (retired after jan)', '2 · C (new in feb)']
    """
    runs = list(sizes.columns)
    x = np.arange(len(runs))
    values = sizes.to_numpy(dtype=float)
    if share:
        totals = np.nansum(values, axis=0)
        values = 100.0 * values / np.where(totals > 0, totals, 1.0)
    for row, segment in enumerate(sizes.index):
        y = values[row]
        present = np.flatnonzero(~np.isnan(y))
        if present.size == 0:
            continue
        color = segment_color(int(segment))
        first, last = present[0], present[-1]
        # New and retired are said in the legend: labels on the lines would pile up where
        # segments of similar size change at the same run.
        status = [*([f"new in {runs[first]}"] if first > 0 else []),
                  *([f"retired after {runs[last]}"] if last < len(runs) - 1 else [])]
        ax.plot(x, y, marker="o", markersize=4, color=color, linewidth=1.8,
                label=f"{segment} · {short(names.get(int(segment), f'segment {segment}'))}"
                + (f" ({', '.join(status)})" if status else ""))
        if first > 0:
            ax.plot([x[first]], [y[first]], marker="*", markersize=14, color=color,
                    markeredgecolor="black", markeredgewidth=0.6, linestyle="none")
        if last < len(runs) - 1:
            ax.plot([x[last]], [y[last]], marker="X", markersize=10, color=color,
                    markeredgecolor="black", markeredgewidth=0.6, linestyle="none")
    ax.set_xticks(x, labels=runs, rotation=30 if len(runs) > 6 else 0,
                  ha="right" if len(runs) > 6 else "center", fontsize="small")
    ax.set_xlim(-0.3, len(runs) - 0.7)
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    ax.set_ylabel("Share of the run's customers (%)" if share else "Customers")
    ax.set_title("Segment shares over the runs" if share else "Segment sizes over the runs")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(frameon=False, fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1),
              title="★ new  ✖ retired", title_fontsize="small")
    return ax


def _band(ax: Axes, x0: float, x1: float, top0: float, bottom0: float, top1: float, bottom1: float,
          color: str, alpha: float) -> None:
    """A band from the span (top0..bottom0) at x0 to (top1..bottom1) at x1, smooth S-curves."""
    mid = (x0 + x1) / 2
    vertices = [(x0, top0), (mid, top0), (mid, top1), (x1, top1), (x1, bottom1),
                (mid, bottom1), (mid, bottom0), (x0, bottom0), (x0, top0)]
    codes = [MplPath.MOVETO, MplPath.CURVE4, MplPath.CURVE4, MplPath.CURVE4, MplPath.LINETO,
             MplPath.CURVE4, MplPath.CURVE4, MplPath.CURVE4, MplPath.CLOSEPOLY]
    ax.add_patch(PathPatch(MplPath(vertices, codes), facecolor=color, edgecolor="none", alpha=alpha))


def _stack(heights: Sequence[float], gap: float) -> list[tuple[float, float]]:
    """(top, bottom) of nodes stacked downwards from 0 with ``gap`` between them."""
    spans, y = [], 0.0
    for h in heights:
        spans.append((y, y + h))
        y += h + (gap if h > 0 else 0.0)
    return spans


def flow_diagram(ax: Axes, counts: pd.DataFrame, departed: pd.Series, new: pd.Series,
                 before_names: Mapping[int, str], after_names: Mapping[int, str], *,
                 before: str = "before", after: str = "after", label_share: float = 0.025,
                 top_moves: int = 3) -> Axes:
    """Customers between two runs as an alluvial (Sankey) diagram, with counts.

    Left, the earlier run's segments and the customers new in the later run; right, the later
    run's segments and the customers who departed. Each band is a flow, as wide as its
    customers; flows of at least ``label_share`` of all customers are labelled with their count,
    and so are the ``top_moves`` largest other moves between segments (mid-way).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Where to draw.
    counts : pandas.DataFrame
        Customers in both runs: rows the earlier segment ids, columns the later ones.
    departed : pandas.Series
        Customers of each earlier segment (index) absent from the later run.
    new : pandas.Series
        Customers of each later segment (index) absent from the earlier run.
    before_names, after_names : mapping of int to str
        Segment names in each run.
    before, after : str
        The runs' names (the title and the column heads).
    label_share : float, default 0.025
        Smallest flow labelled at its start, as a share of all customers drawn.
    top_moves : int, default 3
        Moves between segments labelled mid-way, largest first, among the smaller flows.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> counts = pd.DataFrame([[80, 5], [10, 40]], index=[0, 1], columns=[0, 1])
    >>> ax = flow_diagram(Figure().add_subplot(), counts, pd.Series([15, 5], index=[0, 1]),
    ...                   pd.Series([20, 0], index=[0, 1]), {0: "A", 1: "B"}, {0: "A", 1: "B"})
    >>> len(ax.patches), "80" in [t.get_text() for t in ax.texts]
    (13, True)
    """
    rows, cols = [int(i) for i in counts.index], [int(i) for i in counts.columns]
    matrix = counts.to_numpy(dtype=float)
    out_departed = np.array([float(departed.get(i, 0)) for i in rows])
    in_new = np.array([float(new.get(i, 0)) for i in cols])
    total = matrix.sum() + out_departed.sum() + in_new.sum()
    if total <= 0:
        ax.text(0.5, 0.5, "No customers in either run", ha="center", va="center")
        ax.set_axis_off()
        return ax
    gap = 0.025 * total
    # Left: earlier segments, then the new customers; right: later segments, then the departed.
    left = _stack([*(matrix.sum(axis=1) + out_departed), in_new.sum()], gap)
    right = _stack([*(matrix.sum(axis=0) + in_new), out_departed.sum()], gap)
    width = 0.035
    left_used = [top for top, _ in left]
    right_used = [top for top, _ in right]
    labels: list[tuple[float, float, int]] = []
    moves: list[tuple[int, float]] = []

    def flow(i: int, j: int, n: float, color: str, alpha: float, moved: bool = False) -> None:
        if n <= 0:
            return
        t0, t1 = left_used[i], right_used[j]
        left_used[i] += n
        right_used[j] += n
        _band(ax, width, 1 - width, t0, t0 + n, t1, t1 + n, color, alpha)
        if n >= label_share * total:
            labels.append((width + 0.01, t0 + n / 2, int(n)))
        elif moved:
            moves.append((int(n), (t0 + t1 + n) / 2))

    for i, segment in enumerate(rows):
        color = segment_color(segment)
        for j, later in enumerate(cols):
            flow(i, j, matrix[i, j], color, 0.3 if segment == later else 0.6, moved=segment != later)
        flow(i, len(cols), out_departed[i], color, 0.25)
    for j in range(len(cols)):
        flow(len(rows), j, in_new[j], OUTSIDE_COLOR, 0.45)
    nodes = [(0.0, left, [*rows, None], before_names, "right", -0.01, "New customers"),
             (1 - width, right, [*cols, None], after_names, "left", 1.01, "Departed")]
    for x, spans, ids, names, align, text_x, outside in nodes:
        for (top, bottom), segment in zip(spans, ids, strict=True):
            if bottom - top <= 0:
                continue
            color = OUTSIDE_COLOR if segment is None else segment_color(segment)
            ax.add_patch(Rectangle((x, top), width, bottom - top, facecolor=color, edgecolor="white"))
            name = outside if segment is None else f"{segment} · {short(names.get(segment, str(segment)))}"
            ax.text(text_x, (top + bottom) / 2, f"{name}\n{round(bottom - top):,}", ha=align,
                    va="center", fontsize="x-small")
    for x, y, n in labels:
        ax.text(x, y, f"{n:,}", ha="left", va="center", fontsize=6.5, color="#102a43")
    # The biggest moves are thin bands: their counts sit mid-way, where the bands cross.
    for n, y in sorted(moves, reverse=True)[:top_moves]:
        ax.text(0.5, y, f"{n:,}", ha="center", va="center", fontsize=6.5, color="#102a43",
                bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.8})
    height = max(left[-1][1], right[-1][1])
    ax.set_xlim(-0.45, 1.45)
    ax.set_ylim(height + gap / 2, -gap * 2.5)
    ax.text(width / 2, -gap, before, ha="center", va="bottom", fontsize="small", fontweight="bold")
    ax.text(1 - width / 2, -gap, after, ha="center", va="bottom", fontsize="small", fontweight="bold")
    ax.set_title(f"Customers from {before} to {after}", fontsize="medium")
    ax.set_axis_off()
    return ax


def psi_heatmap(ax: Axes, psi: pd.DataFrame, *, moderate: float = 0.1, major: float = 0.25) -> Axes:
    """Drift since the run before: PSI per feature (rows) and run (columns), by its reading.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Where to draw.
    psi : pandas.DataFrame
        PSI values, rows the features, columns the runs; NaN where unknown (the first run).
    moderate, major : float
        Readings' limits: below ``moderate`` stable, above ``major`` a major shift.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> frame = pd.DataFrame({"feb": [0.02, np.nan], "mar": [0.013, 0.4]}, index=["Income", "Age"])
    >>> ax = psi_heatmap(Figure().add_subplot(), frame)
    >>> [t.get_text() for t in ax.texts]
    ['0.020', '0.013', '–', '0.400']
    """
    values = psi.to_numpy(dtype=float)
    cmap = ListedColormap(list(PSI_COLORS)).with_extremes(bad=PSI_UNKNOWN)
    top = max(float(np.nanmax(values)) if np.isfinite(values).any() else 0.0, major) + 1.0
    norm = BoundaryNorm([0.0, moderate, major, top], cmap.N)
    ax.imshow(np.ma.masked_invalid(values), cmap=cmap, norm=norm, aspect="auto")
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            v = values[i, j]
            ax.text(j, i, "–" if np.isnan(v) else f"{v:.3f}", ha="center", va="center",
                    fontsize="x-small" if values.shape[1] > 8 else "small")
    runs = [str(c) for c in psi.columns]
    ax.set_xticks(range(len(runs)), labels=runs, rotation=30 if len(runs) > 6 else 0,
                  ha="right" if len(runs) > 6 else "center", fontsize="small")
    ax.set_yticks(range(len(psi.index)), labels=[short(str(f), 28) for f in psi.index], fontsize="small")
    ax.set_title(f"Drift since the run before (PSI): green < {moderate:g} stable, amber moderate, "
                 f"red > {major:g} major", fontsize="medium")
    return ax
