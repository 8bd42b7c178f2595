"""custseg: customer segmentation for retailers.

Public API (imported lazily, so ``import custseg`` is cheap):

- :class:`Segmenter`: scikit-learn style estimator (``fit``, ``predict``, ``transform``...).
- :func:`run`: the whole pipeline, outputs written; :func:`segment`: the same, nothing written.
- :func:`evaluate_k`: the evidence for K (what ``custseg choose-k`` prints).
- :func:`load_model`: a saved model file, to score new customers (``predict``, ``score``).
- :func:`compare`: migration and drift between two finished runs.
- :class:`RunConfig`: options of a run; :class:`RunResult`: what a run computed.
- :class:`TransactionOptions`: how to read a transaction log (``RunConfig(transactions=...)``).

Examples
--------
>>> import custseg
>>> custseg.__version__.count(".")
2
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from custseg._version import __version__

if TYPE_CHECKING:
    from custseg.config import RunConfig, TransactionOptions
    from custseg.modelfile import load_model
    from custseg.pipeline import KChoiceResult, RunResult, compare, evaluate_k, run, segment
    from custseg.segmentation.estimator import Segmenter

_LAZY = {
    "RunConfig": "custseg.config",
    "Segmenter": "custseg.segmentation.estimator",
    "RunResult": "custseg.pipeline",
    "run": "custseg.pipeline",
    "segment": "custseg.pipeline",
    "evaluate_k": "custseg.pipeline",
    "compare": "custseg.pipeline",
    "KChoiceResult": "custseg.pipeline",
    "load_model": "custseg.modelfile",
    "TransactionOptions": "custseg.config",
}

__all__ = [
    "KChoiceResult",
    "RunConfig",
    "RunResult",
    "Segmenter",
    "TransactionOptions",
    "__version__",
    "compare",
    "evaluate_k",
    "load_model",
    "run",
    "segment",
]


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'custseg' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
