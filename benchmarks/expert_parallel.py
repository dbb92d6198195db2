"""The physics on the shared rows that run expert parallelism, with and without attention data parallelism.

    python benchmarks/expert_parallel.py [--shared DIR] [--json OUT]

For every aggregated row with ``ep > 1`` (aiconfigurator, llm-inference-bench), grouped by whether the worker
also runs attention data parallelism (``dp > 1``: the experts spread over all ``tp x dp`` ranks, DeepSeek-style
wide EP) or not: how many rows the memory model says cannot fit (they ran, so each is a memory-model error),
the median absolute percentage error of the achievable physics per metric, its median signed log error
(``exp`` of it: the factor the physics is off, above 1 = too slow), and how many rows ran faster than the
peak bound (impossible: a physics error). No learning: this measures the analytic model alone, so it can be
compared before and after a change to it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from features.analytic import estimate
from surrogate.ingest import load_shared

METRICS = ["ttft_s", "itl_s"]


def _group(rows: pd.DataFrame, physics: pd.DataFrame) -> dict[str, object]:
    out: dict[str, object] = {"rows": len(rows), "does_not_fit": int((~physics["fits"].astype(bool)).sum())}
    for metric in METRICS:
        truth = pd.to_numeric(rows[metric], errors="coerce").to_numpy(dtype=float)
        guess = physics[metric].to_numpy(dtype=float)
        peak = physics[f"peak_{metric}"].to_numpy(dtype=float)
        ok = np.isfinite(truth) & (truth > 0) & np.isfinite(guess) & (guess > 0)
        if not ok.any():
            continue
        ape = np.abs(guess[ok] / truth[ok] - 1.0)
        out[metric] = {"rows": int(ok.sum()), "median_ape_pct": round(float(np.median(ape)) * 100, 1),
                       "median_factor": round(float(np.exp(np.median(np.log(guess[ok] / truth[ok])))), 3),
                       "faster_than_peak": int((truth[ok] < peak[ok] * (1 - 1e-9)).sum())}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=None, help="shared datasets dir (default ../shared/datasets)")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args(argv)
    table = load_shared(args.shared).table
    aggregated = table[table["mode"].fillna("aggregated").ne("disaggregated").to_numpy()]
    rows = aggregated[pd.to_numeric(aggregated["ep"], errors="coerce").gt(1).to_numpy()].reset_index(drop=True)
    physics = estimate(rows)
    attention_dp = pd.to_numeric(rows["dp"], errors="coerce").gt(1).to_numpy()
    report = {"expert parallel, attention data parallel (dp > 1)": _group(rows[attention_dp], physics[attention_dp]),
              "expert parallel, dp = 1": _group(rows[~attention_dp], physics[~attention_dp])}
    for name, numbers in report.items():
        print(f"{name}: {numbers['rows']} rows, {numbers['does_not_fit']} the memory model says cannot fit")
        for metric in METRICS:
            if metric in numbers:
                m = numbers[metric]
                assert isinstance(m, dict)
                print(f"  {metric}: {m['rows']} rows, physics median APE {m['median_ape_pct']}%, median factor "
                      f"{m['median_factor']} (above 1: too slow), {m['faster_than_peak']} measured faster than peak")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
