"""Engines: where a run's rows live, behind one interface (:class:`~custseg.engines.base.Engine`).

- ``memory`` (:mod:`~custseg.engines.memory`): the table read whole and held.
- ``batches`` (:mod:`~custseg.engines.batches`): Arrow record batches; memory bounded by the batch.
- ``spark`` (:mod:`~custseg.engines.spark`): Apache Spark reads, checks, aggregates and writes.

:func:`open_engine` picks one from a run's options (``--engine auto`` takes batches when the
in-memory engine would not fit ``--memory-budget``). A new engine is a new back-end of the
interface, never a copy of the pipeline.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from custseg.config import RunConfig
from custseg.datasets import mall_customers_path
from custseg.dboptions import is_database_url
from custseg.engines.base import AssignedBatch, Engine, Observer
from custseg.engines.batches import BatchEngine, batch_rows_for
from custseg.engines.memory import MemoryEngine
from custseg.exceptions import ConfigError
from custseg.io.chunks import Source
from custseg.io.database import open_database
from custseg.io.sources import FrameSource, open_source

__all__ = ["AssignedBatch", "BatchEngine", "Engine", "MemoryEngine", "Observer",
           "estimated_memory", "open_engine", "open_input"]

#: In-memory peak per byte of input, by format (measured on Mall-like data; Parquet is
#: compressed, so it expands more), plus the libraries' fixed cost.
MEMORY_FACTOR = {"csv": 6.0, "parquet": 12.0, "excel": 10.0, "dataframe": 2.0, "database": 6.0}
BASE_MEMORY = 300 * 1024**2


def open_input(config: RunConfig, data: pd.DataFrame | None = None) -> Source | None:
    """The run's input: ``data``, the file ``config.input``, or the bundled Mall data; None for
    the Spark engine (Spark opens its input itself)."""
    if config.engine == "spark":
        if data is not None:
            raise ConfigError("A data frame runs on the memory or batches engine; give Spark a "
                              "path or --table.")
        return None
    if data is not None:
        return FrameSource(data)
    if is_database_url(config.input):
        return open_database(str(config.input), table=config.table, query=config.query,
                             password=config.password, password_env=config.password_env)
    path = config.input if config.input is not None else mall_customers_path()
    return open_source(Path(path), config.format, sheet=config.sheet, decimal=config.decimal)


def estimated_memory(source: Source) -> int:
    """Rough peak bytes of an in-memory run on ``source`` (from its size on disk)."""
    factor = MEMORY_FACTOR.get(source.format, MEMORY_FACTOR["csv"])
    return int(source.size_bytes * factor) + BASE_MEMORY


def open_engine(config: RunConfig, source: Source | None, work_parent: Path | None = None
                ) -> Engine:
    """The engine ``config.engine`` names (``auto``: memory when the estimate fits the budget).

    Parameters
    ----------
    config : RunConfig
        ``engine``, ``memory_budget`` and ``batch_rows`` are used.
    source : Source or None
        The input (:func:`open_input`; None for the Spark engine, which reads its own).
    work_parent : pathlib.Path, optional
        Where the engine's work folder goes (default: the system's temporary folder).

    Returns
    -------
    Engine
        Not entered yet: use it in a ``with`` block.
    """
    kind = config.engine
    if kind == "spark":
        from custseg.engines.spark import open_spark

        return open_spark(config)
    if kind == "auto":
        fits = source.format == "dataframe" or estimated_memory(source) <= config.memory_budget
        kind = "memory" if fits else "batches"
    if kind == "memory":
        return MemoryEngine(source, work_parent)
    rows = config.batch_rows or batch_rows_for(source, config.memory_budget)
    return BatchEngine(source, work_parent, batch_rows=rows)
