"""Search quality: Optuna's best against the exhaustive optimum on generated spaces of several sizes.

    python benchmarks/optimizer_quality.py [--model-file PATH] [--budgets 50,100,200,400] [--seeds 0,1,2]

For each space the exhaustive search gives the true optimum under the surrogate (throughput per
device, P90 ITL limit); TPE then runs with each trial budget and seed. Reported: the gap to the
optimum (1 - found / optimum, median over seeds), the trials TPE needed to come within 1% of it
(median over seeds, at the largest budget; '>' when it never did, from the result's trial
history) and wall times (in-memory study, one process).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from surrogate.model import AnalyticPredictor, SurrogateModel, load, load_default
from surrogate.optimize import OBJECTIVES, Inventory, OptimizeOptions, SearchSpace, Targets, Workload, optimize

_WITHIN = 0.01


@dataclass(frozen=True)
class Case:
    name: str
    gpus: tuple[str, ...]
    workload: Workload
    space: SearchSpace
    targets: Targets


CASES = [
    Case("small", ("h100-sxm:2",), Workload("meta-llama/Meta-Llama-3-8B", 1024, 256),
         SearchSpace(frameworks=("vllm", "sglang"), max_sequences=64), Targets(max_itl_s=0.03)),
    Case("medium", ("h100-sxm:8", "a100-sxm4-80gb:8"), Workload("meta-llama/Llama-3.1-70B", 1024, 256),
         SearchSpace(), Targets(max_itl_s=0.05)),
    Case("large", ("h100-sxm:64", "a100-sxm4-80gb:64", "h200:32"),
         Workload("meta-llama/Llama-3.1-70B", 2048, 512, concurrency=512),
         SearchSpace(precisions=("fp16", "fp8", "int4")), Targets(max_itl_s=0.05)),
    Case("xlarge", ("h100-sxm:64", "a100-sxm4-80gb:64", "h200:64", "l40s:64", "b200:64"),
         Workload("meta-llama/Llama-3.1-70B", 2048, 512),
         SearchSpace(precisions=("fp16", "fp8", "int4"), max_sequences=1024), Targets(max_itl_s=0.05)),
]


def _model(path: Path | None) -> SurrogateModel:
    if path is not None:
        return load(path)
    return load_default()


def _trials_to_reach(history: pd.DataFrame, optimum: float) -> int | None:
    """First trial (1-based) whose feasible value is within 1% of the optimum."""
    good = history["feasible"].to_numpy() & (history["value_0"].to_numpy() >= optimum * (1 - _WITHIN))
    return int(history["number"].to_numpy()[good][0]) + 1 if good.any() else None


def run_case(model: SurrogateModel, case: Case, budgets: list[int], seeds: list[int]) -> dict[str, object]:
    inventory = Inventory.parse(list(case.gpus))
    column = OBJECTIVES["throughput"].column
    started = time.perf_counter()
    exact = optimize(model, inventory, case.workload, OptimizeOptions(targets=case.targets, search="exhaustive"),
                     case.space)
    exhaustive_s = time.perf_counter() - started
    optimum = float(exact.best[column])
    out: dict[str, object] = {"case": case.name, "space_size": exact.space_size, "optimum": optimum,
                              "exhaustive_s": exhaustive_s, "budgets": {}}
    reached: list[int | None] = []
    for budget in budgets:
        gaps, times, evaluated = [], [], []
        for seed in seeds:
            options = OptimizeOptions(targets=case.targets, search="optuna", trials=budget, seed=seed)
            started = time.perf_counter()
            found = optimize(model, inventory, case.workload, options, case.space, seed_predictor=AnalyticPredictor())
            times.append(time.perf_counter() - started)
            gaps.append(1.0 - float(found.best[column]) / optimum)
            evaluated.append(len(found.evaluated))
            if budget == max(budgets) and found.history is not None:
                reached.append(_trials_to_reach(found.history, optimum))
        out["budgets"][budget] = {"median_gap_pct": statistics.median(gaps) * 100, "max_gap_pct": max(gaps) * 100,
                                  "median_s": statistics.median(times),
                                  "evaluated": statistics.median(evaluated)}
    hits = [r for r in reached if r is not None]
    out["trials_to_1pct"] = statistics.median(hits) if len(hits) == len(reached) else None
    out["reached_1pct"] = f"{len(hits)}/{len(reached)}"
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-file", type=Path, default=None)
    parser.add_argument("--budgets", default="50,100,200,400")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--cases", default=",".join(c.name for c in CASES))
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    budgets = [int(b) for b in args.budgets.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    model = _model(args.model_file)
    model.predict(_warm_frame())  # load catalogs and model configs before timing
    results = []
    for case in [c for c in CASES if c.name in args.cases.split(",")]:
        result = run_case(model, case, budgets, seeds)
        results.append(result)
        cells = "  ".join(f"{b}: gap {v['median_gap_pct']:.2f}% (max {v['max_gap_pct']:.2f}%) {v['median_s']:.1f} s "
                          f"{v['evaluated']:,.0f} evaluated"
                          for b, v in result["budgets"].items())  # type: ignore[union-attr]
        reach = result["trials_to_1pct"]
        print(f"{case.name:<7} {result['space_size']:>7,} configs  exhaustive {result['exhaustive_s']:.1f} s  | "
              f"{cells} | trials to 1%: {reach if reach is not None else '>' + str(max(budgets))} "
              f"({result['reached_1pct']} seeds)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    return 0


def _warm_frame() -> pd.DataFrame:
    from surrogate.optimize import enumerate_candidates

    return enumerate_candidates(Inventory.parse(["h100-sxm:1"]), Workload("meta-llama/Meta-Llama-3-8B", 128, 128),
                                SearchSpace(frameworks=("vllm",))).configs.head(4)


if __name__ == "__main__":
    sys.exit(main())
