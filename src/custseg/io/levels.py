"""Category cells as numbers: each level's text becomes a stable code (``--categorical``).

A categorical feature travels through the engines as one float64 column beside the numeric
features, so every engine stores, spills and samples it as it does them. Its value is the
level's **code**: a 52-bit hash of the trimmed cell text (blake2b), exact in a float64. A code
depends on the text alone, never on the order in which levels appear, so every batch size and
every engine gives the same codes, and ``custseg predict`` computes the same ones for new data
(no renumbering after the scan). Empty cells are NaN. The sorted levels and their one-hot
encoding are decided after the scan (:mod:`custseg.engines.categories`).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def level_text(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Cells as level text: trimmed, empty ones null (as the profiles read a category).

    Examples
    --------
    >>> level_text(pa.array([" Male", "", None, "Female "])).to_pylist()
    ['Male', None, None, 'Female']
    """
    text = pc.utf8_trim_whitespace(pc.cast(column, pa.string()))
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)


def level_code(text: str) -> float:
    """The code of one level: a 52-bit hash of its text, as a float64 (exact).

    Examples
    --------
    >>> level_code("Female") == level_code("Female"), level_code("Female") == level_code("Male")
    (True, False)
    >>> level_code("Male") < 2 ** 52
    True
    """
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return float(int.from_bytes(digest, "big") >> 12)


def level_codes(column: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, dict[float, str]]:
    """Each cell's level code (NaN for an empty cell), and the text of every code seen.

    Vectorised: one hash per distinct level of the batch, then one lookup.

    Examples
    --------
    >>> codes, texts = level_codes(pa.array(["a", "b", " a", ""]))
    >>> bool(codes[0] == codes[2]), bool(np.isnan(codes[3])), sorted(texts.values())
    (True, True, ['a', 'b'])
    """
    text = level_text(column)
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks() if text.num_chunks != 1 else text.chunk(0)
    uniques = pc.unique(text).drop_null()
    names = uniques.to_pylist()
    hashes = np.array([level_code(v) for v in names] + [np.nan], dtype=np.float64)
    index = pc.fill_null(pc.index_in(text, value_set=uniques), len(names))
    codes = hashes[np.asarray(index, dtype=np.int64)]
    return codes, dict(zip(hashes[:-1].tolist(), names, strict=True))
