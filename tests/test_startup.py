"""The program's start-up (custseg.cli.startup): one BLAS thread, scipy.stats deferred.

Deferring a module changes the whole process's imports, so every check runs in a fresh
interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import MALL_K5

ROOT = Path(__file__).resolve().parents[1]


def _python(code: str, env: dict[str, str] | None = None) -> dict:
    """Run ``code`` in a new interpreter; it prints one JSON object, returned here."""
    environment = {**os.environ, **(env or {})}
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src"), str(ROOT), environment.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env=environment, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_whole_run_never_loads_scipy_stats(tmp_path):
    out = _python(f"""
        import json, sys
        from custseg.cli.startup import prepare_process, is_deferred
        prepare_process()
        from custseg.pipeline import run
        result = run(out={str(tmp_path / "out")!r}, seed=0)
        print(json.dumps({{"deferred": is_deferred("scipy.stats"),
                          "loaded": "scipy.stats._stats_py" in sys.modules,
                          "sizes": result.profiles.sizes.tolist()}}))
    """)
    assert out["deferred"]
    assert not out["loaded"]
    assert sorted(out["sizes"]) == sorted(MALL_K5.values())


def test_blas_threads_left_to_the_environment_when_it_says():
    code = """
        import json, os
        from custseg.cli.startup import prepare_process
        prepare_process()
        print(json.dumps({"blas": os.environ["OPENBLAS_NUM_THREADS"]}))
    """
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=120, check=True,
                          env={**env, "PYTHONPATH": str(ROOT / "src")})
    assert json.loads(done.stdout)["blas"] == "1"
    assert _python(code, env={"OPENBLAS_NUM_THREADS": "3"})["blas"] == "3"


def test_forwarded_names_behave_as_the_real_objects():
    out = _python("""
        import json
        from custseg.cli.startup import defer_module, is_deferred
        defer_module("scipy.stats", ("rankdata", "chi2"))
        from scipy.stats import chi2, rankdata      # as scikit-learn imports them
        before = is_deferred("scipy.stats")
        ranks = rankdata([30, 10, 20, 20]).tolist()
        after = is_deferred("scipy.stats")
        import scipy.stats
        print(json.dumps({"before": before, "after": after, "ranks": ranks,
                          "isf": chi2.isf(0.05, 2),
                          "real": scipy.stats.rankdata is not rankdata
                                  and scipy.stats.rankdata.__module__.startswith("scipy")}))
    """)
    assert out["before"]
    assert not out["after"]
    assert out["ranks"] == [4.0, 1.0, 2.5, 2.5]
    assert out["isf"] == pytest.approx(5.991464547107979)
    assert out["real"]


@pytest.mark.parametrize("first", [
    "scipy.stats.norm.cdf(0.0)",                                     # a public attribute
    "__import__('scipy.stats._stats_py') and scipy.stats.norm.cdf(0.0)",  # a submodule first
    "__import__('scipy.stats', fromlist=['norm']).norm.cdf(0.0)",    # from scipy.stats import
])
def test_the_module_loads_whole_on_first_use(first):
    out = _python(f"""
        import json, sys
        from custseg.cli.startup import defer_module, is_deferred
        import scipy
        defer_module("scipy.stats")
        import scipy.stats
        value = {first}
        print(json.dumps({{"value": float(value), "deferred": is_deferred("scipy.stats"),
                          "same": sys.modules["scipy.stats"] is scipy.stats,
                          "ttest": hasattr(scipy.stats, "ttest_ind")}}))
    """)
    assert out == {"value": 0.5, "deferred": False, "same": True, "ttest": True}


def test_concurrent_first_uses_load_once():
    out = _python("""
        import json, threading
        from custseg.cli.startup import defer_module
        module = defer_module("scipy.stats")
        results = []
        threads = [threading.Thread(target=lambda: results.append(module.norm.cdf(0.0)))
                   for _ in range(4)]
        for thread in threads: thread.start()
        for thread in threads: thread.join()
        print(json.dumps({"results": results}))
    """)
    assert out["results"] == [0.5] * 4


def test_nothing_deferred_when_loaded_already_or_missing():
    out = _python("""
        import json
        import scipy.stats
        from custseg.cli.startup import defer_module
        print(json.dumps({"loaded": defer_module("scipy.stats") is None,
                          "missing": defer_module("no_such_module_here") is None,
                          "missing_child": defer_module("scipy.no_such_child") is None}))
    """)
    assert out == {"loaded": True, "missing": True, "missing_child": True}


def test_the_program_runs_the_seed_job_with_startup_applied(tmp_path):
    """customer_segmentation.py goes through command(), hence prepare_process()."""
    done = subprocess.run([sys.executable, str(ROOT / "customer_segmentation.py"), "--out",
                           str(tmp_path / "out"), "--quiet", "--seed", "0"],
                          capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "out" / "segments.json").read_text())
    assert summary["k"] == 5


@pytest.mark.slow
@pytest.mark.parametrize("rows", [100_000, 140_000])
def test_numba_is_loaded_only_for_runs_that_use_compiled_kernels(tmp_path, rows):
    """Below COMPILED_MIN_ROWS (2^17) rows nothing is compiled, so nothing may load Numba (half a
    second): not the parsing, the clustered lines or the warm-up of a 2 MB file."""
    rng = np.random.default_rng(rows)
    income = rng.integers(15, 140, rows)
    table = pd.DataFrame({"CustomerID": np.arange(1, rows + 1),
                          "Gender": rng.choice(["Male", "Female"], rows),
                          "Age": rng.integers(18, 70, rows), "Annual Income (k$)": income,
                          "Spending Score (1-100)": rng.integers(1, 101, rows)})
    path = tmp_path / "customers.csv"
    table.to_csv(path, index=False)
    out = _python(f"""
        import json, sys
        from custseg.pipeline import run
        run(input={str(path)!r}, out={str(tmp_path / "out")!r}, k=5, seed=0)
        print(json.dumps({{"numba": "numba" in sys.modules}}))
    """)
    assert out["numba"] == (rows >= 1 << 17)


def test_scoring_with_a_model_file_never_imports_scikit_learn(tmp_path):
    """``custseg predict`` with custseg's model file needs NumPy and Arrow, not scikit-learn (half
    a second of imports): the packages export their names lazily."""
    from custseg.datasets import mall_customers_path
    from custseg.modelfile import MODEL_FILE, save_model
    from custseg.pipeline import segment

    model = save_model(segment().model(), tmp_path / MODEL_FILE)
    out = _python(f"""
        import json, sys
        from custseg.cli import main
        from custseg.cli.startup import prepare_process
        prepare_process()  # as the program does first
        try:
            main(["predict", {str(mall_customers_path())!r}, "--model", {str(model)!r},
                  "--out", {str(tmp_path / "scored.csv")!r}, "--quiet"])
        except SystemExit as exit:
            assert not exit.code, exit.code
        print(json.dumps({{"sklearn": sorted(m for m in sys.modules if m.startswith("sklearn"))}}))
    """)
    assert out["sklearn"] == []
    assert len((tmp_path / "scored.csv").read_text().splitlines()) == 201
