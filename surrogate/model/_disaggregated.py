"""The learned correction of disaggregated serving: the xPyD physics (:mod:`features.disaggregated`) times a
bounded, monotone correction learned from measured disaggregated deployments.

Per metric (TTFT, ITL) one LightGBM model of log(measured / physics) on what the physics says about the row
(its own time, the prefill, queue and transfer parts, the decode batch, the prefill pool's utilisation) and the
deployment's shape (worker counts and parallel degrees, lengths, concurrency, the model's size, the hardware's
rates), non-decreasing in the physics' own time, so a slower prior never gives a faster prediction. Like the
aggregated model it never predicts below the peak bound (rows floored there are reported). P10/P90 come from
the out-of-fold residuals (5-fold): the correction's own error on rows it did not see; for a model or hardware no
disaggregated training row had, the correction is shrunk toward the physics by the share that carried over to a
held-out model (each model's rows predicted without them: the slope of what they needed on what they got, pooled
over models and clipped to [0, 1], as the aggregated bundle rehearses unseen models; trained on one model, none),
the interval widens to the error left there, and the row says it is off the data. Latency is TTFT +
(output - 1) x ITL of the corrected metrics; throughput follows from the client concurrency by Little's law.
Rows that do not record their worker counts are left out (the deployment's size is unknown) and counted.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from features.configs import gather_specs, normalize_configs
from features.disaggregated import WORKER_COLUMNS, estimate_disaggregated, worker_configs
from features.efficiency import Efficiency
from features.errors import DataError
from surrogate.model._calibration import shrunk_band
from surrogate.model._compiled import predict_trees

__all__ = ["DisaggregatedCorrection", "disaggregated_rows", "complete_disaggregated", "DISAGG_METRICS",
           "MIN_DISAGGREGATED_ROWS"]

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


_MONOTONE = {"ttft_s": "log_physics_ttft_s", "itl_s": "log_physics_itl_s"}


class DisaggregatedCorrection:
    """Per-metric monotone log corrections of the disaggregated physics, with out-of-fold P10/P90 residuals."""

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
        out.models_, out.bands_, out.train_rows_ = {}, {}, {}
        return out

    def _params(self, metric: str, columns: list[str]) -> dict[str, Any]:
        return {"objective": "regression", "learning_rate": self.learning_rate, "num_leaves": self.num_leaves,
                "min_data_in_leaf": self.min_child_samples, "lambda_l2": 1.0, "feature_fraction": 0.8,
                "bagging_fraction": 0.8, "bagging_freq": 1,
                "monotone_constraints": [1 if c == _MONOTONE[metric] else 0 for c in columns],
                "seed": self.seed, "deterministic": True, "force_col_wise": True, "num_threads": 1, "verbose": -1}

    def _train(self, metric: str, feats: pd.DataFrame, target: np.ndarray) -> Any:
        import lightgbm as lgb

        data = lgb.Dataset(feats, label=target, free_raw_data=True)
        return lgb.train(self._params(metric, list(feats.columns)), data, num_boost_round=self.n_estimators)

    def fit(self, table: pd.DataFrame, efficiency: Efficiency | None = None) -> DisaggregatedCorrection:
        """Learn from the complete disaggregated rows of ``table`` that measured TTFT or ITL."""
        rows = complete_disaggregated(table)
        if len(rows) < MIN_DISAGGREGATED_ROWS:
            raise DataError(f"{len(rows)} disaggregated rows with worker counts are too few to learn from "
                            f"(need {MIN_DISAGGREGATED_ROWS})")
        self.efficiency_ = efficiency
        est = estimate_disaggregated(rows, efficiency=efficiency)
        feats = _features(rows, est)
        self.feature_names_ = list(feats.columns)
        self.models_: dict[str, Any] = {}
        self.bands_: dict[str, tuple[float, float]] = {}
        self.train_rows_: dict[str, int] = {}
        folds = np.random.default_rng(self.seed).permutation(len(rows)) % _FOLDS
        self.models_seen_ = sorted(set(rows["model"].astype(str)))
        self.hardware_seen_ = sorted(set(rows["hardware"].astype(str)))
        self.unseen_bands_: dict[str, tuple[float, float]] = {}
        self.unseen_shrink_: dict[str, float] = {}
        for metric in DISAGG_METRICS:
            measured = pd.to_numeric(rows[metric], errors="coerce").to_numpy(dtype=float)
            ok = np.isfinite(measured) & (measured > 0)
            if ok.sum() < MIN_DISAGGREGATED_ROWS:
                continue
            target = np.log(measured[ok] / est[metric].to_numpy(dtype=float)[ok])
            x, fold = feats[ok].reset_index(drop=True), folds[ok]
            residuals = np.empty(int(ok.sum()))
            for k in range(_FOLDS):
                held = fold == k
                model = self._train(metric, x[~held], target[~held])
                residuals[held] = target[held] - model.predict(x[held])
            self.bands_[metric] = (float(np.quantile(residuals, 0.1)), float(np.quantile(residuals, 0.9)))
            low, high, shrink = self._unseen_band(metric, x, target, rows["model"].astype(str)[ok])
            self.unseen_bands_[metric], self.unseen_shrink_[metric] = (low, high), shrink
            self.models_[metric] = self._train(metric, x, target)
            self.train_rows_[metric] = int(ok.sum())
        return self

    def _unseen_band(self, metric: str, x: pd.DataFrame, target: np.ndarray,
                     models: pd.Series) -> tuple[float, float, float]:
        """P10/P90 of the log error on a model the correction has not seen, and the share of the correction kept
        there: each model's rows predicted by a correction trained without them (``shrunk_band``: the pooled
        slope of what they needed on what they got). With one model only nothing says the correction carries
        to another: the physics answers, with its own error on that model as the band (with one model's
        correction kept whole, leaving a model out took the disaggregated ITL from the physics' 15.8% to 24.2%
        median APE, P10-P90 covering 44%: ``python benchmarks/disaggregated.py``)."""
        names = models.to_numpy()
        if len(set(names)) < 2:
            low, high = np.quantile(target, [0.1, 0.9])
            return float(min(low, 0.0)), float(max(high, 0.0)), 0.0
        predicted = np.empty(len(target))
        for name in sorted(set(names)):
            held = names == name
            predicted[held] = self._train(metric, x[~held], target[~held]).predict(x[held])
        band = shrunk_band(predicted, target, names)
        return band.low_log, band.high_log, band.shrink

    def seen(self, configs: pd.DataFrame) -> pd.DataFrame:
        """Per row: whether its model and hardware were among the disaggregated training rows, and what it is off."""
        models = set(getattr(self, "models_seen_", []))
        hardware = set(getattr(self, "hardware_seen_", []))
        out = pd.DataFrame(index=configs.index)
        out["model_seen_in_training"] = configs["model"].astype(str).isin(models).to_numpy()
        out["hardware_seen_in_training"] = configs["hardware"].astype(str).isin(hardware).to_numpy()
        off = np.where(~out["model_seen_in_training"], "model", "")
        both = ~out["model_seen_in_training"] & ~out["hardware_seen_in_training"]
        off = np.where(both, "model, hardware", np.where(~out["hardware_seen_in_training"], "hardware", off))
        out["off_support"] = off if self.models_ else "no disaggregated training rows"
        return out

    def predict(self, configs: pd.DataFrame) -> pd.DataFrame:
        """TTFT and ITL with P10/P90, latency and throughputs, the physics beside them, for disaggregated rows."""
        est = estimate_disaggregated(configs, efficiency=getattr(self, "efficiency_", None))
        feats = _features(configs, est)
        support = self.seen(normalize_configs(configs[[c for c in ("hardware", "model", "input_len", "output_len")
                                                       if c in configs]]).set_axis(configs.index))
        off = support["off_support"].ne("").to_numpy()
        out = pd.DataFrame(index=configs.index)
        floored = np.zeros(len(configs), dtype=bool)
        for metric in DISAGG_METRICS:
            physics = est[metric].to_numpy(dtype=float)
            model = self.models_.get(metric)
            middle = predict_trees(model, feats[self.feature_names_]) if model else np.zeros(len(configs))
            seen_low, seen_high = self.bands_.get(metric, (np.nan, np.nan))
            unseen_low, unseen_high = getattr(self, "unseen_bands_", {}).get(metric, (seen_low, seen_high))
            middle = np.where(off, getattr(self, "unseen_shrink_", {}).get(metric, 1.0) * middle, middle)
            low = np.where(off, unseen_low, seen_low)
            high = np.where(off, unseen_high, seen_high)
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
