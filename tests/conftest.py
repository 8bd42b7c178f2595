"""Shared fixtures: the bundled data, the shared real data sets, and a finished run."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from custseg.config import RunConfig
from custseg.datasets import mall_customers_path
from custseg.pipeline import RunResult, run

if os.environ.get("PYTEST_XDIST_WORKER"):
    # Parallel workers each running multi-threaded OpenMP/BLAS on 2 cores thrash (7x slower);
    # one thread per worker keeps both cores busy without oversubscription.
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"
FEATURES = ["Annual Income (k$)", "Spending Score (1-100)"]
#: Known K = 5 result on the Mall data (seed README / datasets/mall_customers/SOURCE.md):
#: (mean income, mean spending) -> size.
MALL_K5 = {(55.3, 49.5): 81, (86.5, 82.1): 39, (25.7, 79.4): 22, (88.2, 17.1): 35,
           (26.3, 20.9): 23}
MALL_SILHOUETTE = 0.5547


def shared_dataset(*parts: str) -> Path:
    """A file of ../shared/datasets; the test is skipped only if the folder is not there."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data set {path} not available")
    return path


@pytest.fixture(scope="session")
def mall_path() -> Path:
    return mall_customers_path()


@pytest.fixture(scope="session")
def mall_df(mall_path: Path) -> pd.DataFrame:
    return pd.read_csv(mall_path)


@pytest.fixture(scope="session")
def mall_run(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    """One default run on the bundled data, shared by tests that only read its outputs."""
    out = tmp_path_factory.mktemp("mall_run") / "segmentation_output"
    return run(RunConfig(out=out))


def write_csv_text(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path
