"""Benchmark the batch engine: ``custseg run --engine batches`` on generated Parquet.

Generates seeded Mall-like customers as Parquet with ``bench/generate.py`` (written in batches,
cached in ``bench/data``, which git ignores), then times the whole ``custseg run --engine
batches`` command as its own process (wall time and peak RSS from ``os.wait4``), and the
in-memory engine on the same file up to 10^7 rows, and prints a markdown section for
BENCHMARKS.md. The run must stay within 2 GiB of peak RSS:

    python bench/streaming.py --rows 10000000
    python bench/streaming.py --rows 100000000 --append BENCHMARKS.md

The 10^8-row file takes about 1.5 GiB; the run writes about 13 GiB of CSV (the clustered file
and the per-segment lists) into ``bench/results/streaming_<rows>``, removed afterwards unless
``--keep`` is given.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / "data"
RESULTS = ROOT / "bench" / "results"
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "bench"))

TITLE = "## Batch engine (`--engine batches`)"
#: Peak RSS the streaming run must stay within (issue 8).
RSS_LIMIT_MIB = 2048
#: Inputs up to this many rows are also run on the in-memory engine, for the ratio (issue 14:
#: batches within 1.5x of memory on the same data).
MEMORY_COMPARE_ROWS = 10_000_000


def parquet_data(n: int) -> Path:
    """Generated Mall-like customers as Parquet (cached in bench/data)."""
    from harness import ensure_data

    return ensure_data(n, ".parquet")


def folder_bytes(folder: Path) -> int:
    """Bytes of every file under ``folder``."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def measure_streaming(n: int, keep: bool = False, extra: list[str] | None = None,
                      engine: str = "batches") -> dict:
    """Run ``custseg run --engine ENGINE`` on ``n`` generated customers; time, memory, facts."""
    from harness import measure

    path = parquet_data(n)
    out = RESULTS / f"streaming_{n}"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [str(BIN / "custseg"), "run", str(path), "--engine", engine, "--quiet",
           "--out", str(out), *(extra or [])]
    print(" ".join(cmd), file=sys.stderr, flush=True)
    seconds, rss = measure(cmd)
    summary = json.loads((out / "segments.json").read_text(encoding="utf-8"))
    result = {
        "rows": n, "input_mib": path.stat().st_size / 2**20, "seconds": seconds, "rss": rss,
        "k": summary["k"], "clustered": summary["rows"]["clustered"],
        "rejected": summary["rows"]["rejected"], "engine": summary["run"].get("engine", {}),
        "sizes": [s["size"] for s in summary["segments"]],
        "output_gib": folder_bytes(out) / 2**30,
    }
    if not keep:
        shutil.rmtree(out, ignore_errors=True)
    return result


def section(rows: int | list[int], keep: bool = False) -> str:
    """The BENCHMARKS.md section for these input sizes."""
    from harness import machine

    rows = [rows] if isinstance(rows, int) else list(rows)
    results = [measure_streaming(n, keep) for n in rows]
    # The in-memory engine on the same files, right after (same session, same page cache).
    memory = {n: measure_streaming(n, engine="memory") for n in rows if n <= MEMORY_COMPARE_ROWS}
    lines = [
        TITLE, "",
        "`custseg run INPUT --engine batches` on generated Mall-like customers "
        "(`bench/generate.py`, Parquet, row groups of 1,000,000), whole command as its own process: "
        "reading and validating in batches (duplicate ids across all rows), spilling the valid "
        "rows' features, K choice on a 200,000-row uniform sample, exact Lloyd passes over all "
        "rows, then assigning and writing the clustered CSV and the per-segment lists batch by "
        "batch, profiles, model, figures and report. Regenerate with "
        f"`python bench/streaming.py --rows {' '.join(str(n) for n in rows)}`.", "",
        machine(), "",
        "| rows | input (MiB) | wall time (s) | rows/s | peak RSS (MiB) | within 2 GiB | K | "
        "batch rows | passes over the rows | outputs (GiB) | in-memory engine (s / MiB) | "
        "batches / memory |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        engine = r["engine"]
        m = memory.get(r["rows"])
        versus = (f"{m['seconds']:.1f} / {m['rss']:.0f} | {r['seconds'] / m['seconds']:.2f}x"
                  if m else "not run (does not fit) | -")
        lines.append(
            f"| {r['rows']:,} | {r['input_mib']:.0f} | {r['seconds']:.1f} | "
            f"{r['rows'] / r['seconds']:,.0f} | {r['rss']:.0f} | "
            f"{'yes' if r['rss'] <= RSS_LIMIT_MIB else 'NO'} | {r['k']} | "
            f"{engine.get('batch_rows', 0):,} | {engine.get('passes', '?')} | "
            f"{r['output_gib']:.1f} | {versus} |")
    lines += [
        "",
        "Peak memory is the whole process and does not grow with the number of rows: one batch, "
        "the 200,000-row sample, and the ids remembered for the duplicate check (sequential "
        "integer ids are kept as spans: a few bytes in all). The input is read twice (checking, "
        "then writing); the Lloyd passes read the spilled features (16 bytes per row), which "
        "live beside the output folder during the run. Sizes, shares, means, category mixes, "
        "inertia and the CRM rules' fidelity are exact; medians, quartiles, names, silhouette, "
        "distance thresholds and figures come from the sample, as on the in-memory engine: the "
        "two engines write the same bytes.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000_000])
    parser.add_argument("--append", type=Path, help="Append the section to this file.")
    parser.add_argument("--keep", action="store_true", help="Keep the run's output folder.")
    args = parser.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = section(args.rows, keep=args.keep)
    print(text)
    if args.append is not None:
        with args.append.open("a", encoding="utf-8") as fh:
            fh.write("\n<!-- section: huge -->\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
