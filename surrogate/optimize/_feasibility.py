"""What would fit, and what would work: one answer, on the search space's own layout rules.

``fewest_devices`` sizes one replica the way the optimizer would lay it out (tp a power of two within
the scale-up domain, then pipeline stages; layer-split engines use pipeline stages only) and is
the single rule behind both messages here:

- ``fit_alternatives``: a deployment that does not fit (``surrogate estimate``) gets the engine's raised
  memory share, more devices, a smaller weight format or a smaller batch that would;
- ``explain_infeasible``: a search with nothing feasible names the binding constraint. Memory
  first: how many devices of each type the model needs at each precision; then a request rate no
  configuration keeps up with (the most any serves); otherwise the latency target that binds, with
  the best predicted value against the limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from features import catalog
from features.analytic import estimate
from features.configs import invalid_reasons, normalize_configs
from features.errors import SurrogateError
from features.memory import MEMORY_FRACTION_SETTINGS
from surrogate.formatting import describe_config, format_seconds
from surrogate.optimize._memory_share import with_raised_memory_shares
from surrogate.optimize._request import SIXTEEN_BIT, Inventory, Targets, Workload
from surrogate.optimize._space import replica_layouts, weight_runs_on

__all__ = ["Layout", "fewest_devices", "fit_alternatives", "explain_infeasible"]

# Search bound: the largest replica sized when saying what would fit.
_MAX_DEVICES_TRIED = 512
# Formats worth suggesting when memory binds, largest first ("bf16" means the checkpoint's 16-bit format).
_SUGGESTED_FORMATS = ("bf16", "fp8", "int4")
# Smaller weight formats to suggest for a deployment that does not fit, in order.
_SMALLER_FORMATS = {"fp32": ["fp16", "fp8", "int4"], "fp16": ["fp8", "int4"], "bf16": ["fp8", "int4"],
                    "fp8": ["int4", "fp4"], "int8": ["int4"], "int4": [], "fp4": []}

Layout = tuple[int, int, int]
"""(devices, tp, pp) of one replica."""


def fewest_devices(config: Mapping[str, Any], max_devices: int = _MAX_DEVICES_TRIED) -> Layout | None:
    """The smallest replica that holds ``config`` (a configuration row) in memory, or None.

    Device counts are powers of two; at each, the search space's layouts with ``tp * pp`` devices
    are tried, and the one with the widest tensor parallelism that fits wins. Everything else
    (model, formats, batching, sequences, lengths) is the configuration's own; an engine's memory share left
    to its default is raised where the search would raise it (``_memory_share``), so the advice matches what
    the search finds on that many devices.
    """
    hw = catalog.get_hardware(str(config["hardware"]))
    framework = catalog.get_framework(str(config["framework"]))
    layers = catalog.get_model(str(config["model"])).num_layers
    rows = []
    for tp, pp in replica_layouts(hw, framework.device_split == "layer", layers, max_devices):
        rows.append({**config, "tp": tp, "pp": pp, "dp": 1, "num_devices": tp * pp})
    try:
        configs = normalize_configs(pd.DataFrame(rows))
        configs = configs[invalid_reasons(configs).eq("").to_numpy()]
        if configs.empty:
            return None
        configs = with_raised_memory_shares(configs)
        fits = estimate(configs, normalized=True)["fits"].to_numpy(dtype=bool)
    except SurrogateError:
        return None
    fitting = configs[fits]
    if fitting.empty:
        return None
    best = fitting.sort_values(["num_devices", "tp"], ascending=[True, False], kind="stable").iloc[0]
    return int(best["num_devices"]), int(best["tp"]), int(best["pp"])


def _fits(config: pd.DataFrame) -> bool:
    try:
        return bool(estimate(config, normalized=True)["fits"].iloc[0])
    except SurrogateError:
        return False


def fit_alternatives(config: pd.DataFrame) -> list[str]:
    """Short, actionable alternatives for a one-row normalised configuration that does not fit."""
    base = config.iloc[0]
    hw = catalog.get_hardware(str(base["hardware"]))
    framework = catalog.get_framework(str(base["framework"]))
    replicas = int(base["dp"])
    out: list[str] = []
    raised = with_raised_memory_shares(config.iloc[[0]])["engine_memory_fraction"].iloc[0]
    if pd.notna(raised) and pd.isna(base.get("engine_memory_fraction", np.nan)):
        out.append(f"{MEMORY_FRACTION_SETTINGS[framework.id]} {float(raised):g} on the same devices (the engine's "
                   "default share leaves too little)")
    layout = fewest_devices(base.to_dict())
    if layout is not None and layout[0] * replicas > int(base["num_devices"]):
        devices, tp, pp = layout
        split = f"pp={pp}" if framework.device_split == "layer" else f"tp={tp}" + (f" pp={pp}" if pp > 1 else "")
        out.append(f"{devices * replicas}x {hw.id} ({split})")
    for dtype in _SMALLER_FORMATS.get(str(base["weight_dtype"]), []):
        if dtype not in framework.weight_precisions or not weight_runs_on(dtype, hw):
            continue
        trial = config.iloc[[0]].copy()
        trial["weight_dtype"] = dtype
        if _fits(trial):
            out.append(f"{dtype} weights on {int(base['num_devices'])}x {hw.id}")
            break
    max_batch = int(estimate(config.iloc[[0]], normalized=True)["max_batch_size"].iloc[0])
    if max_batch >= 1:
        out.append(f"batch size {max_batch} or less")
    return out


def devices_needed(hardware: str, workload: Workload, dtype: str, framework: str = "vllm") -> int | None:
    """Fewest devices in one replica that hold the model at ``dtype`` (fp8 KV below 16 bits) with the
    workload's requests in flight, one if it fixes none."""
    sequences = workload.concurrency or 1
    config = {"hardware": hardware, "model": workload.model, "framework": framework, "weight_dtype": dtype,
              "kv_dtype": dtype if dtype in SIXTEEN_BIT else "fp8", "batching": "continuous",
              "batch_size": sequences, "concurrency": sequences, "input_len": workload.input_len,
              "output_len": workload.output_len}
    layout = fewest_devices(config)
    return None if layout is None else layout[0]


