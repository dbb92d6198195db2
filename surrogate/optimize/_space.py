"""What the optimizer may choose from: the user's devices, the workload, and every valid deployment.

``enumerate_candidates`` lists every configuration (rows in ``features.configs.CONFIG_COLUMNS``)
that the inventory, the frameworks and the precisions allow, and says what it left out and why.
The knobs:

- hardware: one pool of the inventory; a deployment never mixes device types;
- tp: powers of two within the scale-up domain (NVLink island) that divide the attention heads;
- pp: powers of two, at most the layers; llama.cpp splits layers only (tp = 1);
- ep: 1 (each replica holds its experts, sharded by tp) or, for MoE models on engines that support it
  (catalog ``attention_data_parallel``), ``tp * dp`` with dp > 1 dividing the experts: attention data
  parallelism, the replicas
  keeping their own attention and sharing the experts spread over all their devices (wide EP: vLLM
  ``--data-parallel-size --enable-expert-parallel``, SGLang ``--enable-dp-attention``, TensorRT-LLM
  ``enable_attention_dp``);
- dp: replicas. With ``Workload.request_rate_per_s`` every replica count is searched and the sequences
  per replica follow from the rate (``surrogate.model.predict_at_rate``) when a candidate is predicted.
  With ``Workload.concurrency`` (requests in flight across the deployment) replicas
  are searched and share those requests; without it each replica is sized on its own and the
  deployment fills the pool with as many replicas as fit (throughput per device and cost per token
  do not depend on the replica count);
- sequences per replica: powers of two and the midpoints between them (1, 2, 3, 4, 6, 8, 12, 16, 24,
  ...) up to ``SearchSpace.max_sequences``, and that limit itself (continuous engines: requests in
  flight; static engines: batch size; llama.cpp: one sequence). The best point usually sits between
  two powers of two: a peer optimizer run on the same jobs picked batches such as 112, 192 and 320,
  each within 25% of a point of this grid (128, 192, 256 or 384), where the nearest power of two can be
  a third off (192);
- weight and KV precision: ``SearchSpace.precisions`` that the framework supports and the hardware
  runs (fp8 weights need fp8 tensor cores, fp4 needs fp4, int8 needs int8, but a CPU runs llama.cpp's
  q8_0 in its SIMD units; weight-only int4 dequantises to fp16 anywhere);
- framework: those that run on the hardware's vendor;
- the engine's memory share: the user's (``SearchSpace.engine_memory_fraction``) on every engine that takes
  one; else its default, or where that leaves too little for the model, the share a person would set (SGLang
  ``--mem-fraction-static 0.9``: ``_memory_share``).

The longest sequence is ``input_len + output_len`` (what vLLM calls ``--max-model-len``).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features import catalog
from features.configs import CONFIG_COLUMNS, invalid_reasons, normalize_configs
from features.errors import ConfigError, InfeasibleError
from features.model_arch import ModelArch
from features.precision import canonical_dtype, runs_natively
from surrogate.optimize._memory_share import user_shares, with_raised_memory_shares
from surrogate.optimize._request import SIXTEEN_BIT, DevicePool, Inventory, SearchSpace, Workload

__all__ = ["Candidates", "enumerate_candidates", "replica_layouts", "sequence_grid", "weight_runs_on", "check_workload",
           "search_precisions", "prepare", "searched_frameworks"]

@dataclass(frozen=True)
class Candidates:
    """Every valid configuration (normalised, ``CONFIG_COLUMNS``) and what was left out, with why."""

    configs: pd.DataFrame
    notes: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.configs)


def _powers_of_two(limit: int) -> list[int]:
    return [2**k for k in range(int(math.log2(max(limit, 1))) + 1)]


def sequence_grid(limit: int) -> list[int]:
    """Powers of two and their midpoints 3 * 2**k up to ``limit``, and ``limit`` itself, ascending:
    1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, ... (consecutive points at most 1.5x apart)."""
    limit = max(limit, 1)
    grid = {p for p in _powers_of_two(limit)} | {3 * p for p in _powers_of_two(limit) if 3 * p <= limit}
    return sorted(grid | {limit})


def _precisions(space: SearchSpace, native: str) -> list[str]:
    """Canonical formats to try; 16-bit means the checkpoint's own 16-bit format when it has one."""
    sixteen = native if native in SIXTEEN_BIT else "bf16"
    out: list[str] = []
    for name in space.precisions:
        dtype = canonical_dtype(name)
        dtype = sixteen if dtype in SIXTEEN_BIT else dtype
        if dtype not in out:
            out.append(dtype)
    return out


