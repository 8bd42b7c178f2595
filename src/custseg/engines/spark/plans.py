"""Which other columns a profile describes, decided by Spark aggregates with the local rule
(:mod:`custseg.engines.columns`): numeric when 90% of the cells of the first 10,000 valid rows,
and of all of them, are numbers; a code when those numbers are at most 6 whole values;
categorical text with 2 to 12 distinct values of at most 100 characters. Distinct values are
counted approximately first and exactly only for the few columns that may qualify."""

from __future__ import annotations

import numpy as np

from custseg.engines.columns import (
    MAX_CATEGORIES,
    MAX_CATEGORY_CHARS,
    MAX_CODES,
    NUMERIC_SHARE,
    SNIFF_ROWS,
    ColumnPlan,
)
from custseg.engines.spark.checks import OK, parse
from custseg.engines.spark.reader import ROW


def column_plans(valid: object, columns: list[str], n_valid: int) -> dict[str, ColumnPlan]:
    """The plan of each of ``columns`` over the valid rows (``valid`` holds :data:`ROW`)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    if not columns or n_valid == 0:
        return {}
    schema = {f.name: f.dataType for f in valid.schema.fields}
    head = valid.select(ROW).orderBy(ROW).limit(SNIFF_ROWS).agg(F.max(ROW)).collect()[0][0]
    in_head = F.col(ROW) <= F.lit(head)
    parsed = {c: parse(F.col(c), schema[c], decimal_comma=False) for c in columns}
    texty = {c for c in columns if isinstance(schema[c], T.StringType | T.BooleanType)}
    text = {c: _text(c) for c in texty}
    first = []
    for c in columns:
        ok = parsed[c].code == OK
        first += [F.count_if(ok).alias(f"ok|{c}"), F.count_if(ok & in_head).alias(f"hok|{c}"),
                  F.count_if(in_head).alias(f"hn|{c}"),
                  F.approx_count_distinct(parsed[c].value).alias(f"nd|{c}")]
        if c in texty:
            first.append(F.approx_count_distinct(text[c]).alias(f"td|{c}"))
    counts = valid.agg(*first).collect()[0].asDict()
    numeric, exact = {}, []
    for c in columns:
        numeric_head = counts[f"hok|{c}"] >= NUMERIC_SHARE * counts[f"hn|{c}"]
        numeric[c] = numeric_head and counts[f"ok|{c}"] >= NUMERIC_SHARE * n_valid
        if numeric[c] and counts[f"nd|{c}"] <= 2 * MAX_CODES + 2:
            exact.append(F.collect_set(parsed[c].value).alias(f"ns|{c}"))
        elif not numeric[c] and c in texty and counts[f"td|{c}"] <= 2 * MAX_CATEGORIES + 5:
            exact.append(F.collect_set(text[c]).alias(f"ts|{c}"))
    sets = valid.agg(*exact).collect()[0].asDict() if exact else {}
    plans = {}
    for c in columns:
        if numeric[c]:
            values = np.array(sorted(v for v in sets.get(f"ns|{c}", []) if v is not None), float)
            if (f"ns|{c}" in sets and len(values) <= MAX_CODES
                    and np.all(values == np.round(values))):
                plans[c] = ColumnPlan("code", tuple(sorted((str(int(v)) for v in values), key=str)))
            else:
                plans[c] = ColumnPlan("numeric")
        elif (f"ts|{c}" in sets and 2 <= len(sets[f"ts|{c}"]) <= MAX_CATEGORIES
              and all(len(v) <= MAX_CATEGORY_CHARS for v in sets[f"ts|{c}"])):
            plans[c] = ColumnPlan("text", tuple(sorted(sets[f"ts|{c}"], key=str)))
    return plans


def _text(column: str) -> object:
    from pyspark.sql import functions as F

    trimmed = F.trim(F.col(column).cast("string"))
    return F.when(trimmed != "", trimmed)


def category_text(column: str, plan: ColumnPlan, data_type: object) -> object:
    """The cells of ``column`` as the plan's category texts (codes as ``1``, ``2``; empty null)."""
    from pyspark.sql import functions as F

    if plan.kind == "code":
        parsed = parse(F.col(column), data_type, decimal_comma=False)
        return F.when(parsed.code == OK, parsed.value.cast("long").cast("string"))
    return _text(column)
