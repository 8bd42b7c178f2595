"""Plots of the monthly view: the data they draw, and one real render of each."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.patches import PathPatch, Rectangle

from custseg.report.plots import segment_color
from custseg.report.timeline_plots import (
    OUTSIDE_COLOR,
    PSI_COLORS,
    PSI_UNKNOWN,
    flow_diagram,
    psi_heatmap,
    segment_sizes,
    short,
)

NAMES = {0: "Average income · Average spending", 1: "VIPs", 2: "Newcomers"}


@pytest.fixture
def ax():
    figure = Figure(figsize=(8, 5), layout="constrained")
    FigureCanvasAgg(figure)
    return figure.add_subplot()


def _render(ax) -> bytes:
    buffer = io.BytesIO()
    ax.figure.savefig(buffer, format="png")
    return buffer.getvalue()


@pytest.fixture
def sizes() -> pd.DataFrame:
    return pd.DataFrame({"jan": [600.0, 400.0, np.nan], "feb": [500.0, 300.0, 200.0],
                         "mar": [700.0, np.nan, 300.0]}, index=[0, 1, 2])


@pytest.mark.parametrize("share", [False, True])
def test_segment_sizes_draw_each_segment(ax, sizes, share):
    segment_sizes(ax, sizes, NAMES, share=share)
    lines = [line for line in ax.get_lines() if line.get_label() and not line.get_label().startswith("_")]
    assert [line.get_label() for line in lines] == ["0 · Average income · Average spending",
                                                    "1 · VIPs (retired after feb)", "2 · Newcomers (new in feb)"]
    drawn = np.array([line.get_ydata() for line in lines], dtype=float)
    expected = sizes.to_numpy()
    if share:
        expected = 100 * expected / np.nansum(expected, axis=0)
        assert np.nansum(drawn, axis=0) == pytest.approx([100.0, 100.0, 100.0])
    np.testing.assert_allclose(drawn, expected)
    assert [line.get_color() for line in lines] == [segment_color(i) for i in range(3)]
    # Segment 2 is new in February (a star), segment 1 retired after February (a cross).
    marks = [(line.get_marker(), line.get_xdata()[0], line.get_ydata()[0]) for line in ax.get_lines()
             if line.get_label().startswith("_")]
    assert marks == [("X", 1, drawn[1, 1]), ("*", 1, drawn[2, 1])]
    assert len(ax.texts) == 0
    assert [t.get_text() for t in ax.get_xticklabels()] == ["jan", "feb", "mar"]
    assert _render(ax).startswith(b"\x89PNG")


def _flows():
    counts = pd.DataFrame([[500, 40], [30, 250]], index=[0, 1], columns=[0, 2])
    departed = pd.Series([60, 120], index=[0, 1])
    new = pd.Series([110, 90], index=[0, 2])
    return counts, departed, new


def test_flow_diagram_draws_every_flow_as_wide_as_its_customers(ax):
    counts, departed, new = _flows()
    flow_diagram(ax, counts, departed, new, NAMES, NAMES, before="jan", after="feb", label_share=0.05)
    bands = [p for p in ax.patches if isinstance(p, PathPatch)]
    nodes = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(bands) == 4 + 2 + 2  # in both runs, departed, new
    # A band's path starts at its top left and comes back up from its bottom left.
    widths = sorted(round(b.get_path().vertices[7, 1] - b.get_path().vertices[0, 1]) for b in bands)
    assert widths == sorted([500, 40, 30, 250, 60, 120, 110, 90])
    # Left: January's segments and the new customers; right: February's and the departed.
    heights = sorted(round(n.get_height()) for n in nodes)
    assert heights == sorted([600, 400, 200, 640, 380, 180])
    colors = {to_hex(n.get_facecolor()) for n in nodes}
    assert colors == {segment_color(0), segment_color(1), segment_color(2), OUTSIDE_COLOR}
    texts = [t.get_text() for t in ax.texts]
    assert "New customers\n200" in texts
    assert "Departed\n180" in texts
    assert "0 · Average income · Average spending\n600" in texts
    assert {"500", "250", "120", "110", "90", "60", "40", "30"} <= set(texts)  # big ones, then top moves
    assert ax.get_title() == "Customers from jan to feb"
    assert _render(ax).startswith(b"\x89PNG")


def test_flow_diagram_without_customers(ax):
    empty = pd.DataFrame([[0]], index=[0], columns=[0])
    flow_diagram(ax, empty, pd.Series([0], index=[0]), pd.Series([0], index=[0]), NAMES, NAMES)
    assert [t.get_text() for t in ax.texts] == ["No customers in either run"]


def test_psi_heatmap_colours_each_reading(ax):
    psi = pd.DataFrame({"feb": [0.02, 0.15], "mar": [0.4, np.nan]}, index=["Income", "Spending"])
    psi_heatmap(ax, psi)
    image = ax.images[0]
    rgba = image.cmap(image.norm(image.get_array()))
    assert [to_hex(rgba[0, 0]), to_hex(rgba[1, 0]), to_hex(rgba[0, 1])] == list(PSI_COLORS)
    assert image.get_array().mask[1, 1]
    assert to_hex(image.cmap.get_bad()) == PSI_UNKNOWN
    assert [t.get_text() for t in ax.texts] == ["0.020", "0.400", "0.150", "–"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Income", "Spending"]
    assert _render(ax).startswith(b"\x89PNG")


def test_short_names():
    assert short("abc", 5) == "abc"
    assert short("abcdefgh", 5) == "abcd…"
