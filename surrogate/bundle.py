"""The learned surrogate: LightGBM models that correct the analytic estimate, in one picklable object.

Each metric's model predicts ``log(measured / analytic)``; with no data it predicts 0 and the bundle
falls back to physics. Quantile models on the same target give P10 and P90. Throughput is derived
from the predicted latency so the metrics stay consistent with each other.

``surrogate.load(path)`` and plain ``joblib.load(path)`` both return a :class:`SurrogateModel`;
a bundle written by an incompatible format version is refused with a clear message.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from importlib import resources
from importlib.metadata import version as _pkg_version
from pathlib import Path
from typing import Any

import joblib
import lightgbm as lgb
import numpy as np
import pandas as pd

from features import catalog
from features.analytic import estimate
from features.build import PHYSICS_FEATURES, build_features
from features.configs import CONFIG_COLUMNS, REQUIRED_COLUMNS, normalize_configs
from features.errors import ConfigError, DataError, NotFittedError, SurrogateError
from surrogate.ingest.schema import SCHEMA

__all__ = ["SurrogateModel", "load", "load_default", "default_model_path", "METRICS", "BUNDLE_FORMAT",
           "IncompatibleBundleError"]

BUNDLE_FORMAT = 1
METRICS = ["latency_s", "ttft_s", "itl_s"]
QUANTILES = {"p10": 0.1, "p90": 0.9}
_COVERAGE = QUANTILES["p90"] - QUANTILES["p10"]
_CALIBRATION_FOLDS = 3
# One thread: the training sets are small (thousands of rows), and OpenMP threads that share two
# cores with another busy process spin-wait; measured 0.5 s single-threaded vs 142 s with 2 threads
# for one 400-tree fit while another process was busy.
_THREADS = 1
# Columns a prediction input may carry besides the configuration: the rest of the canonical
# measurement table (metrics, provenance, labels) is ignored, so a data table can be passed straight in.
IGNORED_COLUMNS = {c.name for c in SCHEMA} - set(CONFIG_COLUMNS)


class IncompatibleBundleError(SurrogateError):
    """A bundle saved by another, incompatible version of this package."""


def _versions() -> dict[str, str]:
    out = {}
    for name in ["surrogate", "lightgbm", "numpy", "pandas", "optuna", "joblib"]:
        try:
            out[name] = _pkg_version(name)
        except Exception:  # noqa: BLE001 - a missing optional package just goes unrecorded
            out[name] = "unknown"
    return out


def _row_hashes(table: pd.DataFrame) -> np.ndarray:
    cols = [c for c in CONFIG_COLUMNS + METRICS if c in table.columns]
    return pd.util.hash_pandas_object(table[cols].astype(str), index=False).to_numpy()


def fingerprint(table: pd.DataFrame) -> str:
    """md5 of the training rows (configuration and metrics), independent of row order."""
    return hashlib.md5(np.sort(_row_hashes(table)).tobytes()).hexdigest()


class SurrogateModel:
    """Analytic roofline corrected by gradient-boosted trees, one per metric, with P10/P90."""

    def __init__(self, seed: int | None = 0, n_estimators: int = 400, learning_rate: float = 0.05,
                 num_leaves: int = 31, min_child_samples: int = 10, physics: bool = True,
                 with_hardware_id: bool = False, with_specs: bool = False, calibrate: bool = True) -> None:
        self.seed = seed
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.physics = physics
        self.with_hardware_id = with_hardware_id
        self.with_specs = with_specs
        self.calibrate = calibrate

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
        data = lgb.Dataset(feats, label=target, free_raw_data=True)
        return lgb.train(self._params(objective, alpha), data, num_boost_round=self.n_estimators)

    def _conformal_offset(self, feats: pd.DataFrame, target: np.ndarray, folds: np.ndarray) -> float:
        """Conformalized quantile regression (Romano et al., NeurIPS 2019, arXiv 1905.03222).

        Out-of-fold P10/P90 predictions give conformity scores max(lo - y, y - hi); widening (or
        narrowing) both bounds by their 80% quantile makes the P10-P90 band cover 80% of new rows
        drawn like the held-out folds. Quantile trees alone under-cover on their own training data.
        """
        scores = np.full(len(target), np.nan)
        for k in np.unique(folds):
            test = folds == k
            if test.all():
                continue
            low = self._train(feats[~test], target[~test], "quantile", QUANTILES["p10"]).predict(feats[test])
            high = self._train(feats[~test], target[~test], "quantile", QUANTILES["p90"]).predict(feats[test])
            scores[test] = np.maximum(low - target[test], target[test] - high)
        scores = scores[np.isfinite(scores)]
        if len(scores) == 0:
            return 0.0
        level = min(1.0, _COVERAGE * (1.0 + 1.0 / len(scores)))
        return float(np.quantile(scores, level))

    def _group_offset(self, feats: pd.DataFrame, target: np.ndarray, groups: np.ndarray, floor: float) -> float:
        """Conformal offset with whole groups held out; never narrower than ``floor``."""
        if len(set(groups)) < 2:
            return floor
        return max(self._conformal_offset(feats, target, groups), floor)

    def _features(self, cfg: pd.DataFrame, est: pd.DataFrame) -> pd.DataFrame:
        feats = build_features(cfg, est, normalized=True, with_hardware_id=self.with_hardware_id,
                               with_specs=self.with_specs)
        return feats if self.physics else feats.drop(columns=PHYSICS_FEATURES)

    def fit(self, table: pd.DataFrame, progress: Callable[[str], None] | None = None) -> SurrogateModel:
        """Train on canonical rows; each metric uses the rows that measured it.

        Rows are put in a canonical order first, so the same rows in any order give the same model.
        """
        table = table.iloc[np.argsort(_row_hashes(table), kind="stable")].reset_index(drop=True)
        cfg = normalize_configs(table[[c for c in table.columns if c in CONFIG_COLUMNS]])
        est = estimate(cfg, normalized=True)
        feats = self._features(cfg, est)
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
            if rows.sum() < 20:
                continue
            base = est[metric].to_numpy() if self.physics else np.ones(len(est))
            target = np.log(measured[rows] / base[rows])
            fitted = {}
            for name, objective, alpha in [("p50", "regression", None), *[(q, "quantile", a)
                                                                          for q, a in QUANTILES.items()]]:
                if progress:
                    progress(f"{metric} {name}")
                fitted[name] = self._train(feats[rows], target, objective, alpha)
            self.models_[metric] = fitted
            self.train_rows_[metric] = int(rows.sum())
            if not self.calibrate:
                self.interval_offsets_[metric] = 0.0
                self.unseen_hardware_offsets_[metric] = self.unseen_model_offsets_[metric] = 0.0
                continue
            if progress:
                progress(f"{metric} interval calibration")
            random_folds = np.random.default_rng(self.seed).permutation(int(rows.sum())) % _CALIBRATION_FOLDS
            self.interval_offsets_[metric] = self._conformal_offset(feats[rows], target, random_folds)
            # Rows on hardware (or a model) the training data never saw get the band calibrated by
            # leaving each accelerator (each group of models) out in turn, which is wider: trust
            # falls off outside the data.
            self.unseen_hardware_offsets_[metric] = self._group_offset(
                feats[rows], target, cfg["hardware"].to_numpy()[rows], self.interval_offsets_[metric])
            self.unseen_model_offsets_[metric] = self._group_offset(
                feats[rows], target, _model_folds(cfg["model"].to_numpy()[rows]), self.interval_offsets_[metric])
        if not self.models_:
            raise DataError("no metric has 20 or more measured rows; nothing to train")
        self.feature_names_in_ = list(feats.columns)
        sources = table["source"].value_counts().to_dict() if "source" in table else {}
        self.metadata = {
            "format_version": BUNDLE_FORMAT, "versions": _versions(), "seed": self.seed,
            "data_fingerprint": fingerprint(table), "rows_by_source": sources,
            "rows_by_metric": self.train_rows_, "catalog_fingerprint": catalog.catalog_fingerprint(),
            "interval_offsets_log": self.interval_offsets_,
            "unseen_hardware_interval_offsets_log": self.unseen_hardware_offsets_,
            "unseen_model_interval_offsets_log": self.unseen_model_offsets_,
            "seen_hardware": self.seen_hardware_, "seen_models": self.seen_models_,
            "feature_names": self.feature_names_in_, "physics": self.physics,
            "with_hardware_id": self.with_hardware_id, "with_specs": self.with_specs, "cv_scores": {},
        }
        return self

    # --- prediction ---------------------------------------------------------------------------
    def _check_columns(self, configs: pd.DataFrame) -> None:
        missing = [c for c in REQUIRED_COLUMNS if c not in configs.columns]
        unexpected = [c for c in configs.columns if c not in CONFIG_COLUMNS and c not in IGNORED_COLUMNS]
        if missing or unexpected:
            parts = []
            if missing:
                parts.append(f"missing columns: {', '.join(missing)}")
            if unexpected:
                parts.append(f"unexpected columns: {', '.join(unexpected)}")
            raise ConfigError("; ".join(parts) + f" (expected some of: {', '.join(CONFIG_COLUMNS)})")

    def predict(self, configs: pd.DataFrame) -> pd.DataFrame:
        """Each metric with ``_p10``/``_p90``, derived throughputs, and the analytic estimate."""
        if not hasattr(self, "models_"):
            raise NotFittedError("this SurrogateModel is not trained yet; call fit() or load a bundle")
        self._check_columns(configs)
        cfg = normalize_configs(configs[[c for c in configs.columns if c in CONFIG_COLUMNS]])
        est = estimate(cfg, normalized=True)
        feats = self._features(cfg, est)
        unseen = ~cfg["hardware"].isin(self.seen_hardware_).to_numpy()
        unseen_model = ~cfg["model"].isin(getattr(self, "seen_models_", cfg["model"])).to_numpy()
        out = pd.DataFrame(index=configs.index)
        for metric in METRICS:
            base = est[metric].to_numpy() if self.physics else np.ones(len(est))
            fitted = self.models_.get(metric)
            base_offset = self.interval_offsets_.get(metric, 0.0)
            offset = np.maximum(
                np.where(unseen, self.unseen_hardware_offsets_.get(metric, base_offset), base_offset),
                np.where(unseen_model, getattr(self, "unseen_model_offsets_", {}).get(metric, base_offset),
                         base_offset))
            for name, widen in [("p50", 0.0), ("p10", -offset), ("p90", offset)]:
                column = metric if name == "p50" else f"{metric}_{name}"
                log_ratio = fitted[name].predict(feats) if fitted else np.zeros(len(cfg))
                out[column] = base * np.exp(log_ratio + widen)
            ordered = np.sort(out[[f"{metric}_p10", metric, f"{metric}_p90"]].to_numpy(), axis=1)
            out[f"{metric}_p10"], out[metric], out[f"{metric}_p90"] = ordered.T
        self._make_consistent(cfg, out)
        for metric in METRICS:
            out[f"analytic_{metric}"] = est[metric].to_numpy()
        out["hardware_seen_in_training"] = ~unseen
        out["model_seen_in_training"] = ~unseen_model
        for column in ["mem_per_device_gb", "max_batch_size", "fits", "bottleneck"]:
            out[column] = est[column].to_numpy()
        return out

    @staticmethod
    def _make_consistent(cfg: pd.DataFrame, out: pd.DataFrame) -> None:
        """Continuous rows: latency from TTFT and ITL. Static rows: ITL from latency and TTFT.

        Throughputs always follow from latency, so no two predicted numbers contradict each other.
        """
        continuous = cfg["batching"].eq("continuous").to_numpy()
        steps = (cfg["output_len"].to_numpy(dtype=float) - 1.0)
        for suffix in ["", "_p10", "_p90"]:
            ttft, itl, lat = (out[f"{m}{suffix}"].to_numpy() for m in ("ttft_s", "itl_s", "latency_s"))
            derived_latency = ttft + steps * itl
            derived_itl = np.where(steps > 0, (lat - np.minimum(ttft, lat)) / np.maximum(steps, 1.0), itl)
            out[f"latency_s{suffix}"] = np.where(continuous, derived_latency, lat)
            out[f"itl_s{suffix}"] = np.where(continuous | (derived_itl <= 0), itl, derived_itl)
        sequences = np.where(continuous, cfg["concurrency"], cfg["batch_size"]).astype(float)
        tokens = cfg["dp"].to_numpy(dtype=float) * sequences
        in_len, out_len = cfg["input_len"].to_numpy(dtype=float), cfg["output_len"].to_numpy(dtype=float)
        for suffix, latency_suffix in [("", ""), ("_p10", "_p90"), ("_p90", "_p10")]:
            latency = out[f"latency_s{latency_suffix}"].to_numpy()
            out[f"throughput_tok_s{suffix}"] = tokens * (in_len + out_len) / latency
            out[f"output_throughput_tok_s{suffix}"] = tokens * out_len / latency

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(self, path, compress=3)
        return path


def load(path: str | Path) -> SurrogateModel:
    """Load a bundle written by :meth:`SurrogateModel.save`; refuse anything else clearly."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"model file {path} does not exist")
    try:
        model = joblib.load(path)
    except IncompatibleBundleError:
        raise
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means "not a bundle we can read"
        raise IncompatibleBundleError(f"{path} is not a surrogate model bundle this version can read: {exc}") \
            from exc
    if not isinstance(model, SurrogateModel):
        raise IncompatibleBundleError(f"{path} holds a {type(model).__name__}, not a surrogate model bundle")
    return model


def _model_folds(models: np.ndarray) -> np.ndarray:
    """Models assigned to a few folds by a stable hash (whole models held out, few fits)."""
    codes = pd.util.hash_array(models.astype(str)) % np.uint64(_CALIBRATION_FOLDS + 2)
    return codes.astype(np.int64)


def default_model_path() -> Path:
    """Where the bundled default model lives: ``models/default.joblib``, installed as package data."""
    return Path(str(resources.files("models") / "default.joblib"))


def load_default() -> SurrogateModel:
    """The bundled default model; a clear error if this installation lacks it."""
    path = default_model_path()
    if not path.is_file():
        raise DataError(f"no default model at {path}; train one with `python scripts/train_default.py` "
                        "or pass --model-file")
    return load(path)
