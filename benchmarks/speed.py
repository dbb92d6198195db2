"""Prediction throughput and training time, as medians of repeated runs.

    python benchmarks/speed.py [--rows 200000] [--repeats 5] [--model-file PATH] [--skip-train]

Ingest: ``load_shared`` over ``../shared/datasets`` (what the data tests load once per run).
Prediction: a batch of distinct configurations (hardware x model x framework x layout x workload)
through ``SurrogateModel.predict`` end to end (normalisation, analytic model, features, support checks,
3 median models), three ways: trees compiled to machine code (``surrogate compile``; compiled first, its
time printed apart) with the table split over worker processes already started
(``surrogate.model.start_workers()``, their start-up printed apart), the same in one process
(``SURROGATE_JOBS=1``), and with LightGBM's own predictor (``SURROGATE_COMPILED_TREES=never``).
Training: ``train_bundle`` on every shared row, as `surrogate train` does by default (no cross-validation).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import time
from pathlib import Path

import pandas as pd

from surrogate.ingest import load_shared
from surrogate.model import (
    SurrogateModel,
    _compiled,
    _workers,
    load,
    load_default,
    start_workers,
    train_bundle,
    training_rows,
)

# Prediction speed on a quiet 2-core machine when issue 15 was filed (configurations per second).
_ISSUE_BASELINE = 12_600


def configurations(rows: int) -> pd.DataFrame:
    """A grid of valid deployments, repeated with varied lengths up to ``rows`` rows."""
    grid = itertools.product(
        ["h100-sxm", "a100-sxm4-80gb", "h200", "b200", "mi300x", "l40s"],
        ["meta-llama/Meta-Llama-3-8B", "meta-llama/Llama-3.1-70B", "mistralai/Mixtral-8x7B-v0.1", "Qwen/Qwen3-32B"],
        ["vllm", "sglang"], [1, 2, 4, 8], [1, 8, 32, 128], ["static", "continuous"],
    )
    base = pd.DataFrame([{"hardware": hw, "model": m, "framework": fw, "tp": tp, "batch_size": b, "concurrency": b,
                          "batching": batching, "weight_dtype": "bf16"}
                         for hw, m, fw, tp, b, batching in grid])
    reps = -(-rows // len(base))
    table = pd.concat([base] * reps, ignore_index=True).head(rows)
    table["input_len"] = 128 + (table.index.to_numpy() * 37) % 4000
    table["output_len"] = 64 + (table.index.to_numpy() * 11) % 2000
    return table


def _median_seconds(func: object, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--model-file", type=Path, default=None)
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)

    results: dict[str, float] = {}
    ingest_repeats = max(1, min(3, args.repeats))
    seconds = _median_seconds(load_shared, ingest_repeats)
    results["ingest_shared_median_s"] = seconds
    print(f"ingest: the shared datasets read, checked and merged in {seconds:.2f} s (median of {ingest_repeats})")
    table = None if args.skip_train else load_shared().table
    if args.model_file:
        model = load(args.model_file)
    else:
        try:
            model = load_default()
        except Exception:  # noqa: BLE001 - no default bundle yet: train one for the measurement
            table = load_shared().table if table is None else table
            model = SurrogateModel(seed=0).fit(training_rows(table))
    configs = configurations(args.rows)
    start = time.perf_counter()
    compiled = all(model.compile_trees().values())
    results["compile_s"] = time.perf_counter() - start
    print(f"compile: {'trees compiled or read from the cache' if compiled else 'not compiled: ' + _compiled.status()}"
          f" in {results['compile_s']:.1f} s")
    model.predict(configs.head(1000))  # warm caches (catalog, model configs)
    start = time.perf_counter()
    workers = start_workers()
    results["start_workers_s"] = time.perf_counter() - start
    results["workers"] = workers
    print(f"workers: {workers} worker process(es) started in {results['start_workers_s']:.1f} s (once per process; "
          "a prediction below 600,000 rows does not start them itself)")
    model.predict(configs)  # each worker unpickles the bundle and reads its compiled trees once
    runs = [("compiled trees, worker processes", "auto", None), ("compiled trees, one process", "auto", "1"),
            ("LightGBM trees, worker processes", "never", None)]
    for label, policy, jobs in runs if compiled else runs[2:]:
        os.environ[_compiled.POLICY_ENV] = policy
        if jobs is None:
            os.environ.pop(_workers.JOBS_ENV, None)
        else:
            os.environ[_workers.JOBS_ENV] = jobs
        seconds = _median_seconds(lambda: model.predict(configs), args.repeats)
        key = {"compiled trees, worker processes": "predict", "compiled trees, one process": "predict_one_process",
               "LightGBM trees, worker processes": "predict_lightgbm"}[label]
        results[f"{key}_rows"] = len(configs)
        results[f"{key}_median_s"] = seconds
        results[f"{key}_configs_per_s"] = len(configs) / seconds
        print(f"predict ({label}): {len(configs):,} configurations in {seconds:.2f} s (median of {args.repeats}) = "
              f"{len(configs) / seconds:,.0f} configurations/s; aim >= 200,000/s -> ratio "
              f"{len(configs) / seconds / 200_000:.2f}; {len(configs) / seconds / _ISSUE_BASELINE:.1f}x the "
              f"{_ISSUE_BASELINE:,}/s the issue measured")
    os.environ.pop(_compiled.POLICY_ENV, None)
    os.environ.pop(_workers.JOBS_ENV, None)
    if not args.skip_train:
        train_repeats = max(1, min(3, args.repeats))
        seconds = _median_seconds(lambda: train_bundle(table, seed=0), train_repeats)
        results["train_median_s"] = seconds
        results["train_rows"] = len(training_rows(table))
        print(f"train: {results['train_rows']:,} rows in {seconds:.1f} s (median of {train_repeats}); "
              f"aim <= 60 s -> ratio {seconds / 60:.2f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
