"""The rejected rows of a Spark run, as the local engines' :class:`custseg.io.rejects.RejectStore`
presents them: counted per reason by Spark, the first kept for the run's result, and every one
written by Spark as a dataset (``rejected_rows.csv``, CSV part files in row order)."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import pyarrow as pa

from custseg.engines.spark.checks import COLUMN, REASON, VALUE
from custseg.engines.spark.native import safe_for_spreadsheets, write_dataset
from custseg.engines.spark.reader import CORRUPT, ROW
from custseg.io.rejects import REJECT_SCHEMA, REJECTS_KEPT, as_frame


class SparkRejects:
    """Every rejected row of a Spark run (see the module notes).

    Parameters
    ----------
    frame : pyspark.sql.DataFrame
        The checked rows that have a reason.
    id_column : str or None
        The input's id column.
    """

    def __init__(self, frame: object, id_column: str | None) -> None:
        from pyspark.sql import functions as F

        customer = (F.col(id_column).cast("string") if id_column is not None
                    else F.lit(None).cast("string"))
        # A record of the wrong length has no customer (as the local parser's rejects).
        customer = F.when(F.col(CORRUPT).isNull(), customer)
        self.frame = frame.select(F.col(ROW).alias("row"), customer.alias("customer_id"),
                                  F.col(COLUMN).alias("column"), F.col(VALUE).alias("value"),
                                  F.col(REASON).alias("reason")).persist()
        self.reasons: Counter = Counter(dict(self.frame.groupBy("reason").count().collect()))
        self.count = int(sum(self.reasons.values()))
        self._kept = self._arrow(self.frame.orderBy("row").limit(REJECTS_KEPT))

    @staticmethod
    def _arrow(frame: object) -> pa.Table:
        table = frame.toArrow()
        return table.cast(REJECT_SCHEMA) if table.num_rows else REJECT_SCHEMA.empty_table()

    @property
    def first(self) -> dict | None:
        """The first rejected row, as a dict, or None."""
        return self._kept.slice(0, 1).to_pylist()[0] if self._kept.num_rows else None

    @property
    def preview(self) -> pd.DataFrame:
        """The first :data:`custseg.io.rejects.REJECTS_KEPT` rejected rows."""
        return as_frame(self._kept)

    def problem(self) -> str:
        """The most frequent problem, for messages."""
        if not self.count:
            return "no rows"
        from pyspark.sql import functions as F

        row = (self.frame.groupBy("column", "reason").count().orderBy(F.desc("count")).limit(1)
               .collect()[0])
        return f"{row['column']!r}: {row['reason']}" if row["column"] is not None else row["reason"]

    def write_dataset(self, path: object) -> None:
        """Write every rejected row, in row order, as a dataset of CSV part files at ``path``
        (``rejected_rows.csv`` of the local engines, written by Spark; cells that a spreadsheet
        would run as formulas are neutralised as locally)."""
        columns = ["row", "customer_id", "column", "value", "reason"]
        write_dataset(safe_for_spreadsheets(self.frame.orderBy("row"), columns), path, csv=True)

    def close(self) -> None:
        """Release the cached rows."""
        self.frame.unpersist()
