"""The achievable model alone against measurements, beside the peak roofline: in sample and held out.

    python benchmarks/achievable.py [--shared DIR] [--json OUT] [--quick]

Prints, on the training rows of the shared data (faster-than-physics rows left out):

1. the rows the peers were scored on (LLM-Inference-Bench, NVIDIA A100/H100, vLLM and TensorRT-LLM,
   Meta-Llama-3-8B/70B and Mixtral-8x7B; static batch latency): MAPE of the peak roofline, of the
   peak x 2, and of the achievable model with its parameters fitted (a) on all rows, (b) on every
   row except that source (so those rows are unseen by the fit), (c) leaving each of their
   accelerators out in turn; peers on the same rows: AIConfigurator 31.7%, llm-analysis 37.6%,
   GenZ 53.4% (issue 10);
2. per source x vendor and metric, the median measured / predicted for peak and achievable
   (aim: 0.8-1.25 for achievable);
3. leave-one-hardware-out for the achievable model itself: for each accelerator, parameters refit
   without its rows, then median APE and median ratio on its rows, beside the peak roofline.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from features.analytic import estimate
from features.configs import CONFIG_COLUMNS, gather_specs, normalize_configs
from features.efficiency import Efficiency
from surrogate.ingest import load_shared
from surrogate.model import fit_efficiency, training_rows

METRICS = ["latency_s", "ttft_s", "itl_s"]
PEER_HARDWARE = ("a100-sxm4-40gb", "a100-sxm4-80gb", "h100-sxm", "h100-pcie")
PEER_MODELS = ("meta-llama/Meta-Llama-3-8B", "meta-llama/Meta-Llama-3-70B", "mistralai/Mixtral-8x7B-v0.1")
PEERS = {"AIConfigurator 0.12": 31.7, "llm-analysis": 37.6, "GenZ": 53.4}


def _predict(rows: pd.DataFrame, cfg: pd.DataFrame, efficiency: Efficiency) -> pd.DataFrame:
    return estimate(cfg, normalized=True, efficiency=efficiency).set_index(rows.index)


def _mape(measured: pd.Series, predicted: pd.Series) -> float:
    ok = measured.notna() & predicted.notna()
    return float(((predicted[ok] - measured[ok]).abs() / measured[ok]).mean() * 100)


def peer_rows(rows: pd.DataFrame, cfg: pd.DataFrame) -> pd.Series:
    return (rows["source"].eq("llm-inference-bench") & cfg["hardware"].isin(PEER_HARDWARE)
            & cfg["framework"].isin(["vllm", "tensorrt-llm"]) & cfg["model"].isin(PEER_MODELS)
            & rows["latency_s"].notna())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--quick", action="store_true",
                        help="a seeded sample of 800 rows, two accelerators held out in turn (CI smoke run)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows = training_rows(load_shared(args.shared).table)
    if args.quick:
        rows = rows.sample(n=min(800, len(rows)), random_state=0).reset_index(drop=True)
    cfg = normalize_configs(rows[[c for c in rows.columns if c in CONFIG_COLUMNS]]).set_index(rows.index)
    vendor = pd.Series(gather_specs(cfg)["vendor"].to_numpy(), index=rows.index)
    everything = fit_efficiency(rows, base=Efficiency())
    predicted = _predict(rows, cfg, everything)
    results: dict[str, object] = {}

    peers = peer_rows(rows, cfg)
    measured = rows.loc[peers, "latency_s"].astype(float)
    without_source = fit_efficiency(rows[rows["source"].ne("llm-inference-bench")], base=Efficiency())
    unseen_source = _predict(rows[peers], cfg[peers], without_source)["latency_s"]
    loho = pd.Series(np.nan, index=measured.index)
    for hardware in sorted(set(cfg.loc[peers, "hardware"])):
        fitted = fit_efficiency(rows[cfg["hardware"].ne(hardware)], base=Efficiency())
        mine = peers & cfg["hardware"].eq(hardware)
        loho[mine[mine].index] = _predict(rows[mine], cfg[mine], fitted)["latency_s"]
    peer = {
        "rows": int(peers.sum()),
        "peak_mape_pct": _mape(measured, predicted.loc[peers, "peak_latency_s"]),
        "peak_x2_mape_pct": _mape(measured, 2 * predicted.loc[peers, "peak_latency_s"]),
        "achievable_fitted_on_all_mape_pct": _mape(measured, predicted.loc[peers, "latency_s"]),
        "achievable_source_held_out_mape_pct": _mape(measured, unseen_source),
        "achievable_hardware_held_out_mape_pct": _mape(measured, loho),
    }
    results["peer_rows"] = peer
    print(f"Peer rows ({peer['rows']}: LLM-Inference-Bench, NVIDIA A100/H100, vLLM + TensorRT-LLM, Llama-3-8B/70B, "
          "Mixtral-8x7B; latency MAPE %):")
    for key, label in [("peak_mape_pct", "peak roofline"), ("peak_x2_mape_pct", "peak roofline x 2"),
                       ("achievable_fitted_on_all_mape_pct", "achievable, parameters fitted on all rows"),
                       ("achievable_source_held_out_mape_pct", "achievable, LLM-Inference-Bench held out of the fit"),
                       ("achievable_hardware_held_out_mape_pct", "achievable, each accelerator held out of the fit")]:
        print(f"  {label:<55} {peer[key]:6.1f}")
    for name, value in PEERS.items():
        print(f"  {name + ' (reported in issue 10)':<55} {value:6.1f}")

    ratios = []
    for metric in METRICS:
        has = rows[metric].notna()
        for (source, family), part in rows[has].groupby([rows.loc[has, "source"], vendor[has]]):
            m = part[metric].astype(float)
            ratios.append({"metric": metric, "source": source, "vendor": family, "rows": len(part),
                           "peak": float((m / predicted.loc[part.index, f"peak_{metric}"]).median()),
                           "achievable": float((m / predicted.loc[part.index, metric]).median()),
                           "achievable_median_ape_pct": float(
                               ((predicted.loc[part.index, metric] / m - 1.0).abs() * 100.0).median())})
    results["median_ratio_by_source_vendor"] = ratios
    print("\nMedian measured / predicted by source x vendor (achievable aim 0.8-1.25), and the achievable median APE:")
    print(f"  {'metric':<10} {'source':<20} {'vendor':<15} {'rows':>5} {'peak':>6} {'achievable':>10} {'APE %':>6}")
    for r in ratios:
        flag = "" if 0.8 <= r["achievable"] <= 1.25 else "  (outside)"
        print(f"  {r['metric']:<10} {r['source']:<20} {r['vendor']:<15} {r['rows']:>5} {r['peak']:>6.2f} "
              f"{r['achievable']:>10.2f} {r['achievable_median_ape_pct']:>6.1f}{flag}")

    held = []
    accelerators = sorted(set(cfg["hardware"]))
    for hardware in accelerators[:2] if args.quick else accelerators:
        mine = cfg["hardware"].eq(hardware)
        fitted = fit_efficiency(rows[~mine], base=Efficiency())
        out = _predict(rows[mine], cfg[mine], fitted)
        for metric in METRICS:
            m = rows.loc[mine, metric].astype(float)
            ok = m.notna()
            if not ok.any():
                continue
            ape_a = ((out.loc[ok[ok].index, metric] - m[ok]).abs() / m[ok])
            ape_p = ((out.loc[ok[ok].index, f"peak_{metric}"] - m[ok]).abs() / m[ok])
            held.append({"hardware": hardware, "metric": metric, "rows": int(ok.sum()),
                         "peak_median_ape_pct": float(ape_p.median() * 100),
                         "achievable_median_ape_pct": float(ape_a.median() * 100),
                         "achievable_median_ratio": float((m[ok] / out.loc[ok[ok].index, metric]).median())})
    results["leave_one_hardware_out"] = held
    print("\nLeave one accelerator out of the fit (its rows predicted by parameters fitted without them):")
    print(f"  {'hardware':<20} {'metric':<10} {'rows':>5} {'peak med APE %':>15} {'achievable med APE %':>21} "
          f"{'measured/achievable':>20}")
    for r in held:
        print(f"  {r['hardware']:<20} {r['metric']:<10} {r['rows']:>5} {r['peak_median_ape_pct']:>15.1f} "
              f"{r['achievable_median_ape_pct']:>21.1f} {r['achievable_median_ratio']:>20.2f}")
    print(f"\nruntime {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
