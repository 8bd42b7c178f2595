"""Input formats: which reader a file needs, and what a CSV's first bytes say about it.

CSV and Excel cells are read as text, exactly as written: validation decides what is a number,
and the clustered output repeats every original cell unchanged (``0001`` stays ``0001``).
Parquet columns keep their stored types.

Every record gets a row number as a spreadsheet shows it: the header is row 1, so the first
customer is row 2 (:data:`FIRST_DATA_ROW`).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from custseg.exceptions import ConfigError, DataValidationError, InputFileError

#: Formats we read, keyed by the name ``--format`` takes; values are the file extensions.
FORMATS: dict[str, tuple[str, ...]] = {
    "csv": (".csv", ".txt", ".tsv"),
    "parquet": (".parquet", ".pq"),
    "excel": (".xlsx", ".xlsm"),
}
#: Row number of the first customer record (the header is row 1).
FIRST_DATA_ROW = 2
#: Bytes read to sniff a CSV's delimiter and header.
SNIFF_BYTES = 256 * 1024
#: Longest header line read (a wide table's header can be longer than ``SNIFF_BYTES``).
MAX_HEADER_BYTES = 64 * 1024 * 1024
#: Lines after the header longer than this are left out of the delimiter sniffing (a huge cell
#: says nothing about the delimiter, and Python's csv module refuses fields over 128 KiB).
SNIFF_LINE_CHARS = 64 * 1024
_HASH_CHUNK = 4 * 1024 * 1024
_DELIMITERS = (",", ";", "\t", "|")
#: ``-`` as INPUT: the reader needs a file it can read twice (sniffing, then batches).
STDIN_UNSUPPORTED = ("Reading customers from standard input ('-') is not supported; save them to a "
                     "file first and pass its path.")


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
    decimal : {".", ","} or None
        The decimal mark the user chose (``--decimal``); None: from the delimiter.
    """

    name: str
    path: Path | None
    format: str
    encoding: str | None
    delimiter: str | None
    sha256: str
    size_bytes: int
    decimal: str | None = None

    @property
    def decimal_comma(self) -> bool:
        """Whether ``12,5`` means 12.5 here: ``--decimal ,``, or without ``--decimal`` a
        semicolon- or tab-separated file (European exports)."""
        return self.decimal == "," if self.decimal else self.delimiter in (";", "\t")

    @property
    def thousands(self) -> str | None:
        """The mark that groups thousands (the other one once ``--decimal`` chose), or None."""
        return {",": ".", ".": ","}.get(self.decimal or "")

    @property
    def grouping_unsettled(self) -> bool:
        """Whether a ``1.234`` cell could be 1234 or 1.234 here: a decimal-comma file whose
        decimal mark nobody chose."""
        return self.decimal is None and self.decimal_comma


@dataclass(frozen=True)
class CsvDialect:
    """What the first pass over a CSV file found.

    Attributes
    ----------
    sha256 : str
        Fingerprint of the file's bytes.
    encoding : str
        ``utf-8`` (BOM or not), ``utf-16`` (with BOM), ``cp1252`` or ``latin-1``.
    delimiter : str
        ``,``, ``;``, tab or ``|``.
    header : list of str
        Column names (empty ones named ``Unnamed: <i>``, as pandas does).
    line_bytes : float
        Mean bytes per line of the sniffed sample (to size reader blocks).
    longest : int
        Longest complete line of the sample, in bytes.
    """

    sha256: str
    encoding: str
    delimiter: str
    header: list[str]
    line_bytes: float
    longest: int


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
    """Raise unless ``path`` is an existing, non-empty file; return its format."""
    if str(path) == "-":
        raise InputFileError(STDIN_UNSUPPORTED)
    if not path.exists():
        raise InputFileError(f"Input file {path} does not exist. Check the path.")
    if path.is_dir():
        raise InputFileError(f"Input {path} is a folder, not a file. Name the customer file.")
    kind = detect_format(path, fmt)
    try:
        size = path.stat().st_size
    except PermissionError as exc:
        raise InputFileError(f"Cannot read {path.name}: permission denied. Check its permissions.") from exc
    if size == 0:
        raise empty_file(path)
    return kind


def empty_file(path: Path) -> DataValidationError:
    """The error for an empty input file."""
    return DataValidationError(f"Input file {path.name} is empty. Export the customer table again.")


