"""Opening a run's input and the engine its options name (:func:`open_input`,
:func:`open_engine`; re-exported by :mod:`custseg.engines`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from custseg.config import RunConfig
from custseg.datasets import mall_customers_path
from custseg.dboptions import is_database_url
from custseg.engines.base import Engine
from custseg.engines.batches import BatchEngine, batch_rows_for
from custseg.engines.memory import MemoryEngine
from custseg.exceptions import ConfigError
from custseg.io.chunks import Source
from custseg.io.database import open_database
from custseg.io.early import take_early_source
from custseg.io.footprint import estimated_memory
from custseg.io.sources import FrameSource, open_source


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
    early = take_early_source(config)
    if early is not None:  # opened (and read, for this engine) while the program loaded
        return early
    if is_database_url(config.input):
        return open_database(str(config.input), table=config.table, query=config.query,
                             password=config.password, password_env=config.password_env)
    path = config.input if config.input is not None else mall_customers_path()
    return open_source(Path(path), config.format, sheet=config.sheet, decimal=config.decimal)


def choose_engine(config: RunConfig, source: Source) -> tuple[str, dict]:
    """The local engine ``config.engine`` names, and why (the ``choice`` of ``segments.json``'s
    engine block): ``auto`` takes memory when the estimated peak fits ``--memory-budget``."""
    if config.engine != "auto":
        return config.engine, {"by": f"--engine {config.engine}"}
    if source.format == "dataframe":
        return "memory", {"by": "--engine auto", "reason": "a data frame is held in memory"}
    basis, how = source.memory_basis()
    peak, budget = estimated_memory(source, basis), config.memory_budget
    kind = "memory" if peak <= budget else "batches"
    size = (f"{how['rows']:,} rows × {how['row_bytes']} bytes (rows by {how['from']})"
            if "rows" in how else f"{how['bytes']:,} bytes ({how['from']})")
    verb = "fits" if kind == "memory" else "exceeds"
    return kind, {"by": "--engine auto", "estimated_peak_bytes": peak, "memory_budget": budget,
                  "basis": how, "reason": f"estimated in-memory peak {show_bytes(peak)}, from "
                  f"{size}, {verb} --memory-budget {show_bytes(budget)}"}


def show_bytes(n: int) -> str:
    """Bytes for a person.

    Examples
    --------
    >>> show_bytes(1024), show_bytes(314_572_800), show_bytes(2 * 1024**3)
    ('1 KB', '300 MB', '2.0 GB')
    """
    for unit, size in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= size:
            return f"{n / size:.1f} {unit}" if unit == "GB" else f"{n // size:,} {unit}"
    return f"{n} bytes"


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
    kind, choice = choose_engine(config, source)
    if kind == "memory":
        engine: Engine = MemoryEngine(source, work_parent)
    else:
        rows = config.batch_rows or batch_rows_for(source, config.memory_budget)
        engine = BatchEngine(source, work_parent, batch_rows=rows)
    engine.choice = choice
    return engine
