"""Moves between RFM groups from one month to the next ("340 Champions became At risk").

With a transaction log and ``--previous``, the customers of both runs are joined on their id
(the previous run's clustered file, the new customer table) and counted per (previous group,
new group). DuckDB does the join out of core, so it costs no more memory at 10^7 customers than
at 10^3.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from custseg.optional import import_optional

GROUP_COLUMN = "RFM_group"
ID_COLUMN = "customer_id"


@dataclass(frozen=True)
class RfmMoves:
    """Customers per (previous RFM group, new RFM group), customers in both runs only.

    Attributes
    ----------
    counts : pandas.DataFrame
        ``previous_group``, ``new_group``, ``customers``, ``share_of_previous_percent``, sorted
        by previous group, then customers (most first).
    """

    counts: pd.DataFrame

    def biggest_moves(self, n: int = 3) -> list[str]:
        """The ``n`` largest moves between two different groups, in words.

        Examples
        --------
        >>> moves = RfmMoves(pd.DataFrame({"previous_group": ["Champions", "Lost"],
        ...     "new_group": ["At risk", "Lost"], "customers": [340, 900],
        ...     "share_of_previous_percent": [12.5, 100.0]}))
        >>> moves.biggest_moves()
        ['340 Champions became At risk (12.5% of them)']
        """
        moved = self.counts[self.counts["previous_group"] != self.counts["new_group"]]
        moved = moved.sort_values(["customers", "previous_group", "new_group"],
                                  ascending=[False, True, True], kind="stable").head(n)
        return [f"{r.customers:,} {r.previous_group} became {r.new_group} "
                f"({r.share_of_previous_percent:.1f}% of them)" for r in moved.itertuples()]

    def to_dict(self) -> list[dict]:
        """JSON-ready rows."""
        return [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
                for row in self.counts.to_dict(orient="records")]


def reader_sql(path: Path) -> str:
    """DuckDB's table function reading a CSV or Parquet file, or a folder of part files."""
    text = path.as_posix().replace("'", "''")
    if path.is_dir():
        kind = "parquet" if any(path.rglob("*.parquet")) else "csv"
        text = f"{text}/**/*.{kind}"
    else:
        kind = "parquet" if path.suffix.lower() == ".parquet" else "csv"
    if kind == "parquet":
        return f"read_parquet('{text}')"
    return f"read_csv('{text}', all_varchar=true, header=true)"


def count_rfm_moves(previous_customers: Path, customers: Path) -> RfmMoves | None:
    """Moves between RFM groups; None when the previous run has no RFM groups.

    Parameters
    ----------
    previous_customers : pathlib.Path
        The previous run's clustered file (CSV, Parquet, or a folder of part files).
    customers : pathlib.Path
        This run's customer table (Parquet, with ``customer_id`` and ``RFM_group``).
    """
    duckdb = import_optional("duckdb", "transactions", "RFM moves since --previous")
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar=false")
        before = reader_sql(previous_customers)
        columns = [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {before}").fetchall()]
        if GROUP_COLUMN not in columns or ID_COLUMN not in columns:
            return None
        frame = con.execute(f"""
            WITH moves AS (
                SELECT p.{GROUP_COLUMN} AS previous_group, n.{GROUP_COLUMN} AS new_group,
                       count(*) AS customers
                FROM {before} p JOIN {reader_sql(customers)} n
                  ON CAST(p.{ID_COLUMN} AS VARCHAR) = n.{ID_COLUMN}
                GROUP BY ALL)
            SELECT previous_group, new_group, customers,
                   round(100.0 * customers / sum(customers) OVER (PARTITION BY previous_group), 2)
                     AS share_of_previous_percent
            FROM moves ORDER BY previous_group, customers DESC, new_group
        """).df()
    finally:
        con.close()
    frame["customers"] = frame["customers"].astype("int64")
    return RfmMoves(frame)


def count_rfm_by_segment(clustered: Path) -> dict[str, dict[str, int]]:
    """Customers per segment id and RFM group, from a run's clustered file (exact counts).

    Returns
    -------
    dict
        ``{segment id (text): {RFM group: customers}}``.
    """
    duckdb = import_optional("duckdb", "transactions", "RFM groups per segment")
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar=false")
        rows = con.execute(f"SELECT CAST(Cluster AS BIGINT) AS c, {GROUP_COLUMN}, count(*) "
                           f"FROM {reader_sql(clustered)} GROUP BY ALL ORDER BY ALL").fetchall()
    finally:
        con.close()
    out: dict[str, dict[str, int]] = {}
    for cluster, group, n in rows:
        out.setdefault(str(cluster), {})[group] = int(n)
    return out
