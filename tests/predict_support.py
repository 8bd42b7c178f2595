"""Shared by the model-file, scoring and ``custseg predict`` tests: fits made once per process."""

from __future__ import annotations

import functools
import json
import pickle
from pathlib import Path

import joblib
import pandas as pd

from custseg.config import RunConfig
from custseg.datasets import mall_customers_path
from custseg.modelfile import MODEL_FILE, SegmentModel, checksum, model_from_result, save_model
from custseg.pipeline import RunResult, segment
from tests.conftest import SHARED

MALL_FEATURES = ("Annual Income (k$)", "Spending Score (1-100)")
WHOLESALE = SHARED / "wholesale" / "wholesale_customers.csv"
WHOLESALE_FEATURES = ("Fresh", "Milk", "Grocery", "Frozen", "Detergents_Paper", "Delicassen")
PICKLE_FILE = "kmeans_customer_segmentation_model.pkl"


@functools.cache
def fitted(dataset: str) -> tuple[RunResult, SegmentModel]:
    """``segment`` on a real data set (K chosen by the data) and the model built from it."""
    if dataset == "mall":
        config = RunConfig(input=mall_customers_path())
    elif dataset == "wholesale":
        config = RunConfig(input=WHOLESALE, features=WHOLESALE_FEATURES)
    else:  # pragma: no cover
        raise ValueError(dataset)
    result = segment(config)
    return result, model_from_result(result)


def input_path(dataset: str) -> Path:
    return mall_customers_path() if dataset == "mall" else WHOLESALE


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
