"""The ``custseg`` command line: parse options, call the library, turn errors into exit codes.

:mod:`~custseg.cli.app` holds the Typer application, the shared options and the exit-code table;
the commands register themselves on import.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from custseg.cli import (  # noqa: F401 - each registers its commands
    predict,
    runs,
    segment,
    transactions,
)
from custseg.cli.app import EXIT_CODES, EXIT_INTERNAL, app

__all__ = ["EXIT_CODES", "EXIT_INTERNAL", "app", "main"]


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``custseg`` command (and of ``customer_segmentation.py``)."""
    app(args=list(argv) if argv is not None else None, prog_name="custseg")


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
