"""Render a run's figures to PNG: one after another, or in a worker process while the run goes on.

A figure is a :class:`FigureJob` (a draw function and a size). :func:`render` draws a list of
them in this process. :class:`BackgroundFigures` sends them to one forked worker as soon as their
inputs exist (the sample's figures after the scan, the K choice's once K is chosen, the fit's
once the segments are named) and collects the PNGs when the run reaches its figure stage.

The worker imports matplotlib itself: this module does not, so a run whose figures are all drawn
by the worker never loads matplotlib in its own process. The command line forks the worker
(:func:`prestart`) before it imports the pipeline, so that matplotlib loads on the other core
while this process loads the rest. Jobs travel pickled: a draw function must be a module-level
function or a :func:`functools.partial` of one (:mod:`custseg.report.figures` builds them so);
a job that cannot be pickled is drawn here.

The PNG bytes do not depend on which process drew them. Where ``fork`` is unavailable, or the
worker fails for any reason, this process draws the figures itself: the worker only saves time.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import multiprocessing
import os
import pickle
import queue
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from custseg.forking import can_fork, die_with_parent

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["DPI", "BackgroundFigures", "FigureJob", "prestart", "render", "render_png", "save_png"]

DPI = 110
#: Margins (inches: left, right, bottom, top) of figures whose text does not depend on the data
#: beyond a feature name: laid out without a layout engine, whose extra draw costs a third of
#: such a figure's time.
FIXED_MARGINS = (0.95, 0.25, 0.65, 0.5)
#: Set to ``0`` to draw every figure in this process (no worker).
WORKER_ENV = "CUSTSEG_FIGURE_WORKER"
#: Processes drawing figures: the worker and one it forks (two cores: the run's last figures are
#: drawn while this process waits for them).
DRAWING_PROCESSES = 2
#: Niceness of the drawing processes: the figures wait while the run itself needs the cores.
WORKER_NICENESS = 10
#: Seconds to wait for the worker's figures once every job is sent; then they are drawn here.
WORKER_TIMEOUT = 60
#: Seconds a stopped worker has to finish its figure in hand and end before it is terminated.
STOP_TIMEOUT = 0.5


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
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    width, height = job.size
    fig = Figure(figsize=job.size, layout=None if job.fixed_layout else "constrained")
    FigureCanvasAgg(fig)
    if job.fixed_layout:
        left, right, bottom, top = FIXED_MARGINS
        fig.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height,
                            top=1 - top / height)
    job.draw(fig.add_subplot())
    buffer = io.BytesIO()
    # zlib level 3: a fifth of the encoding time of the default 6, files about a tenth larger.
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None},
                pil_kwargs={"compress_level": 3})
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
    """Figures drawn by a forked worker while the run goes on (a context manager).

    :meth:`start` sends a batch of figures to the worker (forked at the first batch, unless
    :func:`prestart` forked one already); :meth:`finish` collects the PNGs, draws here whatever
    the worker did not deliver and writes every file.

    Examples
    --------
    >>> from functools import partial
    >>> from custseg.report import plots
    >>> import numpy as np, tempfile
    >>> job = FigureJob("h", "h.png", partial(plots.histogram, values=np.arange(9.0), name="x"))
    >>> with BackgroundFigures() as figures:
    ...     figures.start([job])
    ...     files = figures.finish([], Path(tempfile.mkdtemp()))
    >>> sorted(files)
    ['h']
    """

    def __init__(self) -> None:
        self._jobs: list[FigureJob] = []
        self._worker: _Worker | None = None

    def __enter__(self) -> BackgroundFigures:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()

    @property
    def workers(self) -> list[multiprocessing.process.BaseProcess]:
        """The worker processes that may still deliver figures."""
        return [] if self._worker is None else [self._worker.process]

    @staticmethod
    def available() -> bool:
        """True where a worker can be forked (:func:`custseg.forking.can_fork`) and
        :data:`WORKER_ENV` allows it."""
        return os.environ.get(WORKER_ENV, "1") != "0" and can_fork()

    def start(self, jobs: Sequence[FigureJob], spread: bool = True) -> None:
        """Send ``jobs`` to the worker (or keep them for :meth:`finish` to draw here).

        ``spread=False`` keeps them to one drawing process: for figures started while this
        process is busy (two cores: a second drawing process would slow it down).
        """
        first = len(self._jobs)
        self._jobs.extend(jobs)
        if not jobs or not self.available():
            return
        if self._worker is None:
            self._worker = _take_spare() or _Worker.fork()
        if self._worker is not None:
            for index, job in enumerate(jobs, start=first):
                self._worker.send(index, job, spread)

    def finish(self, extra: Sequence[FigureJob], folder: Path) -> dict[str, Path]:
        """Collect the worker's figures, draw the rest and ``extra`` here; write every PNG
        into ``folder``.

        Returns the files by figure name, in job order (``extra`` last).
        """
        self.start(extra)
        done = self._worker.collect() if self._worker is not None else {}
        self._stop()
        # What the worker did not deliver is drawn here (its errors surface here).
        out = {job.name: save_png(done[index] if index in done else render_png(job),
                                  folder / job.filename)
               for index, job in enumerate(self._jobs)}
        self._jobs = []
        return out

    def _stop(self) -> None:
        if self._worker is not None:
            self._worker.stop()
            self._worker = None


#: The message that ends a drawing process (jobs are pickles, which never look like it).
_STOP = b"stop"

#: The worker :func:`prestart` forked, until a :class:`BackgroundFigures` takes it.
_spare: _Worker | None = None


def prestart() -> None:
    """Fork the figure worker now, for this process's next :class:`BackgroundFigures`.

    Called by the command line before it imports the pipeline: the worker then loads matplotlib
    while this process loads everything else. Does nothing where no worker is
    :meth:`available <BackgroundFigures.available>`.
    """
    global _spare
    if _spare is None and BackgroundFigures.available():
        _spare = _Worker.fork()
        # A run that ends before its figures (an error, --help) stops the worker as any other
        # does, before multiprocessing's own exit handler would terminate it.
        atexit.register(_stop_spare)


def _stop_spare() -> None:
    global _spare
    worker, _spare = _spare, None
    if worker is not None and worker.parent == os.getpid():
        worker.stop()


def _take_spare() -> _Worker | None:
    global _spare
    worker, _spare = _spare, None
    if worker is None or worker.parent != os.getpid():  # another process's worker (forked)
        return None
    if not worker.process.is_alive():
        worker.stop()
        return None
    return worker


class _Lane:
    """A pipe to one drawing process: jobs go out from a thread, PNGs come back when asked."""

    def __init__(self, connection) -> None:
        self.connection = connection
        self.cost = 0.0  # of the jobs sent so far
        self.sent = 0
        # Jobs are sent from a thread: a large job (a scatter's points) must not hold the run
        # up while the process is busy drawing the previous one.
        self._outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._sender = threading.Thread(target=self._send_all, name="custseg-figures",
                                        daemon=True)
        self._sender.start()

    def put(self, data: bytes, cost: float) -> None:
        self.cost += cost
        self.sent += 1
        self._outbox.put(data)

    def _send_all(self) -> None:
        while (data := self._outbox.get()) is not None:
            try:
                self.connection.send_bytes(data)
            except OSError:  # the process is gone: its jobs are drawn here
                return

    def ask(self) -> None:
        if self.sent:
            self._outbox.put(b"")  # after the last job: "send me what you drew"

    def answer(self) -> dict[int, bytes]:
        if not self.sent:
            return {}
        try:
            # A process that answers nothing in :data:`WORKER_TIMEOUT` is given up on.
            if self.connection.poll(WORKER_TIMEOUT):
                return self.connection.recv()
        except (EOFError, OSError, pickle.UnpicklingError):  # the process died
            pass
        return {}

    def close(self) -> None:
        # Said, not left to the pipe's end: every process forked since holds a copy of it.
        self._outbox.put(_STOP)
        self._outbox.put(None)
        self._sender.join(timeout=1)
        self.connection.close()


class _Worker:
    """A forked process drawing the jobs it is sent, and a second one it forks once it has
    loaded matplotlib (so that both cores can draw the run's last figures at once)."""

    def __init__(self, process: multiprocessing.process.BaseProcess, connections: list) -> None:
        self.process = process
        self.parent = os.getpid()
        self._lanes = [_Lane(connection) for connection in connections]

    @classmethod
    def fork(cls) -> _Worker | None:
        context = multiprocessing.get_context("fork")
        pipes = [context.Pipe(duplex=True) for _ in range(DRAWING_PROCESSES)]
        # Buffered output would otherwise be written twice (the worker flushes on exit).
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            process = context.Process(target=_serve, daemon=True, name="custseg-figures",
                                      args=([there for _, there in pipes], os.getpid()))
            process.start()
        except OSError:  # no process left to fork: draw here
            for here, _ in pipes:
                here.close()
            return None
        finally:
            for _, there in pipes:
                there.close()
        return cls(process, [here for here, _ in pipes])

    def send(self, index: int, job: FigureJob, spread: bool = True) -> None:
        """Queue ``job`` (number ``index``) for the least loaded process (``spread``) or for
        the first; an unpicklable job stays here."""
        try:
            data = pickle.dumps((index, job), protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, AttributeError, TypeError):
            return
        if not spread:  # drawn while the run is busy: not counted in the balance of the rest
            self._lanes[0].put(data, 0.0)
            return
        # A laid-out figure draws twice (layout, then the picture): about twice the cost.
        min(self._lanes, key=lambda lane: lane.cost).put(data, 1.0 if job.fixed_layout else 2.0)

    def collect(self) -> dict[int, bytes]:
        """The PNGs of every job sent, by number (fewer if a process failed or died)."""
        for lane in self._lanes:
            lane.ask()
        done: dict[int, bytes] = {}
        for lane in self._lanes:
            done.update(lane.answer())
        return done

    def stop(self) -> None:
        for lane in self._lanes:
            lane.close()
        # Each drawing process ends when told and the worker reaps the one it forked (also
        # when terminated): left to whatever adopts orphans, it might never be reaped (a
        # container's first process, a service: one zombie per run).
        self.process.join(timeout=STOP_TIMEOUT)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join()


def _serve(connections: list, parent: int) -> None:  # pragma: no cover - forked worker
    die_with_parent(parent)  # and Ctrl-C is the parent's: this worker goes with its pipe
    with contextlib.suppress(OSError):  # the run's own work first when both want a core
        os.nice(WORKER_NICENESS)
    # Loaded and warmed up now, while the parent is busy elsewhere: a first figure costs twice
    # the next (fonts, glyph caches), and the processes forked below inherit all of it.
    with contextlib.suppress(Exception):
        import numpy as np

        from custseg.report import plots

        render_png(FigureJob("warm-up", "warm-up.png", partial(
            plots.histogram, values=np.arange(3.0), name="x"), size=(2, 2)))
    mine, *others = connections
    me = os.getpid()
    children = []
    for connection in others:  # one more drawing process per extra pipe, matplotlib loaded
        try:
            child = os.fork()
        except OSError:  # the parent draws this pipe's jobs itself
            connection.close()
            continue
        if child == 0:
            die_with_parent(me)
            mine.close()
            _draw_jobs(connection)
            os._exit(0)
        children.append(child)
        connection.close()
    signal.signal(signal.SIGTERM, partial(_end, children))
    _draw_jobs(mine)
    for child in children:  # told to stop as this one was: reaped here, not by an adopter
        with contextlib.suppress(OSError):
            os.waitpid(child, 0)


def _end(children: list[int], *_: object) -> None:  # pragma: no cover - forked worker
    """The worker's SIGTERM: its drawing processes go with it, reaped."""
    for child in children:
        with contextlib.suppress(OSError):
            os.kill(child, signal.SIGKILL)
            os.waitpid(child, 0)
    os._exit(0)


def _draw_jobs(connection) -> None:  # pragma: no cover - forked worker
    drawn: dict[int, bytes] = {}
    while True:
        try:
            data = connection.recv_bytes()
        except (EOFError, OSError):
            return
        if data == _STOP:
            return
        if not data:  # the parent asks for the figures
            connection.send(drawn)
            drawn = {}
            continue
        try:
            index, job = pickle.loads(data)
            drawn[index] = render_png(job)
        except Exception:  # the parent draws it again and reports the error
            continue
