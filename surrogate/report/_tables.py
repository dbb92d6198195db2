"""Rich tables people read: one estimate, one prediction with its interval, accuracy scores."""

from __future__ import annotations

from typing import Any

import pandas as pd
from rich.table import Table

from features.analytic import beyond_kv_cache
from surrogate.formatting import format_seconds

__all__ = ["estimate_table", "prediction_table", "scores_table", "groups_table", "far_in", "off_words",
           "off_support_warning", "kv_cache_warning"]


def _tokens_per_s(value: float) -> str:
    return f"{value:,.0f} tok/s"


def _gb(digits: int) -> Any:
    return lambda v: f"{v:.{digits}f} GB"


# (column, label, format): times and throughputs get an achievable and a peak column.
_TIMES: list[tuple[str, str, Any]] = [
    ("ttft_s", "time to first token", format_seconds),
    ("itl_s", "inter-token latency", format_seconds),
    ("latency_s", "latency (batch / request)", format_seconds),
    ("throughput_tok_s", "throughput, input+output", _tokens_per_s),
    ("output_throughput_tok_s", "throughput, output", _tokens_per_s),
]
_MEMORY: list[tuple[str, str, Any]] = [
    ("mem_per_device_gb", "memory per device", _gb(1)),
    ("mem_weights_gb", "  weights", _gb(1)),
    ("mem_kv_gb", "  KV cache", _gb(2)),
    ("mem_state_gb", "  recurrent state", _gb(2)),
    ("mem_activations_gb", "  activations", _gb(2)),
    ("mem_overhead_gb", "  runtime overhead", _gb(2)),
    ("mem_usable_gb", "usable memory per device", _gb(1)),
    ("max_batch_size", "max sequences that fit", lambda v: f"{int(v)}"),
    ("max_context_tokens", "longest sequence at this load", lambda v: f"{int(v):,} tokens"),
    ("running_sequences", "requests running at once", lambda v: f"{int(v)}"),
    ("fits", "fits in memory", lambda v: "yes" if v else "NO"),
]
_PARTS = [("compute", "compute"), ("memory", "memory"), ("comm", "communication"), ("fixed", "fixed overhead")]


def _peak(result: pd.Series, key: str) -> float:
    """The peak value of a time or throughput (throughputs scale with the latency ratio)."""
    if f"peak_{key}" in result.index:
        return float(result[f"peak_{key}"])
    return float(result[key]) * float(result["latency_s"]) / float(result["peak_latency_s"])


