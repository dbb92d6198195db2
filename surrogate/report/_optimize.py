"""An optimisation result as people and scripts read it: rich tables, a JSON payload, CSV and PNG files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from rich.table import Table

from features.analytic import beyond_kv_cache
from features.configs import CONFIG_COLUMNS
from surrogate.formatting import describe_config, format_seconds
from surrogate.optimize import OptimizeResult
from surrogate.report._json import to_jsonable
from surrogate.report._launch import launch_command, recommendation
from surrogate.report._plots import pareto_plot
from surrogate.report._tables import far_in, off_words

__all__ = ["top_table", "pareto_table", "result_payload", "write_files", "headline", "why_line", "serving_line",
           "RESULT_COLUMNS"]

RESULT_COLUMNS = [
    "throughput_per_device_tok_s", "throughput_per_device_tok_s_p10", "throughput_per_device_tok_s_p90",
    "output_throughput_tok_s", "per_user_tok_s", "cost_usd_per_mtok", "price_usd_per_device_hour",
    "ttft_s", "ttft_s_p10", "ttft_s_p90", "itl_s", "itl_s_p10", "itl_s_p90",
    "latency_s", "latency_s_p10", "latency_s_p90", "analytic_ttft_s", "analytic_itl_s", "analytic_latency_s",
    "mem_per_device_gb", "mem_usable_gb", "max_batch_size", "fits", "bottleneck", "feasible",
    "software_era", "software_date", "off_support", "support_nearest", "support_workload",
    # The P80 a ``--risk p80`` limit bound (read off the band), present only then.
    "ttft_s_p80", "itl_s_p80", "latency_s_p80",
]
# A disaggregated row's worker shapes and serving mode (absent or blank for aggregated rows).
DISAGGREGATED_RESULT_COLUMNS = ["serving", "prefill_workers", "prefill_tp", "decode_workers", "decode_tp",
                                "decode_batch_size", "disagg_bound_by", "disagg_kv_transfer_s", "disagg_queue_s"]


def _cost(value: float) -> str:
    return "n/a" if pd.isna(value) else f"${value:,.3g}"


def _seconds(row: pd.Series, metric: str) -> str:
    return f"{format_seconds(float(row[metric]))} / {format_seconds(float(row[f'{metric}_p90']))}"


def top_table(result: OptimizeResult) -> Table:
    """The best configurations with predicted metrics, P10-P90 intervals, memory and bottleneck."""
    table = Table(title=f"Top {min(result.top_k, len(result.ranked))} of {len(result.ranked):,} feasible "
                        f"by {result.objective.label} (times: median / P90)", header_style="bold")
    for header, justify in [("#", "right"), ("deployment", "left"), ("tok/s per device [P10-P90]", "right"),
                            ("TTFT", "right"), ("ITL", "right"), ("latency", "right"), ("$/Mtok", "right"),
                            ("GB/device", "right"), ("bound", "left")]:
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    for position, (_, row) in enumerate(result.top.iterrows(), start=1):
        per_device = (f"{row['throughput_per_device_tok_s']:,.0f} [{row['throughput_per_device_tok_s_p10']:,.0f}-"
                      f"{row['throughput_per_device_tok_s_p90']:,.0f}]")
        table.add_row(str(position), describe_config(row, compact=True), per_device, _seconds(row, "ttft_s"),
                      _seconds(row, "itl_s"), _seconds(row, "latency_s"), _cost(row["cost_usd_per_mtok"]),
                      f"{row['mem_per_device_gb']:.1f}/{row['mem_usable_gb']:.0f}", str(row["bottleneck"]))
    return table


def pareto_table(result: OptimizeResult) -> Table:
    front = result.front if result.front is not None else pd.DataFrame()
    table = Table(title=f"Pareto front: {len(front)} configurations "
                        f"({' vs '.join(o.label for o in result.pareto_objectives)})", header_style="bold")
    both = len(result.by_serving) > 0 or ("serving" in front and front["serving"].nunique() > 1)
    headers = [("deployment", "left"), ("tok/s per device", "right"), ("tok/s per user", "right"),
               ("$/Mtok", "right"), ("ITL P90", "right"), ("TTFT P90", "right")]
    for header, justify in [("serving", "left"), *headers] if both else headers:
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    for _, row in front.iterrows():
        cells = [describe_config(row, compact=True), f"{row['throughput_per_device_tok_s']:,.0f}",
                 f"{row['per_user_tok_s']:,.1f}", _cost(row["cost_usd_per_mtok"]),
                 format_seconds(float(row["itl_s_p90"])), format_seconds(float(row["ttft_s_p90"]))]
        table.add_row(*([_serving(row), *cells] if both else cells))
    return table


def _serving(row: pd.Series) -> str:
    return "DISAGG" if row.get("serving") == "disaggregated" else "agg"


def serving_line(result: OptimizeResult) -> str | None:
    """With --serving both: the best of each mode and how many times better disaggregated is (None otherwise)."""
    if not result.by_serving:
        return None
    objective = result.objective
    parts = []
    for mode in ("aggregated", "disaggregated"):
        row = result.by_serving.get(mode)
        if row is None:
            parts.append(f"no {mode} deployment meets the constraints")
            continue
        off = f", OFF the training data ({row['off_support']}): physics with a wide interval" if str(
            row.get("off_support", "") or "") else ""
        parts.append(f"best {mode}: {float(row[objective.column]):,.4g} {objective.label} "
                     f"({describe_config(row, compact=True)}{off})")
    ratio = result.serving_ratio()
    if ratio is not None:
        parts.append(f"disaggregated / aggregated = {ratio:.2f}x (above 1: disaggregated is better)")
    return "Serving: " + "; ".join(parts) + "."


def headline(result: OptimizeResult) -> str:
    return f"Search: {result.searched}."


def why_line(result: OptimizeResult) -> str:
    """Why the winner won, named in full, and what software it reflects and whether it is off the data."""
    line = f"Why #1 ({describe_config(result.best, compact=True)}): {result.why}"
    era = result.best.get("software_era")
    if isinstance(era, str) and era:  # disaggregated rows carry none
        line += f"; predicted for {era}"
    running, concurrency = result.best.get("running_sequences"), result.best.get("concurrency")
    if running is not None and beyond_kv_cache([result.best.get("batching")], [concurrency], [running])[0]:
        line += (f"; its KV cache holds {int(running)} of the {int(concurrency)} requests in flight: the rest wait "
                 "for a slot, and its P10-P90 is the wider one such configurations need")
    off = str(result.best.get("off_support", "") or "")
    if off:
        line += (f"; OFF the training data ({off_words(result.best)}{far_in(result.best)}): it leans on physics, "
                 "measure before relying on it")
    return line


def _row_payload(row: pd.Series) -> dict[str, Any]:
    out = {c: row[c] for c in CONFIG_COLUMNS if c in row.index}
    out.update({c: row[c] for c in RESULT_COLUMNS if c in row.index})
    if row.get("serving") == "disaggregated":
        out.update({c: row[c] for c in DISAGGREGATED_RESULT_COLUMNS if c in row.index})
    out["max_model_len"] = int(row["input_len"]) + int(row["output_len"])
    out["launch_command"] = launch_command(row)
    return out


def result_payload(result: OptimizeResult, request: dict[str, Any]) -> dict[str, Any]:
    """Everything a script needs, JSON-ready."""
    front = None if result.front is None else [_row_payload(r) for _, r in result.front.iterrows()]
    payload: dict[str, Any] = to_jsonable({
        "request": request, "objective": result.objective.name, "objective_column": result.objective.column,
        "method": result.method, "searched": result.searched, "space_size": result.space_size,
        "evaluated": len(result.evaluated), "feasible": len(result.ranked), "seed": result.seed,
        "study_name": result.study_name, "best": _row_payload(result.best),
        "top": [_row_payload(r) for _, r in result.top.iterrows()], "why": result.why,
        "recommendation": recommendation(result.best), "notes": list(result.notes),
        "skipped": list(result.skipped), "pareto": front,
        "by_serving": {mode: _row_payload(row) for mode, row in result.by_serving.items()},
        "disaggregated_over_aggregated": result.serving_ratio(),
    })
    return payload


def write_files(result: OptimizeResult, out_dir: Path, payload: dict[str, Any]) -> list[Path]:
    """top.csv, result.json and, for Pareto runs, pareto.csv and pareto.png under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    columns = [c for c in [*CONFIG_COLUMNS, *RESULT_COLUMNS, *DISAGGREGATED_RESULT_COLUMNS]
               if c in result.ranked.columns]
    top_path = out_dir / "top.csv"
    result.top[columns].to_csv(top_path, index=False)
    written.append(top_path)
    json_path = out_dir / "result.json"
    json_path.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    written.append(json_path)
    if result.front is not None:
        csv_path = out_dir / "pareto.csv"
        result.front[columns].to_csv(csv_path, index=False)
        written += [csv_path, pareto_plot(result, out_dir / "pareto.png")]
    return written
