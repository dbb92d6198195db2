"""Decisions measured against reality: does the optimizer pick the configuration that really was best?

    python benchmarks/regret.py [--scenario {throughput,slo,all}] [--folds 5] [--n-estimators 250] [--seed 0]
                                [--min-group 3] [--json PATH] [--free-analytic-features]

(``--folds 0`` trains one model per group: leave exactly that group out.)

Groups: shared measurements with the same source, model, input and output lengths, framework and
batching mode, which vary hardware, devices, tp/pp/dp, batch or concurrency and precision. For each
group the surrogate is trained without that group (groups are dealt into ``--folds`` folds, seeded;
each fold's model is trained on every other fold, so it never saw the group it ranks) and asked for
the best of the group's measured configurations by the optimizer's objective (output tokens/s per
device). Regret = best measured / measured value of the pick - 1.

``throughput`` scenario (no latency limit): the pick is the best predicted among configurations the
analytic memory model says fit (all of them if it says none do). Reported per predictor (surrogate,
analytic model alone, a uniformly random pick as an expectation, and the surrogate without the memory
filter, to show what the memory model's false rejections cost): regret (median, mean, P90) and the
hit rate of the measured top 3. Aim: median regret <= 5%, top-3 hit rate >= 80%.

``slo`` scenario (an inter-token latency limit, as users decide): only groups whose rows measured ITL
(the aiconfigurator source, continuous batching). The group's limit is its median measured ITL; the
pick is what ``surrogate optimize --max-itl-s LIMIT`` would pick among the group's configurations: the
optimizer's own ``score`` and ``rank`` with ``Targets(max_itl_s=LIMIT)``, so the limit binds the
predicted P90 ITL (``risk="p90"``, the default) and the memory model is a hard limit. When nothing is
feasible the optimizer raises ``InfeasibleError`` and recommends nothing: here that is "no pick", a
miss. Predictors: the surrogate binding its P90 (the default), its P80 (``--risk p80``) and P70 read off
the band (``surrogate.model.read_off_quantile``; P70 an analysis, not an optimizer option), its median
(``--risk p50``), the analytic model alone (its ITL has no spread), and the P90 surrogate without the
memory filter. The best is the best measured among rows that measured within the limit; a pick that
measured above the limit "breaks" it. Reported: median regret (a break or no pick counts as a miss,
infinite regret), mean regret over the picks that met the limit, the share of picks that break the
limit, the groups with no pick, and the top-3 hit rate (the pick is one of the 3 best rows that met
the limit). Aim: median regret <= 5%, <= 10% of picks break the limit, top-3 hit rate >= 80%. Also how often
the measured ITL (and TTFT) left the surrogate's P10-P90, apart for configurations asking for more requests in
flight than their KV cache holds (their band is calibrated apart: ``surrogate.model.band_cells``).

In both scenarios a configuration is predicted as the optimizer searches it: an SGLang row whose default
memory share leaves too little for its weights is predicted with ``--mem-fraction-static 0.9``
(``surrogate.optimize.with_raised_memory_shares``), as the runs that measured it must have been launched.

The throughput scenario alone trains fold models without the conformal interval calibration (its pick
uses the median only), which cuts training time about fourfold. The SLO scenario needs honest P90s,
so its fold models are calibrated (``--scenario all`` trains calibrated models once and uses them for
both; calibration only widens the P10/P90, so the medians, and the throughput picks, stay the same up
to quantile crossings). The runtime is printed at the end.

The SLO scenario also prints the held-out accuracy of the ITL and TTFT it ranked by, surrogate beside the
analytic model. ``--free-analytic-features`` is an ablation: fold models whose analytic features
(``features.build.PHYSICS_FEATURES``) are left out of the monotone constraints
(``SurrogateModel(monotone_analytic=False)``), which breaks the monotone guarantee; it measures what the
guarantee costs on these held-out groups.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.analytic import beyond_kv_cache
from features.configs import CONFIG_COLUMNS, normalize_configs
from surrogate.ingest import load_shared
from surrogate.model import SurrogateModel, error_summary, read_off_quantile, training_rows
from surrogate.optimize import OBJECTIVES, Targets, rank, score, with_raised_memory_shares

GROUP_KEYS = ["source", "model", "input_len", "output_len", "framework", "batching"]
OBJECTIVE = OBJECTIVES["throughput"]
SCENARIOS = ("throughput", "slo", "all")
THROUGHPUT_PREDICTORS = ["surrogate", "analytic", "random", "unfiltered"]
# The "exact median" predictors' band: the surrogate's P90 / median raised to this power (1: its own band; 1/2 half
# as wide in log): how narrow a band the SLO aims need, whatever the median's accuracy.
EXACT_BAND_POWERS = {"exact_median": 1.0, "exact_median_half": 0.5, "exact_median_quarter": 0.25,
                     "exact_median_tenth": 0.1}
# SLO predictors: label -> (what the limit binds, whether the memory model filters).
SLO_PREDICTORS = {"surrogate": ("p90", True), "surrogate_p80": ("p80", True), "surrogate_p70": ("p90", True),
                  "surrogate_p50": ("p50", True), "analytic": ("p50", True), "unfiltered": ("p90", False),
                  **{label: ("p90", False) for label in EXACT_BAND_POWERS}}
SLO_LABELS = {"surrogate": "surrogate, limit on P90", "surrogate_p80": "surrogate, limit on P80*",
              "surrogate_p70": "surrogate, limit on P70*", "surrogate_p50": "surrogate, limit on median",
              "analytic": "analytic alone", "unfiltered": "P90, no memory filter",
              "exact_median": "exact median, same P90 band", "exact_median_half": "exact median, band^(1/2)",
              "exact_median_quarter": "exact median, band^(1/4)", "exact_median_tenth": "exact median, band^(1/10)"}
# The levels between the median and P90 the sweep binds (predictor label -> quantile), read off the band:
# P80 as ``--risk p80`` binds it, P70 an analysis only.
INTERPOLATED_LEVELS = {"surrogate_p80": 0.8, "surrogate_p70": 0.7}
_ANALYTIC_METRICS = ("latency_s", "ttft_s", "itl_s")
_SUFFIXES = ("", "_p10", "_p90")


def _sequences(cfg: pd.DataFrame) -> np.ndarray:
    continuous = cfg["batching"].eq("continuous").to_numpy()
    return np.where(continuous, cfg["concurrency"], cfg["batch_size"]).astype(float) * cfg["dp"].to_numpy(float)


def _configs(table: pd.DataFrame) -> pd.DataFrame:
    return normalize_configs(table[[c for c in table.columns if c in CONFIG_COLUMNS]])[CONFIG_COLUMNS]


def measured_objective(cfg: pd.DataFrame, table: pd.DataFrame) -> np.ndarray:
    """Measured output tokens/s per device, derived the way the surrogate derives its prediction."""
    latency = pd.to_numeric(table["latency_s"], errors="coerce").to_numpy(dtype=float)
    steps = cfg["output_len"].to_numpy(dtype=float) - 1.0
    from_parts = (pd.to_numeric(table["ttft_s"], errors="coerce").to_numpy(dtype=float)
                  + steps * pd.to_numeric(table["itl_s"], errors="coerce").to_numpy(dtype=float))
    continuous = cfg["batching"].eq("continuous").to_numpy()
    latency = np.where(continuous | ~np.isfinite(latency), from_parts, latency)
    return _sequences(cfg) * cfg["output_len"].to_numpy(dtype=float) / latency / cfg["num_devices"].to_numpy(float)


def analytic_predictions(cfg: pd.DataFrame, predictions: pd.DataFrame) -> pd.DataFrame:
    """The fold model's predictions with every time replaced by its analytic estimate (no spread), and the
    throughputs derived from the analytic latency: the analytic model alone behind the same interface."""
    out = predictions.copy()
    for metric in _ANALYTIC_METRICS:
        for suffix in _SUFFIXES:
            out[f"{metric}{suffix}"] = predictions[f"analytic_{metric}"].to_numpy(dtype=float)
    latency = predictions["analytic_latency_s"].to_numpy(dtype=float)
    tokens = _sequences(cfg)
    for suffix in _SUFFIXES:
        out[f"output_throughput_tok_s{suffix}"] = tokens * cfg["output_len"].to_numpy(float) / latency
        out[f"throughput_tok_s{suffix}"] = (tokens * (cfg["input_len"].to_numpy(float)
                                                      + cfg["output_len"].to_numpy(float)) / latency)
    return out


def exact_median_predictions(predictions: pd.DataFrame, objective: np.ndarray, itl_s: np.ndarray,
                             cfg: pd.DataFrame, band_power: float = 1.0) -> pd.DataFrame:
    """A predictor that knows each configuration's measured ITL and objective exactly but keeps the
    surrogate's own P90 band (P90 / median of ITL, raised to ``band_power``: narrower below 1) and ignores
    memory: how much of the SLO regret is the band's width alone, whatever the median's accuracy."""
    out = predictions.assign(fits=True)
    band = predictions["itl_s_p90"].to_numpy(dtype=float) / predictions["itl_s"].to_numpy(dtype=float)
    out["itl_s"] = itl_s
    out["itl_s_p10"] = itl_s
    out["itl_s_p90"] = itl_s * band ** band_power
    throughput = objective * cfg["num_devices"].to_numpy(dtype=float)
    for suffix in _SUFFIXES:
        out[f"output_throughput_tok_s{suffix}"] = throughput
    return out


def _pick(values: np.ndarray, feasible: np.ndarray) -> int:
    pool = np.flatnonzero(feasible) if feasible.any() else np.arange(len(values))
    return int(pool[np.argmax(values[pool])])


def slo_pick(cfg: pd.DataFrame, predictions: pd.DataFrame, limit_s: float, risk: str) -> tuple[int | None, bool]:
    """What ``surrogate optimize --max-itl-s limit_s --risk risk`` would pick among these configurations.

    Returns the pick's position (``None`` when nothing is feasible: the optimizer raises
    ``InfeasibleError`` and recommends nothing) and whether some configuration was predicted within
    the limit (so that, with no pick, the memory model is what ruled them all out).
    """
    scored = score(cfg.reset_index(drop=True), predictions.reset_index(drop=True),
                   Targets(max_itl_s=limit_s, risk=risk))
    ranked = rank(scored, OBJECTIVE)
    within = bool((scored["itl_over_s"].to_numpy(dtype=float) <= 0.0).any())
    return (None if ranked.empty else int(ranked.index[0])), within


def best_at_limit(objective: np.ndarray, itl_s: np.ndarray, limit_s: float) -> bool:
    """Whether the best configuration within the limit measured the limit itself (the limit is the group's median
    measured ITL, one configuration's own where the group has an odd count): a P90 above the median, however
    exact the median, then rules it out."""
    pool = np.flatnonzero(itl_s <= limit_s)
    return bool(len(pool)) and bool(itl_s[pool[np.argmax(objective[pool])]] == limit_s)


def slo_outcome(objective: np.ndarray, itl_s: np.ndarray, limit_s: float, pick: int | None) -> dict[str, Any]:
    """Measured outcome of one pick against the limit: regret (infinite for a miss), break, top-3 hit.

    The best is the best measured objective among the rows that measured within the limit; a pick
    that measured above it breaks the limit; no pick (nothing predicted feasible) is a miss too.
    """
    meets = itl_s <= limit_s
    pool = np.flatnonzero(meets)
    ranked = pool[np.argsort(-objective[pool], kind="stable")]
    if pick is None:
        return {"picked": False, "breaks": False, "regret": math.inf, "top3": False}
    breaks = not bool(meets[pick])
    regret = math.inf if breaks else float(objective[ranked[0]] / objective[pick] - 1.0)
    return {"picked": True, "breaks": breaks, "regret": regret, "top3": pick in set(ranked[:3].tolist())}


def _outside_band(measured: np.ndarray, predictions: pd.DataFrame, metric: str) -> np.ndarray:
    """Per configuration, whether a measured value lies outside the predicted P10-P90 (False where unmeasured)."""
    low, high = (predictions[f"{metric}{q}"].to_numpy(dtype=float) for q in ("_p10", "_p90"))
    with np.errstate(invalid="ignore"):
        return np.asarray((measured < low) | (measured > high), dtype=bool)


def kv_cache_full(cfg: pd.DataFrame, predictions: pd.DataFrame) -> np.ndarray:
    """Per configuration, whether it asks for more requests in flight than its KV cache holds (the analytic
    model's ``running_sequences``): the cell whose band is calibrated apart (``surrogate.model.band_cells``)."""
    if "running_sequences" not in predictions:
        return np.zeros(len(cfg), dtype=bool)
    return beyond_kv_cache(cfg["batching"].astype(str), cfg["concurrency"], predictions["running_sequences"])


# The predicted columns the accuracy line scores, per metric: the surrogate's and the analytic model's.
_SCORED = {"itl": {"surrogate": "itl_s", "analytic": "analytic_itl_s"},
           "ttft": {"surrogate": "ttft_s", "analytic": "analytic_ttft_s"}}
# Per-configuration values a group keeps for that line (left out of the JSON).
_SCORED_KEYS = {f"scored_{metric}_{kind}" for metric, columns in _SCORED.items() for kind in ["measured", *columns]}


def _scored_values(itl_s: np.ndarray, ttft_s: np.ndarray, predictions: pd.DataFrame) -> dict[str, list[float]]:
    """The measured ITL and TTFT of the configurations that measured them, and what each predictor said there."""
    measured = {"itl": np.asarray(itl_s, dtype=float), "ttft": np.asarray(ttft_s, dtype=float)}
    out = {}
    for metric, columns in _SCORED.items():
        ok = np.isfinite(measured[metric]) & (measured[metric] > 0)
        out[f"scored_{metric}_measured"] = measured[metric][ok].tolist()
        for predictor, column in columns.items():
            out[f"scored_{metric}_{predictor}"] = predictions[column].to_numpy(dtype=float)[ok].tolist()
    return out


def _accuracy(result: pd.DataFrame, metric: str, predictor: str) -> str:
    """'MAPE / median APE' of one predictor on one metric over every group (``surrogate.model.error_summary``)."""
    measured, predicted = (np.concatenate([np.asarray(v, dtype=float) for v in result[f"scored_{metric}_{which}"]])
                           for which in ("measured", predictor))
    scores = error_summary(measured, predicted)
    return f"{scores['mape_pct']:.1f} / {scores['median_ape_pct']:.1f}"


def slo_entry(name: str, objective: np.ndarray, itl_s: np.ndarray, cfg: pd.DataFrame,
              predictions: pd.DataFrame, ttft_s: np.ndarray | None = None) -> dict[str, Any]:
    """One group of the SLO scenario: its limit (the median measured ITL) and each predictor's outcome, and how
    often the measured ITL (and TTFT, where given) left the band, apart for configurations beyond their KV cache."""
    limit_s = float(np.median(itl_s))
    low, high = predictions["itl_s_p10"].to_numpy(dtype=float), predictions["itl_s_p90"].to_numpy(dtype=float)
    full = kv_cache_full(cfg, predictions)
    ttft = np.full(len(objective), np.nan) if ttft_s is None else np.asarray(ttft_s, dtype=float)
    itl_outside = (itl_s < low) | (itl_s > high)
    ttft_outside = (np.zeros(len(objective), dtype=bool) if ttft_s is None
                    else _outside_band(ttft, predictions, "ttft_s"))
    entry: dict[str, Any] = {"group": name, "configs": len(objective), "limit_itl_s": limit_s,
                             **_scored_values(itl_s, ttft, predictions),
                             "configs_within_limit": int((itl_s <= limit_s).sum()),
                             "best_at_limit": best_at_limit(objective, itl_s, limit_s),
                             "itl_below_p10": int((itl_s < low).sum()), "itl_above_p90": int((itl_s > high).sum()),
                             "kv_cache_full": int(full.sum()),
                             "kv_cache_full_itl_outside": int(itl_outside[full].sum()),
                             "ttft_measured": int(np.isfinite(ttft).sum()),
                             "kv_cache_full_ttft_measured": int(np.isfinite(ttft[full]).sum()),
                             "ttft_outside": int(ttft_outside.sum()),
                             "kv_cache_full_ttft_outside": int(ttft_outside[full].sum())}
    analytic = analytic_predictions(cfg, predictions)
    unfiltered = predictions.assign(fits=True)
    frames = {"surrogate": predictions, "surrogate_p50": predictions, "analytic": analytic, "unfiltered": unfiltered,
              **{label: exact_median_predictions(predictions, objective, itl_s, cfg, power)
                 for label, power in EXACT_BAND_POWERS.items()}}
    for label, quantile in INTERPOLATED_LEVELS.items():
        level = read_off_quantile(predictions["itl_s"].to_numpy(dtype=float),
                                  predictions["itl_s_p90"].to_numpy(dtype=float), quantile)
        if SLO_PREDICTORS[label][0] == "p90":  # a level --risk does not offer: bound where it binds its P90
            frames[label] = predictions.assign(itl_s_p90=level)
        else:
            frames[label] = predictions
        entry[f"itl_above_{label.removeprefix('surrogate_')}"] = int((itl_s > level).sum())
    for label, (risk, _) in SLO_PREDICTORS.items():
        pick, within = slo_pick(cfg, frames[label], limit_s, risk)
        outcome = slo_outcome(objective, itl_s, limit_s, pick)
        entry.update({f"{label}_{key}": value for key, value in outcome.items()})
        entry[f"{label}_memory_ruled_out"] = pick is None and within
    return entry


def throughput_entry(name: str, objective: np.ndarray, cfg: pd.DataFrame, predictions: pd.DataFrame) -> dict[str, Any]:
    """One group of the throughput scenario: each predictor's regret and top-3 hit."""
    scored = score(cfg.reset_index(drop=True), predictions.reset_index(drop=True), Targets())
    analytic = score(cfg.reset_index(drop=True), analytic_predictions(cfg, predictions).reset_index(drop=True),
                     Targets())
    best = objective.max()
    top3 = set(np.argsort(-objective, kind="stable")[:3].tolist())
    feasible = scored["fits"].to_numpy(dtype=bool)
    regrets = best / objective - 1.0
    entry: dict[str, Any] = {"group": name, "configs": len(objective), "memory_model_rejects": int((~feasible).sum())}
    for label, values, allowed in [("surrogate", scored[OBJECTIVE.column].to_numpy(), feasible),
                                   ("analytic", analytic[OBJECTIVE.column].to_numpy(), feasible),
                                   ("unfiltered", scored[OBJECTIVE.column].to_numpy(), np.ones_like(feasible))]:
        choice = _pick(values, allowed)
        entry[f"{label}_regret"] = float(regrets[choice])
        entry[f"{label}_top3"] = choice in top3
    entry["random_regret"] = float(regrets.mean())
    entry["random_top3"] = min(3, len(objective)) / len(objective)
    return entry


def _fold_of_groups(groups: pd.Series, folds: int, seed: int) -> pd.Series:
    names = sorted(set(groups))
    if folds <= 0:  # leave one group out
        return groups.map({name: k for k, name in enumerate(names)})
    order = np.random.default_rng(seed).permutation(len(names))
    return groups.map({names[i]: int(k % folds) for k, i in enumerate(order)})


def prepare(table: pd.DataFrame, min_group: int) -> pd.DataFrame:
    """Rows with a measured objective, their group, and which scenario evaluates their group."""
    table = table.assign(objective=measured_objective(_configs(table), table))
    table = table[np.isfinite(table["objective"]) & (table["objective"] > 0)].reset_index(drop=True)
    group = table[GROUP_KEYS].astype(str).agg(" | ".join, axis=1)
    itl = pd.to_numeric(table["itl_s"], errors="coerce")
    has_itl = (np.isfinite(itl) & (itl > 0)).to_numpy()
    slo_sizes = pd.Series(has_itl, index=table.index).groupby(group).transform("sum")
    return table.assign(group=group, itl_measured_s=itl, in_throughput=group.map(group.value_counts()) >= min_group,
                        in_slo=has_itl & (slo_sizes >= min_group).to_numpy())


def held_out_predictions(table: pd.DataFrame, folds: int, n_estimators: int, seed: int, calibrate: bool,
                         evaluated: np.ndarray, monotone_analytic: bool = True
                         ) -> Iterator[tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]]:
    """Per fold: the evaluated rows of its groups, their configurations and the predictions of a model
    trained on every other fold."""
    fold = _fold_of_groups(table["group"], folds, seed)
    count = int(fold.max()) + 1
    for k in range(count):
        test = (fold == k).to_numpy() & evaluated
        if not test.any():
            continue
        started = time.perf_counter()
        model = SurrogateModel(seed=seed, n_estimators=n_estimators, calibrate=calibrate,
                               monotone_analytic=monotone_analytic).fit(table[(fold != k).to_numpy()])
        held = table[test].reset_index(drop=True)
        cfg = with_raised_memory_shares(_configs(held))  # as optimize searches them: SGLang's share raised where needed
        predictions = model.predict(cfg).reset_index(drop=True)
        print(f"fold {k + 1}/{count}: trained{' and calibrated' if calibrate else ''} in "
              f"{time.perf_counter() - started:.0f} s, {held['group'].nunique()} groups", file=sys.stderr)
        yield held, cfg.reset_index(drop=True), predictions


def evaluate(table: pd.DataFrame, scenario: str, folds: int, n_estimators: int, seed: int,
             min_group: int, monotone_analytic: bool = True) -> dict[str, pd.DataFrame]:
    """Per scenario, one row per group with each predictor's outcome."""
    table = prepare(table, min_group)
    wanted = {"throughput": ["throughput"], "slo": ["slo"], "all": ["throughput", "slo"]}[scenario]
    evaluated = np.zeros(len(table), dtype=bool)
    for name in wanted:
        evaluated |= table[f"in_{name}"].to_numpy()
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in wanted}
    for held, cfg, predictions in held_out_predictions(table, folds, n_estimators, seed, "slo" in wanted, evaluated,
                                                       monotone_analytic):
        for name in wanted:
            for group, members in held[held[f"in_{name}"]].groupby("group").groups.items():
                index = np.asarray(members)
                objective = held["objective"].to_numpy(dtype=float)[index]
                if name == "throughput":
                    rows[name].append(throughput_entry(str(group), objective, cfg.iloc[index],
                                                       predictions.iloc[index]))
                else:
                    rows[name].append(slo_entry(str(group), objective, held["itl_measured_s"].to_numpy(float)[index],
                                                cfg.iloc[index], predictions.iloc[index],
                                                held["ttft_s"].to_numpy(float)[index]))
    return {name: pd.DataFrame(entries) for name, entries in rows.items()}


