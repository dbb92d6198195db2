"""The learned surrogate: LightGBM models that correct the analytic estimate, in one picklable object.

Each metric's model predicts ``log(measured / achievable)`` (the analytic model at achievable rates,
its parameters fitted on the same rows); with no data it predicts 0 and the bundle falls back to
physics. What holds for every prediction:

- Bounded: no time is below the peak-hardware time of the same work (``peak_*``: static prefill and
  decode; under continuous batching, TTFT at least one prompt's prefill and ITL at least one decode
  step of every request in flight, ``features.analytic.peak_bound``). The floor applies to P10,
  median and P90; ``floored_to_peak`` says where a median needed it. Throughputs are derived from
  latency, so none exceeds its peak ceiling.
- Monotone: log(prediction) = (1 - slack * shrink) * log(prior) + shrink * g, where the trees' g is
  non-decreasing in the workload features (LightGBM ``monotone_constraints``,
  ``features.build.MONOTONE_INCREASING``) and so is the achievable prior; the correction may thus fall
  with the workload, at most ``slack`` times as fast as the prior rises (per metric, 1 - the prior's
  measured elasticity, ``surrogate.model._calibration.growth_slack``). Beyond its model's trained
  range g is read at the row clamped into it, and there a level faster than the prior (above the range)
  or slower than it (below) fades by a share that falls with the distance (``WorkloadFades``: above
  only upwards, below only downwards); above it a slower level is the time it added at the twin, grown
  by a rehearsed power of the distance, never faster than the prior (prior + added time never falls).
  So the median and P90 of the metrics a model predicts (static latency and TTFT, continuous TTFT and
  ITL) never fall as batch or concurrency, input or output length grows; static latency, predicted
  apart from TTFT, is at least TTFT + (output - 1) x the peak ITL, a time that grows with the output
  too (``_consistency.make_consistent``). Derived metrics (static
  ITL = (latency - TTFT) / steps, continuous latency = TTFT + steps * ITL) and P10 carry no such
  guarantee: P10 widens downwards off the trained range.
- Support-aware: each row says how far it is from the training rows (``surrogate.model._support``);
  off the data the correction is shrunk toward the prior by the factor rehearsed on held-out groups
  and the band is the one measured there (``surrogate.model._calibration``); beyond the batch and
  lengths its model was trained on, by the share the workload tails needed, rehearsed the same way.

``surrogate.load(path)`` and plain ``joblib.load(path)`` both return a :class:`SurrogateModel`;
a bundle written by an incompatible format version is refused with a clear message. Intervals are
calibrated in :mod:`surrogate.model._calibration`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from functools import partial
from importlib.metadata import version as _pkg_version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import joblib
import numpy as np
import numpy.typing as npt
import pandas as pd

from features import catalog
from features.analytic import estimate
from features.build import MONOTONE_INCREASING, PHYSICS_FEATURES, REFERENCE_FEATURES, build_features
from features.configs import CONFIG_COLUMNS, REQUIRED_COLUMNS, gather_specs, normalize_configs
from features.efficiency import Efficiency, default_efficiency
from features.errors import ConfigError, DataError, IncompatibleBundleError, NotFittedError
from surrogate.ingest.schema import SCHEMA
from surrogate.model._calibration import (
    CALIBRATION_FOLDS,
    MEASURED_PREFIX,
    Band,
    Fade,
    WorkloadFades,
    added_growth_power,
    at_least,
    band_cells,
    cell_bands,
    deployment_folds,
    fade_share,
    growth_slack,
    held_out,
    held_out_fits,
    kv_cache_cells,
    model_folds,
    out_of_fold,
    rehearsable,
    residual_band,
    row_bands,
    row_folds,
    shrunk_band,
    widest,
    workload_fade,
)
from surrogate.model._compiled import compile_boosters, predict_forests
from surrogate.model._consistency import make_consistent, reads_own_trees
from surrogate.model._disaggregated import (
    MIN_DISAGGREGATED_ROWS,
    DisaggregatedCorrection,
    complete_disaggregated,
    disaggregated_rows,
)
from surrogate.model._efficiency import EfficiencyProblem, efficiency_problem, enough_for_efficiency, fit_efficiency
from surrogate.model._progress import ProgressFn, Steps
from surrogate.model._sharded import forget, predict_in_shards, shards_for
from surrogate.model._software import newest_software, software_labels, with_newest_software, with_source_eras
from surrogate.model._support import (
    TAIL_BELOW,
    WORKLOAD_DIMENSIONS,
    Support,
    assess_by_metric,
    clamp_into,
    fit_support,
    kind_folds,
    range_excess,
    workload_ranges,
    workload_tails,
)
from surrogate.model._workers import run_all

if TYPE_CHECKING:
    import lightgbm as lgb

__all__ = ["SurrogateModel", "METRICS", "BUNDLE_FORMAT", "canonical_order", "check_columns", "fingerprint",
           "learned_metrics", "measured_values"]

# 2: the target is measured / achievable, and the bundle carries its fitted efficiency parameters.
# 3: monotone median models only; bands and shrinks per kind of support; the software date as input.
# 5: the deployment's analytic times at a reference workload as features (``features.build.REFERENCE_FEATURES``).
# 6: support per metric (``metric_support_``); rehearsed shrinks pooled over held-out groups.
# 7: `attention_dp` replaces dp among the features and the support distance (plain replicas look like one).
# 8: workload ranges per model size; beyond them a faster-than-prior level fades as rehearsed (``fades_``).
# 9: below the range a slower-than-prior level fades too, rehearsed on the least fifth (``WorkloadFades``).
# 10: a served TTFT waits fitted steps (``Efficiency.first_token_steps``, ``prompt_tokens_per_step``), not a wave.
# 11: a vendor's compute rates carry an offset of their own (``Efficiency.vendor_log_compute``).
# 12: a served TTFT waits fitted steps scaled per engine (``Efficiency.framework_log_wait``) and a fitted share of
#     the other running prompts' prefill (``wave_fraction``); no prompt-length term.
# 13: disaggregated TTFT waits the served first-token steps and the lockstep wave; its correction reads the wait.
# 14: each workload tail rehearsed on its own; the band widens per dimension by that tail's extent (``fades_``).
# 15: above the range a slower-than-prior level adds a time grown by a rehearsed power of the distance
#     (``Fade.added_growth``), never faster than the prior.
# 16: a vendor's efficiency offsets fade past the newest engine release measured on it
#     (``Efficiency.vendor_software_year``); the band reaches the prior they give in full.
# 18: the seen band is calibrated on whole deployment groups held out (``_calibration.deployment_folds``).
# 19: a static batch's decode step pays a fitted host cost per sequence, per engine
#     (``Efficiency.framework_sequence_s``).
# 20: each accelerator's rates carry offsets of their own on top of its vendor's (``Efficiency.hardware_log_speed``,
#     ``hardware_log_compute``).
# 21: a measured deployment's P10 from rows held out at random (the ``measured`` bands, ``deployment_measured``).
# 22: the support distance reads the prompt tokens per pass of the weights (a chunked prefill).
# 23: software support keyed by the release as written as well as its date; workload tails rehearsed against the
#     prior refit without them, the pooled band read at its rows' median distance (``pooled_extent_log``).
# 24: an accelerator's later releases take a fitted share of its offsets (``Efficiency.hardware_era_share``).
# 25: closed-loop first-token steps scaled per engine under attention data parallelism
#     (``Efficiency.framework_log_attention_dp_wait``).
# 26: the disaggregated correction's band from deployments held out whole, and a share kept and a band per kind
#     of being off its data: model, accelerator, engine, each workload dimension (``DisaggregatedCorrection``).
# 27: the disaggregated correction is monotone in the features that rise with the workload, per metric, blind to
#     those that can fall (``feature_names_`` per metric), fitted with a Huber loss; above its trained range a
#     slower-than-physics level adds a time grown by a rehearsed power of the distance, read at the row's twin
#     (``added_growth_``), below it only a slower level fades.
BUNDLE_FORMAT = 27
# Groupings whose held-out rehearsal refits the achievable prior without the group (its vendor or engine
# offset falls back to zero, as it would for a vendor or engine never measured).
_HELD_OUT_GROUPINGS = ("vendor", "hardware", "model", "framework")
METRICS = ["latency_s", "ttft_s", "itl_s"]
# One thread: the training sets are small (thousands of rows), and OpenMP threads that share two
# cores with another busy process spin-wait; measured 0.5 s single-threaded vs 142 s with 2 threads
# for one 400-tree fit while another process was busy.
_THREADS = 1
# Refits without one accelerator or model start from the full fit and stop at this relative change:
# measured on leaving h100-sxm out, 1e-4 gave the same held-out errors as 1e-8 in a third of the time.
_REFIT_TOLERANCE = 1e-4
# Fewer measured rows than this leave a metric to physics alone.
_MIN_ROWS_PER_METRIC = 20
# Columns a prediction input may carry besides the configuration: the rest of the canonical
# measurement table (metrics, provenance, labels) is ignored, so a data table can be passed straight in.
IGNORED_COLUMNS = {c.name for c in SCHEMA} - set(CONFIG_COLUMNS)


def measured_values(table: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    """A metric's measured values (NaN where absent or unreadable) and which rows measured it: finite
    and positive, the rows training learns from and evaluation scores."""
    values: np.ndarray = (pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
                          if column in table else np.full(len(table), np.nan))
    return values, np.isfinite(values) & (values > 0)


def learned_values(table: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    """``measured_values`` less what the metric's own model never predicts: latency under continuous
    batching is TTFT + (output_len - 1) x ITL (``_consistency.make_consistent``), so the latency trees
    learn from static rows only; continuous rows would only bend them (48 MLPerf Server rows among 4,537
    static ones took the random-split latency MAPE from 10.9% to 16.5%). Evaluation still scores the
    derived continuous latency against ``measured_values``."""
    values, rows = measured_values(table, column)
    if column == "latency_s" and "batching" in table:
        rows = rows & ~table["batching"].astype("string").eq("continuous").fillna(False).to_numpy(dtype=bool)
    return values, rows


def learned_metrics(table: pd.DataFrame) -> list[str]:
    """The metrics a fit on ``table`` learns a correction for (enough of its rows measured them); the others
    are predicted by physics alone, and ``surrogate evaluate`` scores their held-out rows apart."""
    return [m for m in METRICS if learned_values(table, m)[1].sum() >= _MIN_ROWS_PER_METRIC]


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


def canonical_order(table: pd.DataFrame) -> pd.DataFrame:
    """``table``'s rows sorted by their content (configuration and metrics), index reset: the order a fit
    sees, so the same rows in any order give the same fit (the efficiency fit's local optima are picked by
    rounding, and rounding by row order)."""
    return table.iloc[np.argsort(_row_hashes(table), kind="stable")].reset_index(drop=True)


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
            parts.append(f"unexpected columns: {', '.join(unexpected)}{_renames(unexpected)}")
        raise ConfigError("; ".join(parts) + f" (expected some of: {', '.join(CONFIG_COLUMNS)})")


def _renames(columns: list[str]) -> str:
    """What other labs' names among ``columns`` are called here ('' if none): ' (rename isl to input_len)'."""
    from surrogate.ingest.column_names import canonical_name

    pairs = [(c, canonical_name(c)) for c in columns]
    known = [f"{c} to {name}" for c, name in pairs if name]
    return f" (rename {', '.join(known)})" if known else ""


