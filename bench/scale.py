"""custseg against the plain seed-style script (``bench/plain_seed.py``) at growing N.

Both run as separate processes, one after the other, in the same session, on the same
generated customers (``bench/generate.py``); wall time and peak RSS from ``os.wait4``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TITLE = "## custseg against the plain approach"


def section(rows: list[int], profile_at: int | None = None) -> str:
    """Markdown: a table per N (custseg, plain, ratio) and custseg's time by stage."""
    from harness import RESULTS, ensure_data, measure

    lines = [
        TITLE, "",
        "`custseg run` (whole job: validation, K choice with five criteria and stability, fit, "
        "profiles, names, rules, figures, report, every output file) against `bench/plain_seed.py`, "
        "the seed README written the plain way (pandas `read_csv`, seaborn histograms and scatter, "
        "StandardScaler, elbow with KMeans for K = 1..10, KMeans(5), cluster scatter, `to_csv`, "
        "pickle). Generated Mall-like customers, CSV. Each command is its own process.", "",
        "| rows | input (MiB) | custseg (s) | custseg peak RSS (MiB) | plain (s) | plain peak RSS (MiB) "
        "| plain / custseg |",
        "|---|---|---|---|---|---|---|",
    ]
    for n in rows:
        path = ensure_data(n)
        print(f"scale: custseg on {n:,} ...", file=sys.stderr, flush=True)
        c_s, c_rss = measure([str(BIN / "custseg"), "run", str(path), "--quiet",
                              "--out", str(RESULTS / f"scale_custseg_{n}")])
        print(f"scale: plain on {n:,} ...", file=sys.stderr, flush=True)
        p_s, p_rss = measure([sys.executable, str(ROOT / "bench" / "plain_seed.py"), str(path),
                              str(RESULTS / f"scale_plain_{n}")])
        lines.append(f"| {n:,} | {path.stat().st_size / 2**20:.0f} | {c_s:.1f} | {c_rss:.0f} | "
                     f"{p_s:.1f} | {p_rss:.0f} | {p_s / c_s:.1f}x |")
    if profile_at:
        path = ensure_data(profile_at)
        out = subprocess.run([sys.executable, str(ROOT / "bench" / "stages.py"), str(path),
                              str(RESULTS / "stages")], check=True, capture_output=True, text=True)
        stages = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
        lines += ["", f"Where custseg's time goes at {profile_at:,} rows (`bench/stages.py`, one run, "
                  "stage by stage; the total excludes Python start-up and imports):", "",
                  "| stage | seconds |", "|---|---|"]
        lines += [f"| {s['stage']} | {s['seconds']:.1f} |" for s in stages]
    return "\n".join(lines) + "\n"
