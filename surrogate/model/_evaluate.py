"""Honest accuracy: predictions for rows the model did not train on, beside the analytic baseline.

Splits (``SPLIT_RULES``): ``random`` k-fold; leave one ``hardware``, ``model``, ``framework``,
``source`` or ``vendor`` out; or extrapolate to larger ``batch``es, longer ``input_length``s or the
newest engine ``version``. Four predictors are scored on the same held-out rows: the peak roofline,
the achievable model (efficiency parameters fitted on the training folds only), LightGBM without the
analytic features (predicting the metric directly), and the full surrogate.

A held-out row of a metric the fold's training rows never measured (a source that records TTFT
only, say) gets no learned correction: such rows are scored apart, flagged physics only, and left
out of the headline numbers and the rule checks.

Disaggregated (xPyD) rows, given with ``disaggregated=``, are held out by the same rule (their own random draw
on ``random``, their group's fold on the leave-one-group-out splits, the same thresholds), their fold's bundle
learns the disaggregated correction from that fold's disaggregated training rows, and they are scored apart
(``summary["disaggregated"]``) beside the aggregated rows of the same sources. Rows that cannot be predicted
(no worker counts, flagged faster than physics, refused by the xPyD physics, never held out by the split) are
counted by reason.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.configs import CONFIG_COLUMNS
from features.disaggregated import WORKER_COLUMNS, estimate_disaggregated
from features.errors import DataError, SurrogateError
from surrogate.model._bundle import METRICS, SurrogateModel, measured_values
from surrogate.model._calibration import band_cells
from surrogate.model._disaggregated import (
    DISAGG_METRICS,
    MIN_DISAGGREGATED_ROWS,
    complete_disaggregated,
    disaggregated_rows,
)
from surrogate.model._progress import ProgressFn, scaled
from surrogate.model._software import with_source_eras
from surrogate.model._splits import SPLIT_RULES, SPLITS, Fold, disaggregated_folds, fold_masks, held_out_label
from surrogate.model._workers import run_all, workers_for

__all__ = ["SPLITS", "VARIANTS", "DISAGG_VARIANTS", "Evaluation", "cross_validate", "error_summary",
           "learned_rows", "summarize_disaggregated"]

# The peak roofline (the lower bound), the achievable model (its parameters refit on the training
# folds only), LightGBM without physics features, and the full surrogate.
VARIANTS = ["peak", "achievable", "lightgbm_no_physics", "surrogate"]

# Why a held-out metric has no learned correction (its rows are scored apart, as physics only).
NOT_MEASURED = "not measured by any training source (physics only)"
TOO_FEW_ROWS = "too few training rows to learn a correction (physics only)"

# Targets the surrogate is held to on every split (README, accuracy targets): no worse than the
# achievable model it corrects, and P10-P90 intervals that cover 70-90% of held-out rows.
COVERAGE_TARGET_PCT = (70.0, 90.0)
_ACHIEVABLE_RULE = "surrogate <= achievable on every metric"
_COVERAGE_RULE = f"coverage within {COVERAGE_TARGET_PCT[0]:g}-{COVERAGE_TARGET_PCT[1]:g}%"

# Disaggregated rows: what is scored (no LightGBM-without-physics model is trained for them), the aim of the
# disaggregated-serving issue (their surrogate median APE within 1.5x the aggregated rows' of the same
# sources), and why a row is not scored.
DISAGG_VARIANTS = ["peak", "achievable", "surrogate"]
# Summaries of no held-out groups: random folds, and a trained bundle scored on given rows (``_score``; its
# groups are whether each row is on a metric's training data).
_NOT_HELD_OUT = frozenset({"random", "bundle"})
DISAGG_RATIO_TARGET = 1.5
_DISAGG_RULE = f"disaggregated median APE within {DISAGG_RATIO_TARGET:g}x aggregated"
NO_WORKER_COUNTS = ("no worker counts (prefill_workers, decode_workers, concurrency): the deployment's size is "
                    "unknown")
FASTER_THAN_PHYSICS = "flagged faster than the analytic lower bound (left out, as aggregated rows are)"
NOT_HELD_OUT = "not held out by any fold of this split"
DISAGG_TOO_FEW = (f"fewer than {MIN_DISAGGREGATED_ROWS} disaggregated training rows with worker counts in the "
                  "fold (physics only)")
_DISAGG_INPUTS = {*CONFIG_COLUMNS, "mode", *WORKER_COLUMNS}


@dataclass
class Evaluation:
    """Held-out predictions for every row and metric, and their summaries."""

    split: str
    seed: int | None
    predictions: pd.DataFrame = field(repr=False)
    summary: dict[str, Any] = field(default_factory=dict)
    disaggregated_predictions: pd.DataFrame | None = field(default=None, repr=False)


def learned_rows(held: pd.DataFrame, learned: dict[str, bool]) -> dict[str, npt.NDArray[np.bool_]]:
    """Per metric, the held-out rows that get a learned correction, given which metrics the fold's fit learned:
    continuous latency is TTFT + steps x ITL of the learned metrics (the latency trees learn static rows only),
    so it is learned where both of those are. The rest are scored apart, as physics only."""
    out = {metric: np.full(len(held), bool(learned[metric])) for metric in METRICS}
    if "batching" in held:
        derived = held["batching"].astype("string").eq("continuous").fillna(False).to_numpy(dtype=bool)
        out["latency_s"] = np.where(derived, out["ttft_s"] & out["itl_s"], out["latency_s"])
    return out


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
                   progress: ProgressFn | None = None, disaggregated: pd.DataFrame | None = None,
                   **model_params: Any) -> Evaluation:
    """Fit on each fold's training rows, predict its test rows, for every fold and predictor.
    ``progress`` gets each step and the fraction of all folds done. ``disaggregated``: a table whose
    disaggregated rows (``mode``; other rows are ignored, so the whole ingested table may be passed) are held
    out too and scored apart; the aggregated folds and numbers are the same with or without it."""
    table = table.reset_index(drop=True)
    all_folds = fold_masks(table, split, seed, n_folds)
    runnable = [k for k, fold in enumerate(all_folds) if fold.train.any() and fold.test.any()]
    disagg, disagg_folds, not_scored = _disaggregated_inputs(disaggregated, split, seed, n_folds)
    rows, disagg_rows = [], []
    n, work = len(runnable), len(table) * len(runnable)
    # Folds are independent: on several cores each runs in a worker process (the same predictions as one
    # after the other); progress then counts finished folds, else the steps inside each fit.
    workers = workers_for(n, work)
    in_workers = workers > 1
    tasks = []
    for i, k in enumerate(runnable):
        train_mask, test, group = all_folds[k]
        fold_progress = None if in_workers else scaled(progress, i / n, 1 / n, f"{split} fold {i + 1}/{n}: ")
        held = disagg_folds.pop(held_out_label(all_folds[k]), None)
        pair = (disagg[held.train], disagg[held.test]) if held is not None else None
        tasks.append(partial(_predict_fold, table[train_mask], table[test], group[test], k, seed, model_params,
                             fold_progress, pair))

    def folds_done(count: int) -> None:
        if progress is not None and in_workers:
            progress(f"{split}: {count}/{n} folds done", count / n)

    if progress is not None and in_workers:
        progress(f"{split}: {n} folds in {workers} worker processes", 0.0)
    # Largest training sets first: a fold's fit takes time in proportion to its rows, and a long fold
    # handed out last would leave the other workers idle while it runs (predictions are sorted back).
    order = sorted(range(n), key=lambda i: -int(all_folds[runnable[i]].train.sum())) if in_workers else range(n)
    for fold, predicted in run_all([tasks[i] for i in order], work=work, done=folds_done):
        rows.append(fold)
        if predicted is not None:
            disagg_rows.append(predicted)
    if progress:
        progress("done", 1.0)
    if not rows:
        raise DataError(f"the {split} split leaves no fold with both training and test rows "
                        f"({SPLIT_RULES[split]}); choose another split or add data")
    not_scored[NOT_HELD_OUT] += sum(int(fold.test.sum()) for fold in disagg_folds.values())
    used = np.logical_or.reduce([f.train | f.test for f in all_folds])
    predictions = pd.concat(rows).sort_index()
    summary = summarize(predictions, split, dropped_rows=int((~used).sum()))
    disagg_predictions = None
    if disaggregated is not None and disaggregated_rows(disaggregated).any():
        disagg_predictions = (pd.concat(disagg_rows).sort_index() if disagg_rows
                              else pd.DataFrame(columns=["fold", "group"]))
        summary["disaggregated"] = summarize_disaggregated(disagg_predictions, predictions, split, not_scored)
    return Evaluation(split=split, seed=seed, predictions=predictions, summary=summary,
                      disaggregated_predictions=disagg_predictions)


def _disaggregated_inputs(table: pd.DataFrame | None, split: str, seed: int | None,
                          n_folds: int) -> tuple[pd.DataFrame, dict[str, Fold], Counter[str]]:
    """The disaggregated rows that can be predicted, their folds by held-out label, and the other rows
    counted by why they are not scored."""
    not_scored: Counter[str] = Counter()
    if table is None or not disaggregated_rows(table).any():
        return pd.DataFrame(), {}, not_scored
    complete = complete_disaggregated(table)
    not_scored[NO_WORKER_COUNTS] += int(disaggregated_rows(table).sum()) - len(complete)
    if "faster_than_physics" in complete:
        fast = complete["faster_than_physics"].astype("boolean").fillna(False).to_numpy(dtype=bool)
        not_scored[FASTER_THAN_PHYSICS] += int(fast.sum())
        complete = complete[~fast].reset_index(drop=True)
    refused = _refused_by_physics(complete)
    not_scored.update(refused.values())
    complete = complete.drop(index=list(refused)).reset_index(drop=True)
    folds = disaggregated_folds(complete, split, seed, n_folds)
    held = np.logical_or.reduce([f.test for f in folds.values()]) if folds else np.zeros(len(complete), dtype=bool)
    not_scored[NOT_HELD_OUT] += int((~held).sum())
    return complete, folds, not_scored


def _refused_by_physics(rows: pd.DataFrame) -> dict[Any, str]:
    """``{index: reason}`` for rows the xPyD physics refuses (a worker shape the model cannot take): they could
    neither train a fold's correction nor be predicted. Row by row only when the whole table fails."""
    configs = rows[[c for c in rows.columns if c in _DISAGG_INPUTS]]
    if configs.empty:
        return {}
    try:
        estimate_disaggregated(configs)
        return {}
    except SurrogateError:
        pass
    refused = {}
    for index in configs.index:
        try:
            estimate_disaggregated(configs.loc[[index]])
        except SurrogateError as exc:  # alone in its frame, the row is the physics' "row 0"
            refused[index] = f"refused by the disaggregated physics: {str(exc).replace('row 0: ', '')}"
    return refused


