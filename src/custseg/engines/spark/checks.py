"""``custseg run``'s row checks as Spark column expressions: the same checks, in the same order,
with the same reason texts as :class:`custseg.io.validate.RowValidator`.

Each row gets at most one reason: a record of the wrong length first; then the id (missing),
then each feature in the order given (missing, non-numeric text, infinity, beyond ±1e30,
outside its plausible range: :data:`custseg.io.numbers.RANGE_RULES`); then, among the rows that passed, an
id already seen on an earlier valid row (the first is kept). Cells count as text exactly as the
local parser reads them (trimmed; ``NA``, ``n/a``, ``null``, ``-``... are missing; ``12,5`` is
12.5 in semicolon- and tab-separated files).
"""

from __future__ import annotations

from dataclasses import dataclass

from custseg.engines.scan import ScanSpec
from custseg.engines.spark.reader import CORRUPT, ROW, SparkSource, read_frame
from custseg.io.columns import canonical_name
from custseg.io.numbers import MAX_MAGNITUDE, MISSING_TOKENS, RANGE_RULES
from custseg.io.rejects import Reason

#: The same patterns as :mod:`custseg.io.numbers` (Java's regular expressions read them alike).
NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
DECIMAL_COMMA = r"^([+-]?\d+),(\d+)$"
INFINITY = r"^[+-]?(inf|infinity)$"
#: Names of the added columns: the reason, the column it concerns, the cell, and each feature's
#: value (``_custseg_f0``...).
REASON, COLUMN, VALUE, ID_KEY = "_custseg_reason", "_custseg_column", "_custseg_value", "_custseg_id"
OK, MISSING, NON_NUMERIC, INFINITE, OUT_OF_RANGE, TOO_LARGE = 0, 1, 2, 3, 4, 5


def feature_column(j: int) -> str:
    """Name of the added column holding feature ``j``'s value (double)."""
    return f"_custseg_f{j}"


@dataclass(frozen=True)
class Parsed:
    """A column parsed as numbers: its code per cell and its value (NaN where not usable)."""

    code: object
    value: object


