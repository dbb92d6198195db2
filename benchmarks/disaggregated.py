"""Disaggregated against aggregated serving: the same splits, scored separately.

    python benchmarks/disaggregated.py [--shared DIR] [--quick] [--json OUT]

Trains a bundle (seed 0, no cross-validation; it learns the disaggregated correction from the disaggregated
rows with worker counts) on each training side and predicts the held-out rows, then scores, per metric, the
aiconfigurator rows of each serving mode (the only source with both): median APE of the surrogate and of the
physics alone (the aggregated achievable model; the xPyD model of ``features/disaggregated.py``), and P10-P90
coverage. Splits: random 5-fold over every row, and leave-one-model-out for each model the disaggregated rows
have (all its rows, both modes, held out). The aim: disaggregated error within 1.5x the aggregated error on the
same split. ``--quick`` (CI) fits one random fold and one model left out, on 800 aggregated rows, with small
uncalibrated models: its numbers mean nothing, it only proves the script runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from surrogate.ingest import load_shared
from surrogate.model import train_bundle
from surrogate.model._disaggregated import complete_disaggregated, disaggregated_rows

METRICS = ["ttft_s", "itl_s"]


def _scores(rows: pd.DataFrame, predicted: pd.DataFrame, metric: str) -> dict[str, float]:
    truth = pd.to_numeric(rows[metric], errors="coerce").to_numpy(dtype=float)
    guess = predicted[metric].to_numpy(dtype=float)
    physics = predicted[f"analytic_{metric}"].to_numpy(dtype=float)
    ok = np.isfinite(truth) & (truth > 0) & np.isfinite(guess)
    if not ok.any():
        return {"rows": 0}
    low, high = predicted[f"{metric}_p10"].to_numpy(dtype=float), predicted[f"{metric}_p90"].to_numpy(dtype=float)
    inside = (truth >= low) & (truth <= high)
    return {"rows": int(ok.sum()), "surrogate_ape_pct": float(np.median(np.abs(guess[ok] / truth[ok] - 1)) * 100),
            "physics_ape_pct": float(np.median(np.abs(physics[ok] / truth[ok] - 1)) * 100),
            "coverage_pct": float(np.mean(inside[ok]) * 100)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=None, help="shared datasets dir (default ../shared/datasets)")
    parser.add_argument("--quick", action="store_true", help="CI smoke run: 2 folds, 800 rows, small models")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args(argv)
    table = load_shared(args.shared).table
    split_rows = disaggregated_rows(table)
    disagg = complete_disaggregated(table)
    aggregated = table[~split_rows].reset_index(drop=True)
    params: dict[str, object] = {}
    if args.quick:
        aggregated = aggregated.sample(n=min(800, len(aggregated)), random_state=0).reset_index(drop=True)
        params = {"n_estimators": 20, "calibrate": False}
    rows = pd.concat([aggregated, disagg], ignore_index=True)
    is_disagg = disaggregated_rows(rows)
    scored = rows["source"].eq("aiconfigurator").to_numpy()
    folds = np.random.default_rng(0).permutation(len(rows)) % (2 if args.quick else 5)
    splits: list[tuple[str, np.ndarray]] = [(f"random fold {k + 1}", folds == k) for k in np.unique(folds)]
    splits += [(f"leave out {m}", rows["model"].eq(m).to_numpy()) for m in sorted(disagg["model"].unique())]
    if args.quick:
        splits = [splits[0], splits[-1]]
    start = time.perf_counter()
    predictions: dict[str, list[tuple[pd.DataFrame, pd.DataFrame]]] = {"random": [], "leave one model out": []}
    for name, held in splits:
        model = train_bundle(rows[~held].reset_index(drop=True), seed=0, cv_folds=0, **params)
        test = rows[held & scored]
        kind = "random" if name.startswith("random") else "leave one model out"
        predictions[kind].append((test, model.predict(test.reset_index(drop=True)).set_index(test.index)))
    results: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    for kind, parts in predictions.items():
        test = pd.concat([t for t, _ in parts])
        predicted = pd.concat([p for _, p in parts])
        results[kind] = {}
        for mode, mask in (("aggregated", ~is_disagg[test.index]), ("disaggregated", is_disagg[test.index])):
            results[kind][mode] = {m: _scores(test[mask], predicted[mask], m) for m in METRICS}
    print(f"{len(disagg)} disaggregated rows with worker counts ({int(split_rows.sum()) - len(disagg)} without, left "
          f"out), {int((scored & ~is_disagg).sum())} aggregated aiconfigurator rows scored; {len(splits)} fits in "
          f"{time.perf_counter() - start:.0f} s")
    print(f"{'split':<20} {'mode':<14} {'metric':<7} {'rows':>5} {'physics %':>10} {'surrogate %':>12} "
          f"{'P10-P90 %':>10} {'disagg/agg':>11}")
    for kind, modes in results.items():
        for mode, metrics in modes.items():
            for metric, score in metrics.items():
                if not score["rows"]:
                    continue
                ratio = ""
                if mode == "disaggregated" and modes["aggregated"][metric]["rows"]:
                    ratio = f"{score['surrogate_ape_pct'] / modes['aggregated'][metric]['surrogate_ape_pct']:.2f}x"
                print(f"{kind:<20} {mode:<14} {metric:<7} {score['rows']:>5} {score['physics_ape_pct']:>10.1f} "
                      f"{score['surrogate_ape_pct']:>12.1f} {score['coverage_pct']:>10.0f} {ratio:>11}")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
