"""Speed-up of `surrogate optimize` by worker count on one PostgreSQL study: python benchmarks/optimize_workers.py

For 1, 2 and 4 worker processes sharing a fixed budget of trials (48 by default: 48, 2 x 24, 4 x 12)
on a fresh study in a throwaway PostgreSQL server (scripts/throwaway_postgres.py), prints the median
wall time over ``--repeats`` runs, the speed-up over one worker, and whether the study's best trial
matches the exhaustive optimum. Each worker is a whole process (start-up and model load included), as
on separate machines; on a 2-core machine more than two workers compete for the cores.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REQUEST = ["--model", "meta-llama/Llama-3.1-70B", "--gpus", "h100-sxm:8", "--gpus", "a100-sxm4-80gb:8",
           "--input-len", "2048", "--output-len", "512"]


def _throwaway() -> object:
    spec = importlib.util.spec_from_file_location("throwaway_postgres", REPO / "scripts" / "throwaway_postgres.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _command(*extra: str) -> list[str]:
    return [sys.executable, "-m", "surrogate", "optimize", *REQUEST, "--json", *extra]


def _run_workers(url: str, study: str, workers: int, trials: int) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    processes = [subprocess.Popen(_command("--storage", url, "--study-name", study, "--trials",
                                           str(trials // workers), "--seed", str(seed)),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
                 for seed in range(workers)]
    for process in processes:
        _, err = process.communicate()
        if process.returncode != 0:
            raise SystemExit(f"a worker failed: {err.strip()}")
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=48, help="trials per run, split among the workers")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", default="1,2,4")
    args = parser.parse_args(argv)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    exhaustive = json.loads(subprocess.run(_command("--search", "exhaustive"), check=True, capture_output=True,
                                           text=True).stdout)
    best = float(exhaustive["best"]["throughput_per_device_tok_s"])
    print(f"request: {' '.join(REQUEST)}; space {exhaustive['space_size']} configurations; "
          f"exhaustive optimum {best:,.1f} output tok/s per device")
    print(f"{'workers':>7}  {'trials':>6}  {'median wall s':>13}  {'speed-up':>8}  {'study best / optimum':>20}")
    medians: dict[int, float] = {}
    with _throwaway().throwaway_server() as url:  # type: ignore[attr-defined]
        for workers in [int(w) for w in args.workers.split(",")]:
            times, ratios = [], []
            for repeat in range(args.repeats):
                study = f"bench-{workers}-{repeat}"
                times.append(_run_workers(url, study, workers, args.trials))
                trials = optuna.load_study(study_name=study, storage=url).trials
                ratios.append(max(t.values[0] for t in trials if t.values) / best)
            medians[workers] = statistics.median(times)
            first = medians[min(medians)]
            print(f"{workers:>7}  {args.trials // workers * workers:>6}  {medians[workers]:>13.2f}  "
                  f"{first / medians[workers]:>7.2f}x  {statistics.median(ratios):>20.3f}")
    print(f"cores: {os.cpu_count()}; each run a fresh study; median of {args.repeats} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
