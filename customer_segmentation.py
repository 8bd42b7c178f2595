"""Seed-compatible entry point: ``python customer_segmentation.py`` runs ``custseg run``.

Takes the same options as ``custseg run`` (``--help`` lists them). Works after ``make run`` or
``pip install -e .``; from a plain clone it also finds the package in ``src/``.
"""

import sys
from pathlib import Path

try:
    from custseg.cli import command
except ImportError:  # not installed: use the source tree next to this file
    sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))
    from custseg.cli import command

if __name__ == "__main__":
    command(["run", *sys.argv[1:]])
