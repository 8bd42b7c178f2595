"""The runs of a folder, read back for the monthly view: which runs, in which order, and why some
are left out.

Where the runs come from
------------------------
The folder holding the run folders (the parent of each run's ``--out``) keeps the run history
(:mod:`custseg.tracking.history`). Its records name the runs and date them; each run is read
from its folder: the model file (required) and ``segments.json`` (K, silhouette, and for a run
made with ``--previous`` its recorded comparison). Without a history file, every run folder of
the folder is taken, in the order of the folders' names (``2024-01``, ``2024-02``...).

Bad history, never a crash (each case becomes a sentence in :attr:`RunSet.notes`)
--------------------------------------------------------------------------------
- a run recorded twice (re-run into the same folder): its folder holds the latest, shown once;
- a recorded run whose folder is missing, or whose model file is damaged: left out;
- a run folder with no record (when a history exists): left out;
- runs segmented on other features than the latest run: left out (segments on different
  features cannot be matched);
- two runs on the same day: both shown, in the order they ran; when they segmented the same
  input (same SHA-256) and the later was not compared with the earlier (``--previous``), only
  the later is shown (a re-run);
- a gap: consecutive runs farther apart than 1.5 times the usual interval (the median) are
  shown with a note (their flows span the gap).

Order: by date, except that a run compared with another (``--previous``) always comes after it.
"""

from __future__ import annotations

import itertools
import json
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePath

import numpy as np

from custseg.exceptions import CustsegError, InputFileError
from custseg.modelfile import SegmentModel, load_model
from custseg.runfolder import MODEL_FILE, REPORT_FILE, SUMMARY_FILE
from custseg.tracking.history import HISTORY_FILE, read_history

#: An interval this many times the usual one between runs is a gap.
GAP_FACTOR = 1.5


@dataclass(frozen=True, eq=False)
class RunInfo:
    """One finished run of the folder, as the monthly view needs it.

    Attributes
    ----------
    name : str
        Its folder's name (how the page and the tables name it).
    folder : pathlib.Path
        Its folder.
    model : SegmentModel
        Its model file: features, centroids, segment ids (the run's own), names, exact sizes.
    summary : dict
        Its ``segments.json`` (empty when missing or unreadable).
    date : str or None
        When it ran (ISO 8601 UTC, from the run history).
    input_name, input_sha256 : str or None
        Its input file and fingerprint.
    previous : str or None
        Name of the run folder it was compared with (``--previous``), if any.
    """

    name: str
    folder: Path
    model: SegmentModel
    summary: dict = field(default_factory=dict)
    date: str | None = None
    input_name: str | None = None
    input_sha256: str | None = None
    previous: str | None = None

    @property
    def features(self) -> tuple[str, ...]:
        """Feature names."""
        return tuple(self.model.features)

    @property
    def segment_ids(self) -> list[int]:
        """The run's own segment ids, by position."""
        return [int(i) for i in self.model.clusters]

    @property
    def names(self) -> dict[int, str]:
        """Own segment id -> name."""
        return {int(i): n for i, n in zip(self.model.clusters, self.model.names, strict=True)}

    @property
    def sizes(self) -> dict[int, int]:
        """Own segment id -> customers (exact)."""
        return {int(i): int(n) for i, n in zip(self.model.clusters, self.model.sizes, strict=True)}

    @property
    def customers(self) -> int:
        """Customers segmented."""
        return int(np.sum(self.model.sizes))

    @property
    def k(self) -> int:
        """Number of segments."""
        return self.model.n_segments

    @property
    def silhouette(self) -> float | None:
        """Silhouette of the run (from ``segments.json``), or None."""
        value = _get(self.summary, "metrics", "silhouette")
        return float(value) if isinstance(value, int | float) else None

    @property
    def rejected(self) -> int | None:
        """Rows rejected, or None when unknown."""
        value = _get(self.summary, "rows", "rejected")
        return int(value) if isinstance(value, int) else None

    @property
    def changes(self) -> dict | None:
        """The comparison recorded by ``--previous`` (``segments.json``'s ``changes``), or None."""
        changes = self.summary.get("changes")
        return changes if isinstance(changes, dict) else None

    @property
    def report(self) -> Path | None:
        """Its ``report.html``, or None when it has none."""
        path = self.folder / REPORT_FILE
        return path if path.is_file() else None

    @property
    def day(self) -> str | None:
        """The date it ran, ``YYYY-MM-DD``."""
        return None if self.date is None else self.date[:10]


