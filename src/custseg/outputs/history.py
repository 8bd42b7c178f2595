"""The monthly view's files, written beside the run folders (in the folder holding them).

``history.html``
    Every run on one self-contained page (:mod:`custseg.report.history_page`).
``history_sizes.csv``
    Customers per (run, segment): ``run``, ``date``, ``segment`` (the view's stable id),
    ``name`` (in that run), ``current_name``, ``customers``, ``share_percent``, ``status``
    (``first``, ``kept``, ``new``, or ``retired``: gone since the run before, 0 customers).
``history_flows.csv``
    Customers per (run pair, from segment, to segment): ``from_run``, ``to_run``, ``link``
    (``recorded`` or ``inferred``), ``flow`` (``stayed``, ``moved``, ``new``, ``departed``),
    ``from_segment``, ``from_name``, ``to_segment``, ``to_name`` (empty for new and departed
    customers), ``customers``.

And, on request, every customer's journey (:func:`write_journeys`): one row per customer, one
column per run holding the customer's segment id in that run (empty when absent).

Each file is written to a temporary name, then renamed: an interrupted build never leaves a
half-written page over a good one.
"""

from __future__ import annotations

import os
from pathlib import Path

from custseg.exceptions import OutputError
from custseg.io.csvsafe import TableWriter, write_csv
from custseg.report.history_page import render_history_page
from custseg.runfolder import HISTORY_FLOWS_FILE, HISTORY_REPORT_FILE, HISTORY_SIZES_FILE
from custseg.tracking.journey import JourneyTable, all_journeys
from custseg.tracking.timeline import Timeline, build_timeline


def _temporary(path: Path) -> Path:
    """A hidden name beside ``path``, same suffix (the writers choose the format by it)."""
    return path.with_name(f".{path.stem}.tmp{path.suffix}")


def _commit(staged: dict[str, tuple[Path, Path]]) -> dict[str, Path]:
    """Rename the staged files into place; on failure, remove the ones not yet renamed."""
    for _name, (tmp, path) in staged.items():
        try:
            os.replace(tmp, path)
        except OSError as exc:
            _discard(staged)
            raise OutputError(f"Cannot write {path}: {exc.strerror or exc}. Check the folder's "
                              f"permissions (and that no folder is named {path.name}).") from None
    return {name: path for name, (_, path) in staged.items()}


def _discard(staged: dict[str, tuple[Path, Path]]) -> None:
    for tmp, _ in staged.values():
        tmp.unlink(missing_ok=True)


def write_history_files(view: Timeline, folder: Path | None = None) -> dict[str, Path]:
    """Write ``history.html``, ``history_sizes.csv`` and ``history_flows.csv`` for ``view``.

    Parameters
    ----------
    view : Timeline
        The runs (:func:`custseg.tracking.timeline.build_timeline`).
    folder : pathlib.Path, optional
        Where to write; default the folder holding the runs (the page's links to each run's
        ``report.html`` are relative to it).

    Returns
    -------
    dict of str to pathlib.Path
        ``report``, ``sizes`` and ``flows``.

    Raises
    ------
    OutputError
        When the files cannot be written.
    """
    folder = Path(folder or view.folder)
    paths = {"report": folder / HISTORY_REPORT_FILE, "sizes": folder / HISTORY_SIZES_FILE,
             "flows": folder / HISTORY_FLOWS_FILE}
    staged = {name: (_temporary(path), path) for name, path in paths.items()}
    html = render_history_page(view)
    try:
        staged["report"][0].write_text(html, encoding="utf-8")
        write_csv(view.sizes_table(), staged["sizes"][0])
        write_csv(view.flows_table(), staged["flows"][0])
    except (OSError, OutputError) as exc:
        _discard(staged)
        if isinstance(exc, OutputError):
            raise
        raise OutputError(f"Cannot write the history files in {folder}: {exc.strerror or exc}. "
                          "Check the folder's permissions.") from None
    return _commit(staged)


def write_history(folder: str | Path) -> tuple[Timeline, dict[str, Path]]:
    """Build the monthly view of the runs in ``folder`` and write its files there.

    Parameters
    ----------
    folder : str or pathlib.Path
        The folder holding the run folders (the parent of each run's ``--out``).

    Returns
    -------
    (Timeline, dict)
        The view and the files written (``report``, ``sizes``, ``flows``).

    Raises
    ------
    InputFileError
        When the folder holds no usable run.
    OutputError
        When the files cannot be written.

    Examples
    --------
    >>> import tempfile
    >>> from custseg.config import RunConfig
    >>> from custseg.pipeline import run
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = run(RunConfig(k=5, out=folder / "jan"))
    >>> view, written = write_history(folder)
    >>> sorted(p.name for p in written.values())
    ['history.html', 'history_flows.csv', 'history_sizes.csv']
    """
    view = build_timeline(folder)
    return view, write_history_files(view)


def write_journeys(folder: str | Path, path: str | Path) -> tuple[Timeline, JourneyTable, Path]:
    """Write every customer's segment in every run of ``folder`` to ``path`` (CSV, or Parquet
    when ``path`` ends in ``.parquet``).

    Returns
    -------
    (Timeline, JourneyTable, pathlib.Path)
        The view, the journeys, and the file written.

    Raises
    ------
    InputFileError
        When the folder holds no usable run.
    OutputError
        When the file cannot be written.

    Examples
    --------
    >>> import tempfile
    >>> from custseg.config import RunConfig
    >>> from custseg.pipeline import run
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = run(RunConfig(k=5, out=folder / "jan"))
    >>> view, table, written = write_journeys(folder, folder / "journeys.csv")
    >>> written.read_text(encoding="utf-8").splitlines()[:2]
    ['customer_id,jan', '1,3']
    """
    path = Path(path)
    view, table = all_journeys(folder)
    tmp = _temporary(path)
    try:
        with TableWriter(tmp) as writer:
            table.write(writer, view.runs)
    except OutputError:
        tmp.unlink(missing_ok=True)
        raise
    return view, table, _commit({"journeys": (tmp, path)})["journeys"]