def summary(result: pd.DataFrame) -> dict[str, dict[str, float]]:
    out = {}
    for label in THROUGHPUT_PREDICTORS:
        regret = result[f"{label}_regret"]
        out[label] = {"median_regret_pct": float(regret.median() * 100), "mean_regret_pct": float(regret.mean() * 100),
                      "p90_regret_pct": float(regret.quantile(0.9) * 100),
                      "top3_hit_rate_pct": float(result[f"{label}_top3"].astype(float).mean() * 100)}
    return out


def slo_summary(result: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per predictor: median regret (misses infinite), mean regret of the picks that met the limit,
    share of picks that broke it, groups with no pick (and those the memory model ruled out), top-3."""
    out = {}
    for label in SLO_PREDICTORS:
        regret = result[f"{label}_regret"].to_numpy(dtype=float)
        picked = result[f"{label}_picked"].to_numpy(dtype=bool)
        breaks = result[f"{label}_breaks"].to_numpy(dtype=bool)
        met = np.isfinite(regret)
        out[label] = {"median_regret_pct": float(np.median(regret) * 100),
                      "mean_regret_met_pct": float(regret[met].mean() * 100) if met.any() else math.nan,
                      "picks": int(picked.sum()), "break_pct": float(breaks.sum() / max(picked.sum(), 1) * 100),
                      "no_pick": int((~picked).sum()),
                      "no_pick_memory": int(result[f"{label}_memory_ruled_out"].to_numpy(dtype=bool).sum()),
                      "top3_hit_rate_pct": float(result[f"{label}_top3"].to_numpy(dtype=float).mean() * 100)}
    return out


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def print_throughput(result: pd.DataFrame, min_group: int) -> dict[str, dict[str, float]]:
    stats = summary(result)
    print(f"Throughput scenario: {len(result)} groups of >= {min_group} measured configurations, "
          f"{int(result['configs'].sum())} configurations; objective: {OBJECTIVE.label}")
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
    print(f"aim: median regret <= 5% ({_met(aims['median_regret_pct'] <= 5)}), top-3 hit >= 80% "
          f"({_met(aims['top3_hit_rate_pct'] >= 80)})")
    return stats


def print_slo(result: pd.DataFrame, min_group: int) -> dict[str, dict[str, float]]:
    stats = slo_summary(result)
    sources = sorted(set(result["group"].str.split(" | ", regex=False).str[0]))
    print(f"SLO scenario: {len(result)} groups of >= {min_group} configurations that measured ITL "
          f"({', '.join(sources)}), {int(result['configs'].sum())} configurations; ITL limit: the group's median "
          f"measured ITL; pick: best predicted {OBJECTIVE.label} within the limit, as `surrogate optimize` picks")
    print(f"{'predictor':<27} {'median regret':>14} {'mean regret (met)':>18} {'picks':>6} {'break':>7} "
          f"{'no pick (memory)':>17} {'top-3 hit':>10}")
    for label, s in stats.items():
        print(f"{SLO_LABELS[label]:<27} {s['median_regret_pct']:>13.1f}% {s['mean_regret_met_pct']:>17.1f}% "
              f"{s['picks']:>6} {s['break_pct']:>6.1f}% {s['no_pick']:>8} ({s['no_pick_memory']:>3})    "
              f"{s['top3_hit_rate_pct']:>9.1f}%")
    print("regret: best measured within the limit / measured pick - 1; a pick that measured above the limit "
          "(break) or no pick (nothing predicted feasible: the optimizer exits with InfeasibleError) is a miss, "
          "infinite in the median and left out of the mean; break: share of picks; no pick (memory): groups "
          "without a pick (of which the memory model ruled out every configuration predicted within the limit)")
    exact = stats["exact_median"]
    print(f"exact median, same P90 band: each configuration's measured ITL and objective as the median, P90 = "
          f"measured ITL x the surrogate's P90/median for it, no memory filter: the regret the band's width alone "
          f"costs (median {exact['median_regret_pct']:.1f}%, top-3 {exact['top3_hit_rate_pct']:.1f}%); band^(1/k): "
          f"the same with P90 / median raised to 1/k, a band k times narrower in log; in "
          f"{int(result['best_at_limit'].sum())} of {len(result)} groups the best configuration within the limit "
          f"measured the limit itself (the median of an odd count), which any band above the median rules out")
    configs = int(result["configs"].sum())
    below, above = int(result["itl_below_p10"].sum()), int(result["itl_above_p90"].sum())
    itl_rows, ttft_rows = (sum(len(v) for v in result[f"scored_{metric}_measured"]) for metric in ("itl", "ttft"))
    itl, ttft = ({p: _accuracy(result, metric, p) for p in ("surrogate", "analytic")} for metric in ("itl", "ttft"))
    print(f"held-out accuracy on these configurations (MAPE / median APE %): ITL surrogate {itl['surrogate']}, "
          f"analytic {itl['analytic']} ({itl_rows} rows); TTFT surrogate {ttft['surrogate']}, analytic "
          f"{ttft['analytic']} ({ttft_rows} rows)")
    print(f"the surrogate's ITL P10-P90 on these configurations: covers {(configs - below - above) / configs:.1%} "
          f"(measured above P90: {above / configs:.1%}, below P10: {below / configs:.1%})")
    full, measured = int(result["kv_cache_full"].sum()), int(result["ttft_measured"].sum())
    full_ttft = int(result["kv_cache_full_ttft_measured"].sum())
    if full:
        full_itl_out, full_ttft_out = int(result["kv_cache_full_itl_outside"].sum()), \
            int(result["kv_cache_full_ttft_outside"].sum())
        rest_ttft = measured - full_ttft
        print(f"of them asking for more requests in flight than their KV cache holds: {full}; their ITL P10-P90 "
              f"covers {1 - full_itl_out / full:.1%}, their TTFT's {1 - full_ttft_out / max(full_ttft, 1):.1%} "
              f"({full_ttft} measured); the rest: ITL {1 - (below + above - full_itl_out) / (configs - full):.1%}, "
              f"TTFT {1 - (int(result['ttft_outside'].sum()) - full_ttft_out) / max(rest_ttft, 1):.1%}")
    levels = ", ".join(f"P{round(q * 100)} {int(result[f'itl_above_p{round(q * 100)}'].sum()) / configs:.1%} "
                       f"(nominal {1 - q:.0%})" for q in INTERPOLATED_LEVELS.values())
    print(f"* P80, P70: the ITL median x (P90 / median) ** (z_q / z_0.9), as if the band's upper half were "
          f"log-normal (P80 as `--risk p80` binds it, P70 in place of the P90); not calibrated quantiles "
          f"(measured above: {levels})")
    aims = stats["surrogate"]
    print(f"aim (surrogate, limit on P90): median regret <= 5% ({_met(aims['median_regret_pct'] <= 5)}), "
          f"<= 10% of picks break the limit ({_met(aims['break_pct'] <= 10)}), top-3 hit >= 80% "
          f"({_met(aims['top3_hit_rate_pct'] >= 80)})")
    return stats


def _finite_or_none(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scenario", choices=SCENARIOS, default="throughput",
                        help="throughput (no latency limit), slo (ITL limit; calibrated models, slower) or all")
    parser.add_argument("--folds", type=int, default=5, help="group folds; 0 = one model per group")
    parser.add_argument("--n-estimators", type=int, default=250)  # as SurrogateModel's default
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-group", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="also write per-group results and the summary here")
    parser.add_argument("--free-analytic-features", action="store_true",
                        help="ablation: the analytic features outside the monotone constraints (no monotone guarantee)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    table = training_rows(load_shared().table)
    if args.free_analytic_features:
        print("ABLATION: fold models with the analytic features outside the monotone constraints (the monotone "
              "guarantee does not hold)\n")
    results = evaluate(table, args.scenario, args.folds, args.n_estimators, args.seed, args.min_group,
                       not args.free_analytic_features)
    stats = {}
    for position, (name, result) in enumerate(results.items()):
        if position:
            print()
        stats[name] = (print_throughput if name == "throughput" else print_slo)(result, args.min_group)
    print(f"runtime {time.perf_counter() - started:.0f} s ({args.folds} folds, {args.n_estimators} trees, "
          f"{'calibrated' if 'slo' in results else 'uncalibrated'} fold models)")
    if args.json:
        payload = {name: {"summary": {label: {k: _finite_or_none(v) for k, v in values.items()}
                                      for label, values in stats[name].items()},
                          "groups": [{k: _finite_or_none(v) for k, v in row.items() if k not in _SCORED_KEYS}
                                     for row in results[name].to_dict(orient="records")]}
                   for name in results}
        args.json.write_text(json.dumps(payload, indent=2, default=str, allow_nan=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
