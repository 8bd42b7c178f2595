"""The public :func:`run`, :func:`segment` and :func:`evaluate_k`: a customer table goes straight to
:mod:`custseg.pipeline.stages`; a transaction log (``RunConfig.transactions``) is first
aggregated to customers by :mod:`custseg.pipeline.transactions`, then takes the same stages."""

from __future__ import annotations

import functools

import pandas as pd

from custseg.config import RunConfig
from custseg.pipeline import stages
from custseg.pipeline.result import KChoiceResult, RunResult
from custseg.progress import Progress


@functools.wraps(stages.run)
def run(config: RunConfig | None = None, *, data: pd.DataFrame | None = None,
        progress: Progress | None = None, **options: object) -> RunResult:
    config = config or RunConfig()
    if options:
        config = config.with_(**options)
    if config.transactions is not None:
        from custseg.pipeline.transactions import run_transactions  # only for purchase logs

        return run_transactions(config, data, progress)
    return stages.run(config, data=data, progress=progress)


@functools.wraps(stages.segment)
def segment(config: RunConfig | None = None, *, data: pd.DataFrame | None = None,
            progress: Progress | None = None) -> RunResult:
    if config is not None and config.transactions is not None:
        from custseg.pipeline.transactions import segment_transactions

        return segment_transactions(config, data, progress)
    return stages.segment(config, data=data, progress=progress)


@functools.wraps(stages.evaluate_k)
def evaluate_k(config: RunConfig | None = None, *, data: pd.DataFrame | None = None,
               progress: Progress | None = None, write: bool = True) -> KChoiceResult:
    if config is not None and config.transactions is not None:
        from custseg.pipeline.transactions import evaluate_k_transactions

        return evaluate_k_transactions(config, data, progress, write)
    return stages.evaluate_k(config, data=data, progress=progress, write=write)
