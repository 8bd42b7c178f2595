"""Read a customer table from CSV, Parquet or Excel into an Arrow table.

CSV and Excel cells are read as text, exactly as written: validation decides what is a number,
and the clustered output repeats every original cell unchanged (``0001`` stays ``0001``).
Parquet columns keep their stored types.

Every record gets a row number as a spreadsheet shows it: the header is row 1, so the first
customer is row 2. Records the CSV parser cannot split into the header's number of fields are
not dropped: they come back in :attr:`RawTable.parse_rejects` with their row number.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from custseg.data.rejects import REJECT_COLUMNS, Reason, empty_rejects
from custseg.exceptions import ConfigError, DataValidationError, InputFileError

#: Formats we read, keyed by the name ``--format`` takes; values are the file extensions.
FORMATS: dict[str, tuple[str, ...]] = {
    "csv": (".csv", ".txt", ".tsv"),
    "parquet": (".parquet", ".pq"),
    "excel": (".xlsx", ".xlsm"),
}
#: Row number of the first customer record (the header is row 1).
FIRST_DATA_ROW = 2
_SNIFF_BYTES = 256 * 1024
_HASH_CHUNK = 4 * 1024 * 1024
_DELIMITERS = (",", ";", "\t", "|")


@dataclass(frozen=True)
class SourceInfo:
    """Where a table came from and how it was read.

    Attributes
    ----------
    name : str
        Name used in messages (the file name, or ``"<data frame>"``).
    path : pathlib.Path or None
        The file, when read from one.
    format : str
        ``"csv"``, ``"parquet"``, ``"excel"`` or ``"dataframe"``.
    encoding, delimiter : str or None
        What the CSV reader detected (``None`` for other formats).
    sha256 : str
        Fingerprint of the input bytes (of the table content for data frames).
    size_bytes : int
        Size of the input file (0 for data frames).
    """

    name: str
    path: Path | None
    format: str
    encoding: str | None
    delimiter: str | None
    sha256: str
    size_bytes: int


@dataclass(frozen=True)
class RawTable:
    """A table as read, before validation.

    Attributes
    ----------
    table : pyarrow.Table
        Every column of the input, in input order.
    row_numbers : numpy.ndarray
        Spreadsheet row number of each record of ``table`` (int64).
    parse_rejects : pandas.DataFrame
        Records the reader could not parse, in the rejects layout.
    source : SourceInfo
        Where the table came from.
    """

    table: pa.Table
    row_numbers: np.ndarray
    parse_rejects: pd.DataFrame
    source: SourceInfo

    @property
    def n_input(self) -> int:
        """Number of customer records in the input (parsed + unparseable)."""
        return self.table.num_rows + len(self.parse_rejects)


def detect_format(path: Path, fmt: str | None = None) -> str:
    """Return the reader for ``path``: ``fmt`` when given, else the one its extension names.

    Examples
    --------
    >>> detect_format(Path("customers.CSV"))
    'csv'
    >>> detect_format(Path("customers.dat"), "parquet")
    'parquet'
    """
    if fmt is not None:
        key = fmt.lower()
        if key not in FORMATS:
            raise ConfigError(f"Unknown --format {fmt!r}. Use one of: {', '.join(FORMATS)}.")
        return key
    suffix = path.suffix.lower()
    for name, extensions in FORMATS.items():
        if suffix in extensions:
            return name
    known = ", ".join(ext for exts in FORMATS.values() for ext in exts)
    raise InputFileError(
        f"Cannot tell the format of {path.name} from its extension {suffix or '(none)'!r}. "
        f"Use a file ending in {known}, or name the format with --format csv|parquet|excel."
    )


def check_input_file(path: Path, fmt: str | None = None) -> str:
    """Raise unless ``path`` is an existing file; return its format (as :func:`detect_format`)."""
    if not path.exists():
        raise InputFileError(f"Input file {path} does not exist. Check the path.")
    if path.is_dir():
        raise InputFileError(f"Input {path} is a folder, not a file. Name the customer file.")
    return detect_format(path, fmt)


def read_table(path: str | Path, fmt: str | None = None) -> RawTable:
    """Read a customer table from a file.

    Parameters
    ----------
    path : str or pathlib.Path
        CSV (any of UTF-8, UTF-8 with BOM, UTF-16 with BOM, Windows-1252/latin-1; delimiter
        ``,`` ``;`` tab or ``|``; LF or CRLF), Parquet, or Excel ``.xlsx``.
    fmt : {"csv", "parquet", "excel"} or None, default None
        Overrides the format the extension names.

    Returns
    -------
    RawTable

    Raises
    ------
    InputFileError
        If the file is missing, unreadable, empty or not in the named format.
    DataValidationError
        If the file has a header but no customer rows.
    """
    path = Path(path)
    kind = check_input_file(path, fmt)
    try:
        size = path.stat().st_size
        if size == 0:
            raise _empty(path)
        reader = {"csv": _read_csv, "parquet": _read_parquet, "excel": _read_excel}[kind]
        raw = reader(path, size)
    except PermissionError as exc:
        raise InputFileError(f"Cannot read {path.name}: permission denied. Check its permissions.") from exc
    if raw.table.num_rows == 0 and raw.parse_rejects.empty:
        raise DataValidationError(
            f"{path.name} has a header but no customer rows. Export the table with its data."
        )
    return raw


def _empty(path: Path) -> DataValidationError:
    return DataValidationError(f"Input file {path.name} is empty. Export the customer table again.")


def from_dataframe(frame: pd.DataFrame, name: str = "<data frame>") -> RawTable:
    """Wrap an in-memory data frame as a :class:`RawTable` (row numbers as if it were a CSV).

    Examples
    --------
    >>> raw = from_dataframe(pd.DataFrame({"a": [1, 2]}))
    >>> raw.row_numbers.tolist(), raw.source.format
    ([2, 3], 'dataframe')
    """
    frame = frame.reset_index(drop=True)
    frame.columns = [str(c) for c in frame.columns]
    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # Mixed-type object columns (numbers and text): keep them as text, like a CSV would.
        table = pa.Table.from_pandas(frame.astype({c: "string" for c in _object_columns(frame)}),
                                     preserve_index=False)
    digest = hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    source = SourceInfo(name, None, "dataframe", None, None, digest.hexdigest(), 0)
    return RawTable(table, _sequential_rows(table.num_rows), empty_rejects(), source)


def _object_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if frame[c].dtype == object]


def _sequential_rows(n: int) -> np.ndarray:
    return np.arange(FIRST_DATA_ROW, FIRST_DATA_ROW + n, dtype=np.int64)


def _sha256_and_encoding(path: Path) -> tuple[str, str]:
    """One pass over the file: its SHA-256, and the text encoding it is valid in."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        head = fh.read(4)
        fh.seek(0)
        if head.startswith(codecs.BOM_UTF8):
            encoding = "utf-8"  # Arrow skips the BOM itself
        elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            encoding = "utf-16"
        else:
            encoding = "utf-8"
        # Windows exports: cp1252 where every byte is defined in it, else latin-1 (any byte).
        candidates = {"utf-8": None, "cp1252": None} if encoding == "utf-8" else {}
        decoders = {name: codecs.getincrementaldecoder(name)() for name in candidates}
        for chunk in iter(lambda: fh.read(_HASH_CHUNK), b""):
            digest.update(chunk)
            for name in list(decoders):
                try:
                    decoders[name].decode(chunk)
                except UnicodeDecodeError:
                    del decoders[name]
        for name in list(decoders):
            try:
                decoders[name].decode(b"", final=True)
            except UnicodeDecodeError:
                del decoders[name]
        if candidates:
            encoding = next(iter(decoders), "latin-1")
    return digest.hexdigest(), encoding


