"""The ``custseg`` Typer application, its shared options and the one table of exit codes.

Nothing in :mod:`custseg.cli` computes anything; every command is a thin shell over the Python
API. The commands live in :mod:`~custseg.cli.segment`, :mod:`~custseg.cli.runs` and
:mod:`~custseg.cli.predict`.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console

from custseg import __version__
from custseg.config import (
    DEFAULT_FEATURES,
    DEFAULT_ID_COLUMN,
    RunConfig,
)
from custseg.exceptions import (
    ConfigError,
    CustsegError,
    DataValidationError,
    EngineError,
    InputFileError,
    MissingDependencyError,
    ModelFileError,
    OutputError,
)
from custseg.io.columns import parse_column_map

#: Exit codes, one table (documented in the README). Typer's own usage errors exit with 2.
EXIT_CODES: dict[type[CustsegError], int] = {
    ConfigError: 2,
    InputFileError: 3,
    DataValidationError: 4,
    OutputError: 5,
    ModelFileError: 6,
    MissingDependencyError: 7,
    EngineError: 8,
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
# Piped output (files, CI logs) gets room for the wide tables instead of rich's 80 columns.
out_console = Console(width=None if sys.stdout.isatty() else 120)
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
    str | None,
    typer.Argument(help="Customer table: CSV, Parquet or Excel (.xlsx); a database URL "
                        "(postgresql://user@host/db, sqlite:///shop.db, duckdb:///shop.duckdb) "
                        "with --table or --query; with --engine spark any path or URL Spark "
                        "reads. [default: the bundled Mall Customers data]",
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
SheetOpt = Annotated[str | None, typer.Option(
    "--sheet", metavar="NAME", help="Excel input: the sheet holding the customers. "
    "[default: the first]", show_default=False)]
DecimalOpt = Annotated[str | None, typer.Option(
    "--decimal", metavar="MARK", help="The numbers' decimal mark, '.' or ','; the other mark then "
    "groups thousands (--decimal , reads 1.234,5 as 1234.5). [default: ',' in semicolon- and "
    "tab-separated files, else '.'; a ';' file with numbers such as 1.234 stops and asks]",
    show_default=False)]
ColumnMapOpt = Annotated[list[str] | None, typer.Option(
    "--column-map", metavar="OLD=NEW",
    help="Use the file's column OLD as NEW (repeatable), e.g. 'Income=Annual Income (k$)'.",
    show_default=False)]
OnInvalidOpt = Annotated[str, typer.Option(
    "--on-invalid", help="Invalid rows: 'reject' writes them to rejected_rows.csv with a reason; "
                         "'fail' stops the run.")]
ExcludeOpt = Annotated[list[str] | None, typer.Option(
    "--exclude", metavar="COLUMN",
    help="Never use this column as a feature (repeatable). Without --features, custseg uses the "
         "default features when present, else the table's numeric behaviour columns.")]
CategoricalOpt = Annotated[list[str] | None, typer.Option(
    "--categorical", metavar="COLUMN",
    help="Also segment on this category column (repeatable; at most 20 categories): one-hot "
         "encoded, each category weighted 1/sqrt(2), so the column counts at most half as much "
         "as one numeric feature. Stored in the model; predict rejects unseen categories.")]
TransformOpt = Annotated[str, typer.Option(
    "--transform", help="Before scaling: 'auto' takes log1p of non-negative features whose "
                        "skewness is above 1; 'log' of every non-negative feature; 'quantile' maps "
                        "each to its quantile; 'none' leaves them.")]
MissingOpt = Annotated[str, typer.Option(
    "--missing", help="A missing feature cell: 'reject' its row (rejected_rows.csv), or 'impute' "
                      "the feature's median (stored in the model, applied by predict).")]
ScalerOpt = Annotated[str, typer.Option(
    "--scaler", help="'standard': mean and standard deviation; 'robust': median and "
                     "interquartile range (of the run's sample).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")]
TracebackOpt = Annotated[bool, typer.Option(
    "--traceback", help="Show the full traceback on errors (for bug reports).")]


NamesOpt = Annotated[Path | None, typer.Option(
    "--names", metavar="FILE",
    help="YAML or JSON file giving segments your names, descriptions and actions "
         "(segment id or generated name -> name, or -> {name, description, action}).",
    show_default=False)]
PreviousOpt = Annotated[Path | None, typer.Option(
    "--previous", metavar="PATH",
    help="A previous run folder (or its model file): matched segments keep their ids and names; "
         "migration and drift since that run are reported.", show_default=False)]
OutputFormatOpt = Annotated[str | None, typer.Option(
    "--output-format", help="Clustered customers and segment lists as 'csv' or 'parquet'. "
                            "[default: csv; a Parquet dataset with --engine spark]",
    show_default=False)]
EngineOpt = Annotated[str, typer.Option(
    "--engine", help="'memory' (the table held), 'batches' (record batches, memory bounded by the "
                     "batch; 'streaming' is accepted too), 'spark' (Apache Spark: pip install "
                     "'custseg[spark]') or 'auto' (batches when the input would not fit "
                     "--memory-budget).")]
BatchRowsOpt = Annotated[int | None, typer.Option(
    "--batch-rows", help="Rows per batch of --engine batches. [default: from --memory-budget]",
    show_default=False)]
MemoryOpt = Annotated[str, typer.Option(
    "--memory-budget", help="Memory the run may use, e.g. 2GB (decides --engine auto).")]
SparkMasterOpt = Annotated[str | None, typer.Option(
    "--spark-master", metavar="URL", help="With --engine spark: the Spark master "
    "(spark://host:7077, yarn, local[4]...). [default: local[*], or the session of spark-submit]",
    show_default=False)]
SparkConfOpt = Annotated[list[str] | None, typer.Option(
    "--spark-conf", metavar="KEY=VALUE", help="With --engine spark: a Spark setting "
    "(repeatable), e.g. spark.executor.memory=8g.", show_default=False)]
TableOpt = Annotated[str | None, typer.Option(
    "--table", metavar="NAME", help="With a database URL as INPUT: the table to read "
    "([schema.]name); with --engine spark: a table of the Spark catalog (database.table) to read "
    "instead of INPUT.", show_default=False)]
QueryOpt = Annotated[str | None, typer.Option(
    "--query", metavar="SQL", help="With a database URL as INPUT: read the rows of this query "
    "(in a read-only transaction; add ORDER BY for the same outputs on every run).",
    show_default=False)]
PasswordEnvOpt = Annotated[str | None, typer.Option(
    "--password-env", metavar="VAR", help="With a database URL: the environment variable "
    "holding the password (else the URL's, or PGPASSWORD). Never printed or written.",
    show_default=False)]
OutputTableOpt = Annotated[str | None, typer.Option(
    "--output-table", metavar="NAME", help="Also write one row per customer (customer_id, "
    "Cluster, Segment, run_id, run_date) to this table: in --output-db, else the input's database "
    "(and the segments to NAME_segments), or with --engine spark in the Spark catalog.",
    show_default=False)]
OutputDbOpt = Annotated[str | None, typer.Option(
    "--output-db", metavar="URL", help="The database --output-table goes to (postgresql://user@host"
    "/db, sqlite:///shop.db, duckdb:///shop.duckdb), whatever INPUT is. Its password: in the URL, "
    "--password-env VAR or PGPASSWORD.", show_default=False)]
IfExistsOpt = Annotated[str, typer.Option(
    "--if-exists", help="When --output-table exists: 'fail', 'replace' it, or 'append' the rows.")]
KOpt = Annotated[str, typer.Option(
    "--k", "-k", help="Number of segments, or 'auto' to choose it from the data.")]
KMinOpt = Annotated[int, typer.Option("--k-min", help="Smallest K compared.")]
KMaxOpt = Annotated[int, typer.Option("--k-max", help="Largest K compared.")]
MinShareOpt = Annotated[float, typer.Option(
    "--min-segment-share",
    help="With --k auto, a K leaving a segment under this share of customers is not chosen.")]


def parse_settings(items: Sequence[str] | None, option: str = "--spark-conf"
                   ) -> tuple[tuple[str, str], ...]:
    """``["key=value", ...]`` as pairs.

    Examples
    --------
    >>> parse_settings(["spark.executor.memory=8g"])
    (('spark.executor.memory', '8g'),)
    """
    out = []
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{option} {item!r} is not KEY=VALUE. Example: {option} "
                              "spark.executor.memory=8g.")
        out.append((key.strip(), value.strip()))
    return tuple(out)


def build_config(input: str | Path | None, features: list[str] | None, id_column: str | None,
                 column_map: list[str] | None, **options: object) -> RunConfig:
    """A RunConfig from the options every command shares."""
    return RunConfig(
        input=input, features=split_features(features),
        id_column=id_column or DEFAULT_ID_COLUMN, id_column_required=id_column is not None,
        features_required=bool(features),
        column_map=tuple(parse_column_map(column_map).items()), **options,
    )


def progress_for(quiet: bool):
    """Rich progress bars on standard error, or nothing with ``--quiet``."""
    from custseg.progress import NullProgress, RichProgress

    return contextlib.nullcontext(NullProgress()) if quiet else RichProgress(err_console)
