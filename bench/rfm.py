"""Benchmark transaction logs: ``custseg rfm`` (checks every line, DuckDB groups them out of core)
against the plain pandas ``groupby`` a user would write, on generated logs.

The logs are seeded and cached in ``bench/data`` (git ignores it): ``lines`` purchase lines of
``lines / 10`` customers over two years, as Parquet (``customer_id`` text, ``date`` a date,
``amount`` with 1% returns). Each command runs as its own process (wall time and peak RSS from
``os.wait4``); the pandas run is given an address-space limit (``--pandas-limit``, default 8 GiB)
so that, where it cannot fit, it fails with a MemoryError instead of pushing the machine into swap:

    python bench/rfm.py --lines 10000000 100000000
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / "data"
RESULTS = ROOT / "bench" / "results"
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "bench"))

TITLE = "## Transaction logs to customer features (`custseg rfm`)"
RSS_LIMIT_MIB = 2048
PANDAS_LIMIT = 8 * 1024**3
#: What a user writes with pandas for the same features (frequency = distinct purchase days).
PANDAS_SCRIPT = """
import resource, sys
import pandas as pd
limit = int(sys.argv[3])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
log = pd.read_parquet(sys.argv[1])
log["date"] = pd.to_datetime(log["date"])
as_of = log["date"].max() + pd.Timedelta(days=1)
by = log.groupby("customer_id")
out = pd.DataFrame({"first": by["date"].min(), "last": by["date"].max(),
                    "frequency": by["date"].nunique(), "monetary_total": by["amount"].sum(),
                    "lines": by.size()})
out["recency_days"] = (as_of - out["last"]).dt.days
out["tenure_days"] = (as_of - out["first"]).dt.days
out.to_parquet(sys.argv[2])
"""


#: Printed under the table: why the group-by runs in DuckDB.
WHY_DUCKDB = (
    "Plain pandas is faster where the log fits in memory: it checks nothing (no line numbers, "
    "no rejects, no date forms); custseg's price is checking and accounting for every line and "
    "bounded memory. Where the log does not fit, pandas stops and custseg goes on. Why DuckDB: "
    "10^8 lines make about 10^8 distinct (customer, day) purchases before they make 10^7 "
    "customers, so the group-by has to run out of core; DuckDB's hash aggregation spills to disk "
    "under a memory limit and sums decimals exactly (the same log gives the same bytes whatever "
    "its threads do). pyarrow's `group_by` holds every group in memory; Polars was not "
    "measured.\n")


def label(n: int) -> str:
    return f"1e{len(str(n)) - 1}" if str(n).strip("0") == "1" else str(n)


def generate(lines: int, seed: int = 0, batch: int = 2_000_000) -> Path:
    """A seeded purchase log of ``lines`` lines and ``lines // 10`` customers (cached)."""
    path = DATA / f"transactions_{label(lines)}.parquet"
    if path.exists():
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    customers = max(1, lines // 10)
    rng = np.random.default_rng(seed)
    start = np.datetime64("2023-01-01")
    schema = pa.schema([("customer_id", pa.string()), ("date", pa.date32()),
                        ("amount", pa.float64())])
    partial = path.with_suffix(".partial")
    with pq.ParquetWriter(partial, schema) as writer:
        for first in range(0, lines, batch):
            n = min(batch, lines - first)
            # Skewed activity: low ids buy far more often than high ids (every id buys about
            # 5 times or more on average, so nearly every customer appears).
            who = np.minimum((rng.random(n) ** 2 * customers).astype(np.int64), customers - 1)
            ids = np.char.add("C", np.char.zfill(who.astype(str), 9))
            days = start + rng.integers(0, 730, n).astype("timedelta64[D]")
            amount = np.round(rng.gamma(2.0, 25.0, n), 2)
            amount[rng.random(n) < 0.01] *= -1  # returns
            writer.write_table(pa.table({"customer_id": ids, "date": days, "amount": amount},
                                        schema=schema))
    partial.rename(path)
    return path


def measure_rfm(lines: int) -> dict:
    from harness import measure

    log = generate(lines)
    out = RESULTS / f"rfm_{label(lines)}.parquet"
    seconds, rss = measure([str(BIN / "custseg"), "rfm", str(log), "--out", str(out), "--quiet"])
    customers = pq.ParquetFile(out).metadata.num_rows
    out.unlink()
    return {"lines": lines, "seconds": seconds, "rss": rss, "customers": customers,
            "log_mib": log.stat().st_size / 2**20}


def measure_pandas(lines: int, limit: int = PANDAS_LIMIT) -> dict:
    from harness import measure

    log = generate(lines)
    out = RESULTS / f"rfm_pandas_{label(lines)}.parquet"
    try:
        seconds, rss = measure([sys.executable, "-c", PANDAS_SCRIPT, str(log), str(out),
                                str(limit)])
    except RuntimeError as exc:
        return {"lines": lines, "failed": "MemoryError" if "MemoryError" in str(exc)
                or "bad_alloc" in str(exc) or "Cannot allocate" in str(exc) else str(exc)[-200:]}
    out.unlink(missing_ok=True)
    return {"lines": lines, "seconds": seconds, "rss": rss}


def section(sizes: list[int], limit: int = PANDAS_LIMIT) -> str:
    rows = []
    for lines in sizes:
        ours = measure_rfm(lines)
        theirs = measure_pandas(lines, limit)
        pandas_cell = (f"{theirs['seconds']:.0f} s, {theirs['rss']:,.0f} MiB"
                       if "seconds" in theirs else
                       f"failed: {theirs['failed']} within {limit / 2**30:.0f} GiB")
        within = "yes" if ours["rss"] <= RSS_LIMIT_MIB else "**no**"
        rows.append(f"| {lines:,} | {ours['customers']:,} | {ours['log_mib']:,.0f} | "
                    f"{ours['seconds']:.0f} | {ours['rss']:,.0f} | {within} | {pandas_cell} |")
    return (f"{TITLE}\n\n"
            "Generated purchase logs (`bench/rfm.py`: Parquet, `customer_id` text, `date`, "
            "`amount` with 1% returns; lines / 10 customers, skewed activity). `custseg rfm LOG "
            "--out customers.parquet` checks every line (rejects with line numbers), groups lines "
            "into purchases and purchases into customers in DuckDB (memory limit: a third of "
            "`--memory-budget`, the rest spilled to disk), adds the RFM scores and groups, and "
            "writes the customer table; whole command, one process. The pandas column is the "
            "`read_parquet` + `groupby` a user would write for the same features "
            "(`bench/rfm.py`, `PANDAS_SCRIPT`), run under an address-space limit.\n\n"
            "| lines | customers | log (MiB) | custseg rfm (s) | peak RSS (MiB) | ≤ 2 GiB | "
            "pandas groupby |\n|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n\n"
            + WHY_DUCKDB)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, nargs="+", default=[10_000_000, 100_000_000])
    parser.add_argument("--pandas-limit", type=int, default=PANDAS_LIMIT)
    args = parser.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    print(section(args.lines, args.pandas_limit))
    return 0


if __name__ == "__main__":
    sys.exit(main())
