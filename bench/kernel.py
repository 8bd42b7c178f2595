"""The K-Means kernel against the hardware: one Lloyd pass over 10^7 x 2 float64 values (scale,
nearest of K = 5 centroids, per-centroid sums and counts, inertia: what every pass of the final
fit does, :class:`custseg.engines.kernels.PassAccumulator`) against the memory-bandwidth floor,
one NumPy sum reading the same array, measured in the same run.

    python bench/kernel.py            # prints the markdown section
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np

from custseg.engines import kernels

ROWS = 10_000_000
K = 5
REPEATS = 9


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _timed(work: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall and CPU seconds (all threads) of ``work`` after one warm-up call."""
    work()
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        work()
        cpus.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - wall)
    return statistics.median(walls), statistics.median(cpus)


def measure(rows: int = ROWS, k: int = K, repeats: int = REPEATS) -> dict:
    """Time the floor, the compiled pass (all threads, and one) and the NumPy pass."""
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(60, 26, rows), rng.normal(50, 25, rows)])
    mean, scale = X.mean(axis=0), X.std(axis=0)
    centers = rng.normal(size=(k, 2))

    def lloyd_pass(fused: bool) -> Callable[[], object]:
        def run() -> object:
            accumulator = kernels.PassAccumulator(centers, mean, scale, n_rows=rows if fused else 0)
            accumulator.add_blocks(X)
            return accumulator.totals()
        return run

    result = {"floor": _timed(X.sum, repeats)}
    if kernels.fused_kernels(rows) is not None:
        result["fused"] = _timed(lloyd_pass(True), repeats)
        threads = kernels.FUSED_THREADS
        kernels.FUSED_THREADS = 1
        try:
            result["fused, 1 thread"] = _timed(lloyd_pass(True), repeats)
        finally:
            kernels.FUSED_THREADS = threads
    result["numpy"] = _timed(lloyd_pass(False), max(3, repeats // 3))
    return result


def section(rows: int = ROWS) -> str:
    """The benchmark as a markdown section (machine, versions, pass against floor, ratio)."""
    import numba

    import custseg

    timings = measure(rows)
    floor_wall, floor_cpu = timings["floor"]
    cores = len(os.sched_getaffinity(0))
    lines = [
        "## The K-Means kernel against the memory-bandwidth floor", "",
        f"One Lloyd pass over {rows:,} x 2 float64 values, K = {K} (scaling, nearest centroid, "
        "per-centroid sums and counts, inertia: `custseg.engines.kernels.PassAccumulator`, "
        "blocks of 65,536 rows added in order) against one NumPy sum over the same array (the "
        "floor: every value read once). Medians of "
        f"{REPEATS} runs after a warm-up, in one process; CPU is user + system over all threads. "
        "Regenerate with `python bench/kernel.py`.", "",
        f"- CPU: {_cpu()}, {cores} cores available",
        f"- Python {platform.python_version()}; custseg {custseg.__version__}, "
        f"numpy {np.__version__}, numba {numba.__version__}", "",
        "| pass | wall (ms) | CPU (ms) | wall / floor | CPU / floor CPU |",
        "|---|---|---|---|---|",
    ]
    names = {"floor": "floor: `X.sum()`", "fused": "compiled kernel (Numba), threads",
             "fused, 1 thread": "compiled kernel (Numba), 1 thread",
             "numpy": "NumPy blocks (reference arithmetic)"}
    for key, (wall, cpu) in timings.items():
        lines.append(f"| {names[key]} | {wall * 1e3:.1f} | {cpu * 1e3:.1f} | "
                     f"{wall / floor_wall:.1f}x | {cpu / floor_cpu:.1f}x |")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(section(int(sys.argv[1]) if len(sys.argv) > 1 else ROWS))