def _pool_advice(scored: pd.DataFrame, hardware: str, count: int, workload: Workload,
                 searched_dtypes: set[str]) -> str | None:
    """'needs 16x h100-sxm at bf16, or 8x at fp8 (you have 4)' for one pool, or None."""
    hw = catalog.get_hardware(hardware)
    native = catalog.get_model(workload.model).native_weight_dtype
    on_pool = scored.loc[scored["hardware"].eq(hardware), "framework"]
    framework = str(on_pool.iloc[0]) if len(on_pool) else "vllm"
    options = []
    for dtype in _SUGGESTED_FORMATS:
        dtype = native if dtype == "bf16" and native in SIXTEEN_BIT else dtype
        if not weight_runs_on(dtype, hw):
            continue
        needed = devices_needed(hardware, workload, dtype, framework)
        if needed is not None:
            options.append((needed, dtype))
    if not options:
        return None

    def label(dtype: str) -> str:
        return dtype if dtype in searched_dtypes else f"{dtype} (not searched: add it to the precisions)"

    kept = [options[0]]
    for needed, dtype in options[1:]:
        if needed < kept[-1][0]:  # only formats that need fewer devices than the larger ones
            kept.append((needed, dtype))
    text = f"{kept[0][0]}x {hardware} at {label(kept[0][1])}"
    text += "".join(f", or {n}x at {label(d)}" for n, d in kept[1:])
    load = f" for {workload.concurrency} requests in flight" if workload.concurrency else ""
    return f"needs {text}{load} (you have {count})"


