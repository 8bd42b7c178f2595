"""Run custseg's benchmarks and write BENCHMARKS.md (one command: ``make bench``).

Sections (``--sections``, comma separated; default all but ``huge``):

``quality``   fit quality (centroid index) and time at the true K on Fränti's sets, custseg
              against scikit-learn.
``choose_k``  ``custseg choose-k`` on 1,000,000 generated customers.
``scale``     ``custseg run`` against ``../shared/baseline/seed_style.py`` and
              ``bench/plain_seed.py`` at 200 .. 10^7 rows, and custseg's stages
              (``bench/scale.py``; ``--quick`` re-checks the recorded ratios in a minute).
``kernel``    one Lloyd pass over 10^7 x 2 values against the memory-bandwidth floor
              (``bench/kernel.py``).
``predict``   ``custseg predict`` on 10^7 rows.
``huge``, ``history``, ``spark``  the out-of-core engine at 10^8 rows, the monthly view, the
              Spark engine (each its own module in ``bench/``).
``sql``       reading 10^6 and 10^7 customers from PostgreSQL and writing segments back, against
              ``pandas.read_sql`` and ``DataFrame.to_sql``.
``rfm``       ``custseg rfm`` on generated transaction logs of 10^7 and 10^8 lines, against pandas.

Every timing runs as its own process; wall time and peak RSS come from ``os.wait4``. Ratios
compare commands run in the same session, on the same machine, one after the other.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from harness import RESULTS, compile_package, ensure_data, machine, measure  # noqa: E402

BIN = Path(sys.executable).parent


def section_quality() -> str:
    import quality

    return ("## Fit quality at the true K\n\n"
            "Centroid index (CI; 0 = every true cluster found exactly once) on Fränti's benchmark "
            "sets, standardised, seeds 0..4. custseg = 10 k-means++ starts + random swap + Lloyd "
            "(`custseg.segmentation.kmeans.fit_kmeans`).\n\n" + quality.run() + "\n")


def section_choose_k(n: int = 1_000_000) -> str:
    path = ensure_data(n)
    seconds, rss = measure([str(BIN / "custseg"), "choose-k", str(path), "--quiet",
                            "--out", str(RESULTS / "choose_k")])
    return (f"## Choosing K on {n:,} rows\n\n"
            f"`custseg choose-k` (K = 1..10, five criteria, stability, structure test; on a "
            f"seeded 5,000-row sample) on {n:,} generated customers (CSV, "
            f"{path.stat().st_size / 2**20:.0f} MiB), whole command including reading and "
            f"figures:\n\n| rows | wall time (s) | peak RSS (MiB) |\n|---|---|---|\n"
            f"| {n:,} | {seconds:.1f} | {rss:.0f} |\n")


def section_scale() -> str:
    import scale

    return scale.section()


def section_kernel() -> str:
    import kernel

    return kernel.section()


def section_predict() -> str:
    import predict

    return predict.section([10_000_000])


def section_huge() -> str:
    import streaming

    return streaming.section([10_000_000, 100_000_000])


def section_spark() -> str:
    import spark

    return spark.section(10_000_000)


def section_history() -> str:
    import history

    return history.section(1_000_000)


def section_sql() -> str:
    import sql

    return sql.section([1_000_000, 10_000_000])


def section_rfm() -> str:
    import rfm

    return rfm.section([10_000_000, 100_000_000])


SECTIONS = {"quality": section_quality, "choose_k": section_choose_k, "scale": section_scale,
            "kernel": section_kernel, "predict": section_predict, "huge": section_huge,
            "history": section_history, "spark": section_spark, "sql": section_sql,
            "rfm": section_rfm}
# scale first: a process started by one that holds large arrays inherits its peak RSS figure.
DEFAULT_SECTIONS = ("scale", "quality", "choose_k", "kernel", "predict")
_MARK = "<!-- section: {} -->"


def previous_sections(path: Path) -> dict[str, str]:
    """Sections of an existing BENCHMARKS.md, by name (from their markers)."""
    if not path.exists():
        return {}
    out, name = {}, None
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        if line.startswith("<!-- section: "):
            name = line.removeprefix("<!-- section: ").split(" ")[0]
            out[name] = ""
        elif name is not None:
            out[name] += line
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run custseg's benchmarks.")
    parser.add_argument("--sections", default=",".join(DEFAULT_SECTIONS))
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--quick", action="store_true",
                        help="a one-minute regression check of the speed ratios (200 and "
                             "100,000 rows) against the recorded ones; writes nothing")
    args = parser.parse_args(argv)
    compile_package()
    if args.quick:
        import scale

        return scale.quick()
    RESULTS.mkdir(parents=True, exist_ok=True)
    sections = previous_sections(args.output)
    for name in args.sections.split(","):
        print(f"running {name} ...", flush=True)
        text = SECTIONS[name]()
        (RESULTS / f"{name}.md").write_text(text)
        sections[name] = text.rstrip("\n") + "\n\n"
    order = [*SECTIONS, *(n for n in sections if n not in SECTIONS)]
    parts = [_MARK.format(n) + "\n" + sections[n] for n in order if n in sections]
    header = ("# Benchmarks\n\nRegenerate with `make bench` (or `python bench/run.py --sections "
              "...`). Ratios are between runs of the same session on the same machine.\n\n"
              + machine() + "\n\n")
    args.output.write_text(header + "".join(parts).rstrip("\n") + "\n")
    print(args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
