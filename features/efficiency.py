"""Achievable rates: the share of the datasheet real kernels and engines reach, and what a step costs besides.

The peak roofline (``features.roofline``) is the hard lower bound; real systems are 1.3-3x slower.
This module prices the same work (``StepCost``) at achievable rates:

    step = max(compute, memory) + communication + fixed

- compute: matmul FLOPs at ``matmul_fraction`` of the peak, scaled down for few tokens per pass
  (``M / (M + matmul_half_tokens)``: small-M decode GEMMs run far below peak) and for skinny shards
  (``P / (P + matmul_half_params)``, P the parameters of one matmul on one device); attention FLOPs
  at ``attention_fraction`` of the 16-bit peak;
- memory: bytes at ``memory_fraction`` of the datasheet bandwidth;
- communication: each collective pays its latency (``features.roofline``: more once it leaves the scale-up
  domain) and its bytes at ``link_fraction`` of the link (sourced, not fitted), less for small messages
  (``bytes / (bytes + link_half_bytes)``);
- fixed: kernel launches per layer and forward pass (``layer_overhead_s``), and the engine's own
  per-step work (scheduling, sampling, detokenisation; ``step_overhead_s``); a static batch's decode
  step also pays the engine's host work per sequence (``framework_sequence_s``, applied in
  ``features.analytic.compose``): in the shared rows vLLM's static batches ran 0.90x the achievable time
  without it at 1 sequence and 1.33x at 64 on H100 (an ad hoc in-sample check), as its Python scheduler
  and sampler cost about 50 us per sequence and step (fitted: ``features/data/efficiency.json``), where
  TensorRT-LLM's C++ runtime costs none.

Every efficiency curve lies in (0, 1] and never falls as M, the shard or the message grows. The
numbers are few and global: each is either sourced (``memory_fraction``: aiconfigurator's
``mem_bw_empirical_scaling_factor``; ``link_fraction``: NCCL's protocol overhead) or fitted on measured rows by
``surrogate.model.fit_efficiency``, with per-vendor and per-framework log offsets shrunk toward
zero (a vendor or engine with few rows stays near the global value). A vendor has two: one on every
rate, one more on its compute rates alone, since a vendor's kernels can lag its memory system (on the
shared rows, 2024 ROCm vLLM on MI300X ran its compute-bound large batches far slower than its memory-bound
small ones implied, and with one offset per vendor the fit pulled every vendor's compute down with it,
most when MLPerf's compute-bound NVIDIA rows were left out: README, "Deployment-like splits"). An accelerator
has the same two on top of its vendor's, shrunk toward zero (its vendor's value) the same way: MI250 and MI300X
share AMD's offsets but not its kernels' lag (MI250's vLLM static latency was 56% median APE in-sample with
AMD's offsets alone, 15% with its own; ad hoc). A vendor keeps what the prior says its accelerators share
(about their median; half of a lone accelerator's). An accelerator without them (not in the training rows) is
priced at its vendor's; a catalog row that is part of a measured one (``same_chip_as``: one MI250 GCD) at
that one's (``features.configs.gather_specs``' ``chip``). The fitted values ship in
``features/data/efficiency.json`` with the fingerprint of the data they came from.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt

from features.distinct import distinct_values
from features.errors import DataError
from features.host import is_cpu_vendor
from features.roofline import FloatArray, StepCost

__all__ = ["Efficiency", "RowEfficiency", "RowGroups", "AchievableStep", "achievable_step", "default_efficiency",
           "default_newest_software",
           "matmul_efficiency", "link_efficiency", "GLOBAL_PARAMETERS", "SAME_RELEASE_YEARS",
           "VENDOR_ERA_HALF_YEARS"]

# Bounds of the global parameters (fitting stays inside them; a fraction is never above 1).
GLOBAL_PARAMETERS: dict[str, tuple[float, float]] = {
    "matmul_fraction": (0.05, 1.0),
    "matmul_half_tokens": (1.0, 4096.0),
    "matmul_half_params": (1e3, 1e9),
    # FlashAttention-2 (arXiv 2307.08691): its forward pass reaches 50-73% of A100's peak, FlashAttention 25-40%.
    # The low end is the floor: without it the fit on the shared rows put attention at 5% of peak to carry long
    # prompts served at 16-256 in flight (slower than any term explains), and priced a 32,768-token prefill of
    # Llama-3.1-8B on one H100 at 7.0 s, against 2.5 s at this floor.
    "attention_fraction": (0.25, 1.0),
    "memory_fraction": (0.1, 1.0),
    "link_fraction": (0.05, 1.0),
    "link_half_bytes": (1e3, 1e9),
    "layer_overhead_s": (0.0, 1e-3),
    "step_overhead_s": (0.0, 0.1),
    "first_token_steps": (0.5, 64.0),
    # Half the wave is all of it ahead on average: every client arriving in the same step.
    "wave_fraction": (0.0, 0.5),
}


# A vendor's offsets were measured on the engine releases its hardware ran in the training rows; past the newest
# of them they fade as 1 / (1 + years past it / this): half their size a year on. Not fitted: no vendor in the
# shared data was measured in two eras but NVIDIA, whose offsets are near 0. 2024 ROCm vLLM ran MI300X at a
# third of the global memory rate and an eighth of its compute rate (an earlier default's AMD offsets, -1.06 and
# -0.96); held at full size they made 2026 vLLM on MI300X 2-4x slower than on H100 (ITL and TTFT, Llama-3.1-70B
# on 8 GPUs), the opposite of what its bandwidth says.
VENDOR_ERA_HALF_YEARS = 1.0
# Release dates closer than this (a day, in years) are one release (``Efficiency.hardware_era_shares``).
SAME_RELEASE_YEARS = 1.0 / 365.25


@dataclass(frozen=True)
class Efficiency:
    """Global achievable fractions and fixed costs, with per-vendor and per-framework log offsets."""

    matmul_fraction: float = field(default=0.7, metadata={"help": "matmul FLOPs rate at large M, of peak"})
    matmul_half_tokens: float = field(default=64.0, metadata={"help": "tokens per pass at half that rate"})
    matmul_half_params: float = field(default=2e6, metadata={"help": "one matmul's shard size at half rate"})
    attention_fraction: float = field(default=0.5, metadata={"help": "attention FLOPs rate, of 16-bit peak"})
    memory_fraction: float = field(default=0.8, metadata={
        "help": "achievable / datasheet memory bandwidth; aiconfigurator systems/*.yaml "
                "mem_bw_empirical_scaling_factor: 0.8"})
    link_fraction: float = field(default=0.82, metadata={
        "help": "bus bandwidth of large collectives, of the link's line rate; NCCL's maintainer: ~20% protocol "
                "overhead, 370 of NVLink 4's 450 GB/s (github.com/NVIDIA/nccl-tests/issues/212); across nodes "
                "85-96 of 100 GB/s of NICs (issues/119)"})
    link_half_bytes: float = field(default=1e6, metadata={"help": "message size at half that bandwidth"})
    layer_overhead_s: float = field(default=5e-6, metadata={"help": "launch cost per layer and forward pass"})
    step_overhead_s: float = field(default=1e-3, metadata={"help": "engine cost per step"})
    first_token_steps: float = field(default=4.0, metadata={
        "help": "closed-loop serving: engine steps a request waits before its first token, besides its "
                "prompt's own prefill (at least half a step: the next step boundary)"})
    wave_fraction: float = field(default=0.05, metadata={
        "help": "closed-loop serving: share of the other running requests' prompts prefilled ahead of one's "
                "own (0: arrivals spread evenly over the steps; 0.5: every client arrives in the same step, "
                "as clients asking the same lengths fall into lockstep)"})
    vendor_log_speed: Mapping[str, float] = field(default_factory=dict, metadata={
        "help": "log multiplier on every achievable rate, by hardware vendor (software maturity)"})
    vendor_log_compute: Mapping[str, float] = field(default_factory=dict, metadata={
        "help": "log multiplier on the compute rates (matmul, attention) on top of the vendor's speed: a "
                "vendor's kernels can lag its memory system (2024 ROCm vLLM on MI300X)"})
    hardware_log_speed: Mapping[str, float] = field(default_factory=dict, metadata={
        "help": "log multiplier on every achievable rate, by accelerator, on top of its vendor's (an accelerator "
                "without one: its vendor's alone)"})
    hardware_log_compute: Mapping[str, float] = field(default_factory=dict, metadata={
        "help": "log multiplier on the compute rates, by accelerator, on top of its vendor's (MI250's large "
                "batches ran faster than MI300X's, its AMD sibling's, compute offset implied)"})
    vendor_software_year: Mapping[str, float] = field(default_factory=dict, metadata={
        "help": "newest engine release measured on each vendor's hardware (years since 2020-01-01): its offsets "
                "describe software up to then and fade past it (VENDOR_ERA_HALF_YEARS)"})
    hardware_first_year: Mapping[str, float] = field(default_factory=dict, metadata={
        "help": "oldest engine release measured on each accelerator (years since 2020-01-01): the release its "
                "offsets apply to in full"})
    hardware_era_share: Mapping[str, float] = field(default_factory=dict, metadata={
        "help": "share of its vendor's and its own offsets that an accelerator's later releases measured, fitted "
                "on its rows past hardware_first_year (an accelerator without one: 1)"})
    framework_log_speed: Mapping[str, float] = field(default_factory=dict, metadata={
        "help": "log multiplier on every achievable rate, by framework"})
    framework_log_overhead: Mapping[str, float] = field(default_factory=dict, metadata={
        "help": "log multiplier on the fixed costs, by framework"})
    framework_sequence_s: Mapping[str, float] = field(default_factory=dict, metadata={
        "help": "engine host cost per sequence and decode step of a static batch, by framework (an engine "
                "without static rows: none)"})
    framework_log_wait: Mapping[str, float] = field(default_factory=dict, metadata={
        "help": "log multiplier on the closed-loop steps before a first token, by framework (its scheduler: "
                "aiconfigurator's TTFT / ITL is ~13 on vLLM, ~25 on TensorRT-LLM, ~35 on SGLang)"})
    framework_log_attention_dp_wait: Mapping[str, float] = field(default_factory=dict, metadata={
        "help": "log multiplier on those steps under attention data parallelism, by framework, on top of "
                "framework_log_wait: TensorRT-LLM's attention-DP balancing holds new requests until every rank has "
                "some, up to batching_wait_iters (10) or timeout_iters (50) steps (AttentionDpConfig, "
                "nvidia.github.io/TensorRT-LLM/llm-api/reference/AttentionDpConfig.html)"})
    source: str = field(default="defaults", metadata={"help": "where the numbers come from"})

    def rows(self, vendors: npt.ArrayLike | RowGroups, frameworks: npt.ArrayLike | None = None,
             software_years: npt.ArrayLike | None = None, hardware: npt.ArrayLike | None = None) -> RowEfficiency:
        """The parameters per configuration row (offsets looked up by vendor, accelerator and framework).
        ``vendors`` may be the rows' :class:`RowGroups` (then neither ``frameworks`` nor ``hardware`` is given): a
        fit that prices the same rows thousands of times groups them once. ``hardware``: the accelerator whose
        offsets each row takes (``gather_specs``' ``chip``; None: none, the vendor's alone). ``software_years``:
        each row's engine release date (years since 2020, NaN unknown); a vendor's and its accelerators' offsets
        fade past its newest measured one (:meth:`vendor_era_weights`).

        A CPU (a probed machine, :mod:`features.host`) is priced at the rates its probe measured: those are
        already achievable rates (a STREAM copy, a BLAS matmul), and the fitted fractions, saturation sizes
        and engine offsets describe GPUs. Only its own vendor and machine offsets (fitted once its rows are in
        training) can slow it down. ggml's CPU kernels take a matmul row by row, so there is no tile to fill: no
        saturation in tokens or matrix size. Fixed costs stay as fitted (engine and per-layer work).
        """
        groups = vendors if isinstance(vendors, RowGroups) else RowGroups.of(vendors, frameworks, hardware)
        cpu = groups.cpu
        era = self.vendor_era_weights(groups, software_years)
        share = era * self.hardware_era_shares(groups, software_years)
        vendor_speed = share * (groups.vendor_values(self.vendor_log_speed)
                                + groups.hardware_values(self.hardware_log_speed))
        speed = np.exp(vendor_speed + np.where(cpu, 0.0, groups.framework_values(self.framework_log_speed)))
        compute_speed = speed * np.exp(share * (groups.vendor_values(self.vendor_log_compute)
                                                + groups.hardware_values(self.hardware_log_compute)))
        overhead = np.exp(groups.framework_values(self.framework_log_overhead))
        rows = len(cpu)

        def fraction(value: float, scale: FloatArray = speed) -> FloatArray:
            out: FloatArray = np.clip(np.where(cpu, 1.0, value) * scale, 1e-3, 1.0)
            return out

        def gpu_only(value: float) -> FloatArray:
            out: FloatArray = np.where(cpu, 0.0, value)
            return out

        return RowEfficiency(
            matmul_fraction=fraction(self.matmul_fraction, compute_speed),
            matmul_half_tokens=gpu_only(self.matmul_half_tokens),
            matmul_half_params=gpu_only(self.matmul_half_params),
            attention_fraction=fraction(self.attention_fraction, compute_speed),
            memory_fraction=fraction(self.memory_fraction),
            link_fraction=fraction(self.link_fraction),
            link_half_bytes=np.full(rows, self.link_half_bytes),
            layer_overhead_s=self.layer_overhead_s * overhead,
            step_overhead_s=self.step_overhead_s * overhead,
            first_token_steps=self.first_token_steps * np.exp(groups.framework_values(self.framework_log_wait)),
            attention_dp_wait=np.exp(groups.framework_values(self.framework_log_attention_dp_wait)),
            sequence_s=groups.framework_values(self.framework_sequence_s),
            wave_fraction=np.full(rows, self.wave_fraction),
            vendor_era_weight=era,
        )

    def vendor_era_weights(self, groups: RowGroups, software_years: npt.ArrayLike | None) -> FloatArray:
        """Per row, the share of its vendor's offsets that applies: 1 up to the newest engine release measured
        on that vendor's hardware (or where either date is unknown), then 1 / (1 + years past it /
        :data:`VENDOR_ERA_HALF_YEARS`). The offsets describe that vendor's software as measured; a later release
        is not measured, so the rates move toward the global ones (what every vendor's rows together say)."""
        rows = len(groups.vendor_codes)
        if software_years is None or not self.vendor_software_year:
            return np.ones(rows)
        newest = _lookup(self.vendor_software_year, groups.vendor_names, groups.vendor_codes, missing=np.nan)
        past = np.asarray(software_years, dtype=float) - newest
        weights: FloatArray = np.ones(rows)
        later = np.isfinite(past) & (past > 0)
        weights[later] = 1.0 / (1.0 + past[later] / VENDOR_ERA_HALF_YEARS)
        return weights

    def hardware_era_shares(self, groups: RowGroups, software_years: npt.ArrayLike | None) -> FloatArray:
        """Per row, the share of its vendor's and accelerator's offsets that applies by its release: the
        accelerator's ``hardware_era_share`` for a release later than the first measured on it, else 1 (that
        release or an earlier one, an unknown date, an accelerator without a share).

        The offsets are fitted on every row of a vendor's parts, and most of an accelerator's rows may come from
        one release: MI300X's from LLM-Inference-Bench's 2024-07 vLLM, which ran its matmuls at a tenth of
        the global rate (AMD's speed offset -0.95 and MI300X's compute -1.37 in ``data/efficiency.json``).
        AMD's own MLPerf v4.1 submission two months later (vLLM 0.4.3+rocm614, Llama-2-70B) measured ITL at
        a fifth of what those offsets price: a later release is not the same software, and its rows say how
        much of the offsets it kept (MI300X 0.3 on the shared rows; H100 SXM's later rows kept them whole,
        1.0). Rows past the vendor's newest release fade on from there (:meth:`vendor_era_weights`)."""
        rows = len(groups.vendor_codes)
        if software_years is None or not self.hardware_era_share:
            return np.ones(rows)
        first = _lookup(self.hardware_first_year, groups.hardware_names, groups.hardware_codes, missing=np.nan)
        share = _lookup(self.hardware_era_share, groups.hardware_names, groups.hardware_codes, missing=1.0)
        with np.errstate(invalid="ignore"):
            later = np.asarray(software_years, dtype=float) > first + SAME_RELEASE_YEARS
        out: FloatArray = np.where(later, share, 1.0)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Efficiency:
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(values) - known)
        if unknown:
            raise DataError(f"efficiency parameters: unknown names {', '.join(unknown)}")
        return cls(**dict(values))


