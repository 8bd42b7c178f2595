"""Progress reporting for long steps: silent by default in the library, rich bars in the CLI."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

Advance = Callable[[float], None]


class Progress(Protocol):
    """Something that can show the progress of named steps."""

    def task(self, description: str, total: float | None = None, unit: str | None = None
             ) -> AbstractContextManager[Advance]:
        """Context manager for one step; yields ``advance(amount)``. With ``unit`` (``"rows"``),
        the step shows its rate (rows per second)."""
        ...  # pragma: no cover


class NullProgress:
    """Shows nothing (the library default, and ``--quiet``)."""

    @contextmanager
    def task(self, description: str, total: float | None = None, unit: str | None = None
             ) -> Iterator[Advance]:
        yield _ignore


def _ignore(amount: float = 1) -> None:
    return None


class RichProgress:
    """Rich progress bars on standard error: step, bar, count, rows per second and elapsed time.

    Use as a context manager around the whole job.
    """

    def __init__(self, console=None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
            MofNCompleteColumn(), _rate_column(), TimeElapsedColumn(),
            console=console or Console(stderr=True), transient=False,
        )

    def __enter__(self) -> RichProgress:
        self._started = False  # started at the first step: a run that fails first prints nothing
        return self

    def __exit__(self, *exc: object) -> None:
        if self._started:
            self._progress.stop()

    @contextmanager
    def task(self, description: str, total: float | None = None, unit: str | None = None
             ) -> Iterator[Advance]:
        if not getattr(self, "_started", True):
            self._progress.start()
            self._started = True
        task_id = self._progress.add_task(description, total=total if total else 1, unit=unit)

        def advance(amount: float = 1) -> None:
            self._progress.advance(task_id, amount)

        yield advance  # on error the bar stays where it stopped
        self._progress.update(task_id, completed=total if total else 1)


def _rate_column():
    """A column showing the rate of steps that count a unit (rows per second); blank otherwise."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task) -> Text:
            unit = task.fields.get("unit")
            if not unit or not task.speed:
                return Text("")
            return Text(f"{task.speed:,.0f} {unit}/s", style="progress.data.speed")

    return RateColumn()
