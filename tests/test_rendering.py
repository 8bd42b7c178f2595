"""Figures drawn in a forked worker are the same bytes as figures drawn in this process, and a
worker that fails or dies costs nothing but time."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap
from functools import partial

import numpy as np
import pytest

from custseg.report import plots, rendering
from custseg.report.rendering import BackgroundFigures, FigureJob, render, render_png

pytestmark = pytest.mark.skipif(not BackgroundFigures.available(), reason="no fork here")


@pytest.fixture
def jobs() -> list[FigureJob]:
    values = np.random.default_rng(3).normal(50, 20, size=(500, 2))
    return [FigureJob(f"hist_{i}", f"hist_{i}.png",
                      partial(plots.histogram, values=values[:, i % 2] + i, name=f"feature {i}"),
                      fixed_layout=bool(i % 2)) for i in range(6)]


def _bytes(files: dict) -> dict[str, bytes]:
    return {name: path.read_bytes() for name, path in files.items()}


def test_background_figures_are_the_bytes_drawn_here(jobs, tmp_path):
    extra = FigureJob("extra", "extra.png", partial(plots.histogram, values=np.arange(9.0),
                                                    name="x"))
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
    # Picklable, so the worker tries it first; it fails there, then here, where it is raised.
    broken = partial(plots.histogram, values=np.arange(9.0), name="x", bins="no such rule")
    with BackgroundFigures() as figures:
        figures.start([*jobs, FigureJob("broken", "broken.png", broken)])
        with pytest.raises(ValueError, match="no such rule"):
            figures.finish([], tmp_path)
    assert figures.workers == []  # the worker was collected


def test_a_job_that_cannot_travel_is_drawn_here(jobs, tmp_path):
    local = FigureJob("local", "local.png", lambda ax: plots.histogram(ax, np.arange(9.0), "x"))
    expected = render_png(FigureJob("local", "local.png",
                                    partial(plots.histogram, values=np.arange(9.0), name="x")))
    with BackgroundFigures() as figures:
        figures.start([local, *jobs])
        files = figures.finish([], tmp_path)
    assert files["local"].read_bytes() == expected
    assert sorted(files) == sorted(["local", *(job.name for job in jobs)])


def test_a_prestarted_worker_is_taken_by_the_next_run(jobs, tmp_path, monkeypatch):
    monkeypatch.setattr(rendering, "_spare", None)
    rendering.prestart()
    spare = rendering._spare
    assert spare is not None
    assert spare.process.is_alive()
    with BackgroundFigures() as figures:
        figures.start(jobs)
        assert figures.workers == [spare.process]
        assert rendering._spare is None
        files = figures.finish([], tmp_path)
    assert _bytes(files) == {job.name: render_png(job) for job in jobs}
    assert not spare.process.is_alive()


def test_the_command_line_draws_no_figure_itself(tmp_path):
    """``custseg run`` leaves matplotlib to its worker: the run's own process never loads it."""
    script = textwrap.dedent(f"""
        import sys
        from custseg.cli import main
        try:
            main(["run", "--quiet", "-o", {str(tmp_path / "out")!r}])
        except SystemExit as stop:
            assert not stop.code, stop.code
        print(sorted(name for name in sys.modules if name.split(".")[0] == "matplotlib"))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"
    assert len(list((tmp_path / "out" / "figures").glob("*.png"))) == 7


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


def _gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie, reaped by init soon, holds no file)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1].startswith("Z")
    except FileNotFoundError:
        return True


def test_the_workers_die_with_their_parent():
    """A run killed with ``kill -9`` leaves no figure process behind (it would hold the output
    folder's lock, inherited through fork): neither the worker nor the one it forked."""
    import os
    import signal
    import time

    script = textwrap.dedent("""
        import time
        from functools import partial
        from custseg.report.rendering import BackgroundFigures, FigureJob

        def slow(ax, seconds):
            time.sleep(seconds)

        figures = BackgroundFigures()
        figures.start([FigureJob(f"slow{i}", f"slow{i}.png", partial(slow, seconds=60))
                       for i in range(2)])
        print(figures.workers[0].pid, flush=True)
        time.sleep(60)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    worker = int(parent.stdout.readline())
    deadline = time.monotonic() + 30
    children: list[int] = []
    while not children and time.monotonic() < deadline:  # the worker forks once it is ready
        with open(f"/proc/{worker}/task/{worker}/children") as listed:
            children = [int(pid) for pid in listed.read().split()]
        time.sleep(0.05)
    assert len(children) == rendering.DRAWING_PROCESSES - 1
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while not all(_gone(pid) for pid in (worker, *children)):
        if time.monotonic() > deadline:
            for pid in (worker, *children):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            pytest.fail("a figure process outlived its killed parent")
        time.sleep(0.05)


#: Runs a Python snippet as a child of a process that adopts orphans (a subreaper, like a
#: container's first process) and never reaps them itself: prints how many it adopted.
_ADOPTER = textwrap.dedent("""
    import ctypes, os, subprocess, sys, time
    ctypes.CDLL(None, use_errno=True).prctl(36, 1)  # PR_SET_CHILD_SUBREAPER
    done = subprocess.run([sys.executable, "-c", sys.argv[1]])
    time.sleep(0.5)  # an orphan killed with its parent has ended by now
    adopted, deadline = 0, time.monotonic() + 5
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:  # no child left, adopted or not
            break
        if pid:
            adopted += 1
        elif time.monotonic() > deadline:  # adopted and still running
            adopted += 1
            break
        else:
            time.sleep(0.1)
    print(done.returncode, adopted)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's subreaper")
@pytest.mark.parametrize("snippet", [
    pytest.param("""
        import numpy as np
        from functools import partial
        from pathlib import Path
        from custseg.report import plots
        from custseg.report.rendering import BackgroundFigures, FigureJob
        jobs = [FigureJob(f"h{i}", f"h{i}.png", partial(plots.histogram,
                values=np.arange(50.0) * i, name="x")) for i in range(4)]
        with BackgroundFigures() as figures:
            figures.start(jobs)
            figures.finish([], Path({out!r}))
    """, id="api"),
    pytest.param("""
        import time
        from functools import partial
        from custseg.report.rendering import BackgroundFigures, FigureJob
        def slow(ax, seconds):
            time.sleep(seconds)
        jobs = [FigureJob(f"s{i}", f"s{i}.png", partial(slow, seconds=30)) for i in range(2)]
        with BackgroundFigures() as figures:  # left while both processes draw
            figures.start(jobs)
            time.sleep(3)
            started = time.monotonic()
        assert time.monotonic() - started < 5, "the worker was not stopped"
    """, id="api-stopped-while-drawing"),
    pytest.param("""
        from custseg.cli import main
        main(["run", "--quiet", "-o", {out!r}])
    """, id="cli-run"),
    pytest.param("""
        from custseg.cli import main
        main(["run", "--quiet", "no-such-file.csv"])
    """, id="cli-error-before-figures"),
])
def test_drawing_processes_leave_no_orphan(snippet, tmp_path):
    """Every drawing process is reaped by the run: none is left for its adopter to reap (a
    container whose first process never reaps would collect one zombie per run)."""
    code = textwrap.dedent(snippet).replace("{out!r}", repr(str(tmp_path / "out")))
    done = subprocess.run([sys.executable, "-c", _ADOPTER, code], capture_output=True,
                          text=True, check=True, timeout=120)
    returncode, adopted = done.stdout.split()
    assert adopted == "0"
    assert (returncode == "0") is ("no-such-file" not in snippet), returncode
