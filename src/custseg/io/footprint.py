"""How much memory a run holding a source whole needs (``--engine auto`` weighs it against
``--memory-budget``; :mod:`custseg.engines` and :mod:`custseg.io.early` ask)."""

from __future__ import annotations

from custseg.io.chunks import Source

#: In-memory peak per byte of input, by format (measured on Mall-like data; Parquet is
#: compressed, so it expands more), plus the libraries' fixed cost.
MEMORY_FACTOR = {"csv": 6.0, "parquet": 12.0, "excel": 10.0, "dataframe": 2.0, "database": 6.0}
BASE_MEMORY = 300 * 1024**2


def estimated_memory(source: Source, basis: int | None = None) -> int:
    """Rough peak bytes of an in-memory run on ``source``: from its size on disk, or for a
    database its estimated rows × bytes per row (``basis``: :meth:`Source.memory_basis`'s
    bytes, when already asked)."""
    factor = MEMORY_FACTOR.get(source.format, MEMORY_FACTOR["csv"])
    if basis is None:
        basis = source.memory_basis()[0]
    return int(basis * factor) + BASE_MEMORY
