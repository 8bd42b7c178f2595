"""Which other columns a profile describes, decided batch by batch over the valid rows.

Besides the features, a segment profile describes every *numeric* column of the input (Age on
the Mall data: mean, median, quartiles) and every *categorical* one (Gender: share of each
category). A column is numeric when at least :data:`NUMERIC_SHARE` of its cells parse as
finite numbers (judged first on its first :data:`SNIFF_ROWS` rows, then on all of them), and
categorical when it is not numeric and has between 2 and :data:`MAX_CATEGORIES` distinct
non-empty values of at most :data:`MAX_CATEGORY_CHARS` characters, or when it is a numeric
*code*: whole numbers with at most :data:`MAX_CODES` distinct values (Channel and Region in
the wholesale data). The id and the features are neither.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from custseg.io.numbers import parse_numbers

NUMERIC_SHARE = 0.9
MAX_CATEGORIES = 12
#: A text column with a value longer than this is free text, not categories (its values would
#: become profile column names: ``Gender: Female %``).
MAX_CATEGORY_CHARS = 100
#: A numeric column of whole numbers with at most this many distinct values is a code.
MAX_CODES = 6
#: Rows looked at first to decide whether a column is numeric.
SNIFF_ROWS = 10_000


@dataclass(frozen=True)
class ColumnPlan:
    """How a profile describes one column.

    Attributes
    ----------
    kind : {"numeric", "code", "text"}
        Numeric statistics, or category shares of whole-number codes or of text.
    categories : tuple of str
        The categories (codes as text), sorted; empty for numeric columns.
    """

    kind: Literal["numeric", "code", "text"]
    categories: tuple[str, ...] = ()

    def category_text(self, column: pa.ChunkedArray | pa.Array) -> pa.Array | pa.ChunkedArray:
        """The column's cells as category text (codes as ``1``, ``2``; empty cells null)."""
        return code_text(parse_numbers(column)[0]) if self.kind == "code" else trimmed_text(column)


def trimmed_text(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Text cells trimmed, empty ones null."""
    text = pc.utf8_trim_whitespace(pc.cast(column, pa.string()))
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)


def code_text(values: np.ndarray) -> pa.Array:
    """Whole-number codes as text categories (``1``, ``2``), null where not a number.

    Examples
    --------
    >>> code_text(np.array([1.0, np.nan, 2.0, 1e20])).to_pylist()
    ['1', None, '2', '100000000000000000000']
    """
    finite = np.isfinite(values)
    fits = finite & (np.abs(values) < 2.0**63)  # in int64's range
    ints = pa.array(np.where(fits, values, 0).astype(np.int64), mask=~fits)
    text = pc.cast(ints, pa.string())
    huge = np.flatnonzero(finite & ~fits)
    if huge.size:  # rare: written out exactly, one by one
        cells = text.to_pylist()
        for i in huge:
            cells[i] = str(int(values[i]))
        text = pa.array(cells, pa.string())
    return text


def _is_texty(kind: pa.DataType) -> bool:
    return (pa.types.is_string(kind) or pa.types.is_large_string(kind)
            or pa.types.is_dictionary(kind) or pa.types.is_boolean(kind))


def _chunks(column: pa.Array | pa.ChunkedArray) -> list[pa.Array]:
    return column.chunks if isinstance(column, pa.ChunkedArray) else [column]


@dataclass
class ColumnScan:
    """What deciding one column's :class:`ColumnPlan` needs, gathered batch by batch.

    Examples
    --------
    >>> scan = ColumnScan("Gender", pa.string())
    >>> scan.update(pa.chunked_array([["Male", "Female", " Male "]]))
    >>> scan.plan(3)
    ColumnPlan(kind='text', categories=('Female', 'Male'))
    """

    name: str
    type: pa.DataType
    head: list = field(default_factory=list)
    head_rows: int = 0
    numeric_head: bool | None = None
    ok: int = 0
    first_finite: list = field(default_factory=list)
    n_first: int = 0
    numbers: set = field(default_factory=set)
    too_many_numbers: bool = False
    texts: set = field(default_factory=set)
    too_many_texts: bool = False

    def update(self, column: pa.ChunkedArray | pa.Array) -> None:
        """Fold in the next valid rows' cells."""
        if self.numeric_head is None:
            part = column.slice(0, SNIFF_ROWS - self.head_rows)
            self.head.append(part)
            self.head_rows += len(part)
            if self.head_rows >= SNIFF_ROWS:
                self._decide()
        if self.numeric_head is None or self.numeric_head:
            values, codes = parse_numbers(column)
            self.ok += int(np.count_nonzero(codes == 0))
            if self.n_first < SNIFF_ROWS or not self.too_many_numbers:
                finite = values[np.isfinite(values)]
                if self.n_first < SNIFF_ROWS:
                    take = finite[:SNIFF_ROWS - self.n_first]
                    self.first_finite.append(take)
                    self.n_first += len(take)
                if not self.too_many_numbers:
                    self.numbers.update(pc.unique(pa.array(finite)).to_pylist())
                    if len(self.numbers) > MAX_CODES:
                        self.too_many_numbers, self.numbers = True, set()
        if _is_texty(self.type) and not self.too_many_texts:
            # The distinct cells first, then trimmed: the same set, trimming a few texts.
            distinct = pc.unique(column)
            self.texts.update(v for v in pc.unique(trimmed_text(distinct)).to_pylist()
                              if v is not None)
            if (len(self.texts) > MAX_CATEGORIES
                    or any(len(v) > MAX_CATEGORY_CHARS for v in self.texts)):
                self.too_many_texts, self.texts = True, set()

    def _decide(self) -> None:
        head = pa.chunked_array([c for part in self.head for c in _chunks(part)], type=self.type)
        codes = parse_numbers(head)[1] if len(head) else np.zeros(0, dtype=np.uint8)
        self.numeric_head = bool((codes == 0).sum() >= NUMERIC_SHARE * len(head))
        self.head = []

    def plan(self, n: int) -> ColumnPlan | None:
        """The plan after ``n`` valid rows were folded in; None: the profile leaves it out."""
        if self.numeric_head is None:
            self._decide()
        if self.numeric_head and self.ok >= NUMERIC_SHARE * n:
            first = np.concatenate(self.first_finite) if self.first_finite else np.zeros(0)
            distinct = np.unique(first)
            if (len(distinct) <= MAX_CODES and np.all(distinct == np.round(distinct))
                    and not self.too_many_numbers and len(self.numbers) <= MAX_CODES):
                return ColumnPlan("code", tuple(sorted((str(int(v)) for v in self.numbers), key=str)))
            return ColumnPlan("numeric")
        if _is_texty(self.type) and not self.too_many_texts and 2 <= len(self.texts) <= MAX_CATEGORIES:
            return ColumnPlan("text", tuple(sorted(self.texts, key=str)))
        return None
