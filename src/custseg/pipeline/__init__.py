"""The segmentation job, written once for every engine: :func:`run`, :func:`segment`,
:func:`evaluate_k`, and :func:`compare` for two finished runs."""

from custseg.pipeline.compare import compare
from custseg.pipeline.jobs import evaluate_k, run, segment
from custseg.pipeline.result import KChoiceResult, Rows, RunResult

__all__ = ["KChoiceResult", "Rows", "RunResult", "compare", "evaluate_k", "run", "segment"]