@dataclass(frozen=True, eq=False)
class RunSet:
    """The runs of a folder, in order, with what was left out and why.

    Attributes
    ----------
    folder : pathlib.Path
        The folder holding the run folders.
    runs : tuple of RunInfo
        The usable runs, oldest first.
    notes : tuple of str
        One sentence per problem met (a run left out, a gap, two runs on one day...).
    skipped : dict of str to str
        Runs left out, and why.
    days : dict of str to float
        Days since the previous run, by run name (when both are dated).
    gaps : tuple of str
        Runs that follow a gap (farther from the previous run than usual).
    """

    folder: Path
    runs: tuple[RunInfo, ...]
    notes: tuple[str, ...] = ()
    skipped: dict[str, str] = field(default_factory=dict)
    days: dict[str, float] = field(default_factory=dict)
    gaps: tuple[str, ...] = ()

    @property
    def features(self) -> tuple[str, ...]:
        """The features every run here was segmented on."""
        return self.runs[-1].features if self.runs else ()


def _get(mapping: object, *keys: str) -> object:
    for key in keys:
        if not isinstance(mapping, Mapping):
            return None
        mapping = mapping.get(key)
    return mapping


def parse_date(text: object) -> datetime | None:
    """An ISO 8601 date of the run history, or None when absent or not a date.

    Examples
    --------
    >>> parse_date("2024-02-01T09:30:00Z").month, parse_date("yesterday")
    (2, None)
    """
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def previous_name(previous: object) -> str | None:
    """The run folder a ``--previous`` value names: the folder, or the folder of a model file.

    Examples
    --------
    >>> previous_name("runs/2024-01"), previous_name("runs/2024-01/segments_model.custseg.json")
    ('2024-01', '2024-01')
    """
    if not isinstance(previous, str) or not previous:
        return None
    path = PurePath(previous.replace("\\", "/"))
    return path.parent.name if path.name.endswith(".json") else path.name


def _run_folders(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and (p / MODEL_FILE).is_file())


def _candidates(folder: Path, notes: list[str]) -> list[tuple[str, dict | None]]:
    """(run name, its latest history record) in recorded order; run folders when no history."""
    records = read_history(folder, notes=notes)
    if not records:
        names = _run_folders(folder)
        if names:
            notes.append(f"No run history in {folder}: the {len(names)} run folders found are "
                         "ordered by their names.")
        return [(name, None) for name in names]
    latest: dict[str, dict] = {}
    counts: dict[str, int] = {}
    for record in records:
        name = record.get("run")
        if not isinstance(name, str) or not name or PurePath(name).name != name or name in (".", ".."):
            notes.append("Skipped a history record that names no run folder.")
            continue
        latest.pop(name, None)  # keep the position of the latest record
        latest[name] = record
        counts[name] = counts.get(name, 0) + 1
    for name, count in counts.items():
        if count > 1:
            notes.append(f"{name} was recorded {count} times (re-run into the same folder): its "
                         "folder holds the latest run, shown once.")
    extra = [name for name in _run_folders(folder) if name not in latest]
    if extra:
        notes.append(f"Run folders not in the run history, left out: {', '.join(extra)} (a run "
                     f"records itself in {HISTORY_FILE} of the folder holding its --out folder).")
    return list(latest.items())


