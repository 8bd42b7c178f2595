"""The ``custseg`` command line: parse options, call the library, turn errors into exit codes.

Nothing here computes anything; every command is a thin shell over the Python API.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from custseg import __version__
from custseg.config import (
    DEFAULT_FEATURES,
    DEFAULT_ID_COLUMN,
    DEFAULT_K,
    DEFAULT_OUT,
    DEFAULT_SEED,
    RunConfig,
)
from custseg.data.columns import parse_column_map
from custseg.exceptions import (
    ConfigError,
    CustsegError,
    DataValidationError,
    InputFileError,
    MissingDependencyError,
    ModelFileError,
    OutputError,
)

#: Exit codes, one table (documented in the README). Typer's own usage errors exit with 2.
EXIT_CODES: dict[type[CustsegError], int] = {
    ConfigError: 2,
    InputFileError: 3,
    DataValidationError: 4,
    OutputError: 5,
    ModelFileError: 6,
    MissingDependencyError: 7,
}
EXIT_INTERNAL = 70

app = typer.Typer(
    name="custseg",
    help="Customer segmentation for retailers: K-Means segments a marketing team can act on.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
out_console = Console()
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., object])


def exit_code_for(error: CustsegError) -> int:
    """Exit code of a custseg error (the most specific class in :data:`EXIT_CODES`)."""
    for cls in type(error).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return 1


def handles_errors(command: F) -> F:
    """Turn library errors into one line on stderr and an exit code; ``--traceback`` re-raises."""

    @functools.wraps(command)
    def wrapper(*args: object, **kwargs: object) -> object:
        show_traceback = bool(kwargs.get("traceback"))
        try:
            return command(*args, **kwargs)
        except CustsegError as exc:
            if show_traceback:
                raise
            err_console.print(f"Error: {exc}", markup=False)
            raise typer.Exit(exit_code_for(exc)) from None
        except KeyboardInterrupt:
            err_console.print("Interrupted; nothing was written.", markup=False)
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:
            if show_traceback:
                raise
            err_console.print(
                f"Internal error: {type(exc).__name__}: {exc}. "
                "Re-run with --traceback and report it.", markup=False)
            raise typer.Exit(EXIT_INTERNAL) from None

    return wrapper  # type: ignore[return-value]


def split_features(values: Sequence[str] | None) -> tuple[str, ...]:
    """``--features`` accepts repeats and commas: ``--features A,B`` = ``--features A --features B``.

    Examples
    --------
    >>> split_features(["Age, Annual Income (k$)", "Spending Score (1-100)"])
    ('Age', 'Annual Income (k$)', 'Spending Score (1-100)')
    """
    if not values:
        return DEFAULT_FEATURES
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


def _version_callback(value: bool) -> None:
    if value:
        out_console.print(f"custseg {__version__}", markup=False)
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[bool, typer.Option("--version", callback=_version_callback,
                                          is_eager=True, help="Show the version and exit.")]
    = False,
) -> None:
    """Customer segmentation for retailers: K-Means segments a marketing team can act on."""


InputArg = Annotated[
    Path | None,
    typer.Argument(help="Customer table: CSV, Parquet or Excel (.xlsx). "
                        "[default: the bundled Mall Customers data]",
                   show_default=False),
]
FeaturesOpt = Annotated[
    list[str] | None,
    typer.Option("--features", "-f",
                 metavar="COLUMN",
                 help="Numeric columns to segment on; repeat the option or separate with commas. "
                      f"[default: {', '.join(DEFAULT_FEATURES)}]", show_default=False),
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed for every random step.")]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Folder for the outputs.")]
IdOpt = Annotated[str | None, typer.Option(
    "--id-column", help=f"Column identifying a customer. [default: {DEFAULT_ID_COLUMN}; "
                        "when absent from the input, rows are identified by row number]",
    show_default=False)]
FormatOpt = Annotated[str | None, typer.Option(
    "--format", help="Input format: csv, parquet or excel. [default: from the file extension]",
    show_default=False)]
ColumnMapOpt = Annotated[list[str] | None, typer.Option(
    "--column-map", metavar="OLD=NEW",
    help="Use the file's column OLD as NEW (repeatable), e.g. 'Income=Annual Income (k$)'.",
    show_default=False)]
OnInvalidOpt = Annotated[str, typer.Option(
    "--on-invalid", help="Invalid rows: 'reject' writes them to rejected_rows.csv with a reason; "
                         "'fail' stops the run.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")]
TracebackOpt = Annotated[bool, typer.Option(
    "--traceback", help="Show the full traceback on errors (for bug reports).")]


@app.command()
@handles_errors
def run(
    input: InputArg = None,
    features: FeaturesOpt = None,
    k: Annotated[int, typer.Option("--k", "-k", help="Number of segments.")] = DEFAULT_K,
    out: OutOpt = DEFAULT_OUT,
    seed: SeedOpt = DEFAULT_SEED,
    id_column: IdOpt = None,
    format: FormatOpt = None,
    column_map: ColumnMapOpt = None,
    on_invalid: OnInvalidOpt = "reject",
    quiet: QuietOpt = False,
    traceback: TracebackOpt = False,
) -> None:
    """Segment customers and write the clustered data, model and figures."""
    from custseg.pipeline import run as run_pipeline
    from custseg.progress import NullProgress, RichProgress

    config = RunConfig(
        input=input, features=split_features(features), k=k, out=out, seed=seed,
        id_column=id_column or DEFAULT_ID_COLUMN, id_column_required=id_column is not None,
        format=format, column_map=tuple(parse_column_map(column_map).items()),
        on_invalid=on_invalid,
    )
    if quiet:
        result = run_pipeline(config, progress=NullProgress())
        return
    with RichProgress(err_console) as progress:
        result = run_pipeline(config, progress=progress)
    print_run_summary(result)


def print_run_summary(result) -> None:
    """The per-segment table, quality and row accounting, and the files written."""
    features = result.features.names
    table = Table(title=f"{result.k} customer segments", title_justify="left")
    table.add_column("Cluster", justify="right")
    table.add_column("Customers", justify="right")
    table.add_column("Share", justify="right")
    for name in features:
        table.add_column(f"Mean {name}", justify="right")
    for cluster, row in result.profiles.table.iterrows():
        table.add_row(str(cluster), f"{int(row['size']):,}", f"{row['share']:.1%}",
                      *[f"{row[f'mean {name}']:.1f}" for name in features])
    out_console.print(table)
    out_console.print(f"Silhouette (scaled features): {result.silhouette:.4f}", markup=False)
    out_console.print(
        f"Rows: {result.n_input:,} read = {result.n_clustered:,} segmented + "
        f"{result.n_rejected:,} rejected", markup=False)
    out_console.print(f"Outputs in {result.config.out}/:", markup=False)
    root = result.config.out
    for path in sorted({p if p.parent == root else p.parent for p in result.outputs.values()}):
        label = f"{path.relative_to(root)}/" if path.is_dir() else str(path.relative_to(root))
        out_console.print(f"  {label}", markup=False)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``custseg`` command (and of ``customer_segmentation.py``)."""
    app(args=list(argv) if argv is not None else None, prog_name="custseg")


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