def prepare(workload: Workload, space: SearchSpace) -> tuple[ModelArch, str, tuple[list[str], list[str]]]:
    """The model's architecture and catalog id, the workload checked against it (``ConfigError``), and the
    weight and KV formats to try: what every search space starts from."""
    arch = catalog.get_model(workload.model)
    model_id = catalog.resolve_model(workload.model)
    check_workload(workload, arch, model_id)
    return arch, model_id, search_precisions(workload, space, arch)


def search_precisions(workload: Workload, space: SearchSpace, arch: ModelArch) -> tuple[list[str], list[str]]:
    """The weight formats and the KV formats to try. A checkpoint named for its format
    (nvidia/Qwen3-32B-NVFP4, ...-FP8-KV) is served in that format."""
    searched = _precisions(space, arch.native_weight_dtype)
    named = catalog.resolve_model_name(workload.model)
    return ([canonical_dtype(named.weight_dtype)] if named.weight_dtype else searched,
            [canonical_dtype(named.kv_dtype)] if named.kv_dtype else searched)


def searched_frameworks(space: SearchSpace) -> list[str]:
    """The engines a search considers: the user's (canonical, each once) or every engine in the catalog."""
    if space.frameworks is None:
        return catalog.framework_ids()
    return list(dict.fromkeys(catalog.resolve_framework(f) for f in space.frameworks))


def weight_runs_on(dtype: str, hw: catalog.HardwareSpec) -> bool:
    """Whether ``dtype`` weights are worth offering on ``hw`` (``features.precision.runs_natively``: fp8, fp4
    and int8 need their own tensor cores, but a CPU runs llama.cpp's q8_0)."""
    return runs_natively(dtype, hw.peak_tflops, hw.vendor)