def _sniff_delimiter(sample: str) -> str:
    """Pick the delimiter that splits the first lines into the most consistent fields."""
    lines = sample.splitlines()
    if len(lines) > 1 and not sample.endswith(("\n", "\r")):
        lines = lines[:-1]  # the sample may end mid-line
    lines = [ln for ln in lines[:50] if ln.strip()]
    if not lines:
        return ","
    best, best_score = ",", (-1, -1)
    for delim in _DELIMITERS:
        counts = [len(r) for r in csv.reader(io.StringIO("\n".join(lines)), delimiter=delim)]
        if not counts or counts[0] < 2:
            continue
        agreeing = sum(c == counts[0] for c in counts)
        score = (agreeing, counts[0])
        if score > best_score:
            best, best_score = delim, score
    return best


def _read_csv(path: Path, size: int) -> RawTable:
    import pyarrow.csv as pacsv

    sha, encoding = _sha256_and_encoding(path)
    with path.open("rb") as fh:
        sample_bytes = fh.read(_SNIFF_BYTES)
    if encoding != "utf-16" and b"\x00" in sample_bytes:
        raise InputFileError(
            f"{path.name} is not a text table (it holds binary data). Export the customers as "
            "CSV, or name the real format with --format parquet|excel."
        )
    sample = sample_bytes.decode("utf-8-sig" if encoding == "utf-8" else encoding, errors="replace")
    if not sample.strip():
        raise _empty(path)
    delimiter = _sniff_delimiter(sample)
    header = _name_unnamed(next(csv.reader(io.StringIO(sample), delimiter=delimiter)))
    _check_header(header, path.name)

    def read(use_threads: bool) -> tuple[pa.Table, list]:
        bad: list = []

        def on_invalid(row: object) -> str:
            bad.append(row)
            return "skip"

        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(
                use_threads=use_threads, encoding=encoding, column_names=header, skip_rows=1,
                block_size=16 << 20,
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, newlines_in_values=True, invalid_row_handler=on_invalid
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(header, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        return table, bad

    try:
        table, bad = read(use_threads=True)
        if any(row.number is None for row in bad):
            # Threaded parsing does not know row numbers; re-read the (rare) malformed file
            # in one thread so every unparseable record is reported with its row.
            table, bad = read(use_threads=False)
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise InputFileError(
            f"Cannot read {path.name} as CSV ({_first_line(exc)}). "
            "Check that it is a text table, or name the format with --format."
        ) from exc
    except OSError as exc:
        raise InputFileError(f"Cannot read {path.name}: {exc.strerror or exc}.") from exc
    # Arrow counts the header as row 1, like a spreadsheet, when it reports a bad row.
    bad_rows = np.array([row.number for row in bad], dtype=np.int64)
    n_records = table.num_rows + len(bad)
    all_rows = _sequential_rows(n_records)
    row_numbers = all_rows[~np.isin(all_rows, bad_rows)] if len(bad) else all_rows
    parse_rejects = pd.DataFrame(
        {
            "row": bad_rows,
            "customer_id": [None] * len(bad),
            "column": [None] * len(bad),
            "value": [row.text for row in bad],
            "reason": [
                Reason.FIELD_COUNT.format(expected=row.expected_columns, actual=row.actual_columns)
                for row in bad
            ],
        }
    ).astype({c: t for c, t in REJECT_COLUMNS.items()})
    source = SourceInfo(path.name, path, "csv", encoding, delimiter, sha, size)
    return RawTable(table, row_numbers, parse_rejects, source)


def _name_unnamed(header: list[str]) -> list[str]:
    """Strip names; name empty ones as pandas does (``Unnamed: 5``), e.g. for trailing commas."""
    return [h.strip() or f"Unnamed: {i}" for i, h in enumerate(header)]


def _check_header(header: list[str], name: str) -> None:
    seen: set[str] = set()
    for column in header:
        if column in seen:
            raise InputFileError(
                f"{name} has two columns named {column!r}. Rename one of them in the file."
            )
        seen.add(column)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_parquet(path: Path, size: int) -> RawTable:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputFileError(
            f"Cannot read {path.name} as Parquet ({_first_line(exc)}). "
            "Check the file, or name its format with --format."
        ) from exc
    _check_header([str(c) for c in table.column_names], path.name)
    source = SourceInfo(path.name, path, "parquet", None, None, _file_sha256(path), size)
    return RawTable(table, _sequential_rows(table.num_rows), empty_rejects(), source)


def _read_excel(path: Path, size: int) -> RawTable:
    try:
        frame = pd.read_excel(path, sheet_name=0, dtype=str, engine="openpyxl")
    except ImportError as exc:  # pragma: no cover - openpyxl is a core dependency
        raise InputFileError("Reading Excel needs openpyxl: pip install openpyxl") from exc
    except Exception as exc:  # openpyxl raises many unrelated types for a non-xlsx file
        raise InputFileError(
            f"Cannot read {path.name} as an Excel workbook ({_first_line(exc)}). "
            "Save it as .xlsx, or export it as CSV."
        ) from exc
    if frame.columns.empty:
        raise _empty(path)
    header = _name_unnamed([str(c) for c in frame.columns])
    frame.columns = header
    _check_header(header, path.name)
    # pandas reads blank cells as NaN; keep them as empty text, as the CSV reader does.
    table = pa.Table.from_pandas(frame.fillna(""), preserve_index=False)
    table = table.cast(pa.schema([pa.field(c, pa.string()) for c in header]))
    source = SourceInfo(path.name, path, "excel", None, None, _file_sha256(path), size)
    return RawTable(table, _sequential_rows(table.num_rows), empty_rejects(), source)
