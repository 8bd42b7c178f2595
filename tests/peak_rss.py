"""The peak RSS of a command, as its own: measured through a small launcher process.

Linux keeps a process's peak RSS (``ru_maxrss``) across ``exec``, and a child forked (or
vforked) from a large process starts with its parent's pages: a command started straight from
a pytest worker that has grown to 800 MiB reports at least 800 MiB, whatever the command used.
The launcher is a bare Python, a few MiB, so the command it starts reports its own peak.
"""

from __future__ import annotations

import json
import subprocess
import sys

_LAUNCHER = """
import json, os, subprocess, sys
proc = subprocess.Popen(sys.argv[1:], stdout=sys.stderr)  # stdout: the result alone
_, status, usage = os.wait4(proc.pid, 0)
print(json.dumps([os.waitstatus_to_exitcode(status), usage.ru_maxrss]))
"""


def peak_rss_mib(argv: list[str]) -> float:
    """Run ``argv`` (its output goes to stderr); return its peak RSS in MiB.

    Raises
    ------
    AssertionError
        When the command exits non-zero.
    """
    done = subprocess.run([sys.executable, "-I", "-S", "-c", _LAUNCHER, *argv],
                          stdout=subprocess.PIPE, text=True, check=True)
    status, kib = json.loads(done.stdout)
    assert status == 0, f"{argv[:3]} exited with {status}"
    return kib / 1024
