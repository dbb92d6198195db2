"""The analytic performance model: what a deployment delivers at achievable rates, and at its peak.

Static batches (LLM-Inference-Bench's offline ``generate`` calls, llama-bench): prefill of the
whole batch, then ``output_len - 1`` decode steps at the mean context; llama.cpp rows are one
sequence whose prompt is processed in chunks of ``prefill_chunk_tokens``.

Continuous batching (a serving engine with ``concurrency`` requests in flight per replica, the
aiconfigurator "silicon" rows) is a closed-loop steady state. Each request lives for about
``output_len`` engine steps, so by Little's law ``running / output_len`` new requests arrive per
step; every step decodes one token for each running request and prefills arrivals (chunked
prefill, as in Sarathi-Serve, arXiv 2403.02310). ITL is a decode step carrying half the steady-state
share of those prompts (``surrogate evaluate --split input_length``, fitted on prompts of at most 1,024
tokens: the achievable ITL's median APE at 2,048+ went from 36.2% with the full share to 22.2% with
half). TTFT is a wait counted in steps of the running batch, ``first_token_steps`` of them, scaled per
engine (the next step boundary, the engine's scheduling, the first token's way back to the client), plus a
share ``wave_fraction`` of the prefill of the other running requests' prompts (clients asking the same
lengths fall into lockstep and arrive together; 0 when arrivals spread evenly, 0.5 when every one arrives
in the same step), plus the prompt's own prefill; both fitted (``features.efficiency``). The steps alone
follow aiconfigurator's short prompts (MiniMax-M2.5 on two B200s, 1,024-token prompts: TTFT stayed a small
multiple of the ITL from 4 to 256 in flight, where the whole half-wave, an earlier release's TTFT, grew
with the number in flight); the share carries its long prompts at many in flight (8,192 tokens at 64+ in
flight measured 2.8-6.9x what the steps and the own prefill give). Under attention data parallelism an engine
may hold a new request longer (TensorRT-LLM balances new requests over its ranks), so the steps take a fitted
factor per engine there: on the shared rows TensorRT-LLM's is 3.0 (its 84 attention-DP TTFTs had measured
a median 1.8-2.6x the prior's, at every number in flight; vLLM's 53 agreed with it, factor 0.97). A wait
that grew with the prompt alone (a fitted number of prompt tokens per step) fitted short prompts and
extrapolated badly: trained on prompts of at most 1,024 tokens it settled at ~100 tokens per step, 84 steps
at 8,192. Open-loop rows (a
``request_rate_per_s`` given: Poisson arrivals, MLPerf's Server scenario) arrive one by one: every step
carries the full steady-state share, and a prompt's TTFT is half a step's wait, then the step that carries
its own prefill (no Poisson TTFT is measured to fit a longer wait on). When the KV cache holds
fewer than ``concurrency`` sequences (at their mean length, input + output / 2, since paged caches
grow with the sequence), the rest are preempted and resumed: each request progresses
``running / concurrency`` of the time (Little's law again), which stretches ITL, not TTFT (a
preempted request already has its first token). The shared rows say engines do some of both: on the 73
closed-loop rows beyond what this model says the cache holds, measured TTFT was a median 2.8x this estimate
and ITL 0.66x (some requests wait before their first token, and the cache holds more than counted here);
queueing all of the rest instead overshot TTFT 7x (ad hoc, issue 11's note). Those rows' intervals are
calibrated apart (``surrogate.model._calibration.band_cells``) and ``running_sequences`` says how many run.

Each step is priced twice: at the datasheet peaks (``peak_*`` columns, the hard lower bound no
deployment beats) and at achievable rates with fixed costs (``features.efficiency``; the headline
``ttft_s``/``itl_s``/``latency_s``), which is the prior the learned model corrects and what carries
hardware and models no benchmark covered.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.configs import _specs_for, invalid_reasons, normalize_configs
from features.distinct import names_at
from features.efficiency import AchievableStep, Efficiency, achievable_step, default_efficiency
from features.errors import ConfigError
from features.memory import MemoryBreakdown, memory_per_device
from features.roofline import FloatArray, StepCost, numeric_columns, step_cost
from features.versions import software_years

__all__ = ["estimate", "analytic_steps", "compose", "served_closed_loop", "waits_for_attention_dp", "beyond_kv_cache",
           "peak_bound", "attention_data_parallel",
           "AnalyticSteps", "ANALYTIC_COLUMNS", "PEAK_COLUMNS", "ACHIEVABLE_PHASE_COLUMNS",
           "POISSON_STEPS_BEFORE_FIRST_TOKEN"]

_GB = 1e9
# A Poisson arrival waits half a step on average, then rides the step carrying its prefill: 1.5 steps before
# its first token, besides the prompt itself (``surrogate.model._open_loop`` reads the same steps).
POISSON_STEPS_BEFORE_FIRST_TOKEN = 1.5
_PARTS = ("compute", "memory", "communication")
_ACHIEVABLE_PARTS = ("compute", "memory", "communication", "overhead")

TIMING_COLUMNS = ["ttft_s", "itl_s", "latency_s", "throughput_tok_s", "output_throughput_tok_s"]
# What the memory model says about the requested batch or concurrency (``_memory_columns``).
MEMORY_COLUMNS = ["mem_per_device_gb", "mem_weights_gb", "mem_kv_gb", "mem_state_gb", "mem_activations_gb",
                  "mem_overhead_gb", "mem_usable_gb", "max_batch_size", "max_context_tokens", "running_sequences",
                  "fits"]
PHASE_COLUMNS = [
    "prefill_flops", "prefill_bytes", "prefill_comm_bytes", "prefill_compute_s", "prefill_memory_s",
    "prefill_comm_s", "prefill_bottleneck",
    "decode_flops", "decode_bytes", "decode_comm_bytes", "decode_compute_s", "decode_memory_s",
    "decode_comm_s", "decode_bottleneck",
]
# The lower bound no real deployment beats (``peak_bound``): the work at the datasheet peaks.
PEAK_COLUMNS = ["peak_ttft_s", "peak_itl_s", "peak_latency_s"]
# The achievable step by part, for prefill and decode, and which part dominates.
ACHIEVABLE_PHASE_COLUMNS = [f"achievable_{phase}_{part}_s" for phase in ("prefill", "decode")
                            for part in ("compute", "memory", "comm", "fixed")] + ["achievable_bottleneck"]
# The share of its vendor's efficiency offsets a row's achievable times took (1 but past the newest engine
# release measured on that vendor: ``Efficiency.vendor_era_weights``).
ERA_COLUMNS = ["vendor_era_weight"]
ANALYTIC_COLUMNS = (TIMING_COLUMNS + MEMORY_COLUMNS + ["bottleneck"] + PHASE_COLUMNS + PEAK_COLUMNS
                    + ACHIEVABLE_PHASE_COLUMNS + ERA_COLUMNS)


@dataclass(frozen=True)
class _Workload:
    """The configuration as float arrays (one value per row), read once for every phase."""

    tp: FloatArray
    pp: FloatArray
    ep: FloatArray
    dp: FloatArray
    in_len: FloatArray
    out_len: FloatArray
    continuous: npt.NDArray[np.bool_]
    poisson: npt.NDArray[np.bool_]  # open loop (a request rate given): arrivals one by one, not a fixed set of clients
    chunk: FloatArray  # prefill token budget per step; nan = unchunked
    sequences: FloatArray  # concurrency (continuous) or batch size (static)
    moe_ranks: FloatArray  # replicas whose tokens meet in each MoE layer (attention data parallelism)
    memory_fraction: FloatArray  # the engine's memory share where set (engine_memory_fraction); nan = its default


def attention_data_parallel(ep: FloatArray, dp: FloatArray) -> npt.NDArray[np.bool_]:
    """Rows whose expert parallelism runs with dp > 1 replicas: attention data parallelism, the experts
    spread over all tp x dp devices of a stage (``_workload``; the ingest's one-request bound reads the same)."""
    return np.asarray((ep > 1) & (dp > 1), dtype=bool)


def _workload(cfg: pd.DataFrame, specs: pd.DataFrame) -> _Workload:
    """Read the layout and workload columns once; the framework's budget fills a missing chunk size."""
    tp, pp, ep, dp = (cfg[c].to_numpy(dtype=float) for c in ("tp", "pp", "ep", "dp"))
    # Expert parallelism with data-parallel replicas is attention data parallelism (DeepSeek-style wide EP,
    # vLLM --enable-expert-parallel with --data-parallel-size, SGLang --enable-dp-attention, TensorRT-LLM
    # enable_attention_dp; aiconfigurator: moe_tp x moe_ep = tp x attention_dp): each replica keeps its own
    # attention, the experts are spread over all tp x dp devices and every replica's tokens meet in them.
    attention_dp = attention_data_parallel(ep, dp)
    ep = np.where(attention_dp, tp * dp, ep)
    continuous = cfg["batching"].eq("continuous").to_numpy()
    chunk = cfg["prefill_chunk_tokens"].to_numpy(dtype=float)
    return _Workload(
        tp=tp, pp=pp, ep=ep, dp=dp,
        in_len=cfg["input_len"].to_numpy(dtype=float),
        out_len=cfg["output_len"].to_numpy(dtype=float),
        continuous=continuous,
        poisson=continuous & np.isfinite(cfg["request_rate_per_s"].to_numpy(dtype=float)),
        chunk=np.where(np.isnan(chunk), specs["max_batched_tokens"].to_numpy(dtype=float), chunk),
        sequences=np.where(continuous, cfg["concurrency"], cfg["batch_size"]).astype(float),
        moe_ranks=np.where(attention_dp, dp, 1.0),
        memory_fraction=(cfg["engine_memory_fraction"].to_numpy(dtype=float) if "engine_memory_fraction" in cfg
                         else np.full(len(cfg), np.nan)),
    )


def _bottleneck(compute_s: FloatArray, memory_s: FloatArray, comm_s: FloatArray) -> pd.api.extensions.ExtensionArray:
    """Name of the largest of the three times, per row."""
    largest = np.argmax(np.stack([compute_s, memory_s, comm_s]), axis=0)
    bottleneck: pd.api.extensions.ExtensionArray = names_at(_PARTS, largest)
    return bottleneck


def _phase_columns(prefix: str, cost: StepCost) -> dict[str, npt.NDArray[np.generic]]:
    """Output columns of one phase (prefill or decode), named ``{prefix}_...``."""
    return {
        f"{prefix}_flops": cost.flops,
        f"{prefix}_bytes": cost.bytes_moved,
        f"{prefix}_comm_bytes": cost.comm_bytes,
        f"{prefix}_compute_s": cost.compute_s,
        f"{prefix}_memory_s": cost.memory_s,
        f"{prefix}_comm_s": cost.comm_s,
        f"{prefix}_bottleneck": _bottleneck(cost.compute_s, cost.memory_s, cost.comm_s),
    }


@dataclass(frozen=True)
class AnalyticSteps:
    """The steps a configuration runs (prefill, one served prompt's own prefill, decode) and how many
    sequences run at once: everything that does not depend on efficiency parameters, computed once."""

    workload: _Workload
    memory: MemoryBreakdown
    running: FloatArray
    prefill: StepCost
    own_prefill: StepCost
    decode: StepCost
    wave: StepCost
    one_prompt: StepCost
    full_decode: StepCost

    @property
    def composed(self) -> tuple[StepCost, StepCost, StepCost, StepCost]:
        """The steps :func:`compose` prices a configuration from, in the order of its arguments."""
        return self.prefill, self.own_prefill, self.decode, self.wave

    def take(self, rows: npt.NDArray[np.intp] | npt.NDArray[np.bool_]) -> AnalyticSteps:
        """The steps of some rows only (positions or a mask): the same arrays as ``analytic_steps`` of those
        rows gives, without normalising and pricing them again (every step cost is per row)."""
        taken: AnalyticSteps = _take_rows(self, rows, len(self.running))
        return taken


def _take_rows(value: Any, rows: npt.NDArray[np.intp] | npt.NDArray[np.bool_], length: int) -> Any:
    """``value`` with each per-row array (length ``length``) indexed by ``rows``, through nested dataclasses
    and tuples; anything else (a scalar shared by every row) as it is."""
    if isinstance(value, np.ndarray) and value.ndim == 1 and len(value) == length:
        return value[rows]
    if is_dataclass(value) and not isinstance(value, type):
        return replace(value, **{f.name: _take_rows(getattr(value, f.name), rows, length) for f in fields(value)})
    if isinstance(value, tuple):
        return tuple(_take_rows(item, rows, length) for item in value)
    return value


def analytic_steps(cfg: pd.DataFrame, specs: pd.DataFrame) -> AnalyticSteps:
    """The step costs of normalised, valid configurations (``specs`` row for row)."""
    w = _workload(cfg, specs)
    s = numeric_columns(specs)  # once for every step below
    mem, running = _memory(specs, w, s)
    arrivals = np.where(w.continuous, running / w.out_len, 0.0)
    # Static: a prefill of the whole batch, then decode steps. Continuous: mixed steps.
    prefill = step_cost(specs, w.tp, w.pp, w.ep, 0.0, 0.0,
                        np.where(w.continuous, np.maximum(arrivals, 1.0), w.sequences), w.in_len, w.chunk,
                        w.moe_ranks, numeric=s)
    # A served request's own prompt, in chunks of the prefill budget.
    own_prefill = step_cost(specs, w.tp, w.pp, w.ep, 0.0, 0.0, 1.0, w.in_len, w.chunk, w.moe_ranks, numeric=s)
    # The prompts of every other running request, prefilled in chunks: what a closed-loop prompt waits behind
    # when its clients arrive together (``compose`` takes the fitted share of it).
    wave = step_cost(specs, w.tp, w.pp, w.ep, 0.0, 0.0, np.maximum(running - 1.0, 0.0), w.in_len, w.chunk,
                     w.moe_ranks, numeric=s)
    decode_ctx = w.in_len + (w.out_len - 1.0) / 2.0
    # A closed-loop request's decode steps carry half the steady-state share of arrivals' prefill (fitted on the
    # input-length split, above), all of it under Poisson arrivals, which spread evenly over the steps.
    decode = step_cost(specs, w.tp, w.pp, w.ep, running, decode_ctx, np.where(w.poisson, arrivals, arrivals / 2.0),
                       w.in_len, w.chunk, w.moe_ranks, numeric=s)
    # For the serving lower bound: one prompt alone, and every in-flight request decoding at once,
    # each in one pass (chunking only re-streams weights, so unchunked is the faster of the two).
    one_prompt = step_cost(specs, w.tp, w.pp, w.ep, 0.0, 0.0, 1.0, w.in_len, numeric=s)  # other ranks may idle: a bound
    full_decode = step_cost(specs, w.tp, w.pp, w.ep, w.sequences, decode_ctx, 0.0, 0.0,
                            moe_token_factor=w.moe_ranks, numeric=s)
    return AnalyticSteps(w, mem, running, prefill, own_prefill, decode, wave, one_prompt, full_decode)


def peak_bound(steps: AnalyticSteps) -> dict[str, FloatArray]:
    """The hard lower bound of each metric: no deployment of this configuration is faster.

    Static batches: the whole batch at the datasheet peaks (running it in waves only adds time).
    Continuous batching: TTFT is at least one prompt's prefill alone at peak; ITL is at least one
    decode step of every in-flight request at peak, since an engine running r <= concurrency of
    them gives each a token every step(r) x concurrency / r, and a step's cost per sequence never
    grows with r (the weights are shared); latency is TTFT + (output - 1) x ITL. The steps before a
    first token and preemption, which the achievable model adds, can only make a request slower.
    Every step counts its compute and memory traffic only (:attr:`StepCost.bound_s`), as the ingest's
    faster-than-physics check does: with the catalog's link figures, 55 of the shared TTFTs (MoE models
    on 8-64 devices, down to 0.12x) measured below a bound that added the collectives as an earlier release
    priced them (3, down to 0.73x, with the collectives of ``features.roofline`` today; ad hoc).
    """
    w = steps.workload
    ttft = np.where(w.continuous, steps.one_prompt.bound_s, steps.prefill.bound_s)
    itl = np.where(w.continuous, steps.full_decode.bound_s, steps.decode.bound_s)
    return {"peak_ttft_s": ttft, "peak_itl_s": itl, "peak_latency_s": ttft + (w.out_len - 1.0) * itl}


def served_closed_loop(steps: AnalyticSteps) -> npt.NDArray[np.bool_]:
    """Rows served to a fixed set of clients (continuous batching, no request rate): those whose first token
    waits ``first_token_steps`` and the share ``wave_fraction`` of the wave in :func:`compose`."""
    w = steps.workload
    return np.asarray(w.continuous & ~w.poisson, dtype=bool)


def waits_for_attention_dp(steps: AnalyticSteps) -> npt.NDArray[np.bool_]:
    """Rows served closed-loop under attention data parallelism (``_Workload.moe_ranks`` > 1): those whose
    first-token steps :func:`compose` scales by the engine's ``attention_dp_wait``."""
    return np.asarray((steps.workload.moe_ranks > 1.0) & served_closed_loop(steps), dtype=bool)


def beyond_kv_cache(batching: Any, concurrency: Any, running: Any) -> npt.NDArray[np.bool_]:
    """Per row, whether a served configuration asks for more requests in flight than its KV cache holds
    (``running_sequences`` below the concurrency): the rest wait, which this model prices least well."""
    served = np.asarray(batching, dtype=object) == "continuous"
    with np.errstate(invalid="ignore"):
        return np.asarray(served & (np.asarray(running, dtype=float) < np.asarray(concurrency, dtype=float)),
                          dtype=bool)


def compose(steps: AnalyticSteps, prefill_s: FloatArray, own_prefill_s: FloatArray, decode_s: FloatArray,
            wave_s: FloatArray, *, first_token_steps: float | FloatArray,
            wave_fraction: float | FloatArray, sequence_s: float | FloatArray,
            attention_dp_wait: float | FloatArray = 1.0) -> dict[str, FloatArray]:
    """TTFT, ITL, latency and throughputs from the four step times (peak or achievable alike), the closed-loop
    steps before a first token (times ``attention_dp_wait`` under attention data parallelism), the share of the
    other running prompts prefilled ahead of one's own and a static batch's host cost per sequence and decode
    step, per row or one for all (``RowEfficiency.first_token_steps``, ``attention_dp_wait``, ``wave_fraction``,
    ``sequence_s``)."""
    w = steps.workload
    # Requests beyond what the KV cache holds are preempted and resumed (vLLM) or wait their turn
    # between tokens: each one progresses running / concurrency of the time (Little's law).
    itl = decode_s * np.where(w.continuous, w.sequences / steps.running, 1.0)
    # A static batch's decode step also pays the engine's host work per sequence (scheduling, sampling).
    itl = itl + np.where(w.continuous, 0.0, sequence_s * w.sequences)
    # Closed loop: ``first_token_steps`` steps (the wait for a step boundary, scheduling, the first token's
    # way back to the client), the share of the other running prompts prefilled ahead of its own, and its own
    # prefill. Poisson: half a step's wait, then the step that carries the prompt's own prefill
    # (``surrogate.model._open_loop`` adds the queueing).
    # Attention data parallelism (``_Workload.moe_ranks`` > 1) can hold a new request until every rank has some
    # (TensorRT-LLM's balancing: ``Efficiency.framework_log_attention_dp_wait``).
    closed_waits = first_token_steps * np.where(waits_for_attention_dp(steps), attention_dp_wait, 1.0)
    waits = np.where(w.poisson, POISSON_STEPS_BEFORE_FIRST_TOKEN, closed_waits)
    ahead_s = np.where(w.poisson | (steps.running <= 1.0), 0.0, wave_fraction * wave_s)
    ttft = np.where(w.continuous, waits * decode_s + ahead_s + own_prefill_s, prefill_s)
    latency = ttft + (w.out_len - 1.0) * itl
    return {
        "ttft_s": ttft,
        "itl_s": itl,
        "latency_s": latency,
        "throughput_tok_s": w.dp * w.sequences * (w.in_len + w.out_len) / latency,
        "output_throughput_tok_s": w.dp * w.sequences * w.out_len / latency,
    }


def estimate(
    configs: pd.DataFrame, *, normalized: bool = False, specs: pd.DataFrame | None = None,
    efficiency: Efficiency | None = None,
) -> pd.DataFrame:
    """Analytic metrics for every row of ``configs`` (columns of ``features.configs.CONFIG_COLUMNS``).

    Returns a frame with the same index holding :data:`ANALYTIC_COLUMNS`: achievable times
    (``ttft_s``, ...; ``efficiency`` defaults to the shipped parameters) beside the peak ones
    (``peak_*``). Raises ``ConfigError`` naming the first impossible row (tp not dividing the
    heads, device counts that do not add up). ``specs`` may pass ``features.configs.gather_specs``
    of the normalised rows (row for row; its index is ignored and it is not modified) so a caller
    that already has it does not gather it again.
    """
    cfg = configs if normalized else normalize_configs(configs)
    specs = _specs_for(cfg, specs)
    reasons = invalid_reasons(cfg, specs=specs)
    bad = np.flatnonzero(reasons.ne("").to_numpy())
    if len(bad):  # the first by position (a label may name more than one row)
        raise ConfigError(f"row {reasons.index[bad[0]]}: {reasons.iloc[bad[0]]}")
    steps = analytic_steps(cfg, specs)
    params = efficiency or default_efficiency()
    years = software_years(cfg["framework"], cfg["framework_version"]) if "framework_version" in cfg else None
    rows = params.rows(specs["vendor"], cfg["framework"], years, specs["chip"])
    achievable = [achievable_step(step, rows) for step in steps.composed]
    w = steps.workload
    out = {
        **compose(steps, *(a.time_s for a in achievable), first_token_steps=rows.first_token_steps,
                  wave_fraction=rows.wave_fraction, sequence_s=rows.sequence_s,
                  attention_dp_wait=rows.attention_dp_wait),
        **peak_bound(steps),
        **_memory_columns(steps.memory, steps.running, w.tp.shape),
        **_phase_columns("prefill", steps.prefill),
        **_phase_columns("decode", steps.decode),
        **_achievable_columns(w.out_len - 1.0, achievable[0], achievable[2]),
        "vendor_era_weight": rows.vendor_era_weight,
    }
    out["bottleneck"] = _bottleneck(steps.prefill.compute_s + (w.out_len - 1.0) * steps.decode.compute_s,
                                    steps.prefill.memory_s + (w.out_len - 1.0) * steps.decode.memory_s,
                                    steps.prefill.comm_s + (w.out_len - 1.0) * steps.decode.comm_s)
    return _frame(out, cfg.index)


def _frame(columns: dict[str, Any], index: pd.Index) -> pd.DataFrame:
    """:data:`ANALYTIC_COLUMNS` as a frame over the arrays themselves (copying 50 columns into one block
    took a third of an estimate's time); an array sharing memory with an earlier column is copied, so no
    two columns are one array."""
    kept: list[np.ndarray] = []
    ordered: dict[str, Any] = {}
    for name in ANALYTIC_COLUMNS:
        values = columns[name]
        if isinstance(values, np.ndarray):
            if any(np.may_share_memory(values, other) for other in kept):
                values = values.copy()
            kept.append(values)
        ordered[name] = values
    return pd.DataFrame(ordered, index=index, copy=False)


def _achievable_columns(decode_steps: FloatArray, prefill: AchievableStep,
                        decode: AchievableStep) -> dict[str, npt.NDArray[np.generic]]:
    """The achievable prefill and decode steps by part, and the part that dominates the request."""
    out: dict[str, npt.NDArray[np.generic]] = {}
    for phase, step in (("prefill", prefill), ("decode", decode)):
        for part in ("compute", "memory", "comm", "fixed"):
            out[f"achievable_{phase}_{part}_s"] = getattr(step, f"{part}_s")
    totals = np.stack([getattr(prefill, f"{part}_s") + decode_steps * getattr(decode, f"{part}_s")
                       for part in ("compute", "memory", "comm", "fixed")])
    out["achievable_bottleneck"] = names_at(_ACHIEVABLE_PARTS, np.argmax(totals, axis=0))
    return out


def _memory(specs: pd.DataFrame, w: _Workload, s: dict[str, FloatArray]) -> tuple[MemoryBreakdown, FloatArray]:
    """Memory of the requested batch or concurrency, and how many sequences actually run at once.

    Memory comes first: under continuous batching it caps how many requests run at once. The
    activation peak is that of the largest forward pass this workload runs: the prompts arriving
    per step (continuous) or the whole batch's prompts (static), in chunks of the prefill budget.
    An engine may reserve more at start-up (vLLM profiles a pass of ``max_num_batched_tokens``);
    sizing for that needs device capacities in bytes: the catalog holds NVIDIA's so (80 GiB, not 80e9 B),
    while the parts no reference gives in bytes keep their marketed size, 7% under a binary HBM capacity.
    """
    chunk = np.where(np.isnan(w.chunk), np.inf, w.chunk)
    workload_tokens = np.where(w.continuous, np.maximum(w.sequences / w.out_len, 1.0) * w.in_len,
                               w.sequences * w.in_len)
    prefill_tokens = np.minimum(workload_tokens, chunk)
    mem = memory_per_device(specs, w.tp, w.pp, w.ep, w.sequences, w.in_len + w.out_len, prefill_tokens, numeric=s,
                            fraction=w.memory_fraction)
    # Paged KV caches allocate as sequences grow: a running request holds input + output / 2 tokens
    # on average, so that is what bounds how many run at once.
    # How many of them the cache holds, f(c), falls slowly as more are offered (their logits and
    # arriving prompts take room); f(f(c)) rises with c and sits at the crossing c = f(c) once more are
    # offered than fit, so the requests that run never fall as concurrency grows.
    def holds(sequences: FloatArray) -> FloatArray:
        tokens = np.minimum(np.where(w.continuous, np.maximum(sequences / w.out_len, 1.0) * w.in_len,
                                     sequences * w.in_len), chunk)
        most = memory_per_device(specs, w.tp, w.pp, w.ep, sequences, w.in_len + w.out_len / 2.0, tokens, numeric=s,
                                 fraction=w.memory_fraction)
        held: FloatArray = np.clip(most.max_sequences.astype(float), 1.0, None)
        return held

    running = np.where(w.continuous, np.minimum(w.sequences, holds(holds(w.sequences))), w.sequences)
    return mem, running


def _memory_columns(mem: MemoryBreakdown, running: FloatArray,
                    shape: tuple[int, ...]) -> dict[str, npt.NDArray[np.generic]]:
    """Memory output columns in GB. ``mem_kv_gb`` is the KV cache of the sequences the engine holds at
    once: a static batch whole; under continuous batching the requested ones it can admit (at least
    one: a configuration fits when the engine can run it), the rest queue and the timings include
    that. ``mem_state_gb`` is those sequences' recurrent state (linear-attention and Mamba layers; 0 for a
    transformer), which does not grow with their length.
    ``max_batch_size`` is the most sequences whose full-length KV fits at these lengths;
    ``max_context_tokens`` the longest sequence the requested batch or concurrency can hold in full;
    ``running_sequences`` how many requests run at once (a static batch whole; under continuous batching
    the concurrency, or fewer where the KV cache holds fewer at their mean length: the rest wait)."""
    return {
        "mem_per_device_gb": mem.total_bytes / _GB,
        "mem_weights_gb": mem.weight_bytes / _GB,
        "mem_kv_gb": (mem.kv_bytes - mem.state_bytes) / _GB,
        "mem_state_gb": mem.state_bytes / _GB,
        "mem_activations_gb": mem.activation_bytes / _GB,
        "mem_overhead_gb": np.broadcast_to(mem.overhead_bytes, shape) / _GB,
        "mem_usable_gb": mem.usable_bytes / _GB,
        "max_batch_size": mem.max_sequences.astype(np.int64),
        "max_context_tokens": mem.max_context_tokens.astype(np.int64),
        "running_sequences": np.broadcast_to(running, shape).astype(np.int64),
        "fits": mem.fits.astype(bool),
    }