@dataclass(frozen=True)
class MedianFitter:
    """The LightGBM settings of a median model; calling it fits one on features and log-correction targets."""

    learning_rate: float
    num_leaves: int
    min_child_samples: int
    seed: int
    rounds: int
    # The ablation ``SurrogateModel(monotone_analytic=False)``: the analytic features left free, which breaks
    # the monotone guarantee (a correction may fall as batch or prompt grows); measures what it costs.
    monotone_analytic: bool = True

    def params(self, columns: list[str]) -> dict[str, Any]:
        rising = [c for c in MONOTONE_INCREASING if self.monotone_analytic or c not in PHYSICS_FEATURES]
        return {
            "objective": "regression", "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves, "min_data_in_leaf": self.min_child_samples,
            "bagging_fraction": 0.8, "bagging_freq": 1, "feature_fraction": 0.8, "lambda_l2": 1.0,
            "monotone_constraints": [1 if c in rising else 0 for c in columns],
            "monotone_constraints_method": "intermediate",
            "seed": self.seed, "deterministic": True,
            "force_col_wise": True, "num_threads": _THREADS, "verbose": -1,
        }

    def __call__(self, feats: pd.DataFrame, target: np.ndarray) -> lgb.Booster:
        import lightgbm as lgb

        data = lgb.Dataset(feats, label=target, free_raw_data=True)
        # Kept as trained: LightGBM would otherwise write the model out to text and read it back (7% of a
        # fit's time); pickling writes the same text, and the trees predict the same either way.
        return lgb.train(self.params(list(feats.columns)), data, num_boost_round=self.rounds,
                         keep_training_booster=True)


