"""Turn result tables into what people read: rich tables on stdout, JSON for scripts."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from features.errors import DataError

__all__ = ["to_jsonable", "print_json", "estimate_table", "format_seconds", "describe_config", "prediction_table",
           "scores_table", "groups_table", "read_configs_csv"]


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


_PREDICTED = [("ttft_s", "time to first token", format_seconds), ("itl_s", "inter-token latency", format_seconds),
              ("latency_s", "latency (batch / request)", format_seconds),
              ("throughput_tok_s", "throughput, input+output", lambda v: f"{v:,.0f} tok/s"),
              ("output_throughput_tok_s", "throughput, output", lambda v: f"{v:,.0f} tok/s")]


def prediction_table(prediction: pd.Series) -> Table:
    """One configuration's learned prediction with its P10-P90 interval and the analytic estimate."""
    table = Table(show_header=True, header_style="bold")
    for name, justify in [("metric", "left"), ("predicted", "right"), ("P10", "right"), ("P90", "right"),
                          ("analytic", "right")]:
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for key, label, fmt in _PREDICTED:
        analytic = prediction.get(f"analytic_{key}")
        table.add_row(label, fmt(prediction[key]), fmt(prediction[f"{key}_p10"]), fmt(prediction[f"{key}_p90"]),
                      fmt(analytic) if analytic is not None else "")
    for key, label in [("hardware_seen_in_training", "hardware"), ("model_seen_in_training", "model")]:
        if not prediction.get(key, True):
            table.add_row(f"{label} in training data", "no: interval widened", "", "", "")
    table.add_row("memory per device", f"{prediction['mem_per_device_gb']:.1f} GB", "", "", "")
    table.add_row("fits in memory", "yes" if prediction["fits"] else "NO", "", "", "")
    table.add_row("bottleneck (analytic)", str(prediction["bottleneck"]), "", "", "")
    return table


def scores_table(scores: dict[str, Any], title: str) -> Table:
    """Per metric and predictor: MAPE, median and p90 APE, P10-P90 coverage."""
    table = Table(title=title, show_header=True, header_style="bold")
    for name in ["metric", "predictor", "rows", "MAPE %", "median APE %", "p90 APE %", "P10-P90 coverage %"]:
        table.add_column(name, justify="left" if name in ("metric", "predictor") else "right")
    for metric, variants in scores.items():
        if not isinstance(variants, dict) or metric == "split":
            continue
        for variant, s in variants.items():
            coverage = s.get("p10_p90_coverage_pct")
            table.add_row(metric, variant.replace("_", " "), str(s["rows"]), f"{s['mape_pct']:.1f}",
                          f"{s['median_ape_pct']:.1f}", f"{s['p90_ape_pct']:.1f}",
                          f"{coverage:.1f}" if coverage is not None else "")
    return table


def groups_table(summary: dict[str, Any]) -> Table:
    """Median APE per held-out group (leave-one-group-out splits)."""
    table = Table(title=f"median APE % per held-out {summary['split']}", show_header=True, header_style="bold")
    for name in ["metric", summary["split"], "rows", "analytic", "lightgbm no physics", "surrogate"]:
        table.add_column(name, justify="left" if name in ("metric", summary["split"]) else "right")
    for metric, entry in summary["metrics"].items():
        for group, variants in entry.get("by_group", {}).items():
            table.add_row(metric, group, str(variants["surrogate"]["rows"]),
                          *(f"{variants[v]['median_ape_pct']:.1f}" for v in
                            ("analytic", "lightgbm_no_physics", "surrogate")))
    return table


def read_configs_csv(path: Path) -> pd.DataFrame:
    """Configurations from a user's CSV; a malformed file is a DataError naming it."""
    try:
        return pd.read_csv(path)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read as CSV: {exc}") from exc