@dataclass(frozen=True)
class RowGroups:
    """Each row's vendor, framework and accelerator as a code into their distinct names, and whether it is a
    CPU (rows grouped without their accelerators all share one unnamed accelerator, with no offsets)."""

    vendor_codes: npt.NDArray[np.intp]
    vendor_names: tuple[object, ...]
    framework_codes: npt.NDArray[np.intp]
    framework_names: tuple[object, ...]
    cpu: npt.NDArray[np.bool_]
    hardware_codes: npt.NDArray[np.intp]
    hardware_names: tuple[object, ...]

    @classmethod
    def of(cls, vendors: npt.ArrayLike, frameworks: npt.ArrayLike | None,
           hardware: npt.ArrayLike | None = None) -> RowGroups:
        if frameworks is None:
            raise TypeError("frameworks are needed unless vendors is a RowGroups")
        vendor_codes, (vendor_names,) = distinct_values(vendors)
        framework_codes, (framework_names,) = distinct_values(frameworks)
        if hardware is None:
            hardware_codes, hardware_names = np.zeros(len(vendor_codes), dtype=np.intp), (None,)
        else:
            hardware_codes, (names,) = distinct_values(hardware)
            hardware_names = tuple(names)
        cpu = np.array([is_cpu_vendor(str(v)) for v in vendor_names], dtype=bool)[vendor_codes] if len(vendor_codes) \
            else np.zeros(0, dtype=bool)
        return cls(vendor_codes, tuple(vendor_names), framework_codes, tuple(framework_names), cpu,
                   hardware_codes, hardware_names)

    def vendor_values(self, offsets: Mapping[str, float]) -> FloatArray:
        """Offset per row by vendor; names without one get 0 (the global value)."""
        return _lookup(offsets, self.vendor_names, self.vendor_codes)

    def framework_values(self, offsets: Mapping[str, float]) -> FloatArray:
        """Offset per row by framework; names without one get 0 (the global value)."""
        return _lookup(offsets, self.framework_names, self.framework_codes)

    def hardware_values(self, offsets: Mapping[str, float]) -> FloatArray:
        """Offset per row by accelerator; names without one get 0 (the vendor's value)."""
        return _lookup(offsets, self.hardware_names, self.hardware_codes)


