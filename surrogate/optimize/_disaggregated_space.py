"""What the optimizer may choose for disaggregated serving (xPyD): worker counts and shapes, load, formats.

A candidate is one disaggregated deployment on one device pool: ``x`` prefill workers of ``tp_p`` devices
and ``y`` decode workers of ``tp_d`` devices (``x * tp_p + y * tp_d`` at most the pool), run by a framework
that serves prefill and decode apart (the catalog's ``disaggregated`` column: vLLM, SGLang, TensorRT-LLM),
in the weight and KV formats aggregated serving would try. Priced by :mod:`features.disaggregated` and its
learned correction (``SurrogateModel.predict`` on rows with ``mode = disaggregated``).

The knobs, and the bounds that keep the space to a few seconds of prediction:

- tp of each pool: powers of two within the scale-up domain (as aggregated replicas); pp 1 and one prompt
  per prefill pass (every measured disaggregated deployment in the shared data ran pp 1, batch-1 prefill);
- worker counts: 1 to ``MAX_WORKERS_PER_POOL`` of each (search bound; the measured deployments ran 1-11
  prefill and 1-15 decode workers);
- load: with ``Workload.concurrency`` the deployment holds those requests (1/y per decode worker). Without
  one, the requests per decode worker are searched on the sequence grid, only ratios x:y in lowest terms
  are tried and the deployment repeats that unit to fill the pool (2P4D has the same throughput per device
  as 1P2D but pools its queue; as aggregated replicas fill the pool). Under a request rate every worker
  count is tried and each candidate's load is searched on the grid: the rate's settling point is picked
  after prediction (``settle_at_rate``).

- decode worker layout: tensor parallel, or, for a MoE model on an engine with attention data parallelism
  (catalog ``attention_data_parallel``), ``g`` attention-DP ranks of one device sharing experts spread over
  all ``g`` (DeepSeek's decode layout; the shared data's decode workers ran this up to 32 ranks). Prefill
  workers stay tensor parallel (prefill batches of one prompt have nothing to spread over DP ranks).
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pandas as pd

from features import catalog
from features.configs import CONFIG_COLUMNS, invalid_reasons, normalize_configs
from features.disaggregated import worker_configs
from features.errors import InfeasibleError
from surrogate.optimize._memory_share import user_shares, with_raised_disaggregated_shares
from surrogate.optimize._request import DevicePool, Inventory, SearchSpace, Workload
from surrogate.optimize._space import prepare, replica_layouts, searched_frameworks, sequence_grid, weight_runs_on

__all__ = ["MAX_WORKERS_PER_POOL", "DISAGGREGATED_CONFIG_COLUMNS", "enumerate_disaggregated", "settle_at_rate"]

# Search bounds, not measured numbers: the most prefill (or decode) workers in one searched ratio or deployment,
# and the widest attention-data-parallel decode worker (the measured ones ran up to 32 ranks).
MAX_WORKERS_PER_POOL = 8
MAX_ATTENTION_DP = 64
# One deployment under a request rate: everything but the load.
_DEPLOYMENT_KEYS = ["hardware", "framework", "weight_dtype", "kv_dtype", "prefill_workers", "prefill_tp",
                    "decode_workers", "decode_tp", "decode_dp"]
# What a disaggregated candidate row carries: the configuration, the worker shapes, the serving mode.
DISAGGREGATED_CONFIG_COLUMNS = [*CONFIG_COLUMNS, "mode", "prefill_workers", "prefill_tp", "prefill_batch_size",
                                "decode_workers", "decode_tp", "decode_dp", "decode_ep", "decode_batch_size", "units"]


def _frameworks(space: SearchSpace, vendor: str, skipped: Counter[str]) -> list[str]:
    out = []
    for name in searched_frameworks(space):
        fw = catalog.get_framework(name)
        if not fw.disaggregated:
            if space.frameworks is not None:
                skipped[f"{name} does not serve prefill and decode on separate workers"] += 1
        elif vendor in fw.vendors:
            if unreleased := space.unreleased(name):
                skipped[unreleased] += 1
            else:
                out.append(name)
    return out


def _decode_layouts(pool: DevicePool, tps: list[int], experts: int) -> list[tuple[int, int, int]]:
    """(tp, dp, ep) of one decode worker: tensor parallel, or for a MoE model also attention data parallel
    over ``g`` ranks with the experts spread over all of them (wide EP, DeepSeek's decode layout; ``g`` may
    cross the scale-up domain, its all-to-all then runs over the network)."""
    layouts = [(tp, 1, 1) for tp in tps]
    if experts > 1:  # whole experts per rank: the ranks divide them
        layouts += [(1, g, g) for g in (2**k for k in range(1, int(math.log2(max(pool.count, 2))) + 1))
                    if 2 <= g <= min(pool.count - 1, MAX_ATTENTION_DP) and experts % g == 0]
    return layouts


def _worker_shapes(pool: DevicePool, tps: list[int], decode_layouts: list[tuple[int, int, int]],
                   workload: Workload) -> list[tuple[int, ...]]:
    """(prefill workers, prefill tp, decode workers, decode tp, decode dp, decode ep, units) that fit the pool.

    Without a fixed load only ratios in lowest terms, repeated ``units`` times to fill the pool."""
    shapes: list[tuple[int, ...]] = []
    fill = workload.concurrency is None and workload.request_rate_per_s is None
    for tp_p in tps:
        for tp_d, dp_d, ep_d in decode_layouts:
            for x in range(1, MAX_WORKERS_PER_POOL + 1):
                for y in range(1, MAX_WORKERS_PER_POOL + 1):
                    devices = x * tp_p + y * tp_d * dp_d
                    if devices > pool.count or (fill and math.gcd(x, y) > 1):
                        continue
                    units = pool.count // devices if fill else 1
                    shapes.append((x * units, tp_p, y * units, tp_d, dp_d, ep_d, units))
    return shapes


def _pool_rows(pool: DevicePool, workload: Workload, space: SearchSpace, precisions: tuple[list[str], list[str]],
               experts: int, skipped: Counter[str]) -> pd.DataFrame | None:
    hw = catalog.get_hardware(pool.hardware)
    frameworks = _frameworks(space, hw.vendor, skipped)
    if not frameworks:
        return None
    tps = [tp for tp, pp in replica_layouts(hw, False, 1, pool.count) if pp == 1]
    wide = any(catalog.get_framework(name).attention_data_parallel for name in frameworks)
    shapes = pd.DataFrame(_worker_shapes(pool, tps, _decode_layouts(pool, tps, experts if wide else 0), workload),
                          columns=["prefill_workers", "prefill_tp", "decode_workers", "decode_tp", "decode_dp",
                                   "decode_ep", "units"])
    if shapes.empty:
        skipped[f"disaggregated serving on {pool.hardware}: one prefill and one decode worker need 2 devices, "
                f"{pool.count} available"] += 1
        return None
    if workload.concurrency is not None:
        shapes["concurrency"] = workload.concurrency
    else:  # the requests each decode worker holds, on the sequence grid
        per_worker = pd.DataFrame({"per_decoder": sequence_grid(space.max_sequences)})
        shapes = shapes.merge(per_worker, how="cross")
        shapes["concurrency"] = shapes["decode_workers"] * shapes["per_decoder"]
        shapes = shapes.drop(columns=["per_decoder"])
    blocks = []
    weight_choices, kv_choices = precisions
    for name in frameworks:
        fw = catalog.get_framework(name)
        weights = [d for d in weight_choices if d in fw.weight_precisions and weight_runs_on(d, hw)]
        kvs = [d for d in kv_choices if d in fw.kv_precisions]
        formats = pd.DataFrame([(w, k) for w in weights for k in kvs], columns=["weight_dtype", "kv_dtype"])
        block = shapes if fw.attention_data_parallel else shapes[shapes["decode_dp"] == 1]
        block = block.merge(formats, how="cross")
        block["framework"] = name
        blocks.append(block)
    table = pd.concat(blocks, ignore_index=True)
    table["hardware"] = pool.hardware
    return table


def _drop_impossible(table: pd.DataFrame, skipped: Counter[str]) -> tuple[pd.DataFrame, tuple[pd.DataFrame, ...]]:
    """Rows whose prefill or decode worker is not a valid configuration (tp not dividing the heads, ...) left
    out; the rest with their prefill and decode workers as normalised configurations."""
    workers = [normalize_configs(frame) for frame in worker_configs(table)[:2]]
    bad = np.zeros(len(table), dtype=bool)
    for pool, frame in zip(("prefill", "decode"), workers, strict=True):
        reasons = invalid_reasons(frame)
        wrong = reasons.ne("").to_numpy()
        for reason, count in reasons[wrong].value_counts().items():
            skipped[f"disaggregated {pool} worker: {reason}"] += int(count)
        bad |= wrong
    return table[~bad].reset_index(drop=True), tuple(frame[~bad].reset_index(drop=True) for frame in workers)


def enumerate_disaggregated(inventory: Inventory, workload: Workload, space: SearchSpace | None = None
                            ) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Every valid disaggregated deployment (``DISAGGREGATED_CONFIG_COLUMNS``) and what was left out, with why.

    ``InfeasibleError`` when no pool and framework can serve disaggregated (e.g. only llama.cpp asked for)."""
    space = space or SearchSpace()
    arch, model_id, precisions = prepare(workload, space)
    skipped: Counter[str] = Counter()
    blocks = [block for pool in inventory.pools
              if (block := _pool_rows(pool, workload, space, precisions, arch.num_experts, skipped)) is not None]
    if not blocks:
        reasons = "; ".join(sorted(skipped)) or ("no framework that serves prefill and decode apart runs on "
                                                 f"{inventory.describe()}")
        raise InfeasibleError(f"nothing to search for disaggregated serving on {inventory.describe()}: {reasons}")
    table = pd.concat(blocks, ignore_index=True)
    table["model"] = model_id
    table["input_len"] = workload.input_len
    table["output_len"] = workload.output_len
    table["mode"] = "disaggregated"
    table["prefill_batch_size"] = 1
    # Per attention-DP rank, as the measured rows record it.
    table["decode_batch_size"] = np.ceil(table["concurrency"] / (table["decode_workers"] * table["decode_dp"])
                                         ).astype(np.int64)
    table["num_devices"] = (table["prefill_workers"] * table["prefill_tp"]
                            + table["decode_workers"] * table["decode_tp"] * table["decode_dp"])
    table["tp"] = table["decode_tp"]  # the layout columns name the decode worker (where the requests live)
    table["pp"], table["dp"], table["ep"] = 1, table["decode_dp"], table["decode_ep"]
    table["batching"] = "continuous"
    table["batch_size"] = table["decode_batch_size"]
    table["prefill_chunk_tokens"] = np.nan
    table["request_rate_per_s"] = np.nan  # the client concurrency sets the load (settle_at_rate for a rate)
    table["framework_version"] = pd.NA if space.software_as_of is None else space.software_as_of
    # The user's share on every engine that takes one; else the engine's default, raised where it leaves too
    # little for a worker (``_memory_share``).
    table["engine_memory_fraction"] = user_shares(table["framework"], space.engine_memory_fraction)
    table, (prefill, decode) = _drop_impossible(table, skipped)
    if table.empty:
        raise InfeasibleError(f"nothing to search for disaggregated serving on {inventory.describe()}: "
                              + "; ".join(sorted(skipped)))
    table = with_raised_disaggregated_shares(table, (prefill, decode))
    return table[DISAGGREGATED_CONFIG_COLUMNS], tuple(f"skipped {r}" for r in sorted(skipped))


