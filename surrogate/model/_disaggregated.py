"""The learned correction of disaggregated serving: the xPyD physics (:mod:`features.disaggregated`) times a
bounded, monotone correction learned from measured disaggregated deployments.

Per metric (TTFT, ITL) one LightGBM model of g = log(measured / physics) + slack x log(physics), fitted with a
Huber loss (a few rows measure tens of times the physics); the correction is g - slack x log(physics), so it may
fall as the physics rises, at most ``slack`` times as fast, where ``slack`` is 1 - the within-deployment elasticity
of the measured time on the physics' (``growth_slack``, at most 1/2, as the aggregated bundle's; the shared rows'
ITL grows 0.72 as fast as the physics along concurrency, and with no slack the trees could not follow: random
5-fold ITL median APE 8.3%, with it 5.1%, ad hoc on the disaggregated rows alone). The trees read what the
physics says about the row (its own time, the prefill, queue and transfer parts, the decode batch, the prefill
pool's utilisation) and the deployment's shape (worker counts and parallel degrees, lengths, concurrency, the model's
size, the hardware's rates). It is non-decreasing in every
feature that rises with the workload along the metric's axes (``MONOTONE_AXES``: TTFT in concurrency and prompt
length, ITL in those and the output length) and blind to those that can fall there (``LEFT_OUT_FEATURES``), so
where the physics does not get faster with more work, neither does the prediction (a slower prior never gives a
faster prediction either). Without that the default model's TTFT fell as concurrency grew on 108 of the 115
measured deployments swept from 1 to 16,384 in flight, by up to 4.5x in one doubling (``python
benchmarks/monotone.py`` on commit c9c4431's bundle; none since). Like the
aggregated model it never predicts below the peak bound (rows floored there are reported). P10/P90 come from
the residuals of deployments held out whole (a model on one system and engine at one prompt and output length:
what a user asks about is a deployment nobody measured, not a row whose neighbours were). Off the data (a model,
hardware or engine no disaggregated training row had, or a concurrency or length beyond the trained range) the
correction is shrunk toward the physics by the share that carried over where that was rehearsed (each model,
accelerator and engine held out in turn; each workload dimension's upper and lower half held out, trained on the
other), the slope of what the held-out rows needed on what they got, pooled over the held-out groups and clipped
to [0, 1] as the aggregated bundle rehearses its kinds; a kind with one group to learn from keeps none, a
workload dimension trained at one value all),
the interval widens to the error left there, and the row says what it is off. Past the trained workload range,
as the aggregated bundle does: above it a level slower than the physics is an added time, the correction read at
the row's twin (its workload clamped to the range) adding seconds that grow by a rehearsed power of the distance
(each dimension's upper half predicted from its lower half), never faster than the physics grows, and fixed where
nothing rehearsed it, while a faster level fades by the rehearsed share; below it a slower level fades and a
faster one stays. Each keeps the time from falling as the workload grows (P90 too: below the range only P10
widens). Latency is TTFT +
(output - 1) x ITL of the corrected metrics; throughput follows from the client concurrency by Little's law.
Rows that do not record their worker counts are left out (the deployment's size is unknown) and counted.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from features.configs import gather_specs, normalize_configs
from features.disaggregated import WORKER_COLUMNS, estimate_disaggregated, worker_configs
from features.efficiency import Efficiency
from features.errors import DataError
from surrogate.model._calibration import Band, added_growth_power, added_time, at_least, growth_slack, shrunk_band
from surrogate.model._compiled import predict_trees

__all__ = ["DisaggregatedCorrection", "disaggregated_rows", "complete_disaggregated", "DISAGG_METRICS",
           "MIN_DISAGGREGATED_ROWS", "OFF_KINDS", "WORKLOAD_COLUMNS", "DEPLOYMENT_COLUMNS"]

logger = logging.getLogger(__name__)
DISAGG_METRICS = ("ttft_s", "itl_s")
MIN_DISAGGREGATED_ROWS = 20
_FOLDS = 5
_EPS_S = 1e-6


def disaggregated_rows(table: pd.DataFrame) -> np.ndarray:
    """Which rows are disaggregated deployments (``mode`` column)."""
    if "mode" not in table:
        return np.zeros(len(table), dtype=bool)
    out: np.ndarray = table["mode"].astype("string").eq("disaggregated").fillna(False).to_numpy(dtype=bool)
    return out


def complete_disaggregated(table: pd.DataFrame) -> pd.DataFrame:
    """Disaggregated rows that record their worker counts (the others do not say how large they are)."""
    rows = table[disaggregated_rows(table)]
    needed = ["prefill_workers", "decode_workers", "concurrency"]
    if rows.empty or any(c not in rows for c in needed):
        return rows.iloc[:0].reset_index(drop=True)
    known = rows[needed].notna().all(axis=1)
    if (~known).any():
        logger.info("leaving out %d disaggregated rows without worker counts", int((~known).sum()))
    return rows[known].reset_index(drop=True)


def _features(configs: pd.DataFrame, est: pd.DataFrame) -> pd.DataFrame:
    """What the correction reads: the physics' parts and the deployment's shape, in logs."""
    prefill_cfg, decode_cfg, _ = worker_configs(configs)
    decode_norm = normalize_configs(decode_cfg)
    specs = gather_specs(decode_norm)

    def log(values: Any) -> np.ndarray:
        out: np.ndarray = np.log(np.maximum(np.asarray(values, dtype=float), _EPS_S))
        return out

    shape = {c: pd.to_numeric(configs[c], errors="coerce").to_numpy(dtype=float) if c in configs
             else np.full(len(configs), np.nan) for c in WORKER_COLUMNS}
    feats = {
        "log_physics_ttft_s": log(est["ttft_s"]), "log_physics_itl_s": log(est["itl_s"]),
        "log_prefill_s": log(est["prefill_s"]), "log_queue_s": log(est["queue_s"]),
        "log_kv_transfer_s": log(est["kv_transfer_s"]), "log_first_token_wait_s": log(est["first_token_wait_s"]),
        "log_decode_batch": log(est["decode_batch"]),
        "prefill_utilisation": (est["request_rate_req_s"] / est["prefill_capacity_req_s"]).to_numpy(dtype=float),
        "log_concurrency": log(pd.to_numeric(configs["concurrency"], errors="coerce")),
        "log_input_len": log(decode_norm["input_len"]), "log_output_len": log(decode_norm["output_len"]),
        "log_devices": log(est["num_devices"]),
        "log_active_params": log(specs["active_params"]), "log_mem_bw_gbps": log(specs["mem_bw_gbps"]),
        "log_matmul_peak_tflops": log(specs["matmul_peak_tflops"]),
        "weight_bytes_per_value": specs["weight_bytes_per_value"].to_numpy(dtype=float),
    }
    for name in ("workers", "tp", "dp", "ep"):
        for pool in ("prefill", "decode"):
            values = shape[f"{pool}_{name}"]
            feats[f"log_{pool}_{name}"] = log(np.where(np.isnan(values), 1.0, values))
    return pd.DataFrame(feats, index=configs.index)


# Per metric, the workload axes along which it must not fall: TTFT with more requests in flight (they queue
# longer) and a longer prompt (it prefills longer), not with a longer output (requests then arrive less often and
# queue less); ITL along all three, but where the decode workers' memory caps their batch (fewer decode at once,
# each step quicker), as the physics' decode batch says.
MONOTONE_AXES = {"ttft_s": ("concurrency", "input_len"), "itl_s": ("concurrency", "input_len", "output_len")}
# Per metric, the features constrained to raise the correction: each rises along every one of the metric's axes
# (the decode batch and what it drives fall only where memory caps it), so the correction never falls as the
# workload grows, and with it neither does the prediction (the physics rises too). A feature that falls along
# one of a metric's axes is left out of that metric's correction: for TTFT the decode side's (they fall with a
# longer prompt where memory caps the batch), for ITL the prefill pool's (its queue and load fall with a longer
# output; a disaggregated decode worker never runs a prefill).
RISING_FEATURES = {
    "ttft_s": ("log_physics_ttft_s", "log_prefill_s", "log_kv_transfer_s", "log_input_len", "log_concurrency"),
    "itl_s": ("log_physics_itl_s", "log_first_token_wait_s", "log_decode_batch", "log_kv_transfer_s",
              "log_concurrency", "log_input_len", "log_output_len"),
}
LEFT_OUT_FEATURES = {"ttft_s": ("log_physics_itl_s", "log_queue_s", "log_first_token_wait_s", "prefill_utilisation",
                                "log_decode_batch"),
                     "itl_s": ("log_physics_ttft_s", "log_queue_s", "prefill_utilisation", "log_prefill_s")}
# The Huber loss's reach (log): a row needing more than twice or half the physics counts linearly. Squared, a few
# measured 27-330x the physics' TTFT at 16 or fewer requests in flight (TensorRT-LLM on GB200 and H100) set the
# trees' top leaves, and the monotone constraints carried those leaves up the whole range above: trained on 16 or
# fewer in flight, the rows at 32 or more took a 43.8% median APE against the physics' 36.7%; with this loss
# 34.2%, and a reach of 0.5 or 1.0 gave 35.0% and 35.8% (ad hoc, the disaggregated rows alone on the shipped
# efficiency, `/tmp` script); no other split moved by more than 2 points.
HUBER_LOG = float(np.log(2.0))
# The columns a disaggregated deployment holds fixed while its measurements vary concurrency (its worker batch
# sizes follow the concurrency): the groups the elasticity of the measured time on the physics' is taken within
# (``growth_slack``).
SLACK_KEYS = ("model", "hardware", "framework", "framework_version", "input_len", "output_len",
              *(c for c in WORKER_COLUMNS if not c.endswith("batch_size")))
# What a row can be off the correction's data in (``off_support``), in that order; each but the workload is a
# column whose values are held out one at a time in rehearsal.
OFF_KINDS = ("model", "hardware", "framework", "workload")
# The workload dimensions whose trained range a row can leave.
WORKLOAD_COLUMNS = ("concurrency", "input_len", "output_len")
# How a workload dimension's trained range is said (``support_workload``).
_WORKLOAD_WORDS = {"concurrency": "{} in flight", "input_len": "prompts {} tokens", "output_len": "outputs {} tokens"}
# One deployment for the seen band: held out whole, its neighbours at other lengths, systems and engines kept.
DEPLOYMENT_COLUMNS = ("model", "hardware", "framework", "input_len", "output_len")


def _labels(rows: pd.DataFrame, columns: tuple[str, ...]) -> np.ndarray:
    """Each row's value of ``columns`` as one string, joined by "|" ("" where a column is missing)."""
    parts = [rows[c].astype(str) if c in rows else pd.Series("", index=rows.index) for c in columns]
    joined = parts[0]
    for part in parts[1:]:
        joined = joined + "|" + part
    return np.asarray(joined, dtype=object)