def _lookup(offsets: Mapping[str, float], names: tuple[object, ...], codes: npt.NDArray[np.intp],
            missing: float = 0.0) -> FloatArray:
    if not len(codes):
        return np.zeros(0)
    values: FloatArray = np.array([float(offsets.get(name, missing)) if isinstance(name, str) else missing
                                   for name in names])[codes]
    return values


@dataclass(frozen=True)
class RowEfficiency:
    """Efficiency parameters as one array per parameter, one value per configuration row."""

    matmul_fraction: FloatArray
    matmul_half_tokens: FloatArray
    matmul_half_params: FloatArray
    attention_fraction: FloatArray
    memory_fraction: FloatArray
    link_fraction: FloatArray
    link_half_bytes: FloatArray
    layer_overhead_s: FloatArray
    step_overhead_s: FloatArray
    first_token_steps: FloatArray
    attention_dp_wait: FloatArray  # the multiplier on first_token_steps under attention data parallelism
    sequence_s: FloatArray
    wave_fraction: FloatArray
    vendor_era_weight: FloatArray  # the share of the vendor's offsets applied (Efficiency.vendor_era_weights)


@dataclass(frozen=True)
class AchievableStep:
    """One step's time at achievable rates, by part (per replica; pipeline stages run in turn)."""

    compute_s: FloatArray
    memory_s: FloatArray
    comm_s: FloatArray
    fixed_s: FloatArray

    @property
    def time_s(self) -> FloatArray:
        """Compute and memory overlap; communication and fixed costs add."""
        return np.maximum(self.compute_s, self.memory_s) + self.comm_s + self.fixed_s