def settle_at_rate(configs: pd.DataFrame, predictions: pd.DataFrame, rate: float
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per deployment under an open-loop ``rate`` (requests/s): the lightest load on the grid whose
    predicted request rate keeps up (the closed loop at that many requests in flight runs at the rate, so by
    Little's law it is the open loop's settling point); where none keeps up, the heaviest load tried, with
    ``capacity_over_req_s`` > 0 the requests/s it misses (<= 0 where it keeps up, Optuna's convention)."""
    configs, predictions = configs.reset_index(drop=True), predictions.reset_index(drop=True)
    served = (predictions["output_throughput_tok_s"].to_numpy(dtype=float)
              / configs["output_len"].to_numpy(dtype=float))
    keeps = served >= rate
    load = configs["concurrency"].to_numpy(dtype=float)
    deployment = configs[_DEPLOYMENT_KEYS].astype(str).agg("|".join, axis=1).to_numpy()
    # Keeping up first, then the lightest such load; else the heaviest load.
    order = np.lexsort((np.where(keeps, load, -load), ~keeps, deployment))
    first = order[np.r_[True, deployment[order][1:] != deployment[order][:-1]]]
    first = np.sort(first)
    chosen = predictions.iloc[first].reset_index(drop=True).assign(
        capacity_req_s=served[first], capacity_over_req_s=rate - served[first], request_rate_per_s=rate)
    return configs.iloc[first].reset_index(drop=True), chosen
