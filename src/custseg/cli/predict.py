"""``custseg predict``: score new customers with a saved model (see :mod:`custseg.scoring`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from custseg.cli.app import (
    ColumnMapOpt,
    DecimalOpt,
    FormatOpt,
    IfExistsOpt,
    InputArg,
    OutputDbOpt,
    PasswordEnvOpt,
    QueryOpt,
    QuietOpt,
    SheetOpt,
    SparkConfOpt,
    SparkMasterOpt,
    TableOpt,
    TracebackOpt,
    app,
    err_console,
    handles_errors,
    out_console,
    parse_settings,
    progress_for,
)

PICKLE_WARNING = (
    "Warning: loading {path} with --trust-pickle. A pickle runs any code it contains when it is "
    "loaded: a tampered or downloaded .pkl can delete files or install malware. Use "
    "--trust-pickle only for pickles you created yourself; custseg's own model file "
    "(segments_model.custseg.json, written by custseg run) is safe to load and also flags "
    "atypical customers."
)


@app.command("predict")
@handles_errors
def predict(
    model: Annotated[Path, typer.Option(
        "--model", "-m", show_default=False,
        help="custseg model file (segments_model.custseg.json), or a run's output folder "
             "holding one.")],
    input: InputArg = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", show_default=False,
        help="Scored customers CSV. [default: <input stem>_scored.csv in the current "
             "folder]")] = None,
    trust_pickle: Annotated[bool, typer.Option(
        "--trust-pickle",
        help="Allow a pickled scikit-learn model (.pkl). Loading a pickle runs any code in "
             "it: only for files you trust.")] = False,
    format: FormatOpt = None,
    sheet: SheetOpt = None,
    decimal: DecimalOpt = None,
    column_map: ColumnMapOpt = None,
    engine: Annotated[str, typer.Option(
        "--engine", help="'spark' scores on Apache Spark (the scored customers become a dataset "
                         "at --out); anything else reads INPUT in chunks here.")] = "auto",
    spark_master: SparkMasterOpt = None,
    spark_conf: SparkConfOpt = None,
    table: TableOpt = None,
    query: QueryOpt = None,
    password_env: PasswordEnvOpt = None,
    output_table: Annotated[str | None, typer.Option(
        "--output-table", metavar="NAME", help="Also write the scored rows (customer_id, Cluster, "
        "Segment, distance, atypical, scored_date) to this table of --output-db, else of the "
        "input's database, in one transaction.", show_default=False)] = None,
    output_db: OutputDbOpt = None,
    if_exists: IfExistsOpt = "fail",
    quiet: QuietOpt = False,
    traceback: TracebackOpt = False,
) -> None:
    """Assign new customers to a saved model's segments (never refits): Cluster, Segment,
    distance to the segment's centre, and an atypical flag."""
    from custseg.datasets import mall_customers_path
    from custseg.io.columns import parse_column_map
    from custseg.scoring import predict_file

    scorer = load_scorer(model, trust_pickle, None if quiet else err_console)
    source = input if input is not None else mall_customers_path()
    with progress_for(quiet) as progress:
        result = predict_file(scorer, source, out, fmt=format, sheet=sheet, decimal=decimal,
                              column_map=parse_column_map(column_map), progress=progress,
                              engine=engine, spark_master=spark_master,
                              spark_conf=parse_settings(spark_conf), table=table, query=query,
                              password_env=password_env, output_table=output_table,
                              output_db=output_db, if_exists=if_exists)
    if not quiet:
        print_predict_summary(out_console, result)


def load_scorer(model: Path, trust_pickle: bool, warn: Console | None):
    """The model ``--model`` names: custseg's JSON file, or with ``trust_pickle`` a pickle.

    Raises
    ------
    ModelFileError
        A pickle without ``trust_pickle``, or an invalid model file.
    """
    from custseg.exceptions import ModelFileError
    from custseg.modelfile import MODEL_FILE, is_pickle, load_model

    pickled = is_pickle(model) if model.is_file() else (
        model.is_dir() and not (model / MODEL_FILE).exists() and trust_pickle)
    if not pickled:
        return load_model(model)
    if not trust_pickle:
        raise ModelFileError(
            f"Model file {model} is a Python pickle, not a custseg model file; custseg refuses it "
            f"because loading a pickle runs any code inside it. Use the run's {MODEL_FILE} "
            "(safe), or add --trust-pickle if you created this file yourself.")
    if warn is not None:
        warn.print(PICKLE_WARNING.format(path=model), markup=False, style="yellow")
    from custseg.modelfile import load_trusted_pickle  # scikit-learn: only for a pickle

    return load_trusted_pickle(model)


def print_predict_summary(console: Console, result) -> None:
    """Count per segment, atypical customers, the row accounting and the files written."""
    counts = result.counts
    table = Table(title=f"{result.n_scored:,} customers scored", title_justify="left")
    table.add_column("Cluster", justify="right")
    table.add_column("Segment")
    table.add_column("Customers", justify="right")
    table.add_column("Share", justify="right")
    if result.has_thresholds:
        table.add_column("Atypical", justify="right")
    for cluster, row in counts.iterrows():
        cells = [str(cluster), str(row["Segment"]), f"{int(row['customers']):,}",
                 f"{row['share']:.1%}"]
        if result.has_thresholds:
            cells.append(f"{int(row['atypical']):,}")
        table.add_row(*cells)
    console.print(table)
    if result.has_thresholds:
        share = result.n_atypical / result.n_scored if result.n_scored else 0.0
        quantile = result.threshold_quantile or 0.99
        console.print(f"Atypical customers: {result.n_atypical:,} ({share:.1%}), farther from "
                      f"their segment's centre than {quantile:.0%} of its training customers.",
                      markup=False)
    else:
        console.print("Atypical customers: not available (a pickle has no distance thresholds; "
                      "use custseg's model file for them).", markup=False)
    console.print(f"Rows: {result.n_input:,} read = {result.n_scored:,} scored + "
                  f"{result.n_rejected:,} rejected", markup=False)
    console.print(f"Scored customers: {result.out}", markup=False)
    if result.table is not None:
        console.print(f"Table: {result.table}, {result.n_scored:,} rows", markup=False)
    if result.rejects_path is not None:
        console.print(f"Rejected rows: {result.rejects_path}", markup=False)
