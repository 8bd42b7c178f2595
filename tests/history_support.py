"""Shared by the monthly-view tests: folders of monthly runs, made once per process.

Three months of generated Mall-like customers (``bench/generate.py``): month m holds ``N``
customers of one pool shifted by ``CHURN`` a month (that many depart, as many are new), with
``MOVED`` of the others drawn again (so some change segment). Three folders of runs:

- ``chained``: every month made with ``--previous`` the month before (recorded links);
- ``independent``: the same months, no ``--previous`` (every link inferred);
- ``mixed``: K 5, then 6 (not chained: a new segment, an inferred link), then 4 (chained to the
  K = 6 run: retired segments), so ids are carried on from an inferred link.

The first month is the same run in every folder: it is made once and copied.

The history records are dated at month ends (the runs themselves run seconds apart). Tests
that change a folder work on a copy (:func:`copy_runs`).
"""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from custseg.config import RunConfig
from custseg.pipeline import run
from custseg.runfolder import CLUSTERED_SUFFIX
from custseg.tracking.history import HISTORY_FILE, read_history, record_run

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from generate import customers  # noqa: E402

N, CHURN, MOVED, MONTHS = 600, 30, 0.1, 3
RUNS = [f"2024-{m:02d}" for m in range(1, MONTHS + 1)]
DATES = ["2024-01-31T08:00:00Z", "2024-02-29T08:00:00Z", "2024-03-31T08:00:00Z"]
FEATURES = ("Annual Income (k$)", "Spending Score (1-100)")
#: (K, chained to the month before) of each month of the ``mixed`` folder.
MIXED = [(5, False), (6, False), (4, True)]


@functools.cache
def _base() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="custseg-history-tests-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


@functools.cache
def month_inputs() -> tuple[Path, ...]:
    """The four months' customer files (CSV)."""
    folder = _base() / "inputs"
    folder.mkdir()
    pool = customers(N + MONTHS * CHURN, seed=0)
    paths = []
    for m in range(MONTHS):
        month = pool.slice(m * CHURN, N)
        fresh = customers(N, seed=100 + m)
        again = np.random.default_rng(m).random(N) < MOVED
        columns = {name: (pa.array(np.where(again, fresh.column(name).to_numpy(), month.column(name).to_numpy()))
                          if name in FEATURES else month.column(name)) for name in month.column_names}
        path = folder / f"customers_{m + 1:02d}.csv"
        pacsv.write_csv(pa.table(columns), path)
        paths.append(path)
    return tuple(paths)


def set_dates(folder: Path, dates: dict[str, str]) -> None:
    """Give the history records of ``folder`` these dates (by run name)."""
    path = folder / HISTORY_FILE
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for record in records:
        record["date"] = dates.get(record["run"], record["date"])
    path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records), encoding="utf-8")


@functools.cache
def runs(kind: str) -> Path:
    """The folder of runs ``kind``: ``chained``, ``independent`` or ``mixed`` (module notes)."""
    folder = _base() / kind
    plan = {"chained": [(5, True)] * MONTHS, "independent": [(5, False)] * MONTHS, "mixed": MIXED}[kind]
    for m, (path, (k, chained)) in enumerate(zip(month_inputs(), plan, strict=True)):
        if m == 0 and kind != "chained":
            first = runs("chained")
            shutil.copytree(first / RUNS[0], folder / RUNS[0])
            record = next(r for r in read_history(first) if r["run"] == RUNS[0])
            record_run(folder, record)
            continue
        previous = folder / RUNS[m - 1] if chained and m else None
        run(RunConfig(input=path, out=folder / RUNS[m], k=k, previous=previous))
    set_dates(folder, dict(zip(RUNS, DATES, strict=True)))
    return folder


def copy_runs(kind: str, to: Path) -> Path:
    """A copy of the folder of runs ``kind`` that a test may change."""
    return Path(shutil.copytree(runs(kind), to / kind))


def clustered(folder: Path) -> Path:
    """The clustered customers file of a run folder."""
    return next(folder.glob(f"*{CLUSTERED_SUFFIX}.csv"))


def segments_by_customer(folder: Path, ids: dict[int, int]) -> pd.Series:
    """Each customer's segment in a run, in the view's ids: the oracle the tests compare with."""
    frame = pd.read_csv(clustered(folder), usecols=["CustomerID", "Cluster"])
    return frame.set_index("CustomerID")["Cluster"].map(ids)


def true_flows(before: pd.Series, after: pd.Series) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Customers per (earlier, later) segment, departed per earlier and new per later segment."""
    both = before.index.intersection(after.index)
    counts = pd.crosstab(before[both], after[both])
    departed = before[before.index.difference(after.index)].value_counts()
    new = after[after.index.difference(before.index)].value_counts()
    return counts, departed, new
