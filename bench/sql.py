"""Reading customers from PostgreSQL and writing segments back: custseg against pandas.

A throwaway PostgreSQL server (``tests/postgres_server.py``) on this machine holds ``n``
generated customers (``bench/generate.py``). Each step runs as its own process; its time is the
step's own (imports and process start excluded), its memory the process's peak RSS:

- read, custseg: :class:`custseg.io.database.DatabaseSource` ``read_all`` (ADBC, binary COPY
  into Arrow), and its ``chunks`` (the batches engine's stream, 250,000 rows a batch);
- read, pandas: ``pandas.read_sql("SELECT * FROM customers", create_engine(url))`` (psycopg 3);
- write, custseg: the ``--output-table`` writer's rows (customer id, Cluster, Segment, run id and
  date) ingested in one transaction (ADBC, binary COPY);
- write, pandas: the same rows as a data frame, ``DataFrame.to_sql(name, engine, index=False)``;
- run: ``custseg run URL --table customers --k 5 --output-table segments`` (whole job).

Usage: ``python bench/run.py --sections sql`` (or ``python bench/sql.py 1000000``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from harness import BIN, RESULTS, label, measure  # noqa: E402

PY = str(BIN / "python")
#: pandas.to_sql inserts row by row (28 s and 1.1 GiB for 10^6 rows): larger writes are not
#: timed (about 5 minutes and 11 GiB at 10^7, more than this shared machine can spare).
PANDAS_WRITE_MAX = 1_000_000


def load(url: str, n: int) -> str:
    """Create table ``customers_<n>`` with ``n`` generated customers (ADBC ingest); its name."""
    import adbc_driver_postgresql.dbapi as pg
    from generate import customers

    table = f"customers_{label(n)}"
    with pg.connect(url) as conn, conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {table}")
        step = 2_000_000
        for start in range(1, n + 1, step):
            cur.adbc_ingest(table, customers(min(step, n - start + 1), 0, start),
                            mode="create" if start == 1 else "append")
        conn.commit()
    return table


STEPS = {
    "read_custseg": """
from custseg.io.database import open_database
t = open_database(URL, table=TABLE).read_all().table
assert t.num_rows == N, t.num_rows
""",
    "stream_custseg": """
from custseg.io.database import open_database
n = sum(c.table.num_rows for c in open_database(URL, table=TABLE).chunks(250_000))
assert n == N, n
""",
    "read_pandas": """
import pandas as pd, sqlalchemy
engine = sqlalchemy.create_engine(URL.replace("postgresql://", "postgresql+psycopg://"))
df = pd.read_sql(f"SELECT * FROM {TABLE}", engine)
assert len(df) == N, len(df)
""",
    "write_custseg": """
import datetime as dt, numpy as np, pyarrow as pa
from custseg.io.dbconnect import Database
from custseg.io.dburl import TableName, parse_url
from custseg.outputs.database import CUSTOMER_SCHEMA
labels = np.arange(N) % 5
names = pa.array(["Average", "High high", "High low", "Low low", "Low high"]).take(pa.array(labels))
rows = pa.table([pa.array(np.arange(1, N + 1).astype(str)), pa.array(labels.astype("int32")), names,
                 pa.array(["2026-03"] * N), pa.array([dt.date(2026, 3, 31)] * N, pa.date32())],
                schema=CUSTOMER_SCHEMA)
with Database(parse_url(URL), read_only=False) as db:
    db.execute("DROP TABLE IF EXISTS out_custseg")
    db.ingest(TableName(None, "out_custseg"), rows, create=True)
    db.commit()
""",
    "write_pandas": """
import datetime as dt, numpy as np, pandas as pd, sqlalchemy
labels = np.arange(N) % 5
names = np.array(["Average", "High high", "High low", "Low low", "Low high"])[labels]
df = pd.DataFrame({"customer_id": np.arange(1, N + 1).astype(str), "Cluster": labels.astype("int32"),
                   "Segment": names, "run_id": "2026-03", "run_date": dt.date(2026, 3, 31)})