def _predict_fold(train: pd.DataFrame, held: pd.DataFrame, group: np.ndarray, k: int, seed: int | None,
                  model_params: dict[str, Any], progress: ProgressFn | None = None,
                  disaggregated: tuple[pd.DataFrame, pd.DataFrame] | None = None,
                  ) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """One fold's held-out predictions, with how many training rows measured each metric; with
    ``disaggregated`` (its training and held-out rows), theirs too."""
    train_disagg = disaggregated[0] if disaggregated is not None and len(disaggregated[1]) else None
    full = SurrogateModel(seed=seed, **model_params).fit(train, progress=progress, disaggregated=train_disagg)
    plain = SurrogateModel(seed=seed, **{**model_params, "physics": False, "calibrate": False}).fit(train)
    # Each held-out row is predicted for the software it was measured with: its recorded release, else its
    # source's era, as training dates its rows (not the newest release the fold saw for that engine, which for
    # an accelerator held out is another source's).
    dated = with_source_eras(held)
    configs = dated[[c for c in dated.columns if c in CONFIG_COLUMNS]]
    pred_full = full.predict(configs)
    pred_plain = plain.predict(configs)
    learned = full.metadata.get("rows_by_metric")
    training_rows = {metric: int(_measured(train, metric).sum()) for metric in METRICS}
    fold = pd.DataFrame({"fold": k, "group": pd.Series(group, index=held.index).astype(str)}, index=held.index)
    for metric in METRICS:
        fold[f"{metric}_measured"] = pd.to_numeric(held[metric], errors="coerce") if metric in held else np.nan
        fold[f"{metric}_peak"] = pred_full[f"peak_{metric}"]
        fold[f"{metric}_achievable"] = pred_full[f"analytic_{metric}"]
        fold[f"{metric}_lightgbm_no_physics"] = pred_plain[metric]
        fold[f"{metric}_surrogate"] = pred_full[metric]
        fold[f"{metric}_surrogate_p10"] = pred_full[f"{metric}_p10"]
        fold[f"{metric}_surrogate_p90"] = pred_full[f"{metric}_p90"]
        fold[f"{metric}_training_rows"] = training_rows[metric]
    flags = {metric: (metric in learned) if isinstance(learned, dict) else training_rows[metric] > 0
             for metric in METRICS}
    for metric, rows in learned_rows(held, flags).items():
        fold[f"{metric}_learned"] = rows
    # Continuous latency's training rows are those of the metrics it is made of.
    if "batching" in held:
        derived = held["batching"].astype("string").eq("continuous").fillna(False).to_numpy(dtype=bool)
        fold.loc[derived, "latency_s_training_rows"] = np.minimum(
            fold["ttft_s_training_rows"].to_numpy(), fold["itl_s_training_rows"].to_numpy())[derived]
    for column in ["hardware", "model", "framework", "source", "batching"]:
        if column in held:
            fold[column] = held[column].astype(str)
    if train_disagg is None or disaggregated is None:
        return fold, None
    label = str(group[0]) if len(group) else str(k)
    return fold, _predict_disaggregated(full, disaggregated[1], label, k)


