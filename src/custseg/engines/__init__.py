"""Engines: where a run's rows live, behind one interface (:class:`~custseg.engines.base.Engine`).

- ``memory`` (:mod:`~custseg.engines.memory`): the table read whole and held.
- ``batches`` (:mod:`~custseg.engines.batches`): Arrow record batches; memory bounded by the batch.
- ``spark`` (:mod:`~custseg.engines.spark`): Apache Spark reads, checks, aggregates and writes.

:func:`open_engine` picks one from a run's options (``--engine auto`` takes batches when the
in-memory engine would not fit ``--memory-budget``: a file weighed by its size, a database table
or query by its estimated rows, :mod:`custseg.io.dbsize`). A new engine is a new back-end of the
interface, never a copy of the pipeline.

The package imports its modules when a name is first used
(:func:`custseg.optional.lazy_exports`): scoring with a saved model needs the kernels, not the
engines or scikit-learn, and starts half a second sooner.
"""

from custseg.optional import lazy_exports

#: Each public name and the module that defines it.
_EXPORTS = {
    "AssignedBatch": "custseg.engines.base",
    "Engine": "custseg.engines.base",
    "Observer": "custseg.engines.base",
    "BatchEngine": "custseg.engines.batches",
    "MemoryEngine": "custseg.engines.memory",
    "estimated_memory": "custseg.io.footprint",
    "choose_engine": "custseg.engines.opening",
    "open_engine": "custseg.engines.opening",
    "open_input": "custseg.engines.opening",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
