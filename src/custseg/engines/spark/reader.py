"""The input of a Spark run: any path Spark reads, or a table of its catalog, with row numbers.

Each record gets its spreadsheet row number (the header is row 1; Parquet and tables count
from 2 as well), as on the local engines: Spark's monotonically increasing ids are consecutive
within a partition, so one count per partition turns them into row numbers in file order. A CSV
is read with every cell as text, exactly as written, and a record with the wrong number of fields
is kept (``_corrupt``) to be rejected with its reason, never dropped.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from custseg.config import RunConfig
from custseg.datasets import mall_customers_path
from custseg.dboptions import is_url
from custseg.exceptions import EngineError, InputFileError
from custseg.io.chunks import Chunk, Source
from custseg.io.formats import FORMATS, SourceInfo, check_header, detect_format, sniff_csv

#: Hidden columns the Spark engine adds (never written out).
ROW, CORRUPT, MONO, PARTITION = "_custseg_row", "_custseg_corrupt", "_custseg_mono", "_custseg_pid"


@dataclass
class SparkSource(Source):
    """The input as the pipeline sees it (name, columns); the rows stay in Spark.

    Attributes
    ----------
    name, format : str
        Name for messages and ``csv``, ``parquet`` or ``table``.
    columns : list of str
        The input's columns, in order.
    location : str
        What Spark reads (a path, a URL, or a table name).
    delimiter, encoding : str or None
        For CSV.
    sha256 : str or None
        Fingerprint of a single local input file (None for folders, URLs and tables).
    size_bytes : int
        Size of a local input (0 otherwise).
    """

    name: str
    format: str
    columns: list[str]
    location: str
    delimiter: str | None = None
    encoding: str | None = None
    sha256: str | None = None
    size_bytes: int = 0

    def read_all(self) -> Chunk:  # pragma: no cover - the Spark engine never reads locally
        raise EngineError("A Spark input is read by Spark, not in this process.")

    def chunks(self, rows: int, columns: list[str] | None = None) -> Iterator[Chunk]:  # pragma: no cover
        raise EngineError("A Spark input is read by Spark, not in this process.")

    def info(self) -> SourceInfo:
        path = None if is_url(self.location) or self.format == "table" else Path(self.location)
        return SourceInfo(self.name, path, self.format, self.encoding, self.delimiter,
                          self.sha256, self.size_bytes)


def spark_source(config: RunConfig, session: object) -> SparkSource:
    """Describe the input of ``config`` (``--table``, a path or URL, or the bundled data)."""
    if config.table is not None:
        try:
            columns = list(session.table(config.table).columns)
        except Exception as exc:  # AnalysisException: no such table
            raise InputFileError(f"Table {config.table} not found in the Spark catalog. Check "
                                 "the name (database.table).") from exc
        return SparkSource(config.table, "table", columns, config.table)
    location = config.input if config.input is not None else mall_customers_path()
    if is_url(location):
        fmt = _format_of(str(location), config.format)
        return SparkSource(str(location).rstrip("/").split("/")[-1], fmt,
                           _remote_columns(session, str(location), fmt), str(location))
    path = Path(location)
    if not path.exists():
        raise InputFileError(f"Input {path} does not exist. Check the path.")
    files = _data_files(path) if path.is_dir() else [path]
    if not files:
        raise InputFileError(f"Folder {path} holds no data files. Name a file or a folder of "
                             "Parquet or CSV files.")
    fmt = _format_of(str(files[0]), config.format)
    size = sum(f.stat().st_size for f in files)
    if fmt == "csv":
        dialect = sniff_csv(files[0])
        return SparkSource(path.name, "csv", dialect.header, str(path), dialect.delimiter,
                           dialect.encoding, dialect.sha256 if not path.is_dir() else None, size)
    if fmt != "parquet":
        raise InputFileError(f"--engine spark reads CSV and Parquet; {path.name} is {fmt}. "
                             "Export it as CSV or Parquet, or use another engine.")
    import pyarrow.parquet as pq

    columns = [str(c) for c in pq.read_schema(files[0]).names]
    check_header(columns, path.name)
    from custseg.io.formats import file_sha256

    return SparkSource(path.name, "parquet", columns, str(path),
                       sha256=file_sha256(path) if not path.is_dir() else None, size_bytes=size)


def _data_files(folder: Path) -> list[Path]:
    suffixes = {ext for exts in FORMATS.values() for ext in exts}
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in suffixes
                  and not any(part.startswith((".", "_")) for part in p.relative_to(folder).parts))


def _format_of(name: str, fmt: str | None) -> str:
    if fmt is not None or Path(name).suffix:
        return detect_format(Path(name), fmt)
    return "parquet"  # a folder URL without --format: a Parquet dataset


def _remote_columns(session: object, location: str, fmt: str) -> list[str]:
    try:
        if fmt == "csv":
            return list(session.read.option("header", True).csv(location).columns)
        return list(session.read.parquet(location).columns)
    except Exception as exc:
        raise InputFileError(f"Spark cannot read {location} ({str(exc).splitlines()[0][:200]}). "
                             "Check the path and --format.") from exc


def read_frame(session: object, source: SparkSource) -> tuple[object, object]:
    """The input as a Spark DataFrame with row numbers (:data:`ROW`) and, for CSV, the records
    of the wrong length (:data:`CORRUPT`); and the cached frame it is built on (the input is read
    once for the row numbers and once more by the next pass without it), for the caller to
    ``unpersist`` when that pass is done."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    try:
        if source.format == "table":
            frame = session.table(source.location)
        elif source.format == "parquet":
            frame = session.read.parquet(source.location)
        else:
            schema = T.StructType([T.StructField(c, T.StringType()) for c in source.columns]
                                  + [T.StructField(CORRUPT, T.StringType())])
            frame = session.read.csv(
                source.location, schema=schema, header=True, sep=source.delimiter or ",",
                encoding=source.encoding or "utf-8", mode="PERMISSIVE", multiLine=True,
                columnNameOfCorruptRecord=CORRUPT, nullValue="\u0000", emptyValue="",
                ignoreLeadingWhiteSpace=False, ignoreTrailingWhiteSpace=False, escape='"')
            # Spark reads an empty field as null; the local readers keep it as empty text.
            frame = frame.select(*[F.coalesce(F.col(c), F.lit("")).alias(c) if c in source.columns
                                   else F.col(c) for c in frame.columns])
        frame = cached = frame.withColumn(MONO, F.monotonically_increasing_id()).withColumn(
            PARTITION, F.spark_partition_id()).persist()
        counts = dict(frame.groupBy(PARTITION).count().collect())
    except InputFileError:
        raise
    except Exception as exc:
        raise InputFileError(f"Spark cannot read {source.name} ({str(exc).splitlines()[0][:200]}). "
                             "Check the file and --format.") from exc
    offsets, total = {}, 0
    for pid in sorted(counts):
        offsets[pid] = total
        total += counts[pid]
    mapping = F.create_map(*[F.lit(x) for pid in sorted(offsets) for x in (pid, offsets[pid])]) \
        if offsets else F.create_map(F.lit(0), F.lit(0))
    row = (F.col(MONO) - F.shiftleft(F.col(PARTITION).cast("long"), 33)
           + mapping[F.col(PARTITION)] + F.lit(2))
    frame = frame.withColumn(ROW, row.cast("long"))
    if CORRUPT not in frame.columns:
        frame = frame.withColumn(CORRUPT, F.lit(None).cast("string"))
    return frame, cached