def replica_layouts(hw: catalog.HardwareSpec, layer_split: bool, layers: int, devices: int) -> list[tuple[int, int]]:
    """(tp, pp) of one replica on at most ``devices`` devices: tp a power of two within the scale-up
    domain (1 for engines that split layers only), pp a power of two up to the layers."""
    tps = [1] if layer_split else _powers_of_two(min(devices, hw.scale_up_domain_devices))
    return [(tp, pp) for tp in tps for pp in _powers_of_two(min(devices // tp, layers))]


def _layouts(pool: DevicePool, hw: catalog.HardwareSpec, layer_split: bool, layers: int,
             workload: Workload) -> list[tuple[int, int, int]]:
    """(tp, pp, dp) for one pool; dp is searched only when the total concurrency is fixed."""
    out: list[tuple[int, int, int]] = []
    for tp, pp in replica_layouts(hw, layer_split, layers, pool.count):
        most = pool.count // (tp * pp)
        if workload.request_rate_per_s is not None:  # the rate is split over however many replicas
            out.extend((tp, pp, dp) for dp in range(1, most + 1))
        elif workload.concurrency is None:
            out.append((tp, pp, most))
        else:
            out.extend((tp, pp, dp) for dp in range(1, min(most, workload.concurrency) + 1))
    return out


def _sequences(workload: Workload, dp: np.ndarray, single: bool, space: SearchSpace) -> list[np.ndarray]:
    """Sequences per replica for each layout (one array per layout); under a request rate a placeholder
    of one, replaced by each candidate's settling point when it is predicted."""
    if workload.request_rate_per_s is not None:
        return [np.array([1]) for _ in dp]
    if workload.concurrency is not None:
        per_replica = np.ceil(workload.concurrency / dp).astype(np.int64)
        if single:  # one sequence per replica: enough replicas for every request, or nothing
            return [np.array([1]) if p == 1 else np.array([], dtype=np.int64) for p in per_replica]
        return [np.array([p]) for p in per_replica]
    choices = np.array([1]) if single else np.array(sequence_grid(space.max_sequences))
    return [choices for _ in dp]


def check_workload(workload: Workload, arch: ModelArch, model_id: str) -> None:
    """``ConfigError`` for a workload no deployment can serve (lengths, context window)."""
    if workload.input_len < 1 or workload.output_len < 1:
        raise ConfigError("input and output lengths must be at least 1 token")
    if workload.concurrency is not None and workload.concurrency < 1:
        raise ConfigError("concurrency must be at least 1")
    rate = workload.request_rate_per_s
    if rate is not None and workload.concurrency is not None:
        raise ConfigError("give a concurrency or a request rate, not both: the requests in flight follow from "
                          "the rate by Little's law")
    if rate is not None and not (0 < rate < float("inf")):
        raise ConfigError(f"the request rate must be a positive number of requests per second, got {rate}")
    if workload.max_seq_len > arch.max_position_embeddings:
        raise ConfigError(f"{model_id} handles at most {arch.max_position_embeddings} tokens per sequence; "
                          f"{workload.input_len} in + {workload.output_len} out = {workload.max_seq_len}")


def _pool_block(pool: DevicePool, fw_id: str, arch: ModelArch, workload: Workload, space: SearchSpace,
                precisions: tuple[list[str], list[str]], skipped: Counter[str]) -> pd.DataFrame | None:
    """Every layout, load and format of one framework on one pool; what it leaves out goes to ``skipped``.
    ``precisions``: the weight formats and the KV formats to try."""
    weight_choices, kv_choices = precisions
    hw = catalog.get_hardware(pool.hardware)
    fw = catalog.get_framework(fw_id)
    if hw.vendor not in fw.vendors:
        if space.frameworks is not None:  # only worth saying when the user asked for it
            skipped[f"{fw_id} does not run on {hw.vendor} ({pool.hardware})"] += 1
        return None
    if unreleased := space.unreleased(fw_id):
        skipped[unreleased] += 1
        return None
    weights = [d for d in weight_choices if d in fw.weight_precisions and weight_runs_on(d, hw)]
    for d in weight_choices:
        if d not in weights:
            why = f"{fw_id} lacks it" if d not in fw.weight_precisions else f"{pool.hardware} lacks {d} units"
            skipped[f"{d} weights with {fw_id} on {pool.hardware} ({why})"] += 1
    kvs = [d for d in kv_choices if d in fw.kv_precisions]
    if not weights or not kvs:
        return None
    if workload.request_rate_per_s is not None and fw.batching != "continuous":
        skipped[f"{fw_id} serves static batches; open-loop traffic (a request rate) needs continuous "
                "batching"] += 1
        return None
    layouts = _layouts(pool, hw, fw.device_split == "layer", arch.num_layers, workload)
    dp = np.array([layout[2] for layout in layouts], dtype=np.int64)
    seqs = _sequences(workload, dp, fw_id == "llama.cpp", space)
    rows = [(tp, pp, d, s) for (tp, pp, d), choices in zip(layouts, seqs, strict=True) for s in choices]
    if not rows:
        skipped[f"{fw_id} serves one sequence per replica; {workload.concurrency} requests need "
                f"more {pool.hardware} than the {pool.count} available"] += 1
        return None
    grid = pd.DataFrame(rows, columns=["tp", "pp", "dp", "sequences"]).assign(ep=1)
    if arch.is_moe and fw.attention_data_parallel:  # replicas sharing their experts: wide expert parallelism
        fill = workload.concurrency is None and workload.request_rate_per_s is None
        grid = pd.concat([grid, _wide_ep(grid, arch.num_experts, shrink=fill)], ignore_index=True)
    dtypes = pd.DataFrame([(w, k) for w in weights for k in kvs], columns=["weight_dtype", "kv_dtype"])
    block = grid.merge(dtypes, how="cross")
    block["hardware"] = pool.hardware
    block["framework"] = fw_id
    block["batching"] = fw.batching
    return block


def _wide_ep(grid: pd.DataFrame, experts: int, shrink: bool) -> pd.DataFrame:
    """The layouts again with their replicas sharing the experts (ep = tp * dp). The engines place whole
    experts, so the group must divide them (256 over 8 ranks, not over 6). Where replicas fill the pool
    (``shrink``), a layout whose replicas do not shrinks to the most that do (12 devices of tp 1 run 8
    replicas wide, 4 devices idle); elsewhere every replica count is searched anyway and such rows go."""
    tp, dp = grid["tp"].to_numpy(), grid["dp"].to_numpy()
    if not shrink:
        keep = (dp > 1) & (experts % (tp * dp) == 0)
        return grid[keep].assign(ep=tp[keep] * dp[keep])
    shared = dp.copy()
    while True:
        bad = (shared > 1) & (experts % (tp * shared) != 0)
        if not bad.any():
            break
        shared = np.where(bad, shared - 1, shared)
    wide = grid.assign(dp=shared)[shared > 1]
    return wide.assign(ep=wide["tp"] * wide["dp"]).drop_duplicates()


def _valid_configs(blocks: list[pd.DataFrame], workload: Workload, model_id: str, skipped: Counter[str],
                   space: SearchSpace) -> pd.DataFrame:
    """The blocks as normalised configurations, impossible rows dropped (and counted in ``skipped``)."""
    table = pd.concat(blocks, ignore_index=True)
    table["num_devices"] = table["tp"] * table["pp"] * table["dp"]
    table["model"] = model_id
    table["batch_size"] = table["sequences"]
    table["concurrency"] = table["sequences"]
    table["input_len"] = workload.input_len
    table["output_len"] = workload.output_len
    table["prefill_chunk_tokens"] = np.nan
    table["request_rate_per_s"] = np.nan  # closed loop; a searched rate is set where it is predicted (open loop)
    # A date: every engine as of then; else the model answers for the newest release it saw on each accelerator.
    table["framework_version"] = pd.NA if space.software_as_of is None else space.software_as_of
    # The user's share on every engine that takes one; else the engine's default, raised below where it leaves
    # too little.
    table["engine_memory_fraction"] = user_shares(table["framework"], space.engine_memory_fraction)
    configs = normalize_configs(table[CONFIG_COLUMNS])
    reasons = invalid_reasons(configs)
    bad = reasons.ne("")
    for reason, count in reasons[bad].value_counts().items():
        skipped[str(reason)] += int(count)
    return with_raised_memory_shares(configs[~bad.to_numpy()].reset_index(drop=True))


def enumerate_candidates(inventory: Inventory, workload: Workload, space: SearchSpace | None = None) -> Candidates:
    """Every valid configuration for this inventory and workload.

    Raises ``ConfigError`` for impossible requests (sequence longer than the model's context,
    unknown precision) and ``InfeasibleError`` when the choices leave nothing to search (for
    example ``--frameworks tensorrt-llm`` on AMD devices).
    """
    space = space or SearchSpace()
    arch, model_id, precisions = prepare(workload, space)
    skipped: Counter[str] = Counter()
    blocks = [block for pool in inventory.pools for fw_id in searched_frameworks(space)
              if (block := _pool_block(pool, fw_id, arch, workload, space, precisions, skipped)) is not None]
    if not blocks:
        reasons = "; ".join(sorted(skipped)) or "no framework, precision and device combination is valid"
        raise InfeasibleError(f"nothing to search for {inventory.describe()}: {reasons}")
    configs = _valid_configs(blocks, workload, model_id, skipped, space)
    if configs.empty:
        raise InfeasibleError(f"nothing to search for {inventory.describe()}: " + "; ".join(sorted(skipped)))
    notes = tuple(f"skipped {reason}" for reason in sorted(skipped))
    return Candidates(configs=configs[CONFIG_COLUMNS], notes=notes)
