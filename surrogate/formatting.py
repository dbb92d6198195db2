"""How numbers and deployments are written for people: one place, imported by the optimizer and the reports.

Only the standard library: any layer may use it without pulling in another.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["format_seconds", "format_amount", "describe_load", "describe_config", "describe_disaggregated",
           "memory_share_text"]


def format_seconds(seconds: float) -> str:
    """Three significant digits, in milliseconds below one second: ``0.0123 -> '12.3 ms'``.

    Values that round to 1000 ms are written in seconds, and 1000 s or more in whole seconds, so
    no scientific notation reaches a reader.
    """
    if seconds >= 999.5:
        return f"{seconds:,.0f} s"
    if seconds >= 0.9995:
        return f"{seconds:.3g} s"
    return f"{seconds * 1e3:.3g} ms"


def format_amount(value: float) -> str:
    """Four significant digits, with thousands separators and never in scientific notation:
    ``10431.2 -> '10,431'``, ``0.18345 -> '0.1835'`` (a throughput, a cost or a time per objective)."""
    if abs(value) >= 999.95:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def describe_load(config: Mapping[str, Any], *, compact: bool = True) -> str:
    """Sequences per replica: a static batch, or requests in flight under continuous batching."""
    if config["batching"] == "static":
        return f"batch {config['batch_size']}" if compact else f"static batch {config['batch_size']}"
    return f"{config['concurrency']} in flight" if compact else f"{config['concurrency']} concurrent requests"


def describe_config(config: Mapping[str, Any], *, compact: bool = False) -> str:
    """One line naming a deployment (a configuration row, ``features.configs.CONFIG_COLUMNS``).

    Full: model, devices, engine, parallel layout, formats and workload (above a prediction).
    Compact: devices, engine, layout (expert parallelism where on), formats and load per replica (in tables and
    error messages).
    """
    if config.get("mode") == "disaggregated":
        return describe_disaggregated(config, compact=compact)
    share_text = memory_share_text(config)
    if compact:
        # Expert parallelism only where it is on: two MoE layouts that differ in it alone read the same otherwise.
        ep = _count(config.get("ep", 1) or 1)
        return (f"{config['num_devices']}x {config['hardware']} {config['framework']} tp{config['tp']} "
                f"pp{config['pp']} dp{config['dp']}" + (f" ep{ep}" if ep > 1 else "")
                + f" {config['weight_dtype']}/{config['kv_dtype']}kv {describe_load(config)}"
                + (f" mem{share_text}" if share_text else ""))
    return (f"{config['model']} on {config['num_devices']}x {config['hardware']} with {config['framework']} "
            f"(tp={config['tp']} pp={config['pp']} dp={config['dp']} ep={config['ep']}"
            + (f", memory share {share_text}" if share_text else "") + "), "
            f"{config['weight_dtype']} weights, {config['kv_dtype']} KV, {describe_load(config, compact=False)}, "
            f"{config['input_len']} in / {config['output_len']} out tokens")


def memory_share_text(config: Mapping[str, Any]) -> str:
    """The engine's memory share as set on the deployment ('' for NaN, None or NA: the engine's default)."""
    share = config.get("engine_memory_fraction")
    return f"{float(share):g}" if isinstance(share, (int, float)) and math.isfinite(share) else ""


def _count(value: Any) -> int:
    return int(float(value))


def describe_disaggregated(config: Mapping[str, Any], *, compact: bool = True) -> str:
    """A disaggregated deployment (xPyD): prefill workers and decode workers, each with its tensor parallelism."""
    dp = _count(config.get("decode_dp", 1) or 1)
    decode = (f"tp{_count(config['decode_tp'])}" if dp == 1 else
              f"tp{_count(config['decode_tp'])} dp{dp} ep{_count(config.get('decode_ep', 1) or 1)}")
    pools = (f"{_count(config['prefill_workers'])}P tp{_count(config['prefill_tp'])} + "
             f"{_count(config['decode_workers'])}D {decode}")
    devices = _count(config["num_devices"])
    share = memory_share_text(config)
    if compact:
        return (f"{devices}x {config['hardware']} {config['framework']} disagg {pools} "
                f"{config['weight_dtype']}/{config['kv_dtype']}kv {_count(config['concurrency'])} in flight"
                + (f" mem{share}" if share else ""))
    return (f"{config['model']} on {devices}x {config['hardware']} with {config['framework']}, disaggregated: "
            f"{pools}" + (f", memory share {share}" if share else "") + f", {config['weight_dtype']} weights, "
            f"{config['kv_dtype']} KV, {_count(config['concurrency'])} concurrent requests, {config['input_len']} in / "
            f"{config['output_len']} out tokens")
