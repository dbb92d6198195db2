"""Turn result tables into what people read: rich tables on stdout, JSON for scripts."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

__all__ = ["to_jsonable", "print_json", "estimate_table", "format_seconds", "describe_config"]


def to_jsonable(value: Any) -> Any:
    """numpy/pandas scalars and containers to plain JSON types; NaN becomes null."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def print_json(payload: Any, console: Console | None = None) -> None:
    text = json.dumps(to_jsonable(payload), indent=2)
    (console or Console()).print_json(text) if console else print(text)


def format_seconds(seconds: float) -> str:
    if seconds >= 1.0:
        return f"{seconds:.3g} s"
    return f"{seconds * 1e3:.3g} ms"


_ROWS: list[tuple[str, str, Any]] = [
    ("ttft_s", "time to first token", format_seconds),
    ("itl_s", "inter-token latency", format_seconds),
    ("latency_s", "latency (batch / request)", format_seconds),
    ("throughput_tok_s", "throughput, input+output", lambda v: f"{v:,.0f} tok/s"),
    ("output_throughput_tok_s", "throughput, output", lambda v: f"{v:,.0f} tok/s"),
    ("mem_per_device_gb", "memory per device", lambda v: f"{v:.1f} GB"),
    ("mem_weights_gb", "  weights", lambda v: f"{v:.1f} GB"),
    ("mem_kv_gb", "  KV cache", lambda v: f"{v:.2f} GB"),
    ("mem_activations_gb", "  activations", lambda v: f"{v:.2f} GB"),
    ("mem_overhead_gb", "  runtime overhead", lambda v: f"{v:.2f} GB"),
    ("mem_usable_gb", "usable memory per device", lambda v: f"{v:.1f} GB"),
    ("max_batch_size", "max sequences that fit", lambda v: f"{int(v)}"),
    ("fits", "fits in memory", lambda v: "yes" if v else "NO"),
    ("bottleneck", "bottleneck", str),
    ("prefill_bottleneck", "prefill bound by", str),
    ("decode_bottleneck", "decode bound by", str),
]


def describe_config(config: pd.Series) -> str:
    """One line naming a deployment: model, devices, parallelism, precision, workload."""
    load = (f"static batch {config['batch_size']}" if config["batching"] == "static"
            else f"{config['concurrency']} concurrent requests")
    return (f"{config['model']} on {config['num_devices']}x {config['hardware']} with {config['framework']} "
            f"(tp={config['tp']} pp={config['pp']} dp={config['dp']} ep={config['ep']}), "
            f"{config['weight_dtype']} weights, {config['kv_dtype']} KV, {load}, "
            f"{config['input_len']} in / {config['output_len']} out tokens")


def estimate_table(result: pd.Series) -> Table:
    """One configuration's analytic estimate as a two-column table."""
    table = Table(show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("analytic estimate", justify="right")
    for key, label, fmt in _ROWS:
        if key in result.index:
            table.add_row(label, fmt(result[key]))
    return table
