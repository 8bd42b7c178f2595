"""Benchmark the monthly view: ``custseg history DIR --report`` over twelve monthly runs.

Twelve months of seeded Mall-like customers (``bench/generate.py``): month m holds ``--rows``
customers of one pool, shifted by ``--churn`` customers a month (that many depart, as many are
new) and with ``--moved`` of the others drawn again (they may change segment). Each month is
segmented with ``custseg run --k 5 --quiet``, twice: chained (``--previous`` the month before:
the page reads the runs' recorded flows) and independent (no ``--previous``: the page matches
the segments on the fly and counts the flows from every run's customer file). The page build
and, for the independent runs, every customer's journey (``custseg journey --csv``) are timed as
their own processes (wall time and peak RSS from ``os.wait4``):

    python bench/history.py --rows 1000000
    python bench/history.py --rows 1000000 --append BENCHMARKS.md

Inputs are cached in ``bench/data/history_<rows>``; the run folders live in
``bench/results/history_<rows>`` (about 110 MB a run at 10^6 customers), kept with ``--keep``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from harness import BIN, DATA, RESULTS, machine, measure  # noqa: E402

TITLE = "## Monthly view (`custseg history DIR --report`)"
MONTHS = 12
#: The page must build within these (issue 18).
SECONDS_LIMIT = 60
RSS_LIMIT_MIB = 1024


def month_inputs(rows: int, months: int = MONTHS, churn: float = 0.02, moved: float = 0.05) -> list[Path]:
    """One CSV of customers per month (cached): a shifted slice of one pool, some drawn again."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv
    from generate import customers

    folder = DATA / f"history_{rows}"
    paths = [folder / f"customers_{m + 1:02d}.csv" for m in range(months)]
    if all(p.exists() for p in paths):
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    step = int(rows * churn)
    pool = customers(rows + months * step, seed=0)
    features = ("Age", "Annual Income (k$)", "Spending Score (1-100)")
    for m, path in enumerate(paths):
        month = pool.slice(m * step, rows)
        fresh = customers(rows, seed=100 + m)
        again = np.random.default_rng(m).random(rows) < moved
        columns = {name: (pa.array(np.where(again, fresh.column(name).to_numpy(),
                                            month.column(name).to_numpy()))
                          if name in features else month.column(name))
                   for name in month.column_names}
        tmp = path.with_suffix(".tmp")
        pacsv.write_csv(pa.table(columns), tmp,
                        pacsv.WriteOptions(quoting_style="none", quoting_header="none"))
        tmp.replace(path)
    return paths


def make_runs(inputs: list[Path], folder: Path, chained: bool) -> list[float]:
    """``custseg run --k 5`` on each month into ``folder``/2024-MM; the seconds of each run."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    seconds, previous = [], None
    for m, path in enumerate(inputs):
        out = folder / f"2024-{m + 1:02d}"
        cmd = [str(BIN / "custseg"), "run", str(path), "--k", "5", "--quiet", "--out", str(out)]
        if chained and previous is not None:
            cmd += ["--previous", str(previous)]
        print(" ".join(cmd), file=sys.stderr, flush=True)
        seconds.append(measure(cmd)[0])
        previous = out
    return seconds


def measure_view(folder: Path) -> dict:
    """Time the page build, and every customer's journey, each as its own process."""
    cmd = [str(BIN / "custseg"), "history", str(folder), "--report", "--quiet"]
    print(" ".join(cmd), file=sys.stderr, flush=True)
    seconds, rss = measure(cmd)
    page = folder / "history.html"
    journeys = folder.parent / f"{folder.name}_journeys.csv"
    cmd = [str(BIN / "custseg"), "journey", "--csv", str(journeys), str(folder), "--quiet"]
    print(" ".join(cmd), file=sys.stderr, flush=True)
    j_seconds, j_rss = measure(cmd)
    with journeys.open("rb") as fh:
        customers = sum(1 for _ in fh) - 1
    result = {"seconds": seconds, "rss": rss, "page_mib": page.stat().st_size / 2**20,
              "journey_seconds": j_seconds, "journey_rss": j_rss, "journey_rows": customers,
              "journey_mib": journeys.stat().st_size / 2**20}
    journeys.unlink()
    return result


def section(rows: int, keep: bool = False) -> str:
    """The BENCHMARKS.md section: twelve runs of ``rows`` customers, chained and independent."""
    # The inputs are made in a process of their own: this one stays small, so the peak RSS of the
    # commands it starts (os.wait4) is theirs alone, not that of a large parent they forked from.
    subprocess.run([sys.executable, __file__, "--rows", str(rows), "--inputs-only"], check=True)
    inputs = month_inputs(rows)
    base = RESULTS / f"history_{rows}"
    results = {}
    for kind, chained in (("chained (`--previous`)", True), ("independent (matched on the fly)", False)):
        folder = base / ("chained" if chained else "independent")
        run_seconds = make_runs(inputs, folder, chained)
        results[kind] = {**measure_view(folder), "runs": sum(run_seconds)}
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
    lines = [
        TITLE, "",
        f"{MONTHS} monthly runs of {rows:,} generated Mall-like customers each (`bench/generate.py`: "
        "one pool, 2% of the customers departing and as many new each month, 5% of the others "
        "drawn again), each segmented with `custseg run --k 5 --quiet`. The whole "
        "`custseg history DIR --report --quiet` command is timed as its own process: finding and "
        "reading the runs, ids across the runs, flows, drift, the figures, `history.html`, "
        "`history_sizes.csv` and `history_flows.csv`. Chained runs give their flows from their "
        "recorded transition matrices (no customer is read); independent runs are matched on the "
        "fly and their flows counted from every run's clustered file, read once in batches (two "
        "runs' customer keys held at a time). `custseg journey --csv` (every customer's segment in "
        "every run, one row per customer) is timed the same way. Regenerate with "
        f"`python bench/history.py --rows {rows}`.", "",
        machine(), "",
        "| runs | page build (s) | peak RSS (MiB) | within 1 min and 1 GB | history.html (MiB) | "
        f"journeys: customers | journeys (s) | journeys peak RSS (MiB) | the {MONTHS} runs (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for kind, r in results.items():
        ok = r["seconds"] <= SECONDS_LIMIT and r["rss"] <= RSS_LIMIT_MIB
        lines.append(f"| {kind} | {r['seconds']:.1f} | {r['rss']:.0f} | {'yes' if ok else 'NO'} | "
                     f"{r['page_mib']:.2f} | {r['journey_rows']:,} | {r['journey_seconds']:.1f} | "
                     f"{r['journey_rss']:.0f} | {r['runs']:.0f} |")
    lines += [
        "",
        "The page's size depends on the number of runs, not of customers: its figures are drawn "
        "from per-segment and per-flow counts (at most 12 flow diagrams, the latest links).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="Customers per monthly run.")
    parser.add_argument("--append", type=Path, help="Append the section to this file.")
    parser.add_argument("--keep", action="store_true", help="Keep the run folders.")
    parser.add_argument("--inputs-only", action="store_true", help="Only make the monthly inputs.")
    args = parser.parse_args(argv)
    if args.inputs_only:
        month_inputs(args.rows)
        return 0
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = section(args.rows, keep=args.keep)
    print(text)
    if args.append is not None:
        with args.append.open("a", encoding="utf-8") as fh:
            fh.write("\n<!-- section: history -->\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