def parse(column: object, data_type: object, decimal_comma: bool) -> Parsed:
    """A Spark column as numbers, with :mod:`custseg.io.numbers`' codes."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    if isinstance(data_type, T.NumericType | T.BooleanType):
        value = column.cast("double")
        code = (F.when(value.isNull() | F.isnan(value), F.lit(MISSING))
                .when(F.abs(value) == float("inf"), F.lit(INFINITE))
                .when(F.abs(value) > MAX_MAGNITUDE, F.lit(TOO_LARGE)).otherwise(F.lit(OK)))
        return Parsed(code, F.when(code == OK, value))
    if not isinstance(data_type, T.StringType):
        return Parsed(F.when(column.isNull(), F.lit(MISSING)).otherwise(F.lit(NON_NUMERIC)),
                      F.lit(None).cast("double"))
    text = F.trim(column)
    if decimal_comma:
        text = F.regexp_replace(text, DECIMAL_COMMA, "$1.$2")
    lower = F.lower(text)
    code = (F.when(text.isNull() | lower.isin(*MISSING_TOKENS), F.lit(MISSING))
            .when(lower.rlike(INFINITY), F.lit(INFINITE))
            .when(~text.rlike(NUMBER), F.lit(NON_NUMERIC)).otherwise(F.lit(OK)))
    value = F.when(code == OK, text.cast("double"))
    # A number beyond float64 (1e500) parses to infinity, as locally.
    code = (F.when((code == OK) & (F.abs(value) == float("inf")), F.lit(INFINITE))
            .when((code == OK) & (F.abs(value) > MAX_MAGNITUDE), F.lit(TOO_LARGE)).otherwise(code))
    return Parsed(code, F.when(code == OK, value))


def _range(value: object, code: object, wanted: str) -> tuple[object, str | None]:
    from pyspark.sql import functions as F

    rule = RANGE_RULES.get(canonical_name(wanted))
    if rule is None:
        return code, None
    low, high = rule
    bad = F.lit(False)
    if low is not None:
        bad = bad | (value < low)
    if high is not None:
        bad = bad | (value > high)
    code = F.when((code == OK) & bad, F.lit(OUT_OF_RANGE)).otherwise(code)
    if high is None:
        return code, Reason.NEGATIVE if low == 0 else Reason.BELOW_MIN.format(low=low)
    return code, Reason.OUT_OF_RANGE.format(low=low, high=high)


def checked(frame: object, spec: ScanSpec, decimal_comma: bool, delimiter: str) -> object:
    """``frame`` with every row's reason (null: valid), the column and cell it concerns, and the
    features' values as doubles."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    schema = {f.name: f.dataType for f in frame.schema.fields}
    reason = F.when(F.col(CORRUPT).isNotNull(), F.concat(
        F.lit(Reason.FIELD_COUNT.split("{")[0]),
        F.lit(str(len([c for c in frame.columns if not c.startswith("_custseg_")]))),
        F.lit(", found "),
        F.size(F.split(F.col(CORRUPT), _regex(delimiter))).cast("string")))
    column = F.lit(None).cast("string")
    value = F.when(F.col(CORRUPT).isNotNull(), F.col(CORRUPT))
    if spec.id_column is not None:
        key = F.trim(F.col(spec.id_column).cast("string"))
        missing = key.isNull() | (key == "")
        reason = F.when(reason.isNull() & missing, F.lit(Reason.MISSING)).otherwise(reason)
        column = F.when(F.col(CORRUPT).isNull() & missing, F.lit(spec.id_column)).otherwise(column)
        value = F.when(F.col(CORRUPT).isNull() & missing,
                       F.col(spec.id_column).cast("string")).otherwise(value)
        frame = frame.withColumn(ID_KEY, key)
    values = []
    for wanted, name in zip(spec.features, spec.feature_columns, strict=True):
        parsed = parse(F.col(name), schema[name], decimal_comma)
        code, range_text = _range(parsed.value, parsed.code, wanted)
        texts = {MISSING: Reason.MISSING, NON_NUMERIC: Reason.NON_NUMERIC,
                 INFINITE: Reason.INFINITY, OUT_OF_RANGE: range_text, TOO_LARGE: Reason.TOO_LARGE}
        mine = F.lit(None).cast("string")
        for number, text in texts.items():
            if text is not None:
                mine = F.when(code == number, F.lit(text)).otherwise(mine)
        first = reason.isNull() & mine.isNotNull()
        column = F.when(first, F.lit(name)).otherwise(column)
        value = F.when(first, F.col(name).cast("string")).otherwise(value)
        reason = F.when(first, mine).otherwise(reason)
        values.append(F.when(code == OK, parsed.value))
    frame = frame.withColumn(REASON, reason).withColumn(COLUMN, column).withColumn(VALUE, value)
    for j, expr in enumerate(values):
        frame = frame.withColumn(feature_column(j), expr)
    if spec.id_column is not None:
        first_valid = F.min(F.when(F.col(REASON).isNull(), F.col(ROW))).over(
            Window.partitionBy(ID_KEY))
        duplicate = F.col(REASON).isNull() & (F.col(ROW) > first_valid)
        before, _, after = Reason.DUPLICATE_ID.partition("{first}")
        frame = (frame.withColumn(COLUMN, F.when(duplicate, F.lit(spec.id_column))
                                  .otherwise(F.col(COLUMN)))
                 .withColumn(VALUE, F.when(duplicate, F.col(spec.id_column).cast("string"))
                             .otherwise(F.col(VALUE)))
                 .withColumn(REASON, F.when(duplicate, F.concat(
                     F.lit(before), first_valid.cast("string"), F.lit(after)))
                     .otherwise(F.col(REASON))))
    return frame


def _regex(delimiter: str) -> str:
    return "\\|" if delimiter == "|" else "\\t" if delimiter == "\t" else delimiter


def checked_rows(session: object, source: SparkSource, spec: ScanSpec) -> object:
    """The input read (:func:`~custseg.engines.spark.reader.read_frame`) and checked
    (:func:`checked`), kept as a local checkpoint; :func:`release_checkpoint` lets it go.

    Every later query then starts from the checked rows rather than from a plan of the reading
    and every check, which Spark would analyse and optimise again for each query: a run makes a
    few dozen, and on the Mall data that planning was three times the work of the queries.
    """
    frame, cached = read_frame(session, source)
    try:
        return checked(frame, spec, decimal_comma=source.delimiter in (";", "\t"),
                       delimiter=source.delimiter or ",").localCheckpoint()
    finally:
        cached.unpersist()


def release_checkpoint(frame: object) -> None:
    """Drop a local checkpoint's blocks now, not when the JVM's garbage collector finds the
    frame unused (a long session, a notebook, runs one after the other, would hold them)."""
    from py4j.protocol import Py4JError

    try:
        plan = frame._jdf.queryExecution().analyzed()
        if plan.getClass().getSimpleName() == "LogicalRDD":
            plan.rdd().unpersist(False)
    except (Py4JError, AttributeError):  # other internals: the cleaner drops the blocks later
        pass
