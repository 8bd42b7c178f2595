"""The assignment pass on Spark: what each observer needs, as Spark aggregations and writes.

Observers that declare a ``native`` form (:mod:`custseg.engines.base`) are served by Spark
itself; any other observer still gets every row, collected to the driver in Arrow batches.

- ``segment_totals``: one ``groupBy`` of the segments (counts, feature sums, squared distances,
  numeric sums) and one per categorical column; when the run's sample does not hold every
  customer, medians and quartiles with ``percentile_approx`` over every row (one ``rollup``).
- ``rule_agreement``: the CRM rules' tree as one column expression, counted against the segments.
- ``clustered_files``: the clustered customers and one dataset per segment, written by Spark.
- ``previous_run``: the previous run's customers joined on their id (a full outer join), its
  transitions counted and ``migration.csv`` written as a dataset; atypical customers under the
  previous model counted as an expression.
"""

from __future__ import annotations

import numpy as np

from custseg.config import CLUSTER_COLUMN, SEGMENT_COLUMN
from custseg.engines.spark.checks import NUMBER, feature_column, parse
from custseg.engines.spark.plans import category_text
from custseg.engines.spark.reader import ROW

LABEL, SQUARED = "_custseg_label", "_custseg_squared"
#: Cells a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab, carriage return).
FORMULA = r"^[=+\-@\t\r]"


def nearest_expr(columns: list[object], centers: np.ndarray) -> tuple[object, object]:
    """The nearest centroid (first on ties) of scaled ``columns`` and the squared distance, with
    :func:`custseg.engines.kernels.nearest`'s arithmetic (``||c||² - 2 z·c``)."""
    from pyspark.sql import functions as F

    norms = np.einsum("ij,ij->i", centers, centers)
    parts = []
    for c in range(len(centers)):
        dot = sum(col * float(centers[c, j]) for j, col in enumerate(columns))
        parts.append(F.lit(float(norms[c])) - F.lit(2.0) * dot)
    best = F.least(*parts) if len(parts) > 1 else parts[0]
    label = F.lit(len(parts) - 1)
    for c in range(len(parts) - 2, -1, -1):
        label = F.when(parts[c] == best, F.lit(c)).otherwise(label)
    squared = F.greatest(best + sum(col * col for col in columns), F.lit(0.0))
    return label, squared


def scaled_columns(d: int, mean: np.ndarray, scale: np.ndarray) -> list[object]:
    """The features (``_custseg_f<j>``) in the scaled space."""
    from pyspark.sql import functions as F

    return [(F.col(feature_column(j)) - float(mean[j])) / float(scale[j]) for j in range(d)]


def segment_totals(labeled: object, observer: object, d: int, k: int) -> None:
    """Fill a :class:`custseg.describe.totals.SegmentTotals` from Spark aggregates."""
    from pyspark.sql import functions as F

    schema = {f.name: f.dataType for f in labeled.schema.fields}
    aggs = [F.count(F.lit(1)).alias("n"), F.sum(SQUARED).alias("sq")]
    aggs += [F.sum(feature_column(j)).alias(f"f{j}") for j in range(d)]
    for i, name in enumerate(observer.numeric):
        value = parse(F.col(name), schema[name], decimal_comma=False).value
        aggs += [F.sum(value).alias(f"s{i}"), F.count(value).alias(f"c{i}")]
    rows = labeled.groupBy(LABEL).agg(*aggs).collect()
    sizes, feature_sums, inertia = np.zeros(k, np.int64), np.zeros((k, d)), np.zeros(k)
    numeric_sums = {name: np.zeros(k) for name in observer.numeric}
    numeric_counts = {name: np.zeros(k, np.int64) for name in observer.numeric}
    for row in rows:
        c = row[LABEL]
        sizes[c], inertia[c] = row["n"], row["sq"] or 0.0
        feature_sums[c] = [row[f"f{j}"] for j in range(d)]
        for i, name in enumerate(observer.numeric):
            numeric_sums[name][c] = row[f"s{i}"] or 0.0
            numeric_counts[name][c] = row[f"c{i}"]
    categories = {}
    for name, counts in observer.category_counts.items():
        plan = observer.plans[name]
        lookup = {text: i for i, text in enumerate(plan.categories)}
        table = np.zeros_like(counts)
        text = category_text(name, plan, schema[name]).alias("_custseg_category")
        for row in labeled.groupBy(LABEL, text).count().collect():
            i = lookup.get(row["_custseg_category"])
            if i is not None:
                table[row[LABEL], i] += row["count"]
        categories[name] = table
    observer.absorb(sizes, feature_sums, inertia, numeric_sums, numeric_counts, categories)


