"""Find the best deployment for a workload on the user's devices: exact when small, Optuna when large.

``optimize(model, inventory, workload, options)`` enumerates every valid configuration
(``_space``), predicts them with the surrogate (``model.predict`` only) and keeps those that fit
in memory and meet the latency targets (``_scoring``). Up to
``OptimizeOptions.exhaustive_limit`` candidates are all predicted in batches and the optimum is
exact; larger spaces, or any run with a shared ``storage``, are searched with Optuna (TPE, or
NSGA-II for Pareto fronts; ``_optuna``). Nothing feasible raises ``InfeasibleError`` naming the
binding constraint and what would work (``_feasibility``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from features import catalog
from features.errors import InfeasibleError
from features.memory import MEMORY_FRACTION_SETTINGS
from surrogate.formatting import format_amount, memory_share_text
from surrogate.model import predict_at_rate
from surrogate.optimize._disaggregated_space import enumerate_disaggregated, settle_at_rate
from surrogate.optimize._feasibility import explain_infeasible
from surrogate.optimize._optuna import SEARCH_DIMENSIONS, StudySettings, run_study
from surrogate.optimize._request import (
    OBJECTIVES,
    PARETO_OBJECTIVES,
    TARGETS,
    Inventory,
    Objective,
    OptimizeOptions,
    SearchSpace,
    Targets,
    Workload,
)
from surrogate.optimize._scoring import pareto_front, rank, score
from surrogate.optimize._space import enumerate_candidates
from surrogate.optimize._unbounded import unbounded_latency_note
from surrogate.optimize._unsearched import unreleased_engines_note, unsearched_formats_note

__all__ = ["Predictor", "OptimizeResult", "optimize", "KNOB_COLUMNS"]

log = logging.getLogger(__name__)

KNOB_COLUMNS = ["hardware", "num_devices", "framework", "tp", "pp", "dp", "ep", "weight_dtype", "kv_dtype", "batching",
                "concurrency"]
# Candidates predicted per call: large enough that a 150,000-candidate exhaustive space is one call (each
# call has ~0.1 s of fixed cost) and can go to worker processes, small enough to bound memory.
_PREDICT_CHUNK_ROWS = 200_000
# A rate so small that any deployment serves it: a settling point at one request in flight, for the
# capacity of a candidate the requested rate overwhelms.
_NEGLIGIBLE_RATE = 1e-9
# Releases of one engine further apart than this (half a year: the achievable model fades a vendor's offsets by a
# third past its newest release, ``features.efficiency.VENDOR_ERA_HALF_YEARS``) are noted as different software.
_ERA_GAP_DAYS = 183
# Accelerators on the newest release named in that note; more are counted.
_NAMED_NEWEST = 3
# Latency limits scaled by these when the roofline picks first trials (it underestimates latency).
_ROOFLINE_TIGHTENING = (1.0, 0.5, 0.25)


def _seed_trials(trials: int) -> int:
    """How many roofline picks start a study: a tenth of the budget, 1 to 10."""
    return int(np.clip(trials // 10, 1, 10))


class Predictor(Protocol):
    """Anything with the ``SurrogateModel.predict`` signature (candidates come normalised)."""

    def predict(self, configs: pd.DataFrame, *, normalized: bool = False) -> pd.DataFrame: ...


@dataclass
class OptimizeResult:
    """The ranked feasible configurations, the winner and why, and how the search went."""

    ranked: pd.DataFrame = field(repr=False)
    front: pd.DataFrame | None = field(repr=False)
    evaluated: pd.DataFrame = field(repr=False)
    objective: Objective
    pareto_objectives: tuple[Objective, ...]
    method: str
    searched: str
    space_size: int
    why: str
    notes: tuple[str, ...] = field(metadata={"help": "caveats worth reading (left-out hardware, no cost axis)"})
    skipped: tuple[str, ...] = field(metadata={"help": "combinations the search space left out, and why"})
    seed: int | None
    study_name: str | None
    top_k: int
    history: pd.DataFrame | None = field(default=None, repr=False, metadata={
        "help": "Optuna trials in order (number, worker, feasible, value_0..); None when exhaustive"})
    by_serving: dict[str, pd.Series] = field(default_factory=dict, repr=False, metadata={
        "help": "with --serving both: the best feasible row of each serving mode (a mode with none is absent)"})

    def serving_ratio(self) -> float | None:
        """Disaggregated over aggregated on the objective, as 'how many times better' (None unless both won)."""
        agg, disagg = self.by_serving.get("aggregated"), self.by_serving.get("disaggregated")
        if agg is None or disagg is None:
            return None
        a, d = float(agg[self.objective.column]), float(disagg[self.objective.column])
        return d / a if self.objective.maximize else a / d

    @property
    def best(self) -> pd.Series:
        return self.ranked.iloc[0]

    @property
    def top(self) -> pd.DataFrame:
        return self.ranked.head(self.top_k)


def _chunks(configs: pd.DataFrame) -> list[pd.DataFrame]:
    """``configs`` in slices of ``_PREDICT_CHUNK_ROWS``, so one prediction never holds every candidate's features."""
    return [configs.iloc[start:start + _PREDICT_CHUNK_ROWS] for start in range(0, len(configs), _PREDICT_CHUNK_ROWS)]


