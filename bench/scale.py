"""custseg against the seed written as its readers write it, at growing N (issue "Fast at every
size").

Baselines, each run as its own process on the same input:

``seed_style``  ``../shared/baseline/seed_style.py``: pandas ``read_csv``, seaborn histograms
                with KDE and a scatter, ``StandardScaler``, elbow with ``KMeans`` for K = 1..10,
                ``KMeans(5)``, a matplotlib cluster scatter, ``to_csv``, ``joblib.dump``.
``plain_seed``  ``bench/plain_seed.py``: the same with seaborn's ``hue`` scatter (slower).

Ratios are quoted against the faster baseline at each N: medians of alternating runs
(custseg, baselines, custseg, ...), so a noisy machine hurts both sides alike.

    python bench/scale.py            # the whole table (minutes: seed_style takes ~4 min at 10^7)
    python bench/scale.py --quick    # 200 and 10^5 rows, 3 runs each, checked against
                                     # the ratios recorded by the last full run (about a minute)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SEED_STYLE = ROOT.parent / "shared" / "baseline" / "seed_style.py"
PLAIN_SEED = ROOT / "bench" / "plain_seed.py"
MALL = ROOT / "src" / "custseg" / "datasets" / "Mall_Customers.csv"
RECORDED = ROOT / "bench" / "recorded_ratios.json"
TITLE = "## custseg against the seed-style script"
ROWS = (200, 10_000, 100_000, 1_000_000, 10_000_000)
#: Runs of each command per N (alternating), and the largest N each baseline runs at.
REPEATS = {200: 5, 10_000: 5, 100_000: 3, 1_000_000: 3, 10_000_000: 1}
PLAIN_UP_TO = 1_000_000
#: ``--quick`` fails when a ratio falls below this share of its recorded value.
QUICK_TOLERANCE = 0.75


def _input(n: int) -> Path:
    from harness import ensure_data

    return MALL if n == 200 else ensure_data(n)


def _commands(n: int, path: Path) -> dict[str, list[str]]:
    from harness import RESULTS

    if not SEED_STYLE.exists():
        raise SystemExit(f"{SEED_STYLE} not found: the speed benchmark needs ../shared beside "
                         "the checkout.")
    commands = {
        "custseg": [str(BIN / "custseg"), "run", str(path), "--quiet",
                    "--out", str(RESULTS / f"scale_custseg_{n}")],
        "seed_style": [sys.executable, str(SEED_STYLE), str(path),
                       str(RESULTS / f"scale_seed_style_{n}")],
    }
    if n <= PLAIN_UP_TO:
        commands["plain_seed"] = [sys.executable, str(PLAIN_SEED), str(path),
                                  str(RESULTS / f"scale_plain_{n}")]
    return commands


def compare(n: int, repeats: int | None = None) -> dict[str, tuple[float, float]]:
    """Median wall seconds and peak RSS (MiB) of each command at ``n`` rows."""
    from harness import measure

    path = _input(n)
    commands = _commands(n, path)
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(repeats or REPEATS[n]):
        for name, cmd in commands.items():
            if name == "plain_seed" and n >= 1_000_000 and runs[name]:
                continue  # ~90 s a run at 10^6: once is enough to show it is the slower
            print(f"scale: {name} on {n:,} ...", file=sys.stderr, flush=True)
            runs[name].append(measure(cmd))
    return {name: (statistics.median(s for s, _ in r), max(m for _, m in r))
            for name, r in runs.items()}


def ratio(times: dict[str, tuple[float, float]]) -> tuple[str, float]:
    """The faster baseline and its time over custseg's (above 1: custseg is faster)."""
    baseline = min((name for name in times if name != "custseg"), key=lambda b: times[b][0])
    return baseline, times[baseline][0] / times["custseg"][0]


def stages(n: int) -> list[dict]:
    """custseg's time by stage at ``n`` rows (``bench/stages.py``)."""
    from harness import RESULTS

    out = subprocess.run([sys.executable, str(ROOT / "bench" / "stages.py"), str(_input(n)),
                          str(RESULTS / f"stages_{n}")], check=True, capture_output=True,
                         text=True)
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def section(rows: tuple[int, ...] = ROWS, profile_at: tuple[int, ...] = (200, 10_000_000)) -> str:
    """Markdown: the table of N against both baselines, and custseg's stages at some N."""
    lines = [
        TITLE, "",
        "`custseg run` (whole job: validation, K choice with five criteria, stability and the "
        "structure test, fit, profiles, names, rules, seven figures, report, every output file) "
        "against `../shared/baseline/seed_style.py` and `bench/plain_seed.py` (see "
        "`bench/scale.py`). CSV in, CSV out; 200 rows is the Mall data, the rest generated "
        "Mall-like customers. custseg byte-compiled first, as a regular `pip install` "
        "leaves it (`harness.compile_package`). Whole processes, median of alternating runs "
        f"({', '.join(f'{REPEATS[n]} at {n:,}' for n in rows)}); ratio = the faster baseline's "
        "time over custseg's.", "",
        "| rows | custseg (s) | custseg peak RSS (MiB) | seed_style (s) | seed_style peak RSS "
        "(MiB) | plain_seed (s) | ratio (faster baseline / custseg) |",
        "|---|---|---|---|---|---|---|",
    ]
    recorded = {}
    for n in rows:
        times = compare(n)
        baseline, r = ratio(times)
        recorded[str(n)] = r
        plain = f"{times['plain_seed'][0]:.1f}" if "plain_seed" in times else "not run"
        lines.append(f"| {n:,} | {times['custseg'][0]:.2f} | {times['custseg'][1]:.0f} | "
                     f"{times['seed_style'][0]:.2f} | {times['seed_style'][1]:.0f} | {plain} | "
                     f"{r:.2f}x ({baseline}) |")
    RECORDED.write_text(json.dumps(recorded, indent=1) + "\n")
    for n in profile_at:
        lines += ["", f"Where custseg's time goes at {n:,} rows (`bench/stages.py`: one run, in "
                  "process, stage by stage; the total excludes Python start-up and imports; "
                  "figures started in the background count where the run waits for them):", "",
                  "| stage | seconds |", "|---|---|"]
        lines += [f"| {s['stage']} | {s['seconds']:.3f} |" for s in stages(n)]
    return "\n".join(lines) + "\n"


def quick() -> int:
    """Re-measure 200 and 10^5 rows; fail when a ratio fell well below its recorded value."""
    recorded = json.loads(RECORDED.read_text()) if RECORDED.exists() else {}
    failed = False
    for n in (200, 100_000):
        times = compare(n, repeats=3)
        baseline, r = ratio(times)
        before = recorded.get(str(n))
        verdict = "no recorded ratio" if before is None else (
            "ok" if r >= QUICK_TOLERANCE * before else "REGRESSION")
        failed |= verdict == "REGRESSION"
        print(f"{n:>9,} rows: custseg {times['custseg'][0]:.2f} s, {baseline} "
              f"{times[baseline][0]:.2f} s, ratio {r:.2f}x (recorded "
              f"{'-' if before is None else f'{before:.2f}x'}): {verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "bench"))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        sys.exit(quick())
    print(section())
