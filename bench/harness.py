"""What every benchmark shares: paths, whole-process timing, the machine's description, and the
generated data sets (cached in bench/data)."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / "data"
RESULTS = ROOT / "bench" / "results"
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "bench"))


def compile_package() -> None:
    """Byte-compile custseg's modules, as a regular ``pip install`` does (the editable install
    of ``make`` leaves it to the first import, which PYTHONDONTWRITEBYTECODE forbids): every
    timed run then starts as an installed tool does, not by compiling its source."""
    import compileall

    import custseg

    compileall.compile_dir(Path(custseg.__file__).parent, quiet=1)


def measure(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Run ``cmd``; return (wall seconds, peak RSS in MiB). Raises if it fails.

    The page cache's dirty pages are flushed first: a run writing a GB after others wrote
    several is slowed by the kernel's writeback throttling (measured: 0.7 s of system time on a
    clean cache, up to 2.5 s on a dirty one, for the 10^7-row outputs)."""
    os.sync()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=env or dict(os.environ))
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd} failed ({proc.returncode}): {proc.stderr.read().decode()[-2000:]}")
    return seconds, usage.ru_maxrss / 1024  # Linux reports KiB


def machine() -> str:
    """Machine, versions and date, as a markdown list."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    packages = ", ".join(f"{p} {version(p)}" for p in
                         ("custseg", "numpy", "pandas", "pyarrow", "scikit-learn", "matplotlib"))
    return "\n".join([
        f"- Date: {dt.date.today().isoformat()}",
        f"- CPU: {cpu}, {os.cpu_count()} cores; RAM {mem:.0f} GiB; {platform.system()} "
        f"{platform.release()}",
        f"- Python {platform.python_version()}; {packages}",
    ])


def ensure_data(n: int, suffix: str = ".csv") -> Path:
    """Generated Mall-like customers (cached in bench/data).

    Generated in a process of its own: this one stays small, so the peak RSS of the commands it
    measures (``os.wait4``) is theirs alone. Linux keeps a peak across ``exec``, so a command
    forked from a grown parent reports at least the parent's peak."""
    path = DATA / f"customers_{label(n)}{suffix}"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, str(ROOT / "bench" / "generate.py"), str(n), str(path)],
                       check=True, stdout=subprocess.DEVNULL)
    return path


def label(n: int) -> str:
    exponent = len(str(n)) - 1
    return f"1e{exponent}" if n == 10**exponent else str(n)
