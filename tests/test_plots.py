"""Plot functions draw the data they are given (checked on the axes), and one real render."""

from __future__ import annotations

import matplotlib.image as mpimg
import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.legend import Legend

from custseg.report import plots
from custseg.report.figures import save_figure


@pytest.fixture
def ax():
    return Figure().add_subplot()


def test_histogram_counts_every_value(ax):
    values = np.array([1, 2, 2, 3, 3, 3], dtype=float)
    plots.histogram(ax, values, "Age", bins=3)
    (bars,) = ax.patches  # one outline for every bar
    assert bars.get_data().values.tolist() == [1, 2, 3]
    assert bars.get_data().edges.tolist() == pytest.approx([1, 5 / 3, 7 / 3, 3])
    (parts,) = ax.collections  # the white lines between bars, as tall as the taller one
    assert [segment[:, 1].tolist() for segment in parts.get_segments()] == [[0, 2], [0, 3]]
    assert ax.get_xlabel() == "Age"
    assert ax.get_ylabel() == "Customers"
    assert "Age" in ax.get_title()


def test_feature_scatter_legend_stays_small_on_garbage_categories(ax):
    n = 60
    hue = np.array(["x" * 1_000_000, *[f"code {i}" for i in range(n - 1)]], dtype=object)
    plots.feature_scatter(ax, np.arange(n, dtype=float), np.zeros(n), "x", "y", hue=hue,
                          hue_name="Gender")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(labels) == plots.MAX_LEGEND
    assert "(other)" in labels
    assert max(len(label) for label in labels) <= plots.MAX_LABEL_CHARS
    assert sum(len(c.get_offsets()) for c in ax.collections) == n  # every customer still drawn


def test_feature_scatter_groups_by_hue(ax):
    x, y = np.arange(4.0), np.arange(4.0) * 10
    hue = np.array(["Male", "Female", "Male", "Female"], dtype=object)
    plots.feature_scatter(ax, x, y, "Income", "Score", hue=hue, hue_name="Gender")
    groups = {c.get_label(): c.get_offsets().tolist() for c in ax.collections}
    assert groups == {"Female": [[1, 10], [3, 30]], "Male": [[0, 0], [2, 20]]}
    assert ax.get_legend().get_title().get_text() == "Gender"


@pytest.mark.parametrize(("empty", "corner"), [
    ((0.9, 0.9), "upper right"), ((0.1, 0.9), "upper left"), ((0.1, 0.1), "lower left"),
    ((0.9, 0.1), "lower right")])
def test_feature_scatter_legend_goes_to_the_emptiest_corner(ax, empty, corner):
    """Points everywhere but one corner: the legend is placed there, told from the points alone
    (not matplotlib's slow ``best``)."""
    grid = np.stack(np.meshgrid(np.linspace(0, 1, 41), np.linspace(0, 1, 41)), -1).reshape(-1, 2)
    keep = np.hypot(grid[:, 0] - empty[0], grid[:, 1] - empty[1]) > 0.35
    x, y = grid[keep, 0], grid[keep, 1]
    hue = np.array(["Female", "Male"] * len(x), dtype=object)[:len(x)]
    plots.feature_scatter(ax, x, y, "Income", "Score", hue=hue, hue_name="Gender")
    assert ax.get_legend()._loc == Legend.codes[corner]


def test_scatter_samples_large_inputs(ax):
    n = plots.SCATTER_MAX_POINTS * 3
    plots.feature_scatter(ax, np.arange(n, dtype=float), np.zeros(n), "x", "y")
    assert len(ax.collections[0].get_offsets()) == plots.SCATTER_MAX_POINTS
    assert "random 20,000 of 60,000" in ax.get_title()


def test_elbow_marks_chosen_k(ax):
    plots.elbow(ax, [1, 2, 3], [30.0, 10.0, 8.0], chosen_k=2)
    line, marker = ax.lines
    assert line.get_ydata().tolist() == [30.0, 10.0, 8.0]
    assert marker.get_xdata().tolist() == [2]
    assert marker.get_ydata().tolist() == [10.0]


def test_segment_map_draws_each_segment_and_centroids(ax):
    x = np.array([0.0, 0.2, 5.0, 5.2])
    y = np.array([0.0, 0.2, 5.0, 5.2])
    labels = np.array([0, 0, 1, 1])
    centers = np.array([[0.1, 0.1], [5.1, 5.1]])
    plots.segment_map(ax, x, y, labels, centers, "Income", "Score")
    by_label = {c.get_label(): c.get_offsets().tolist() for c in ax.collections}
    assert by_label["Segment 0"] == [[0.0, 0.0], [0.2, 0.2]]
    assert by_label["Segment 1"] == [[5.0, 5.0], [5.2, 5.2]]
    assert np.allclose(by_label["Centroid"], centers)


def test_real_render_is_a_png_with_content(tmp_path):
    path = save_figure(lambda ax: plots.histogram(ax, np.arange(100.0), "x"), tmp_path / "h.png")
    image = mpimg.imread(path)
    assert image.shape[0] > 300
    assert image.shape[1] > 500
    assert image[..., :3].std() > 0.05  # not a blank canvas
