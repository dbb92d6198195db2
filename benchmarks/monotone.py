"""Does a bundle's prediction ever fall as the workload grows? Each measured deployment swept along its axes.

    python benchmarks/monotone.py [--model-file PATH] [--shared DIR] [--json OUT] [--quick]

Every distinct deployment of the shared rows (aggregated: hardware, model, engine, layout, formats, batching;
disaggregated: the same with each pool's shape), at its measured lengths, swept along each axis on which a
metric must not fall: requests in flight / batch size (1 to 16,384), prompt length and output length (64 to
32,768 tokens, within the model's window). Along each axis, per metric: the steps where the prediction (and
its P90) fell, counted apart where the physics of that metric fell as well (the prediction may follow it: a
closed loop's longer request arrives less often, a decode batch capped by memory runs quicker steps), and the
worst fall where the physics did not. The axes per metric are those the hypothesis tests hold the bundle to
(``tests/test_bounds.py``, ``tests/test_disaggregated_monotone.py``): static batches' latency and TTFT along all
three, served TTFT and ITL along batch and prompt; disaggregated TTFT along concurrency and prompt, ITL along
all three. What it measures is on the shared deployments, not random ones: where a user's question lies.
``--quick`` (CI) sweeps 40 deployments of each kind: it only proves the script runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features import catalog
from surrogate.ingest import load_shared
from surrogate.model import load
from surrogate.model._disaggregated import MONOTONE_AXES, complete_disaggregated, disaggregated_rows

DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "models" / "default.joblib"
GRIDS = {"batch": [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384],
         "input_len": [64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768],
         "output_len": [64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768]}
AGGREGATED_AXES: dict[str, dict[str, tuple[str, ...]]] = {"static": {"latency_s": ("batch", "input_len", "output_len"),
                              "ttft_s": ("batch", "input_len", "output_len")},
                   "continuous": {"ttft_s": ("batch", "input_len"), "itl_s": ("batch", "input_len")}}
DISAGGREGATED_AXES = {metric: tuple("batch" if a == "concurrency" else a for a in axes)
                      for metric, axes in MONOTONE_AXES.items()}
_DEPLOYMENT = ["hardware", "model", "framework", "framework_version", "tp", "pp", "dp", "ep", "weight_dtype",
               "kv_dtype", "batching", "mode", "input_len", "output_len", "prefill_workers", "decode_workers",
               "prefill_tp", "decode_tp", "prefill_dp", "decode_dp", "prefill_ep", "decode_ep"]


def _deployments(rows: pd.DataFrame, most: int | None = None) -> pd.DataFrame:
    keys = [c for c in _DEPLOYMENT if c in rows]
    out = rows.drop_duplicates(subset=keys).reset_index(drop=True)
    return out if most is None or len(out) <= most else out.sample(most, random_state=0).reset_index(drop=True)


def _set(rows: pd.DataFrame, axis: str, value: int) -> pd.DataFrame:
    if axis == "batch":
        out = rows.copy()
        for column in ("batch_size", "concurrency"):
            if column in out:
                out[column] = np.where(out[column].notna(), value, out[column])
        return out
    return rows.assign(**{axis: value})


def _window(rows: pd.DataFrame) -> np.ndarray:
    return np.array([catalog.get_model(str(m)).max_position_embeddings for m in rows["model"]], dtype=float)


def sweep(model: Any, deployments: pd.DataFrame,
          axes_by_metric: dict[str, tuple[str, ...]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per metric and axis: deployments and steps swept, falls of the prediction and of its P90 where the
    physics rose or held, falls where it fell too, and the worst ratio of a step where it did not."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    window = _window(deployments)
    for axis in sorted({a for axes in axes_by_metric.values() for a in axes}):
        grid = GRIDS[axis]
        frames = [_set(deployments, axis, v) for v in grid]
        tokens = [pd.to_numeric(f["input_len"], errors="coerce").to_numpy(dtype=float)
                  + pd.to_numeric(f["output_len"], errors="coerce").to_numpy(dtype=float) for f in frames]
        fits = np.vstack([t <= window for t in tokens])  # longer requests are refused, not predicted
        stacked = pd.concat(frames, ignore_index=True)
        inside = fits.reshape(-1)
        predicted = model.predict(stacked[inside].reset_index(drop=True))
        for metric, axes in axes_by_metric.items():
            if axis not in axes:
                continue
            values = {}
            for column in (metric, f"{metric}_p90", f"analytic_{metric}"):
                full = np.full(len(stacked), np.nan)
                full[inside] = predicted[column].to_numpy(dtype=float)
                values[column] = full.reshape(len(grid), len(deployments))
            both = np.isfinite(values[metric][1:]) & np.isfinite(values[metric][:-1])
            physics_fell = values[f"analytic_{metric}"][1:] < values[f"analytic_{metric}"][:-1] * (1 - 1e-9)
            result: dict[str, Any] = {"deployments": len(deployments), "steps": int(both.sum()),
                      "steps_physics_fell": int((both & physics_fell).sum())}
            for column, name in ((metric, "median"), (f"{metric}_p90", "p90")):
                ratio = values[column][1:] / values[column][:-1]
                fell = both & (ratio < 1 - 1e-9)
                alone = fell & ~physics_fell
                result[f"{name}_falls"] = int(alone.sum())
                result[f"{name}_falls_with_physics"] = int((fell & physics_fell).sum())
                result[f"{name}_deployments_with_a_fall"] = int(alone.any(axis=0).sum())
                result[f"{name}_worst_step"] = round(float(np.min(ratio[alone])), 3) if alone.any() else 1.0
            out.setdefault(metric, {})[axis] = result
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-file", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--shared", type=Path, default=None, help="shared datasets dir (default ../shared/datasets)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--quick", action="store_true", help="CI smoke run: 40 deployments of each kind")
    args = parser.parse_args(argv)
    most = 40 if args.quick else None
    model = load(args.model_file, trust=True)
    table = load_shared(args.shared).table
    disaggregated = disaggregated_rows(table)
    report: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
    aggregated = table[~disaggregated].reset_index(drop=True)
    for batching, axes in AGGREGATED_AXES.items():
        rows = _deployments(aggregated[aggregated["batching"].astype(str).eq(batching).to_numpy()], most)
        report[f"aggregated {batching}"] = sweep(model, rows, axes)
    report["disaggregated"] = sweep(model, _deployments(complete_disaggregated(table), most), DISAGGREGATED_AXES)
    print(f"{args.model_file.name}: each measured deployment swept along its axes; a fall counts where the "
          "physics of that metric did not fall (falls the physics made too in brackets)")
    print(f"{'deployments':<24} {'metric':<10} {'axis':<10} {'swept':>6} {'steps':>7} {'falls':>13} "
          f"{'P90 falls':>13} {'with a fall':>11} {'worst step':>10}")
    for group, metrics in report.items():
        for metric, by_axis in metrics.items():
            for axis, r in by_axis.items():
                print(f"{group:<24} {metric:<10} {axis:<10} {r['deployments']:>6} {r['steps']:>7} "
                      f"{r['median_falls']:>6} ({r['median_falls_with_physics']:>4}) "
                      f"{r['p90_falls']:>6} ({r['p90_falls_with_physics']:>4}) "
                      f"{r['median_deployments_with_a_fall']:>11} {r['median_worst_step']:>10.3f}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
