"""Shared fixtures: the bundled data, the real data sets in tests/data, and a finished run."""

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
#: Small public data sets shipped with the tests (see tests/data/README.md for sources and terms).
TEST_DATA = ROOT / "tests" / "data"
#: Optional larger data sets beside the checkout (cc_general, cdnow, franti_birch, ...).
SHARED = ROOT.parent / "shared" / "datasets"
FEATURES = ["Annual Income (k$)", "Spending Score (1-100)"]
#: Known K = 5 result on the Mall data (seed README / datasets/mall_customers/SOURCE.md):
#: (mean income, mean spending) -> size.
MALL_K5 = {(55.3, 49.5): 81, (86.5, 82.1): 39, (25.7, 79.4): 22, (88.2, 17.1): 35,
           (26.3, 20.9): 23}
MALL_SILHOUETTE = 0.5547
#: Every end-to-end run is checked on each engine: in memory, and in batches of one row, a prime
#: number of rows and more rows than the data hold (same outputs, bit for bit, on all of them).
ENGINES: dict[str, dict] = {
    "memory": {"engine": "memory"},
    "batches-1": {"engine": "batches", "batch_rows": 1},
    "batches-7": {"engine": "batches", "batch_rows": 7},
    "batches-big": {"engine": "batches", "batch_rows": 1_000_000},
}
#: The same for inputs too large for one-row batches to be quick.
LARGE_ENGINES = {name: options for name, options in ENGINES.items() if name != "batches-1"}


def find_dataset(*parts: str) -> Path | None:
    """A data set file from tests/data, else from ../shared/datasets; None if in neither.

    Plain lookup with no skipping, so it can be used at import time.
    """
    for base in (TEST_DATA, SHARED):
        path = base.joinpath(*parts)
        if path.is_file():
            return path
    return None


def shared_dataset(*parts: str) -> Path:
    """A data set file (tests/data first, then ../shared/datasets); skip the test if in neither."""
    path = find_dataset(*parts)
    if path is None:
        pytest.skip(f"data set {'/'.join(parts)} not available: not in {TEST_DATA} "
                    f"nor in {SHARED}")
    return path


@pytest.fixture(scope="session")
def mall_path() -> Path:
    return mall_customers_path()


@pytest.fixture(scope="session")
def mall_df(mall_path: Path) -> pd.DataFrame:
    return pd.read_csv(mall_path)


@pytest.fixture(scope="session", params=list(ENGINES))
def engine(request: pytest.FixtureRequest) -> dict:
    """The run options of each engine (a test taking this fixture runs once per engine)."""
    return dict(ENGINES[request.param])


@pytest.fixture(scope="session")
def mall_run(tmp_path_factory: pytest.TempPathFactory, engine: dict) -> RunResult:
    """One default run on the bundled data per engine, shared by tests that only read its outputs."""
    out = tmp_path_factory.mktemp("mall_run") / "segmentation_output"
    return run(RunConfig(out=out, **engine))


def write_csv_text(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server on 127.0.0.1, one per test process (skips without the binaries,
    unless CUSTSEG_REQUIRE_POSTGRES=1)."""
    from tests.database_support import require_postgres

    return require_postgres()


@pytest.fixture(params=["sqlite", "duckdb", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path):
    """Each database custseg reads (a test taking this fixture runs once per back-end)."""
    from tests.database_support import Backend

    return Backend(request.param, tmp_path)
