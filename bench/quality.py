"""Fit quality at the true K: centroid index (CI) and time, custseg against scikit-learn.

CI (Fränti et al. 2014) counts wrongly placed clusters: 0 means every true cluster got exactly
one centroid. Runs on Fränti's benchmark sets in ../shared/datasets, standardised, seeds 0..4.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler

from custseg.segmentation.kmeans import fit_kmeans
from custseg.segmentation.metrics import centroid_index

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
SETS = {
    "s1": ("franti_s_sets", "s1"), "s2": ("franti_s_sets", "s2"), "s3": ("franti_s_sets", "s3"),
    "s4": ("franti_s_sets", "s4"), "a1": ("franti_a_sets", "a1"), "a2": ("franti_a_sets", "a2"),
    "a3": ("franti_a_sets", "a3"), "unbalance": ("franti_unbalance", "unbalance"),
    "birch1": ("franti_birch", "birch1"),
}
METHODS = ("scikit-learn default (1 start)", "scikit-learn n_init=10", "custseg")


def load(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Standardised data and true centroids (the authors' for s-sets, label means otherwise)."""
    folder, stem = SETS[name]
    base = SHARED / folder
    if name.startswith("birch"):
        X = np.loadtxt(base / f"{stem}.data.gz")
        labels = np.loadtxt(base / f"{stem}.labels0.gz", dtype=int)
    else:
        X = np.loadtxt(base / f"{stem}.txt")
        labels = np.loadtxt(base / f"{stem}-labels.txt", dtype=int)
    if name.startswith("s"):
        truth = np.loadtxt(base / f"{stem}-cb.txt", delimiter=",")
    else:
        truth = np.array([X[labels == g].mean(axis=0) for g in np.unique(labels)])
    scaler = StandardScaler().fit(X)
    return scaler.transform(X), scaler.transform(truth)


def fit(method: str, Z: np.ndarray, k: int, seed: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if method == METHODS[0]:
            return KMeans(k, random_state=seed).fit(Z).cluster_centers_
        if method == METHODS[1]:
            return KMeans(k, n_init=10, random_state=seed).fit(Z).cluster_centers_
        return fit_kmeans(Z, k, seed=seed).centers


def run(names: list[str] | None = None, seeds: range = range(5)) -> str:
    """Markdown table: per set and method, CI per seed, runs with CI = 0, mean seconds."""
    lines = ["| set | K | method | CI per seed | CI = 0 | mean time (s) | time vs sklearn n_init=10 |",
             "|---|---|---|---|---|---|---|"]
    for name in names or list(SETS):
        Z, truth = load(name)
        k = len(truth)
        results: dict[str, tuple[list[int], float]] = {}
        for method in METHODS:
            cis, elapsed = [], []
            for seed in seeds:
                start = time.perf_counter()
                centers = fit(method, Z, k, seed)
                elapsed.append(time.perf_counter() - start)
                cis.append(centroid_index(centers, truth))
            results[method] = (cis, float(np.mean(elapsed)))
        reference = results[METHODS[1]][1]
        for method, (cis, seconds) in results.items():
            lines.append(f"| {name} | {k} | {method} | {' '.join(map(str, cis))} | "
                         f"{sum(c == 0 for c in cis)}/{len(cis)} | {seconds:.2f} | "
                         f"{seconds / reference:.1f}x |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