def matmul_efficiency(tokens: FloatArray, shard_params: FloatArray, e: RowEfficiency) -> FloatArray:
    """Share of the matmul peak reached with ``tokens`` rows per pass and ``shard_params`` per matmul (0 for a
    pass with no tokens: a CPU's saturation point is 0, and 0 / 0 is no rate, not a warning)."""
    tokens = np.asarray(tokens, dtype=float)
    total = tokens + e.matmul_half_tokens
    filled = np.divide(e.matmul_fraction * tokens, total, out=np.zeros_like(total), where=tokens > 0)
    return filled * shard_params / (shard_params + e.matmul_half_params)


def link_efficiency(message_bytes: FloatArray, e: RowEfficiency) -> FloatArray:
    """Share of the link bandwidth a collective of ``message_bytes`` per device reaches."""
    return e.link_fraction * message_bytes / (message_bytes + e.link_half_bytes)


def achievable_step(step: StepCost, e: RowEfficiency) -> AchievableStep:
    """``step``'s work priced at achievable rates (``>=`` the peak time of the same work, part by part)."""
    matmul_rate = step.matmul_peak_flops * matmul_efficiency(step.tokens_per_chunk, step.shard_matmul_params, e)
    attention_rate = step.attention_peak_flops * e.attention_fraction
    compute_s = (np.divide(step.matmul_flops, matmul_rate, out=np.zeros_like(matmul_rate),
                           where=step.matmul_flops > 0)
                 + step.attention_flops / attention_rate) * step.pp
    memory_s = step.bytes_moved / (step.mem_bw_bps * e.memory_fraction) * step.pp
    comm_s = np.zeros_like(compute_s)
    for count, each, bandwidth, latency in zip(step.collectives.count, step.collectives.bytes_each,
                                               step.collectives.link_bw_bps, step.collectives.latency_s, strict=True):
        if not np.any(count):  # no row runs it (pp 1, ep 1): it would add 0 x a finite time to every row
            continue
        rate = bandwidth * np.maximum(link_efficiency(each, e), 1e-12)
        comm_s = comm_s + count * (latency + np.divide(each, rate, out=np.zeros_like(rate), where=each > 0))
    fixed_s = step.chunks * step.layers * e.layer_overhead_s + e.step_overhead_s
    return AchievableStep(compute_s=compute_s, memory_s=memory_s, comm_s=comm_s, fixed_s=fixed_s)


@cache
def _shipped() -> dict[str, Any] | None:
    """``features/data/efficiency.json`` as written by ``scripts/fit_efficiency.py`` (None without the file)."""
    path = resources.files("features") / "data" / "efficiency.json"
    if not path.is_file():
        return None
    try:
        values: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON: {exc}") from exc
    return values


def default_efficiency() -> Efficiency:
    """The shipped parameters (``features/data/efficiency.json``), or the defaults above without that file."""
    values = _shipped()
    return Efficiency() if values is None else Efficiency.from_dict(values["parameters"])


def default_newest_software() -> dict[str, dict[str, Any]]:
    """The newest engine release the shipped parameters' rows ran, per engine (key ``framework``) and per
    accelerator and engine (``hardware/framework``): ``{"version": ..., "year": years since 2020}``. A row that
    names no release is priced in that era by ``surrogate estimate``, as the default model predicts it; rows
    with an unknown date take every offset in full (:meth:`Efficiency.vendor_era_weights`), the era of the
    vendor's oldest measurements."""
    values = _shipped()
    return {} if values is None else dict(values.get("newest_software", {}))
