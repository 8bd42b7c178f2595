"""Shared by the model-file, scoring and ``custseg predict`` tests: fits made once per process."""

from __future__ import annotations

import atexit
import functools
import json
import pickle
import shutil
import tempfile
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from custseg.config import CLUSTER_COLUMN, RunConfig
from custseg.datasets import mall_customers_path
from custseg.modelfile import MODEL_FILE, SegmentModel, checksum, save_model
from custseg.pipeline import RunResult, run
from tests.conftest import TEST_DATA, find_dataset, shared_dataset

MALL_FEATURES = ("Annual Income (k$)", "Spending Score (1-100)")
WHOLESALE_PARTS = ("wholesale", "wholesale_customers.csv")
#: Shipped in tests/data; if it is ever missing, this is where it is expected and
#: ``wholesale_path()`` skips the tests that need it instead of failing.
WHOLESALE = find_dataset(*WHOLESALE_PARTS) or TEST_DATA.joinpath(*WHOLESALE_PARTS)
WHOLESALE_FEATURES = ("Fresh", "Milk", "Grocery", "Frozen", "Detergents_Paper", "Delicassen")
PICKLE_FILE = "kmeans_customer_segmentation_model.pkl"


def wholesale_path() -> Path:
    """The wholesale data set; skips the calling test if it is in neither data folder."""
    return shared_dataset(*WHOLESALE_PARTS)


@functools.cache
def _runs_folder() -> Path:
    """One temporary folder per process for the runs of :func:`fitted`, removed at exit."""
    folder = Path(tempfile.mkdtemp(prefix="custseg-predict-tests-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


@functools.cache
def fitted(dataset: str) -> tuple[RunResult, SegmentModel]:
    """``run`` on a real data set (K chosen by the data; outputs written to a temporary folder,
    so ``result.clustered`` holds the run's segment of every customer) and its model."""
    out = _runs_folder() / dataset / "segmentation_output"
    if dataset == "mall":
        config = RunConfig(input=mall_customers_path(), out=out)
    elif dataset == "wholesale":
        config = RunConfig(input=wholesale_path(), features=WHOLESALE_FEATURES, out=out)
    else:  # pragma: no cover
        raise ValueError(dataset)
    result = run(config)
    return result, result.model()


@functools.cache
def _run_clusters(dataset: str) -> tuple[int, ...]:
    return tuple(fitted(dataset)[0].clustered[CLUSTER_COLUMN].tolist())


def run_clusters(dataset: str) -> np.ndarray:
    """The ``Cluster`` the run of :func:`fitted` gave each valid customer, in input order (read
    from the clustered file it wrote: the run keeps no per-customer labels)."""
    return np.array(_run_clusters(dataset), dtype=np.int64)


def input_path(dataset: str) -> Path:
    return mall_customers_path() if dataset == "mall" else wholesale_path()


def run_folder(folder: Path, dataset: str = "mall") -> Path:
    """A run's output folder as predict sees it: the JSON model and the seed's pickle."""
    result, model = fitted(dataset)
    folder.mkdir(parents=True, exist_ok=True)
    save_model(model, folder / MODEL_FILE)
    joblib.dump(result.segmenter.to_pipeline(), folder / PICKLE_FILE)
    return folder


def read_scored(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"Segment": str}, keep_default_na=False)


def rewrite(path: Path, edit, fix_checksum: bool = True) -> Path:
    """Apply ``edit`` to the model document in ``path``; recompute its checksum if asked."""
    document = json.loads(path.read_text(encoding="utf-8"))
    edit(document)
    if fix_checksum:
        document["checksum_sha256"] = checksum(document)
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


class CreatesFile:
    """Unpickling this calls ``open(path, "w")``: proof of code execution is the file existing."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def malicious_pickle(target: Path) -> bytes:
    return pickle.dumps(CreatesFile(str(target)), protocol=pickle.HIGHEST_PROTOCOL)
