"""Seeded Mall-like customers at any size, written as CSV or Parquet in bounded memory.

The five components follow the Mall Customers segments (means, spreads and shares of the
known K = 5 solution), so the same five segments are there to find at every N.

    python bench/generate.py 1000000 bench/data/customers_1e6.csv
    python bench/generate.py 100000000 bench/data/customers_1e8.parquet
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa

#: (share, mean income k$, sd income, mean spending, sd spending, mean age, sd age)
COMPONENTS = (
    (0.405, 55.3, 8.9, 49.5, 6.5, 42.7, 16.4),
    (0.195, 86.5, 16.3, 82.1, 9.4, 32.7, 3.7),
    (0.175, 88.2, 16.4, 17.1, 9.9, 41.1, 11.3),
    (0.115, 26.3, 7.9, 20.9, 13.0, 45.2, 13.2),
    (0.110, 25.7, 7.6, 79.4, 10.5, 25.3, 5.5),
)
BATCH = 2_000_000


def customers(n: int, seed: int = 0, start: int = 1) -> pa.Table:
    """``n`` Mall-like customers with ids ``start .. start + n - 1``, as an Arrow table."""
    rng = np.random.default_rng([seed, start])
    params = np.array(COMPONENTS)
    component = rng.choice(len(params), size=n, p=params[:, 0] / params[:, 0].sum())
    p = params[component]
    income = np.clip(np.rint(rng.normal(p[:, 1], p[:, 2])), 15, 140).astype(np.int64)
    spending = np.clip(np.rint(rng.normal(p[:, 3], p[:, 4])), 1, 99).astype(np.int64)
    age = np.clip(np.rint(rng.normal(p[:, 5], p[:, 6])), 18, 70).astype(np.int64)
    gender = np.where(rng.random(n) < 0.56, "Female", "Male")
    return pa.table({
        "CustomerID": np.arange(start, start + n, dtype=np.int64),
        "Gender": pa.array(gender, pa.string()),
        "Age": age,
        "Annual Income (k$)": income,
        "Spending Score (1-100)": spending,
    })


def write(n: int, path: Path, seed: int = 0, batch: int = BATCH) -> Path:
    """Write ``n`` customers to ``path`` (.csv or .parquet), one batch at a time."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    writer = None
    try:
        for start in range(1, n + 1, batch):
            table = customers(min(batch, n - start + 1), seed, start)
            if writer is None:
                writer = (pq.ParquetWriter(tmp, table.schema) if path.suffix == ".parquet"
                          else pacsv.CSVWriter(tmp, table.schema,
                                               write_options=pacsv.WriteOptions(
                                                   quoting_style="none", quoting_header="none")))
            if path.suffix == ".parquet":
                writer.write_table(table, row_group_size=1_000_000)
            else:
                writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    tmp.replace(path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int)
    parser.add_argument("path", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    write(args.n, args.path, args.seed)
    print(args.path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