def _refit_without(rows: EfficiencyProblem, base: Efficiency) -> Efficiency | None:
    """The efficiency parameters refit on ``rows`` (a group left out), or None where too few rows are left."""
    try:
        return fit_efficiency(rows, base=base, tolerance=_REFIT_TOLERANCE)
    except DataError:
        return None


class SurrogateModel:
    """Analytic roofline corrected by monotone gradient-boosted trees, one per metric, with P10/P90."""

    def __init__(self, seed: int | None = 0, n_estimators: int = 250, learning_rate: float = 0.08,
                 num_leaves: int = 31, min_child_samples: int = 10, physics: bool = True,
                 with_hardware_id: bool = False, with_specs: bool = False, calibrate: bool = True,
                 fit_efficiency: bool = True, with_software: bool = True,
                 growth_slack: float | None = None, monotone_analytic: bool = True) -> None:
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
        self.with_software = with_software
        self.growth_slack = growth_slack
        self.monotone_analytic = monotone_analytic

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
    @property
    def _median_fitter(self) -> MedianFitter:
        """Fits one monotone median model of a log correction (a small picklable object: calibration sends it
        to worker processes)."""
        return MedianFitter(learning_rate=self.learning_rate, num_leaves=self.num_leaves,
                            min_child_samples=self.min_child_samples, seed=self.seed if self.seed is not None else 0,
                            rounds=self.n_estimators,
                            monotone_analytic=getattr(self, "monotone_analytic", True))  # bundles before the flag

    def _features(self, cfg: pd.DataFrame, est: pd.DataFrame, specs: pd.DataFrame) -> pd.DataFrame:
        feats = build_features(cfg, est, normalized=True, with_hardware_id=self.with_hardware_id,
                               with_specs=self.with_specs, specs=specs, efficiency=self.efficiency_)
        if not self.with_software:  # the ablation: no row's software date is known
            feats["software_year"] = np.nan
        return feats if self.physics else feats.drop(columns=PHYSICS_FEATURES + REFERENCE_FEATURES)

    def _physics(self, configs: pd.DataFrame, normalized: bool = False) -> tuple[pd.DataFrame, pd.DataFrame,
                                                                                  pd.DataFrame]:
        """Normalised configurations, their analytic estimate and their features, catalog specs gathered once."""
        cfg = self._prepared(configs, normalized)
        return (cfg, *self._derived(cfg))

    def _prepared(self, configs: pd.DataFrame, normalized: bool) -> pd.DataFrame:
        """The configuration columns, normalised, with the engine version training saw where none is given."""
        cfg = _config_columns(configs)
        if not normalized:
            cfg = normalize_configs(cfg)
        return with_newest_software(cfg, self.newest_software_)

    def _derived(self, cfg: pd.DataFrame, specs: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The analytic estimate and the features of prepared rows (``specs``: their ``gather_specs``, row for row,
        if already gathered)."""
        specs = gather_specs(cfg) if specs is None else specs
        est = estimate(cfg, normalized=True, specs=specs, efficiency=self.efficiency_)
        return est, self._features(cfg, est, specs)

    def fit(self, table: pd.DataFrame, progress: ProgressFn | None = None,
            disaggregated: pd.DataFrame | None = None) -> SurrogateModel:
        """Train on canonical rows; each metric uses the rows that measured it. ``progress`` gets each
        step and the fraction of the fit done (``surrogate.model._progress``). ``disaggregated`` rows (separate
        prefill and decode workers, with their worker counts) train the correction of the xPyD physics
        (:mod:`surrogate.model._disaggregated`) when there are enough of them; without it such rows are
        predicted by physics alone.

        Rows are put in a canonical order first, so the same rows in any order give the same model.
        Rows that record no engine version take their source's era (``features.versions.SOURCE_ERA_DATES``).
        """
        forget(self)  # worker processes holding the earlier fit get this one
        table = canonical_order(table)
        recorded_version = (table["framework_version"].notna().to_numpy() if "framework_version" in table
                            else np.zeros(len(table), dtype=bool))
        table = with_source_eras(table)
        # Training rows keep their own versions (or their source's era): nothing from an earlier fit.
        self.newest_software_: dict[str, dict[str, Any]] = {}
        # The achievable model's parameters come from the same rows (so a held-out accelerator is held
        # out of them too); the learned trees correct what they leave.
        steps = Steps(progress, 2.0)
        # Normalised and priced once: the fit below and every refit without a group share it.
        problem = efficiency_problem(table) if self.fit_efficiency and self.physics else None
        if problem is not None and enough_for_efficiency(table):
            steps.start("efficiency parameters", 2.0)
            self.efficiency_ = fit_efficiency(problem, base=Efficiency())
        else:
            self.efficiency_ = default_efficiency()
        cfg, est, feats = self._physics(table)
        self.support_ = fit_support(cfg, feats)
        self.newest_software_ = newest_software(cfg, feats)
        tails = self._rehearsal_twins(cfg, est, feats, workload_tails(cfg))
        folds = kind_folds(cfg, feats, recorded_version, model_folds(cfg["model"].to_numpy()))
        measured_rows = {m: learned_values(table, m) for m in METRICS}
        steps.total_units = steps.done_units + self._planned_units(folds, tails, measured_rows)
        held_out = self._held_out_estimates(problem, cfg, est, {k: folds[k] for k in _HELD_OUT_GROUPINGS}, steps)
        tails = self._tail_priors(problem, cfg, est, tails, steps)
        self.models_: dict[str, lgb.Booster] = {}
        self.bands_: dict[str, dict[str, Band]] = {}
        self.train_rows_: dict[str, int] = {}
        self.slack_: dict[str, float] = {}
        # Each metric's trees are trusted by what they saw (its measured rows); ``support_`` (all rows)
        # holds the workload range the clamped twins use, one twin per row for every metric.
        self.metric_support_: dict[str, Support] = {}
        self.fades_: dict[str, WorkloadFades] = {}
        for metric in METRICS:
            measured, rows = measured_rows[metric]
            if rows.sum() < _MIN_ROWS_PER_METRIC:
                continue
            base = est[metric].to_numpy() if self.physics else np.ones(len(est))
            # The trees learn g = correction + slack * log(prior), non-decreasing in the workload: the
            # correction may then fall with the workload, never faster than slack x the prior rises.
            if not self.physics:
                self.slack_[metric] = 0.0
            elif self.growth_slack is not None:
                self.slack_[metric] = self.growth_slack
            else:
                self.slack_[metric] = growth_slack(cfg[rows], np.log(measured[rows]), np.log(base[rows]))
            slack = self.slack_[metric] * np.log(base[rows])
            target = np.log(measured[rows] / base[rows]) + slack
            steps.start(f"{metric} median")
            self.models_[metric] = self._median_fitter(feats[rows], target)
            self.train_rows_[metric] = int(rows.sum())
            self.metric_support_[metric] = fit_support(cfg[rows], feats[rows])
            needed = {kind: np.log(measured[rows] / frame[metric].to_numpy()[rows]) for kind, frame in held_out.items()}
            self.bands_[metric], fades = self._calibrate_metric(
                metric, feats[rows], target, slack, {k: f[rows] for k, f in folds.items()}, needed,
                [tail.of_metric(rows, metric, self.slack_[metric]) for tail in tails],
                band_cells(cfg[rows], est["running_sequences"].to_numpy()[rows]),
                deployment_folds(cfg[rows], self.seed), row_folds(int(rows.sum()), self.seed), steps)
            if fades is not None:  # none without calibration
                self.fades_[metric] = fades
        if not self.models_:
            raise DataError(f"no metric has {_MIN_ROWS_PER_METRIC} or more measured rows; nothing to train")
        # A metric no row measured is physics alone, with the widest band the prior showed elsewhere.
        prior = widest([bands["prior"] for bands in self.bands_.values()])
        for metric in METRICS:
            self.bands_.setdefault(metric, {"prior": prior})
        self.feature_names_in_ = list(feats.columns)
        self.disaggregated_ = self._fit_disaggregated(disaggregated)
        self.metadata = self._metadata(table)
        steps.finish()
        return self

    def _fit_disaggregated(self, rows: pd.DataFrame | None) -> DisaggregatedCorrection | None:
        """The disaggregated correction, or None where no or too few complete disaggregated rows were given."""
        if rows is None or len(complete_disaggregated(rows)) < MIN_DISAGGREGATED_ROWS:
            return None
        return DisaggregatedCorrection(seed=self.seed if self.seed is not None else 0).fit(
            rows, efficiency=self.efficiency_,
            prior_bands={metric: bands["prior"] for metric, bands in self.bands_.items()})

    def _planned_units(self, folds: dict[str, np.ndarray], tails: list[_TailTwins],
                       measured_rows: dict[str, tuple[np.ndarray, np.ndarray]]) -> float:
        """The rest of a fit in units (an efficiency refit 2, a LightGBM fit 1), for its progress."""
        units = 0.0
        if self.calibrate and self.fit_efficiency and self.physics:
            units += 2.0 * (sum(held_out_fits(folds[kind]) for kind in _HELD_OUT_GROUPINGS) + len(tails))
        for _, rows in measured_rows.values():
            if rows.sum() >= _MIN_ROWS_PER_METRIC:
                rehearsals = sum(held_out_fits(rehearsable(f[rows], _MIN_ROWS_PER_METRIC)) for f in folds.values())
                rehearsals += sum(1 for tail in tails if _leaves_rows(tail.held[rows]))
                units += 1.0 + (2 * CALIBRATION_FOLDS + rehearsals if self.calibrate else 0.0)
        return units

    def _held_out_estimates(self, problem: EfficiencyProblem | None, cfg: pd.DataFrame, est: pd.DataFrame,
                            groupings: dict[str, np.ndarray], steps: Steps) -> dict[str, pd.DataFrame]:
        """Per grouping (``_HELD_OUT_GROUPINGS``: the calibration folds of those kinds), each row's
        achievable estimate with its own group left out of the efficiency fit: what calibration of the
        unseen-vendor, -hardware, -model and -engine bands needs, since off the data the prior is refit
        without that vendor, accelerator, model or engine too."""
        if not self.calibrate or problem is None:
            return {kind: est for kind in groupings}
        out = {}
        for kind, groups in groupings.items():
            frame = est[list(METRICS)].copy()
            held = [groups == group for group in np.unique(groups)]
            held = [mine for mine in held if not mine.all()]  # nothing would be left to fit on
            steps.start(f"efficiency without each {kind} ({len(held)} refits)", 2.0 * len(held))
            for mine, refit in zip(held, self._estimates_without(problem, cfg, held), strict=True):
                if refit is not None:
                    frame.loc[mine, list(METRICS)] = refit.to_numpy()
            out[kind] = frame
        return out

    def _estimates_without(self, problem: EfficiencyProblem, cfg: pd.DataFrame,
                           held: list[npt.NDArray[np.bool_]]) -> list[pd.DataFrame | None]:
        """Per mask in ``held``, the held rows' achievable metrics with the efficiency parameters refit
        without them (None where too few rows are left: the rows' own parameters are all there is)."""
        tasks = [partial(_refit_without, problem.without(mine), self.efficiency_) for mine in held]
        return [None if efficiency is None
                else estimate(cfg[mine], normalized=True, efficiency=efficiency)[list(METRICS)]
                for mine, efficiency in zip(held, run_all(tasks, work=len(cfg) * len(tasks)), strict=True)]

    def _tail_priors(self, problem: EfficiencyProblem | None, cfg: pd.DataFrame, est: pd.DataFrame,
                     tails: list[_TailTwins], steps: Steps) -> list[_TailTwins]:
        """``tails`` with each tail's rows priced by the efficiency parameters refit without them, as a
        prediction beyond the range is priced by parameters fitted on none of its regime.

        Priced by the parameters fitted on them as well, the rehearsal measured only how the trees carry
        over, not how the prior does: trained on batches of at most 16, vLLM's static latencies at 128 and 256
        sequences (nearly all on MI300X) came out 1.53x and 1.78x slower than predicted (median), 65-67% of
        them above P90, while the rehearsed band of static latency at 16x past the range was -0.17..+0.17
        (log); MI300X's compute-bound efficiency (-1.30 log in the full fit) had been fitted on the batches
        being rehearsed. Refit, the split's static latency coverage went 68.2 -> 76.0%
        (``surrogate evaluate --split batch``)."""
        if not self.calibrate or problem is None or not tails:
            return tails
        steps.start(f"efficiency without each workload tail ({len(tails)} refits)", 2.0 * len(tails))
        out = []
        for tail, refit in zip(tails, self._estimates_without(problem, cfg, [t.held for t in tails]), strict=True):
            out.append(tail if refit is None else replace(tail, prior_est=refit.reset_index(drop=True)))
        return out

    def _rehearsal_twins(self, cfg: pd.DataFrame, est: pd.DataFrame, feats: pd.DataFrame,
                         tails: npt.NDArray[np.bool_]) -> list[_TailTwins]:
        """The workload rehearsal: per tail (a column of :func:`workload_tails` holding any row), its rows
        clamped into the range their model keeps without that tail (as a prediction beyond the range reads
        the trees), their estimates and features there, and how far above and below that range they lay."""
        out = []
        for fold in range(tails.shape[1]):
            held = tails[:, fold]
            if not held.any():
                continue
            ranges = workload_ranges(cfg[~held])
            above, below = range_excess(cfg[held], ranges)
            clamped_est, clamped_feats = self._derived(clamp_into(cfg[held], ranges))
            out.append(_TailTwins(fold, held, clamped_feats[feats.columns].reset_index(drop=True),
                                  clamped_est[list(METRICS)].reset_index(drop=True),
                                  est.loc[held, list(METRICS)].reset_index(drop=True), above, below))
        return out

    def _calibrate_metric(self, metric: str, feats: pd.DataFrame, target: np.ndarray, slack: np.ndarray,
                          folds: dict[str, np.ndarray], needed: dict[str, np.ndarray], tails: list[_Tail],
                          cells: np.ndarray, seen_folds: np.ndarray, measured_folds: np.ndarray, steps: Steps
                          ) -> tuple[dict[str, Band], WorkloadFades | None]:
        """Bands and fades of one metric. Bands: ``seen`` (deployment groups held out: ``seen_folds``,
        :func:`deployment_folds`) and its cells' (``cells``: each row's
        :func:`band_cells`; :func:`cell_bands`), ``measured`` and its cells' (rows held out at random:
        ``measured_folds``, :func:`row_folds`; for a deployment measured in training), one per kind of support
        rehearsed on held-out groups (``needed[kind]``: the targets with each row's group left out of the
        efficiency fit; a vendor, accelerator, model or engine kind with fewer than two groups rehearsed: no
        trust, and the prior's band with that kind's groups held out), ``prior`` (the widest of those prior
        bands: the achievable prior's own error on held-out vendors, accelerators, models and engines) and
        ``workload`` (:meth:`_calibrate_workload`; with the fades, None without calibration)."""
        # The prior's own error where each kind's groups were held out of its fit (its efficiency parameters).
        priors = {kind: residual_band(needed[kind], shrink=0.0) for kind in _HELD_OUT_GROUPINGS}
        prior = widest(list(priors.values()))
        if not self.calibrate:
            return {"seen": Band(0.0, 0.0), "prior": prior}, None
        fades = WorkloadFades()
        steps.start(f"{metric} interval calibration: deployment groups held out", CALIBRATION_FOLDS)
        residuals = target - out_of_fold(self._median_fitter, feats, target, seen_folds)
        bands = {"seen": residual_band(residuals), "prior": prior, **cell_bands(residuals, cells)}
        steps.start(f"{metric} interval calibration: rows held out", CALIBRATION_FOLDS)
        residuals = target - out_of_fold(self._median_fitter, feats, target, measured_folds)
        bands |= {"measured": residual_band(residuals), **cell_bands(residuals, cells, MEASURED_PREFIX)}
        seen = bands["seen"]
        rehearsed = {kind: (groups, rehearsable(groups, _MIN_ROWS_PER_METRIC)) for kind, groups in folds.items()}
        for kind, (groups, held) in rehearsed.items():
            steps.start(f"{metric} interval calibration: {kind} held out", held_out_fits(held))
            correction = out_of_fold(self._median_fitter, feats, target, held) - slack
            if kind in _HELD_OUT_GROUPINGS and len(np.unique(held[np.isfinite(correction)])) < 2:
                continue  # how one group took the correction says nothing of the next: the prior (below)
            band = shrunk_band(correction, needed.get(kind, target - slack), groups)
            if band.rows == 0:  # nothing could be held out (one accelerator, no recorded versions, ...)
                continue
            bands[kind] = at_least(band, seen)
        tails = [tail for tail in tails if _leaves_rows(tail.held)]
        steps.start(f"{metric} interval calibration: workload held out", len(tails))
        band, fades = self._calibrate_workload(feats, target, slack, tails)
        if band.rows > 0:
            bands["workload"] = at_least(band, seen)
        # A new vendor, accelerator, model or engine where fewer than two groups could be rehearsed (nothing
        # showed how the correction carries from group to group) is predicted by the prior, with the prior's
        # band: on MLPerf's 48 ITL rows (two models in one hash fold) aiconfigurator's unseen models took the
        # full correction, 27.1% median APE where the prior was 24.2% (ad hoc, ``surrogate evaluate --split
        # source``); the default's ITL trusted a new vendor 0.95 on the 4 MLPerf MI300X rows, the one vendor
        # that could be held out. The band is the prior's error with that kind's groups held out: the widest
        # over every kind covered 92.0% of the source split's TTFTs, the kind's own 89.2%.
        for kind in _HELD_OUT_GROUPINGS:
            bands.setdefault(kind, replace(at_least(priors[kind], seen), rows=0))  # rows 0: not rehearsed
        return bands, fades

    def _calibrate_workload(self, feats: pd.DataFrame, target: np.ndarray, slack: np.ndarray,
                            tails: list[_Tail]) -> tuple[Band, WorkloadFades]:
        """The workload band and fades of one metric, each tail held out on its own and read at its clamped
        twins, as predictions beyond the range are. Each dimension's tail above gives the share of a
        faster-than-prior level it needed, each tail below that of a slower one, at the median distance those
        rows lay beyond the range their rehearsal kept (the fades); the band is of every tail row's residual
        with its level so faded."""
        learned = held_out(self._median_fitter, feats, target, [tail.held for tail in tails],
                           [tail.feats for tail in tails])
        wanted = target - slack
        # Per tail: the correction at each row (the twin's level plus the prior's growth past it) and the level.
        corrections = [values - slack[tail.held] for tail, values in zip(tails, learned, strict=True)]
        levels = [values - tail.slack for tail, values in zip(tails, learned, strict=True)]
        fades = _rehearsed_fades(tails, levels, [tail.wanted(wanted) - (c - level)
                                                 for tail, c, level in zip(tails, corrections, levels, strict=True)])
        if self.physics:
            fades = _with_added_growth(fades, tails, levels, wanted)
        residuals = [tail.wanted(wanted) - fades.apply(c, level, tail.above, tail.below,
                                                     tail.growth if self.physics else None)
                     for tail, c, level in zip(tails, corrections, levels, strict=True)]
        pooled = residual_band(np.concatenate(residuals) if residuals else np.array([]))
        distances = np.concatenate([tail.distance for tail in tails]) if tails else np.array([])
        reach = float(np.median(distances[distances > 0])) if np.any(distances > 0) else 0.0
        return pooled, replace(_with_tail_bands(fades, tails, residuals), pooled_extent_log=reach)

    def _metadata(self, table: pd.DataFrame) -> dict[str, Any]:
        """What a bundle records about itself: versions, seed, data and catalog fingerprints, offsets."""
        sources = table["source"].value_counts().to_dict() if "source" in table else {}
        return {
            "format_version": BUNDLE_FORMAT, "versions": _versions(), "seed": self.seed,
            "data_fingerprint": fingerprint(table), "rows_by_source": sources,
            "rows_by_metric": self.train_rows_, "catalog_fingerprint": catalog.catalog_fingerprint(),
            "bands_log": {metric: {kind: band.to_dict() for kind, band in bands.items()}
                          for metric, bands in self.bands_.items()},
            "support": self.support_.to_dict(),
            "support_by_metric": {metric: support.to_dict() for metric, support in self.metric_support_.items()},
            "newest_software": self.newest_software_,
            "growth_slack": self.slack_,
            "workload_fades": {metric: fades.to_dict(WORKLOAD_DIMENSIONS) for metric, fades in self.fades_.items()},
            "feature_names": self.feature_names_in_, "physics": self.physics,
            "with_hardware_id": self.with_hardware_id, "with_specs": self.with_specs, "cv_scores": {},
            "efficiency": self.efficiency_.to_dict(),
            **(self.disaggregated_ or DisaggregatedCorrection.physics_only()).metadata(),
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
        if len(configs) == 0:
            raise DataError("nothing to predict: the table has no rows")
        disaggregated = disaggregated_rows(configs)
        if disaggregated.any():
            return self._predict_mixed(configs, disaggregated, normalized)
        shards = shards_for(len(configs))
        if shards > 1:
            try:
                return predict_in_shards(self, _config_columns(configs), shards, normalized)
            except ConfigError:  # said again by this process, naming the row of the whole table
                pass
        return self._predict_aggregated(configs, normalized)

    def _predict_aggregated(self, configs: pd.DataFrame, normalized: bool) -> pd.DataFrame:
        """:meth:`predict` of aggregated rows, in this process."""
        cfg = self._prepared(configs, normalized)
        above_by_dimension, below_by_dimension = self.support_.range_excess(cfg)
        above, below = above_by_dimension.max(axis=1), below_by_dimension.max(axis=1)
        beyond = (above > 0) | (below > 0)
        est, feats, twin_feats, twin_est = self._with_twins(cfg, beyond)
        support, by_metric = assess_by_metric(self.metric_support_, cfg, feats, above, below)
        corrections, levels, growths = self._corrections(est, feats, beyond, twin_feats, twin_est)
        era_spread = self._vendor_era_spread(cfg, est)
        engine_cells = band_cells(cfg)
        cells = kv_cache_cells(engine_cells, cfg, est["running_sequences"].to_numpy())
        # Columns gathered first, then one frame over them (inserting 50 columns one by one was slower);
        # each array is this frame's own (no view of est or support), so editing the result edits nothing else.
        out: dict[str, Any] = {}
        floored = np.zeros(len(cfg), dtype=bool)
        batching = cfg["batching"].astype(str).to_numpy()
        for metric in METRICS:
            base = est[metric].to_numpy() if self.physics else np.ones(len(est))
            # Beyond the range a faster-than-prior level (below it, a slower one) fades as the rehearsal showed.
            fades = self.fades_.get(metric, WorkloadFades())
            shrink, low, high = row_bands(self.bands_[metric], by_metric.get(metric, support), above_by_dimension,
                                          below_by_dimension, fades, cells, engine_cells)
            if self.physics:  # a batching mode the metric's trees never saw keeps none of it (_trained_modes)
                shrink = np.where(np.isin(batching, self._trained_modes(metric)), shrink, 0.0)
            low, high = low - era_spread[metric], high + era_spread[metric]
            middle = shrink * fades.apply(corrections[metric], levels[metric], above_by_dimension, below_by_dimension,
                                          growths[metric] if self.physics else None)
            widths: list[tuple[str, float | np.ndarray]] = [(metric, 0.0), (f"{metric}_p10", low),
                                                              (f"{metric}_p90", high)]
            for column, widen in widths:
                out[column] = base * np.exp(middle + widen)
            if self.physics:
                peak = est[f"peak_{metric}"].to_numpy()
                floored |= out[metric] < peak
                for column in (metric, f"{metric}_p10", f"{metric}_p90"):
                    out[column] = np.maximum(out[column], peak)
            out[f"{metric}_correction_weight"] = np.array(shrink, dtype=float)  # 0 where no model
        # One row's trust: the least among the metrics its batching mode reads (the derived one's is unused).
        read = [np.where(reads_own_trees(batching, metric), out[f"{metric}_correction_weight"], np.inf)
                for metric in METRICS]
        out["correction_weight"] = np.min(read, axis=0)
        # Derived metrics (static ITL, continuous latency) stay above their floors too.
        make_consistent(cfg, out, {m: est[f"peak_{m}"].to_numpy() for m in METRICS} if self.physics else None)
        for metric in METRICS:
            out[f"analytic_{metric}"] = est[metric].to_numpy(copy=True)
            out[f"peak_{metric}"] = est[f"peak_{metric}"].to_numpy(copy=True)
        out["floored_to_peak"] = floored
        for column in support.columns:
            out[column] = support[column].array.copy()
        out["support_workload"] = self.support_.range_words(cfg, beyond)
        out["software_era"], out["software_date"] = software_labels(cfg)
        for column in ["mem_per_device_gb", "mem_usable_gb", "max_batch_size", "running_sequences", "fits",
                       "bottleneck"]:
            out[column] = est[column].array.copy()
        return pd.DataFrame(out, index=configs.index, copy=False)

    def _predict_mixed(self, configs: pd.DataFrame, disaggregated: np.ndarray, normalized: bool) -> pd.DataFrame:
        """Aggregated rows as usual, disaggregated ones by the xPyD physics and its learned correction (physics
        alone, with no interval, in a bundle trained without such rows); columns one kind lacks are empty."""
        correction = getattr(self, "disaggregated_", None) or DisaggregatedCorrection.physics_only(self.efficiency_)
        split = correction.predict(configs[disaggregated])
        split["mode"] = "disaggregated"
        split["disaggregated_learned"] = bool(correction.models_)
        parts = [split]
        if (~disaggregated).any():
            parts.insert(0, self.predict(configs[~disaggregated], normalized=normalized))
        out = pd.concat(parts).reindex(configs.index)
        out["mode"] = out["mode"].fillna("aggregated")
        return out

    def _trained_modes(self, metric: str) -> list[str]:
        """The batching modes among ``metric``'s training rows (none where it has no trees).

        Static batches and served traffic are different regimes (a batch's host cost per sequence against a
        scheduler's queue and mixed steps), and a rehearsal cannot say how a correction carries from one to the
        other when the training rows hold only one: a row of the other mode is the prior alone, its band the
        one its support flags give (the accelerator under that mode is unseen). On the shared rows this is
        the leave-one-source-out split: without LLM-Inference-Bench the TTFT trees see serving only, and their
        correction had moved its static TTFTs from the prior's 32.2% to 36.8% median APE. Every bundle's
        latency trees learn static rows only and its ITL trees served ones (``learned_values``): the derived
        metric's weight (a served row's latency, a static row's ITL) reads 0, and its value is unchanged."""
        support = self.metric_support_.get(metric)
        return sorted({mode for _, mode in support.hardware}) if support is not None else []

    def _with_twins(self, cfg: pd.DataFrame, beyond: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame,
                                                                          pd.DataFrame | None, pd.DataFrame | None]:
        """The estimate and features of prepared rows, and the features and estimate of the ``beyond`` rows'
        clamped twins (read by the trees in their place). A small table takes one pass over rows and twins
        together (a second pass cost as much again in fixed overhead: 0.067 s vs 0.050 s of CPU for 1,000
        rows); a large one two (0.71 s vs 0.78 s for 100,000 rows: shorter arrays run faster). The joint
        pass runs over positions (a twin shares its row's label); a configuration error is said again from
        the rows alone, naming the row by its label."""
        if not beyond.any():
            return (*self._derived(cfg), None, None)
        twins = self.support_.clamp(cfg[beyond])
        if len(cfg) >= _JOINT_TWIN_ROWS:
            specs = gather_specs(cfg)  # a twin is its row's part, model and engine: the same specs
            est, feats = self._derived(cfg, specs)
            twin_est, twin_feats = self._derived(twins, specs[beyond])
            return est, feats, twin_feats, twin_est
        try:
            est, feats = self._derived(pd.concat([cfg, twins], ignore_index=True))
        except ConfigError:
            self._derived(cfg)
            self._derived(twins)
            raise
        rows = len(cfg)
        return (est.iloc[:rows].set_axis(cfg.index), feats.iloc[:rows].set_axis(cfg.index),
                feats.iloc[rows:].set_axis(twins.index), est.iloc[rows:].set_axis(twins.index))

    def _vendor_era_spread(self, cfg: pd.DataFrame, est: pd.DataFrame) -> dict[str, npt.NDArray[np.float64]]:
        """Per metric and row, how far (log) the prior moved because the row's engine release is newer than
        any measured on its vendor's hardware (its vendor's offsets faded: ``Efficiency.vendor_era_weights``);
        0 elsewhere. The band widens by it on both sides: up to the prior those offsets give in full (the
        software as measured), and as far toward the rates of every vendor's rows together."""
        spread = {metric: np.zeros(len(est)) for metric in METRICS}
        if not self.physics or "vendor_era_weight" not in est:
            return spread
        faded = est["vendor_era_weight"].to_numpy(dtype=float) < 1.0
        if not faded.any():
            return spread
        in_full = replace(self.efficiency_, vendor_software_year={})
        as_measured = estimate(cfg[faded], normalized=True, efficiency=in_full)
        for metric in METRICS:
            spread[metric][faded] = np.abs(np.log(as_measured[metric].to_numpy(dtype=float)
                                                  / est[metric].to_numpy(dtype=float)[faded]))
        return spread

    def _corrections(self, est: pd.DataFrame, feats: pd.DataFrame, beyond: np.ndarray,
                     clamped_feats: pd.DataFrame | None, clamped_est: pd.DataFrame | None
                     ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Each metric's log correction over the prior, its level: the correction at the row's clamped
        twin (the row's own inside the range), and the prior's growth past the twin (log prior / prior at
        the twin; 0 inside the range). Rows beyond the trained workload range read the trees at the
        twin (``clamped_feats``, one per such row); past it the prediction grows as prior ** (1 - slack)."""
        out, levels, growths = {}, {}, {}
        fitted = [metric for metric in METRICS if metric in self.models_]
        boosters = [self.models_[metric] for metric in fitted]
        # Each row is read once: where it lies, or (beyond the range) at its clamped twin.
        learned = {metric: np.empty(len(est)) for metric in fitted}
        if not beyond.all():
            inside = feats if clamped_feats is None else feats[~beyond]
            for metric, values in zip(fitted, predict_forests(boosters, inside, len(est)), strict=True):
                learned[metric][~beyond] = values
        if clamped_feats is not None:
            for metric, values in zip(fitted, predict_forests(boosters, clamped_feats, len(est)), strict=True):
                learned[metric][beyond] = values
        for metric in METRICS:
            growths[metric] = np.zeros(len(est))
            if clamped_est is not None:
                growths[metric][beyond] = (np.log(est[metric].to_numpy()[beyond])
                                           - np.log(clamped_est[metric].to_numpy()))
            if metric not in learned:
                out[metric] = levels[metric] = np.zeros(len(est))
                continue
            # log(prediction) = (1 - slack) * log(prior) + learned: both terms rise with the workload
            # (slack is 0 without physics).
            prior = est[metric].to_numpy(copy=True)
            out[metric] = learned[metric] - self.slack_[metric] * np.log(prior)
            if clamped_est is not None:
                prior[beyond] = clamped_est[metric].to_numpy()
            levels[metric] = learned[metric] - self.slack_[metric] * np.log(prior)
        return out, levels, growths

    def compile_trees(self) -> dict[str, bool]:
        """Compile each metric's trees (and the disaggregated correction's) to machine code now, into this
        user's cache, so later predictions of any size use them (``surrogate.model._compiled``); per model,
        whether it is compiled (False: LightGBM, the reason in ``_compiled.status()``)."""
        boosters = dict(self.models_)
        correction = getattr(self, "disaggregated_", None)
        if correction is not None:
            boosters.update({f"disaggregated {metric}": booster for metric, booster in correction.models_.items()})
        compiled = compile_boosters(list(boosters.values()))
        return {name: model is not None for name, model in zip(boosters, compiled, strict=True)}

    def save(self, path: str | Path) -> Path:
        """Write the bundle (joblib) and trust it: this user's ``surrogate.load`` reads it back without
        ``trust=True``, since its SHA-256 goes to the per-user store (``surrogate.model._trust``)."""
        from surrogate.model._trust import record_saved

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(self, path, compress=3)
        record_saved(path)
        return path


@dataclass(frozen=True)
class _TailTwins:
    """One workload tail's rehearsal (column ``fold`` of :func:`workload_tails`): which rows it holds out,
    and for those rows, in order, their clamped twins' features and estimates and how far above and below
    the range kept without them each lay (rows x dimensions)."""

    fold: int
    held: npt.NDArray[np.bool_]
    feats: pd.DataFrame
    est: pd.DataFrame
    row_est: pd.DataFrame  # the held rows' own estimates, where they lie
    above: npt.NDArray[np.float64]
    below: npt.NDArray[np.float64]
    # The held rows' estimates with the efficiency parameters refit without them (``_tail_priors``); None:
    # priced as ``row_est`` (no refit).
    prior_est: pd.DataFrame | None = None

    def of_metric(self, rows: npt.NDArray[np.bool_], metric: str, growth_slack: float) -> _Tail:
        """The tail among one metric's measured ``rows``, with that metric's slack x log(prior) at the twins,
        the prior's growth (log) from each twin to its row, and how much slower (log) the prior fitted with
        the held rows prices them than the one refit without them."""
        mine = rows[self.held]
        twin_log = np.log(self.est[metric].to_numpy()[mine])
        row_log = np.log(self.row_est[metric].to_numpy()[mine])
        refit = row_log if self.prior_est is None else np.log(self.prior_est[metric].to_numpy()[mine])
        return _Tail(self.fold, self.held[rows], self.feats[mine], growth_slack * twin_log, row_log - twin_log,
                     self.above[mine], self.below[mine], row_log - refit)


@dataclass(frozen=True)
class _Tail:
    """One workload tail among one metric's rows: the rows it holds out and, for those, their twins'
    features, slack x log(prior) there, and how far above and below the kept range each lay."""

    fold: int
    held: npt.NDArray[np.bool_]
    feats: pd.DataFrame
    slack: npt.NDArray[np.float64]
    growth: npt.NDArray[np.float64]
    above: npt.NDArray[np.float64]
    below: npt.NDArray[np.float64]
    # log(prior fitted with the held rows / prior refit without them) at each held row: what it adds to the
    # correction the row needed (:meth:`wanted`).
    prior_shift: npt.NDArray[np.float64]

    def wanted(self, wanted: np.ndarray) -> npt.NDArray[np.float64]:
        """The held rows' needed corrections over the prior refit without them, from ``wanted`` (every row's
        over the prior fitted on all)."""
        return np.asarray(wanted[self.held] + self.prior_shift, dtype=float)

    @property
    def slower_side(self) -> bool:
        """Whether this is a tail below the range (where a slower-than-prior level fades)."""
        return self.fold >= TAIL_BELOW

    @property
    def distance(self) -> npt.NDArray[np.float64]:
        """How far (log) each row lay beyond the kept range in this tail's own dimension, on its side."""
        beyond = self.below if self.slower_side else self.above
        return np.asarray(beyond[:, self.fold % TAIL_BELOW], dtype=float)


def _leaves_rows(held: npt.NDArray[np.bool_]) -> bool:
    """Whether a workload tail among one metric's rows can be rehearsed: it holds some rows and leaves some."""
    return 0 < int(held.sum()) < len(held)


def _rehearsed_fades(tails: list[_Tail], levels: list[np.ndarray], needed_levels: list[np.ndarray]) -> WorkloadFades:
    """Per workload dimension and side, the share of the level its tail's rows needed (``needed_levels``),
    read at their twins: the tail above the range in dimension d for a faster level, the one below it for a
    slower one; each at the median distance those rows lay beyond what their rehearsal kept (no tail:
    ``Fade()``, never rehearsed)."""
    found = {}
    for tail, level, needed in zip(tails, levels, needed_levels, strict=True):
        far = tail.distance
        mine = far > 0
        share = workload_fade(level[mine], needed[mine], far[mine], slower=tail.slower_side)
        found[tail.fold] = Fade(share, float(np.median(far[mine])) if mine.any() else 0.0)
    dimensions = range(len(WORKLOAD_DIMENSIONS))
    return WorkloadFades(tuple(found.get(d, Fade()) for d in dimensions),
                         tuple(found.get(TAIL_BELOW + d, Fade()) for d in dimensions))


def _with_added_growth(fades: WorkloadFades, tails: list[_Tail], levels: list[np.ndarray],
                       wanted: np.ndarray) -> WorkloadFades:
    """``fades`` with each dimension's power of growth for a slower level's added time above the range
    (``Fade.added_growth``, :func:`added_growth_power`), rehearsed on its tail above, each level first faded
    as ``fades`` fade it below; a dimension without such a tail keeps 0 (the added seconds stay)."""
    above = list(fades.above)
    for tail, level in zip(tails, levels, strict=True):
        if tail.slower_side:
            continue
        faded = fade_share(fades.below, tail.below, past_rehearsal=True) * level
        power = added_growth_power(faded, tail.wanted(wanted), tail.growth, tail.distance)
        above[tail.fold] = replace(above[tail.fold], added_growth=power)
    return replace(fades, above=tuple(above))


def _with_tail_bands(fades: WorkloadFades, tails: list[_Tail], residuals: list[np.ndarray]) -> WorkloadFades:
    """``fades`` with each rehearsed tail's band: of the residuals of its rows beyond the kept range."""
    banded = {tail.fold: residual_band(residual[tail.distance > 0])
              for tail, residual in zip(tails, residuals, strict=True)}
    sides = []
    for offset, side in ((0, fades.above), (TAIL_BELOW, fades.below)):
        sides.append(tuple(replace(fade, low_log=banded[offset + d].low_log, high_log=banded[offset + d].high_log)
                           if offset + d in banded and fade.extent_log > 0 else fade
                           for d, fade in enumerate(side)))
    return replace(fades, above=sides[0], below=sides[1])


def _config_columns(configs: pd.DataFrame) -> pd.DataFrame:
    """The columns of ``configs`` that describe a deployment (what predicting reads)."""
    return configs[[c for c in configs.columns if c in CONFIG_COLUMNS]]


# Tables below this many rows derive their clamped twins in the same pass (SurrogateModel._with_twins).
_JOINT_TWIN_ROWS = 20_000


# The public path pickles record: bundles stay loadable whichever private module defines the class.
SurrogateModel.__module__ = "surrogate.model"