def _predict_disaggregated(full: SurrogateModel, held: pd.DataFrame, label: str, k: int) -> pd.DataFrame:
    """Held-out disaggregated rows' predictions: the surrogate, its xPyD physics and peak."""
    predicted = full.predict(held[[c for c in held.columns if c in _DISAGG_INPUTS]])
    correction = full.disaggregated_
    fold = pd.DataFrame({"fold": k, "group": label}, index=held.index)
    for metric in DISAGG_METRICS:
        fold[f"{metric}_measured"] = measured_values(held, metric)[0]
        fold[f"{metric}_peak"] = predicted[f"peak_{metric}"]
        fold[f"{metric}_achievable"] = predicted[f"analytic_{metric}"]
        fold[f"{metric}_surrogate"] = predicted[metric]
        fold[f"{metric}_surrogate_p10"] = predicted[f"{metric}_p10"]
        fold[f"{metric}_surrogate_p90"] = predicted[f"{metric}_p90"]
        fold[f"{metric}_learned"] = correction is not None and metric in correction.models_
    fold["off_support"] = predicted["off_support"].astype(str)
    for column in ["hardware", "model", "framework", "source"]:
        if column in held:
            fold[column] = held[column].astype(str)
    return fold


def _measured(frame: pd.DataFrame, column: str) -> np.ndarray:
    """Rows with a usable (finite, positive) value in ``column`` (a metric or its ``_measured`` column)."""
    return measured_values(frame, column)[1]


