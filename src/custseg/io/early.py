"""Reading the input while the program still loads: the command line's head start.

``custseg run`` spends most of a second importing scikit-learn, pandas and matplotlib, on one
core, before the pipeline opens its input. :func:`start_early_read`, called by the command line
before those imports, opens the run's input file in a background thread and, when the run will
hold it whole (the memory engine, as ``--engine auto`` would choose it), reads it too: the file's
fingerprint and Arrow's parser release the GIL, so they take the idle core. The pipeline's
:func:`custseg.engines.open_input` then :func:`takes <take_early_source>` the opened source, its
:meth:`~custseg.io.chunks.Source.read_whole` answered by the read already done: the same source
and the same read as without a head start, only earlier.

When the head start does not apply (another engine, a database, a transaction log, a format whose
reader holds the GIL) or fails, nothing changes: the run opens and reads its input itself, and an
error is reported there, as always.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from custseg.config import RunConfig
from custseg.dboptions import is_database_url

if TYPE_CHECKING:  # this module stays light: the command line imports it first
    from custseg.io.chunks import Source

#: Engines whose run could use the head start (``auto`` only when it would choose memory).
_ENGINES = ("auto", "memory")


@dataclass
class _EarlyRead:
    key: tuple
    source: Source | None = None
    done: threading.Event = field(default_factory=threading.Event)


_pending: _EarlyRead | None = None
_lock = threading.Lock()


def _key(config: RunConfig) -> tuple | None:
    """What decides the input and how it is read; None when no head start applies."""
    if (config.engine not in _ENGINES or config.transactions is not None
            or is_database_url(config.input)):
        return None
    return (None if config.input is None else str(config.input), config.format, config.sheet,
            config.decimal, config.engine, config.memory_budget)


def start_early_read(config: RunConfig) -> bool:
    """Open (and, for the memory engine, read) ``config``'s input in a background thread.

    Parameters
    ----------
    config : RunConfig
        The run about to start (``input``, ``format``, ``sheet``, ``decimal``, ``engine`` and
        ``memory_budget`` are used).

    Returns
    -------
    bool
        Whether a head start began (at most one waits at a time; a new one replaces it).
    """
    global _pending
    key = _key(config)
    if key is None:
        return False
    early = _EarlyRead(key)
    with _lock:
        _pending = early
    threading.Thread(target=_open_and_read, args=(early, config),
                     name="custseg-early-read").start()
    return True


def take_early_source(config: RunConfig) -> Source | None:
    """The source :func:`start_early_read` opened for ``config`` (waiting for its read), once;
    None when none was started for this input or it failed (open it then as usual)."""
    global _pending
    key = _key(config)
    with _lock:
        early = _pending
        if early is None or key is None or early.key != key:
            return None
        _pending = None
    early.done.wait()
    return early.source


def _open_and_read(early: _EarlyRead, config: RunConfig) -> None:
    try:
        # Imported here, in this thread: the command line goes on loading the rest meanwhile.
        from custseg.io.csvsource import CsvSource
        from custseg.io.footprint import estimated_memory
        from custseg.io.sources import ParquetSource, open_source

        if config.input is None:
            from custseg.datasets import mall_customers_path

            path = mall_customers_path()
        else:
            path = Path(config.input)
        source = open_source(path, config.format, sheet=config.sheet, decimal=config.decimal)
        # Only readers that leave the GIL to the imports; only a table the run holds whole.
        if type(source) in (CsvSource, ParquetSource) and (
                config.engine == "memory"
                or estimated_memory(source) <= config.memory_budget):
            source.ahead = source.read_all()
        early.source = source
    except Exception:  # the run opens the input itself, and reports what is wrong
        early.source = None
    finally:
        early.done.set()
