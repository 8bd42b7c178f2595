"""The ``custseg`` command line: parse options, call the library, turn errors into exit codes.

:mod:`~custseg.cli.app` holds the Typer application, the shared options and the exit-code table;
the commands register themselves on import.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from custseg.cli import (  # noqa: F401 - each registers its commands
    predict,
    runs,
    segment,
    transactions,
)
from custseg.cli.app import EXIT_CODES, EXIT_INTERNAL, app
from custseg.cli.startup import prepare_process

__all__ = ["EXIT_CODES", "EXIT_INTERNAL", "app", "command", "main"]


def main(argv: Sequence[str] | None = None) -> None:
    """Run one ``custseg`` command line in this process (ends with :class:`SystemExit`)."""
    app(args=list(argv) if argv is not None else None, prog_name="custseg")


def command(argv: Sequence[str] | None = None) -> NoReturn:
    """The ``custseg`` program (and ``customer_segmentation.py``): :func:`main`, then exit.

    Once the command is done (its files written, closed and committed) and the standard
    streams are flushed, the process ends at once (``os._exit``): the interpreter's teardown
    of the objects scikit-learn and SciPy create on import takes 0.2 s, a tenth of a whole run
    on the Mall data, and does nothing a finished command needs. A run on Spark exits the
    usual way, so that PySpark's exit handlers stop the JVM it started.

    Before anything else, :func:`custseg.cli.startup.prepare_process` settles what a process
    of its own may (one BLAS thread, :mod:`scipy.stats` deferred until used).
    """
    prepare_process()
    try:
        main(argv)
        code: object = 0
    except SystemExit as stop:
        code = stop.code
    if "pyspark" in sys.modules:
        sys.exit(code)
    if code is None:
        code = 0
    elif not isinstance(code, int):  # sys.exit("message"): printed, status 1
        print(code, file=sys.stderr)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        # A closed pipe (custseg ... | head) has nothing left to flush to.
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    command(sys.argv[1:])