engine = sqlalchemy.create_engine(URL.replace("postgresql://", "postgresql+psycopg://"))
df.to_sql("out_pandas", engine, if_exists="replace", index=False)
""",
}


def step(name: str, url: str, table: str, n: int) -> tuple[float, float]:
    """(seconds of the step itself, imports excluded; peak RSS in MiB) in a new process."""
    import subprocess

    body = "\n".join("    " + line for line in STEPS[name].strip().splitlines())
    code = (f"URL = {url!r}\nTABLE = {table!r}\nN = {n}\nimport resource, time, custseg, pandas, "
            f"sqlalchemy\nstart = time.perf_counter()\nif True:\n{body}\n"
            "print('RESULT', time.perf_counter() - start, "
            "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n")
    done = subprocess.run([PY, "-c", code], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed: {done.stderr[-2000:]}")
    seconds, rss = done.stdout.split("RESULT")[-1].split()
    return float(seconds), float(rss)


def _row(n: int, cells: dict[str, tuple[float, float]]) -> str:
    def cell(key: str) -> str:
        return f"{cells[key][0]:.1f} s / {cells[key][1]:.0f}" if key in cells else "not run"

    def ratio(a: str, b: str) -> str:
        return f"{cells[b][0] / cells[a][0]:.1f}×" if a in cells and b in cells else "—"

    return (f"| {n:,} | {cell('read_custseg')} | {cell('stream_custseg')} | {cell('read_pandas')} "
            f"| {ratio('read_custseg', 'read_pandas')} | {cell('write_custseg')} | "
            f"{cell('write_pandas')} | {ratio('write_custseg', 'write_pandas')} | {cell('run')} |")


def section(sizes: list[int]) -> str:
    from tests import postgres_server

    server = postgres_server.start()
    try:
        url = server.url()
        lines = ["## SQL databases: reading from and writing back to PostgreSQL\n",
                 f"A local PostgreSQL server (`{server.bin}`, loopback, fsync off) holds generated "
                 "customers (5 columns). Each cell: wall time in seconds / peak RSS in MiB of a "
                 "process doing only that step. custseg reads with the ADBC driver (binary COPY "
                 "into Arrow) whole (`--engine memory`) or streamed in 250,000-row batches "
                 "(`--engine batches`), and writes `--output-table`'s rows (customer id, Cluster, "
                 "Segment, run id, run date) in one transaction with binary COPY; pandas is "
                 "`pandas.read_sql(\"SELECT * FROM ...\", create_engine(url))` and "
                 "`DataFrame.to_sql(name, engine, index=False)` through SQLAlchemy and psycopg 3, "
                 "as a user would write them.\n",
                 "| rows | read: custseg | read: custseg, batches | read: pandas | read speed-up "
                 "| write: custseg | write: pandas | write speed-up | `custseg run` + `--output-table` |",
                 "|---|---|---|---|---|---|---|---|---|"]
        for n in sizes:
            started = time.perf_counter()
            table = load(url, n)
            print(f"  loaded {n:,} rows in {time.perf_counter() - started:.0f} s", flush=True)
            cells = {}
            for name in STEPS:
                if name == "write_pandas" and n > PANDAS_WRITE_MAX:
                    continue
                cells[name] = step(name, url, table, n)
                print(f"  {n:,} {name}: {cells[name][0]:.1f} s, {cells[name][1]:.0f} MiB", flush=True)
            out = RESULTS / f"sql_{label(n)}"
            cells["run"] = measure([str(BIN / "custseg"), "run", url, "--table", table, "--k", "5",
                                    "--quiet", "--out", str(out), "--output-table",
                                    f"segments_{label(n)}", "--if-exists", "replace"])

            lines.append(_row(n, cells))
            print(lines[-1], flush=True)
            server.psql(f"DROP TABLE {table}")
        return "\n".join(lines) + "\n"
    finally:
        server.stop()


if __name__ == "__main__":
    print(section([int(a) for a in sys.argv[1:]] or [1_000_000]))