def summarize(predictions: pd.DataFrame, split: str, dropped_rows: int = 0) -> dict[str, Any]:
    """Per metric and variant error summaries (per held-out group too, except for ``random``; per data
    source where the scored rows come from several).

    ``metrics`` scores rows whose metric the fold's training rows measured (the model learned a
    correction); ``physics_only`` scores the rest apart, with the reason. ``overlap`` says, per held-out
    group, which metrics it measures and which of them training measured too; ``rule_checks`` holds
    the targets met or missed. Everything is plain JSON types.
    """
    out: dict[str, Any] = {"split": split, "split_rule": SPLIT_RULES.get(split, split),
                           "dropped_rows": int(dropped_rows), "metrics": {}, "physics_only": {}}
    for metric in METRICS:
        measured = _measured(predictions, f"{metric}_measured")
        reason = _physics_only_reason(predictions, metric)
        learned = _score(predictions, metric, split, measured & (reason == ""))
        physics = _score(predictions, metric, split, measured & (reason != ""))
        if learned is not None:
            out["metrics"][metric] = learned
        if physics is not None:
            out["physics_only"][metric] = {**physics, "note": "; ".join(sorted(set(reason[measured & (reason != "")])))}
    if split not in _NOT_HELD_OUT:
        out["overlap"] = _overlap(predictions)
    out["rule_checks"] = rule_checks(out["metrics"], out["physics_only"])
    return out


def _physics_only_reason(predictions: pd.DataFrame, metric: str) -> np.ndarray:
    """Per row: "" where the model learned this metric, else why not (missing columns: learned)."""
    reason = np.full(len(predictions), "", dtype=object)
    if f"{metric}_learned" in predictions:
        learned = predictions[f"{metric}_learned"].astype(bool).to_numpy()
        seen = predictions.get(f"{metric}_training_rows", pd.Series(1, index=predictions.index)).to_numpy() > 0
        reason[~learned] = np.where(seen[~learned], TOO_FEW_ROWS, NOT_MEASURED)
    return reason