def no_rows(name: str) -> DataValidationError:
    """The error for a table with a header and no records."""
    return DataValidationError(f"{name} has a header but no customer rows. Export the table with "
                               "its data.")


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (library messages run long)."""
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in 4 MiB pieces."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sequential_rows(n: int, start: int = FIRST_DATA_ROW) -> np.ndarray:
    """Spreadsheet row numbers of ``n`` consecutive records (int64)."""
    return np.arange(start, start + n, dtype=np.int64)


def check_header(header: list[str], name: str) -> None:
    """Raise when two columns share a name (every later step finds columns by name)."""
    seen: set[str] = set()
    for column in header:
        if column in seen:
            raise InputFileError(
                f"{name} has two columns named {column!r}. Rename one of them in the file."
            )
        seen.add(column)


def name_unnamed(header: list[str]) -> list[str]:
    """Strip names; name empty ones as pandas does (``Unnamed: 5``), e.g. for trailing commas.

    Examples
    --------
    >>> name_unnamed([" a ", "", "b"])
    ['a', 'Unnamed: 1', 'b']
    """
    return [h.strip() or f"Unnamed: {i}" for i, h in enumerate(header)]


def sha256_and_encoding(path: Path) -> tuple[str, str]:
    """One pass over the file: its SHA-256, and the text encoding it is valid in."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        head = fh.read(4)
        fh.seek(0)
        # A UTF-8 BOM is utf-8 too: Arrow skips it itself.
        utf16 = head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
        encoding = "utf-16" if utf16 else "utf-8"
        # Windows exports: cp1252 where every byte is defined in it, else latin-1 (any byte).
        candidates = {"utf-8": None, "cp1252": None} if encoding == "utf-8" else {}
        decoders = {name: codecs.getincrementaldecoder(name)() for name in candidates}
        for chunk in iter(lambda: fh.read(_HASH_CHUNK), b""):
            digest.update(chunk)
            # ASCII is valid in every candidate: only a multi-byte character left open by the
            # previous chunk needs decoding then (a tenth of the time of decoding it all).
            ascii_only = chunk.isascii()
            for name in list(decoders):
                if ascii_only and not decoders[name].getstate()[0]:
                    continue
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


def sniff_delimiter(sample: str) -> str:
    """Pick the delimiter that splits the first lines into the most consistent fields.

    Examples
    --------
    >>> sniff_delimiter("a;b;c\\n1;2,5;3\\n")
    ';'
    """
    lines = sample.splitlines()
    if len(lines) > 1 and not sample.endswith(("\n", "\r")):
        lines = lines[:-1]  # the sample may end mid-line
    lines = [ln for i, ln in enumerate(lines[:50])
             if ln.strip() and (i == 0 or len(ln) <= SNIFF_LINE_CHARS)]
    if not lines:
        return ","
    best, best_score = ",", (-1, -1)
    for delim in _DELIMITERS:
        try:
            counts = [len(r) for r in csv.reader(io.StringIO("\n".join(lines)), delimiter=delim)]
        except csv.Error:  # a field over the csv module's limit: not this delimiter's fields
            continue
        if not counts or counts[0] < 2:
            continue
        agreeing = sum(c == counts[0] for c in counts)
        score = (agreeing, counts[0])
        if score > best_score:
            best, best_score = delim, score
    return best


def _head_bytes(path: Path) -> bytes:
    """The first ``SNIFF_BYTES`` of a file, and more if the first line is longer (up to
    ``MAX_HEADER_BYTES``: a longer first line is no header)."""
    with path.open("rb") as fh:
        head = bytearray(fh.read(SNIFF_BYTES))
        while b"\n" not in head and b"\r" not in head:
            more = fh.read(max(SNIFF_BYTES, len(head)))
            if not more:
                break
            head += more
            if len(head) > MAX_HEADER_BYTES:
                raise InputFileError(
                    f"The first line of {path.name} is longer than "
                    f"{MAX_HEADER_BYTES // (1024 * 1024)} MiB, so it is not a header row. Check "
                    "that the file is a table with column names on its first line.")
    return bytes(head)


def sniff_csv(path: Path) -> CsvDialect:
    """Fingerprint, encoding, delimiter and header of a CSV file (one pass over its bytes).

    Raises
    ------
    InputFileError
        Binary content.
    DataValidationError
        Nothing but white space.
    """
    sha, encoding = sha256_and_encoding(path)
    sample_bytes = _head_bytes(path)
    if encoding != "utf-16" and b"\x00" in sample_bytes:
        raise InputFileError(
            f"{path.name} is not a text table (it holds binary data). Export the customers as "
            "CSV, or name the real format with --format parquet|excel."
        )
    sample = sample_bytes.decode("utf-8-sig" if encoding == "utf-8" else encoding, errors="replace")
    if not sample.strip():
        raise empty_file(path)
    delimiter = sniff_delimiter(sample)
    try:
        header = name_unnamed(next(csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter)))
    except csv.Error as exc:
        raise InputFileError(
            f"Cannot read the header of {path.name}: {exc}. A column name is longer than 128 KiB "
            "or a quote is not closed; check the first line of the file.") from exc
    check_header(header, path.name)
    lines = sample_bytes.splitlines() or [sample_bytes]
    complete = lines[:-1] if len(lines) > 1 else lines
    return CsvDialect(sha, encoding, delimiter, header,
                      line_bytes=max(1.0, len(sample_bytes) / max(1, len(lines))),
                      longest=max(len(line) for line in complete))