#: ``percentile_approx``'s accuracy: a quantile's rank is within 1/ACCURACY of the exact one.
ACCURACY = 10_000


def segment_quantiles(labeled: object, observer: object, d: int, k: int) -> None:
    """Medians and quartiles of the features and the other numeric columns, per segment and for
    the base, with Spark's ``percentile_approx`` over every row (one ``rollup``), into a
    :class:`custseg.describe.totals.SegmentTotals`."""
    from pyspark.sql import functions as F

    schema = {f.name: f.dataType for f in labeled.schema.fields}
    columns = {f"f{j}": F.col(feature_column(j)) for j in range(d)}
    columns.update({name: parse(F.col(name), schema[name], decimal_comma=False).value
                    for name in observer.numeric})
    keys = list(columns)
    aggs = [F.percentile_approx(col, [0.5, 0.25, 0.75], ACCURACY).alias(f"q{i}")
            for i, col in enumerate(columns.values())]
    out = {name: np.full((k + 1, 3), np.nan) for name in keys}
    for row in labeled.rollup(LABEL).agg(*aggs).collect():
        at = k if row[LABEL] is None else row[LABEL]  # the rollup's total is the base
        for i, name in enumerate(keys):
            if row[f"q{i}"] is not None:
                out[name][at] = row[f"q{i}"]
    observer.absorb_quantiles(out)


def tree_expr(tree: object) -> object:
    """A fitted scikit-learn decision tree's prediction as one Spark column expression (on the
    features in original units: ``_custseg_f<j>``)."""
    from pyspark.sql import functions as F

    t = tree.tree_

    def node(i: int) -> object:
        if t.children_left[i] == -1:
            return F.lit(int(tree.classes_[int(np.argmax(t.value[i][0]))]))
        # scikit-learn compares float32 thresholds against the features as float32.
        feature = F.col(feature_column(int(t.feature[i]))).cast("float")
        return F.when(feature <= float(t.threshold[i]), node(t.children_left[i])).otherwise(
            node(t.children_right[i]))

    return node(0)


def rule_agreement(labeled: object, observer: object) -> None:
    """Count the customers the rules place as K-Means does."""
    from pyspark.sql import functions as F

    predicted = tree_expr(observer.rules.tree)
    row = labeled.agg(F.count(F.lit(1)).alias("n"),
                      F.count_if(predicted == F.col(LABEL)).alias("agree")).collect()[0]
    observer.absorb(row["agree"], row["n"])


def safe_for_spreadsheets(frame: object, columns: list[str]) -> object:
    """String columns with formulas neutralised (as :func:`custseg.io.csvsafe.neutralise_formulas`)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    types = {f.name: f.dataType for f in frame.schema.fields}
    out = []
    for name in columns:
        col = F.col(name)
        if isinstance(types[name], T.StringType):
            risky = col.rlike(FORMULA) & ~col.rlike(NUMBER)
            col = F.when(risky, F.concat(F.lit("'"), col)).otherwise(col)
        out.append(col.alias(name))
    return frame.select(*out)


def clustered_files(labeled: object, observer: object, columns: list[str]) -> None:
    """Write the clustered customers and the per-segment lists as datasets at the writer's paths."""
    from pyspark.sql import functions as F

    ids = observer.ids.tolist()
    names = observer.names.to_pylist()
    label = F.col(LABEL)
    cluster = F.element_at(F.array(*[F.lit(int(i)) for i in ids]), label + 1)
    segment = F.element_at(F.array(*[F.lit(n) for n in names]), label + 1)
    frame = labeled.orderBy(ROW).select(*columns, cluster.alias(CLUSTER_COLUMN),
                                        segment.alias(SEGMENT_COLUMN), LABEL)
    paths = list(observer.paths.values())
    csv = observer.csv
    out_columns = [*columns, CLUSTER_COLUMN, SEGMENT_COLUMN]
    # Sorted and made safe once, kept: each segment's list is then a filter of the kept rows
    # (which keeps their order), not one more sort of every customer.
    whole = (safe_for_spreadsheets(frame, [*out_columns, LABEL]) if csv else frame).persist()
    try:
        write_dataset(whole.select(*out_columns), paths[0], csv)
        for j, path in enumerate(paths[1:]):
            write_dataset(whole.filter(label == j).select(*out_columns), path, csv)
    finally:
        whole.unpersist()