def read_run(folder: Path, record: Mapping[str, object] | None = None) -> RunInfo:
    """One run folder read back (model file and ``segments.json``), dated by its record.

    Raises
    ------
    InputFileError
        When the folder is missing.
    ModelFileError
        When its model file is missing or damaged.
    """
    if not folder.is_dir():
        raise InputFileError("its folder is missing")
    if not (folder / MODEL_FILE).is_file():
        raise InputFileError(f"its folder has no model file ({MODEL_FILE})")
    model = load_model(folder / MODEL_FILE)
    try:
        summary = json.loads((folder / SUMMARY_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        summary = {}
    if not isinstance(summary, dict) or summary.get("k") not in (None, model.n_segments):
        summary = {}
    record = record or {}
    previous = previous_name(_get(summary, "run", "config", "previous")) \
        or previous_name(record.get("previous"))
    return RunInfo(
        name=folder.name, folder=folder, model=model, summary=summary,
        date=record.get("date") if parse_date(record.get("date")) else None,
        input_name=_get(record, "input", "name") or _get(summary, "run", "input", "name"),
        input_sha256=_get(record, "input", "sha256") or _get(summary, "run", "input", "sha256"),
        previous=previous)


def _ordered(runs: list[RunInfo], notes: list[str]) -> list[RunInfo]:
    """By date (undated runs keep their place), a run compared with another after that one."""
    if all(r.date for r in runs):
        runs = sorted(runs, key=lambda r: parse_date(r.date))
    names = {r.name for r in runs}
    placed: set[str] = set()
    out: list[RunInfo] = []
    waiting: list[RunInfo] = []
    for run in runs:
        if run.previous in names and run.previous not in placed and run.previous != run.name:
            waiting.append(run)
            continue
        out.append(run)
        placed.add(run.name)
        for later in list(waiting):
            if later.previous in placed:
                waiting.remove(later)
                out.append(later)
                placed.add(later.name)
                notes.append(f"{later.name} is shown after {later.previous}, the run it was "
                             f"compared with, although {later.previous} ran later (re-run).")
    return out + waiting


def _same_day(runs: list[RunInfo], notes: list[str], skipped: dict[str, str]) -> list[RunInfo]:
    out: list[RunInfo] = []
    days: dict[str, list[str]] = {}
    for run in runs:
        before = out[-1] if out else None
        if before is not None and run.day and before.day == run.day and run.input_sha256 \
                and run.input_sha256 == before.input_sha256 and run.previous != before.name:
            out[-1] = run
            days[run.day].remove(before.name)
            skipped[before.name] = (f"it ran on {run.day} on the same input as {run.name}, which "
                                    "ran later the same day")
            notes.append(f"{before.name} and {run.name} ran on the same day ({run.day}) on the same "
                         f"input: only the later, {run.name}, is shown.")
        else:
            out.append(run)
        if run.day:
            days.setdefault(run.day, []).append(run.name)
    for day, names in days.items():
        if len(names) > 1:
            listed = ", ".join(names[:-1]) + " and " + names[-1]
            notes.append(f"{listed} ran on the same day ({day}): {'both' if len(names) == 2 else 'all'} "
                         "are shown, in the order they ran.")
    return out


def _intervals(runs: Sequence[RunInfo], notes: list[str]) -> tuple[dict[str, float], tuple[str, ...]]:
    days: dict[str, float] = {}
    for before, after in itertools.pairwise(runs):
        start, end = parse_date(before.date), parse_date(after.date)
        if start is not None and end is not None:
            days[after.name] = (end - start).total_seconds() / 86400
    usual = [d for d in days.values() if d >= 1]
    if len(usual) < 2:
        return days, ()
    typical = statistics.median(usual)
    gaps = tuple(name for name, d in days.items() if d > GAP_FACTOR * typical)
    previous = {after.name: before.name for before, after in itertools.pairwise(runs)}
    for name in gaps:
        notes.append(f"Gap: no run for {days[name]:.0f} days between {previous[name]} and {name} "
                     f"(runs are usually {typical:.0f} days apart); the flows from {previous[name]} "
                     f"to {name} span the gap.")
    return days, gaps


def find_runs(folder: str | Path) -> RunSet:
    """The usable runs of ``folder``, oldest first, and what was left out (module notes).

    Parameters
    ----------
    folder : str or pathlib.Path
        The folder holding the run folders (the parent of each run's ``--out``).

    Returns
    -------
    RunSet

    Raises
    ------
    InputFileError
        When ``folder`` is not a folder, or holds no run at all (recorded or found).

    Examples
    --------
    >>> import tempfile
    >>> from custseg.config import RunConfig
    >>> from custseg.pipeline import run
    >>> runs = Path(tempfile.mkdtemp())
    >>> _ = run(RunConfig(k=5, out=runs / "2024-01"))
    >>> found = find_runs(runs)
    >>> [r.name for r in found.runs], found.runs[0].k, found.notes
    (['2024-01'], 5, ())
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputFileError(f"{folder} is not a folder: pass the folder holding the run folders "
                             "(the parent of their --out folders).")
    notes: list[str] = []
    skipped: dict[str, str] = {}
    runs: list[RunInfo] = []
    for name, record in _candidates(folder, notes):
        try:
            runs.append(read_run(folder / name, record))
        except CustsegError as exc:
            reason = str(exc) if isinstance(exc, InputFileError) else f"its model file is damaged ({exc})"
            skipped[name] = reason
            notes.append(f"{name} is left out: {reason}.")
    if not runs:
        if not skipped and not notes:
            raise InputFileError(f"No custseg runs in {folder}: no run history ({HISTORY_FILE}) and "
                                 f"no run folder (with {MODEL_FILE}). Pass the folder holding the "
                                 "run folders.")
        raise InputFileError(f"No usable run in {folder}: " + " ".join(notes))
    runs = _ordered(runs, notes)
    features = runs[-1].features
    kept = []
    for run in runs:
        if run.features == features:
            kept.append(run)
            continue
        skipped[run.name] = (f"it was segmented on {', '.join(run.features)}, the latest run on "
                             f"{', '.join(features)}: their segments cannot be matched")
        notes.append(f"{run.name} is left out: {skipped[run.name]}.")
    kept = _same_day(kept, notes, skipped)
    days, gaps = _intervals(kept, notes)
    return RunSet(folder, tuple(kept), tuple(notes), skipped, days, gaps)