def _score(predictions: pd.DataFrame, metric: str, split: str, rows: np.ndarray) -> dict[str, Any] | None:
    """Every variant's error summary over ``rows``, and per held-out group (except random folds)."""
    if not rows.any():
        return None
    sub = predictions[rows]
    entry: dict[str, Any] = _variant_scores(sub, metric, with_coverage=True)
    if split != "random":
        column = f"{metric}_group" if f"{metric}_group" in sub else "group"  # a scored bundle groups per metric
        entry["by_group"] = {str(g): _variant_scores(part, metric, with_coverage=False)
                             for g, part in sub.groupby(column)}
    if split != "source" and "source" in sub and sub["source"].nunique() > 1:
        # Sources differ in lab, era and batching: one number over all of them hides which one fails.
        entry["by_source"] = {str(s): _variant_scores(part, metric, with_coverage=True)
                              for s, part in sub.groupby("source")}
    if {"framework", "batching"} <= set(sub.columns):
        # The band is calibrated per engine and batching mode; whether it holds there, not only on average.
        entry["by_engine"] = {str(c): _variant_scores(part, metric, with_coverage=True, variants=["surrogate"])
                              for c, part in sub.groupby(band_cells(sub))}
    return entry


def _variant_scores(part: pd.DataFrame, metric: str, with_coverage: bool,
                    variants: list[str] = VARIANTS) -> dict[str, Any]:
    measured = part[f"{metric}_measured"].to_numpy(dtype=float)
    out = {}
    for variant in (v for v in variants if f"{metric}_{v}" in part):  # a scored bundle has no no-physics twin
        low = high = None
        if variant == "surrogate" and with_coverage:
            low = part[f"{metric}_surrogate_p10"].to_numpy(dtype=float)
            high = part[f"{metric}_surrogate_p90"].to_numpy(dtype=float)
        out[variant] = error_summary(measured, part[f"{metric}_{variant}"].to_numpy(dtype=float), low, high)
    return out


def summarize_disaggregated(disagg: pd.DataFrame, predictions: pd.DataFrame, split: str,
                            not_scored: Counter[str]) -> dict[str, Any]:
    """The disaggregated rows' section: per metric the peak, xPyD physics and surrogate error summaries over
    rows whose fold learned the correction (``physics_only`` the others, with the reason), per held-out group
    except for ``random``; the aggregated surrogate's median APE on the held-out aggregated rows of the same
    sources (all learned rows where none share one) and the ratio; the rows not scored, by reason."""
    not_scored = Counter({reason: n for reason, n in not_scored.items() if n})
    out: dict[str, Any] = {"rows": len(disagg) + sum(not_scored.values()), "scored_rows": len(disagg),
                           "not_scored": dict(sorted(not_scored.items())), "metrics": {}, "physics_only": {},
                           "ratio_target": DISAGG_RATIO_TARGET}
    sources = sorted(set(disagg["source"])) if "source" in disagg else []
    for metric in DISAGG_METRICS:
        if f"{metric}_measured" not in disagg:
            continue
        measured = _measured(disagg, f"{metric}_measured")
        learned = disagg[f"{metric}_learned"].astype(bool).to_numpy()
        for rows, key in ((measured & learned, "metrics"), (measured & ~learned, "physics_only")):
            if not rows.any():
                continue
            part = disagg[rows]
            # Physics alone has no interval: no coverage to report.
            entry: dict[str, Any] = _variant_scores(part, metric, with_coverage=key == "metrics",
                                                    variants=DISAGG_VARIANTS)
            if split != "random":
                entry["by_group"] = {str(g): _variant_scores(p, metric, with_coverage=False, variants=DISAGG_VARIANTS)
                                     for g, p in part.groupby("group")}
            if key == "physics_only":
                entry["note"] = DISAGG_TOO_FEW
            out[key][metric] = entry
        reference = _aggregated_reference(predictions, metric, sources)
        if metric in out["metrics"] and reference is not None:
            entry = out["metrics"][metric]
            entry["aggregated"] = reference
            entry["ratio_to_aggregated"] = (entry["surrogate"]["median_ape_pct"] / reference["median_ape_pct"]
                                            if reference["median_ape_pct"] > 0 else float("inf"))
    out["rule_check"] = _ratio_check(out["metrics"])
    return out


