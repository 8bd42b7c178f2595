"""Figures drawn in a forked worker are the same bytes as figures drawn in this process, and a
worker that fails or dies costs nothing but time."""

from __future__ import annotations

import numpy as np
import pytest

from custseg.report import plots
from custseg.report.rendering import BackgroundFigures, FigureJob, render, render_png

pytestmark = pytest.mark.skipif(not BackgroundFigures.available(), reason="no fork here")


@pytest.fixture
def jobs() -> list[FigureJob]:
    values = np.random.default_rng(3).normal(50, 20, size=(500, 2))
    return [FigureJob(f"hist_{i}", f"hist_{i}.png",
                      lambda ax, i=i: plots.histogram(ax, values[:, i % 2] + i, f"feature {i}"),
                      fixed_layout=bool(i % 2)) for i in range(6)]


def _bytes(files: dict) -> dict[str, bytes]:
    return {name: path.read_bytes() for name, path in files.items()}


def test_background_figures_are_the_bytes_drawn_here(jobs, tmp_path):
    extra = FigureJob("extra", "extra.png", lambda ax: plots.histogram(ax, np.arange(9.0), "x"))
    here = _bytes(render([*jobs, extra], tmp_path / "here"))
    with BackgroundFigures() as figures:
        figures.start(jobs)
        assert len(figures.workers) == 1
        there = _bytes(figures.finish([extra], tmp_path / "there"))
    assert list(there) == [*(job.name for job in jobs), "extra"]
    assert there == here
    assert all(data.startswith(b"\x89PNG") for data in here.values())


def test_a_dead_worker_costs_only_time(jobs, tmp_path):
    expected = {job.name: render_png(job) for job in jobs}
    with BackgroundFigures() as figures:
        figures.start(jobs)
        figures.workers[0].kill()
        figures.workers[0].join()
        files = figures.finish([], tmp_path)
    assert _bytes(files) == expected


def test_a_figure_that_fails_fails_in_this_process(jobs, tmp_path):
    def broken(ax):
        raise ZeroDivisionError("drawing went wrong")

    with BackgroundFigures() as figures:
        figures.start([*jobs, FigureJob("broken", "broken.png", broken)])
        with pytest.raises(ZeroDivisionError, match="drawing went wrong"):
            figures.finish([], tmp_path)
    assert figures.workers == []  # the worker was collected


def test_worker_can_be_turned_off(jobs, tmp_path, monkeypatch):
    monkeypatch.setenv("CUSTSEG_FIGURE_WORKER", "0")
    with BackgroundFigures() as figures:
        figures.start(jobs)
        assert figures.workers == []
        files = figures.finish([], tmp_path)
    assert sorted(files) == sorted(job.name for job in jobs)


def test_run_figures_do_not_depend_on_the_worker(tmp_path, monkeypatch):
    from custseg.pipeline import run

    with_worker = run(out=tmp_path / "a", seed=1)
    monkeypatch.setenv("CUSTSEG_FIGURE_WORKER", "0")
    without = run(out=tmp_path / "b", seed=1)
    figures = sorted(name for name in with_worker.outputs if name.startswith("figure:"))
    assert len(figures) == 7
    assert [n for n in with_worker.outputs if n.startswith("figure:")] == \
        [n for n in without.outputs if n.startswith("figure:")]
    for name in figures:
        assert with_worker.outputs[name].read_bytes() == without.outputs[name].read_bytes(), name


def test_a_worker_dies_with_its_parent():
    """A run killed with ``kill -9`` leaves no figure worker behind (it would hold the output
    folder's lock, inherited through fork)."""
    import os
    import signal
    import subprocess
    import sys
    import textwrap
    import time

    script = textwrap.dedent("""
        import time
        from custseg.report.rendering import BackgroundFigures, FigureJob

        def slow(ax):
            time.sleep(60)

        figures = BackgroundFigures()
        figures.start([FigureJob("slow", "slow.png", slow)])
        print(figures.workers[0].pid, flush=True)
        time.sleep(60)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    worker = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            break
        # A zombie (reaped by init soon) no longer holds any file: check its state.
        try:
            with open(f"/proc/{worker}/stat") as stat:
                if stat.read().split(") ")[1].startswith("Z"):
                    break
        except FileNotFoundError:
            break
        time.sleep(0.05)
    else:
        os.kill(worker, signal.SIGKILL)
        pytest.fail("the figure worker outlived its killed parent")
