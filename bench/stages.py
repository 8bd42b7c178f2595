"""Where custseg's time goes: run the whole job once, timing every stage (a profile by stage).

    python bench/stages.py INPUT.csv OUT_DIR     # prints one JSON line per stage
"""

from __future__ import annotations

import json
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from custseg.cli.startup import prepare_process
from custseg.report.rendering import prestart

prepare_process()  # as the `custseg` program does first
prestart()  # as `custseg run` does, before the pipeline's imports
from custseg.config import RunConfig  # noqa: E402
from custseg.pipeline import run  # noqa: E402
from custseg.progress import NullProgress  # noqa: E402


class StageTimer(NullProgress):
    """A progress sink that records each stage's wall time instead of drawing bars."""

    def __init__(self) -> None:
        self.stages: list[tuple[str, float]] = []

    @contextmanager
    def task(self, description, total=None, unit=None):
        start = time.perf_counter()
        yield lambda amount=1: None
        self.stages.append((description, time.perf_counter() - start))


def main(argv: list[str]) -> int:
    os.sync()  # no earlier run's dirty pages slowing this one's writes (harness.measure)
    start = time.perf_counter()
    timer = StageTimer()
    run(RunConfig(input=Path(argv[0]), out=Path(argv[1])), progress=timer)
    total = time.perf_counter() - start
    for name, seconds in timer.stages:
        print(json.dumps({"stage": name, "seconds": round(seconds, 3)}))
    print(json.dumps({"stage": "total (after imports)", "seconds": round(total, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
