"""Every script in benchmarks/ runs, in a small configuration, so none can rot unnoticed.

The numbers of these runs mean nothing (a few repeats, a sample of rows, small models); the README's
numbers come from the full runs in scripts/reproduce.sh. Scripts that read the shared data skip without it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from _llama import SERVER, unavailable
from _tiny_model import tiny_model

from surrogate.ingest import SHARED_SOURCES, shared_datasets_dir

REPO = Path(__file__).resolve().parents[1]
_SHARED = all((shared_datasets_dir() / folder).exists() for folder in SHARED_SOURCES.values())

# (script, arguments, a line its output must hold, needs the shared data)
RUNS = [
    ("achievable.py", ["--quick"], "Leave one accelerator out of the fit", True),
    ("closed_loop.py", ["--quick"], "interpolation (checkerboard held out)", True),
    ("disaggregated.py", ["--quick"], "leave one model out  disaggregated", True),
    ("disaggregated_physics.py", [], "tensorrt-llm", True),
    ("ingest_cache.py", ["--repeats", "1"], "the same table", True),
    ("memory_check.py", ["--out", "{tmp}/memory_check.txt"], "predicted not to fit", True),
    ("monotone.py", ["--quick"], "disaggregated            itl_s      output_len", True),
    ("open_loop.py", ["--quick"], "measured rate / predicted capacity", True),
    ("expert_parallel.py", [], "expert parallel, attention data parallel", True),
    ("optimize_speed.py", ["--repeats", "1", "--cores", "", "--only", "64 users"],
     "configurations evaluated", False),
    ("optimize_workers.py", ["--trials", "6", "--repeats", "1", "--workers", "1,2"], "worker", False),
    ("prior_splits.py", ["--quick", "--by-fold"], "  sequences >= 32", True),
    ("optimizer_quality.py", ["--budgets", "10", "--seeds", "0"], "", False),
    ("regret.py", ["--folds", "2", "--n-estimators", "10"], "median regret", True),
    ("roofline_baseline.py", [], "", True),
    ("slo_accuracy.py", ["--draws", "3"], "median APE", True),
    # A tiny bundle: compiling the default's trees would take half a minute of the smoke run.
    ("speed.py", ["--rows", "2000", "--repeats", "1", "--skip-train", "--model-file", "{tmp}/tiny.joblib"],
     "configurations/s", False),
    ("startup.py", ["--repeats", "1"], "", False),
]


def test_every_benchmark_script_is_run_here() -> None:
    scripts = {p.name for p in (REPO / "benchmarks").glob("*.py")}
    assert scripts == {run[0] for run in RUNS}


@pytest.mark.parametrize(("script", "args", "expected", "needs_shared"), RUNS, ids=[r[0] for r in RUNS])
def test_benchmark_script_runs(script: str, args: list[str], expected: str, needs_shared: bool,
                               tmp_path: Path) -> None:
    if needs_shared and not _SHARED:
        pytest.skip("shared datasets not present")
    if script == "closed_loop.py":  # runs a real llama-server
        try:
            SERVER.find_binary()
        except SERVER.LlamaServerUnavailable as exc:
            unavailable(exc)
    if "{tmp}/tiny.joblib" in args:
        tiny_model().save(tmp_path / "tiny.joblib")
    command = [sys.executable, str(REPO / "benchmarks" / script), *(a.format(tmp=tmp_path) for a in args)]
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert expected in done.stdout + done.stderr
