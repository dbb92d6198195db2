"""Decisions measured against reality: does the optimizer pick the configuration that really was best?

    python benchmarks/regret.py [--folds 5] [--n-estimators 200] [--seed 0] [--min-group 3] [--json PATH]

(``--folds 0`` trains one model per group: leave exactly that group out.)

Groups: shared measurements with the same source, model, input and output lengths, framework and
batching mode, which vary hardware, devices, tp/pp/dp, batch or concurrency and precision. For each
group the surrogate is trained without that group (groups are dealt into ``--folds`` folds, seeded;
each fold's model is trained on every other fold, so it never saw the group it ranks) and asked for
the best of the group's measured configurations by the optimizer's objective (output tokens/s per
device, among configurations the analytic memory model says fit; all of them if it says none do).

Reported per predictor (surrogate, analytic model alone, a uniformly random pick as an expectation,
and the surrogate without the memory filter, to show what the memory model's false rejections cost):
measured regret = best measured / measured value of the pick - 1 (median, mean, P90) and the hit
rate of the measured top 3. Aim: median regret <= 5%, top-3 hit rate >= 80%.

The fold models skip the conformal interval calibration (the pick uses the median only), which
cuts training time about fourfold; the runtime is printed at the end.
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
from surrogate.model import SurrogateModel, training_rows
from surrogate.optimize import OBJECTIVES, Targets, score

GROUP_KEYS = ["source", "model", "input_len", "output_len", "framework", "batching"]
OBJECTIVE = OBJECTIVES["throughput"]


def _sequences(cfg: pd.DataFrame) -> np.ndarray:
    continuous = cfg["batching"].eq("continuous").to_numpy()
    return np.where(continuous, cfg["concurrency"], cfg["batch_size"]).astype(float) * cfg["dp"].to_numpy(float)


def measured_objective(cfg: pd.DataFrame, table: pd.DataFrame) -> np.ndarray:
    """Measured output tokens/s per device, derived the way the surrogate derives its prediction."""
    latency = pd.to_numeric(table["latency_s"], errors="coerce").to_numpy(dtype=float)
    steps = cfg["output_len"].to_numpy(dtype=float) - 1.0
    from_parts = (pd.to_numeric(table["ttft_s"], errors="coerce").to_numpy(dtype=float)
                  + steps * pd.to_numeric(table["itl_s"], errors="coerce").to_numpy(dtype=float))
    continuous = cfg["batching"].eq("continuous").to_numpy()
    latency = np.where(continuous | ~np.isfinite(latency), from_parts, latency)
    return _sequences(cfg) * cfg["output_len"].to_numpy(dtype=float) / latency / cfg["num_devices"].to_numpy(float)


def _pick(values: np.ndarray, feasible: np.ndarray) -> int:
    pool = np.flatnonzero(feasible) if feasible.any() else np.arange(len(values))
    return int(pool[np.argmax(values[pool])])


def _fold_of_groups(groups: pd.Series, folds: int, seed: int) -> pd.Series:
    names = sorted(set(groups))
    if folds <= 0:  # leave one group out
        return groups.map({name: k for k, name in enumerate(names)})
    order = np.random.default_rng(seed).permutation(len(names))
    return groups.map({names[i]: int(k % folds) for k, i in enumerate(order)})


def evaluate(table: pd.DataFrame, folds: int, n_estimators: int, seed: int, min_group: int) -> pd.DataFrame:
    """One row per group: regret and top-3 hit of the surrogate, the analytic model and a random pick."""
    cfg_all = normalize_configs(table[[c for c in table.columns if c in CONFIG_COLUMNS]])
    table = table.assign(objective=measured_objective(cfg_all, table))
    table = table[np.isfinite(table["objective"]) & (table["objective"] > 0)].reset_index(drop=True)
    group_id = table[GROUP_KEYS].astype(str).agg(" | ".join, axis=1)
    sizes = group_id.map(group_id.value_counts())
    fold = _fold_of_groups(group_id, folds, seed)
    rows = []
    for k in range(int(fold.max()) + 1):
        test = (fold == k).to_numpy() & (sizes >= min_group).to_numpy()
        if not test.any():
            continue
        started = time.perf_counter()
        # The pick only needs the median: skip interval calibration.
        model = SurrogateModel(seed=seed, n_estimators=n_estimators, calibrate=False).fit(
            table[(fold != k).to_numpy()])
        held = table[test].reset_index(drop=True)
        cfg = normalize_configs(held[[c for c in held.columns if c in CONFIG_COLUMNS]])[CONFIG_COLUMNS]
        scored = score(cfg, model.predict(cfg), Targets())
        analytic = _sequences(cfg) * cfg["output_len"].to_numpy(float) / scored["analytic_latency_s"].to_numpy() \
            / cfg["num_devices"].to_numpy(float)
        print(f"fold {k + 1}/{int(fold.max()) + 1}: trained in {time.perf_counter() - started:.0f} s, "
              f"{group_id[test].nunique()} groups", file=sys.stderr)
        for name, members in held.groupby(group_id[test].to_numpy()).groups.items():
            index = np.asarray(members)
            measured = held["objective"].to_numpy()[index]
            best = measured.max()
            top3 = set(np.argsort(-measured, kind="stable")[:3])
            feasible = scored["fits"].to_numpy(dtype=bool)[index]
            regrets = best / measured - 1.0
            entry = {"group": name, "configs": len(index), "memory_model_rejects": int((~feasible).sum())}
            for label, values in [("surrogate", scored[OBJECTIVE.column].to_numpy()[index]),
                                  ("analytic", analytic[index])]:
                choice = _pick(values, feasible)
                entry[f"{label}_regret"] = float(regrets[choice])
                entry[f"{label}_top3"] = choice in top3
            choice = _pick(scored[OBJECTIVE.column].to_numpy()[index], np.ones(len(index), dtype=bool))
            entry["unfiltered_regret"] = float(regrets[choice])
            entry["unfiltered_top3"] = choice in top3
            entry["random_regret"] = float(regrets.mean())
            entry["random_top3"] = min(3, len(index)) / len(index)
            rows.append(entry)
    return pd.DataFrame(rows)


def summary(result: pd.DataFrame) -> dict[str, dict[str, float]]:
    out = {}
    for label in ["surrogate", "analytic", "random", "unfiltered"]:
        regret = result[f"{label}_regret"]
        out[label] = {"median_regret_pct": float(regret.median() * 100), "mean_regret_pct": float(regret.mean() * 100),
                      "p90_regret_pct": float(regret.quantile(0.9) * 100),
                      "top3_hit_rate_pct": float(result[f"{label}_top3"].astype(float).mean() * 100)}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5, help="group folds; 0 = one model per group")
    parser.add_argument("--n-estimators", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-group", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="also write per-group results and the summary here")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    table = training_rows(load_shared().table)
    result = evaluate(table, args.folds, args.n_estimators, args.seed, args.min_group)
    stats = summary(result)
    print(f"{len(result)} groups of >= {args.min_group} measured configurations, {int(result['configs'].sum())} "
          f"configurations; objective: {OBJECTIVE.label}")
    print(f"{'predictor':<11} {'median regret':>14} {'mean regret':>12} {'P90 regret':>11} {'top-3 hit':>10}")
    for label, values in stats.items():
        print(f"{label:<11} {values['median_regret_pct']:>13.1f}% {values['mean_regret_pct']:>11.1f}% "
              f"{values['p90_regret_pct']:>10.1f}% {values['top3_hit_rate_pct']:>9.1f}%")
    by_source = result.assign(source=result["group"].str.split(" | ", regex=False).str[0])
    for source, part in by_source.groupby("source"):
        s = summary(part)["surrogate"]
        print(f"  {source}: {len(part)} groups, surrogate median regret {s['median_regret_pct']:.1f}%, "
              f"top-3 hit {s['top3_hit_rate_pct']:.1f}%")
    rejects = int((result["memory_model_rejects"] > 0).sum())
    print(f"groups where the memory model rejected a measured (so, fitting) configuration: {rejects}; "
          "'unfiltered' is the surrogate's pick ignoring the memory model")
    aims = stats["surrogate"]
    print(f"aim: median regret <= 5% ({'met' if aims['median_regret_pct'] <= 5 else 'NOT met'}), top-3 hit >= 80% "
          f"({'met' if aims['top3_hit_rate_pct'] >= 80 else 'NOT met'}); runtime {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"summary": stats, "groups": result.to_dict(orient="records")}, indent=2,
                                        default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