def write_dataset(frame: object, path: object, csv: bool) -> None:
    writer = frame.write.mode("overwrite")
    if csv:
        writer.option("header", True).option("escape", '"').csv(str(path))
    else:
        writer.parquet(str(path))


def previous_run(labeled: object, feed: object, d: int) -> None:
    """Join the previous run's customers, count the transitions, write ``migration.csv`` (a
    dataset), and count the customers atypical under the previous model."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    comparison = feed.comparison
    previous, session = comparison.previous, labeled.sparkSession
    ids = comparison.ids.tolist()
    new_id = F.element_at(F.array(*[F.lit(int(i)) for i in ids]), F.col(LABEL) + 1)
    if comparison.atypical is not None:
        counter = comparison.atypical
        columns = [(F.col(feature_column(j)) - float(counter.mean[j])) / float(counter.scale[j])
                   for j in range(d)]
        label, squared = nearest_expr(columns, counter.centers)
        threshold = F.element_at(F.array(*[F.lit(float(t)) for t in counter.thresholds]), label + 1)
        row = labeled.agg(F.count(F.lit(1)).alias("n"),
                          F.count_if(F.sqrt(squared) > threshold).alias("a")).collect()[0]
        counter.absorb(row["a"], row["n"])
    counter = comparison.counter
    if counter is None or previous.clustered is None:
        return
    model = previous.model
    fmt = "parquet" if previous.clustered.suffix == ".parquet" else "csv"
    before = (session.read.parquet(str(previous.clustered)) if fmt == "parquet" else
              session.read.option("header", True).csv(str(previous.clustered)))
    if feed.id_column is not None and model.id_input_column is not None:
        before = before.select(F.trim(F.col(model.id_input_column).cast("string")).alias("key"),
                               F.col(CLUSTER_COLUMN).cast("long").alias("previous_segment"))
        now = labeled.select(F.trim(F.col(feed.id_column).cast("string")).alias("key"),
                             new_id.alias("new_segment"), F.col(ROW).alias("order"))
    else:  # customers are their positions among the valid rows (2, 3, ...)
        order = Window.orderBy(F.monotonically_increasing_id())
        before = before.select((F.row_number().over(order) + 1).cast("string").alias("key"),
                               F.col(CLUSTER_COLUMN).cast("long").alias("previous_segment"))
        now = labeled.select((F.row_number().over(Window.orderBy(ROW)) + 1).cast("string")
                             .alias("key"), new_id.alias("new_segment"), F.col(ROW).alias("order"))
    joined = now.join(before, on="key", how="full_outer")
    counts = joined.groupBy("previous_segment", "new_segment").count().collect()
    row_of = {int(i): r for r, i in enumerate(counter.previous_ids)}
    col_of = {int(i): c for c, i in enumerate(counter.new_ids)}
    matrix = np.zeros((len(row_of), len(col_of)), dtype=np.int64)
    n_new = n_departed = 0
    for row in counts:
        p, n = row["previous_segment"], row["new_segment"]
        if p is None:
            n_new += row["count"]
        elif n is None:
            n_departed += row["count"]
        else:
            matrix[row_of[int(p)], col_of[int(n)]] += row["count"]
    counter.absorb(matrix, n_new, n_departed)
    path = comparison.written.get("migration")
    if path is not None:
        both = (joined.filter(F.col("previous_segment").isNotNull() & F.col("new_segment").isNotNull())
                .orderBy("order").select(F.col("key").alias("customer_id"), "previous_segment",
                                         "new_segment"))
        columns = ["customer_id", "previous_segment", "new_segment"]
        write_dataset(safe_for_spreadsheets(both, columns), path, csv=True)


def catalog_table(labeled: object, table: object) -> None:
    """Write ``--output-table``: customer id, Cluster, Segment, run id and run date."""
    from pyspark.sql import functions as F

    label = F.col(LABEL) + 1
    customer = (F.trim(F.col(table.id_column).cast("string")) if table.id_column is not None
                else F.col(ROW).cast("string"))
    frame = labeled.orderBy(ROW).select(
        customer.alias("customer_id"),
        F.element_at(F.array(*[F.lit(i) for i in table.ids]), label).alias(CLUSTER_COLUMN),
        F.element_at(F.array(*[F.lit(n) for n in table.names]), label).alias(SEGMENT_COLUMN),
        F.lit(table.run_id).alias("run_id"), F.lit(table.run_date).cast("date").alias("run_date"))
    mode = {"fail": "errorifexists", "replace": "overwrite", "append": "append"}[table.if_exists]
    frame.write.mode(mode).saveAsTable(table.name)

