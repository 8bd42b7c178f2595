"""``custseg run``, ``custseg choose-k`` and ``custseg report``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from custseg.cli import console
from custseg.cli.app import (
    BatchRowsOpt,
    CategoricalOpt,
    ColumnMapOpt,
    DecimalOpt,
    EngineOpt,
    ExcludeOpt,
    FeaturesOpt,
    FormatOpt,
    IdOpt,
    IfExistsOpt,
    InputArg,
    KMaxOpt,
    KMinOpt,
    KOpt,
    MemoryOpt,
    MinShareOpt,
    MissingOpt,
    NamesOpt,
    OnInvalidOpt,
    OutOpt,
    OutputDbOpt,
    OutputFormatOpt,
    OutputTableOpt,
    PasswordEnvOpt,
    PreviousOpt,
    QueryOpt,
    QuietOpt,
    ScalerOpt,
    SeedOpt,
    SheetOpt,
    SparkConfOpt,
    SparkMasterOpt,
    TableOpt,
    TracebackOpt,
    TransformOpt,
    app,
    build_config,
    handles_errors,
    out_console,
    parse_settings,
    progress_for,
)
from custseg.cli.transactions import (
    AmountColumnOpt,
    AsOfOpt,
    CustomerColumnOpt,
    DateColumnOpt,
    DateFormatOpt,
    OrderColumnOpt,
    QuantityColumnOpt,
    TransactionsOpt,
    transaction_options,
)
from custseg.config import (
    DEFAULT_K,
    DEFAULT_K_MAX,
    DEFAULT_K_MIN,
    DEFAULT_MIN_SEGMENT_SHARE,
    DEFAULT_OUT,
    DEFAULT_SEED,
)


@app.command()
@handles_errors
def run(
    input: InputArg = None,
    features: FeaturesOpt = None,
    exclude: ExcludeOpt = None,
    categorical: CategoricalOpt = None,
    transform: TransformOpt = "auto",
    missing: MissingOpt = "reject",
    scaler: ScalerOpt = "standard",
    k: KOpt = str(DEFAULT_K),
    k_min: KMinOpt = DEFAULT_K_MIN,
    k_max: KMaxOpt = DEFAULT_K_MAX,
    min_segment_share: MinShareOpt = DEFAULT_MIN_SEGMENT_SHARE,
    out: OutOpt = DEFAULT_OUT,
    seed: SeedOpt = DEFAULT_SEED,
    id_column: IdOpt = None,
    format: FormatOpt = None,
    sheet: SheetOpt = None,
    decimal: DecimalOpt = None,
    column_map: ColumnMapOpt = None,
    on_invalid: OnInvalidOpt = "reject",
    names: NamesOpt = None,
    previous: PreviousOpt = None,
    output_format: OutputFormatOpt = None,
    engine: EngineOpt = "auto",
    memory_budget: MemoryOpt = "2GB",
    batch_rows: BatchRowsOpt = None,
    table: TableOpt = None,
    spark_master: SparkMasterOpt = None,
    spark_conf: SparkConfOpt = None,
    output_table: OutputTableOpt = None,
    output_db: OutputDbOpt = None,
    if_exists: IfExistsOpt = "fail",
    query: QueryOpt = None,
    password_env: PasswordEnvOpt = None,
    transactions: TransactionsOpt = False,
    customer_column: CustomerColumnOpt = None,
    date_column: DateColumnOpt = None,
    amount_column: AmountColumnOpt = None,
    order_column: OrderColumnOpt = None,
    quantity_column: QuantityColumnOpt = None,
    date_format: DateFormatOpt = None,
    as_of: AsOfOpt = None,
    quiet: QuietOpt = False,
    traceback: TracebackOpt = False,
) -> None:
    """Segment customers: choose K, fit, name and profile the segments, write data, model and report."""
    from custseg.io.early import start_early_read
    from custseg.report.rendering import prestart

    prestart()  # before the pipeline's imports: the figure worker loads matplotlib meanwhile
    config = build_config(input, features, id_column, column_map, k=k, k_min=k_min, k_max=k_max,
                          min_segment_share=min_segment_share, out=out, seed=seed, format=format,
                          sheet=sheet, decimal=decimal, on_invalid=on_invalid, names=names,
                          previous=previous, engine=engine, memory_budget=memory_budget,
                          output_format=output_format,
                          batch_rows=batch_rows, table=table, spark_master=spark_master,
                          spark_conf=parse_settings(spark_conf), output_table=output_table,
                          if_exists=if_exists, query=query, password_env=password_env,
                          output_db=output_db, transactions=transaction_options(
                              transactions, customer_column, date_column, amount_column,
                              order_column, quantity_column, date_format, as_of),
                          exclude=tuple(exclude or ()), transform=transform, missing=missing,
                          scaler=scaler, categorical=tuple(categorical or ()))
    start_early_read(config)  # and a thread reads the input meanwhile (custseg.io.early)
    from custseg.pipeline import run as run_pipeline

    with progress_for(quiet) as progress:
        result = run_pipeline(config, progress=progress)
    if not quiet:
        console.print_run_summary(out_console, result)


@app.command("choose-k")
@handles_errors
def choose_k(
    input: InputArg = None,
    features: FeaturesOpt = None,
    exclude: ExcludeOpt = None,
    categorical: CategoricalOpt = None,
    transform: TransformOpt = "auto",
    missing: MissingOpt = "reject",
    k_min: KMinOpt = DEFAULT_K_MIN,
    k_max: KMaxOpt = DEFAULT_K_MAX,
    min_segment_share: MinShareOpt = DEFAULT_MIN_SEGMENT_SHARE,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the figures and "
                                      "k_selection.json.")] = DEFAULT_OUT / "k_selection",
    seed: SeedOpt = DEFAULT_SEED,
    id_column: IdOpt = None,
    format: FormatOpt = None,
    sheet: SheetOpt = None,
    decimal: DecimalOpt = None,
    column_map: ColumnMapOpt = None,
    on_invalid: OnInvalidOpt = "reject",
    table: Annotated[str | None, typer.Option(
        "--table", metavar="NAME", help="With a database URL as INPUT: the table to read "
        "([schema.]name).", show_default=False)] = None,
    query: QueryOpt = None,
    password_env: PasswordEnvOpt = None,
    transactions: TransactionsOpt = False,
    customer_column: CustomerColumnOpt = None,
    date_column: DateColumnOpt = None,
    amount_column: AmountColumnOpt = None,
    order_column: OrderColumnOpt = None,
    quantity_column: QuantityColumnOpt = None,
    date_format: DateFormatOpt = None,
    as_of: AsOfOpt = None,
    quiet: QuietOpt = False,
    traceback: TracebackOpt = False,
) -> None:
    """Compare K = 1..k-max with five criteria, choose K, and explain the choice (with
    --transactions: on the log's customers, as `run --transactions` does)."""
    from custseg.io.early import start_early_read

    config = build_config(input, features, id_column, column_map, k_min=k_min, k_max=k_max,
                          min_segment_share=min_segment_share, out=out, seed=seed, format=format,
                          sheet=sheet, decimal=decimal, on_invalid=on_invalid,
                          exclude=tuple(exclude or ()), categorical=tuple(categorical or ()),
                          transform=transform, missing=missing, table=table, query=query,
                          password_env=password_env, transactions=transaction_options(
                              transactions, customer_column, date_column, amount_column,
                              order_column, quantity_column, date_format, as_of))
    start_early_read(config)  # read while the pipeline loads (custseg.io.early)
    from custseg.pipeline import evaluate_k

    with progress_for(quiet) as progress:
        result = evaluate_k(config, progress=progress)
    if not quiet:
        console.print_k_selection(out_console, result.k_selection)
        if result.transactions is not None:
            console.print_transactions(out_console, result.transactions, kept="scored")
        console.print_outputs(out_console, result.config.out, result.outputs)


@app.command()
@handles_errors
def report(
    run_dir: Annotated[Path, typer.Argument(help="Output folder of a `custseg run`.",
                                            metavar="RUN_DIR")],
    quiet: QuietOpt = False,
    traceback: TracebackOpt = False,
) -> None:
    """Rebuild report.html in a run folder from its segments.json and figures."""
    from custseg.report.html import rebuild_report

    path = rebuild_report(run_dir)
    if not quiet:
        out_console.print(f"Report written: {path}", markup=False)
