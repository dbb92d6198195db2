"""The achievable model alone on the deployment-like splits: each fold's efficiency parameters fitted on its
training rows, its held-out rows priced by physics alone.

    python benchmarks/prior_splits.py [--split S ...] [--shared DIR] [--jobs N] [--by-fold] [--json OUT] [--quick]

This is the "achievable" column of ``surrogate evaluate --split S`` (the same folds, the same rows in the
same order into the same fit: ``canonical_order``), without training a tree: about a minute a split where
``evaluate`` takes 1 to 36. Use it to judge a change to the physics (``features/``, the efficiency fit) on
unseen rows before paying for the full evaluation; the surrogate shrinks toward this prior off its data, so
what the prior loses there the surrogate loses too.

Prints, per split and metric, the held-out rows' MAPE and median APE of the peak roofline and of the
achievable model, and per fold the fitted attention fraction: the shared fit has local optima that row order
and rounding pick between, and this parameter shows which one a fold landed in (0.25, its lower bound, or
near 1.0 on the shared rows).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from features.analytic import estimate
from features.configs import CONFIG_COLUMNS
from features.efficiency import Efficiency
from surrogate.ingest import load_shared
from surrogate.model import (
    METRICS,
    canonical_order,
    error_summary,
    fit_efficiency,
    fold_masks,
    learned_metrics,
    learned_rows,
    training_rows,
    with_source_eras,
)

# The deployment-like splits; the model split (30-odd folds, ~10 minutes here) only when asked for.
DEFAULT_SPLITS = ["source", "vendor", "hardware", "framework", "version", "batch", "input_length"]


def held_out_estimates(train: pd.DataFrame, test: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    """The test rows' peak and achievable estimates with efficiency fitted on ``train`` as
    ``SurrogateModel.fit`` fits it, and that fit's attention fraction. A metric the fold's training rows do
    not learn is blanked on them: ``surrogate evaluate`` scores such rows apart (physics only; ``learned_rows``)."""
    fitted = fit_efficiency(canonical_order(train), base=Efficiency())
    dated = with_source_eras(test)
    est = estimate(dated[[c for c in dated.columns if c in CONFIG_COLUMNS]], efficiency=fitted)
    est = est.set_index(test.index)
    learned = set(learned_metrics(train))
    for metric, scored in learned_rows(test, {m: m in learned for m in METRICS}).items():
        est.loc[~scored, [metric, f"peak_{metric}"]] = np.nan
    return est, float(fitted.attention_fraction)


def _scores(rows: pd.DataFrame, est: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per metric: the scored rows, and the peak's and the achievable model's ``error_summary`` over them."""
    out: dict[str, dict[str, Any]] = {}
    for metric in METRICS:
        measured = pd.to_numeric(rows[metric], errors="coerce")
        ok = (measured.gt(0) & est[metric].notna()).to_numpy()
        if ok.any():
            values = measured.to_numpy()[ok]
            out[metric] = {"rows": int(ok.sum()),
                           "peak": error_summary(values, est[f"peak_{metric}"].to_numpy()[ok]),
                           "achievable": error_summary(values, est[metric].to_numpy()[ok])}
    return out


def score_split(rows: pd.DataFrame, split: str, jobs: int) -> dict[str, Any]:
    """Peak and achievable MAPE / median APE per metric over every fold's held-out rows of ``split``, and per
    fold (``by_fold``: what it held out, its attention fraction, its own scores)."""
    folds = [f for f in fold_masks(rows, split, 0, 5) if f.test.any() and f.train.any()]
    fits = Parallel(n_jobs=jobs)(delayed(held_out_estimates)(rows[f.train], rows[f.test]) for f in folds)
    est = pd.concat([e for e, _ in fits]).reindex(rows.index)
    by_fold = [{"held_out": str(fold.group[fold.test][0]), "attention_fraction": round(attention, 3),
                **_scores(rows[fold.test], fold_est)} for fold, (fold_est, attention) in zip(folds, fits, strict=True)]
    return {"split": split, "folds": len(folds), "attention_fraction": [f["attention_fraction"] for f in by_fold],
            **_scores(rows, est), "by_fold": by_fold}


def _line(label: str, metric: str, cell: dict[str, Any], width: int = 14) -> str:
    peak, achievable = cell["peak"], cell["achievable"]
    return (f"{label:<{width}} {metric:<10} {cell['rows']:>5} {peak['mape_pct']:>11.1f} / "
            f"{peak['median_ape_pct']:<7.1f} {achievable['mape_pct']:>15.1f} / {achievable['median_ape_pct']:<7.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", action="append", default=None,
                        help=f"a split of `surrogate evaluate` (repeatable; default: {', '.join(DEFAULT_SPLITS)})")
    parser.add_argument("--shared", type=Path, default=None)
    parser.add_argument("--jobs", type=int, default=1, help="folds fitted at once (each fit uses one core)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--by-fold", action="store_true",
                        help="also print each fold's held-out rows apart (a held-out engine, accelerator, ...)")
    parser.add_argument("--quick", action="store_true",
                        help="a seeded sample of 1,500 rows, the batch split only (CI smoke run)")
    args = parser.parse_args(argv)
    rows = training_rows(load_shared(args.shared).table).reset_index(drop=True)
    splits = args.split or DEFAULT_SPLITS
    if args.quick:
        rows = rows.sample(n=min(1500, len(rows)), random_state=0).reset_index(drop=True)
        splits = ["batch"]
    results = []
    print(f"{'split':<14} {'metric':<10} {'rows':>5} {'peak MAPE / median %':>21} {'achievable MAPE / median %':>27}")
    for split in splits:
        started = time.perf_counter()
        result = score_split(rows, split, args.jobs)
        result["seconds"] = round(time.perf_counter() - started, 1)
        results.append(result)
        for metric in METRICS:
            if metric in result:
                print(_line(split, metric, result[metric]))
        print(f"{split:<14} {result['folds']} folds in {result['seconds']} s; attention fraction per fold: "
              f"{result['attention_fraction']}", flush=True)
        if args.by_fold:
            for fold in result["by_fold"]:
                for metric in METRICS:
                    if metric in fold:
                        print(_line(f"  {fold['held_out']}", metric, fold[metric], width=28))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