def estimate_table(result: pd.Series) -> Table:
    """One configuration's analytic estimate: achievable beside peak, the achievable steps by part, memory."""
    table = Table(show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("achievable", justify="right")
    table.add_column("peak (bound)", justify="right")
    for key, label, fmt in _TIMES:
        table.add_row(label, fmt(result[key]), fmt(_peak(result, key)))
    for phase in ("prefill", "decode"):
        table.add_row(f"{phase} step, achievable", "", "", end_section=False)
        for part, label in _PARTS:
            table.add_row(f"  {label}", format_seconds(float(result[f"achievable_{phase}_{part}_s"])), "")
    table.add_row("bound by (achievable)", str(result["achievable_bottleneck"]), str(result["bottleneck"]))
    for key, label, fmt in _MEMORY:
        if key in result.index and not (key == "mem_state_gb" and not result[key]):  # a transformer keeps none
            table.add_row(label, fmt(result[key]), "")
    if result.get("software_era"):
        table.add_row("software", str(result["software_era"]), "")
    return table


_PREDICTED = [("ttft_s", "time to first token", format_seconds), ("itl_s", "inter-token latency", format_seconds),
              ("latency_s", "latency (batch / request)", format_seconds),
              ("throughput_tok_s", "throughput, input+output", lambda v: f"{v:,.0f} tok/s"),
              ("output_throughput_tok_s", "throughput, output", lambda v: f"{v:,.0f} tok/s")]


def prediction_table(prediction: pd.Series) -> Table:
    """One configuration's learned prediction with its P10-P90 interval, the achievable estimate it
    corrects and the peak bound it never goes below."""
    table = Table(show_header=True, header_style="bold")
    for name, justify in [("metric", "left"), ("predicted", "right"), ("P10", "right"), ("P90", "right"),
                          ("achievable", "right"), ("peak (bound)", "right")]:
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for key, label, fmt in _PREDICTED:
        achievable, peak = prediction.get(f"analytic_{key}"), prediction.get(f"peak_{key}")
        table.add_row(label, fmt(prediction[key]), fmt(prediction[f"{key}_p10"]), fmt(prediction[f"{key}_p90"]),
                      fmt(achievable) if achievable is not None else "", fmt(peak) if peak is not None else "")
    if prediction.get("software_era"):
        table.add_row("software", str(prediction["software_era"]), "", "", "", "")
    if "off_support" in prediction.index:
        table.add_row("training data", support_line(prediction), "", "", "", "")
    if prediction.get("floored_to_peak", False):
        table.add_row("raised to the peak bound", "yes", "", "", "", "")
    table.add_row("memory per device", f"{prediction['mem_per_device_gb']:.1f} GB", "", "", "", "")
    table.add_row("fits in memory", "yes" if prediction["fits"] else "NO", "", "", "", "")
    table.add_row("bottleneck (peak)", str(prediction["bottleneck"]), "", "", "", "")
    return table


def support_line(prediction: pd.Series) -> str:
    """How far one prediction is from the training rows, in words: "on the data" or what it is off in."""
    off = str(prediction.get("off_support", ""))
    if not off:
        return "on the data"
    distance = f" {float(prediction['support_distance']):.1f}" if "distance" in off.split(", ") else ""
    weight = (f"; correction weight {float(prediction['correction_weight']):.2f}"
              if "correction_weight" in prediction.index else "")
    return f"OFF: {off_words(prediction)}{distance}{far_in(prediction)}{weight}; wider interval"


def off_words(prediction: pd.Series) -> str:
    """The kinds a prediction is off (``off_support``), "workload" followed by the range it leaves in
    brackets ("workload (trained at 4-128 in flight on models of its size)") where the row says it."""
    off = str(prediction.get("off_support", "") or "")
    words = prediction.get("support_workload", "")
    if not isinstance(words, str) or not words:
        return off
    return ", ".join(f"{kind} ({words})" if kind == "workload" else kind for kind in off.split(", "))


def far_in(prediction: pd.Series) -> str:
    """": <what the nearest trained deployment differs in>" for a row off the data by distance, else ""."""
    off = str(prediction.get("off_support", "") or "")
    nearest = prediction.get("support_nearest", "")
    if "distance" not in off.split(", ") or not isinstance(nearest, str) or not nearest:
        return ""
    return f": {nearest}"


def off_support_warning(predictions: pd.DataFrame) -> str | None:
    """The line under a prediction table when some rows are off the training data (None when none are)."""
    if "off_support" not in predictions.columns:
        return None
    off = predictions["off_support"].astype(str).ne("")
    if not off.any():
        return None
    reasons = sorted({r for row in predictions.loc[off, "off_support"] for r in str(row).split(", ")})
    return (f"warning: {int(off.sum())} of {len(predictions)} predictions are off the training data "
            f"({', '.join(reasons)}): they lean on physics and their P10-P90 is wider; measure before relying on them")


def kv_cache_warning(configs: list[pd.Series], predictions: list[pd.Series]) -> str | None:
    """The line under a prediction table when some served configurations ask for more requests in flight than
    their KV cache holds (the analytic model's ``running_sequences`` below the concurrency); None when none do."""
    full = [(int(p["running_sequences"]), int(c["concurrency"])) for c, p in zip(configs, predictions, strict=True)
            if "running_sequences" in p.index
            and beyond_kv_cache([c.get("batching")], [c.get("concurrency")], [p["running_sequences"]])[0]]
    if not full:
        return None
    held = ", ".join(f"{running} of {concurrency}" for running, concurrency in full[:3]) + (", ..." if len(full) > 3
                                                                                          else "")
    return (f"warning: {len(full)} of {len(predictions)} predictions ask for more requests in flight than the KV cache "
            f"holds ({held}): the rest wait for a slot, which the analytic model prices least well; their P10-P90 "
            "is the wider one measured on such configurations")


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
    bundle = summary["split"] == "bundle"  # a scored bundle's rows, by how far each is from its training data
    header = "training data" if bundle else summary["split"]
    title = "median APE % on and off the training data" if bundle else f"median APE % per held-out {header}"
    table = Table(title=title, show_header=True, header_style="bold")
    for name in ["metric", header, "rows", "peak", "achievable", "lightgbm no physics", "surrogate"]:
        table.add_column(name, justify="left" if name in ("metric", header) else "right")
    for metric, entry in summary["metrics"].items():
        for group, variants in entry.get("by_group", {}).items():
            table.add_row(metric, group, str(variants["surrogate"]["rows"]),
                          *(f"{variants[v]['median_ape_pct']:.1f}" if v in variants else "-" for v in
                            ("peak", "achievable", "lightgbm_no_physics", "surrogate")))
    return table


def sources_table(summary: dict[str, Any]) -> Table | None:
    """MAPE / median APE and coverage per data source, where the scored rows come from several."""
    rows = [(metric, source, variants) for metric, entry in summary["metrics"].items()
            for source, variants in entry.get("by_source", {}).items()]
    if not rows:
        return None
    table = Table(title="per data source (MAPE / median APE %)", show_header=True, header_style="bold")
    for name in ["metric", "source", "rows", "peak", "achievable", "lightgbm no physics", "surrogate",
                 "P10-P90 coverage %"]:
        table.add_column(name, justify="left" if name in ("metric", "source") else "right")
    for metric, source, variants in rows:
        coverage = variants["surrogate"].get("p10_p90_coverage_pct")
        table.add_row(metric, source, str(variants["surrogate"]["rows"]),
                      *(f"{variants[v]['mape_pct']:.1f} / {variants[v]['median_ape_pct']:.1f}" if v in variants
                        else "-" for v in ("peak", "achievable", "lightgbm_no_physics", "surrogate")),
                      f"{coverage:.1f}" if coverage is not None else "")
    return table


def engines_table(summary: dict[str, Any]) -> Table | None:
    """The surrogate's MAPE / median APE and P10-P90 coverage per engine and batching mode (its band's cell)."""
    rows = [(metric, cell, variants["surrogate"]) for metric, entry in summary["metrics"].items()
            for cell, variants in entry.get("by_engine", {}).items()]
    if not rows:
        return None
    table = Table(title="surrogate per engine and batching mode", show_header=True, header_style="bold")
    for name in ["metric", "engine/batching", "rows", "MAPE / median APE %", "P10-P90 coverage %"]:
        table.add_column(name, justify="left" if name in ("metric", "engine/batching") else "right")
    for metric, cell, s in rows:
        table.add_row(metric, cell, str(s["rows"]), f"{s['mape_pct']:.1f} / {s['median_ape_pct']:.1f}",
                      f"{s['p10_p90_coverage_pct']:.1f}")
    return table