def _memory_message(scored: pd.DataFrame, inventory: Inventory, workload: Workload) -> str:
    smallest = scored.loc[scored["memory_over_gb"].idxmin()]
    searched_dtypes = set(scored["weight_dtype"].astype(str))
    parts = [advice for pool in inventory.pools
             if (advice := _pool_advice(scored, pool.hardware, pool.count, workload, searched_dtypes))]
    advice = "; ".join(parts) if parts else "no listed device holds it even at 4-bit"
    return (f"nothing fits in memory: the smallest configuration needs {smallest['mem_per_device_gb']:.1f} GB "
            f"per device, {smallest['mem_usable_gb']:.1f} GB usable ({describe_config(smallest, compact=True)}); "
            f"{advice}")


def _latency_message(fitting: pd.DataFrame, targets: Targets) -> str:
    """The latency target that binds, or the closest compromise when each is reachable alone."""
    label = targets.risk.upper()
    unreachable = []
    for metric, limit in targets.given().items():
        column = targets.column(metric)
        best = fitting.loc[fitting[column].idxmin()]
        if best[column] > limit:
            hint = _median_hint(fitting, metric, limit, targets)
            unreachable.append(f"lowest predicted {label} {metric.removesuffix('_s').upper()} is "
                               f"{format_seconds(float(best[column]))} > {format_seconds(limit)} "
                               f"({describe_config(best, compact=True)}{hint})")
    if unreachable:
        return "; ".join(unreachable)
    given = targets.given()
    ratios = np.column_stack([fitting[targets.column(m)].to_numpy(dtype=float) / limit for m, limit in given.items()])
    closest = fitting.iloc[int(np.argmin(ratios.max(axis=1)))]
    misses = [f"{m.removesuffix('_s').upper()} {format_seconds(float(closest[targets.column(m)]))} > "
              f"{format_seconds(limit)}" for m, limit in given.items() if closest[targets.column(m)] > limit]
    return (f"each latency target is reachable alone but not all at once; closest: "
            f"{describe_config(closest, compact=True)} with {label} {', '.join(misses)}")


def _median_hint(fitting: pd.DataFrame, metric: str, limit: float, targets: Targets) -> str:
    """Where a cautious limit binds: the lowest median, and whether binding the median would reach the limit
    (a user told only "P90 19 ms > 5 ms" cannot tell a hopeless limit from one a less cautious --risk meets)."""
    if targets.risk == "p50":
        return ""
    lowest = float(fitting[metric].min())
    verdict = ", within it: --risk p50 binds the median, at more risk of breaking it" if lowest <= limit else ""
    return f"; lowest median {format_seconds(lowest)}{verdict}"


def explain_infeasible(scored: pd.DataFrame, targets: Targets, inventory: Inventory, workload: Workload,
                       searched: str) -> str:
    """One sentence: the binding constraint and the nearest configuration that would satisfy it.

    ``scored`` holds every evaluated configuration (``surrogate.optimize.score``); ``searched``
    says how they were found (e.g. "exhaustive over 1,234 configurations").
    """
    if scored.empty:
        return f"nothing was evaluated ({searched})"
    fitting = scored[scored["memory_over_gb"] <= 0]
    if fitting.empty:
        return _memory_message(scored, inventory, workload) + f" [{searched}]"
    serving = fitting[fitting["capacity_over_req_s"] <= 0] if "capacity_over_req_s" in fitting else fitting
    if serving.empty:
        return _capacity_message(fitting, workload) + f" [{searched}]"
    return _latency_message(serving, targets) + f" [{searched}]"


def _capacity_message(fitting: pd.DataFrame, workload: Workload) -> str:
    """No candidate keeps up with the request rate: the one that serves most, and how much."""
    best = fitting.loc[fitting["capacity_req_s"].idxmax()]
    return (f"the request rate {workload.request_rate_per_s:g}/s exceeds what every configuration serves: the "
            f"most is about {float(best['capacity_req_s']):.3g} requests/s ({describe_config(best, compact=True)}); "
            "add devices or lower the rate")