def _predict(model: Predictor, configs: pd.DataFrame, targets: Targets, rate: float | None = None) -> pd.DataFrame:
    parts = []
    for chunk in _chunks(configs):
        if rate is None:
            parts.append(score(chunk, model.predict(chunk, normalized=True), targets))
        else:
            parts.append(score(*_at_rate(model, chunk, rate), targets))
    return pd.concat(parts, ignore_index=True)


def _at_rate(model: Predictor, configs: pd.DataFrame, rate: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Candidates fed ``rate`` requests/s: each at its open-loop settling point (its concurrency replaced)
    with those predictions. A candidate the rate overwhelms keeps one request in flight, its prediction
    there at a negligible rate, and a positive ``capacity_over_req_s`` (rate minus what it serves)."""
    configs = configs.reset_index(drop=True)
    settled, problems = predict_at_rate(model, configs, rate)
    settled = settled.copy()
    settled["capacity_over_req_s"] = np.minimum(rate - settled["capacity_req_s"].to_numpy(dtype=float), 0.0)
    parts = [settled]
    if problems:
        overwhelmed = configs.loc[sorted(problems)]
        light, _ = predict_at_rate(model, overwhelmed, _NEGLIGIBLE_RATE)
        light = light.copy()
        light["request_rate_per_s"] = rate
        light["capacity_over_req_s"] = rate - light["capacity_req_s"].to_numpy(dtype=float)
        parts.append(light)
    predictions = pd.concat(parts).sort_index()
    configs = configs.assign(concurrency=predictions["concurrency"].astype(np.int64).to_numpy(),
                             request_rate_per_s=predictions["request_rate_per_s"].to_numpy(dtype=float))
    configs["batch_size"] = configs["concurrency"]
    return configs, predictions.drop(columns=["concurrency", "request_rate_per_s"])


def _request(inventory: Inventory, workload: Workload, space: SearchSpace, options: OptimizeOptions) -> dict[str, Any]:
    """What defines a study: trials of different requests must not share one."""
    described = {**asdict(workload), "model": catalog.resolve_model(workload.model)}
    # Settings left at their default None are not written, so studies stored before they existed still match.
    searched = {k: v for k, v in asdict(space).items()
                if not (k in ("engine_memory_fraction", "software_as_of") and v is None)}
    return {"inventory": [[p.hardware, p.count] for p in inventory.pools], "workload": described,
            "space": searched, "objective": options.objective, "pareto": options.pareto,
            "targets": asdict(options.targets)}


def _differences(best: pd.Series, other: pd.Series) -> str:
    changed = [f"{c}={other[c]}" for c in KNOB_COLUMNS if other[c] != best[c]]
    return ", ".join(changed) if changed else "same knobs"


def _why(ranked: pd.DataFrame, objective: Objective, user_share: float | None = None) -> str:
    best = ranked.iloc[0]
    value = float(best[objective.column])
    tail = (f"{best['bottleneck']}-bound, {best['mem_per_device_gb']:.1f} of {best['mem_usable_gb']:.1f} GB "
            "per device")
    share = memory_share_text(best)
    if share:
        why = ("as asked" if user_share is not None else "the engine's default share leaves too little for the model")
        tail += f" with {MEMORY_FRACTION_SETTINGS[str(best['framework'])]} {share} ({why})"
    if len(ranked) == 1:
        return f"the only configuration that meets every constraint ({tail})"
    runner = ranked.iloc[1]
    other = float(runner[objective.column])
    margin = (value / other - 1.0) if objective.maximize else (other / value - 1.0)
    return (f"{format_amount(value)} {objective.label}, {margin:.1%} better than the runner-up "
            f"(which differs in {_differences(best, runner)}); {tail}")


def _seed_picks(seed_predictor: Predictor, configs: pd.DataFrame, targets: Targets,
                objectives: tuple[Objective, ...], count: int, pareto: bool) -> list[int]:
    """Candidate rows a cheap predictor ranks best: the first trials of an Optuna study.

    The seed predictor (the roofline alone, no trees) screens every candidate at little cost and
    starts the study in the right region. The roofline is optimistic about latency, so its picks
    under tighter versions of the latency limits (x1, x1/2, x1/4) are included. Every reported
    number still comes from the surrogate.
    """
    predictions = seed_predictor.predict(configs, normalized=True)
    picks: list[int] = []
    rounds = _ROOFLINE_TIGHTENING if targets.given() else _ROOFLINE_TIGHTENING[:1]
    quota = -(-count // len(rounds))  # picks per round, so that the rounds fill ``count`` together
    for tighten in rounds:
        tighter = Targets(**{name: (None if getattr(targets, name) is None else getattr(targets, name) * tighten)
                             for name in TARGETS}, risk=targets.risk)
        scored = score(configs, predictions, tighter)
        if pareto:
            front = pareto_front(scored, objectives)
            step = max(len(front) // count, 1)
            ranked = front.index[::step]
        else:
            ranked = rank(scored, objectives[0]).index
        picks += [int(i) for i in ranked if int(i) not in picks][:quota]
    return picks[:count]


def _restrict_for_cost(candidates: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    price = candidates["hardware"].map(catalog.hardware_table()["price_usd_per_device_hour"])
    unpriced = sorted(set(candidates.loc[price.isna(), "hardware"]))
    if unpriced:
        notes.append(f"--objective cost leaves out {', '.join(unpriced)}: no price in the catalog")
    kept = candidates[price.notna().to_numpy()].reset_index(drop=True)
    if kept.empty:
        raise InfeasibleError(f"no catalog price for {', '.join(unpriced)}; use --objective throughput or latency")
    return kept


class _ScoredRows:
    """Scored candidate rows by position, each predicted once however often the search asks."""

    def __init__(self, model: Predictor, configs: pd.DataFrame, targets: Targets, rate: float | None = None) -> None:
        self.model, self.configs, self.targets, self.rate = model, configs, targets, rate
        self.frames: list[pd.DataFrame] = []

    def __call__(self, indices: np.ndarray) -> pd.DataFrame:
        table = self.table()
        fresh = sorted({int(i) for i in indices} - set(table.index))
        if fresh:
            rows = _predict(self.model, self.configs.iloc[fresh], self.targets, self.rate)
            rows.index = pd.Index(fresh)
            self.frames.append(rows)
            table = self.table()
        return table.loc[[int(i) for i in indices]].reset_index(drop=True)

    def table(self) -> pd.DataFrame:
        """Every row scored so far, indexed by candidate position."""
        if len(self.frames) > 1:
            self.frames[:] = [pd.concat(self.frames)]
        return self.frames[0] if self.frames else pd.DataFrame(index=pd.Index([], dtype=np.int64))


def _pareto_objectives(configs: pd.DataFrame, pareto: bool, notes: list[str]) -> tuple[Objective, ...]:
    """Throughput per device against per-user speed, and cost when every device has a price."""
    if not pareto:
        return PARETO_OBJECTIVES
    prices = configs["hardware"].map(catalog.hardware_table()["price_usd_per_device_hour"])
    if prices.notna().all():
        return (*PARETO_OBJECTIVES, OBJECTIVES["cost"])
    notes.append("Pareto front without cost: no catalog price for "
                 + ", ".join(sorted(set(configs.loc[prices.isna(), "hardware"]))))
    return PARETO_OBJECTIVES


@dataclass(frozen=True)
class _Searched:
    """What a search scored, and how to describe it."""

    scored: pd.DataFrame
    method: str
    searched: str
    study_name: str | None = None
    history: pd.DataFrame | None = None


def _exhaustive(model: Predictor, configs: pd.DataFrame, options: OptimizeOptions, rate: float | None,
                progress: Callable[[int, int], None] | None) -> _Searched:
    scored = _predict(model, configs, options.targets, rate)
    if progress:
        progress(len(configs), len(configs))
    return _Searched(scored, "exhaustive", f"exhaustive over {len(configs):,} configurations")


def _optuna(model: Predictor, configs: pd.DataFrame, request: dict[str, Any], workload: Workload,
            options: OptimizeOptions, objectives: tuple[Objective, ...], seed_predictor: Predictor | None,
            progress: Callable[[int, int], None] | None) -> _Searched:
    """TPE (NSGA-II for a front) over the candidate table; every configuration it touched, scored once."""
    name = options.study_name
    if options.storage and not name:
        name = f"surrogate-{hashlib.md5(json.dumps(request, sort_keys=True).encode()).hexdigest()[:10]}"
    settings = StudySettings(trials=options.trials, seed=options.seed, storage=options.storage,
                             study_name=name, trials_per_batch=options.trials_per_batch, pareto=options.pareto)
    # Without a fixed concurrency, replicas follow from tp and pp and each trial sweeps the
    # sequences per replica; with one, sequences follow from replicas and each trial sweeps those.
    # Under a request rate, sequences follow from replicas too (by Little's law, when predicted).
    fixed_load = workload.concurrency is not None or workload.request_rate_per_s is not None
    derived, profiled = ("concurrency", "dp") if fixed_load else ("dp", "concurrency")
    dims = [d for d in SEARCH_DIMENSIONS if d not in (derived, profiled) and configs[d].nunique() > 1]
    scored_rows = _ScoredRows(model, configs, options.targets, workload.request_rate_per_s)
    first = ([] if seed_predictor is None else
             _seed_picks(seed_predictor, configs, options.targets, objectives, _seed_trials(options.trials),
                         options.pareto))
    outcome = run_study(configs, dims, objectives, scored_rows, settings, request, progress, first, profiled)
    if len(outcome.indices) == 0:
        raise InfeasibleError(f"no trial of study '{outcome.study_name}' finished; run more --trials")
    # Trials run by other workers on a shared storage may name rows this process has not scored yet.
    scored = scored_rows(outcome.indices)
    label = "NSGA-II" if options.pareto else "TPE"
    where = f", study '{outcome.study_name}'" if options.storage else ""
    seeded = f" (the first {len(first)} the roofline's picks)" if first else ""
    searched = (f"{label} search: {options.trials} trials{where}{seeded}, {len(scored):,} of {len(configs):,} "
                f"configurations evaluated (seed {options.seed})")
    return _Searched(scored, "nsga2" if options.pareto else "tpe", searched, outcome.study_name, outcome.history)


def _search_aggregated(model: Predictor, inventory: Inventory, workload: Workload, space: SearchSpace,
                       options: OptimizeOptions, notes: list[str], progress: Callable[[int, int], None] | None,
                       seed_predictor: Predictor | None) -> tuple[_Searched, int, tuple[str, ...]]:
    """Aggregated deployments: every one predicted when the space is small, else an Optuna study."""
    candidates = enumerate_candidates(inventory, workload, space)
    configs = candidates.configs
    if options.objective == "cost":
        configs = _restrict_for_cost(configs, notes)
    exhaustive = options.search == "exhaustive" or (
        options.search == "auto" and options.storage is None and len(configs) <= options.exhaustive_limit)
    rate = workload.request_rate_per_s
    if rate is not None and seed_predictor is not None:
        seed_predictor = None  # the roofline's picks assume a load; under a rate the load is each pick's own
    if exhaustive:
        found = _exhaustive(model, configs, options, rate, progress)
    else:
        request = _request(inventory, workload, space, options)
        objectives = _pareto_objectives(configs, True, []) if options.pareto else (OBJECTIVES[options.objective],)
        found = _optuna(model, configs, request, workload, options, objectives, seed_predictor, progress)
    for reason in candidates.notes:
        log.debug("%s", reason)
    scored = found.scored.assign(serving="aggregated")
    return replace(found, scored=scored), len(configs), candidates.notes


def _search_disaggregated(model: Predictor, inventory: Inventory, workload: Workload, space: SearchSpace,
                          options: OptimizeOptions, notes: list[str]) -> tuple[_Searched, int, tuple[str, ...]]:
    """Disaggregated deployments (xPyD): every one predicted (the space is bounded to a few seconds)."""
    configs, skipped = enumerate_disaggregated(inventory, workload, space)
    if options.objective == "cost":
        configs = _restrict_for_cost(configs, notes)
    columns = [c for c in configs.columns if c != "units"]
    parts = [model.predict(chunk) for chunk in _chunks(configs[columns])]
    predictions = pd.concat(parts).reset_index(drop=True).drop(columns=["mode"])
    predictions["bottleneck"] = predictions["disagg_bound_by"]
    if not predictions["disaggregated_learned"].any():  # physics alone: no interval to bind the limits to
        notes.append("this bundle learned no disaggregated correction: disaggregated candidates are priced by "
                     "physics alone, without an interval, and latency limits bind their median")
        for metric in ("ttft_s", "itl_s", "latency_s"):
            for suffix in ("_p10", "_p90"):
                predictions[f"{metric}{suffix}"] = predictions[f"{metric}{suffix}"].fillna(predictions[metric])
        for suffix in ("_p10", "_p90"):
            column = f"output_throughput_tok_s{suffix}"
            predictions[column] = predictions[column].fillna(predictions["output_throughput_tok_s"])
    size = len(configs)
    rate = workload.request_rate_per_s
    if rate is not None:
        configs, predictions = settle_at_rate(configs, predictions, rate)
    scored = score(configs, predictions, options.targets).assign(serving="disaggregated")
    load = " (each at its lightest load that keeps up with the rate)" if rate is not None else ""
    return _Searched(scored, "exhaustive", f"disaggregated: exhaustive over {size:,} configurations{load}"), size, \
        skipped


def _mixed_eras(ranked: pd.DataFrame) -> str | None:
    """A note where one engine is priced for releases more than :data:`_ERA_GAP_DAYS` apart on different
    accelerators (each its newest measured there): 2024 ROCm vLLM on MI300X against 2026 vLLM on H100 compares
    software as well as hardware. Releases weeks apart (an accelerator never measured takes the engine's newest
    anywhere) are one era. It names the accelerators priced for the older software and the newest release the
    rest reach (listed where they are few: with eleven accelerator types the note had listed all 20 pairs)."""
    if "software_date" not in ranked:
        return None
    eras = ranked.dropna(subset=["software_date"])[["framework", "hardware", "software_era", "software_date"]]
    eras = eras.drop_duplicates()
    eras = eras.assign(date=pd.to_datetime(eras["software_date"]))
    parts = []
    for _, rows in eras.groupby("framework", sort=True):
        newest = rows["date"].max()
        old = rows["date"] < newest - pd.Timedelta(days=_ERA_GAP_DAYS)
        if not old.any():
            continue
        rest = sorted(set(rows.loc[~old, "hardware"]))
        where = ", ".join(rest) if len(rest) <= _NAMED_NEWEST else f"{len(rest)} other accelerators"
        era = rows.loc[rows["date"] == newest, "software_era"].iloc[0]
        parts.append(", ".join(f"{row.hardware} with {row.software_era}" for row in rows[old].sort_values(
            "hardware").itertuples()) + f" against {era} on {where}")
    if not parts:
        return None
    return ("accelerators are priced for releases of one engine far apart, the newest each was measured with ("
            + "; ".join(parts) + "): the ranking compares software as well as hardware; --software-as-of DATE "
            "prices every engine as of one date")


def _launched_checkpoint(name: str) -> str | None:
    """What the recommended command should load when it is not the catalog id the search priced: the
    repository the user named (``owner/name``: a fine-tune, a point release or a publisher's quantised
    checkpoint, priced as the architecture it shares) or the directory of the config.json given; None for the
    catalog id itself or a short name. Launching the catalog id instead served the base model to a user who
    asked for ``meta-llama/Llama-3.3-70B-Instruct`` (priced as ``meta-llama/Llama-3.1-70B``)."""
    named = catalog.resolve_model_name(name)
    if Path(named.model_id).suffix == ".json":  # a config.json given: engines load its directory
        return str(Path(named.model_id).parent)
    written = named.name.strip()
    if named.weight_dtype or named.kv_dtype or (written.count("/") == 1 and written.lower() != named.model_id.lower()):
        return written
    return None


def _by_serving(ranked: pd.DataFrame, modes: tuple[str, ...]) -> dict[str, pd.Series]:
    """The best feasible row of each serving mode searched (a mode with none feasible is left out)."""
    out = {}
    for mode in modes:
        rows = ranked[ranked["serving"].eq(mode).to_numpy()]
        if not rows.empty:
            out[mode] = rows.iloc[0]
    return out


def optimize(model: Predictor, inventory: Inventory, workload: Workload, options: OptimizeOptions | None = None,
             space: SearchSpace | None = None, progress: Callable[[int, int], None] | None = None,
             seed_predictor: Predictor | None = None) -> OptimizeResult:
    """The best configurations for ``workload`` on ``inventory`` by ``options.objective``.

    ``space.serving`` says which serving modes compete: aggregated (searched exhaustively or with Optuna),
    disaggregated (always exhaustive over its bounded space), or both, ranked together.
    ``seed_predictor`` (e.g. ``surrogate.model.AnalyticPredictor()``, cheap) picks the first trials
    of an Optuna search; without one the sampler starts on its own. Exhaustive searches ignore it.
    """
    options = options or OptimizeOptions()
    space = space or SearchSpace()
    objective = OBJECTIVES[options.objective]
    modes = ("aggregated", "disaggregated") if space.serving == "both" else (space.serving,)
    notes: list[str] = []
    searches: list[_Searched] = []
    skipped: list[str] = []
    size = 0
    for mode in modes:
        try:
            if mode == "aggregated":
                found, count, left_out = _search_aggregated(model, inventory, workload, space, options, notes,
                                                            progress, seed_predictor)
            else:
                found, count, left_out = _search_disaggregated(model, inventory, workload, space, options, notes)
        except InfeasibleError as exc:
            if len(modes) == 1:
                raise
            notes.append(f"no {mode} deployment to search: {exc}")
            continue
        searches.append(found)
        size += count
        skipped += [f"{mode}: {reason}" if len(modes) > 1 else reason for reason in left_out]
    if not searches:
        raise InfeasibleError("; ".join(notes))
    scored = pd.concat([found.scored for found in searches], ignore_index=True)
    searched = "; ".join(found.searched for found in searches)
    log.info("%s", searched)
    ranked = rank(scored, objective)
    exhaustive = all(found.method == "exhaustive" for found in searches)
    if ranked.empty:
        message = explain_infeasible(scored, options.targets, inventory, workload, searched)
        if not exhaustive:
            message += "; more --trials or --search exhaustive may find one"
        raise InfeasibleError(message)
    if space.software_as_of is None and (mixed := _mixed_eras(ranked)):
        notes.append(mixed)
    if formats := unsearched_formats_note(ranked, space):
        notes.append(formats)
    if unreleased := unreleased_engines_note(inventory, space):
        notes.append(unreleased)
    if unbounded := unbounded_latency_note(ranked, objective, options.targets):
        notes.append(unbounded)
    launched = _launched_checkpoint(workload.model)
    if launched is not None:
        ranked = ranked.assign(checkpoint=launched)
    pareto_objectives = _pareto_objectives(scored, options.pareto, notes)
    front = pareto_front(scored, pareto_objectives) if options.pareto else None
    optuna_run = next((found for found in searches if found.method != "exhaustive"), None)
    method = "+".join(dict.fromkeys(found.method for found in searches))
    return OptimizeResult(ranked=ranked.reset_index(drop=True), front=front, evaluated=scored,
                          objective=objective, pareto_objectives=pareto_objectives, method=method,
                          searched=searched, space_size=size, why=_why(ranked, objective, space.engine_memory_fraction),
                          notes=tuple(notes), skipped=tuple(skipped), seed=options.seed,
                          study_name=optuna_run.study_name if optuna_run else None, top_k=options.top_k,
                          history=optuna_run.history if optuna_run else None,
                          by_serving=_by_serving(ranked, modes) if len(modes) > 1 else {})
