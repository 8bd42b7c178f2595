"""Render a run's figures to PNG: one after another, or in other processes while the run goes on.

A figure is a :class:`FigureJob` (a draw function and a size). :func:`render` draws a list of
them in this process. :class:`BackgroundFigures` starts drawing them in forked workers as soon
as their inputs exist (the sample's figures after the scan, while K is chosen; the rest once
the segments are named, while the engine assigns and writes every customer); when the run
reaches its figure stage, this process draws whatever the workers have not claimed yet, and
the workers' PNGs come back through pipes. A worker and this process claim jobs from one
shared counter, so work is balanced whatever the sizes.

The PNG bytes do not depend on which process drew them. Where ``fork`` is unavailable, or the
worker fails for any reason, this process draws the figures itself: the worker only saves time.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["DPI", "BackgroundFigures", "FigureJob", "render", "render_png", "save_png"]

DPI = 110
#: Margins (inches: left, right, bottom, top) of figures whose text does not depend on the data
#: beyond a feature name: laid out without a layout engine, whose extra draw costs a third of
#: such a figure's time.
FIXED_MARGINS = (0.95, 0.25, 0.65, 0.5)
#: Set to ``0`` to draw every figure in this process (no worker).
WORKER_ENV = "CUSTSEG_FIGURE_WORKER"
#: prctl(2) option: the signal a process gets when its parent dies (Linux).
PR_SET_PDEATHSIG = 1
#: Seconds to wait for the worker once this process has claimed the last figure.
WORKER_TIMEOUT = 60


@dataclass(frozen=True)
class FigureJob:
    """One figure to draw.

    Attributes
    ----------
    name : str
        Key of the figure in a run's outputs (``"elbow"``).
    filename : str
        PNG file name (``"elbow.png"``).
    draw : callable
        Fills the axes it is given.
    size : (float, float)
        Width and height in inches.
    fixed_layout : bool
        Lay out with :data:`FIXED_MARGINS` instead of matplotlib's constrained layout (for
        figures without data-dependent labels around the axes).
    """

    name: str
    filename: str
    draw: Callable[[Axes], object]
    size: tuple[float, float] = (7, 4.5)
    fixed_layout: bool = False


def render_png(job: FigureJob) -> bytes:
    """Draw ``job`` and return its PNG bytes (no date or software metadata: reproducible)."""
    width, height = job.size
    fig = Figure(figsize=job.size, layout=None if job.fixed_layout else "constrained")
    FigureCanvasAgg(fig)
    if job.fixed_layout:
        left, right, bottom, top = FIXED_MARGINS
        fig.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height,
                            top=1 - top / height)
    job.draw(fig.add_subplot())
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def save_png(data: bytes, path: Path) -> Path:
    """Write PNG bytes at ``path`` (creating its folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def render(jobs: Sequence[FigureJob], folder: Path) -> dict[str, Path]:
    """Draw ``jobs`` in this process into ``folder``; return the files by figure name."""
    return {job.name: save_png(render_png(job), folder / job.filename) for job in jobs}


class BackgroundFigures:
    """Figures drawn by forked workers while the run goes on (a context manager).

    Each :meth:`start` forks one worker for its batch of figures (a run starts its sample's
    figures after the scan and the rest once its segments are named); :meth:`finish` draws
    what the workers have not claimed, collects their PNGs and writes every file.

    Examples
    --------
    >>> from custseg.report import plots
    >>> import numpy as np, tempfile
    >>> job = FigureJob("h", "h.png", lambda ax: plots.histogram(ax, np.arange(9.0), "x"))
    >>> with BackgroundFigures() as figures:
    ...     figures.start([job])
    ...     files = figures.finish([], Path(tempfile.mkdtemp()))
    >>> sorted(files)
    ['h']
    """

    def __init__(self) -> None:
        self._batches: list[_Batch] = []

    def __enter__(self) -> BackgroundFigures:
        return self

    def __exit__(self, *exc: object) -> None:
        for batch in self._batches:
            batch.stop()

    @property
    def workers(self) -> list[multiprocessing.process.BaseProcess]:
        """The worker processes that may still deliver figures."""
        return [batch.process for batch in self._batches if batch.process is not None]

    @staticmethod
    def available() -> bool:
        """True where a worker can be forked (Linux) and :data:`WORKER_ENV` allows it."""
        return (os.environ.get(WORKER_ENV, "1") != "0" and sys.platform.startswith("linux")
                and "fork" in multiprocessing.get_all_start_methods())

    def start(self, jobs: Sequence[FigureJob]) -> None:
        """Start drawing ``jobs`` in a new worker (or keep them for :meth:`finish` to draw)."""
        batch = _Batch(list(jobs))
        self._batches.append(batch)
        if batch.jobs and self.available():
            batch.fork()

    def finish(self, extra: Sequence[FigureJob], folder: Path) -> dict[str, Path]:
        """Draw what the workers have not, plus ``extra``; write every PNG into ``folder``.

        Returns the files by figure name, in job order (``extra`` last).
        """
        # Claim the latest batch's figures first: the earlier workers are the likelier done.
        drawn = [batch.help() for batch in reversed(self._batches)][::-1]
        out = {}
        for batch, done in zip(self._batches, drawn, strict=True):
            for index, job in enumerate(batch.jobs):
                # What a worker claimed but did not deliver is drawn here (errors surface here).
                data = done[index] if index in done else render_png(job)
                out[job.name] = save_png(data, folder / job.filename)
        out.update(render(extra, folder))
        self._batches.clear()
        return out


class _Batch:
    """One worker and the figures it shares with this process."""

    def __init__(self, jobs: list[FigureJob]) -> None:
        self.jobs = jobs
        self.process: multiprocessing.process.BaseProcess | None = None
        self.counter = None
        self.receive = None

    def fork(self) -> None:
        context = multiprocessing.get_context("fork")
        self.counter = context.Value("i", 0)
        self.receive, send = context.Pipe(duplex=False)
        # Buffered output would otherwise be written twice (the worker flushes on exit).
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            self.process = context.Process(target=_work, daemon=True,
                                           args=(self.jobs, self.counter, send, os.getpid()))
            self.process.start()
        except OSError:  # no process left to fork: draw here
            self.process = None
        send.close()

    def help(self) -> dict[int, bytes]:
        """Draw the figures the worker has not claimed, then collect the worker's."""
        if self.process is None:
            return {}
        done = {}
        while (index := _claim(self.counter, len(self.jobs))) is not None:
            done[index] = render_png(self.jobs[index])
        try:
            # The worker has at most the job it is drawing left; a worker stuck for a minute
            # is given up on and its figures are drawn here.
            if self.receive.poll(WORKER_TIMEOUT):
                done.update(self.receive.recv())
        except (EOFError, OSError):  # the worker died: its figures are drawn here
            pass
        finally:
            self.stop()
        return done

    def stop(self) -> None:
        if self.process is not None:
            if self.process.is_alive():
                self.process.terminate()
            self.process.join()
            self.process = None
        if self.receive is not None:
            self.receive.close()
            self.receive = None


def _claim(counter, n: int) -> int | None:
    """The next unclaimed job's index, or ``None`` when all are claimed."""
    with counter.get_lock():
        index = counter.value
        if index >= n:
            return None
        counter.value = index + 1
    return index


def _die_with_parent(parent: int) -> None:  # pragma: no cover - forked worker
    """Have the kernel kill this worker when its parent dies (``kill -9`` included): a worker
    outliving its run would hold the run's inherited output lock."""
    with contextlib.suppress(OSError, AttributeError):  # no prctl: the parent's exit will do
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl
        os._exit(0)


def _work(jobs: list[FigureJob], counter, send, parent: int
          ) -> None:  # pragma: no cover - forked worker
    _die_with_parent(parent)
    drawn: dict[int, bytes] = {}
    while (index := _claim(counter, len(jobs))) is not None:
        try:
            drawn[index] = render_png(jobs[index])
        except Exception:  # the parent draws it again and reports the error
            continue
    send.send(drawn)
    send.close()
