"""``custseg history``, ``custseg journey`` and ``custseg compare``: the runs recorded, the monthly
view across them, one customer's way through them, and what changed between two."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from custseg.cli import console
from custseg.cli.app import QuietOpt, TracebackOpt, app, err_console, handles_errors, out_console
from custseg.exceptions import ConfigError, InputFileError
from custseg.runfolder import HISTORY_FLOWS_FILE, HISTORY_REPORT_FILE, HISTORY_SIZES_FILE


def _notes(notes: list[str] | tuple[str, ...]) -> None:
    for note in notes:
        err_console.print(f"Note: {note}", markup=False)


@app.command()
@handles_errors
def history(
    folder: Annotated[Path, typer.Argument(help="Folder holding run folders (the parent of --out).",
                                           metavar="DIR")] = Path("."),
    report: Annotated[bool, typer.Option(
        "--report", help=f"Also write {HISTORY_REPORT_FILE} in DIR: every run on one page (segment "
        "sizes over the runs, customer flows between consecutive runs, drift, K, silhouette, keep or "
        f"re-fit), with {HISTORY_SIZES_FILE} and {HISTORY_FLOWS_FILE}. Runs not made with --previous "
        "are matched on the fly.")] = False,
    quiet: QuietOpt = False,
    traceback: TracebackOpt = False,
) -> None:
    """List the runs recorded in DIR: date, input fingerprint, rows, K, segments; with --report,
    also write the monthly view of every run (history.html) beside them."""
    from custseg.tracking.history import history_path, history_table, read_history

    notes: list[str] = []
    records = read_history(folder, notes=notes)
    if not records and not history_path(folder).exists() and not report:
        raise InputFileError(f"No run history in {folder}: runs record themselves in the folder "
                             "holding their --out folder. Pass that folder.")
    if report:
        from custseg.outputs.history import write_history

        view, written = write_history(folder)
        if not quiet:
            if records:
                console.print_history(out_console, history_table(records))
            console.print_history_page(out_console, view, written)
            _notes(view.notes)
        return
    if not quiet:
        console.print_history(out_console, history_table(records))
        _notes(notes)


@app.command()
@handles_errors
def journey(
    targets: Annotated[list[str], typer.Argument(
        help="The customer's id (as in the runs' input files) and the folder holding the run "
             "folders; with --csv the folder alone will do.", metavar="[CUSTOMER_ID] DIR",
        show_default=False)],
    csv: Annotated[Path | None, typer.Option(
        "--csv", metavar="PATH", help="Write every customer's journey to PATH: one row per customer, "
        "one column per run holding the customer's segment id in that run (empty when absent; names "
        f"in {HISTORY_SIZES_FILE}). A .parquet PATH writes Parquet.", show_default=False)] = None,
    quiet: QuietOpt = False,
    traceback: TracebackOpt = False,
) -> None:
    """A customer's segment in every run of DIR (matched on the fly where not chained)."""
    if len(targets) > 2 or (len(targets) == 1 and csv is None):
        raise ConfigError("Give a customer id and the folder holding the runs: custseg journey "
                          "CUSTOMER_ID DIR (or custseg journey --csv PATH DIR for every customer).")
    customer, folder = (targets[0], Path(targets[1])) if len(targets) == 2 else (None, Path(targets[0]))
    if csv is None:
        from custseg.tracking.journey import find_journey

        view, stops = find_journey(folder, customer)
        if not quiet:
            console.print_journey(out_console, customer.strip(), stops)
            _notes(view.notes)
        return
    from custseg.outputs.history import write_journeys
    from custseg.tracking.journey import stops as journey_stops

    view, table, written = write_journeys(folder, csv)
    found = None if customer is None else table.journey_of(customer)
    if customer is not None and found is None:
        raise ConfigError(f"Customer {customer.strip()} is in none of the {len(view.steps)} runs in "
                          f"{folder} (every customer's journey was written to {written}).")
    if not quiet:
        if found is not None:
            console.print_journey(out_console, customer.strip(), journey_stops(view, *found))
        out_console.print(f"Journeys of {len(table):,} customers across {len(view.steps)} runs "
                          f"written to {written}", markup=False)
        _notes(view.notes)


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
