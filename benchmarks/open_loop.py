"""Open-loop prediction against MLPerf Server runs it never trained on: from the request rate alone.

    python benchmarks/open_loop.py [--shared DIR] [--quick] [--json OUT]

Trains a bundle (seed 0, no cross-validation) on the shared data without the MLPerf source, then, for
every MLPerf Server row with a measured latency, predicts from what a user would know before running
it (the deployment and the request rate, Poisson): the requests in flight per replica that Little's
law gives (``surrogate.model.predict_at_rate``), mean latency, ITL and TTFT. Prints per metric the
median measured / predicted ratio and the median APE, beside two baselines on the same rows: the
closed-loop prediction at the in-flight count the run actually had (which a user does not know
beforehand), and the achievable physics at that count; and the measured rate over the capacity the
model predicts (MLPerf runs each Server system at the highest rate its latency limits allow, so that
rate is close to the real capacity). TTFT of these rows rests on an assumed prompt
length (MLPerf does not publish it), so read it as a rough check. ``--quick`` (CI) uses 8 rows and a small
model trained on 800 rows: its numbers mean nothing, it only proves the script runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from features.configs import CONFIG_COLUMNS, normalize_configs
from surrogate.ingest import load_shared
from surrogate.model import AnalyticPredictor, predict_at_rate, train_bundle

METRICS = ["concurrency", "latency_s", "itl_s", "ttft_s"]


def _scores(measured: pd.Series, predicted: np.ndarray) -> dict[str, float]:
    ok = measured.notna().to_numpy() & np.isfinite(predicted)
    truth, guess = measured.to_numpy(dtype=float)[ok], predicted[ok]
    if not ok.any():
        return {"rows": 0}
    return {"rows": int(ok.sum()), "median_ratio": float(np.median(truth / guess)),
            "median_ape_pct": float(np.median(np.abs(guess - truth) / truth) * 100)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=None, help="shared datasets dir (default ../shared/datasets)")
    parser.add_argument("--quick", action="store_true",
                        help="CI smoke run: 8 MLPerf rows, a small uncalibrated model on 800 training rows")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args(argv)
    table = load_shared(args.shared).table
    mlperf = table["source"].eq("mlperf")
    server = table[mlperf & table["request_rate_per_s"].notna() & table["latency_s"].notna()].reset_index(drop=True)
    if args.quick:
        server = server.head(8)
    start = time.perf_counter()
    train = table[~mlperf].reset_index(drop=True)
    params = {}
    if args.quick:
        train = train.sample(n=min(800, len(train)), random_state=0).reset_index(drop=True)
        params = {"n_estimators": 20, "calibrate": False}
    model = train_bundle(train, seed=0, cv_folds=0, **params)
    trained_s = time.perf_counter() - start
    cfg = normalize_configs(server[[c for c in CONFIG_COLUMNS if c in server]])
    settled, problems = predict_at_rate(model, cfg, server["request_rate_per_s"].to_numpy(dtype=float))
    closed = model.predict(cfg, normalized=True)
    physics = AnalyticPredictor().predict(cfg, normalized=True)
    # Rows over the predicted capacity have no open-loop prediction (every row, if the model says so).
    open_loop = settled.reindex(index=cfg.index, columns=list(dict.fromkeys([*settled.columns, *METRICS])))
    results: dict[str, dict[str, dict[str, float]]] = {}
    for metric in METRICS:
        results[metric] = {"open loop (rate only)": _scores(server[metric], open_loop[metric].to_numpy(dtype=float))}
        if metric != "concurrency":
            results[metric]["closed loop at the run's in-flight count"] = _scores(
                server[metric], closed[metric].to_numpy(dtype=float))
            results[metric]["achievable physics at that count"] = _scores(
                server[metric], physics[metric].to_numpy(dtype=float))
    # Capacity: the most requests/s the model says each deployment serves (at the most sequences its KV
    # cache holds). MLPerf tunes every Server run to the highest rate its latency limits allow, so the
    # measured rate is the real capacity, give or take those limits.
    light, _ = predict_at_rate(model, cfg, 1e-6)
    capacity = light.reindex(cfg.index)["capacity_req_s"].to_numpy(dtype=float)
    rate_over_capacity = server["request_rate_per_s"].to_numpy(dtype=float) / capacity
    results["capacity_req_s"] = {"measured rate / predicted capacity": {
        "rows": int(np.isfinite(rate_over_capacity).sum()),
        "median_ratio": float(np.nanmedian(rate_over_capacity)),
        "median_ape_pct": float(np.nanmedian(np.abs(1.0 / rate_over_capacity - 1.0)) * 100)}}
    print(f"MLPerf Server rows: {len(server)} ({len(problems)} over the predicted capacity, left out of the "
          f"open-loop scores); model trained without MLPerf in {trained_s:.0f} s")
    print(f"{'metric':<12} {'prediction':<42} {'rows':>5} {'measured/predicted':>19} {'median APE %':>13}")
    for metric, rows in results.items():
        for name, score in rows.items():
            if score["rows"]:
                print(f"{metric:<12} {name:<42} {score['rows']:>5} {score['median_ratio']:>19.2f} "
                      f"{score['median_ape_pct']:>13.1f}")
    if args.json is not None:
        args.json.write_text(json.dumps({"rows": len(server), "over_capacity": len(problems), "results": results},
                                        indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
