"""Honest accuracy: predictions for rows the model did not train on, beside the analytic baseline.

Splits: ``random`` (5-fold), or leave one group out by ``hardware``, ``model``, ``framework`` or
``source``. Four predictors are scored on the same held-out rows: the peak roofline, the achievable
model (efficiency parameters fitted on the training folds only), LightGBM without the analytic
features (predicting the metric directly), and the full surrogate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.configs import CONFIG_COLUMNS
from surrogate.model._bundle import METRICS, SurrogateModel
from surrogate.model._splits import SPLITS, fold_masks

__all__ = ["SPLITS", "VARIANTS", "Evaluation", "cross_validate", "error_summary"]

# The peak roofline (the lower bound), the achievable model (its parameters refit on the training
# folds only), LightGBM without physics features, and the full surrogate.
VARIANTS = ["peak", "achievable", "lightgbm_no_physics", "surrogate"]


@dataclass
class Evaluation:
    """Held-out predictions for every row and metric, and their summaries."""

    split: str
    seed: int | None
    predictions: pd.DataFrame = field(repr=False)
    summary: dict[str, Any] = field(default_factory=dict)


def error_summary(measured: np.ndarray, predicted: np.ndarray, low: np.ndarray | None = None,
                  high: np.ndarray | None = None) -> dict[str, float]:
    """MAPE, median and p90 absolute percentage error, median measured/predicted, P10-P90 coverage."""
    ape = np.abs(predicted - measured) / measured * 100.0
    out = {
        "rows": int(len(measured)),
        "mape_pct": float(np.mean(ape)),
        "median_ape_pct": float(np.median(ape)),
        "p90_ape_pct": float(np.percentile(ape, 90)),
        "median_ratio_measured_over_predicted": float(np.median(measured / predicted)),
    }
    if low is not None and high is not None:
        out["p10_p90_coverage_pct"] = float(np.mean((measured >= low) & (measured <= high)) * 100.0)
    return out


def cross_validate(table: pd.DataFrame, split: str, seed: int | None = 0, n_folds: int = 5,
                   progress: Callable[[str], None] | None = None, **model_params: Any) -> Evaluation:
    """Fit on all but one fold, predict the held-out fold, for every fold and all three variants."""
    table = table.reset_index(drop=True)
    rows = []
    for k, test in enumerate(fold_masks(table, split, seed, n_folds)):
        if test.all() or not test.any():
            continue
        if progress:
            progress(f"{split} fold {k + 1}")
        train = table[~test]
        held = table[test]
        full = SurrogateModel(seed=seed, **model_params).fit(train)
        plain = SurrogateModel(seed=seed, physics=False, calibrate=False, **model_params).fit(train)
        configs = held[[c for c in held.columns if c in CONFIG_COLUMNS]]
        pred_full = full.predict(configs)
        pred_plain = plain.predict(configs)
        fold = pd.DataFrame({"fold": k, "group": held[split].astype(str) if split != "random" else str(k)},
                            index=held.index)
        for metric in METRICS:
            fold[f"{metric}_measured"] = pd.to_numeric(held[metric], errors="coerce") if metric in held else np.nan
            fold[f"{metric}_peak"] = pred_full[f"peak_{metric}"]
            fold[f"{metric}_achievable"] = pred_full[f"analytic_{metric}"]
            fold[f"{metric}_lightgbm_no_physics"] = pred_plain[metric]
            fold[f"{metric}_surrogate"] = pred_full[metric]
            fold[f"{metric}_surrogate_p10"] = pred_full[f"{metric}_p10"]
            fold[f"{metric}_surrogate_p90"] = pred_full[f"{metric}_p90"]
        for column in ["hardware", "model", "framework", "source", "batching"]:
            if column in held:
                fold[column] = held[column].astype(str)
        rows.append(fold)
    predictions = pd.concat(rows).sort_index()
    return Evaluation(split=split, seed=seed, predictions=predictions, summary=summarize(predictions, split))


def summarize(predictions: pd.DataFrame, split: str) -> dict[str, Any]:
    """Per metric and variant error summaries; per held-out group for group splits."""
    out: dict[str, Any] = {"split": split, "metrics": {}}
    for metric in METRICS:
        measured = predictions[f"{metric}_measured"].to_numpy(dtype=float)
        rows = np.isfinite(measured) & (measured > 0)
        if rows.sum() == 0:
            continue
        entry: dict[str, Any] = {}
        for variant in VARIANTS:
            pred = predictions[f"{metric}_{variant}"].to_numpy(dtype=float)[rows]
            low = high = None
            if variant == "surrogate":
                low = predictions[f"{metric}_surrogate_p10"].to_numpy(dtype=float)[rows]
                high = predictions[f"{metric}_surrogate_p90"].to_numpy(dtype=float)[rows]
            entry[variant] = error_summary(measured[rows], pred, low, high)
        if split != "random":
            groups = {}
            sub = predictions[rows]
            for group, part in sub.groupby("group"):
                m = part[f"{metric}_measured"].to_numpy(dtype=float)
                groups[str(group)] = {
                    variant: error_summary(m, part[f"{metric}_{variant}"].to_numpy(dtype=float))
                    for variant in VARIANTS
                }
            entry["by_group"] = groups
        out["metrics"][metric] = entry
    return out