def _aggregated_reference(predictions: pd.DataFrame, metric: str, sources: list[str]) -> dict[str, Any] | None:
    """The surrogate's median APE on held-out aggregated rows the model learned ``metric`` for, from ``sources``
    (the disaggregated rows' own: same lab and systems) where any are, else from every source."""
    if f"{metric}_measured" not in predictions:
        return None
    rows = _measured(predictions, f"{metric}_measured") & (_physics_only_reason(predictions, metric) == "")
    same = rows & predictions["source"].isin(sources).to_numpy() if "source" in predictions else rows & False
    rows, label = (same, sources) if same.any() else (rows, ["all"])
    if not rows.any():
        return None
    scores = error_summary(predictions.loc[rows, f"{metric}_measured"].to_numpy(dtype=float),
                           predictions.loc[rows, f"{metric}_surrogate"].to_numpy(dtype=float))
    return {"rows": scores["rows"], "median_ape_pct": scores["median_ape_pct"], "sources": label}


def _ratio_check(metrics: dict[str, Any]) -> dict[str, Any]:
    """Disaggregated surrogate median APE over the aggregated one, against ``DISAGG_RATIO_TARGET``."""
    ratios = {m: e["ratio_to_aggregated"] for m, e in metrics.items() if "ratio_to_aggregated" in e}
    exceptions = [f"{m} {r:.2f}x" for m, r in ratios.items() if not r <= DISAGG_RATIO_TARGET]
    if not ratios:
        line = f"{_DISAGG_RULE}: not checked (no metric scored on both)"
    else:
        line = f"{_DISAGG_RULE}: " + ("yes" if not exceptions else f"NO ({'; '.join(exceptions)})")
    return {"rule": _DISAGG_RULE, "passed": bool(ratios) and not exceptions, "exceptions": exceptions, "line": line}


def _overlap(predictions: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per held-out group: the metrics it measures, those training measured too (scored), and why
    the others are physics only."""
    out = {}
    for group, part in predictions.groupby("group"):
        measures, overlap, physics = [], [], {}
        for metric in METRICS:
            rows = _measured(part, f"{metric}_measured")
            if not rows.any():
                continue
            measures.append(metric)
            reasons = sorted(set(_physics_only_reason(part, metric)[rows]) - {""})
            if reasons:
                physics[metric] = "; ".join(reasons)
            else:
                overlap.append(metric)
        out[str(group)] = {"measured": measures, "overlap": overlap, "physics_only": physics}
    return out


def rule_checks(metrics: dict[str, Any], physics_only: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The surrogate against the achievable model (MAPE and median APE) and its P10-P90 coverage
    against ``COVERAGE_TARGET_PCT``, over the scored (learned) metrics: each with its exceptions and a
    printable line ("<rule>: yes" or "<rule>: NO (exceptions)").

    Coverage is checked on ``physics_only`` rows too (a metric too few training rows measured: the
    prior and its band alone), marked as such: they are rows of the split, and leaving them out hid
    that NVIDIA held out got P10-P90 around 10% of its 2,315 TTFTs while the rule named only the 9
    and 4 learned TTFT and ITL rows. The first rule skips them: there the surrogate is the prior."""
    worse, off = [], []
    low, high = COVERAGE_TARGET_PCT
    for metric, entry in metrics.items():
        surrogate, achievable = entry["surrogate"], entry["achievable"]
        for stat, label in [("mape_pct", "MAPE"), ("median_ape_pct", "median APE")]:
            if surrogate[stat] > achievable[stat]:
                worse.append(f"{metric} {label} {surrogate[stat]:.1f}% > {achievable[stat]:.1f}%")
    covered = [(metric, entry["surrogate"], "") for metric, entry in metrics.items()]
    covered += [(metric, entry["surrogate"], f" (physics only, {entry['surrogate']['rows']:,} rows)")
                for metric, entry in (physics_only or {}).items()]
    for metric, surrogate, note in covered:
        coverage = surrogate.get("p10_p90_coverage_pct")
        if coverage is not None and not low <= coverage <= high:
            off.append(f"{metric} {coverage:.1f}%{note}")
    checks = []
    for rule, exceptions in [(_ACHIEVABLE_RULE, worse), (_COVERAGE_RULE, off)]:
        line = f"{rule}: " + ("yes" if not exceptions else f"NO ({'; '.join(exceptions)})")
        checks.append({"rule": rule, "passed": not exceptions, "exceptions": exceptions, "line": line})
    return checks