def _workload(rows: pd.DataFrame, column: str) -> np.ndarray:
    return pd.to_numeric(rows[column], errors="coerce").to_numpy(dtype=float) if column in rows \
        else np.full(len(rows), np.nan)


def _halves(values: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """The rows at or above the middle distinct value and the rows below it: each half held out in turn, the
    other trained on, as a row beyond the range it was trained on is asked (none for fewer than two values);
    with each held-out row's distance (log) beyond the range of the half kept."""
    distinct = np.unique(values[np.isfinite(values) & (values > 0)])
    if len(distinct) < 2:
        return []
    cut = distinct[len(distinct) // 2]
    upper = np.isfinite(values) & (values >= cut)
    lower = np.isfinite(values) & (values > 0) & ~upper
    with np.errstate(divide="ignore", invalid="ignore"):
        above = np.log(values / distinct[len(distinct) // 2 - 1])
        below = np.log(cut / values)
    return [(upper, above[upper]), (lower, below[lower])]


def _beyond(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """How far (log) each value lies outside [low, high]: 0 inside it (and where unknown)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.fmax(np.log(values / high), np.log(low / values))
    return np.where(np.isfinite(out), np.maximum(out, 0.0), 0.0)


def _physics_band(target: np.ndarray, prior: Band | None, shrink: float = 0.0) -> Band:
    """Nothing rehearsed: the share ``shrink`` of the correction kept (none: the physics), the band the physics'
    own error on the rows (reaching it, at 0), widened to ``prior`` where given (the aggregated physics' error on
    groups held out of its fit)."""
    low, high = np.quantile(target, [0.1, 0.9])
    low, high = min(low, 0.0), max(high, 0.0)
    if prior is not None:
        low, high = min(low, prior.low_log), max(high, prior.high_log)
    return Band(float(low), float(high), shrink, len(target))


class DisaggregatedCorrection:
    """Per-metric monotone log corrections of the disaggregated physics, with P10/P90 from deployments held out
    and a shrink and band per kind of being off the data."""

    def __init__(self, seed: int = 0, n_estimators: int = 300, learning_rate: float = 0.05, num_leaves: int = 15,
                 min_child_samples: int = 10) -> None:
        self.seed = seed
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples

    @classmethod
    def physics_only(cls, efficiency: Efficiency | None = None) -> DisaggregatedCorrection:
        """No learned correction: the physics, with no interval (a bundle trained without such rows)."""
        out = cls()
        out.efficiency_ = efficiency
        out.models_, out.bands_, out.train_rows_, out.kind_bands_ = {}, {}, {}, {}
        out.seen_values_, out.workload_range_, out.workload_extents_, out.physics_bands_ = {}, {}, {}, {}
        out.added_growth_, out.slack_ = {}, {}
        return out

    def _params(self, metric: str, columns: list[str]) -> dict[str, Any]:
        return {"objective": "huber", "alpha": HUBER_LOG, "learning_rate": self.learning_rate,
                "num_leaves": self.num_leaves,
                "min_data_in_leaf": self.min_child_samples, "lambda_l2": 1.0, "feature_fraction": 0.8,
                "bagging_fraction": 0.8, "bagging_freq": 1,
                "monotone_constraints": [1 if c in RISING_FEATURES[metric] else 0 for c in columns],
                "seed": self.seed, "deterministic": True, "force_col_wise": True, "num_threads": 1, "verbose": -1}

    def _train(self, metric: str, feats: pd.DataFrame, target: np.ndarray) -> Any:
        """Trees of g = log(measured / physics) + slack x log(physics), monotone in the rising features (the
        physics' own time among them): :meth:`_level` turns them back into a correction."""
        import lightgbm as lgb

        label = target + self._slack(metric) * feats[f"log_physics_{metric}"].to_numpy(dtype=float)
        data = lgb.Dataset(feats, label=label, free_raw_data=True)
        return lgb.train(self._params(metric, list(feats.columns)), data, num_boost_round=self.n_estimators)

    def _slack(self, metric: str) -> float:
        return float(getattr(self, "slack_", {}).get(metric, 0.0))

    def _level(self, metric: str, trees: Any, feats: pd.DataFrame) -> np.ndarray:
        """The correction log(prediction / physics) of rows ``feats``: g - slack x log(physics). The prediction,
        (1 - slack) x log(physics) + g, rises wherever the physics and the rising features do (slack <= 1/2)."""
        g = np.asarray(predict_trees(trees, feats), dtype=float)
        level: np.ndarray = g - self._slack(metric) * feats[f"log_physics_{metric}"].to_numpy(dtype=float)
        return level

    def fit(self, table: pd.DataFrame, efficiency: Efficiency | None = None,
            prior_bands: Mapping[str, Band] | None = None) -> DisaggregatedCorrection:
        """Learn from the complete disaggregated rows of ``table`` that measured TTFT or ITL. ``prior_bands``: per
        metric, the aggregated physics' band on groups held out of its fit, the least band of a kind nothing
        rehearsed (two models measured 264 rows: with one left out, the other's physics error as the band covered
        48% of its ITLs, ad hoc)."""
        rows = complete_disaggregated(table)
        if len(rows) < MIN_DISAGGREGATED_ROWS:
            raise DataError(f"{len(rows)} disaggregated rows with worker counts are too few to learn from "
                            f"(need {MIN_DISAGGREGATED_ROWS})")
        self.efficiency_ = efficiency
        est = estimate_disaggregated(rows, efficiency=efficiency)
        feats = _features(rows, est)
        self.feature_names_ = {metric: [c for c in feats.columns if c not in LEFT_OUT_FEATURES[metric]]
                               for metric in DISAGG_METRICS}
        self.models_: dict[str, Any] = {}
        self.bands_: dict[str, tuple[float, float]] = {}
        self.kind_bands_: dict[str, dict[str, Band]] = {}
        self.workload_extents_: dict[str, dict[str, float]] = {}
        self.physics_bands_: dict[str, Band] = {}
        self.added_growth_: dict[str, dict[str, float]] = {}
        self.train_rows_: dict[str, int] = {}
        self.slack_: dict[str, float] = {}
        self.seen_values_ = {kind: sorted(set(_labels(rows, (kind,)))) for kind in OFF_KINDS[:-1]}
        self.workload_range_ = {c: (float(np.nanmin(v)), float(np.nanmax(v))) for c in WORKLOAD_COLUMNS
                                if np.isfinite(v := _workload(rows, c)).any()}
        for metric in DISAGG_METRICS:
            measured = pd.to_numeric(rows[metric], errors="coerce").to_numpy(dtype=float)
            ok = np.isfinite(measured) & (measured > 0)
            if ok.sum() < MIN_DISAGGREGATED_ROWS:
                continue
            log_physics = np.log(est[metric].to_numpy(dtype=float)[ok])
            target = np.log(measured[ok]) - log_physics
            x, kept = feats.loc[ok, self.feature_names_[metric]].reset_index(drop=True), rows[ok].reset_index(drop=True)
            self.slack_[metric] = growth_slack(kept, np.log(measured[ok]), log_physics, SLACK_KEYS)
            prior = (prior_bands or {}).get(metric)
            self.physics_bands_[metric] = _physics_band(target, prior)
            seen = self._seen_band(metric, x, target, kept, prior)
            self.bands_[metric] = (seen.low_log, seen.high_log)
            rehearsals = self._rehearsals(kept)
            self.kind_bands_[metric] = {
                kind: at_least(self._kind_band(metric, x, target, held, prior, kind in WORKLOAD_COLUMNS), seen)
                for kind, (held, _) in rehearsals.items()}
            self.workload_extents_[metric] = {kind: extent for kind, (_, extent) in rehearsals.items()
                                              if kind in WORKLOAD_COLUMNS}
            self.added_growth_[metric] = self._added_growth(metric, x, target, kept, est[ok].reset_index(drop=True))
            self.models_[metric] = self._train(metric, x, target)
            self.train_rows_[metric] = int(ok.sum())
        return self

    def metadata(self) -> dict[str, Any]:
        """What a bundle records of this correction: rows per metric, bands and growth slack."""
        return {"disaggregated_rows_by_metric": dict(self.train_rows_),
                "disaggregated_bands_log": self.bands_to_dict(),
                "disaggregated_growth_slack": dict(getattr(self, "slack_", {}))}

    def bands_to_dict(self) -> dict[str, dict[str, dict[str, float]]]:
        """Per metric, the seen band, the physics' band (what rows far past the workload range near) and each
        kind's share kept and band (log), and how far each workload dimension's rehearsal reached
        (``extent_log``), for the bundle's metadata."""
        out: dict[str, dict[str, dict[str, float]]] = {}
        for metric, (low, high) in self.bands_.items():
            out[metric] = {"seen": {"low_log": low, "high_log": high}}
            if metric in self.physics_bands_:
                out[metric]["physics"] = self.physics_bands_[metric].to_dict()
            for kind, band in self.kind_bands_.get(metric, {}).items():
                extent = self.workload_extents_.get(metric, {}).get(kind)
                growth = self.added_growth_.get(metric, {}).get(kind)
                out[metric][kind] = band.to_dict() | ({"extent_log": extent} if extent is not None else {}) \
                    | ({"added_growth": growth} if growth is not None else {})
        return out

    def _added_growth(self, metric: str, x: pd.DataFrame, target: np.ndarray, rows: pd.DataFrame,
                      est: pd.DataFrame) -> dict[str, float]:
        """Per workload dimension with two halves, the power of the distance by which a slower level's added time
        grew above the range (:func:`added_growth_power`): its upper half predicted by a model of the lower half,
        read at each row's twin (the dimension clamped to the lower half's top), against what the rows needed.
        A dimension trained at one value, or whose upper rows the lower half read as no slower than the physics:
        0 (the added seconds stay)."""
        out: dict[str, float] = {}
        for column in WORKLOAD_COLUMNS:
            halves = _halves(_workload(rows, column))
            if not halves:
                continue
            upper, distance = halves[0]
            if int((~upper).sum()) < MIN_DISAGGREGATED_ROWS:
                continue
            kept = _workload(rows, column)[~upper]
            twin_est, twin_feats = self._twins(rows[upper], {column: (float(np.nanmin(kept)), float(np.nanmax(kept)))})
            level = self._level(metric, self._train(metric, x[~upper], target[~upper]),
                                twin_feats[self.feature_names_[metric]])
            growth = np.log(est[metric].to_numpy(dtype=float)[upper] / twin_est[metric].to_numpy(dtype=float))
            out[column] = added_growth_power(level, target[upper], growth, distance)
        return out

    def _held_out(self, metric: str, x: pd.DataFrame, target: np.ndarray,
                  held: list[np.ndarray]) -> list[np.ndarray]:
        """Per mask, the held rows' corrections by a model trained on the others (masks leaving fewer than
        ``MIN_DISAGGREGATED_ROWS`` to train on, or none held, are skipped: an empty prediction)."""
        out = []
        for mask in held:
            train = int((~mask).sum())
            out.append(self._level(metric, self._train(metric, x[~mask], target[~mask]), x[mask])
                       if mask.any() and train >= MIN_DISAGGREGATED_ROWS else np.empty(0))
        return out

    def _seen_band(self, metric: str, x: pd.DataFrame, target: np.ndarray, rows: pd.DataFrame,
                   prior: Band | None) -> Band:
        """P10/P90 of the residuals of each deployment (``DEPLOYMENT_COLUMNS``) predicted without its rows; with
        one deployment, of rows held out at random (5-fold).

        Held out at random, a row's neighbours at its deployment were trained on and the band was as narrow as
        they made it: P10-P90 covered 37-56% of the ITLs of the disaggregated rows held out by batch, input length,
        engine and model (``surrogate evaluate --split batch`` and the others)."""
        deployments = _labels(rows, DEPLOYMENT_COLUMNS)
        names = np.unique(deployments)
        if len(names) >= 2:
            held = [deployments == name for name in names]
        else:
            fold = np.random.default_rng(self.seed).permutation(len(target)) % _FOLDS
            held = [fold == k for k in range(_FOLDS)]
        residuals = np.full(len(target), np.nan)
        for mask, predicted in zip(held, self._held_out(metric, x, target, held), strict=True):
            if len(predicted):
                residuals[mask] = target[mask] - predicted
        residuals = residuals[np.isfinite(residuals)]
        if len(residuals) == 0:
            return _physics_band(target, prior)
        low, high = np.quantile(residuals, [0.1, 0.9])
        return Band(float(low), float(high), 1.0, len(residuals))

    @staticmethod
    def _rehearsals(rows: pd.DataFrame) -> dict[str, tuple[list[np.ndarray], float]]:
        """Per kind of being off the data (each workload dimension one kind), the groups held out in turn to
        rehearse it, and for a workload dimension how far (log, median) its held-out rows lay beyond the rest."""
        out: dict[str, tuple[list[np.ndarray], float]] = {}
        for kind in OFF_KINDS[:-1]:
            labels = _labels(rows, (kind,))
            out[kind] = ([labels == name for name in np.unique(labels)], 0.0)
        for column in WORKLOAD_COLUMNS:
            halves = _halves(_workload(rows, column))
            extent = float(np.median(np.concatenate([far for _, far in halves]))) if halves else 0.0
            out[column] = ([held for held, _ in halves], extent)
        return out

    def _kind_band(self, metric: str, x: pd.DataFrame, target: np.ndarray, held: list[np.ndarray],
                   prior: Band | None, workload: bool) -> Band:
        """The share of the correction kept off the data in one kind and the band left there: the groups ``held``
        predicted without their rows, the pooled slope of what they needed on what they got (``shrunk_band``).
        With fewer than two groups rehearsed nothing says the correction carries: the physics answers, with its
        own error as the band (:func:`_physics_band`; one model's correction kept whole, leaving a model out took
        the ITL from the physics' 15.8% to 24.2% median APE, P10-P90 covering 44%: ``python
        benchmarks/disaggregated.py``). A workload dimension trained at one value keeps the whole correction
        with that band, as the aggregated bundle's unrehearsed fades do: the trees never split on it, and the
        physics carries the dimension; above the range a slower level then adds the seconds it added at the
        top, no more (:meth:`predict`). Trained on 1,024-token prompts, the 8,192-token rows' median APE: ITL
        8.9% against the physics' 16.7%, TTFT 34.2% against 27.9%; with the level kept as a ratio the TTFT was
        58.2% (``surrogate evaluate --split input_length``)."""
        correction, needed, groups = [], [], []
        for k, (mask, predicted) in enumerate(zip(held, self._held_out(metric, x, target, held), strict=True)):
            if len(predicted):
                correction.append(predicted)
                needed.append(target[mask])
                groups.append(np.full(len(predicted), k))
        if len(correction) < 2:
            return _physics_band(target, prior, 1.0 if workload else 0.0)
        return shrunk_band(np.concatenate(correction), np.concatenate(needed), np.concatenate(groups))

    @staticmethod
    def _farther(band: Band, distance: np.ndarray, physics: Band,
                 extent: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The share kept and the band of rows ``distance`` (log) beyond the trained range in one dimension whose
        rehearsal held out rows ``extent`` beyond the rest: as rehearsed up to that far; ``farther`` times as far,
        the share falls to 1 / ``farther`` of it (what carried that far says nothing of farther) and the band
        moves toward the physics' (``physics``) by 1 - 1 / ``farther``, never narrowing: as the correction fades
        the prediction nears the physics, and so does its error (the aggregated bundle's band moves toward the
        prior's by the same share past its reference distance). Unrehearsed (``extent`` 0): ``band`` as it is."""
        if extent <= 0:
            return np.full(len(distance), band.shrink), np.full(len(distance), band.low_log), \
                np.full(len(distance), band.high_log)
        farther = np.maximum(distance / extent, 1.0)
        toward = 1.0 - 1.0 / farther
        low = np.minimum(band.low_log, band.low_log + (physics.low_log - band.low_log) * toward)
        high = np.maximum(band.high_log, band.high_log + (physics.high_log - band.high_log) * toward)
        return band.shrink / farther, low, high

    def _twins(self, configs: pd.DataFrame,
               ranges: Mapping[str, tuple[float, float]] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The physics and features of ``configs`` with each workload dimension clamped to its trained range
        (``ranges``, default :attr:`workload_range_`: where a row above it reads its correction). Clamped below as
        well: the twin of a row above the range in one dimension and below it in another does not move as the
        second grows, so the time it adds, weighed against the row's own physics, never falls."""
        twins = configs.copy()
        for column, (low, high) in (self.workload_range_ if ranges is None else ranges).items():
            if column in twins:
                twins[column] = np.clip(_workload(twins, column), low, high)
        est = estimate_disaggregated(twins, efficiency=self.efficiency_)
        return est, _features(twins, est)

    def _above_range(self, configs: pd.DataFrame) -> dict[str, np.ndarray]:
        """Per trained workload dimension, how far (log) each row lies above its range (0 inside, below it and
        where unknown)."""
        return {column: _beyond(_workload(configs, column), 0.0, high)  # nothing lies below 0
                for column, (_, high) in self.workload_range_.items()}

    def _past_range(self, configs: pd.DataFrame) -> dict[str, np.ndarray]:
        """Per trained workload dimension, how far (log) each row lies past its range (0 inside)."""
        return {column: _beyond(_workload(configs, column), low, high)
                for column, (low, high) in self.workload_range_.items()}

    def seen(self, configs: pd.DataFrame, past_range: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
        """Per row: whether its model, hardware and engine were among the disaggregated training rows, whether its
        concurrency and lengths lie inside their range, what it is off (``off_support``) and, past the range, the
        range in words (``support_workload``: "trained at 1-12,288 in flight"). A search predicts a hundred
        thousand rows: labels are looked up by code, never built per row. ``past_range``: :meth:`_past_range` of
        these rows where the caller has it."""
        out = pd.DataFrame(index=configs.index)
        values = self.seen_values_
        for kind in OFF_KINDS[:-1]:
            out[f"{kind}_seen_in_training"] = np.isin(_labels(configs, (kind,)), values.get(kind, []))
        ranges = self.workload_range_
        past = self._past_range(configs) if past_range is None else past_range
        beyond = np.column_stack([np.zeros(len(configs), dtype=bool)] + [far > 0 for far in past.values()])
        out["workload_in_training_range"] = ~beyond.any(axis=1)
        off = ~out[[f"{kind}_seen_in_training" for kind in OFF_KINDS[:-1]] + ["workload_in_training_range"]]
        labels = [", ".join(kind for bit, kind in enumerate(OFF_KINDS) if code >> bit & 1)
                  for code in range(2 ** len(OFF_KINDS))]
        codes = off.to_numpy(dtype=np.int64) @ (1 << np.arange(len(OFF_KINDS)))
        out["off_support"] = np.asarray(labels, dtype=object)[codes] if self.models_ \
            else "no disaggregated training rows"
        spans = [_WORKLOAD_WORDS[column].format(f"{low:,.0f}-{high:,.0f}") for column, (low, high) in ranges.items()]
        words = [", ".join(span for bit, span in enumerate(spans) if code >> bit & 1)
                 for code in range(2 ** len(spans))]
        codes = beyond[:, 1:].astype(np.int64) @ (1 << np.arange(len(spans)))
        out["support_workload"] = np.asarray(["trained at " + w if w else "" for w in words], dtype=object)[codes]
        return out

    def predict(self, configs: pd.DataFrame) -> pd.DataFrame:
        """TTFT and ITL with P10/P90, latency and throughputs, the physics beside them, for disaggregated rows."""
        est = estimate_disaggregated(configs, efficiency=self.efficiency_)
        feats = _features(configs, est)
        beyond = self._past_range(configs)
        above = self._above_range(configs)
        twins = np.logical_or.reduce([np.zeros(len(configs), dtype=bool), *(far > 0 for far in above.values())])
        twins &= bool(self.models_)
        # Only rows above the range have twins (a physics estimate of none costs as much as of one row).
        twin_est, twin_feats = self._twins(configs[twins]) if twins.any() else (None, None)
        support = self.seen(normalize_configs(configs[[c for c in ("hardware", "model", "framework", "input_len",
                                                                   "output_len", "concurrency") if c in configs]])
                            .set_axis(configs.index), beyond)
        off = {kind: ~support[f"{kind}_seen_in_training"].to_numpy(dtype=bool) for kind in OFF_KINDS[:-1]}
        out = pd.DataFrame(index=configs.index)
        floored = np.zeros(len(configs), dtype=bool)
        for metric in DISAGG_METRICS:
            physics = est[metric].to_numpy(dtype=float)
            model = self.models_.get(metric)
            n = len(configs)
            level = self._level(metric, model, feats[self.feature_names_[metric]]) if model else np.zeros(n)
            if model and twin_feats is not None:  # above the range: the correction at the top of it
                level[twins] = self._level(metric, model, twin_feats[self.feature_names_[metric]])
            seen_low, seen_high = self.bands_.get(metric, (np.nan, np.nan))
            shrink, low, high = np.ones(n), np.full(n, seen_low), np.full(n, seen_high)
            # The share kept of a slower level below the range and of a faster one above it (each fades toward
            # the physics there, so the time still never falls as the workload grows); a slower level above the
            # range adds a time instead, grown by the rehearsed power of the distance (``powered``).
            share_below, share_above, powered = np.ones(n), np.ones(n), np.zeros(n)
            for kind, band in self.kind_bands_.get(metric, {}).items():
                if kind not in WORKLOAD_COLUMNS:
                    rows = off[kind]
                    shrink = np.where(rows, np.minimum(shrink, band.shrink), shrink)
                    low = np.where(rows, np.minimum(low, band.low_log), low)
                    high = np.where(rows, np.maximum(high, band.high_log), high)
                    continue
                far = beyond.get(kind, np.zeros(n))  # a dimension no training row recorded: inside
                up = above.get(kind, np.zeros(n))
                kept, band_low, band_high = self._farther(band, far, self.physics_bands_[metric],
                                                          self.workload_extents_[metric][kind])
                share_below = np.where((far > 0) & (up <= 0), np.minimum(share_below, kept), share_below)
                share_above = np.where(up > 0, np.minimum(share_above, kept), share_above)
                powered = powered + self.added_growth_.get(metric, {}).get(kind, 0.0) * up
                low = np.where(far > 0, np.minimum(low, band_low), low)
                high = np.where(up > 0, np.maximum(high, band_high), high)  # below the range only P10 widens
            level = shrink * level
            slower = level > 0
            level = level * np.where(slower, share_below, share_above)
            middle = level
            if twin_est is not None:
                growth = np.log(physics[twins] / twin_est[metric].to_numpy(dtype=float))
                middle[twins] = np.where(slower[twins], added_time(level[twins], growth, powered[twins]),
                                         level[twins])
            peak = est[f"peak_{metric}"].to_numpy(dtype=float)
            floored |= physics * np.exp(middle) < peak
            for column, widen in ((metric, 0.0), (f"{metric}_p10", low), (f"{metric}_p90", high)):
                out[column] = np.maximum(physics * np.exp(middle + widen), peak)
            out[f"analytic_{metric}"] = physics
            out[f"peak_{metric}"] = peak
        steps = pd.to_numeric(configs["output_len"], errors="coerce").to_numpy(dtype=float) - 1.0
        tokens = pd.to_numeric(configs["input_len"], errors="coerce").to_numpy(dtype=float) + steps + 1.0
        concurrency = pd.to_numeric(configs["concurrency"], errors="coerce").to_numpy(dtype=float)
        for suffix in ("", "_p10", "_p90"):
            out[f"latency_s{suffix}"] = out[f"ttft_s{suffix}"] + steps * out[f"itl_s{suffix}"]
        for suffix, latency in (("", "latency_s"), ("_p10", "latency_s_p90"), ("_p90", "latency_s_p10")):
            rate = concurrency / out[latency].to_numpy()  # slow requests (P90 latency) give the P10 throughput
            out[f"throughput_tok_s{suffix}"] = rate * tokens
            out[f"output_throughput_tok_s{suffix}"] = rate * (steps + 1.0)
        out["analytic_latency_s"] = est["latency_s"].to_numpy(dtype=float)
        out["peak_latency_s"] = est["peak_latency_s"].to_numpy(dtype=float)
        out["floored_to_peak"] = floored
        for column in support.columns:
            out[column] = support[column].to_numpy()
        for column in ("queue_s", "prefill_s", "kv_transfer_s", "first_token_wait_s", "decode_batch",
                       "request_rate_req_s", "prefill_capacity_req_s", "decode_capacity_req_s", "bound_by",
                       "num_devices"):
            out[f"disagg_{column}"] = est[column].to_numpy()
        for column in ("fits", "mem_per_device_gb", "mem_usable_gb", "max_batch_size"):
            out[column] = est[column].to_numpy()
        return out
