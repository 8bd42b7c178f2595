"""``custseg history`` and ``custseg compare``: the runs recorded, and what changed between two."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from custseg.cli import console
from custseg.cli.app import QuietOpt, TracebackOpt, app, err_console, handles_errors, out_console
from custseg.exceptions import InputFileError


@app.command()
@handles_errors
def history(
    folder: Annotated[Path, typer.Argument(help="Folder holding run folders (the parent of --out).",
                                           metavar="DIR")] = Path("."),
    quiet: QuietOpt = False,
    traceback: TracebackOpt = False,
) -> None:
    """List the runs recorded in DIR: date, input fingerprint, rows, K, segments."""
    from custseg.tracking.history import history_path, history_table, read_history

    notes: list[str] = []
    records = read_history(folder, notes=notes)
    if not records and not history_path(folder).exists():
        raise InputFileError(f"No run history in {folder}: runs record themselves in the folder "
                             "holding their --out folder. Pass that folder.")
    if not quiet:
        console.print_history(out_console, history_table(records))
        for note in notes:
            err_console.print(f"Note: {note}", markup=False)


@app.command()
@handles_errors
def compare(
    run_a: Annotated[Path, typer.Argument(help="The earlier run folder.", metavar="RUN_A")],
    run_b: Annotated[Path, typer.Argument(help="The later run folder.", metavar="RUN_B")],
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Folder for migration.csv, transition_matrix.csv and changes.json. "
        "[default: comparison_<RUN_A>_<RUN_B>]", show_default=False)] = None,
    quiet: QuietOpt = False,
    traceback: TracebackOpt = False,
) -> None:
    """Migration and drift between two runs: who moved where, PSI, keep or re-fit."""
    from custseg.pipeline.compare import compare as compare_runs

    folder = out or Path(f"comparison_{run_a.name}_{run_b.name}")
    changes, written = compare_runs(run_a, run_b, folder)
    if not quiet:
        console.print_changes(out_console, changes)
        console.print_outputs(out_console, folder, written)
