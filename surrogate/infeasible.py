"""Why nothing is feasible, and the nearest thing that would work, in one actionable sentence.

Memory first: if no configuration fits, say how many devices of each type the model needs at each
precision (from the analytic memory model, one request in flight). Otherwise name the latency
target that binds: the best predicted value of that metric against the limit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features import catalog
from features.analytic import estimate
from features.configs import invalid_reasons, normalize_configs
from features.errors import SurrogateError
from surrogate.report import format_seconds
from surrogate.scoring import Targets
from surrogate.search_space import SIXTEEN_BIT, Inventory, Workload

__all__ = ["explain_infeasible", "devices_needed"]

_MAX_DEVICES_TRIED = 512
# Formats worth suggesting when memory binds, largest first.
_SUGGESTED_FORMATS = ("bf16", "fp8", "int4")
_WEIGHT_PEAK_NEEDED = {"fp8": "fp8", "fp4": "fp4", "int8": "int8"}


def _short(row: pd.Series) -> str:
    load = f"batch {row['batch_size']}" if row["batching"] == "static" else f"{row['concurrency']} in flight"
    return (f"{row['num_devices']}x {row['hardware']} {row['framework']} tp={row['tp']} pp={row['pp']} "
            f"dp={row['dp']} {row['weight_dtype']}/{row['kv_dtype']} KV, {load}")


def devices_needed(hardware: str, workload: Workload, dtype: str, framework: str = "vllm") -> int | None:
    """Fewest devices (tp within the scale-up domain, then pp) that hold the model at ``dtype`` with
    the workload's requests in flight (one if it fixes none) in one replica; ``None`` if even
    ``_MAX_DEVICES_TRIED`` do not."""
    hw = catalog.get_hardware(hardware)
    rows = []
    devices = 1
    sequences = workload.concurrency or 1
    while devices <= _MAX_DEVICES_TRIED:
        tp = min(devices, hw.scale_up_domain_devices)
        rows.append({"hardware": hardware, "model": workload.model, "framework": framework, "tp": tp,
                     "pp": devices // tp, "dp": 1, "num_devices": devices, "weight_dtype": dtype,
                     "kv_dtype": dtype if dtype in SIXTEEN_BIT else "fp8", "batching": "continuous",
                     "batch_size": sequences, "concurrency": sequences, "input_len": workload.input_len,
                     "output_len": workload.output_len})
        devices *= 2
    try:
        configs = normalize_configs(pd.DataFrame(rows))
        configs = configs[invalid_reasons(configs).eq("").to_numpy()]
        if configs.empty:
            return None
        fits = estimate(configs, normalized=True)["fits"].to_numpy(dtype=bool)
    except SurrogateError:
        return None
    return int(configs["num_devices"].to_numpy()[fits][0]) if fits.any() else None


def _memory_message(scored: pd.DataFrame, inventory: Inventory, workload: Workload, searched_dtypes: set[str]) -> str:
    smallest = scored.loc[scored["memory_over_gb"].idxmin()]
    parts = []
    native = catalog.get_model(workload.model).native_weight_dtype
    for pool in inventory.pools:
        hw = catalog.get_hardware(pool.hardware)
        on_pool = scored.loc[scored["hardware"].eq(pool.hardware), "framework"]
        framework = str(on_pool.iloc[0]) if len(on_pool) else "vllm"
        options = []
        for dtype in _SUGGESTED_FORMATS:
            dtype = native if dtype == "bf16" and native in SIXTEEN_BIT else dtype
            needed = _WEIGHT_PEAK_NEEDED.get(dtype)
            if needed is not None and needed not in hw.peak_tflops:
                continue
            count = devices_needed(pool.hardware, workload, dtype, framework)
            if count is not None:
                options.append((count, dtype))
        if options:
            def label(dtype: str) -> str:
                return dtype if dtype in searched_dtypes else f"{dtype} (not searched: add it to the precisions)"

            kept = [options[0]]
            for count, dtype in options[1:]:
                if count < kept[-1][0]:  # only formats that need fewer devices than the larger ones
                    kept.append((count, dtype))
            text = f"{kept[0][0]}x {pool.hardware} at {label(kept[0][1])}"
            text += "".join(f", or {n}x at {label(d)}" for n, d in kept[1:])
            load = f" for {workload.concurrency} requests in flight" if workload.concurrency else ""
            parts.append(f"needs {text}{load} (you have {pool.count})")
    advice = "; ".join(parts) if parts else "no listed device holds it even at 4-bit"
    return (f"nothing fits in memory: the smallest configuration needs {smallest['mem_per_device_gb']:.1f} GB "
            f"per device, {smallest['usable_gb']:.1f} GB usable ({_short(smallest)}); {advice}")


def explain_infeasible(scored: pd.DataFrame, targets: Targets, inventory: Inventory, workload: Workload,
                       searched: str) -> str:
    """One sentence: the binding constraint and the nearest configuration that would satisfy it.

    ``scored`` holds every evaluated configuration (``surrogate.scoring.score``); ``searched``
    says how they were found (e.g. "exhaustive over 1,234 configurations").
    """
    if scored.empty:
        return f"nothing was evaluated ({searched})"
    fitting = scored[scored["memory_over_gb"] <= 0]
    if fitting.empty:
        dtypes = set(scored["weight_dtype"].astype(str))
        return _memory_message(scored, inventory, workload, dtypes) + f" [{searched}]"
    label = targets.risk.upper()
    unreachable = []
    for metric, limit in targets.given().items():
        column = targets.column(metric)
        best = fitting.loc[fitting[column].idxmin()]
        if best[column] > limit:
            unreachable.append(f"lowest predicted {label} {metric.removesuffix('_s').upper()} is "
                               f"{format_seconds(float(best[column]))} > {format_seconds(limit)} ({_short(best)})")
    if unreachable:
        return "; ".join(unreachable) + f" [{searched}]"
    # Each target is reachable alone but not together: the closest compromise.
    given = targets.given()
    ratios = np.column_stack([fitting[targets.column(m)].to_numpy(dtype=float) / limit for m, limit in given.items()])
    closest = fitting.iloc[int(np.argmin(ratios.max(axis=1)))]
    misses = [f"{m.removesuffix('_s').upper()} {format_seconds(float(closest[targets.column(m)]))} > "
              f"{format_seconds(limit)}" for m, limit in given.items() if closest[targets.column(m)] > limit]
    return (f"each latency target is reachable alone but not all at once; closest: {_short(closest)} with "
            f"{label} {', '.join(misses)} [{searched}]")
