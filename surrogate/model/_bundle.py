"""The learned surrogate: LightGBM models that correct the analytic estimate, in one picklable object.

Each metric's model predicts ``log(measured / achievable)`` (the analytic model at achievable rates,
its parameters fitted on the same rows); with no data it predicts 0 and the bundle falls back to
physics. No prediction is below the peak-hardware time of the same work (``peak_*``): that floor is
applied to P10, median and P90, and ``floored_to_peak`` says where the median needed it. Quantile
models on the same target give P10 and P90. Throughput is derived
from the predicted latency so the metrics stay consistent with each other.

``surrogate.load(path)`` and plain ``joblib.load(path)`` both return a :class:`SurrogateModel`;
a bundle written by an incompatible format version is refused with a clear message. Intervals are
calibrated in :mod:`surrogate.model._calibration`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from importlib.metadata import version as _pkg_version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import joblib
import numpy as np
import numpy.typing as npt
import pandas as pd

from features import catalog
from features.analytic import estimate
from features.build import PHYSICS_FEATURES, build_features
from features.configs import CONFIG_COLUMNS, REQUIRED_COLUMNS, gather_specs, normalize_configs
from features.efficiency import Efficiency, default_efficiency
from features.errors import ConfigError, DataError, IncompatibleBundleError, NotFittedError
from surrogate.ingest.schema import SCHEMA
from surrogate.model._calibration import (
    CALIBRATION_FOLDS,
    QUANTILES,
    conformal_offset,
    group_offset,
    model_folds,
    row_offsets,
)
from surrogate.model._consistency import make_consistent
from surrogate.model._efficiency import fit_efficiency

if TYPE_CHECKING:
    import lightgbm as lgb

__all__ = ["SurrogateModel", "METRICS", "BUNDLE_FORMAT", "check_columns", "fingerprint"]

# 2: the target is measured / achievable, and the bundle carries its fitted efficiency parameters.
BUNDLE_FORMAT = 2
METRICS = ["latency_s", "ttft_s", "itl_s"]
# One thread: the training sets are small (thousands of rows), and OpenMP threads that share two
# cores with another busy process spin-wait; measured 0.5 s single-threaded vs 142 s with 2 threads
# for one 400-tree fit while another process was busy.
_THREADS = 1
# Fewer measured rows than this leave a metric to physics alone.
_MIN_ROWS_PER_METRIC = 20
# Columns a prediction input may carry besides the configuration: the rest of the canonical
# measurement table (metrics, provenance, labels) is ignored, so a data table can be passed straight in.
IGNORED_COLUMNS = {c.name for c in SCHEMA} - set(CONFIG_COLUMNS)


def _versions() -> dict[str, str]:
    out = {}
    for name in ["surrogate", "lightgbm", "numpy", "pandas", "optuna", "joblib"]:
        try:
            out[name] = _pkg_version(name)
        except Exception:  # noqa: BLE001 - a missing optional package just goes unrecorded
            out[name] = "unknown"
    return out


def _row_hashes(table: pd.DataFrame) -> npt.NDArray[np.uint64]:
    cols = [c for c in CONFIG_COLUMNS + METRICS if c in table.columns]
    hashes: npt.NDArray[np.uint64] = pd.util.hash_pandas_object(table[cols].astype(str), index=False).to_numpy()
    return hashes


def fingerprint(table: pd.DataFrame) -> str:
    """md5 of the training rows (configuration and metrics), independent of row order."""
    return hashlib.md5(np.sort(_row_hashes(table)).tobytes()).hexdigest()


def check_columns(configs: pd.DataFrame) -> None:
    """``ConfigError`` naming missing required columns and columns no configuration or data table has."""
    missing = [c for c in REQUIRED_COLUMNS if c not in configs.columns]
    unexpected = [c for c in configs.columns if c not in CONFIG_COLUMNS and c not in IGNORED_COLUMNS]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing columns: {', '.join(missing)}")
        if unexpected:
            parts.append(f"unexpected columns: {', '.join(unexpected)}")
        raise ConfigError("; ".join(parts) + f" (expected some of: {', '.join(CONFIG_COLUMNS)})")


class SurrogateModel:
    """Analytic roofline corrected by gradient-boosted trees, one per metric, with P10/P90."""

    def __init__(self, seed: int | None = 0, n_estimators: int = 400, learning_rate: float = 0.05,
                 num_leaves: int = 31, min_child_samples: int = 10, physics: bool = True,
                 with_hardware_id: bool = False, with_specs: bool = False, calibrate: bool = True,
                 fit_efficiency: bool = True) -> None:
        self.seed = seed
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.physics = physics
        self.with_hardware_id = with_hardware_id
        self.with_specs = with_specs
        self.calibrate = calibrate
        self.fit_efficiency = fit_efficiency

    # --- pickling with a format check -------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        return {"format_version": BUNDLE_FORMAT, **self.__dict__}

    def __setstate__(self, state: dict[str, Any]) -> None:
        found = state.get("format_version")
        if found != BUNDLE_FORMAT:
            raise IncompatibleBundleError(
                f"model bundle format {found} cannot be read by surrogate (format {BUNDLE_FORMAT}); "
                "retrain it with `surrogate train`")
        state = dict(state)
        state.pop("format_version")
        self.__dict__.update(state)

    # --- training -----------------------------------------------------------------------------
    def _params(self, objective: str, alpha: float | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {
            "objective": objective, "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves, "min_data_in_leaf": self.min_child_samples,
            "bagging_fraction": 0.8, "bagging_freq": 1, "feature_fraction": 0.8, "lambda_l2": 1.0,
            "seed": self.seed if self.seed is not None else 0, "deterministic": True,
            "force_col_wise": True, "num_threads": _THREADS, "verbose": -1,
        }
        if alpha is not None:
            params["alpha"] = alpha
        return params

    def _train(self, feats: pd.DataFrame, target: np.ndarray, objective: str, alpha: float | None) -> lgb.Booster:
        import lightgbm as lgb

        data = lgb.Dataset(feats, label=target, free_raw_data=True)
        return lgb.train(self._params(objective, alpha), data, num_boost_round=self.n_estimators)

    def _fit_quantile(self, feats: pd.DataFrame, target: np.ndarray, alpha: float) -> lgb.Booster:
        return self._train(feats, target, "quantile", alpha)

    def _features(self, cfg: pd.DataFrame, est: pd.DataFrame, specs: pd.DataFrame) -> pd.DataFrame:
        feats = build_features(cfg, est, normalized=True, with_hardware_id=self.with_hardware_id,
                               with_specs=self.with_specs, specs=specs)
        return feats if self.physics else feats.drop(columns=PHYSICS_FEATURES)

    def _physics(self, configs: pd.DataFrame, normalized: bool = False) -> tuple[pd.DataFrame, pd.DataFrame,
                                                                                  pd.DataFrame]:
        """Normalised configurations, their analytic estimate and their features, catalog specs gathered once."""
        cfg = configs[[c for c in configs.columns if c in CONFIG_COLUMNS]]
        if not normalized:
            cfg = normalize_configs(cfg)
        specs = gather_specs(cfg)
        est = estimate(cfg, normalized=True, specs=specs, efficiency=self.efficiency_)
        return cfg, est, self._features(cfg, est, specs)

    def fit(self, table: pd.DataFrame, progress: Callable[[str], None] | None = None) -> SurrogateModel:
        """Train on canonical rows; each metric uses the rows that measured it.

        Rows are put in a canonical order first, so the same rows in any order give the same model.
        """
        table = table.iloc[np.argsort(_row_hashes(table), kind="stable")].reset_index(drop=True)
        # The achievable model's parameters come from the same rows (so a held-out accelerator is held
        # out of them too); the learned trees correct what they leave.
        if self.fit_efficiency and self.physics:
            if progress:
                progress("efficiency parameters")
            self.efficiency_ = fit_efficiency(table, base=Efficiency())
        else:
            self.efficiency_ = default_efficiency()
        cfg, est, feats = self._physics(table)
        held_out = self._held_out_estimates(table, cfg, est, progress)
        self.models_: dict[str, dict[str, lgb.Booster]] = {}
        self.train_rows_: dict[str, int] = {}
        self.interval_offsets_: dict[str, float] = {}
        self.unseen_hardware_offsets_: dict[str, float] = {}
        self.unseen_model_offsets_: dict[str, float] = {}
        self.seen_hardware_ = sorted(set(cfg["hardware"]))
        self.seen_models_ = sorted(set(cfg["model"]))
        for metric in METRICS:
            if metric not in table.columns:
                continue
            measured = pd.to_numeric(table[metric], errors="coerce").to_numpy(dtype=float)
            rows = np.isfinite(measured) & (measured > 0)
            if rows.sum() < _MIN_ROWS_PER_METRIC:
                continue
            base = est[metric].to_numpy() if self.physics else np.ones(len(est))
            target = np.log(measured[rows] / base[rows])
            self._fit_metric(metric, feats[rows], target, progress)
            held = {kind: np.log(measured[rows] / frame[metric].to_numpy()[rows]) for kind, frame in held_out.items()}
            self._calibrate_metric(metric, feats[rows], target, cfg[rows], held, progress)
        if not self.models_:
            raise DataError(f"no metric has {_MIN_ROWS_PER_METRIC} or more measured rows; nothing to train")
        self.feature_names_in_ = list(feats.columns)
        self.metadata = self._metadata(table)
        return self

    def _fit_metric(self, metric: str, feats: pd.DataFrame, target: np.ndarray,
                    progress: Callable[[str], None] | None) -> None:
        """The median and the two quantile models of one metric's log correction."""
        fitted = {}
        for name, objective, alpha in [("p50", "regression", None),
                                       *[(q, "quantile", a) for q, a in QUANTILES.items()]]:
            if progress:
                progress(f"{metric} {name}")
            fitted[name] = self._train(feats, target, objective, alpha)
        self.models_[metric] = fitted
        self.train_rows_[metric] = len(target)

    def _held_out_estimates(self, table: pd.DataFrame, cfg: pd.DataFrame, est: pd.DataFrame,
                            progress: Callable[[str], None] | None) -> dict[str, pd.DataFrame]:
        """Per grouping (hardware, model folds), each row's achievable estimate with its own group left
        out of the efficiency fit: what calibration of the unseen-hardware and unseen-model bands needs,
        since off the data the prior is refit without that accelerator or model too."""
        groupings = {"hardware": cfg["hardware"].to_numpy(), "model": model_folds(cfg["model"].to_numpy())}
        if not (self.calibrate and self.fit_efficiency and self.physics):
            return {kind: est for kind in groupings}
        out = {}
        for kind, groups in groupings.items():
            frame = est[list(METRICS)].copy()
            for group in np.unique(groups):
                mine = groups == group
                if mine.all():  # nothing would be left to fit on
                    continue
                if progress:
                    progress(f"efficiency without {kind} {group}")
                try:
                    efficiency = fit_efficiency(table[~mine], base=self.efficiency_)
                except DataError:  # too few rows left: the group's own parameters are all there is
                    continue
                frame.loc[mine, list(METRICS)] = estimate(cfg[mine], normalized=True, efficiency=efficiency)[
                    list(METRICS)].to_numpy()
            out[kind] = frame
        return out

    def _calibrate_metric(self, metric: str, feats: pd.DataFrame, target: np.ndarray, cfg: pd.DataFrame,
                          held_out: dict[str, np.ndarray], progress: Callable[[str], None] | None) -> None:
        """Interval offsets of one metric: random folds, and whole accelerators or models held out
        (``held_out[kind]``: the targets with each row's group left out of the efficiency fit)."""
        if not self.calibrate:
            self.interval_offsets_[metric] = 0.0
            self.unseen_hardware_offsets_[metric] = self.unseen_model_offsets_[metric] = 0.0
            return
        if progress:
            progress(f"{metric} interval calibration")
        random_folds = np.random.default_rng(self.seed).permutation(len(target)) % CALIBRATION_FOLDS
        seen = conformal_offset(self._fit_quantile, feats, target, random_folds)
        self.interval_offsets_[metric] = seen
        # Rows on hardware (or a model) the training data never saw get the band calibrated by
        # leaving each accelerator (each group of models) out in turn, which is wider: trust
        # falls off outside the data.
        self.unseen_hardware_offsets_[metric] = group_offset(
            self._fit_quantile, feats, target, cfg["hardware"].to_numpy(), seen, held_out["hardware"])
        self.unseen_model_offsets_[metric] = group_offset(
            self._fit_quantile, feats, target, model_folds(cfg["model"].to_numpy()), seen, held_out["model"])

    def _metadata(self, table: pd.DataFrame) -> dict[str, Any]:
        """What a bundle records about itself: versions, seed, data and catalog fingerprints, offsets."""
        sources = table["source"].value_counts().to_dict() if "source" in table else {}
        return {
            "format_version": BUNDLE_FORMAT, "versions": _versions(), "seed": self.seed,
            "data_fingerprint": fingerprint(table), "rows_by_source": sources,
            "rows_by_metric": self.train_rows_, "catalog_fingerprint": catalog.catalog_fingerprint(),
            "interval_offsets_log": self.interval_offsets_,
            "unseen_hardware_interval_offsets_log": self.unseen_hardware_offsets_,
            "unseen_model_interval_offsets_log": self.unseen_model_offsets_,
            "seen_hardware": self.seen_hardware_, "seen_models": self.seen_models_,
            "feature_names": self.feature_names_in_, "physics": self.physics,
            "with_hardware_id": self.with_hardware_id, "with_specs": self.with_specs, "cv_scores": {},
            "efficiency": self.efficiency_.to_dict(),
        }

    # --- prediction ---------------------------------------------------------------------------
    def predict(self, configs: pd.DataFrame, *, normalized: bool = False) -> pd.DataFrame:
        """Each metric with ``_p10``/``_p90``, derived throughputs, and the analytic estimate.

        ``normalized=True`` promises rows already passed through ``features.configs.normalize_configs``
        (as ``features.analytic.estimate`` does), so they are not normalised again.
        """
        if not hasattr(self, "models_"):
            raise NotFittedError("this SurrogateModel is not trained yet; call fit() or load a bundle")
        check_columns(configs)
        cfg, est, feats = self._physics(configs, normalized)
        unseen_hardware = ~cfg["hardware"].isin(self.seen_hardware_).to_numpy()
        unseen_model = ~cfg["model"].isin(self.seen_models_).to_numpy()
        out = pd.DataFrame(index=configs.index)
        floored = np.zeros(len(cfg), dtype=bool)
        for metric in METRICS:
            base = est[metric].to_numpy() if self.physics else np.ones(len(est))
            fitted = self.models_.get(metric)
            seen = self.interval_offsets_.get(metric, 0.0)
            offset = row_offsets(seen, self.unseen_hardware_offsets_.get(metric, seen),
                                 self.unseen_model_offsets_.get(metric, seen), unseen_hardware, unseen_model)
            widths: list[tuple[str, float | np.ndarray]] = [("p50", 0.0), ("p10", -offset), ("p90", offset)]
            for name, widen in widths:
                column = metric if name == "p50" else f"{metric}_{name}"
                log_ratio = np.asarray(fitted[name].predict(feats)) if fitted else np.zeros(len(cfg))
                out[column] = base * np.exp(log_ratio + widen)
            ordered = np.sort(out[[f"{metric}_p10", metric, f"{metric}_p90"]].to_numpy(), axis=1)
            out[f"{metric}_p10"], out[metric], out[f"{metric}_p90"] = ordered.T
        make_consistent(cfg, out)
        if self.physics:  # static ITL is derived from latency and TTFT: keep it above its floor too
            for suffix in ("", "_p10", "_p90"):
                out[f"itl_s{suffix}"] = np.maximum(out[f"itl_s{suffix}"].to_numpy(), est["peak_itl_s"].to_numpy())
        for metric in METRICS:
            out[f"analytic_{metric}"] = est[metric].to_numpy()
            out[f"peak_{metric}"] = est[f"peak_{metric}"].to_numpy()
        out["floored_to_peak"] = floored
        out["hardware_seen_in_training"] = ~unseen_hardware
        out["model_seen_in_training"] = ~unseen_model
        for column in ["mem_per_device_gb", "mem_usable_gb", "max_batch_size", "fits", "bottleneck"]:
            out[column] = est[column].to_numpy()
        return out

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(self, path, compress=3)
        return path


# The public path pickles record: bundles stay loadable whichever private module defines the class.
SurrogateModel.__module__ = "surrogate.model"
